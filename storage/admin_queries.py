"""Read-only questions the school office's web page asks (issue 18, ``bot/admin``): who is
linked on which channel, leave requests, failed deliveries, and what became of a notice.

Writes never happen here: a notice is posted through ``bot.notifications.post_notice`` in a
unit of work, like the chat's.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.rows import attachments_of
from storage.tables import (
    AbsenceRequestRow,
    AuditEvent,
    ChatLink,
    Notice,
    NotificationItem,
    OutboxMessage,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardianChat:
    channel: str
    user_id: str
    unreachable: bool  # the platform said the chat blocked the bot


@dataclass(frozen=True, slots=True, kw_only=True)
class NoticeRow:
    id: int
    class_ids: tuple[str, ...]  # () = the whole school
    author: str
    text: str
    urgent: bool
    created_at: dt.datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One parent's copy of a notice."""

    channel: str
    user_id: str
    student_id: str
    status: str  # queued | sent | failed | blocked
    detail: str = ""  # the platform's error, for failed


@dataclass(frozen=True, slots=True, kw_only=True)
class FailedMessage:
    kind: str
    channel: str
    at: dt.datetime
    error: str


class AdminQueries:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def guardian_chats(self, school_id: str) -> dict[str, list[GuardianChat]]:
        """student id -> the active guardian chats linked to them."""
        query = select(
            ChatLink.subject_id, ChatLink.channel, ChatLink.user_id, ChatLink.unreachable_at
        ).where(
            ChatLink.school_id == school_id, ChatLink.role == "guardian", ChatLink.active.is_(True)
        )
        out: dict[str, list[GuardianChat]] = defaultdict(list)
        async with self._sessions() as session:
            for subject, channel, user, unreachable in await session.execute(query):
                out[subject].append(
                    GuardianChat(channel=channel, user_id=user, unreachable=unreachable is not None)
                )
        return dict(out)

    async def staff_linked(self, school_id: str, teacher_id: str) -> bool:
        """Whether the teacher still has a chat linked as staff (a web session needs one)."""
        query = (
            select(ChatLink.id)
            .where(
                ChatLink.school_id == school_id,
                ChatLink.role == "staff",
                ChatLink.subject_id == teacher_id,
                ChatLink.active.is_(True),
            )
            .limit(1)
        )
        async with self._sessions() as session:
            return (await session.execute(query)).first() is not None

    async def pending_absences(self, school_id: str) -> dict[str, int]:
        """class id -> leave requests waiting for a decision."""
        query = (
            select(AbsenceRequestRow.class_id, func.count())
            .where(AbsenceRequestRow.school_id == school_id, AbsenceRequestRow.status == "pending")
            .group_by(AbsenceRequestRow.class_id)
        )
        async with self._sessions() as session:
            return {c: int(n) for c, n in await session.execute(query)}

    async def absent_on(self, school_id: str, day: dt.date) -> dict[str, int]:
        """class id -> pupils with an approved leave request covering ``day``."""
        query = (
            select(AbsenceRequestRow.class_id, func.count(AbsenceRequestRow.student_id.distinct()))
            .where(
                AbsenceRequestRow.school_id == school_id,
                AbsenceRequestRow.status == "approved",
                AbsenceRequestRow.start_date <= day,
                AbsenceRequestRow.end_date >= day,
            )
            .group_by(AbsenceRequestRow.class_id)
        )
        async with self._sessions() as session:
            return {c: int(n) for c, n in await session.execute(query)}

    async def failed_messages(self, school_id: str, limit: int = 50) -> list[FailedMessage]:
        query = (
            select(
                OutboxMessage.kind,
                OutboxMessage.channel,
                OutboxMessage.created_at,
                OutboxMessage.last_error,
            )
            .where(OutboxMessage.school_id == school_id, OutboxMessage.status == "failed")
            .order_by(OutboxMessage.created_at.desc())
            .limit(limit)
        )
        async with self._sessions() as session:
            return [
                FailedMessage(kind=k, channel=c, at=at, error=e)
                for k, c, at, e in await session.execute(query)
            ]

    async def notices(self, school_id: str, limit: int = 50) -> list[NoticeRow]:
        """The school's latest notices, newest first; a notice to several classes (a grade),
        recorded as one row per class in one transaction, is one entry."""
        query = (
            select(Notice)
            .where(Notice.school_id == school_id)
            .order_by(Notice.id.desc())
            .limit(limit * 10)
        )
        async with self._sessions() as session:
            rows = list((await session.scalars(query)).all())
        groups: dict[tuple[dt.datetime, str, str], list[Notice]] = {}
        for row in rows:
            groups.setdefault((row.created_at, row.author, row.text), []).append(row)
        out = [
            NoticeRow(
                id=min(r.id for r in group),
                class_ids=tuple(sorted(r.class_id for r in group if r.class_id is not None)),
                author=group[0].author,
                text=group[0].text,
                urgent=group[0].urgent,
                created_at=group[0].created_at,
            )
            for group in groups.values()
        ]
        return sorted(out, key=lambda n: n.id, reverse=True)[:limit]

    async def notice(self, school_id: str, notice_id: int) -> NoticeRow | None:
        async with self._sessions() as session:
            first = await session.get(Notice, notice_id)
            if first is None or first.school_id != school_id:
                return None
            siblings = (
                await session.scalars(
                    select(Notice).where(
                        Notice.school_id == school_id,
                        Notice.created_at == first.created_at,
                        Notice.author == first.author,
                        Notice.text == first.text,
                        Notice.id >= notice_id,
                    )
                )
            ).all()
        return NoticeRow(
            id=first.id,
            class_ids=tuple(sorted(r.class_id for r in siblings if r.class_id is not None)),
            author=first.author,
            text=first.text,
            urgent=first.urgent,
            created_at=first.created_at,
        )

    async def outbox_states(self, keys: Sequence[str]) -> dict[str, str]:
        """dedupe key -> the outbox status of the messages queued under ``keys``."""
        if not keys:
            return {}
        query = select(OutboxMessage.dedupe_key, OutboxMessage.status).where(
            OutboxMessage.dedupe_key.in_(list(keys))
        )
        async with self._sessions() as session:
            return {key: status for key, status in await session.execute(query)}

    async def deliveries(self, school_id: str, notice_id: int) -> list[Delivery]:
        """What became of each parent's copy of a notice: ``queued`` (waiting for the
        relay, quiet hours or the parent's digest), ``sent``, ``failed``, or ``blocked``
        (the chat blocked the bot)."""
        async with self._sessions() as session:
            items = (
                await session.execute(
                    select(
                        NotificationItem.channel,
                        NotificationItem.user_id,
                        NotificationItem.student_id,
                        NotificationItem.digest_key,
                    ).where(
                        NotificationItem.school_id == school_id,
                        NotificationItem.change_key == f"notice:{notice_id}",
                    )
                )
            ).all()
            keys = [key for *_, key in items if key]
            outbox = {
                key: (status, error)
                for key, status, error in (
                    await session.execute(
                        select(
                            OutboxMessage.dedupe_key,
                            OutboxMessage.status,
                            OutboxMessage.last_error,
                        ).where(OutboxMessage.dedupe_key.in_(keys))
                    )
                    if keys
                    else []
                )
            }
            blocked = {
                (channel, user)
                for channel, user in await session.execute(
                    select(ChatLink.channel, ChatLink.user_id).where(
                        ChatLink.school_id == school_id, ChatLink.unreachable_at.is_not(None)
                    )
                )
            }
        out: list[Delivery] = []
        for channel, user, student, key in items:
            status, error = outbox.get(key, ("pending", "")) if key else ("pending", "")
            if status == "sent":
                state = "sent"
            elif (channel, user) in blocked:
                state = "blocked"
            elif status in ("failed", "expired"):
                state = "failed"
            else:
                state = "queued"
            out.append(
                Delivery(
                    channel=channel,
                    user_id=user,
                    student_id=student,
                    status=state,
                    detail=error if state == "failed" else "",
                )
            )
        return out


