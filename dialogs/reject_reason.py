"""The one-question dialog after a teacher presses Reject: the reason, or "no reason" (a
button of the absence workflow, ``ab:nr:<id>``)."""

from __future__ import annotations

from bot.feature import DialogFns, Feature
from bot.messages import Reply
from bot.turn import Turn
from handlers import absence

NAME = absence.REJECT_DIALOG


async def handle(turn: Turn) -> list[Reply]:
    turn.to_teacher = True  # only a teacher is ever asked for a rejection's reason
    request_id = int(turn.state.data.get("request_id", 0))
    turn.state.clear_dialog()
    return await absence.reject(turn, request_id, turn.text)


def reminder(turn: Turn) -> list[Reply]:
    turn.to_teacher = True
    request_id = int(turn.state.data.get("request_id", 0))
    return [Reply(text=turn.t("absence.remind_reject_reason", id=request_id))]


FEATURE = Feature(name="reject_reason", dialog=(NAME, DialogFns(handle, reminder)))
