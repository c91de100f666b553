"""A teacher posts a remark on one pupil (``/nhanxet``) or homework for a class (``/baitap``)
step by step (issue 17). See ``teacher_post.mmd``. Typed in one line ("nhận xét HS6A01: …",
"bài tập 6A: …") it needs no dialog (``handlers.remarks``).

The same intents, from a parent ("bài tập hôm nay", "nhận xét tuần này", ``/baitap``), are the
look-up of what the teachers posted.

Warning:
    The pupil's or class's teacher is re-checked when the text is sent (a teacher who no
    longer teaches the class is refused). Run only inside the router's per-conversation lock.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable

from bot.domain.posts import MAX_POST, PostKind
from bot.feature import dialog_feature
from bot.messages import Button, Reply
from bot.turn import AS_TEACHER, Turn
from handlers.intents import Intent, IntentName
from handlers.polls import acting_teacher, my_teacher, own_classes
from handlers.remarks import Target, find_target, lookup, post, too_long

NAME = "teacher_post"
PREFIX = "tp"


class Step(enum.StrEnum):
    TARGET = "target"  # remark: the pupil's code; homework: the class
    TEXT = "text"  # waiting for the text


Handler = Callable[[Turn], Awaitable[list[Reply]]]


def _cancel_row(turn: Turn) -> tuple[Button, ...]:
    return (Button(label=turn.t("button.cancel"), action=f"{PREFIX}:cancel"),)


def _kind(turn: Turn) -> PostKind:
    return PostKind(str(turn.state.data.get("kind", PostKind.REMARK.value)))


async def start(turn: Turn, kind: PostKind) -> list[Reply]:
    turn.state.clear_dialog()
    teacher = await acting_teacher(turn)
    if teacher is None:
        return [Reply(text=turn.t("posts.staff_only"))]
    turn.state.dialog = NAME
    turn.state.step = Step.TARGET
    turn.state.data = {"kind": kind.value, AS_TEACHER: True}
    if kind is PostKind.REMARK:
        return [Reply(text=turn.t("posts.ask_student"), buttons=(_cancel_row(turn),))]
    classes = [c for c in await turn.backend.classes() if c.id in own_classes(teacher)]
    rows = tuple((Button(label=c.name, action=f"{PREFIX}:class:{c.id}"),) for c in classes)
    return [
        Reply(text=turn.t("posts.ask_class"), buttons=(*rows, _cancel_row(turn)), private_only=True)
    ]


async def handle(turn: Turn) -> list[Reply]:
    if turn.action == f"{PREFIX}:cancel":
        turn.state.clear_dialog()
        return [Reply(text=turn.t("common.cancelled"), edit=True)]
    step = Step(turn.state.step or Step.TARGET)
    return await TRANSITIONS[step](turn)


def reminder(turn: Turn) -> list[Reply]:
    return [Reply(text=turn.t("posts.remind"), buttons=(_cancel_row(turn),))]


async def _on_target(turn: Turn) -> list[Reply]:
    typed = turn.action.removeprefix(f"{PREFIX}:class:") if turn.action else turn.text
    if not typed.strip():
        return reminder(turn)
    found = await find_target(turn, _kind(turn), typed)
    if isinstance(found, list):
        return [*found[:-1], Reply(text=found[-1].text, buttons=(_cancel_row(turn),))]
    turn.state.data["target"] = typed.strip()
    turn.state.step = Step.TEXT
    return [
        Reply(
            text=turn.t("posts.ask_text", target=found.label, limit=MAX_POST),
            buttons=(_cancel_row(turn),),
        )
    ]


async def _on_text(turn: Turn) -> list[Reply]:
    text = turn.text.strip()
    if not text:
        return reminder(turn)
    refused = too_long(turn, text)
    if refused is not None:
        return [Reply(text=refused[0].text, buttons=(_cancel_row(turn),))]
    kind = _kind(turn)
    found: Target | list[Reply] = await find_target(turn, kind, str(turn.state.data["target"]))
    turn.state.clear_dialog()
    if isinstance(found, list):  # no longer their class since they chose it
        return found
    return await post(turn, kind, found, text)


TRANSITIONS: dict[Step, Handler] = {Step.TARGET: _on_target, Step.TEXT: _on_text}


async def _asked(turn: Turn, intent: Intent, kind: PostKind) -> list[Reply]:
    """A teacher's ``/nhanxet`` or ``/baitap`` (or the words, with no child linked) opens
    the dialog; anyone else is looking up what was posted."""
    teacher = await my_teacher(turn) is not None
    if teacher and (turn.text.startswith("/") or not await turn.guardian_links()):
        return await start(turn, kind)
    return await lookup(turn, kind, intent.folded)


async def _homework(turn: Turn, intent: Intent) -> list[Reply]:
    return await _asked(turn, intent, PostKind.HOMEWORK)


async def _remarks(turn: Turn, intent: Intent) -> list[Reply]:
    return await _asked(turn, intent, PostKind.REMARK)


FEATURE = dialog_feature(
    NAME,
    PREFIX,
    handle,
    reminder,
    intents={IntentName.HOMEWORK: _homework, IntentName.REMARKS: _remarks},
)
