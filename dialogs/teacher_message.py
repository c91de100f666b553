"""The few questions around a relayed message (issue 17; see ``teacher_message.mmd``).

A parent of several children is asked which child; where the school lets parents write to
subject teachers, which teacher; with no text yet, what to say. A teacher who pressed
Reply is asked for the answer. The sending itself is ``handlers.threads``.

Warning:
    The child, the teacher and the thread are re-checked when the message is sent (a stale
    or forged press changes nothing). Run only inside the router's per-conversation lock.
"""

from __future__ import annotations

import enum

from bot.domain.models import Student
from bot.feature import dialog_feature
from bot.messages import Reply
from bot.turn import Turn
from handlers import threads


class Step(enum.StrEnum):
    CHILD = "child"  # a parent of several children: which one
    TEACHER = "teacher"  # homeroom or a subject teacher (where the school allows it)
    WRITE = "write"  # child and teacher known: waiting for the parent's text
    REPLY = "reply"  # a teacher pressed Reply: waiting for the answer


async def handle(turn: Turn) -> list[Reply]:
    step = turn.state.step
    if turn.action:
        _, verb, value = [*turn.action.split(":", 2), "", ""][:3]
        if verb == "child" and step == Step.CHILD:
            student = next((k for k in await threads.children(turn) if k.id == value), None)
            if student is None:
                turn.state.clear_dialog()
                return [Reply(text=turn.t("button.stale"))]
            return await threads.for_child(turn, student)
        if verb == "teacher" and step == Step.TEACHER:
            return await _teacher_chosen(turn, value)
        return [Reply(text=turn.t("button.stale"))]
    if step == Step.WRITE and turn.text:
        return await _write(turn)
    if step == Step.REPLY and turn.text:
        thread_id = int(turn.state.data.get("thread_id", 0))
        attached = threads.attachment_in(turn.state.data)  # a photo sent without a caption
        turn.state.clear_dialog()
        return await threads.reply(turn, thread_id, turn.text, attached)
    turn.not_understood = True
    return reminder(turn)


async def _teacher_chosen(turn: Turn, teacher_id: str) -> list[Reply]:
    student = await _student(turn)
    teacher = None
    if student is not None:
        teacher = next(
            (t for t in await threads.teachers_for(turn, student) if t.id == teacher_id), None
        )
    if student is None or teacher is None:
        turn.state.clear_dialog()
        return [Reply(text=turn.t("button.stale"))]
    return await threads.for_teacher(turn, student, teacher)


async def _write(turn: Turn) -> list[Reply]:
    student = await _student(turn)
    wanted = str(turn.state.data.get("teacher_id", ""))
    teacher = None
    if student is not None:
        teacher = next(
            (t for t in await threads.teachers_for(turn, student) if t.id == wanted), None
        )
    body = turn.text
    attached = threads.attachment_in(turn.state.data)
    turn.state.clear_dialog()
    if student is None or teacher is None:
        return [Reply(text=turn.t("button.stale"))]
    return await threads.send_to_teacher(turn, student, teacher, body, attached)


async def _student(turn: Turn) -> Student | None:
    wanted = str(turn.state.data.get("student_id", ""))
    return next((k for k in await threads.children(turn) if k.id == wanted), None)


def reminder(turn: Turn) -> list[Reply]:
    key = {
        Step.CHILD: "threads.remind_child",
        Step.TEACHER: "threads.remind_teacher",
        Step.WRITE: "threads.remind_write",
        Step.REPLY: "threads.remind_reply",
    }.get(Step(turn.state.step or Step.WRITE), "threads.remind_write")
    return [Reply(text=turn.t(key))]


FEATURE = dialog_feature(threads.DIALOG, threads.DIALOG_ACTION, handle, reminder)
