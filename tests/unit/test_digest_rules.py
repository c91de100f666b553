"""Digest rules under a fake clock: the hour a parent types, quiet hours, which period is due
(midnight, the slot boundary, the grace window, weeks), tomorrow's timetable and holidays, and
how a digest reads."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.digest import (
    MAX_DIGEST_CHARS,
    ChildSection,
    Content,
    DigestPrefs,
    Frequency,
    Item,
    compose_digest,
    content_from_str,
    content_to_str,
    due_period,
    in_quiet_hours,
    latest_slot,
    parse_time_of_day,
    shows_tomorrow,
)
from bot.i18n import Catalog
from tests.fakes.ports import FakeClock

TZ = "Asia/Ho_Chi_Minh"  # UTC+7, no daylight saving
GRACE = dt.timedelta(hours=2)


def local(y: int, mo: int, d: int, h: int, mi: int = 0, s: int = 0) -> dt.datetime:
    """A Hà Nội wall-clock time as aware UTC (UTC+7)."""
    return dt.datetime(y, mo, d, h, mi, s, tzinfo=dt.UTC) - dt.timedelta(hours=7)


# --- typed hours -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "minute"),
    [
        ("20h", 20 * 60),
        ("20:30", 20 * 60 + 30),
        ("20h30", 20 * 60 + 30),
        ("19 giờ", 19 * 60),
        ("19 gio 30", 19 * 60 + 30),
        ("8 giờ tối", 20 * 60),
        ("8 gio toi", 20 * 60),
        ("8 GIỜ TỐI", 20 * 60),
        ("7 giờ sáng", 7 * 60),
        ("8pm", 20 * 60),
        ("6 giờ chiều", 18 * 60),
        ("12 giờ đêm", 0),
        ("0h", 0),
        ("  19h  ", 19 * 60),
    ],
)
def test_typed_hours_are_understood(typed: str, minute: int) -> None:
    assert parse_time_of_day(typed) == minute


@pytest.mark.parametrize(
    "typed",
    ["25h", "24:00", "20:75", "13 giờ tối", "", "   ", "abc", "20h hôm qua", "9" * 5000, "-1h"],
)
def test_bad_hours_are_refused(typed: str) -> None:
    assert parse_time_of_day(typed) is None


@given(st.integers(0, 23), st.integers(0, 59))
def test_every_clock_time_round_trips(hour: int, minute: int) -> None:
    assert parse_time_of_day(f"{hour}:{minute:02d}") == hour * 60 + minute
    assert parse_time_of_day(f"{hour}h{minute:02d}") == hour * 60 + minute


@given(st.text(max_size=40))
def test_any_text_gives_a_valid_minute_or_none(text: str) -> None:
    minute = parse_time_of_day(text)
    assert minute is None or 0 <= minute < 24 * 60


def test_quiet_hours_bound_the_digest_time() -> None:
    assert in_quiet_hours(21 * 60)  # 21:00 sharp is quiet
    assert not in_quiet_hours(20 * 60 + 59)
    assert in_quiet_hours(0)  # midnight
    assert in_quiet_hours(6 * 60 + 29)
    assert not in_quiet_hours(6 * 60 + 30)  # 06:30 sharp may send
    school = {"quiet_start": dt.time(22, 0), "quiet_end": dt.time(6, 0)}
    assert not in_quiet_hours(21 * 60 + 30, **school)


def test_content_round_trips_through_storage() -> None:
    chosen = frozenset({Content.SCORES, Content.NOTICES})
    assert content_from_str(content_to_str(chosen)) == chosen
    assert content_from_str("") == frozenset()
    assert content_from_str("scores,bogus") == {Content.SCORES}


# --- periods under a fake clock ---------------------------------------------------------


def test_daily_period_changes_exactly_at_the_chosen_time() -> None:
    prefs = DigestPrefs(minute_of_day=19 * 60)
    clock = FakeClock(local(2026, 11, 25, 18, 59, 59))
    before = latest_slot(prefs, clock.now(), TZ)
    assert before is not None and before.key == "d2026-11-24"
    assert due_period(prefs, clock.now(), TZ, grace=GRACE) is None  # yesterday's: too old
    clock.advance(seconds=1)
    at = due_period(prefs, clock.now(), TZ, grace=GRACE)
    assert at is not None and at.key == "d2026-11-25" and at.slot == clock.now()
    assert at.local_date == dt.date(2026, 11, 25)


def test_grace_window_includes_its_end_and_nothing_after() -> None:
    prefs = DigestPrefs(minute_of_day=19 * 60)
    slot = local(2026, 11, 25, 19)
    assert due_period(prefs, slot + GRACE, TZ, grace=GRACE) is not None
    assert due_period(prefs, slot + GRACE + dt.timedelta(seconds=1), TZ, grace=GRACE) is None


def test_local_midnight_is_not_utc_midnight() -> None:
    prefs = DigestPrefs(minute_of_day=6 * 60 + 30)
    # 00:00 in Hà Nội is 17:00 UTC the day before: the latest slot is the previous 06:30.
    clock = FakeClock(local(2026, 11, 26, 0, 0))
    assert clock.now().day == 25
    slot = latest_slot(prefs, clock.now(), TZ)
    assert slot is not None and slot.key == "d2026-11-25"
    clock.advance(hours=6, minutes=30)
    slot = latest_slot(prefs, clock.now(), TZ)
    assert slot is not None and slot.key == "d2026-11-26"


def test_weekly_period_is_one_per_iso_week_on_the_chosen_day() -> None:
    prefs = DigestPrefs(frequency=Frequency.WEEKLY, weekday=6, minute_of_day=19 * 60)
    sunday = local(2026, 11, 29, 19)  # Sunday of ISO week 48
    on_time = due_period(prefs, sunday, TZ, grace=GRACE)
    assert on_time is not None and on_time.key == "w2026-W48"
    monday = latest_slot(prefs, local(2026, 11, 30, 8), TZ)
    assert monday is not None and monday.key == "w2026-W48"  # still last Sunday's
    saturday = latest_slot(prefs, local(2026, 12, 5, 23), TZ)
    assert saturday is not None and saturday.key == "w2026-W48"
    next_sunday = latest_slot(prefs, local(2026, 12, 6, 19), TZ)
    assert next_sunday is not None and next_sunday.key == "w2026-W49"


def test_weekly_across_the_new_year_uses_the_iso_year() -> None:
    prefs = DigestPrefs(frequency=Frequency.WEEKLY, weekday=3, minute_of_day=19 * 60)
    slot = latest_slot(prefs, local(2027, 1, 1, 20), TZ)  # Friday; the slot was Thursday 31/12
    assert slot is not None and slot.local_date == dt.date(2026, 12, 31)
    assert slot.key == "w2026-W53"


def test_off_has_no_period() -> None:
    assert latest_slot(DigestPrefs(frequency=Frequency.OFF), local(2026, 11, 25, 19), TZ) is None


@given(
    st.integers(0, 24 * 60 - 1),
    st.datetimes(
        min_value=dt.datetime(2026, 1, 1),
        max_value=dt.datetime(2030, 12, 31),
        timezones=st.just(dt.UTC),
    ),
    st.sampled_from([Frequency.DAILY, Frequency.WEEKLY]),
    st.integers(0, 6),
)
def test_the_latest_slot_is_never_in_the_future_nor_a_period_old(
    minute: int, now: dt.datetime, frequency: Frequency, weekday: int
) -> None:
    prefs = DigestPrefs(frequency=frequency, minute_of_day=minute, weekday=weekday)
    slot = latest_slot(prefs, now, TZ)
    assert slot is not None
    period = dt.timedelta(days=7 if frequency is Frequency.WEEKLY else 1)
    assert now - period < slot.slot <= now
    assert slot.slot.astimezone(dt.UTC).minute == minute % 60
    if frequency is Frequency.WEEKLY:
        assert slot.local_date.weekday() == weekday


def test_no_timetable_before_sunday_or_a_holiday() -> None:
    assert shows_tomorrow(dt.date(2026, 11, 25))  # Wednesday -> Thursday
    assert not shows_tomorrow(dt.date(2026, 11, 28))  # Saturday -> Sunday
    assert not shows_tomorrow(dt.date(2026, 9, 1))  # -> 2/9, Quốc khánh
    assert shows_tomorrow(dt.date(2026, 11, 29))  # Sunday -> Monday


# --- composition ------------------------------------------------------------------------

CATALOG = Catalog.load()


def tr(locale: str):  # type: ignore[no-untyped-def]
    return lambda key, **values: CATALOG.t(locale, key, **values)


AT = dt.datetime(2026, 11, 25, 3, tzinfo=dt.UTC)


def score(subject: str, value: str) -> Item:
    return Item(
        kind="scores",
        payload={"subject": subject, "score_kind": "tx", "value": value},
        occurred_at=AT,
    )


def test_one_digest_grouped_by_child_in_the_parents_language() -> None:
    an = ChildSection(
        name="Nguyễn Minh An",
        class_name="6A",
        items=(
            score("Toán", "8.5"),
            Item(
                kind="attendance",
                payload={"date": "2026-11-24", "session": "morning", "excused": True},
                occurred_at=AT,
            ),
        ),
        tomorrow=["Toán", "Ngữ văn"],
    )
    ha = ChildSection(
        name="Nguyễn Thu Hà",
        class_name="8A",
        items=(
            Item(
                kind="fees",
                payload={"name": "Tiền ăn", "amount": 450000, "due_date": "2026-12-05"},
                occurred_at=AT,
            ),
        ),
    )
    vi = compose_digest(
        tr("vi"),
        "vi",
        frequency=Frequency.DAILY,
        local_date=dt.date(2026, 11, 25),
        children=[an, ha],
    )
    assert vi is not None and vi.item_count == 3
    assert vi.text.startswith("📬 Bản tin ngày 25/11/2026")
    assert "Toán thường xuyên: 8,5" in vi.text
    assert "Nghỉ học 24/11/2026 (buổi sáng, có phép)" in vi.text
    assert "Ngày mai (Thứ Năm): Toán, Ngữ văn" in vi.text
    assert "Tiền ăn — 450.000 ₫ (hạn 05/12/2026)" in vi.text
    assert vi.text.index("Nguyễn Minh An") < vi.text.index("Tiền ăn")
    en = compose_digest(
        tr("en"),
        "en",
        frequency=Frequency.DAILY,
        local_date=dt.date(2026, 11, 25),
        children=[an, ha],
    )
    assert en is not None and "Toán regular: 8.5" in en.text and "Tomorrow (Thursday)" in en.text


def test_content_choice_filters_and_empty_digests_are_not_sent() -> None:
    child = ChildSection(name="An", class_name="6A", items=(score("Toán", "8"),), tomorrow=["Toán"])
    only_notices = frozenset({Content.NOTICES})
    assert (
        compose_digest(
            tr("vi"),
            "vi",
            frequency=Frequency.DAILY,
            local_date=dt.date(2026, 11, 25),
            children=[child],
            content=only_notices,
        )
        is None
    )
    nothing = ChildSection(name="An", class_name="6A")
    assert (
        compose_digest(
            tr("vi"),
            "vi",
            frequency=Frequency.DAILY,
            local_date=dt.date(2026, 11, 25),
            children=[nothing],
        )
        is None
    )


def test_a_busy_week_stays_short() -> None:
    items = tuple(score(f"Môn {i}", "9") for i in range(30))
    notices = tuple(
        Item(kind="notices", payload={"text": "x" * 2000}, occurred_at=AT) for _ in range(3)
    )
    children = [
        ChildSection(name=f"Con {n}", class_name="6A", items=items + notices) for n in range(4)
    ]
    digest = compose_digest(
        tr("vi"),
        "vi",
        frequency=Frequency.WEEKLY,
        local_date=dt.date(2026, 11, 29),
        children=children,
    )
    assert digest is not None
    assert len(digest.text) <= MAX_DIGEST_CHARS
    assert "… và 25 mục khác" in digest.text
    assert digest.text.endswith("/caidat")
