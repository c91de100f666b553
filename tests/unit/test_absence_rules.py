"""The pure leave-request rules: reading free Vietnamese text, validating dates and reasons,
overlaps, the 30/40/45 thresholds and typed decisions."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.absence import (
    AbsencePolicy,
    DateProblem,
    DaySession,
    check_dates,
    check_reason,
    crossed_thresholds,
    decision_deadline,
    extract,
    overlaps,
    parse_decision,
    parse_session,
    school_days,
)

MON = dt.date(2026, 11, 23)  # a school day; Tue 24/11 is a public holiday in the calendar
HN = ZoneInfo("Asia/Ho_Chi_Minh")
MORNING = dt.datetime(2026, 11, 23, 6, 30, tzinfo=HN)
LATE = dt.datetime(2026, 11, 23, 9, 0, tzinfo=HN)
POLICY = AbsencePolicy()


@pytest.mark.parametrize(
    ("text", "start", "end", "session", "reason"),
    [
        ("xin nghỉ", None, None, None, None),
        ("xin nghi cho chau ngay mai", MON + dt.timedelta(1), MON + dt.timedelta(1), None, None),
        ("cho cháu nghỉ thứ 4 vì ốm", dt.date(2026, 11, 25), dt.date(2026, 11, 25), None, "ốm"),
        ("cho chau nghi thu 2 vi om", MON, MON, None, "om"),
        ("hôm nay con nghỉ buổi sáng do sốt", MON, MON, DaySession.MORNING, "sốt"),
        (
            "25/11-27/11 cả ngày, lý do: việc gia đình",
            dt.date(2026, 11, 25),
            dt.date(2026, 11, 27),
            DaySession.DAY,
            "việc gia đình",
        ),
        (
            "27/11 đến 25/11 chiều",
            dt.date(2026, 11, 25),
            dt.date(2026, 11, 27),
            DaySession.AFTERNOON,
            None,
        ),
        ("5/1", dt.date(2027, 1, 5), dt.date(2027, 1, 5), None, None),  # January next year
        ("31/2", None, None, None, None),  # no such day
    ],
)
def test_extract_reads_what_the_parent_said(
    text: str,
    start: dt.date | None,
    end: dt.date | None,
    session: DaySession | None,
    reason: str | None,
) -> None:
    said = extract(text, MON)
    assert (said.start, said.end, said.session, said.reason) == (start, end, session, reason)


def test_session_words() -> None:
    assert parse_session("sang mai") is DaySession.MORNING
    assert parse_session("buổi chiều") is DaySession.AFTERNOON
    assert parse_session("cả ngày") is DaySession.DAY
    assert parse_session("ngày mai") is None


@pytest.mark.parametrize(
    ("start", "end", "now", "problem"),
    [
        (dt.date(2026, 11, 20), dt.date(2026, 11, 20), MORNING, DateProblem.PAST),
        (MON, MON, LATE, DateProblem.TODAY_TOO_LATE),
        (dt.date(2026, 11, 29), dt.date(2026, 11, 29), MORNING, DateProblem.SUNDAY),
        (dt.date(2026, 11, 24), dt.date(2026, 11, 24), MORNING, DateProblem.HOLIDAY),
        (dt.date(2026, 11, 25), dt.date(2026, 12, 10), MORNING, DateProblem.TOO_LONG),
        (dt.date(2026, 11, 28), dt.date(2026, 11, 30), MORNING, None),  # Sat, Sun, Mon
        (MON, MON, MORNING, None),  # today, before the cut-off
    ],
)
def test_check_dates(
    start: dt.date, end: dt.date, now: dt.datetime, problem: DateProblem | None
) -> None:
    found = check_dates(start, end, now_local=now, policy=POLICY)
    assert (found[0] if found else None) is problem


def test_a_span_of_only_holidays_and_sundays_has_no_school_day() -> None:
    tet = dt.date(2027, 2, 6), dt.date(2027, 2, 7)  # Tết 2027 falls on 6-10/2
    found = check_dates(*tet, now_local=MORNING, policy=POLICY)
    assert found is not None and found[0] is DateProblem.NO_SCHOOL_DAY


def test_reason_rules() -> None:
    assert check_reason("   ") == "empty"
    assert check_reason("x" * 301) == "too_long"
    assert check_reason("ốm") is None


def test_overlap_by_day_and_session() -> None:
    wed = dt.date(2026, 11, 25)
    live = [(wed, wed, "morning")]
    assert overlaps(wed, wed, DaySession.MORNING, live)
    assert overlaps(wed, wed, DaySession.DAY, live)
    assert not overlaps(wed, wed, DaySession.AFTERNOON, live)
    assert not overlaps(wed + dt.timedelta(1), wed + dt.timedelta(1), DaySession.DAY, live)


def test_thresholds_are_crossed_once_each() -> None:
    assert crossed_thresholds(28, 29) == []
    assert crossed_thresholds(29, 30) == [30]
    assert crossed_thresholds(29, 46) == [30, 40, 45]
    assert crossed_thresholds(30, 31) == []


@given(st.integers(0, 60), st.integers(0, 10))
def test_thresholds_never_repeat(before: int, more: int) -> None:
    first = crossed_thresholds(before, before + more)
    again = crossed_thresholds(before + more, before + more + 1)
    assert not set(first) & set(again)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("duyet 12", ("approve", 12, "")),
        ("Duyệt #12", ("approve", 12, "")),
        ("tu choi 12 lớp có kiểm tra", ("reject", 12, "lớp có kiểm tra")),
        ("Từ chối 7: trùng lịch thi", ("reject", 7, "trùng lịch thi")),
        ("reject 3", ("reject", 3, "")),
        ("duyet", None),
        ("duyệt đơn của An", None),
    ],
)
def test_typed_decisions(text: str, expected: tuple[str, int, str] | None) -> None:
    assert parse_decision(text) == expected


def test_school_days_and_deadline() -> None:
    assert school_days(MON, dt.date(2026, 11, 29)) == [
        MON,
        dt.date(2026, 11, 25),
        dt.date(2026, 11, 26),
        dt.date(2026, 11, 27),
        dt.date(2026, 11, 28),
    ]
    deadline = decision_deadline(dt.date(2026, 11, 25), POLICY, HN)
    assert deadline == dt.datetime(2026, 11, 25, 17, 0, tzinfo=HN)
