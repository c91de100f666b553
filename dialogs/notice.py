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
from bot.feature import dialog_feature
from bot.messages import Button, Reply
from bot.notifications import publish_notice
from bot.ports import LinkRole
from bot.turn import AS_TEACHER, Turn
from handlers.common import find_class
from handlers.intents import Intent, IntentName

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
    turn.to_teacher = True  # writing a notice: the reader acts as a teacher
    wanted = staff[0].subject_id
    return next((t for t in await turn.backend.teachers() if t.id == wanted), None)


WHOLE_SCHOOL = "*"
WHOLE_SCHOOL_WORDS = frozenset({"toan truong", "ca truong", "whole school", "all"})


def _own(teacher: Teacher) -> set[str]:
    return set(teacher.homeroom_class_ids) | set(teacher.subject_class_ids)


def _is_school_staff(turn: Turn, teacher: Teacher) -> bool:
    return teacher.code.strip().upper() in turn.services.school_staff


def _may_send(turn: Turn, teacher: Teacher, class_id: str) -> bool:
    if class_id == WHOLE_SCHOOL:
        return _is_school_staff(turn, teacher)
    return class_id in _own(teacher)


def _cancel_row(turn: Turn) -> tuple[Button, ...]:
    return (Button(label=turn.t("button.cancel"), action="n:cancel"),)


async def start(turn: Turn) -> list[Reply]:
    turn.state.clear_dialog()
    teacher = await _teacher(turn)
    if teacher is None:
        return [Reply(text=turn.t("notice.staff_only"))]
    classes = [c for c in await turn.backend.classes() if c.id in _own(teacher)]
    staff = _is_school_staff(turn, teacher)
    if not classes and not staff:
        return [Reply(text=turn.t("notice.no_classes"))]
    turn.state.dialog = NAME
    turn.state.step = Step.CLASS
    turn.state.data[AS_TEACHER] = True
    rows = tuple((Button(label=c.name, action=f"n:class:{c.id}"),) for c in classes)
    if staff:
        school = Button(label=turn.t("notice.whole_school"), action=f"n:class:{WHOLE_SCHOOL}")
        rows = (*rows, (school,))
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


async def _on_class(turn: Turn) -> list[Reply]:
    teacher = await _teacher(turn)
    if teacher is None:
        turn.state.clear_dialog()
        return [Reply(text=turn.t("notice.staff_only"))]
    chosen: SchoolClass | None = None
    if turn.action == f"n:class:{WHOLE_SCHOOL}" or (
        not turn.action and fold(turn.text) in WHOLE_SCHOOL_WORDS
    ):
        if not _is_school_staff(turn, teacher):
            await turn.audit("notice.refused", subject=WHOLE_SCHOOL)
            return [Reply(text=turn.t("notice.not_school_staff"), buttons=(_cancel_row(turn),))]
        whole = turn.t("notice.school_target")
        turn.state.data = {
            "class_id": WHOLE_SCHOOL,
            "class_name": whole,
            "target": whole,
            AS_TEACHER: True,
        }
        turn.state.step = Step.TEXT
        return [
            Reply(
                text=turn.t("notice.ask_text", target=whole, limit=MAX_NOTICE),
                buttons=(_cancel_row(turn),),
            )
        ]
    if turn.action.startswith("n:class:"):
        class_id = turn.action.removeprefix("n:class:")
        chosen = next((c for c in await turn.backend.classes() if c.id == class_id), None)
    elif turn.text:
        chosen = await find_class(turn, turn.text)
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
    target = turn.t("notice.class_target", name=chosen.name)
    turn.state.data = {
        "class_id": chosen.id,
        "class_name": chosen.name,
        "target": target,
        AS_TEACHER: True,
    }
    turn.state.step = Step.TEXT
    return [
        Reply(
            text=turn.t("notice.ask_text", target=target, limit=MAX_NOTICE),
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
            text=turn.t("notice.preview", target=data["target"], text=data["text"]),
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
    class_id = str(data.get("class_id", ""))
    if teacher is None or not _may_send(turn, teacher, class_id):
        turn.state.clear_dialog()
        await turn.audit("notice.refused", subject=str(data.get("class_id", "")))
        if class_id == WHOLE_SCHOOL:
            return [Reply(text=turn.t("notice.not_school_staff"))]
        return [Reply(text=turn.t("notice.not_your_class", name=data.get("class_name", "")))]
    reached = await publish_notice(
        turn.uow,
        turn.backend,
        turn.services.catalog,
        school_id=turn.key.school_id,
        class_ids=None if class_id == WHOLE_SCHOOL else [class_id],
        author=teacher.id,
        text=data["text"],
        urgent=urgent,
        now=turn.now(),
    )
    await turn.audit("notice.sent", subject=data["class_id"], urgent=urgent, parents=reached)
    turn.state.clear_dialog()
    key = "notice.sent_urgent" if urgent else "notice.sent"
    reply = turn.t(key, target=data["target"], count=reached)
    return [Reply(text=reply, edit=bool(turn.action))]


TRANSITIONS: dict[Step, Handler] = {
    Step.CLASS: _on_class,
    Step.TEXT: _on_text,
    Step.CONFIRM: _on_confirm,
}


async def _start(turn: Turn, intent: Intent | None = None) -> list[Reply]:
    return await start(turn)


FEATURE = dialog_feature(
    NAME,
    "n",
    handle,
    reminder,
    intents={IntentName.NOTICE: _start},
    menu={"notice": _start},
)
