"""A teacher sends a notice (thông báo) to the parents of one of their own classes.

See ``notice.mmd``. Opened by ``/thongbao`` or "gửi thông báo". The teacher picks one of
their classes (buttons, or the class name typed), types the text, sees a preview and sends
it, normal or urgent. Normal notices wait for each parent's digest; urgent ones go out at
once to parents who keep instant alerts on. Whole-school notices are sent by school staff
from the command line (``run_bot.py notice``).

Warning:
    The class is re-checked against the school system when the teacher confirms: a teacher
    who no longer teaches the class (or a forged button) is refused. Run only inside the
    router's per-conversation lock.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable

from bot.domain.models import SchoolClass, Teacher
from bot.domain.text import fold
from bot.messages import Button, Reply
from bot.notifications import publish_notice
from bot.ports import LinkRole
from bot.turn import Turn

NAME = "notice"
MAX_NOTICE = 500  # characters: a notice must read well on a small phone

SEND_WORDS = frozenset({"gui", "send", "co", "yes", "ok", "dong y"})
URGENT_WORDS = frozenset({"gui khan", "khan", "urgent", "send urgent"})


class Step(enum.StrEnum):
    CLASS = "class"  # which of the teacher's classes
    TEXT = "text"  # waiting for the notice text
    CONFIRM = "confirm"  # preview shown: send, send as urgent, or cancel


Handler = Callable[[Turn], Awaitable[list[Reply]]]


async def _teacher(turn: Turn) -> Teacher | None:
    staff = [link for link in await turn.links() if link.role is LinkRole.STAFF]
    if not staff:
        return None
    wanted = staff[0].subject_id
    return next((t for t in await turn.backend.teachers() if t.id == wanted), None)


def _own(teacher: Teacher) -> set[str]:
    return set(teacher.homeroom_class_ids) | set(teacher.subject_class_ids)


def _cancel_row(turn: Turn) -> tuple[Button, ...]:
    return (Button(label=turn.t("button.cancel"), action="n:cancel"),)


async def start(turn: Turn) -> list[Reply]:
    turn.state.clear_dialog()
    teacher = await _teacher(turn)
    if teacher is None:
        return [Reply(text=turn.t("notice.staff_only"))]
    classes = [c for c in await turn.backend.classes() if c.id in _own(teacher)]
    if not classes:
        return [Reply(text=turn.t("notice.no_classes"))]
    turn.state.dialog = NAME
    turn.state.step = Step.CLASS
    rows = tuple((Button(label=c.name, action=f"n:class:{c.id}"),) for c in classes)
    return [
        Reply(
            text=turn.t("notice.ask_class"), buttons=(*rows, _cancel_row(turn)), private_only=True
        )
    ]


async def handle(turn: Turn) -> list[Reply]:
    if turn.action == "n:cancel":
        turn.state.clear_dialog()
        return [Reply(text=turn.t("common.cancelled"), edit=True)]
    step = Step(turn.state.step or Step.CLASS)
    return await TRANSITIONS[step](turn)


def reminder(turn: Turn) -> list[Reply]:
    return [Reply(text=turn.t("notice.remind"), buttons=(_cancel_row(turn),))]


async def _find_class(turn: Turn, typed: str) -> SchoolClass | None:
    folded = fold(typed).replace(" ", "")
    for c in await turn.backend.classes():
        if fold(c.name).replace(" ", "") == folded or c.id == typed:
            return c
    return None


async def _on_class(turn: Turn) -> list[Reply]:
    teacher = await _teacher(turn)
    if teacher is None:
        turn.state.clear_dialog()
        return [Reply(text=turn.t("notice.staff_only"))]
    chosen: SchoolClass | None = None
    if turn.action.startswith("n:class:"):
        class_id = turn.action.removeprefix("n:class:")
        chosen = next((c for c in await turn.backend.classes() if c.id == class_id), None)
    elif turn.text:
        chosen = await _find_class(turn, turn.text)
        if chosen is None:
            return [Reply(text=turn.t("notice.unknown_class"), buttons=(_cancel_row(turn),))]
    if chosen is None:
        return reminder(turn)
    if chosen.id not in _own(teacher):
        await turn.audit("notice.refused", subject=chosen.id)
        return [
            Reply(
                text=turn.t("notice.not_your_class", name=chosen.name), buttons=(_cancel_row(turn),)
            )
        ]
    turn.state.data = {"class_id": chosen.id, "class_name": chosen.name}
    turn.state.step = Step.TEXT
    return [
        Reply(
            text=turn.t("notice.ask_text", name=chosen.name, limit=MAX_NOTICE),
            buttons=(_cancel_row(turn),),
        )
    ]


async def _on_text(turn: Turn) -> list[Reply]:
    text = turn.text.strip()
    if not text:
        return reminder(turn)
    if len(text) > MAX_NOTICE:
        return [
            Reply(
                text=turn.t("notice.too_long", length=len(text), limit=MAX_NOTICE),
                buttons=(_cancel_row(turn),),
            )
        ]
    turn.state.data["text"] = text
    turn.state.step = Step.CONFIRM
    return _preview(turn)


def _preview(turn: Turn) -> list[Reply]:
    data = turn.state.data
    return [
        Reply(
            text=turn.t("notice.preview", name=data["class_name"], text=data["text"]),
            buttons=(
                (
                    Button(label=turn.t("notice.button_send"), action="n:send"),
                    Button(label=turn.t("notice.button_urgent"), action="n:urgent"),
                ),
                _cancel_row(turn),
            ),
            private_only=True,
        )
    ]


async def _on_confirm(turn: Turn) -> list[Reply]:
    answer = fold(turn.text)
    urgent = turn.action == "n:urgent" or answer in URGENT_WORDS
    if not (urgent or turn.action == "n:send" or answer in SEND_WORDS):
        return _preview(turn)
    data = turn.state.data
    teacher = await _teacher(turn)
    if teacher is None or data.get("class_id") not in _own(teacher):
        turn.state.clear_dialog()
        await turn.audit("notice.refused", subject=str(data.get("class_id", "")))
        return [Reply(text=turn.t("notice.not_your_class", name=data.get("class_name", "")))]
    reached = await publish_notice(
        turn.uow,
        turn.backend,
        turn.services.catalog,
        school_id=turn.key.school_id,
        class_ids=[data["class_id"]],
        author=teacher.id,
        text=data["text"],
        urgent=urgent,
        now=turn.now(),
    )
    await turn.audit("notice.sent", subject=data["class_id"], urgent=urgent, parents=reached)
    turn.state.clear_dialog()
    key = "notice.sent_urgent" if urgent else "notice.sent"
    return [Reply(text=turn.t(key, name=data["class_name"], count=reached), edit=bool(turn.action))]


TRANSITIONS: dict[Step, Handler] = {
    Step.CLASS: _on_class,
    Step.TEXT: _on_text,
    Step.CONFIRM: _on_confirm,
}
