"""How to reach the school: what the bot says when it cannot do what was asked.

A message meant for a teacher ("nhắn cô giáo chủ nhiệm: cháu hôm nay đau bụng") is not a
question: until private messages to teachers exist (issue 17) the bot says plainly that it
passed nothing on, and gives the school's phone from the configuration (issue 20).
"""

from __future__ import annotations

from bot.domain.errors import BackendError
from bot.domain.models import SchoolContact
from bot.feature import Feature
from bot.messages import Reply
from bot.ports import SchoolBackend
from bot.turn import Turn
from handlers.intents import Intent, IntentName


async def school_name(turn: Turn, backend: SchoolBackend) -> str:
    """The school's name, or "the school" when its system does not answer."""
    try:
        return (await backend.school_info()).name
    except BackendError:
        return turn.t("contact.the_school")


def how_to_reach(turn: Turn, name: str, contact: SchoolContact) -> str:
    """One line: the school's name and phone, or its name only."""
    if contact.phone:
        return turn.t("contact.school_phone", school=name, phone=contact.phone)
    return turn.t("contact.school_only", school=name)


async def _to_teacher(turn: Turn, intent: Intent) -> list[Reply]:
    await turn.audit("contact.to_teacher")  # counts how often parents try; no text kept
    name = await school_name(turn, turn.backend)
    reach = how_to_reach(turn, name, turn.services.contact)
    return [Reply(text=turn.t("contact.to_teacher", reach=reach))]


FEATURE = Feature(name="contact", intents={IntentName.TO_TEACHER: _to_teacher})
