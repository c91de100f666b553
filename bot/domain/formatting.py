"""Money, dates, weekdays and scores as a Vietnamese parent expects to read them.

Exact strings matter here (they appear in messages and tests), so the Vietnamese forms are
spelled out and Babel is used only for the other locales' names and decimal symbols.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from babel.dates import get_day_names
from babel.numbers import format_decimal, get_decimal_symbol

from bot.domain.tt22 import round1

__all__ = [
    "format_average",
    "format_date",
    "format_score",
    "format_vnd",
    "weekday_name",
]

_VI_WEEKDAYS = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")


def format_vnd(amount: int) -> str:
    """``"1.250.000 ₫"``: dot thousands, a plain space, the đồng sign; VND has no minor unit."""
    # Babel's vi_VN grouping; a plain space rather than Babel's no-break one, so the text
    # reads the same in every channel and in the tests.
    return f"{format_decimal(amount, locale='vi_VN')} ₫"


def format_date(d: dt.date) -> str:
    """``"25/11/2026"``: dd/mm/yyyy, as on every Vietnamese school notice."""
    return f"{d.day:02d}/{d.month:02d}/{d.year:04d}"


def weekday_name(weekday: int, locale: str) -> str:
    """The day's name, 0 = Monday: vi ``"Thứ Hai"`` … ``"Chủ Nhật"``, en ``"Monday"`` …"""
    if not 0 <= weekday <= 6:
        raise ValueError(f"weekday must be 0..6, got {weekday}")
    if locale.split("_")[0].split("-")[0] == "vi":
        return _VI_WEEKDAYS[weekday]
    return str(get_day_names("wide", locale=locale)[weekday])


def _decimal_symbol(locale: str) -> str:
    return str(get_decimal_symbol(locale))


def format_score(x: Decimal, locale: str = "vi") -> str:
    """One score as the teacher entered it: ``"8"``, ``"7,5"`` (vi) / ``"7.5"`` (en)."""
    text = str(int(x)) if x == x.to_integral_value() else f"{x.normalize():f}"
    return text.replace(".", _decimal_symbol(locale))


def format_average(x: Decimal, locale: str = "vi") -> str:
    """An average always shows its one decimal: ``"8,0"``, ``"7,6"`` (vi) / ``"7.6"`` (en)."""
    return f"{round1(x):f}".replace(".", _decimal_symbol(locale))
