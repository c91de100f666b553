"""Quiet hours: the midnight wrap, the exact boundaries, and properties under hypothesis."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.quiet_hours import is_quiet, next_send_time

pytestmark = pytest.mark.unit

HN = "Asia/Ho_Chi_Minh"  # UTC+7, no daylight saving
HN_TZ = ZoneInfo(HN)


def hanoi(y: int, m: int, d: int, hh: int, mm: int, ss: int = 0, us: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, ss, us, tzinfo=HN_TZ).astimezone(dt.UTC)


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        # outside: unchanged
        (hanoi(2026, 11, 23, 9, 0), hanoi(2026, 11, 23, 9, 0)),
        (hanoi(2026, 11, 23, 20, 59, 59, 999999), hanoi(2026, 11, 23, 20, 59, 59, 999999)),
        # the start is quiet, the evening part ends tomorrow morning
        (hanoi(2026, 11, 23, 21, 0), hanoi(2026, 11, 24, 6, 30)),
        (hanoi(2026, 11, 23, 23, 59, 59), hanoi(2026, 11, 24, 6, 30)),
        # after midnight: ends the same (local) morning
        (hanoi(2026, 11, 24, 0, 0), hanoi(2026, 11, 24, 6, 30)),
        (hanoi(2026, 11, 24, 6, 29, 59, 999999), hanoi(2026, 11, 24, 6, 30)),
        # the end is not quiet
        (hanoi(2026, 11, 24, 6, 30), hanoi(2026, 11, 24, 6, 30)),
        # across a month and a year end
        (hanoi(2026, 12, 31, 22, 15), hanoi(2027, 1, 1, 6, 30)),
    ],
)
def test_default_window_wraps_midnight(local: dt.datetime, expected: dt.datetime) -> None:
    assert next_send_time(local, tz=HN) == expected


def test_the_answer_is_utc_and_local_midnight_is_not_utc_midnight() -> None:
    # 23:30 UTC on the 23rd is 06:30 on the 24th in Hà Nội: already allowed.
    now = dt.datetime(2026, 11, 23, 23, 30, tzinfo=dt.UTC)
    assert next_send_time(now, tz=HN) == now
    # 16:00 UTC = 23:00 Hà Nội: wait until 06:30 Hà Nội = 23:30 UTC.
    got = next_send_time(dt.datetime(2026, 11, 23, 16, 0, tzinfo=dt.UTC), tz=HN)
    assert got == dt.datetime(2026, 11, 23, 23, 30, tzinfo=dt.UTC)
    assert got.tzinfo == dt.UTC


def test_a_window_that_does_not_wrap() -> None:
    def at(local: dt.datetime) -> dt.datetime:
        return next_send_time(local, tz=HN, quiet_start=dt.time(12, 0), quiet_end=dt.time(13, 30))

    assert at(hanoi(2026, 11, 23, 11, 59)) == hanoi(2026, 11, 23, 11, 59)
    assert at(hanoi(2026, 11, 23, 12, 0)) == hanoi(2026, 11, 23, 13, 30)
    assert at(hanoi(2026, 11, 23, 13, 29)) == hanoi(2026, 11, 23, 13, 30)
    assert at(hanoi(2026, 11, 23, 13, 30)) == hanoi(2026, 11, 23, 13, 30)
    assert at(hanoi(2026, 11, 23, 23, 0)) == hanoi(2026, 11, 23, 23, 0)


def test_an_empty_window_is_never_quiet() -> None:
    t = dt.time(21, 0)
    now = hanoi(2026, 11, 23, 21, 0)
    assert next_send_time(now, tz=HN, quiet_start=t, quiet_end=t) == now
    assert not is_quiet(t, quiet_start=t, quiet_end=t)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_send_time(dt.datetime(2026, 11, 23, 16, 0), tz=HN)


def test_daylight_saving_zone_gives_the_local_end() -> None:
    # Berlin, night of the spring change (29/03/2026, 02:00 -> 03:00): the end is 06:30 CEST.
    berlin = ZoneInfo("Europe/Berlin")
    now = dt.datetime(2026, 3, 28, 23, 0, tzinfo=berlin)
    got = next_send_time(now, tz="Europe/Berlin")
    assert got.astimezone(berlin).replace(tzinfo=None) == dt.datetime(2026, 3, 29, 6, 30)


moments = st.datetimes(
    min_value=dt.datetime(2020, 1, 1),
    max_value=dt.datetime(2035, 12, 31),
    timezones=st.just(dt.UTC),
)
times = st.times()
zones = st.sampled_from([HN, "UTC", "Asia/Tokyo", "Europe/Berlin", "America/New_York"])


def _local_wall(t: dt.datetime, tz: str) -> dt.time:
    return t.astimezone(ZoneInfo(tz)).time().replace(tzinfo=None)


@settings(max_examples=400, deadline=None)
@given(now=moments, start=times, end=times, tz=st.sampled_from([HN, "UTC", "Asia/Tokyo"]))
def test_the_answer_is_the_first_moment_outside_the_window(
    now: dt.datetime, start: dt.time, end: dt.time, tz: str
) -> None:
    """On zones without daylight saving: the answer is never before now, is not quiet, and
    (when it differs from now) every instant just before it is quiet, within a day."""
    got = next_send_time(now, tz=tz, quiet_start=start, quiet_end=end)
    assert got.tzinfo is not None and got.utcoffset() == dt.timedelta(0)
    assert got >= now
    assert not is_quiet(_local_wall(got, tz), quiet_start=start, quiet_end=end)
    quiet_now = is_quiet(_local_wall(now, tz), quiet_start=start, quiet_end=end)
    assert (got == now) == (not quiet_now)
    if got > now:
        assert got - now <= dt.timedelta(days=1)
        just_before = got - dt.timedelta(microseconds=1)
        assert is_quiet(_local_wall(just_before, tz), quiet_start=start, quiet_end=end)
        # and the midpoint between now and the answer is quiet too (one contiguous stretch)
        assert is_quiet(_local_wall(now + (got - now) / 2, tz), quiet_start=start, quiet_end=end)


@settings(max_examples=300, deadline=None)
@given(now=moments, tz=zones)
def test_default_window_never_sends_at_night_in_any_zone(now: dt.datetime, tz: str) -> None:
    got = next_send_time(now, tz=tz)
    assert got >= now
    wall = _local_wall(got, tz)
    assert dt.time(6, 30) <= wall < dt.time(21, 0)
    assert got - now <= dt.timedelta(hours=10)  # 21:00 -> 06:30 is 9.5 h (+1 h for DST)
