"""The SQL side of :class:`bot.oa_tokens.OaTokenStore` (table ``oa_token``), SQLite and
PostgreSQL. Every method is one short transaction of single-statement conditional writes, so
the refresh lease is taken by exactly one worker."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.oa_tokens import NewTokens, OaTokenState
from storage.tables import OaToken

T = OaToken


class SqlOaTokenStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def seed(
        self, school_id: str, *, app_id: str, refresh_token: str, seed_hash: str
    ) -> None:
        values = {
            "school_id": school_id,
            "app_id": app_id,
            "access_token": "",
            "refresh_token": refresh_token,
            "expires_at": None,
            "refreshed_at": None,
            "seed_hash": seed_hash,
            "version": 0,
            "refresh_failures": 0,
            "last_error": "",
        }
        insert = pg_insert if self._engine.dialect.name == "postgresql" else sqlite_insert
        async with self._engine.begin() as conn:
            await conn.execute(insert(T).values(**values).on_conflict_do_nothing())
            await conn.execute(
                update(T)
                .where(T.school_id == school_id, T.seed_hash != seed_hash)
                .values(
                    app_id=app_id,
                    access_token="",
                    refresh_token=refresh_token,
                    expires_at=None,
                    seed_hash=seed_hash,
                    version=T.version + 1,
                    refresh_by=None,
                    refresh_lease_until=None,
                )
            )

    async def load(self, school_id: str) -> OaTokenState | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(T).where(T.school_id == school_id))).one_or_none()
        if row is None:
            return None
        return OaTokenState(
            access_token=row.access_token,
            refresh_token=row.refresh_token,
            expires_at=row.expires_at,
            version=row.version,
            refresh_by=row.refresh_by,
            refresh_lease_until=row.refresh_lease_until,
            refresh_failures=row.refresh_failures,
            last_error=row.last_error,
        )

    async def take_lease(
        self, school_id: str, *, version: int, worker: str, now: dt.datetime, until: dt.datetime
    ) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(T)
                .where(
                    T.school_id == school_id,
                    T.version == version,
                    or_(T.refresh_lease_until.is_(None), T.refresh_lease_until < now),
                )
                .values(refresh_by=worker, refresh_lease_until=until)
                .returning(T.school_id)
            )
            return result.first() is not None

    async def save(
        self, school_id: str, *, worker: str, tokens: NewTokens, now: dt.datetime
    ) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(T)
                .where(T.school_id == school_id, T.refresh_by == worker)
                .values(
                    access_token=tokens.access_token,
                    refresh_token=tokens.refresh_token,
                    expires_at=now + dt.timedelta(seconds=tokens.expires_in),
                    refreshed_at=now,
                    version=T.version + 1,
                    refresh_by=None,
                    refresh_lease_until=None,
                    last_error="",
                )
                .returning(T.school_id)
            )
            return result.first() is not None

    async def record_failure(
        self, school_id: str, *, worker: str, error: str, now: dt.datetime
    ) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(T)
                .where(T.school_id == school_id, T.refresh_by == worker)
                .values(
                    refresh_failures=T.refresh_failures + 1,
                    last_error=error[:200],
                    last_failed_at=now,
                    refresh_by=None,
                    refresh_lease_until=None,
                )
            )
