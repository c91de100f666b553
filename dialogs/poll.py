"""A teacher (own classes) or school staff (the whole school) creates a class poll (issue 17).

See ``poll.mmd``. Opened by ``/khaosat``, ``/poll`` or "tạo khảo sát". Steps: the class, the
question, the options (2–6, one a line or separated by ";"), single or multiple choice, the
deadline, named or anonymous, then a preview to send. Sending stores the poll with a ballot
per pupil and queues it to every linked guardian through the outbox (``bot.polls``).

Warning:
    The class is re-checked against the school system when the teacher confirms: a teacher
    who no longer teaches the class (or a forged button) is refused. Run only inside the
    router's per-conversation lock.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Awaitable, Callable

from bot.domain.models import SchoolClass, Teacher
from bot.domain.polls import (
    MAX_OPTION,
    MAX_OPTIONS,
    MAX_QUESTION,
    MIN_OPTIONS,
    WHOLE_SCHOOL,
    PollSpec,
    deadline_problem,
    parse_deadline,
    parse_options,
)
from bot.domain.text import fold
from bot.feature import dialog_feature
from bot.messages import Button, Reply
from bot.polls import publish_poll, when
from bot.turn import AS_TEACHER, Turn
from handlers.common import find_class
from handlers.intents import Intent, IntentName
from handlers.polls import (
    acting_teacher,
    is_school_staff,
    my_teacher,
    open_ballots_for_parent,
    own_classes,
)

NAME = "poll"
PREFIX = "pd"

SEND_WORDS = frozenset({"gui", "send", "co", "yes", "ok", "dong y"})
SINGLE_WORDS = frozenset({"1", "mot", "mot lua chon", "single", "one"})
MULTIPLE_WORDS = frozenset({"2", "nhieu", "nhieu lua chon", "multiple", "many"})
NAMED_WORDS = frozenset({"1", "cong khai", "ghi ten", "named", "public"})
ANONYMOUS_WORDS = frozenset({"2", "an danh", "anonymous"})


class Step(enum.StrEnum):
    CLASS = "class"  # which of the teacher's classes (staff: or the whole school)
    QUESTION = "question"  # waiting for the question
    OPTIONS = "options"  # waiting for 2–6 options
    MODE = "mode"  # single or multiple choice
    DEADLINE = "deadline"  # until when ("20/12 17h")
    PRIVACY = "privacy"  # named or anonymous
    CONFIRM = "confirm"  # preview shown: send or cancel


Handler = Callable[[Turn], Awaitable[list[Reply]]]


def _cancel_row(turn: Turn) -> tuple[Button, ...]:
    return (Button(label=turn.t("button.cancel"), action=f"{PREFIX}:cancel"),)


def _ask(turn: Turn, key: str, *rows: tuple[Button, ...], **values: object) -> list[Reply]:
    return [
        Reply(text=turn.t(key, **values), buttons=(*rows, _cancel_row(turn)), private_only=True)
    ]


async def start(turn: Turn) -> list[Reply]:
    turn.state.clear_dialog()
    teacher = await acting_teacher(turn)
    if teacher is None:
        return [Reply(text=turn.t("poll.staff_only"))]
    classes = [c for c in await turn.backend.classes() if c.id in own_classes(teacher)]
    staff = is_school_staff(turn, teacher)
    if not classes and not staff:
        return [Reply(text=turn.t("poll.no_classes"))]
    turn.state.dialog = NAME
    turn.state.step = Step.CLASS
    turn.state.data[AS_TEACHER] = True  # its lines and /huy say "thầy/cô" (issue 19)
    rows = [(Button(label=c.name, action=f"{PREFIX}:class:{c.id}"),) for c in classes]
    if staff:
        label = turn.t("notice.whole_school")
        rows.append((Button(label=label, action=f"{PREFIX}:class:{WHOLE_SCHOOL}"),))
    return _ask(turn, "poll.ask_class", *rows)


async def handle(turn: Turn) -> list[Reply]:
    if turn.action == f"{PREFIX}:cancel":
        turn.state.clear_dialog()
        return [Reply(text=turn.t("common.cancelled"), edit=True)]
    step = Step(turn.state.step or Step.CLASS)
    return await TRANSITIONS[step](turn)


def reminder(turn: Turn) -> list[Reply]:
    return [Reply(text=turn.t("poll.remind"), buttons=(_cancel_row(turn),))]


def _may_ask(turn: Turn, teacher: Teacher, class_id: str) -> bool:
    if class_id == WHOLE_SCHOOL:
        return is_school_staff(turn, teacher)
    return class_id in own_classes(teacher)


async def _on_class(turn: Turn) -> list[Reply]:
    teacher = await acting_teacher(turn)
    if teacher is None:
        turn.state.clear_dialog()
        return [Reply(text=turn.t("poll.staff_only"))]
    whole = turn.action == f"{PREFIX}:class:{WHOLE_SCHOOL}" or (
        not turn.action and fold(turn.text) in {"toan truong", "ca truong", "whole school"}
    )
    if whole:
        if not is_school_staff(turn, teacher):
            await turn.audit("poll.refused", subject=WHOLE_SCHOOL)
            return _ask(turn, "notice.not_school_staff")
        school = turn.t("notice.school_target")
        turn.state.data = {"class_id": WHOLE_SCHOOL, "class_name": school, AS_TEACHER: True}
        turn.state.step = Step.QUESTION
        return _ask(turn, "poll.ask_question", limit=MAX_QUESTION)
    chosen: SchoolClass | None = None
    if turn.action.startswith(f"{PREFIX}:class:"):
        class_id = turn.action.removeprefix(f"{PREFIX}:class:")
        chosen = next((c for c in await turn.backend.classes() if c.id == class_id), None)
    elif turn.text:
        chosen = await find_class(turn, turn.text)
        if chosen is None:
            return _ask(turn, "notice.unknown_class")
    if chosen is None:
        return reminder(turn)
    if chosen.id not in own_classes(teacher):
        await turn.audit("poll.refused", subject=chosen.id)
        return _ask(turn, "poll.not_your_class", name=chosen.name)
    turn.state.data = {"class_id": chosen.id, "class_name": chosen.name, AS_TEACHER: True}
    turn.state.step = Step.QUESTION
    return _ask(turn, "poll.ask_question", limit=MAX_QUESTION)


async def _on_question(turn: Turn) -> list[Reply]:
    text = turn.text.strip()
    if not text:
        return reminder(turn)
    if len(text) > MAX_QUESTION:
        return _ask(turn, "poll.too_long", length=len(text), limit=MAX_QUESTION)
    turn.state.data["question"] = text
    turn.state.step = Step.OPTIONS
    return _ask(turn, "poll.ask_options", low=MIN_OPTIONS, high=MAX_OPTIONS)


async def _on_options(turn: Turn) -> list[Reply]:
    options = parse_options(turn.text)
    if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        return _ask(turn, "poll.bad_options", low=MIN_OPTIONS, high=MAX_OPTIONS, n=len(options))
    if any(len(o) > MAX_OPTION for o in options):
        return _ask(turn, "poll.option_too_long", limit=MAX_OPTION)
    if len({fold(o) for o in options}) != len(options):
        return _ask(turn, "poll.duplicate_options")
    turn.state.data["options"] = options
    turn.state.step = Step.MODE
    return _ask_mode(turn)


def _ask_mode(turn: Turn) -> list[Reply]:
    return _ask(
        turn,
        "poll.ask_mode",
        (Button(label=turn.t("poll.button_single"), action=f"{PREFIX}:single"),),
        (Button(label=turn.t("poll.button_multiple"), action=f"{PREFIX}:multiple"),),
    )


async def _on_mode(turn: Turn) -> list[Reply]:
    answer = fold(turn.text)
    if turn.action == f"{PREFIX}:single" or answer in SINGLE_WORDS:
        turn.state.data["multiple"] = False
    elif turn.action == f"{PREFIX}:multiple" or answer in MULTIPLE_WORDS:
        turn.state.data["multiple"] = True
    else:
        return _ask_mode(turn)
    turn.state.step = Step.DEADLINE
    return _ask(turn, "poll.ask_deadline")


async def _on_deadline(turn: Turn) -> list[Reply]:
    deadline = parse_deadline(turn.text, turn.now(), turn.services.timezone)
    if deadline is None:
        return _ask(turn, "poll.bad_deadline")
    problem = deadline_problem(deadline, turn.now())
    if problem is not None:
        return _ask(turn, f"poll.deadline_{problem}")
    turn.state.data["deadline"] = deadline.isoformat()
    turn.state.step = Step.PRIVACY
    return _ask_privacy(turn)


def _ask_privacy(turn: Turn) -> list[Reply]:
    return _ask(
        turn,
        "poll.ask_privacy",
        (Button(label=turn.t("poll.button_named"), action=f"{PREFIX}:named"),),
        (Button(label=turn.t("poll.button_anonymous"), action=f"{PREFIX}:anonymous"),),
    )


async def _on_privacy(turn: Turn) -> list[Reply]:
    answer = fold(turn.text)
    if turn.action == f"{PREFIX}:named" or answer in NAMED_WORDS:
        turn.state.data["anonymous"] = False
    elif turn.action == f"{PREFIX}:anonymous" or answer in ANONYMOUS_WORDS:
        turn.state.data["anonymous"] = True
    else:
        return _ask_privacy(turn)
    turn.state.step = Step.CONFIRM
    return _preview(turn)


def _spec(turn: Turn) -> PollSpec:
    data = turn.state.data
    return PollSpec(
        question=str(data["question"]),
        options=tuple(str(o) for o in data["options"]),
        multiple=bool(data["multiple"]),
        anonymous=bool(data["anonymous"]),
        deadline_at=dt.datetime.fromisoformat(str(data["deadline"])),
    )


def _preview(turn: Turn) -> list[Reply]:
    spec = _spec(turn)
    options = "\n".join(f"{i + 1}. {o}" for i, o in enumerate(spec.options))
    text = turn.t(
        "poll.preview",
        target=turn.state.data["class_name"],
        question=spec.question,
        options=options,
        mode=turn.t("poll.button_multiple" if spec.multiple else "poll.button_single"),
        privacy=turn.t("poll.button_anonymous" if spec.anonymous else "poll.button_named"),
        when=when(spec.deadline_at, turn.services.timezone, turn.locale),
    )
    send = Button(label=turn.t("poll.button_send"), action=f"{PREFIX}:send")
    return [Reply(text=text, buttons=((send,), _cancel_row(turn)), private_only=True)]


async def _on_confirm(turn: Turn) -> list[Reply]:
    if not (turn.action == f"{PREFIX}:send" or fold(turn.text) in SEND_WORDS):
        return _preview(turn)
    data = turn.state.data
    class_id = str(data.get("class_id", ""))
    teacher = await acting_teacher(turn)
    if teacher is None or not _may_ask(turn, teacher, class_id):
        turn.state.clear_dialog()
        await turn.audit("poll.refused", subject=class_id)
        if class_id == WHOLE_SCHOOL:
            return [Reply(text=turn.t("notice.not_school_staff"))]
        return [Reply(text=turn.t("poll.not_your_class", name=data.get("class_name", "")))]
    spec = _spec(turn)
    if deadline_problem(spec.deadline_at, turn.now()) is not None:  # the preview sat too long
        turn.state.step = Step.DEADLINE
        return _ask(turn, "poll.deadline_past")
    poll, queued = await publish_poll(
        turn.uow,
        turn.backend,
        turn.services,
        school_id=turn.key.school_id,
        class_id=class_id,
        class_name=str(data["class_name"]),
        author_id=teacher.id,
        spec=spec,
        now=turn.now(),
    )
    await turn.audit("poll.created", subject=f"poll:{poll.id}", messages=queued)
    turn.state.clear_dialog()
    results = Button(label=turn.t("poll.button_results"), action=f"pr:{poll.id}")
    return [
        Reply(
            text=turn.t("poll.sent", id=poll.id, target=poll.class_name, count=queued),
            buttons=((results,),),
            edit=bool(turn.action),
        )
    ]


TRANSITIONS: dict[Step, Handler] = {
    Step.CLASS: _on_class,
    Step.QUESTION: _on_question,
    Step.OPTIONS: _on_options,
    Step.MODE: _on_mode,
    Step.DEADLINE: _on_deadline,
    Step.PRIVACY: _on_privacy,
    Step.CONFIRM: _on_confirm,
}


async def _start(turn: Turn, intent: Intent | None = None) -> list[Reply]:
    """A teacher creates a poll; a parent sees the polls waiting for their answer."""
    if await my_teacher(turn) is None and await turn.guardian_links():
        return await open_ballots_for_parent(turn)
    return await start(turn)


FEATURE = dialog_feature(NAME, PREFIX, handle, reminder, intents={IntentName.POLL: _start})
