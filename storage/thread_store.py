"""Relayed parent–teacher messages (issue 17) in SQL: :class:`bot.domain.threads.ThreadRepo`,
the retention purge, ``/forget`` and the school's CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.domain.threads import DEDUPE_PREFIX, Delivery, OfficeHours, Sender, Thread, ThreadMessage
from bot.messages import ConversationKey
from storage.tables import MessageThread, OutboxMessage, TeacherOfficeHours, ThreadMessageRow


def _thread(row: MessageThread) -> Thread:
    return Thread(
        id=row.id,
        school_id=row.school_id,
        student_id=row.student_id,
        class_id=row.class_id,
        teacher_id=row.teacher_id,
        guardian_id=row.guardian_id,
        parent=ConversationKey(
            school_id=row.school_id,
            channel=row.parent_channel,
            chat_id=row.parent_chat_id,
            user_id=row.parent_user_id,
        ),
        muted_at=row.muted_at,
        parent_seen_at=row.parent_seen_at,
        created_at=row.created_at,
    )


def _message(row: ThreadMessageRow) -> ThreadMessage:
    return ThreadMessage(
        id=row.id,
        thread_id=row.thread_id,
        sender=Sender(row.sender),
        body=row.body,
        urgent=row.urgent,
        status=Delivery(row.status),
        deliver_at=row.deliver_at,
        created_at=row.created_at,
        attachment=row.attachment,
    )


def _of_parent(parent: ConversationKey) -> tuple[ColumnElement[bool], ...]:
    t = MessageThread
    return (
        t.school_id == parent.school_id,
        t.parent_channel == parent.channel,
        t.parent_user_id == parent.user_id,
    )


class SqlThreadRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def open(
        self,
        *,
        school_id: str,
        student_id: str,
        class_id: str,
        teacher_id: str,
        guardian_id: str,
        parent: ConversationKey,
        now: dt.datetime,
    ) -> Thread:
        t = MessageThread
        query = select(t).where(
            *_of_parent(parent), t.student_id == student_id, t.teacher_id == teacher_id
        )
        row = await self._s.scalar(query)
        if row is None:
            row = MessageThread(
                school_id=school_id,
                student_id=student_id,
                class_id=class_id,
                teacher_id=teacher_id,
                guardian_id=guardian_id,
                parent_channel=parent.channel,
                parent_chat_id=parent.chat_id,
                parent_user_id=parent.user_id,
                muted_at=None,
                parent_seen_at=now,
                created_at=now,
            )
            # No SAVEPOINT (see SqlOutboxRepo.enqueue): the conversation's lock serialises
            # one parent's turns, and the unique key refuses a twin from another worker.
            self._s.add(row)
            await self._s.flush()
        else:
            row.class_id = class_id  # the pupil may have changed class since
            row.parent_chat_id = parent.chat_id
        return _thread(row)

    async def get(self, school_id: str, thread_id: int) -> Thread | None:
        row = await self._s.get(MessageThread, thread_id)
        return None if row is None or row.school_id != school_id else _thread(row)

    async def add_message(
        self,
        thread: Thread,
        *,
        sender: Sender,
        body: str,
        urgent: bool,
        status: Delivery,
        deliver_at: dt.datetime | None,
        now: dt.datetime,
        attachment: str = "",
    ) -> ThreadMessage:
        row = ThreadMessageRow(
            attachment=attachment,
            school_id=thread.school_id,
            thread_id=thread.id,
            sender=sender.value,
            body=body,
            urgent=urgent,
            status=status.value,
            deliver_at=deliver_at,
            created_at=now,
        )
        self._s.add(row)
        await self._s.flush()
        return _message(row)

    async def count_since(self, thread_id: int, *, sender: Sender, since: dt.datetime) -> int:
        m = ThreadMessageRow
        total = await self._s.scalar(
            select(func.count())
            .select_from(m)
            .where(m.thread_id == thread_id, m.sender == sender.value, m.created_at >= since)
        )
        return int(total or 0)

    async def set_muted(self, thread_id: int, *, muted: bool, now: dt.datetime) -> None:
        await self._s.execute(
            update(MessageThread)
            .where(MessageThread.id == thread_id)
            .values(muted_at=now if muted else None)
        )

    async def parent_wrote(self, parent: ConversationKey, *, now: dt.datetime) -> None:
        await self._s.execute(
            update(MessageThread).where(*_of_parent(parent)).values(parent_seen_at=now)
        )

    async def held_for(self, parent: ConversationKey) -> Sequence[tuple[Thread, ThreadMessage]]:
        m, t = ThreadMessageRow, MessageThread
        rows = await self._s.execute(
            select(t, m)
            .join(m, m.thread_id == t.id)
            .where(*_of_parent(parent), m.status == Delivery.HELD.value)
            .order_by(m.id)
        )
        return [(_thread(thread), _message(message)) for thread, message in rows.all()]

    async def mark(self, message_id: int, status: Delivery) -> None:
        await self._s.execute(
            update(ThreadMessageRow)
            .where(ThreadMessageRow.id == message_id)
            .values(status=status.value)
        )

    async def office_hours(self, school_id: str, teacher_id: str) -> OfficeHours | None:
        row = await self._s.get(TeacherOfficeHours, (school_id, teacher_id))
        if row is None:
            return None
        return OfficeHours(start=_time(row.start_minute), end=_time(row.end_minute))

    async def set_office_hours(
        self, school_id: str, teacher_id: str, hours: OfficeHours, *, now: dt.datetime
    ) -> None:
        row = await self._s.get(TeacherOfficeHours, (school_id, teacher_id))
        start = hours.start.hour * 60 + hours.start.minute
        end = hours.end.hour * 60 + hours.end.minute
        if row is None:
            self._s.add(
                TeacherOfficeHours(
                    school_id=school_id,
                    teacher_id=teacher_id,
                    start_minute=start,
                    end_minute=end,
                    updated_at=now,
                )
            )
        else:
            row.start_minute, row.end_minute, row.updated_at = start, end, now
        await self._s.flush()


def _time(minute: int) -> dt.time:
    return dt.time(minute // 60, minute % 60)


async def forget_threads(session: AsyncSession, key: ConversationKey) -> int:
    """``/forget``: every thread of this parent chat and its messages go (both sides)."""
    ids = list(await session.scalars(select(MessageThread.id).where(*_of_parent(key))))
    if not ids:
        return 0
    await session.execute(delete(ThreadMessageRow).where(ThreadMessageRow.thread_id.in_(ids)))
    await session.execute(delete(MessageThread).where(MessageThread.id.in_(ids)))
    o = OutboxMessage  # the parent's words still on their way to the teacher
    await session.execute(
        delete(o).where(
            o.school_id == key.school_id,
            or_(*(o.dedupe_key.like(f"{DEDUPE_PREFIX}:{key.school_id}:{i}:%") for i in ids)),
        )
    )
    return len(ids)


async def purge_old_messages(
    session: AsyncSession, school_id: str, *, older_than: dt.datetime
) -> int:
    """Delete a school's messages written before ``older_than`` (its retention days), except
    replies still held for delivery. Returns how many went."""
    m = ThreadMessageRow
    result = await session.execute(
        delete(m).where(
            m.school_id == school_id,
            m.created_at < older_than,
            m.status != Delivery.HELD.value,
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


EXPORT_HEADER = (
    "thread",
    "class_id",
    "student_id",
    "teacher_id",
    "sender",
    "at_utc",
    "text",
    "attachment",
)


async def export_csv(session: AsyncSession, school_id: str, class_id: str | None = None) -> str:
    """The school's threads as CSV: one line per message. Chat ids and handles stay out:
    a parent is the pupil's guardian, a teacher their staff id."""
    m, t = ThreadMessageRow, MessageThread
    query = (
        select(
            t.id,
            t.class_id,
            t.student_id,
            t.teacher_id,
            m.sender,
            m.created_at,
            m.body,
            m.attachment,
        )
        .join(m, m.thread_id == t.id)
        .where(t.school_id == school_id)
        .order_by(t.id, m.id)
    )
    if class_id is not None:
        query = query.where(t.class_id == class_id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_HEADER)
    for thread_id, klass, student, teacher, sender, at, body, attached in (
        await session.execute(query)
    ).all():
        writer.writerow(
            [thread_id, klass, student, teacher, sender, at.isoformat(), body, attached]
        )
    return out.getvalue()
