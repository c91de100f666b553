"""Signed-out sessions of the office's web page (issue 18, ``bot.admin.session``).

The session cookie is signed and carries a random session id; signing out records the id's
SHA-256 here, and every request asks :meth:`WebSessions.ended` before it trusts the cookie.
A row is only needed until the cookie would have gone idle anyway; each sign-out deletes the
rows past that.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.tables import WebSessionEnded


class WebSessions:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def ended(self, sid_hash: str) -> bool:
        query = select(WebSessionEnded.sid_hash).where(WebSessionEnded.sid_hash == sid_hash)
        async with self._sessions() as session:
            return (await session.execute(query)).first() is not None

    async def end(self, sid_hash: str, *, now: dt.datetime, until: dt.datetime) -> None:
        """Record the session as ended (kept until ``until``), and forget the expired ones."""
        async with self._sessions() as session, session.begin():
            await session.execute(delete(WebSessionEnded).where(WebSessionEnded.expires_at < now))
            await session.merge(WebSessionEnded(sid_hash=sid_hash, ended_at=now, expires_at=until))
