"""Retention of relayed parent–teacher messages (issue 17): each school's messages older
than its ``messages.retention_days`` are deleted (and the file references of leave requests
decided before then), at most once an hour per process (a second
process deleting the same rows changes nothing)."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.turn import CoreServices
from storage.privacy import purge_old_leave_attachments
from storage.thread_store import purge_old_messages

log = logging.getLogger(__name__)

PURGE_EVERY = dt.timedelta(hours=1)


class ThreadJobs:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], services: CoreServices) -> None:
        self._sessions = sessions
        self._services = services
        self._last: dt.datetime | None = None

    async def run_once(self) -> int:
        """Purge now if an hour has passed since the last purge; how many messages went."""
        now = self._services.clock.now()
        if self._last is not None and now - self._last < PURGE_EVERY:
            return 0
        self._last = now
        return await purge(self._sessions, self._services, now=now)


async def purge(
    sessions: async_sessionmaker[AsyncSession], services: CoreServices, *, now: dt.datetime
) -> int:
    total = 0
    schools = services.profiles or {}
    async with sessions() as session:
        for school_id, profile in schools.items():
            days = profile.threads.retention_days
            older_than = now - dt.timedelta(days=days)
            total += await purge_old_messages(session, school_id, older_than=older_than)
            # a decided leave request's certificate goes with the messages (issue 17)
            await purge_old_leave_attachments(session, school_id, older_than=older_than)
        await session.commit()
    if total:
        log.info("deleted %d relayed messages past their schools' retention", total)
    return total
