"""Leave requests (xin nghỉ học): reading dates, session and reason from free Vietnamese
text, and the school's validation rules. Pure: the caller passes "today" and the policy."""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

from bot.domain.calendar import holiday_name
from bot.domain.text import contains_phrase, fold, parse_relative_day, parse_weekday

MAX_REASON = 300
THRESHOLDS = (30, 40, 45)  # buổi: warn the parent as the year's absences reach each


class AbsenceStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for the homeroom teacher
    APPROVED = "approved"  # excused (có phép); recorded in the school system (maybe later)
    REJECTED = "rejected"  # refused, with an optional reason
    CANCELLED = "cancelled"  # withdrawn by the parent while pending
    EXPIRED = "expired"  # nobody decided before the school's cut-off


class DaySession(enum.StrEnum):
    DAY = "day"  # cả ngày
    MORNING = "morning"  # buổi sáng
    AFTERNOON = "afternoon"  # buổi chiều


@dataclass(frozen=True, slots=True, kw_only=True)
class AbsencePolicy:
    max_days: int = 5  # school days in one request
    past_days: int = 0  # how many days back a request may start (0 = from today)
    same_day_cutoff: dt.time = dt.time(7, 0)  # after this, no request for today
    remind_after: dt.timedelta = dt.timedelta(hours=4)  # remind the teacher once
    decision_cutoff: dt.time = dt.time(17, 0)  # on the first day off: escalate or expire
    deputy_code: str = ""  # the deputy (hiệu phó) who gets escalations; "" = expire instead
    deputy_window: dt.timedelta = dt.timedelta(hours=24)  # the deputy's time before expiry


def decision_deadline(start: dt.date, policy: AbsencePolicy, tz: dt.tzinfo) -> dt.datetime:
    """When an undecided request escalates (or expires): the cut-off on its first day."""
    return dt.datetime.combine(start, policy.decision_cutoff, tzinfo=tz)


@dataclass(frozen=True, slots=True, kw_only=True)
class Extracted:
    """What one message already says; ``None`` = not said, ask for it."""

    start: dt.date | None = None
    end: dt.date | None = None
    session: DaySession | None = None
    reason: str | None = None


_DATE = r"(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?"
_RANGE = re.compile(rf"{_DATE}\s*(?:-|–|den|toi|to)\s*{_DATE}")
_SINGLE = re.compile(_DATE)
_REASON_MARKERS = ("vi", "do", "ly do", "because", "reason")
_REASON_SPLIT = re.compile(r"\b(vì|vi|do|lý do|ly do|because|reason)\b[:\s]*", re.IGNORECASE)


def _date(day: str, month: str, year: str | None, today: dt.date) -> dt.date | None:
    try:
        if year:
            y = int(year) + (2000 if len(year) == 2 else 0)
            return dt.date(y, int(month), int(day))
        guess = dt.date(today.year, int(month), int(day))
    except ValueError:
        return None
    # "5/1" typed in December means next January.
    if guess < today - dt.timedelta(days=180):
        guess = guess.replace(year=today.year + 1)
    return guess


def impossible_date(text: str, today: dt.date) -> str | None:
    """A day/month typed that no calendar has ("30/02", "31/11"), as typed; None when every
    one is a real date."""
    for found in _SINGLE.finditer(fold(text)):
        if _date(found.group(1), found.group(2), found.group(3), today) is None:
            return found.group(0)
    return None


