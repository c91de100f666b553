"""The pictures served by URL to Zalo (issue 16), on SQLite and PostgreSQL: found by their
random token until they expire, gone after, and swept when new ones come."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from storage.engine import create_engine, session_factory
from storage.media_store import MEDIA_TTL, SqlMediaStore
from storage.migrate import upgrade
from storage.tables import MediaFile

T0 = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def test_a_picture_lives_for_its_ttl_then_is_swept(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        sessions = session_factory(engine)
        store = SqlMediaStore(sessions)
        token = await store.put(PNG, school_id="demo", now=T0)
        assert len(token) >= 40
        assert await store.get(token, now=T0 + MEDIA_TTL / 2) == ("image/png", PNG)
        assert await store.get("not-" + token, now=T0) is None
        assert await store.get(token, now=T0 + MEDIA_TTL) is None  # expired
        other = await store.put(PNG, school_id="demo", now=T0 + MEDIA_TTL)
        assert other != token
        async with sessions() as s:
            assert await s.scalar(select(func.count()).select_from(MediaFile)) == 1
    finally:
        await engine.dispose()
