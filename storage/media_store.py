"""Images served by URL for a little while (``storage.tables.MediaFile``, issue 16)."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.tables import MediaFile

MEDIA_TTL = dt.timedelta(minutes=15)  # the platform fetches at once; a pupil's data goes soon


class SqlMediaStore:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, ttl: dt.timedelta = MEDIA_TTL
    ) -> None:
        self._sessions = sessions
        self._ttl = ttl

    async def put(
        self, data: bytes, *, school_id: str, now: dt.datetime, content_type: str = "image/png"
    ) -> str:
        """Store ``data``; the random token that names it. Expired files go at the same time."""
        token = secrets.token_urlsafe(32)
        async with self._sessions() as s:
            await s.execute(delete(MediaFile).where(MediaFile.expires_at <= now))
            s.add(
                MediaFile(
                    token=token,
                    school_id=school_id,
                    content_type=content_type,
                    data=data,
                    created_at=now,
                    expires_at=now + self._ttl,
                )
            )
            await s.commit()
        return token

    async def get(self, token: str, *, now: dt.datetime) -> tuple[str, bytes] | None:
        """(content type, bytes) of a file not yet expired; None otherwise."""
        async with self._sessions() as s:
            row = await s.scalar(
                select(MediaFile).where(MediaFile.token == token, MediaFile.expires_at > now)
            )
        return None if row is None else (row.content_type, row.data)
