"""Fee items (khoản thu): amount, due date, paid or not, mandatory or voluntary."""

from __future__ import annotations

from bot.domain.formatting import format_date, format_vnd
from bot.domain.models import Student
from bot.messages import Reply
from bot.ports import Capability
from bot.turn import Turn
from handlers.common import child_label, query, query_feature
from handlers.intents import IntentName

INTENT = "fees"


async def _answer(turn: Turn, child: Student, folded: str) -> list[Reply]:
    items = list(await turn.backend.fees(child.id))
    who = child_label(child)
    if not items:
        return [Reply(text=turn.t("fees.none", child=who), private_only=True)]
    today = turn.today()
    lines = [turn.t("fees.title", child=who)]
    unpaid = 0  # the mandatory fees still due; a voluntary one is the family's choice
    voluntary_open = 0
    for item in items:
        kind = turn.t("fees.mandatory") if item.mandatory else turn.t("fees.voluntary")
        if item.paid:
            status = (
                turn.t("fees.paid", date=format_date(item.paid_at.date()))
                if item.paid_at
                else turn.t("fees.paid_no_date")
            )
            mark = "✅"
        else:
            if item.mandatory:
                unpaid += item.amount
            else:
                voluntary_open += item.amount
            due = format_date(item.due_date) if item.due_date else "—"
            overdue = item.due_date is not None and item.due_date < today
            status = turn.t("fees.overdue", date=due) if overdue else turn.t("fees.due", date=due)
            mark = "⚠️" if overdue else "⏳"
        lines.append(f"{mark} {item.name}: {format_vnd(item.amount)} ({kind}) — {status}")
    lines.append("")
    lines.append(
        turn.t("fees.total_unpaid", amount=format_vnd(unpaid))
        if unpaid
        else turn.t("fees.all_paid")
    )
    if voluntary_open:
        lines.append(turn.t("fees.voluntary_open", amount=format_vnd(voluntary_open)))
    return [Reply(text="\n".join(lines), private_only=True)]


handle = query(INTENT, Capability.FEES, _answer)
FEATURE = query_feature(INTENT, handle, intent=IntentName.FEES)
