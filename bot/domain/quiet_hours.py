"""Quiet hours: no non-urgent message reaches a family at night (21:00–06:30 by default).

Pure: ``zoneinfo`` only. The window is in the school's local time; it may wrap midnight
(21:00–06:30) or not (12:00–13:30). ``quiet_start == quiet_end`` means no quiet hours. The
start is inside the window, the end is not: at 21:00:00 sharp we are quiet, at 06:30:00 sharp
we may send.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

DEFAULT_QUIET_START = dt.time(21, 0)
DEFAULT_QUIET_END = dt.time(6, 30)


def is_quiet(
    local: dt.time,
    *,
    quiet_start: dt.time = DEFAULT_QUIET_START,
    quiet_end: dt.time = DEFAULT_QUIET_END,
) -> bool:
    """Whether the local wall-clock time ``local`` falls inside the window."""
    if quiet_start == quiet_end:
        return False
    if quiet_start < quiet_end:  # same day, e.g. 12:00–13:30
        return quiet_start <= local < quiet_end
    return local >= quiet_start or local < quiet_end  # wraps midnight


def next_send_time(
    now_utc: dt.datetime,
    *,
    tz: str,
    quiet_start: dt.time = DEFAULT_QUIET_START,
    quiet_end: dt.time = DEFAULT_QUIET_END,
) -> dt.datetime:
    """``now_utc`` if a non-urgent message may go out now in time zone ``tz``, else the end
    of the current quiet hours, as an aware UTC datetime (never earlier than ``now_utc``)."""
    if now_utc.tzinfo is None:
        raise ValueError("now_utc must be timezone-aware")
    now_utc = now_utc.astimezone(dt.UTC)
    zone = ZoneInfo(tz)
    local = now_utc.astimezone(zone)
    wall = local.time().replace(tzinfo=None)
    if not is_quiet(wall, quiet_start=quiet_start, quiet_end=quiet_end):
        return now_utc
    day = local.date()
    if quiet_start > quiet_end and wall >= quiet_start:
        day += dt.timedelta(days=1)  # evening part of a window that wraps midnight
    end = dt.datetime.combine(day, quiet_end, tzinfo=zone).astimezone(dt.UTC)
    # A daylight-saving gap can move a nonexistent local end time; never go backwards.
    return max(end, now_utc)
