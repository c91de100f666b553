"""A question the bot is not sure of (issue 16): asked back with buttons, never guessed.

"con học thế nào" could be the scores or the timetable; "tiền" alone, the fees or nothing.
A wrong answer is worse than a question: the parent gets "Anh/chị muốn xem thông tin nào ạ?"
and the likely answers first as buttons. A message the built-in words do not place gets a
second look with the school's own fee item names, asked from the backend ("quỹ khuyến học",
"tiền điều hòa"), before the bot says it did not understand.
"""

from __future__ import annotations

import logging

from bot.domain.errors import BackendError
from bot.feature import Feature
from bot.messages import Button, Reply
from bot.ports import Capability
from bot.turn import Turn
from handlers import fees
from handlers.account import help_menu
from handlers.common import linked_children
from handlers.intents import QUESTIONS, Intent, IntentName, fee_item_phrases, match

log = logging.getLogger(__name__)

# The main menu's own entries, so a press answers exactly as the menu does.
_CHOICES: dict[IntentName, tuple[str, str]] = {
    IntentName.SCORES: ("button.scores", "menu:scores"),
    IntentName.TIMETABLE: ("button.timetable", "menu:timetable"),
    IntentName.FEES: ("button.fees", "menu:fees"),
    IntentName.ATTENDANCE: ("button.attendance", "menu:attendance"),
    IntentName.ABSENCE: ("button.absence", "menu:absence"),
}


def choices(turn: Turn, candidates: tuple[IntentName, ...]) -> tuple[tuple[Button, ...], ...]:
    """The likely intents first, then the rest of the four questions, two to a row."""
    order = [c for c in candidates if c in _CHOICES]
    order += [q for q in QUESTIONS if q not in order]
    buttons = [Button(label=turn.t(_CHOICES[c][0]), action=_CHOICES[c][1]) for c in order]
    return tuple(tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2))


async def _fee_item_names(turn: Turn) -> list[str]:
    """The names of the linked children's fee items, as the school's system calls them."""
    if Capability.FEES not in turn.backend.capabilities:
        return []
    names: list[str] = []
    try:
        for child in await linked_children(turn):
            names.extend(item.name for item in await turn.backend.fees(child.id))
    except BackendError as err:  # a second look only: the parent still gets an answer
        log.info("fee names unavailable for a second look: %s", type(err).__name__)
        return []
    return names


async def _second_look(turn: Turn) -> Intent | None:
    """The message matched again with the school's own fee item names, if it then says more."""
    names = await _fee_item_names(turn)
    if not names:
        return None
    again = match(turn.text, fee_items=fee_item_phrases(names))
    return again if again.name in (IntentName.FEES, IntentName.UNSURE) else None


async def ask_back(turn: Turn, intent: Intent) -> list[Reply]:
    if not await turn.guardian_links():
        return await help_menu(turn, unknown=True)  # a teacher or a stranger: the plain help
    again = await _second_look(turn)
    if again is not None and again.name is IntentName.FEES:
        return await fees.handle(turn, folded=again.folded)
    candidates = intent.candidates or (again.candidates if again is not None else ())
    return [Reply(text=turn.t("understand.ask"), buttons=choices(turn, candidates))]


async def _unknown(turn: Turn, intent: Intent) -> list[Reply]:
    if await turn.guardian_links():
        again = await _second_look(turn)
        if again is not None and again.name is IntentName.FEES:
            return await fees.handle(turn, folded=again.folded)
        if again is not None:
            return [Reply(text=turn.t("understand.ask"), buttons=choices(turn, again.candidates))]
    return await help_menu(turn, unknown=True)


FEATURE = Feature(
    name="clarify",
    intents={IntentName.UNSURE: ask_back, IntentName.UNKNOWN: _unknown},
)
