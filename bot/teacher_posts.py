"""Teachers' remarks and homework, from a stored post to notification items (issue 17).

Like a notice (``bot.notifications.publish_notice``), a post becomes one notification item
per guardian and pupil, read in the next digest; a parent who chose "báo ngay nhận xét, bài
tập" (``DigestPrefs.post_alerts``) gets it at once instead, through the outbox, never in
quiet hours. Nothing here sends; everything is written in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt

from bot.domain.digest import Content, DigestPrefs, Item
from bot.domain.models import Student
from bot.domain.posts import PostKind
from bot.i18n import Catalog
from bot.notifications import queue_item_alert
from bot.ports import LinkRole, SchoolBackend, UnitOfWork


async def publish_post(
    uow: UnitOfWork,
    backend: SchoolBackend,
    catalog: Catalog,
    *,
    school_id: str,
    kind: PostKind,
    class_id: str,
    student: Student | None,
    author_id: str,
    text: str,
    now: dt.datetime,
) -> int:
    """Store the post and make its items; returns how many parents it reaches. A remark
    (``student`` given) reaches that pupil's guardians only; homework, the guardians of every
    pupil of ``class_id``. The caller checks that the author teaches the class."""
    post_id = await uow.posts.add(
        school_id=school_id,
        kind=kind,
        class_id=class_id,
        student_id=student.id if student else None,
        author_id=author_id,
        text=text,
        now=now,
    )
    if student is not None:
        links = await uow.links.for_subject(
            school_id=school_id, role=LinkRole.GUARDIAN, subject_id=student.id
        )
    else:
        links = await uow.notifications.guardian_links([school_id])
    prefs = await uow.notifications.all_prefs([school_id])
    pupils: dict[str, Student | None] = {} if student is None else {student.id: student}
    reached: set[tuple[str, str]] = set()
    for link in links:
        if link.key.school_id != school_id:
            continue
        if link.subject_id not in pupils:
            pupils[link.subject_id] = await backend.get_student(link.subject_id)
        pupil = pupils[link.subject_id]
        if pupil is None or pupil.class_id != class_id:
            continue
        item = Item(
            kind=Content.NOTICES.value,
            payload={"text": text, "post": kind.value, "post_id": post_id},
            occurred_at=now,
        )
        item_id = await uow.notifications.add_item(
            recipient=link.key,
            student_id=pupil.id,
            kind=item.kind,
            change_key=f"post:{post_id}:{pupil.id}",
            payload=item.payload,
            urgent=False,
            occurred_at=now,
            now=now,
        )
        if item_id is None:
            continue
        reached.add((link.key.channel, link.key.user_id))
        pref = prefs.get((link.key.school_id, link.key.channel, link.key.user_id), DigestPrefs())
        if pref.post_alerts:
            await queue_item_alert(
                uow,
                catalog,
                link=link,
                prefs=pref,
                child=pupil.full_name,
                item=item,
                item_id=item_id,
                now=now,
                urgent=False,
            )
    return len(reached)
