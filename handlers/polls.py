"""Class polls in a chat (issue 17): a guardian's answers, a teacher's results.

* A guardian answers with the buttons under the poll (``pa:<ballot>:<option>``) or, on a
  channel without buttons, by typing ``ks <number> <option numbers>`` ("ks 12 2",
  "ks 12 1 3"). "khảo sát" lists the polls still waiting, with fresh buttons.
* A teacher reads the live results ("kết quả khảo sát", ``pr:<poll>``) and, where the channel
  takes documents, gets them as a CSV file (``pc:<poll>``). Under the results, the poll's
  author (or school staff) finds close / +1 day / fix a typo / cancel (``handlers.poll_manage``,
  ``dialogs/poll_edit.py``).

Warning:
    Every press and every typed answer is re-authorised: the ballot must belong to a pupil
    this chat user is the linked guardian of, in this school, and the poll must still be
    open; results only for the poll's author, a teacher of its class, or school staff.
    A forged id or someone else's child gets a polite refusal and an audit row.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence

from bot.domain.models import Teacher
from bot.domain.polls import Ballot, Poll, parse_choices, tally, toggle
from bot.domain.text import fold
from bot.feature import Feature
from bot.messages import Button, Reply
from bot.polls import (
    ACTION_ANSWER,
    ACTION_CSV,
    ACTION_EDIT,
    ACTION_MANAGE,
    ACTION_RESULTS,
    ballot_text,
    chosen_text,
    option_buttons,
    results_csv,
    results_text,
    unlinked_pupils,
    when,
)
from bot.ports import LinkRole
from bot.turn import Turn
from handlers.intents import Intent, IntentName

RECENT = 5  # polls listed for "kết quả khảo sát"
_TYPED = re.compile(r"^(?:ks|khao sat|poll)\s*#?(\d{1,9})(?:(?:\s+|\s*[:.\-]\s*)([\d\s,;.+]+))?$")


# --- who is who --------------------------------------------------------------------------


async def my_teacher(turn: Turn) -> Teacher | None:
    """The teacher this chat user is linked to as staff, if any."""
    ids = [link.subject_id for link in await turn.links() if link.role is LinkRole.STAFF]
    if not ids:
        return None
    return next((t for t in await turn.backend.teachers() if t.id == ids[0]), None)


async def acting_teacher(turn: Turn) -> Teacher | None:
    """:func:`my_teacher`, for a turn that acts as that teacher: the reader is then
    addressed "thầy/cô" even when they are also a parent (issue 19)."""
    teacher = await my_teacher(turn)
    if teacher is not None:
        turn.to_teacher = True
    return teacher


def own_classes(teacher: Teacher) -> set[str]:
    return set(teacher.homeroom_class_ids) | set(teacher.subject_class_ids)


def is_school_staff(turn: Turn, teacher: Teacher) -> bool:
    return teacher.code.strip().upper() in turn.services.school_staff


def may_see(turn: Turn, teacher: Teacher, poll: Poll) -> bool:
    return (
        poll.author_id == teacher.id
        or poll.class_id in own_classes(teacher)
        or is_school_staff(turn, teacher)
    )


def may_manage(turn: Turn, teacher: Teacher, poll: Poll) -> bool:
    """Close, extend, cancel, edit: the poll's author while they still teach its class, or
    school staff (any poll of the school, one made from the CLI too)."""
    if is_school_staff(turn, teacher):
        return True
    return poll.author_id == teacher.id and poll.class_id in own_classes(teacher)


# --- a guardian's answer ------------------------------------------------------------------


async def _my_ballot(turn: Turn, ballot_id: int) -> tuple[Poll, Ballot] | list[Reply]:
    """The ballot and its poll if this chat user may answer it, else the refusal."""
    ballot = await turn.uow.polls.ballot(turn.key.school_id, ballot_id)
    children = {link.subject_id for link in await turn.guardian_links()}
    poll = await turn.uow.polls.get(turn.key.school_id, ballot.poll_id) if ballot else None
    if ballot is None or poll is None or ballot.student_id not in children:
        await turn.audit("poll.refused", subject=f"ballot:{ballot_id}")
        return [Reply(text=turn.t("poll.not_yours"))]
    if poll.cancelled_at is not None:
        return [Reply(text=turn.t("poll.cancelled_for_parent"), edit=bool(turn.action))]
    if not poll.is_open(turn.now()):
        when_closed = when(poll.ended_at, turn.services.timezone, turn.locale)
        return [Reply(text=turn.t("poll.closed", when=when_closed), edit=bool(turn.action))]
    return poll, ballot


async def _save(turn: Turn, poll: Poll, ballot: Ballot, choices: tuple[int, ...]) -> list[Reply]:
    await turn.uow.polls.answer(ballot.id, choices, by=turn.actor, now=turn.now())
    await turn.audit("poll.answered", subject=f"poll:{poll.id}")
    saved = dataclasses.replace(ballot, choices=choices)
    deadline = when(poll.deadline_at, turn.services.timezone, turn.locale)
    if choices:
        text = turn.t(
            "poll.answer_saved",
            child=ballot.student_name,
            answer=chosen_text(poll, choices),
            when=deadline,
        )
    else:
        text = turn.t("poll.answer_cleared", child=ballot.student_name, when=deadline)
    return [
        Reply(
            text=poll.question + "\n\n" + text,
            buttons=option_buttons(poll, saved),
            edit=bool(turn.action),
            private_only=True,
        )
    ]


async def _on_answer(turn: Turn, rest: str) -> list[Reply]:
    ballot_id, _, option = rest.partition(":")
    if not (ballot_id.isdigit() and option.isdigit()):
        return [Reply(text=turn.t("button.stale"))]
    found = await _my_ballot(turn, int(ballot_id))
    if isinstance(found, list):
        return found
    poll, ballot = found
    index = int(option)
    if not 0 <= index < len(poll.options):
        await turn.audit("poll.refused", subject=f"ballot:{ballot.id}")
        return [Reply(text=turn.t("poll.not_yours"))]
    return await _save(turn, poll, ballot, toggle(ballot.choices, index, multiple=poll.multiple))


async def _typed(turn: Turn, intent: Intent) -> list[Reply] | None:
    """ "ks 12 2": the answer typed where there are no buttons."""
    m = _TYPED.match(fold(turn.text).strip())
    if m is None:
        return None
    found = await _my_ballot(turn, int(m.group(1)))
    if isinstance(found, list):
        return found
    poll, ballot = found
    if m.group(2) is None:  # "ks 12": the question again, with its choices
        text = ballot_text(
            turn.t,
            poll,
            ballot,
            tz=turn.services.timezone,
            locale=turn.locale,
            typed=False,
            head="poll.delivery_head",
        )
        return [Reply(text=text, buttons=option_buttons(poll, ballot), private_only=True)]
    choices = parse_choices(m.group(2), len(poll.options), multiple=poll.multiple)
    if choices is None:
        options = "\n".join(f"{i + 1}. {o}" for i, o in enumerate(poll.options))
        key = "poll.bad_typed_multiple" if poll.multiple else "poll.bad_typed_single"
        return [Reply(text=turn.t(key, id=ballot.id, options=options, high=len(poll.options)))]
    return await _save(turn, poll, ballot, choices)


async def open_ballots_for_parent(turn: Turn) -> list[Reply]:
    """Every open poll waiting on this parent's children, one message per child and poll."""
    children = [link.subject_id for link in await turn.guardian_links()]
    found = await turn.uow.polls.open_ballots(turn.key.school_id, children, turn.now())
    if not found:
        return [Reply(text=turn.t("poll.nothing_open"))]
    replies = []
    for poll, ballot in found:
        text = ballot_text(
            turn.t,
            poll,
            ballot,
            tz=turn.services.timezone,
            locale=turn.locale,
            typed=False,
            head="poll.delivery_head",
        )
        replies.append(Reply(text=text, buttons=option_buttons(poll, ballot), private_only=True))
    return replies


