"""The pure rules of class polls and teachers' posts (issue 17)."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.domain.polls import (
    Ballot,
    Poll,
    deadline_problem,
    parse_choices,
    parse_deadline,
    parse_options,
    reminder_time,
    tally,
    toggle,
)
from bot.domain.posts import PostKind, parse_post, week_start

TZ = "Asia/Ho_Chi_Minh"
NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)  # Monday 09:00 in Hà Nội


def local(*args: int) -> dt.datetime:
    from zoneinfo import ZoneInfo

    return dt.datetime(*args, tzinfo=ZoneInfo(TZ)).astimezone(dt.UTC)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("27/11", local(2026, 11, 27, 20, 0)),
        ("27/11 17h", local(2026, 11, 27, 17, 0)),
        ("27/11/2026 17:30", local(2026, 11, 27, 17, 30)),
        ("27-11 lúc 7 giờ sáng", local(2026, 11, 27, 7, 0)),
        ("mai 8h", local(2026, 11, 24, 8, 0)),
        ("ngày mai", local(2026, 11, 24, 20, 0)),
        ("3 ngày", NOW + dt.timedelta(days=3)),
        ("05/01", local(2027, 1, 5, 20, 0)),  # a date already past this year: next year's
    ],
)
def test_deadlines_as_teachers_type_them(typed: str, expected: dt.datetime) -> None:
    assert parse_deadline(typed, NOW, TZ) == expected


@pytest.mark.parametrize("typed", ["", "hôm qua", "31/02", "27/11 25h", "soon", "x" * 50])
def test_deadlines_not_understood(typed: str) -> None:
    assert parse_deadline(typed, NOW, TZ) is None


def test_a_deadline_must_be_ahead_and_not_too_far() -> None:
    assert deadline_problem(NOW + dt.timedelta(minutes=5), NOW) == "past"
    assert deadline_problem(NOW + dt.timedelta(days=61), NOW) == "too_far"
    assert deadline_problem(NOW + dt.timedelta(days=3), NOW) is None


def test_reminder_a_day_before_or_halfway_for_short_polls() -> None:
    assert reminder_time(NOW, NOW + dt.timedelta(days=4)) == NOW + dt.timedelta(days=3)
    assert reminder_time(NOW, NOW + dt.timedelta(hours=10)) == NOW + dt.timedelta(hours=5)


def test_choices_typed_and_toggled() -> None:
    assert parse_choices("2", 3, multiple=False) == (1,)
    assert parse_choices("1, 3", 3, multiple=True) == (0, 2)
    assert parse_choices("1 3", 3, multiple=False) is None  # single choice
    assert parse_choices("4", 3, multiple=True) is None
    assert parse_choices("một", 3, multiple=True) is None
    assert toggle((0,), 1, multiple=False) == (1,)
    assert toggle((0,), 1, multiple=True) == (0, 1)
    assert toggle((0, 1), 0, multiple=True) == (1,)


def test_options_one_a_line_or_separated() -> None:
    assert parse_options("1. Có\n2. Không\n\n") == ["Có", "Không"]
    assert parse_options("Sáng thứ Bảy; Tối thứ Sáu") == ["Sáng thứ Bảy", "Tối thứ Sáu"]
    assert parse_options("- Có\n• Không") == ["Có", "Không"]


def _poll(anonymous: bool) -> Poll:
    return Poll(
        id=1,
        school_id="demo",
        class_id="c-6a",
        class_name="6A",
        author_id="t",
        question="?",
        options=("A", "B"),
        multiple=True,
        anonymous=anonymous,
        deadline_at=NOW,
        remind_at=NOW,
        reminded_at=None,
        created_at=NOW,
    )


def test_tally_names_unless_anonymous() -> None:
    ballots = [
        Ballot(
            id=1,
            poll_id=1,
            school_id="demo",
            student_id="1",
            student_name="An",
            class_name="6A",
            choices=(0, 1),
        ),
        Ballot(
            id=2,
            poll_id=1,
            school_id="demo",
            student_id="2",
            student_name="Bình",
            class_name="6A",
            choices=(1,),
        ),
        Ballot(
            id=3, poll_id=1, school_id="demo", student_id="3", student_name="Chi", class_name="6A"
        ),
    ]
    named = tally(_poll(False), ballots)
    assert named.counts == (1, 2) and (named.answered, named.total) == (2, 3)
    assert named.voters == (("An",), ("An", "Bình")) and named.missing == ("Chi (6A)",)
    marked = tally(_poll(False), ballots, unlinked={"3"})
    assert marked.missing == ("Chi (6A)*",) and marked.unlinked == 1
    hidden = tally(_poll(True), ballots)
    assert hidden.counts == (1, 2) and hidden.not_answered == 1
    assert hidden.voters == ((), ()) and hidden.missing == ()


def test_posts_as_teachers_type_them() -> None:
    remark = parse_post("Nhận xét HS6A01: Con tiến bộ: chăm hơn.")
    assert remark is not None and remark.kind is PostKind.REMARK
    assert (remark.target, remark.text) == ("HS6A01", "Con tiến bộ: chăm hơn.")
    homework = parse_post("bai tap lop 6A: Bài 3 trang 25")
    assert homework is not None and homework.kind is PostKind.HOMEWORK
    assert homework.target == "6A"
    assert parse_post("bài tập hôm nay: gì vậy") is None
    assert parse_post("nhận xét HS6A01:   ") is None
    assert parse_post("nhận xét tuần này") is None
    assert week_start(dt.date(2026, 11, 26)) == dt.date(2026, 11, 23)
