"""Attendance (chuyên cần): absences this year against the 45-session limit."""

from __future__ import annotations

import datetime as dt

from bot.domain.absence import parse_dates
from bot.domain.attendance import YEAR_LIMIT, sessions_absent
from bot.domain.formatting import format_date
from bot.domain.models import AttendanceRecord, Student
from bot.domain.text import parse_relative_day, parse_weekday
from bot.messages import Reply
from bot.ports import Capability
from bot.turn import Turn
from handlers.common import child_label, query, query_feature

INTENT = "attendance"


def asked_day(folded: str, today: dt.date) -> dt.date | None:
    """The day a question is about ("hôm nay", "hôm qua", "thứ 2", "25/11"), today or
    before; a weekday is its latest occurrence. ``None`` when no past day is named."""
    offset = parse_relative_day(folded)
    if offset is not None:
        return today + dt.timedelta(days=offset) if offset <= 0 else None
    weekday = parse_weekday(folded)
    if weekday is not None:
        return today - dt.timedelta(days=(today.weekday() - weekday) % 7)
    dates = parse_dates(folded, today)
    if dates is not None:
        return dates[0] if dates[0] <= today else None
    words = set(folded.split())
    if words & {"khong", "chua", "did", "was", "is"} and not words & {"may", "nhieu", "du", "many"}:
        return today  # "con có nghỉ không": today; not "nghỉ mấy buổi rồi" (the whole year)
    return None


def _day_line(turn: Turn, who: str, day: dt.date, records: list[AttendanceRecord]) -> str:
    """The answer to "did my child go to school on that day" (issue 16)."""
    that_day = [r for r in records if r.date == day]
    if not that_day:
        return turn.t("understand.day_no_absence", date=format_date(day), child=who)
    parts = []
    for r in that_day:
        session = turn.t(f"attendance.session_{r.session.value if r.session else 'day'}")
        kind = turn.t("attendance.excused") if r.excused else turn.t("attendance.unexcused")
        parts.append(f"{session} ({kind})")
    return turn.t("understand.day_absent", date=format_date(day), child=who, what=", ".join(parts))


async def _answer(turn: Turn, child: Student, folded: str) -> list[Reply]:
    records = list(await turn.backend.attendance(child.id))
    who = child_label(child)
    day = asked_day(folded, turn.today())
    first = [_day_line(turn, who, day, records), ""] if day is not None else []
    if not records:
        text = "\n".join([*first, turn.t("attendance.none", child=who)])
        return [Reply(text=text, private_only=True)]
    excused = sum(1 for r in records if r.excused)
    total = sessions_absent(records)
    lines = [
        *first,
        turn.t("attendance.title", child=who),
        turn.t(
            "attendance.totals",
            excused=excused,
            unexcused=total - excused,
            total=total,
            limit=YEAR_LIMIT,
        ),
        "",
    ]
    for r in records[-10:]:
        session = turn.t(f"attendance.session_{r.session.value if r.session else 'day'}")
        kind = turn.t("attendance.excused") if r.excused else turn.t("attendance.unexcused")
        reason = f": {r.reason}" if r.reason else ""
        lines.append(f"• {format_date(r.date)} ({session}) — {kind}{reason}")
    return [Reply(text="\n".join(lines), private_only=True)]


# The "attendance" question is answered by dialogs.absence_request (a teacher asking
# it means their class); this feature keeps the menu entry and the buttons.
handle = query(INTENT, Capability.ATTENDANCE, _answer)
FEATURE = query_feature(INTENT, handle, intent=None)
