"""Digest rules: a parent's preferences, when their digest is due, and what it says.

Pure: ``zoneinfo`` and the school calendar only. Times are the school's local wall-clock
times; everything passed in or out as a datetime is aware UTC.

Periods
    A daily digest at 19:00 has one *slot* per local day (19:00 that day); a weekly one has
    one slot per ISO week (that weekday at that time). The period key (``d2026-11-23``,
    ``w2026-W48``) names the slot and goes into the outbox dedupe key, so a period's digest
    can be queued only once. The slot due at ``now`` is the latest one not after ``now``; it is
    still sent if it is at most ``grace`` old (a restart after downtime catches up), and
    skipped when older: its items then wait for the next period, nothing is lost.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.calendar import is_school_day
from bot.domain.formatting import format_date, format_vnd, weekday_name
from bot.domain.quiet_hours import DEFAULT_QUIET_END, DEFAULT_QUIET_START, is_quiet
from bot.domain.text import fold, truncate

Translate = Callable[..., str]  # catalog lookup bound to one locale: t(key, **values)

MAX_ITEMS_PER_CHILD = 8  # more become "… and N more": a digest must stay short on a phone
MAX_DIGEST_CHARS = 1800  # below Zalo's 2000-character limit, so it is never split
MAX_NOTICE_CHARS = 600


class Frequency(enum.StrEnum):
    DAILY = "daily"  # every day at the chosen time
    WEEKLY = "weekly"  # once a week, on the chosen weekday
    OFF = "off"  # no digest (urgent alerts may still come, see ``DigestPrefs.instant``)


class Content(enum.StrEnum):
    """What a digest may contain; also the ``kind`` of a notification item."""

    SCORES = "scores"
    ATTENDANCE = "attendance"
    FEES = "fees"
    TIMETABLE = "timetable"  # tomorrow's lessons (composed at digest time, not an item)
    NOTICES = "notices"


ALL_CONTENT = frozenset(Content)
_CONTENT_ORDER = {c.value: n for n, c in enumerate(Content)}  # a digest lists items in this order
DEFAULT_MINUTE = 19 * 60  # 19:00


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestPrefs:
    """One parent's choices. The defaults are what a parent gets without touching settings."""

    frequency: Frequency = Frequency.DAILY
    weekday: int = 6  # weekly digests: 0 = Thứ Hai … 6 = Chủ Nhật (Sunday evening)
    minute_of_day: int = DEFAULT_MINUTE  # local time of day, 19:00 = 1140
    content: frozenset[Content] = ALL_CONTENT
    instant: bool = True  # urgent items (unexcused absence, urgent notice) at once
    score_alerts: bool = False  # every new score at once ("báo ngay khi có điểm mới")
    post_alerts: bool = False  # teachers' remarks and homework at once (outside quiet hours)
    locale: str | None = None  # None = the chat's language

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6 or not 0 <= self.minute_of_day < 24 * 60:
            raise ValueError("weekday must be 0..6 and minute_of_day 0..1439")

    @property
    def time(self) -> dt.time:
        return dt.time(self.minute_of_day // 60, self.minute_of_day % 60)


def content_to_str(content: frozenset[Content]) -> str:
    return ",".join(c.value for c in Content if c in content)


def content_from_str(raw: str) -> frozenset[Content]:
    return frozenset(
        Content(part) for part in raw.split(",") if part in Content.__members__.values()
    )


# --- the hour a parent types -------------------------------------------------------------

_EVENING = ("toi", "chieu", "pm", "dem")
_MORNING = ("sang", "am")
_TIME = re.compile(
    r"^(?P<h>\d{1,2})\s*(?:(?:gio|h|g|:)\s*(?P<m>\d{1,2})?\s*(?:phut|p)?)?\s*(?P<part>[a-z]*)$"
)


def parse_time_of_day(text: str) -> int | None:
    """The minute of the day in what a parent typed, or ``None`` if it is not a time.

    Understands ``20h``, ``20:30``, ``20h30``, ``19 giờ``, ``8 giờ tối`` (20:00), ``7 giờ sáng``,
    ``8pm`` (digits only, not "tám giờ"). ``25h``, ``20:75`` and ``13 giờ tối`` are refused.
    """
    folded = fold(text).strip().rstrip(".")
    if not folded or len(folded) > 20:
        return None
    folded = re.sub(r"\s+", " ", folded)
    match = _TIME.match(folded)
    if match is None:
        return None
    hour = int(match["h"])
    minute = int(match["m"]) if match["m"] else 0
    part = match["part"]
    if part and part not in _EVENING + _MORNING:
        return None
    if part in _EVENING:  # "8 giờ tối" = 20:00; "12 giờ đêm" = 00:00; "2 giờ đêm" = 02:00
        if not 1 <= hour <= 12:
            return None
        if part in ("toi", "dem") and hour == 12:
            hour = 0
        elif not (part == "dem" and hour <= 5) and hour != 12:
            hour += 12
    elif part in _MORNING:  # "7 giờ sáng" = 07:00; "12 am" = 00:00
        if hour > 12:
            return None
        hour %= 12
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    return hour * 60 + minute


def format_minute(minute_of_day: int) -> str:
    return f"{minute_of_day // 60:02d}:{minute_of_day % 60:02d}"


def in_quiet_hours(
    minute_of_day: int,
    *,
    quiet_start: dt.time = DEFAULT_QUIET_START,
    quiet_end: dt.time = DEFAULT_QUIET_END,
) -> bool:
    """Whether a digest at this time would fall in quiet hours (then we refuse the time)."""
    wall = dt.time(minute_of_day // 60, minute_of_day % 60)
    return is_quiet(wall, quiet_start=quiet_start, quiet_end=quiet_end)


# --- periods -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DuePeriod:
    key: str  # "d2026-11-23" or "w2026-W48"
    slot: dt.datetime  # when the digest was due, aware UTC
    local_date: dt.date  # the school-local day of the slot


def latest_slot(prefs: DigestPrefs, now_utc: dt.datetime, tz: str) -> DuePeriod | None:
    """The newest digest slot not after ``now_utc``; ``None`` if the digest is off."""
    if now_utc.tzinfo is None:
        raise ValueError("now_utc must be timezone-aware")
    if prefs.frequency is Frequency.OFF:
        return None
    zone = ZoneInfo(tz)
    local_now = now_utc.astimezone(zone)
    day = local_now.date()
    if prefs.frequency is Frequency.WEEKLY:
        day -= dt.timedelta(days=(day.weekday() - prefs.weekday) % 7)
    step = dt.timedelta(days=7 if prefs.frequency is Frequency.WEEKLY else 1)
    while True:
        slot = dt.datetime.combine(day, prefs.time, tzinfo=zone)
        if slot <= local_now:
            break
        day -= step
    if prefs.frequency is Frequency.WEEKLY:
        year, week, _ = day.isocalendar()
        key = f"w{year}-W{week:02d}"
    else:
        key = f"d{day.isoformat()}"
    return DuePeriod(key=key, slot=slot.astimezone(dt.UTC), local_date=day)


def due_period(
    prefs: DigestPrefs, now_utc: dt.datetime, tz: str, *, grace: dt.timedelta
) -> DuePeriod | None:
    """The period whose digest should exist by ``now_utc``: the latest slot, unless it is
    more than ``grace`` old (a long outage: skip it, the items go into the next digest)."""
    period = latest_slot(prefs, now_utc, tz)
    if period is None or now_utc - period.slot > grace:
        return None
    return period


def shows_tomorrow(local_date: dt.date) -> bool:
    """Tomorrow's timetable is included only when tomorrow is a school day (no Sunday, no
    public holiday)."""
    return is_school_day(local_date + dt.timedelta(days=1))


# --- change payloads -----------------------------------------------------------------------
# Every backend builds a change's payload with these, so a digest line reads the same whatever
# school system reported the change (``format_item`` below is their reader).

SCORE_KINDS = ("tx", "gk", "ck", "cmt")  # thường xuyên, giữa kỳ, cuối kỳ, đánh giá (Đ/CĐ)


def score_text(value: Decimal) -> str:
    """A mark as plain digits: ``9.5``, ``8``, ``10`` (never ``1E+1``)."""
    return format(value.normalize(), "f")


def score_payload(
    *, subject: str, score_kind: str, term: int, value: Decimal | None, passed: bool | None
) -> dict[str, Any]:
    """A new or changed mark (``value``) or comment result (``passed``: Đạt / Chưa đạt)."""
    if score_kind not in SCORE_KINDS:
        raise ValueError(f"unknown score kind {score_kind!r}")
    payload: dict[str, Any] = {"subject": subject, "score_kind": score_kind, "term": int(term)}
    if value is not None:
        payload["value"] = score_text(value)
    elif passed is not None:
        payload["passed"] = bool(passed)
    else:
        raise ValueError("a score change needs a value or a pass/fail result")
    return payload


def absence_payload(*, date: dt.date, session: str, excused: bool) -> dict[str, Any]:
    """An absence; ``session`` is ``day``, ``morning`` or ``afternoon``."""
    if session not in ("day", "morning", "afternoon"):
        raise ValueError(f"unknown session {session!r}")
    return {"date": date.isoformat(), "session": session, "excused": bool(excused)}


def fee_payload(*, name: str, amount: int, due_date: dt.date | None) -> dict[str, Any]:
    """A new or changed fee still to pay."""
    return {
        "name": name,
        "amount": int(amount),
        "due_date": due_date.isoformat() if due_date else None,
    }


# --- composition ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Item:
    """One notification item as stored: ``kind`` is a ``Content`` value, ``payload`` holds
    what to say (subject and score, date and session, fee name and amount, notice text)."""

    kind: str
    payload: dict[str, Any]
    occurred_at: dt.datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildSection:
    name: str
    class_name: str
    school_name: str = ""
    items: Sequence[Item] = ()
    tomorrow: Sequence[str] | None = None  # subject names of tomorrow's lessons, in order


@dataclass(frozen=True, slots=True, kw_only=True)
class Digest:
    text: str
    item_count: int
    children: tuple[str, ...] = field(default=())


def format_item(t: Translate, locale: str, item: Item) -> str:
    """One line about one item, in the reader's language."""
    p = item.payload
    if item.kind == Content.SCORES:
        if "passed" in p:
            value = t("digest.passed" if p["passed"] else "digest.not_passed")
        else:
            value = str(p.get("value", ""))
            value = value.replace(".", ",") if locale == "vi" else value
        label = t(f"digest.score_kind_{p.get('score_kind', 'tx')}")
        return t("digest.item_score", subject=p.get("subject", ""), label=label, value=value)
    if item.kind == Content.ATTENDANCE:
        day = dt.date.fromisoformat(str(p["date"]))
        session = t(f"attendance.session_{p.get('session', 'day')}")
        status = t("attendance.excused" if p.get("excused") else "attendance.unexcused")
        return t("digest.item_absence", date=format_date(day), session=session, status=status)
    if item.kind == Content.FEES:
        due = p.get("due_date")
        due_text = t("digest.fee_due", date=format_date(dt.date.fromisoformat(due))) if due else ""
        return t(
            "digest.item_fee",
            name=p.get("name", ""),
            amount=format_vnd(int(p["amount"])),
            due=due_text,
        ).rstrip()
    if item.kind == Content.NOTICES and p.get("post") in ("remark", "homework"):
        # a teacher's remark or homework (issue 17): a notice, with its own label
        key = "digest.item_remark" if p["post"] == "remark" else "digest.item_homework"
        return t(key, text=truncate(str(p.get("text", "")), MAX_NOTICE_CHARS))
    if item.kind == Content.NOTICES:
        return t("digest.item_notice", text=truncate(str(p.get("text", "")), MAX_NOTICE_CHARS))
    return ""


def compose_digest(
    t: Translate,
    locale: str,
    *,
    frequency: Frequency,
    local_date: dt.date,
    children: Sequence[ChildSection],
    content: frozenset[Content] = ALL_CONTENT,
) -> Digest | None:
    """One message for one parent and one period: a title, then one block per child. Items
    whose kind the parent did not choose are left out; ``None`` when nothing is left."""
    show_school = len({c.school_name for c in children}) > 1
    blocks: list[str] = []
    count = 0
    names: list[str] = []
    for child in children:
        lines: list[str] = []
        chosen = [i for i in child.items if i.kind in content]
        chosen.sort(key=lambda i: (_CONTENT_ORDER[i.kind], i.occurred_at))
        for item in chosen[:MAX_ITEMS_PER_CHILD]:
            lines.append("• " + format_item(t, locale, item))
        if len(chosen) > MAX_ITEMS_PER_CHILD:
            lines.append(t("digest.more", n=len(chosen) - MAX_ITEMS_PER_CHILD))
        count += len(chosen)
        if Content.TIMETABLE in content and child.tomorrow is not None and child.tomorrow:
            weekday = weekday_name((local_date + dt.timedelta(days=1)).weekday(), locale)
            lines.append(
                "• " + t("digest.tomorrow", weekday=weekday, subjects=", ".join(child.tomorrow))
            )
        if not lines:
            continue
        head = f"{child.name} ({child.class_name})"
        if show_school and child.school_name:
            head += f" — {child.school_name}"
        blocks.append("👤 " + head + "\n" + "\n".join(lines))
        names.append(child.name)
    if not blocks:
        return None
    title_key = "digest.title_weekly" if frequency is Frequency.WEEKLY else "digest.title_daily"
    text = t(title_key, date=format_date(local_date)) + "\n\n" + "\n\n".join(blocks)
    footer = t("digest.footer")
    if len(text) + len(footer) + 2 > MAX_DIGEST_CHARS:
        text = truncate(text, MAX_DIGEST_CHARS - len(footer) - 2)
    return Digest(text=text + "\n\n" + footer, item_count=count, children=tuple(names))


def compose_alert(t: Translate, locale: str, *, child: str, item: Item) -> str:
    """An urgent item sent at once (an unexcused absence, an urgent notice)."""
    return t("digest.alert", child=child, line=format_item(t, locale, item))
