"""What ``/forget`` and ``run_bot.py forget --student`` delete (issue 13.6; SECURITY.md).

A forgotten chat user leaves no row holding their chat or user id, nor any text they wrote:

- deleted: their links, dialog state (every chat, groups included), OTP challenges, buttons,
  notification preferences and items, digest runs, and every outbox row addressed to them
  (pending ones are thereby dropped; a notice is never sent to a forgotten chat);
- leave requests they filed stay as the school's record of an absence (pupil, dates,
  status), but lose the requester's ids, the reason, the decision note and the references
  of the files sent with them (a medical certificate, issue 17); a pending one is
  withdrawn, and the cards still waiting in the outbox for the teacher are dropped (a card
  already delivered answers "withdrawn" when pressed);
- their relayed messages to teachers (issue 17) and the answers go, threads and all;
- audit events keep only the keyed hash of the user (never the id), which is the one
  anonymised trace the law allows, and which the OTP guard's counters need.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.messages import ConversationKey
from storage.tables import (
    AbsenceRequestRow,
    ButtonToken,
    ChatLink,
    ConversationStateRow,
    DigestRun,
    NotificationItem,
    NotificationPref,
    OtpChallengeRow,
    OutboxMessage,
)
from storage.thread_store import forget_threads

FORGOTTEN = ""  # what a forgotten requester's ids become


@dataclass(frozen=True, slots=True, kw_only=True)
class ForgetReport:
    links: int
    requests: int
    outbox: int


class SqlPrivacyRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def users_of_student(self, school_id: str, student_id: str) -> list[ConversationKey]:
        """Every chat user linked (or once linked) as a guardian of the pupil."""
        rows = await self._s.execute(
            select(ChatLink.channel, ChatLink.chat_id, ChatLink.user_id)
            .where(
                ChatLink.school_id == school_id,
                ChatLink.role == "guardian",
                ChatLink.subject_id == student_id,
            )
            .distinct()
        )
        return [
            ConversationKey(school_id=school_id, channel=c, chat_id=chat, user_id=u)
            for c, chat, u in rows.all()
        ]

    async def forget_user(self, key: ConversationKey, *, now: dt.datetime) -> ForgetReport:
        school, channel, user = key.school_id, key.channel, key.user_id
        links = await self._s.execute(
            delete(ChatLink).where(
                ChatLink.school_id == school, ChatLink.channel == channel, ChatLink.user_id == user
            )
        )
        for table in (
            ConversationStateRow,
            OtpChallengeRow,
            ButtonToken,
            NotificationPref,
            NotificationItem,
        ):
            await self._s.execute(
                delete(table).where(
                    table.school_id == school, table.channel == channel, table.user_id == user
                )
            )
        await self._s.execute(
            delete(DigestRun).where(
                DigestRun.school_id == school,
                DigestRun.key.like(f"digest:{school}:%:{channel}:{user}"),
            )
        )
        await forget_threads(self._s, key)  # their messages to teachers, and the answers
        r = AbsenceRequestRow
        mine = (
            r.school_id == school,
            r.requester_channel == channel,
            r.requester_user_id == user,
        )
        ids = list(await self._s.scalars(select(r.id).where(*mine)))
        await self._s.execute(
            update(r)
            .where(*mine, r.status == "pending")
            .values(status="cancelled", updated_at=now, version=r.version + 1)
        )
        await self._s.execute(
            update(r)
            .where(*mine)
            .values(
                requester_chat_id=FORGOTTEN,
                requester_user_id=FORGOTTEN,
                reason="",
                decision_reason="",
                attachments="",
            )
        )
        o = OutboxMessage
        about_requests = [
            o.dedupe_key.like(pattern)
            for i in ids
            for pattern in (f"absence%:{school}:{i}", f"absence%:{school}:{i}:%")
        ]
        outbox = await self._s.execute(
            delete(o).where(
                o.school_id == school,
                or_(
                    (o.channel == channel) & (o.user_id == user),
                    *about_requests,
                ),
            )
        )
        return ForgetReport(
            links=int(getattr(links, "rowcount", 0) or 0),
            requests=len(ids),
            outbox=int(getattr(outbox, "rowcount", 0) or 0),
        )


async def purge_old_leave_attachments(
    session: AsyncSession, school_id: str, *, older_than: dt.datetime
) -> int:
    """Drop the file references (a medical certificate, issue 17) of a school's leave
    requests decided before ``older_than`` (its message retention); a pending request keeps
    them for its teacher. The request itself stays as the school's record. How many changed."""
    r = AbsenceRequestRow
    result = await session.execute(
        update(r)
        .where(
            r.school_id == school_id,
            r.status != "pending",
            r.updated_at < older_than,
            r.attachments != "",
        )
        .values(attachments="")
    )
    return int(getattr(result, "rowcount", 0) or 0)
