"""Shared by the single-turn handlers: which child a question is about, re-checked each time."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.domain.models import SchoolClass, Student
from bot.domain.text import contains_phrase, fold
from bot.feature import Feature, action
from bot.messages import Button, Reply
from bot.ports import Capability, LinkRole
from bot.turn import Turn
from handlers.intents import Intent, IntentName


class QueryHandler(Protocol):
    async def __call__(
        self, turn: Turn, *, student_id: str = "", arg: str = "", folded: str = ""
    ) -> list[Reply]: ...


Answer = Callable[[Turn, Student, str], Awaitable[list[Reply]]]


def query(intent: str, capability: Capability, answer: Answer) -> QueryHandler:
    """The one opening of every question about a child: which child (re-checked against this
    chat's links on every press), whether the school's system answers this kind of question,
    and one audit line ``query.<intent>`` (ids only), then ``answer(turn, child, folded)``."""

    async def handle(
        turn: Turn, *, student_id: str = "", arg: str = "", folded: str = ""
    ) -> list[Reply]:
        folded = folded or arg
        child = await pick_child(
            turn, intent=intent, student_id=student_id, arg=folded, folded=folded
        )
        if isinstance(child, list):
            return child
        if capability not in turn.backend.capabilities:
            return [Reply(text=turn.t("error.unsupported"))]
        await turn.audit(f"query.{intent}", subject=child.id)
        return await answer(turn, child, folded)

    return handle


def query_action(intent: str, student_id: str, arg: str = "") -> str:
    """The action behind a "which child?" or "which day?" button: ``<intent>:<student>:<arg>``
    (a student id never holds a colon; the argument may)."""
    return action(intent, student_id.replace(":", ""), arg[:120])


def query_feature(name: str, handle: QueryHandler, *, intent: IntentName | None) -> Feature:
    """A question about one child (scores, timetable, fees, attendance): its intent (unless
    another feature owns it), its menu entry and its "which child / which day" buttons."""

    async def on_intent(turn: Turn, asked: Intent) -> list[Reply]:
        return await handle(turn, folded=asked.folded)

    async def on_menu(turn: Turn) -> list[Reply]:
        return await handle(turn)

    async def on_button(turn: Turn, rest: str) -> list[Reply]:
        student_id, _, arg = rest.partition(":")
        return await handle(turn, student_id=student_id, arg=arg)

    return Feature(
        name=name,
        intents={intent: on_intent} if intent is not None else {},
        actions={name: on_button},
        menu={name: on_menu},
    )


async def linked_children(turn: Turn) -> list[Student]:
    children = []
    for link in await turn.guardian_links():
        student = await turn.backend.get_student(link.subject_id)
        if student is not None:
            children.append(student)
    return children


async def pick_child(
    turn: Turn, *, intent: str, student_id: str = "", arg: str = "", folded: str = ""
) -> Student | list[Reply]:
    """The child this question is about, or the replies to send instead.

    A ``student_id`` from a pressed button is honoured only if that child is still linked
    to this very chat user: buttons are re-authorised on every press.
    """
    children = await linked_children(turn)
    if not children:
        if any(link.role is LinkRole.STAFF for link in await turn.links()):
            return [Reply(text=turn.t("query.parents_only"))]
        return [Reply(text=turn.t("query.not_linked"))]
    if student_id:
        for child in children:
            if child.id == student_id:
                return child
        return [Reply(text=turn.t("button.not_yours"))]
    if len(children) == 1:
        return children[0]
    named = [c for c in children if mentions(folded, c)]
    if len(named) == 1:
        return named[0]
    return [
        Reply(
            text=turn.t("query.which_child"),
            buttons=tuple(
                (
                    Button(
                        label=f"{c.full_name} ({c.class_name})",
                        action=query_action(intent, c.id, arg),
                    ),
                )
                for c in children
            ),
        )
    ]


def mentions(folded: str, child: Student) -> bool:
    if not folded:
        return False
    return contains_phrase(folded, fold(child.given_name)) or contains_phrase(
        folded, fold(child.class_name)
    )


def child_label(child: Student) -> str:
    return f"{child.full_name} ({child.class_name})"


def with_data_age(turn: Turn, replies: list[Reply]) -> list[Reply]:
    """When the school system was down and a cached answer was served, say how old it is
    under the last reply ("cập nhật lúc 14:05")."""
    if turn.data_as_of is None or not replies:
        return replies
    tz = ZoneInfo(turn.services.timezone)
    at = turn.data_as_of.astimezone(tz)
    when = at.strftime("%H:%M")
    if at.date() != turn.now().astimezone(tz).date():
        when = turn.t("cache.time_on_day", time=when, date=at.strftime("%d/%m/%Y"))
    last = replies[-1]
    note = turn.t("cache.as_of", time=when)
    return [*replies[:-1], dataclasses.replace(last, text=f"{last.text}\n\n{note}")]


async def find_class(turn: Turn, typed: str) -> SchoolClass | None:
    """The school's class a teacher typed ("6A", "6 a", "lớp 6A", or its id), else None."""
    folded = fold(typed).replace(" ", "")
    wanted = {folded, folded.removeprefix("lop")}
    for c in await turn.backend.classes():
        if fold(c.name).replace(" ", "") in wanted or c.id == typed:
            return c
    return None
