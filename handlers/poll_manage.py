"""Managing a sent poll (issue 17): close it now, extend its deadline, cancel it.

From the buttons under the results (``pm:close:<poll>``, ``pm:ext:<poll>:<deadline>`` for
"+1 ngày", ``pm:cancel:<poll>`` then ``pm:cancel_ok:<poll>`` to confirm) or typed:
"đóng khảo sát 12", "gia hạn khảo sát 12 đến 20/12 17:00", "huỷ khảo sát 12" (asks to
confirm). Fixing a typo ("sửa khảo sát 12") is the small dialog in ``dialogs/poll_edit.py``.

Warning:
    Every press and every typed command is re-authorised (:func:`handlers.polls.may_manage`):
    the poll's author while they still teach its class, or school staff. Another class's
    teacher, a parent or a forged id gets a polite refusal and an audit row. A double press
    or a replayed update acts once: each action is one guarded update (``bot.polls``), and
    "+1 ngày" carries the deadline it extends, so a second press does not add a second day.
"""

from __future__ import annotations

import datetime as dt
import re

from bot.domain.polls import EXTEND_STEP, Poll, deadline_problem, parse_deadline
from bot.domain.text import fold
from bot.feature import Feature
from bot.messages import Button, Reply
from bot.polls import ACTION_MANAGE, ACTION_RESULTS, cancel_poll, close_poll, extend_poll, when
from bot.turn import Turn
from handlers.intents import Intent
from handlers.polls import may_manage, poll_for_staff

_POLL = r"(?:khao sat|poll)\s*#?(\d{1,9})"
_CLOSE = re.compile(rf"^(?:dong|close)\s+{_POLL}$")
_CANCEL = re.compile(rf"^(?:huy|cancel)\s+{_POLL}$")
_EXTEND = re.compile(rf"^(?:gia han|extend)\s+{_POLL}(?:\s+(?:den|toi|to|until)\b)?\s*(.*)$")


def _when(turn: Turn, at: dt.datetime) -> str:
    return when(at, turn.services.timezone, turn.locale)


def _results_row(turn: Turn, poll: Poll) -> tuple[tuple[Button, ...], ...]:
    label = turn.t("poll.button_results")
    return ((Button(label=label, action=f"{ACTION_RESULTS}:{poll.id}"),),)


async def managed_poll(turn: Turn, poll_id: int) -> Poll | list[Reply]:
    """The poll if this chat user may manage it (re-checked on every press), else the
    refusal."""
    return await poll_for_staff(turn, poll_id, may_manage, "poll.not_yours_to_manage")


async def open_managed_poll(turn: Turn, poll_id: int) -> Poll | list[Reply]:
    """The poll if this chat user may manage it and it is still open, else why not."""
    poll = await managed_poll(turn, poll_id)
    if isinstance(poll, list):
        return poll
    return not_open(turn, poll) or poll


def not_open(turn: Turn, poll: Poll) -> list[Reply] | None:
    """Why this poll cannot be changed any more, or ``None`` while it is open."""
    if poll.cancelled_at is not None:
        text = turn.t("poll.is_cancelled", id=poll.id, when=_when(turn, poll.cancelled_at))
        return [Reply(text=text, buttons=_results_row(turn, poll))]
    if not poll.is_open(turn.now()):
        text = turn.t("poll.is_closed", id=poll.id, when=_when(turn, poll.ended_at))
        return [Reply(text=text, buttons=_results_row(turn, poll))]
    return None


async def close(turn: Turn, poll_id: int) -> list[Reply]:
    poll = await open_managed_poll(turn, poll_id)
    if isinstance(poll, list):
        return poll
    closed = await close_poll(turn.uow, turn.services, poll, turn.now())
    if closed is None:  # closed by another press in between
        return not_open(turn, poll) or [Reply(text=turn.t("button.stale"))]
    await turn.audit("poll.closed", subject=f"poll:{poll.id}")
    key = "poll.closed_done_cli" if poll.author_id == "cli" else "poll.closed_done"
    return [Reply(text=turn.t(key, id=poll.id), buttons=_results_row(turn, closed))]


