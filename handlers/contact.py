"""How to reach the school: what the bot says when it cannot do what was asked.

A message meant for a teacher ("nhắn cô giáo chủ nhiệm: cháu hôm nay đau bụng") is relayed
by ``handlers/threads.py`` (issue 17); when it cannot be (no linked child, the teacher not
on LienLac, a muted thread) the answer ends with the school's phone from the configuration
(issue 20), built here.
"""

from __future__ import annotations

from bot.domain.errors import BackendError
from bot.domain.models import SchoolContact
from bot.feature import Feature
from bot.ports import SchoolBackend
from bot.turn import Turn


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


FEATURE = Feature(name="contact")  # the relay itself is handlers/threads.py (issue 17)
