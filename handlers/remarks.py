"""Teachers' remarks and homework in a chat (issue 17).

A teacher types "nhận xét HS6A01: Con tiến bộ môn Toán" (a remark on one pupil) or
"bài tập 6A: Làm bài 3, 4 trang 25" (homework for the class). ``/nhanxet`` and ``/baitap``
alone say how. A parent asks "bài tập hôm nay" or "nhận xét tuần này" ("bai tap hom nay",
"nhan xet tuan nay") and reads what their children's teachers posted.

Warning:
    The teacher must teach the pupil's class (homeroom or subject) at the moment they post;
    a parent reads only the posts of their own linked children (remarks: about that very
    child).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.models import Student
from bot.domain.posts import MAX_POST, PostKind, TeacherPost, parse_post, week_start
from bot.domain.text import contains_phrase, fold
from bot.feature import Feature
from bot.messages import Reply
from bot.teacher_posts import publish_post
from bot.turn import Turn
from handlers.common import child_label, find_class, linked_children
from handlers.intents import Intent
from handlers.polls import acting_teacher, my_teacher, own_classes


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """Where a post goes, once checked: the class, the pupil of a remark, and its name."""

    class_id: str
    student: Student | None
    label: str  # "Nguyễn Minh An (6A)", "lớp 6A"


async def find_target(turn: Turn, kind: PostKind, typed: str) -> Target | list[Reply]:
    """The pupil (a remark: their student code) or the class (homework: its name), if this
    teacher teaches it now; else the polite refusal."""
    teacher = await my_teacher(turn)
    if teacher is None:
        return [Reply(text=turn.t("posts.staff_only"))]
    student: Student | None = None
    if kind is PostKind.REMARK:
        student = await turn.backend.find_student(typed.strip())
        if student is None:
            return [Reply(text=turn.t("posts.unknown_student"))]
        class_id, label = student.class_id, child_label(student)
    else:
        found = await find_class(turn, typed)
        if found is None:
            return [Reply(text=turn.t("notice.unknown_class"))]
        class_id, label = found.id, turn.t("notice.class_target", name=found.name)
    if class_id not in own_classes(teacher):
        await turn.audit("post.refused", subject=class_id)
        return [Reply(text=turn.t("posts.not_your_class"))]
    return Target(class_id=class_id, student=student, label=label)


async def post(turn: Turn, kind: PostKind, target: Target, text: str) -> list[Reply]:
    """Store and spread a remark or homework; the target was checked by :func:`find_target`
    in this very turn."""
    teacher = await acting_teacher(turn)
    assert teacher is not None  # find_target checked it in this turn
    reached = await publish_post(
        turn.uow,
        turn.backend,
        turn.services.catalog,
        school_id=turn.key.school_id,
        kind=kind,
        class_id=target.class_id,
        student=target.student,
        author_id=teacher.id,
        text=text,
        now=turn.now(),
    )
    await turn.audit(f"post.{kind.value}", subject=target.class_id, parents=reached)
    return [Reply(text=turn.t(f"posts.sent_{kind.value}", target=target.label, count=reached))]


def too_long(turn: Turn, text: str) -> list[Reply] | None:
    if len(text) > MAX_POST:
        return [Reply(text=turn.t("posts.too_long", length=len(text), limit=MAX_POST))]
    return None


async def _post(turn: Turn, intent: Intent) -> list[Reply] | None:
    """A teacher's typed remark or homework, wherever typed."""
    command = parse_post(turn.text)
    if command is None:
        return None
    if await my_teacher(turn) is None:
        if command.kind is PostKind.HOMEWORK and not fold(command.target)[:1].isdigit():
            return None  # "bài tập hôm nay: …" from a parent is a question, not a post
        return [Reply(text=turn.t("posts.staff_only"))]
    refused = too_long(turn, command.text)
    if refused is not None:
        return refused
    target = await find_target(turn, command.kind, command.target)
    if isinstance(target, list):
        return target
    return await post(turn, command.kind, target, command.text)


def _since(turn: Turn, folded: str, *, default_week: bool) -> tuple[dt.datetime, str]:
    """The start of the period asked about (UTC) and its name's message key."""
    today = turn.today()
    week = any(contains_phrase(folded, w) for w in ("tuan", "week"))
    day_words = ("hom nay", "today", "bua nay")
    if not week and (not default_week or any(contains_phrase(folded, w) for w in day_words)):
        start, key = today, "posts.period_today"
    else:
        start, key = week_start(today), "posts.period_week"
    local = dt.datetime.combine(start, dt.time(0, 0), tzinfo=turn.services.tz)
    return local.astimezone(dt.UTC), key


def _lines(turn: Turn, posts: Sequence[TeacherPost]) -> list[str]:
    tz = turn.services.tz
    lines = []
    for post in posts:
        at = post.created_at.astimezone(tz)
        lines.append(f"• {at:%d/%m %H:%M}: {post.text}")
    return lines


async def lookup(turn: Turn, kind: PostKind, folded: str) -> list[Reply]:
    """A parent's "bài tập hôm nay" / "nhận xét tuần này"."""
    children = await linked_children(turn)
    if not children:
        if await my_teacher(turn) is not None:
            return [Reply(text=turn.t("posts.teacher_usage"))]
        return [Reply(text=turn.t("query.not_linked"))]
    since, period_key = _since(turn, folded, default_week=kind is PostKind.REMARK)
    period = turn.t(period_key)
    blocks = []
    for child in children:
        posts = await turn.uow.posts.since(
            turn.key.school_id,
            kind=kind,
            class_ids=[child.class_id],
            student_ids=[child.id] if kind is PostKind.REMARK else None,
            since=since,
        )
        if posts:
            blocks.append("👤 " + child_label(child) + "\n" + "\n".join(_lines(turn, posts)))
    if not blocks:
        return [Reply(text=turn.t(f"posts.none_{kind.value}", period=period))]
    head = turn.t(f"posts.head_{kind.value}", period=period)
    return [Reply(text=head + "\n\n" + "\n\n".join(blocks), private_only=True)]


FEATURE = Feature(name="teacher_posts", commands=(_post,))
