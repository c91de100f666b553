"""Fix a typo in a sent poll (issue 17): its question or one option's label.

See ``poll_edit.mmd``. Opened by "sửa khảo sát 12" or the ✏️ button under the results
(``px:<poll>``), only while the poll is open and nobody has answered: after the first answer,
changing an option under it would change what that parent chose, so it is refused politely.
Steps: what to fix (the question, or option N), then the new text; it is saved at once.
The number of options never changes, so an answer arriving meanwhile still means what it
meant.

Warning:
    The author (or school staff) is re-checked when the dialog opens and again when the new
    text is saved, and the store saves only while nobody has answered
    (``PollRepo.edit``). Run only inside the router's per-conversation lock.
"""

from __future__ import annotations

import enum
import re

from bot.domain.polls import MAX_OPTION, MAX_QUESTION, Poll, tally
from bot.domain.text import fold
from bot.feature import Feature, dialog_feature
from bot.messages import Button, Reply
from bot.polls import ACTION_EDIT, edit_poll
from bot.turn import AS_TEACHER, Turn
from handlers.intents import Intent
from handlers.poll_manage import open_managed_poll

NAME = "poll_edit"
PREFIX = "pe"
QUESTION = "q"  # the field for the question; an option is its 0-based index

_EDIT = re.compile(r"^(?:sua|edit)\s+(?:khao sat|poll)\s*#?(\d{1,9})$")


class Step(enum.StrEnum):
    PICK = "pick"  # the question, or which option
    TEXT = "text"  # waiting for the new text


def _cancel_row(turn: Turn) -> tuple[Button, ...]:
    return (Button(label=turn.t("button.cancel"), action=f"{PREFIX}:cancel"),)


async def _editable(turn: Turn, poll_id: int) -> Poll | list[Reply]:
    """The poll if this user may edit it now: may manage it, open, nobody answered."""
    poll = await open_managed_poll(turn, poll_id)
    if isinstance(poll, list):
        return poll
    ballots = await turn.uow.polls.ballots(turn.key.school_id, poll.id)
    if tally(poll, ballots).answered:
        return [Reply(text=turn.t("poll.edit_answered", id=poll.id))]
    return poll


def _pick(turn: Turn, poll: Poll) -> list[Reply]:
    rows = [(Button(label=turn.t("poll.button_edit_question"), action=f"{PREFIX}:{QUESTION}"),)]
    rows += [
        (Button(label=f"{i + 1}. {option}", action=f"{PREFIX}:{i}"),)
        for i, option in enumerate(poll.options)
    ]
    options = "\n".join(f"{i + 1}. {o}" for i, o in enumerate(poll.options))
    text = turn.t("poll.edit_pick", id=poll.id, question=poll.question, options=options)
    return [Reply(text=text, buttons=(*rows, _cancel_row(turn)), private_only=True)]


async def start(turn: Turn, poll_id: int) -> list[Reply]:
    turn.state.clear_dialog()
    poll = await _editable(turn, poll_id)
    if isinstance(poll, list):
        return poll
    turn.state.dialog = NAME
    turn.state.step = Step.PICK
    turn.state.data = {"poll_id": poll.id, AS_TEACHER: True}
    return _pick(turn, poll)


def reminder(turn: Turn) -> list[Reply]:
    return [Reply(text=turn.t("poll.edit_remind"), buttons=(_cancel_row(turn),))]


async def handle(turn: Turn) -> list[Reply]:
    if turn.action == f"{PREFIX}:cancel":
        turn.state.clear_dialog()
        return [Reply(text=turn.t("common.cancelled"), edit=True)]
    poll = await _editable(turn, int(turn.state.data.get("poll_id", 0)))
    if isinstance(poll, list):  # answered, closed, or no longer theirs meanwhile
        turn.state.clear_dialog()
        return poll
    if turn.state.step == Step.TEXT:
        return await _on_text(turn, poll)
    field = turn.action.removeprefix(f"{PREFIX}:") if turn.action else ""
    if field != QUESTION and not (field.isdigit() and int(field) < len(poll.options)):
        return _pick(turn, poll)
    turn.state.data["field"] = field
    turn.state.step = Step.TEXT
    if field == QUESTION:
        text = turn.t("poll.edit_ask_question", question=poll.question, limit=MAX_QUESTION)
    else:
        text = turn.t("poll.edit_ask_option", n=int(field) + 1, option=poll.options[int(field)])
    return [Reply(text=text, buttons=(_cancel_row(turn),), private_only=True)]


async def _on_text(turn: Turn, poll: Poll) -> list[Reply]:
    text = " ".join(turn.text.split())
    field = str(turn.state.data.get("field", QUESTION))
    if not text:
        return reminder(turn)
    question, options = poll.question, list(poll.options)
    if field == QUESTION:
        if len(text) > MAX_QUESTION:
            return [Reply(text=turn.t("poll.too_long", length=len(text), limit=MAX_QUESTION))]
        question = text
    else:
        if len(text) > MAX_OPTION:
            return [Reply(text=turn.t("poll.option_too_long", limit=MAX_OPTION))]
        options[int(field)] = text
        if len({fold(o) for o in options}) != len(options):
            return [Reply(text=turn.t("poll.duplicate_options"))]
    saved = await edit_poll(turn.uow, poll, question=question, options=options, now=turn.now())
    turn.state.clear_dialog()
    if saved is None:  # the first answer came in meanwhile
        return [Reply(text=turn.t("poll.edit_answered", id=poll.id))]
    await turn.audit("poll.edited", subject=f"poll:{poll.id}")
    listed = "\n".join(f"{i + 1}. {o}" for i, o in enumerate(saved.options))
    done = turn.t("poll.edit_done", id=poll.id, question=saved.question, options=listed)
    results = Button(label=turn.t("poll.button_results"), action=f"pr:{poll.id}")
    return [Reply(text=done, buttons=((results,),), private_only=True)]


async def _on_button(turn: Turn, rest: str) -> list[Reply]:
    if not rest.isdigit():
        return [Reply(text=turn.t("button.stale"))]
    return await start(turn, int(rest))


async def _typed(turn: Turn, intent: Intent) -> list[Reply] | None:
    """ "sửa khảo sát 12"."""
    m = _EDIT.match(fold(turn.text).strip(" .!"))
    if m is None:
        return None
    return await start(turn, int(m.group(1)))


FEATURE = dialog_feature(NAME, PREFIX, handle, reminder)
# how the dialog opens: typed anywhere, or the ✏️ button under the results (not a dialog button)
ENTRY = Feature(name="poll_edit_entry", commands=(_typed,), actions={ACTION_EDIT: _on_button})