# --- a teacher's results ------------------------------------------------------------------


async def poll_for_staff(
    turn: Turn,
    poll_id: int,
    allowed: Callable[[Turn, Teacher, Poll], bool],
    refusal: str,
) -> Poll | list[Reply]:
    """The poll if this chat user is a teacher ``allowed`` it (re-checked on every press and
    typed command), else the polite refusal (``refusal``: its catalogue key) and an audit
    row."""
    teacher = await acting_teacher(turn)
    if teacher is None:
        return [Reply(text=turn.t("poll.staff_only"))]
    poll = await turn.uow.polls.get(turn.key.school_id, poll_id)
    if poll is None or not allowed(turn, teacher, poll):
        await turn.audit("poll.refused", subject=f"poll:{poll_id}")
        return [Reply(text=turn.t(refusal))]
    return poll


async def _visible_poll(turn: Turn, poll_id: int) -> Poll | list[Reply]:
    return await poll_for_staff(turn, poll_id, may_see, "poll.not_your_poll")


async def show_results(turn: Turn, poll: Poll) -> list[Reply]:
    ballots = await turn.uow.polls.ballots(turn.key.school_id, poll.id)
    text = results_text(
        turn.t,
        poll,
        ballots,
        now=turn.now(),
        tz=turn.services.timezone,
        locale=turn.locale,
        unlinked=await unlinked_pupils(turn.uow, turn.key.school_id, ballots),
    )
    row = [Button(label=turn.t("poll.button_refresh"), action=f"{ACTION_RESULTS}:{poll.id}")]
    caps = turn.services.capabilities.get(turn.key.channel)
    if caps is not None and caps.documents:
        row.append(Button(label=turn.t("poll.button_csv"), action=f"{ACTION_CSV}:{poll.id}"))
    await turn.audit("poll.results", subject=f"poll:{poll.id}")
    rows = (tuple(row), *await _manage_rows(turn, poll, ballots))
    return [Reply(text=text, buttons=rows, private_only=True)]


