"""The SQL side of the webhook inbox (:class:`bot.inbox.InboxStore`) on SQLite and PostgreSQL.

Every method is one short transaction made of single statements. The lane's lease is one
upsert that only overwrites a lapsed lease or the holder's own (``INSERT ... ON CONFLICT DO
UPDATE ... WHERE``), so two processes can never both hold a lane, on either database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from sqlalchemy import and_, delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.inbox import Queued
from storage.tables import InboxEvent, InboxLease

E = InboxEvent
L = InboxLease


class SqlInboxStore:
    """:class:`bot.inbox.InboxStore` on an async SQLAlchemy engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert

    async def put(
        self,
        *,
        hook: str,
        lane: str,
        event_id: str,
        body: str,
        holder: str,
        now: dt.datetime,
        until: dt.datetime,
    ) -> tuple[bool, bool]:
        stmt = (
            self._insert(E)
            .values(hook=hook, lane=lane, event_id=event_id, body=body, received_at=now)
            .on_conflict_do_nothing(index_elements=[E.hook, E.event_id])
            .returning(E.id)
        )
        async with self._engine.begin() as conn:
            stored = (await conn.execute(stmt)).first() is not None
            taken = (await conn.execute(self._take(hook, lane, holder, now, until))).first()
        return stored, taken is not None

    async def free_lanes(
        self, now: dt.datetime, *, hooks: Collection[str], holder: str, limit: int
    ) -> list[tuple[str, str]]:
        leased = exists().where(
            L.hook == E.hook, L.lane == E.lane, L.until >= now, L.holder != holder
        )
        stmt = (
            select(E.hook, E.lane)
            .where(E.hook.in_(list(hooks)), ~leased)
            .group_by(E.hook, E.lane)
            .order_by(func.min(E.id))
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return [(hook, lane) for hook, lane in await conn.execute(stmt)]

    def _take(self, hook: str, lane: str, holder: str, now: dt.datetime, until: dt.datetime) -> Any:
        return (
            self._insert(L)
            .values(hook=hook, lane=lane, holder=holder, until=until)
            .on_conflict_do_update(
                index_elements=[L.hook, L.lane],
                set_={"holder": holder, "until": until},
                where=(L.until < now) | (L.holder == holder),
            )
            .returning(L.holder)
        )

    async def take(
        self, hook: str, lane: str, *, holder: str, now: dt.datetime, until: dt.datetime
    ) -> bool:
        async with self._engine.begin() as conn:
            return (
                await conn.execute(self._take(hook, lane, holder, now, until))
            ).first() is not None

    def _rows(self, hook: str, lane: str, limit: int) -> Any:
        return (
            select(E.id, E.hook, E.lane, E.body)
            .where(E.hook == hook, E.lane == lane)
            .order_by(E.id)
            .limit(limit)
        )

    async def next_rows(self, hook: str, lane: str, *, limit: int) -> list[Queued]:
        async with self._engine.connect() as conn:
            return [Queued(*row) for row in await conn.execute(self._rows(hook, lane, limit))]

    async def done(self, row_id: int) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(E).where(E.id == row_id))

    async def finish(
        self,
        row: Queued,
        *,
        holder: str,
        now: dt.datetime,
        until: dt.datetime,
        limit: int,
    ) -> list[Queued] | None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(E).where(E.id == row.id))
            renewed = (
                await conn.execute(
                    update(L)
                    .where(L.hook == row.hook, L.lane == row.lane, L.holder == holder)
                    .values(until=until)
                    .returning(L.holder)
                )
            ).first()
            if renewed is None:
                return None
            found = await conn.execute(self._rows(row.hook, row.lane, limit))
            return [Queued(*r) for r in found]

    async def give_back(self, hook: str, lane: str, *, holder: str) -> bool:
        async with self._engine.begin() as conn:
            await conn.execute(
                delete(L).where(and_(L.hook == hook, L.lane == lane, L.holder == holder))
            )
            return bool(await conn.scalar(select(exists().where(E.hook == hook, E.lane == lane))))

    async def waiting(self) -> int:
        """Events stored and not yet run (``stats``, ``/metrics``)."""
        async with self._engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(E)) or 0)
