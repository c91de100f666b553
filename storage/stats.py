"""Operator statistics that need SQL (the outbox's own live in ``outbox_store``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.stats import AbsenceStats, OtpStats
from storage.tables import AbsenceRequestRow, AuditEvent, ChatLink


async def absence_stats(
    sessions: async_sessionmaker[AsyncSession], *, now: dt.datetime
) -> list[AbsenceStats]:
    """Per school: pending requests, and approved ones not yet in the school system."""
    r = AbsenceRequestRow
    async with sessions() as s:
        pending = dict(
            (
                await s.execute(
                    select(r.school_id, func.count())
                    .where(r.status == "pending")
                    .group_by(r.school_id)
                )
            ).all()
        )
        unwritten_rows = (
            await s.execute(
                select(r.school_id, func.count(), func.min(r.decided_at), func.max(r.write_error))
                .where(r.status == "approved", r.written_at.is_(None))
                .group_by(r.school_id)
            )
        ).all()
    unwritten = {row[0]: (int(row[1]), row[2], str(row[3] or "")) for row in unwritten_rows}
    out = []
    for school_id in sorted(set(pending) | set(unwritten)):
        count, oldest, error = unwritten.get(school_id, (0, None, ""))
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=dt.UTC)
        out.append(
            AbsenceStats(
                school_id=school_id,
                pending=int(pending.get(school_id, 0)),
                unwritten=count,
                oldest_unwritten_seconds=(now - oldest).total_seconds() if oldest else 0.0,
                last_write_error=error,
            )
        )
    return out


async def otp_stats(
    sessions: async_sessionmaker[AsyncSession], *, now: dt.datetime
) -> list[OtpStats]:
    """Per school, the last 24 hours: codes texted, wrong codes typed, unknown student codes."""
    actions = {
        "verify.otp_sent": "sent",
        "verify.otp_wrong": "wrong",
        "verify.unknown_code": "unknown",
    }
    a = AuditEvent
    async with sessions() as s:
        rows = (
            await s.execute(
                select(a.school_id, a.action, func.count())
                .where(a.action.in_(actions), a.at >= now - dt.timedelta(days=1))
                .group_by(a.school_id, a.action)
            )
        ).all()
    counts: dict[str, dict[str, int]] = {}
    for school_id, action, n in rows:
        counts.setdefault(school_id, {})[actions[action]] = int(n)
    return [
        OtpStats(
            school_id=school_id,
            sent=c.get("sent", 0),
            wrong=c.get("wrong", 0),
            unknown_codes=c.get("unknown", 0),
        )
        for school_id, c in sorted(counts.items())
    ]


async def guardian_chats(
    sessions: async_sessionmaker[AsyncSession], school_id: str
) -> dict[str, set[str]]:
    """Per pupil of the school: the channels on which a guardian has an active chat link."""
    c = ChatLink
    async with sessions() as s:
        rows = (
            await s.execute(
                select(c.subject_id, c.channel)
                .where(c.school_id == school_id, c.role == "guardian", c.active.is_(True))
                .distinct()
            )
        ).all()
    out: dict[str, set[str]] = {}
    for subject_id, channel in rows:
        out.setdefault(subject_id, set()).add(channel)
    return out