async def _manage_rows(
    turn: Turn, poll: Poll, ballots: Sequence[Ballot]
) -> tuple[tuple[Button, ...], ...]:
    """Close now, +1 day, fix a typo (nobody answered yet), cancel: for who may manage."""
    teacher = await my_teacher(turn)
    if teacher is None or poll.cancelled_at is not None or not may_manage(turn, teacher, poll):
        return ()
    cancel = Button(label=turn.t("poll.button_cancel"), action=f"{ACTION_MANAGE}:cancel:{poll.id}")
    if not poll.is_open(turn.now()):
        return ((cancel,),)
    stamp = int(poll.deadline_at.timestamp())
    rows: list[tuple[Button, ...]] = [
        (
            Button(label=turn.t("poll.button_close"), action=f"{ACTION_MANAGE}:close:{poll.id}"),
            Button(
                label=turn.t("poll.button_extend"),
                action=f"{ACTION_MANAGE}:ext:{poll.id}:{stamp}",
            ),
        )
    ]
    if tally(poll, ballots).answered == 0:
        rows.append(
            (Button(label=turn.t("poll.button_edit"), action=f"{ACTION_EDIT}:{poll.id}"), cancel)
        )
    else:
        rows.append((cancel,))
    return tuple(rows)


async def _on_results(turn: Turn, rest: str) -> list[Reply]:
    if not rest.isdigit():
        return [Reply(text=turn.t("button.stale"))]
    poll = await _visible_poll(turn, int(rest))
    return poll if isinstance(poll, list) else await show_results(turn, poll)


async def _on_csv(turn: Turn, rest: str) -> list[Reply]:
    if not rest.isdigit():
        return [Reply(text=turn.t("button.stale"))]
    poll = await _visible_poll(turn, int(rest))
    if isinstance(poll, list):
        return poll
    ballots = await turn.uow.polls.ballots(turn.key.school_id, poll.id)
    data = results_csv(poll, ballots).encode("utf-8")
    await turn.audit("poll.exported", subject=f"poll:{poll.id}")
    return [
        Reply(
            text=turn.t("poll.csv_caption", id=poll.id),
            document=(f"khao-sat-{poll.id}.csv", data),
            private_only=True,
        )
    ]


async def _results(turn: Turn, intent: Intent) -> list[Reply]:
    teacher = await acting_teacher(turn)
    if teacher is None:
        return [Reply(text=turn.t("poll.staff_only"))]
    staff = is_school_staff(turn, teacher)
    polls = await turn.uow.polls.recent(
        turn.key.school_id,
        author_id=None if staff else teacher.id,
        class_ids=None if staff else sorted(own_classes(teacher)),
        limit=RECENT,
    )
    if not polls:
        return [Reply(text=turn.t("poll.none_yet"))]
    if len(polls) == 1:
        return await show_results(turn, polls[0])
    rows = tuple(
        (
            Button(
                label=f"#{p.id} {p.class_name}: {p.question[:40]}",
                action=f"{ACTION_RESULTS}:{p.id}",
            ),
        )
        for p in polls
    )
    return [Reply(text=turn.t("poll.pick"), buttons=rows, private_only=True)]


FEATURE = Feature(
    name="polls",
    commands=(_typed,),
    intents={IntentName.POLL_RESULTS: _results},
    actions={ACTION_ANSWER: _on_answer, ACTION_RESULTS: _on_results, ACTION_CSV: _on_csv},
)
