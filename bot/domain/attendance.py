"""Counting absences against the TT22 limit (Điều 12: at most 45 sessions a year)."""

from __future__ import annotations

from collections.abc import Iterable

from bot.domain.models import AttendanceRecord

YEAR_LIMIT = 45  # buổi, excused or not, continuous or scattered


def sessions_absent(records: Iterable[AttendanceRecord]) -> int:
    """Sessions (buổi) missed, counted against the 1-session-a-day plan: a whole day or a
    morning is one buổi. Afternoons of two-session schools are unsettled in the rules
    (vn_school_rules.md ⚠) and count as one buổi each here."""
    return sum(1 for _ in records)