async def extend(
    turn: Turn, poll_id: int, deadline: dt.datetime, *, was: dt.datetime
) -> list[Reply]:
    poll = await open_managed_poll(turn, poll_id)
    if isinstance(poll, list):
        return poll
    if poll.deadline_at != was:  # "+1 ngày" pressed twice: the first press counted
        text = turn.t("poll.already_extended", id=poll.id, when=_when(turn, poll.deadline_at))
        return [Reply(text=text, buttons=_results_row(turn, poll))]
    if deadline <= poll.deadline_at:
        return [Reply(text=turn.t("poll.extend_not_later", id=poll.id))]
    problem = deadline_problem(deadline, turn.now())
    if problem is not None:
        return [Reply(text=turn.t(f"poll.deadline_{problem}"))]
    moved = await extend_poll(turn.uow, poll, deadline, turn.now())
    if moved is None:
        return [Reply(text=turn.t("button.stale"))]
    await turn.audit("poll.extended", subject=f"poll:{poll.id}")
    key = "poll.extended_remind" if moved.reminded_at is None else "poll.extended"
    text = turn.t(
        key,
        id=poll.id,
        when=_when(turn, deadline),
        remind=_when(turn, moved.remind_at),
    )
    return [Reply(text=text, buttons=_results_row(turn, moved))]


async def ask_cancel(turn: Turn, poll_id: int) -> list[Reply]:
    poll = await managed_poll(turn, poll_id)
    if isinstance(poll, list):
        return poll
    if poll.cancelled_at is not None:
        return not_open(turn, poll) or []
    yes = Button(
        label=turn.t("poll.button_cancel_yes"), action=f"{ACTION_MANAGE}:cancel_ok:{poll.id}"
    )
    keep = Button(label=turn.t("poll.button_cancel_keep"), action=f"{ACTION_RESULTS}:{poll.id}")
    text = turn.t("poll.cancel_confirm", id=poll.id, target=poll.class_name, question=poll.question)
    return [Reply(text=text, buttons=((yes,), (keep,)), private_only=True)]


async def cancel(turn: Turn, poll_id: int) -> list[Reply]:
    poll = await managed_poll(turn, poll_id)
    if isinstance(poll, list):
        return poll
    told = await cancel_poll(turn.uow, turn.services, poll, turn.now())
    if told is None:  # a double press, a replayed update: told once
        fresh = await turn.uow.polls.get(turn.key.school_id, poll.id)
        return not_open(turn, fresh or poll) or [Reply(text=turn.t("button.stale"))]
    await turn.audit("poll.cancelled", subject=f"poll:{poll.id}", messages=told)
    text = turn.t("poll.cancelled_done", id=poll.id, count=told)
    return [Reply(text=text, buttons=_results_row(turn, poll), edit=bool(turn.action))]


async def _on_manage(turn: Turn, rest: str) -> list[Reply]:
    what, _, tail = rest.partition(":")
    poll_id, _, extra = tail.partition(":")
    if not poll_id.isdigit():
        return [Reply(text=turn.t("button.stale"))]
    if what == "close":
        return await close(turn, int(poll_id))
    if what == "cancel":
        return await ask_cancel(turn, int(poll_id))
    if what == "cancel_ok":
        return await cancel(turn, int(poll_id))
    if what == "ext" and extra.isdigit():
        was = dt.datetime.fromtimestamp(int(extra), tz=dt.UTC)
        return await extend(turn, int(poll_id), was + EXTEND_STEP, was=was)
    return [Reply(text=turn.t("button.stale"))]


async def _typed(turn: Turn, intent: Intent) -> list[Reply] | None:
    """ "đóng khảo sát 12", "gia hạn khảo sát 12 đến 20/12 17h", "huỷ khảo sát 12"."""
    folded = fold(turn.text).strip(" .!")
    if m := _CLOSE.match(folded):
        return await close(turn, int(m.group(1)))
    if m := _CANCEL.match(folded):
        return await ask_cancel(turn, int(m.group(1)))
    if m := _EXTEND.match(folded):
        poll = await managed_poll(turn, int(m.group(1)))
        if isinstance(poll, list):
            return poll
        deadline = parse_deadline(m.group(2), turn.now(), turn.services.timezone)
        if deadline is None:
            return [Reply(text=turn.t("poll.extend_how", id=poll.id))]
        return await extend(turn, poll.id, deadline, was=poll.deadline_at)
    return None


FEATURE = Feature(name="poll_manage", commands=(_typed,), actions={ACTION_MANAGE: _on_manage})