def count_by(values: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for value in values:
        out[value] += 1
    return dict(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaveRow:
    id: int
    class_id: str
    student_id: str
    start_date: dt.date
    end_date: dt.date
    session: str
    reason: str
    status: str
    created_at: dt.datetime
    decided_at: dt.datetime | None
    files: int = (
        0  # photos/documents the parent attached (issue 17); the files stay on the platform
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentRow:
    role: str
    subject_id: str  # student id (guardian) or teacher id (staff)
    channel: str
    consent_version: str
    consent_at: dt.datetime
    verified_at: dt.datetime
    active: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRow:
    at: dt.datetime
    actor: str  # opaque
    action: str
    subject: str


async def leave_requests(
    sessions: async_sessionmaker[AsyncSession],
    school_id: str,
    *,
    class_ids: Sequence[str],
    status: str = "",
    start: dt.date | None = None,
    end: dt.date | None = None,
    limit: int = 2000,
) -> list[LeaveRow]:
    """Leave requests of ``class_ids`` overlapping [start, end], newest first."""
    query = select(AbsenceRequestRow).where(
        AbsenceRequestRow.school_id == school_id, AbsenceRequestRow.class_id.in_(class_ids)
    )
    if status:
        query = query.where(AbsenceRequestRow.status == status)
    if start is not None:
        query = query.where(AbsenceRequestRow.end_date >= start)
    if end is not None:
        query = query.where(AbsenceRequestRow.start_date <= end)
    query = query.order_by(AbsenceRequestRow.start_date.desc(), AbsenceRequestRow.id.desc())
    async with sessions() as session:
        rows = (await session.scalars(query.limit(limit))).all()
    return [
        LeaveRow(
            id=r.id,
            class_id=r.class_id,
            student_id=r.student_id,
            start_date=r.start_date,
            end_date=r.end_date,
            session=r.session,
            reason=r.reason,
            status=r.status,
            created_at=r.created_at,
            decided_at=r.decided_at,
            files=len(attachments_of(r.attachments)),
        )
        for r in rows
    ]


async def consents(sessions: async_sessionmaker[AsyncSession], school_id: str) -> list[ConsentRow]:
    """Every chat link of the school (active or not), with its consent, newest first."""
    query = (
        select(ChatLink)
        .where(ChatLink.school_id == school_id)
        .order_by(ChatLink.consent_at.desc(), ChatLink.id.desc())
    )
    async with sessions() as session:
        rows = (await session.scalars(query)).all()
    return [
        ConsentRow(
            role=r.role,
            subject_id=r.subject_id,
            channel=r.channel,
            consent_version=r.consent_version,
            consent_at=r.consent_at,
            verified_at=r.verified_at,
            active=r.active,
        )
        for r in rows
    ]


# what the audit page lists: consent withdrawals and who looked at or sent what
AUDIT_ACTIONS = (
    "verify.linked",  # consent given, a chat linked
    "account.forget",  # consent withdrawn, data deleted
    "web.link_issued",
    "web.signin",
    "web.view_class",
    "web.linking_letters",
    "web.contact_book",
    "web.export_leave",
    "web.export_consent",
    "web.import",
    "notice.sent",
    "notice.refused",
    "contact_book.printed",
    "absence.approved",
    "absence.rejected",
    "absence.forbidden",
    "button.forged",
    "import",
)


async def audit_events(
    sessions: async_sessionmaker[AsyncSession], school_id: str, limit: int = 500
) -> list[AuditRow]:
    query = (
        select(AuditEvent.at, AuditEvent.actor, AuditEvent.action, AuditEvent.subject)
        .where(AuditEvent.school_id == school_id, AuditEvent.action.in_(AUDIT_ACTIONS))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(limit)
    )
    async with sessions() as session:
        return [
            AuditRow(at=at, actor=actor, action=action, subject=subject)
            for at, actor, action, subject in await session.execute(query)
        ]
