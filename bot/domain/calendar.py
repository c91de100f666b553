"""School days: Monday to Saturday, minus Vietnamese public holidays."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import holidays

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"  # every school's clock unless it names its own


@lru_cache(maxsize=8)
def _vn_holidays(year: int) -> dict[dt.date, str]:
    return dict(holidays.country_holidays("VN", years=year, language="vi"))


def holiday_name(day: dt.date) -> str | None:
    """The public holiday on ``day`` (in Vietnamese), if any."""
    return _vn_holidays(day.year).get(day)


def is_school_day(day: dt.date) -> bool:
    return day.weekday() != 6 and holiday_name(day) is None


def next_school_day(day: dt.date) -> dt.date:
    """``day`` itself if it is a school day, else the next one."""
    for _ in range(30):
        if is_school_day(day):
            return day
        day += dt.timedelta(days=1)
    return day