def parse_dates(text: str, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """ "hôm nay", "mai", "thứ 2", "25/11", "25/11-27/11", "25/11 đến 27/11"."""
    folded = fold(text)
    ranged = _RANGE.search(folded)
    if ranged:
        start = _date(ranged.group(1), ranged.group(2), ranged.group(3), today)
        end = _date(ranged.group(4), ranged.group(5), ranged.group(6), today)
        if start and end:
            return (start, end) if start <= end else (end, start)
    single = _SINGLE.search(folded)
    if single:
        day = _date(single.group(1), single.group(2), single.group(3), today)
        if day:
            return day, day
    offset = parse_relative_day(text)
    if offset is not None:
        day = today + dt.timedelta(days=offset)
        return day, day
    weekday = parse_weekday(text)
    if weekday is not None:
        ahead = (weekday - today.weekday()) % 7
        day = today + dt.timedelta(days=ahead)
        return day, day
    return None


def parse_session(text: str) -> DaySession | None:
    folded = fold(text)
    if any(contains_phrase(folded, p) for p in ("ca ngay", "whole day", "all day", "full day")):
        return DaySession.DAY
    if any(contains_phrase(folded, p) for p in ("buoi sang", "sang", "morning")):
        return DaySession.MORNING
    if any(contains_phrase(folded, p) for p in ("buoi chieu", "chieu", "afternoon")):
        return DaySession.AFTERNOON
    return None


def parse_reason(text: str) -> str | None:
    """The reason after "vì", "do", "lý do": "cho cháu nghỉ thứ 2 vì ốm" -> "ốm"."""
    parts = _REASON_SPLIT.split(text, maxsplit=1)
    if len(parts) == 3:
        reason = parts[2].strip(" .,:;!-")
        return reason or None
    return None


def extract(text: str, today: dt.date) -> Extracted:
    dates = parse_dates(text, today)
    return Extracted(
        start=dates[0] if dates else None,
        end=dates[1] if dates else None,
        session=parse_session(text),
        reason=parse_reason(text),
    )


class DateProblem(enum.StrEnum):
    PAST = "past"  # starts before the allowed past window
    TODAY_TOO_LATE = "today_too_late"  # today, after the same-day cut-off
    SUNDAY = "sunday"
    HOLIDAY = "holiday"
    TOO_LONG = "too_long"  # more school days than the school allows
    NO_SCHOOL_DAY = "no_school_day"  # the whole span has no school day


def school_days(start: dt.date, end: dt.date) -> list[dt.date]:
    days = []
    day = start
    while day <= end:
        if day.weekday() != 6 and holiday_name(day) is None:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def check_dates(
    start: dt.date, end: dt.date, *, now_local: dt.datetime, policy: AbsencePolicy
) -> tuple[DateProblem, str] | None:
    """The first problem with these dates and a detail for the message, or None if fine."""
    today = now_local.date()
    if start < today - dt.timedelta(days=policy.past_days):
        return DateProblem.PAST, ""
    if start == end:
        if start.weekday() == 6:
            return DateProblem.SUNDAY, ""
        name = holiday_name(start)
        if name:
            return DateProblem.HOLIDAY, name
    if start <= today <= end and now_local.time() >= policy.same_day_cutoff and start == today:
        return DateProblem.TODAY_TOO_LATE, policy.same_day_cutoff.strftime("%H:%M")
    days = school_days(start, end)
    if not days:
        return DateProblem.NO_SCHOOL_DAY, ""
    if len(days) > policy.max_days:
        return DateProblem.TOO_LONG, str(policy.max_days)
    return None


def check_reason(reason: str) -> str | None:
    """ "empty" / "too_long" / None."""
    stripped = reason.strip()
    if not stripped:
        return "empty"
    if len(stripped) > MAX_REASON:
        return "too_long"
    return None


def overlaps(
    start: dt.date,
    end: dt.date,
    session: DaySession,
    others: Iterable[tuple[dt.date, dt.date, str]],
) -> bool:
    """Whether the span overlaps another live request (same day and a clashing session)."""
    for o_start, o_end, o_session in others:
        if (
            start <= o_end
            and o_start <= end
            and (session is DaySession.DAY or o_session == DaySession.DAY or o_session == session)
        ):
            return True
    return False


def sessions_of(start: dt.date, end: dt.date, session: DaySession) -> int:
    """Buổi an approved request adds to the year's count (one per school day)."""
    return len(school_days(start, end)) if session else 0


def crossed_thresholds(before: int, after: int) -> list[int]:
    return [t for t in THRESHOLDS if before < t <= after]


def parse_decision(text: str) -> tuple[str, int, str] | None:
    """Typed decisions on channels without buttons: "duyet 12", "tu choi 12 lý do"."""
    folded = fold(text)
    m = re.match(r"^(duyet|approve|tu choi|reject)\s+#?(\d{1,9})\b", folded)
    if not m:
        return None
    verb = "approve" if m.group(1) in {"duyet", "approve"} else "reject"
    # Keep the reason as typed (with diacritics): cut after the id in the original text.
    original = text.strip()
    idx = re.search(r"#?\d{1,9}", original)
    reason = original[idx.end() :].strip(" .,:;-") if idx else ""
    return verb, int(m.group(2)), reason
