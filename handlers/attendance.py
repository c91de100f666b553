"""Attendance (chuyên cần): absences this year against the 45-session limit."""

from __future__ import annotations

from bot.domain.attendance import YEAR_LIMIT, sessions_absent
from bot.domain.formatting import format_date
from bot.domain.models import Student
from bot.messages import Reply
from bot.ports import Capability
from bot.turn import Turn
from handlers.common import child_label, query, query_feature

INTENT = "attendance"


async def _answer(turn: Turn, child: Student, folded: str) -> list[Reply]:
    records = list(await turn.backend.attendance(child.id))
    who = child_label(child)
    if not records:
        return [Reply(text=turn.t("attendance.none", child=who), private_only=True)]
    excused = sum(1 for r in records if r.excused)
    total = sessions_absent(records)
    lines = [
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
