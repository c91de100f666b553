"""The SQL side of the outbox relay (:class:`bot.outbox.OutboxStore`) on SQLite and PostgreSQL.

Every method is one short transaction, committed before it returns, made of single-statement
conditional writes (``UPDATE ... WHERE <still ours> RETURNING``):

- claiming: on PostgreSQL the candidate rows are picked with ``FOR UPDATE SKIP LOCKED`` so
  concurrent claimers never wait on or take each other's rows; on SQLite (one writer at a
  time; one relay process per file is the documented rule) the same statement runs without
  SKIP LOCKED, and the outer ``WHERE`` re-checks that the lease is free, so even two
  processes could not both lease a row;
- every later change to a row requires ``status = 'pending' AND leased_by = <me>``: a worker
  whose lease passed to another cannot overwrite the other's outcome;
- no SAVEPOINTs (the SQLite driver starts no transaction before one, so releasing it commits),
  and no transaction reads before it writes (SQLite would refuse the upgrade under WAL).

Times come from the relay's clock, not the database's, so tests can move time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from bot.messages import Attachment, Button, ConversationKey
from bot.outbox import BotKey, BotLease, ClaimedMessage, SchoolQueueStats
from storage.tables import ChatLink, OutboxMessage, School, SenderLease

M = OutboxMessage
L = SenderLease
_CHUNK = 200  # bots per statement


def _lease_free(now: dt.datetime) -> ColumnElement[bool]:
    return or_(M.lease_until.is_(None), M.lease_until < now)


def _mine(message_id: int, worker_id: str) -> list[ColumnElement[bool]]:
    return [M.id == message_id, M.status == "pending", M.leased_by == worker_id]


def _bots_filter(bots: Sequence[BotKey]) -> ColumnElement[bool]:
    return or_(*(and_(L.channel == b.channel, L.school_id == b.school_id) for b in bots))


def _attachment(payload: Any) -> Attachment | None:
    return Attachment.from_dict(payload.get("attachment") if isinstance(payload, dict) else None)


def _buttons(payload: Any) -> tuple[tuple[Button, ...], ...]:
    rows = payload.get("buttons") or [] if isinstance(payload, dict) else []
    return tuple(
        tuple(
            Button(label=str(b.get("label", "")), action="", token=str(b.get("token", "")))
            for b in row
        )
        for row in rows
    )


class _GroupCommit:
    """Rows marked by callers at the same moment go in one transaction (a group commit):
    each caller still returns only after its row's change is committed, and learns whether
    it applied. The relay marks each row ``sending`` before its call and ``sent`` after it;
    with several bots sending, one commit a row was the relay's ceiling (issue 15, bench
    ``relay``)."""

    def __init__(self, run: Callable[[list[int], dt.datetime], Awaitable[set[int]]]) -> None:
        self._run = run
        self._waiting: list[tuple[int, dt.datetime, asyncio.Future[bool]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, row_id: int, now: dt.datetime) -> bool:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a store used from a new event loop starts afresh
            self._loop, self._waiting, self._flushing = loop, [], None
        done: asyncio.Future[bool] = loop.create_future()
        self._waiting.append((row_id, now, done))
        if self._flushing is None or self._flushing.done():
            self._flushing = loop.create_task(self._flush())
        return await done

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # the callers of this moment join the group
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                at = max(now for _, now, _ in group)  # the group's latest "now"
                applied = await self._run([row_id for row_id, _, _ in group], at)
            except BaseException as exc:
                for _, _, done in group:
                    if done.done():
                        continue
                    if isinstance(exc, asyncio.CancelledError):
                        done.cancel()
                    else:
                        done.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            for row_id, _, done in group:
                if not done.done():
                    done.set_result(row_id in applied)


class SqlOutboxStore:
    """:class:`bot.outbox.OutboxStore` on an async SQLAlchemy engine."""

    # ``mark_sending`` / ``mark_sent`` are group commits, one transaction at a time each: the
    # relay need not count them against its share of the connection pool
    coalesced_marks = True

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._pg = engine.dialect.name == "postgresql"
        self._sending: dict[str, _GroupCommit] = {}  # per worker id
        self._sent: dict[str, _GroupCommit] = {}

    # -- bots --------------------------------------------------------------------------

    async def due_bots(
        self, now: dt.datetime, *, channels: Collection[str], limit: int = 1000
    ) -> list[BotKey]:
        if not channels:
            return []
        stmt = (
            select(M.channel, M.school_id)
            .where(M.status == "pending", M.next_attempt_at <= now, M.channel.in_(channels))
            .distinct()
            .order_by(M.channel, M.school_id)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [BotKey(channel, school) for channel, school in rows]

    async def acquire_bots(
        self,
        bots: Sequence[BotKey],
        *,
        worker_id: str,
        now: dt.datetime,
        until: dt.datetime,
    ) -> dict[BotKey, BotLease]:
        wanted = sorted(set(bots))  # one order for every worker: no lock-order deadlock
        held: dict[BotKey, BotLease] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            held.update(await self._take(chunk, worker_id=worker_id, now=now, until=until))
            missing = [b for b in chunk if b not in held]
            if missing:  # never seen, or held by another worker: create rows that are absent
                insert = pg_insert if self._pg else sqlite_insert
                async with self._engine.begin() as conn:
                    await conn.execute(
                        insert(L)
                        .values([{"channel": b.channel, "school_id": b.school_id} for b in missing])
                        .on_conflict_do_nothing(index_elements=["channel", "school_id"])
                    )
                held.update(await self._take(missing, worker_id=worker_id, now=now, until=until))
        return held

    async def _take(
        self, bots: Sequence[BotKey], *, worker_id: str, now: dt.datetime, until: dt.datetime
    ) -> dict[BotKey, BotLease]:
        """One conditional UPDATE: renew ours, take free or lapsed ones."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(L)
                .where(
                    _bots_filter(bots),
                    or_(
                        L.leased_by == worker_id,
                        L.leased_by.is_(None),
                        L.lease_until.is_(None),
                        L.lease_until < now,
                    ),
                )
                .values(leased_by=worker_id, lease_until=until)
                .returning(L.channel, L.school_id, L.lease_until, L.paused_until)
            )
            rows = result.all()
        held: dict[BotKey, BotLease] = {}
        for channel, school, lease_until, paused_until in rows:
            bot = BotKey(channel, school)
            held[bot] = BotLease(
                bot=bot, lease_until=lease_until or until, paused_until=paused_until
            )
        return held

    async def release_bots(self, bots: Sequence[BotKey], *, worker_id: str) -> None:
        wanted = sorted(set(bots))
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            async with self._engine.begin() as conn:
                await conn.execute(
                    update(L)
                    .where(_bots_filter(chunk), L.leased_by == worker_id)
                    .values(leased_by=None, lease_until=None)
                )

    async def pause_bot(self, bot: BotKey, *, until: dt.datetime) -> None:
        insert = pg_insert if self._pg else sqlite_insert
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(L)
                .values(channel=bot.channel, school_id=bot.school_id, paused_until=until)
                .on_conflict_do_nothing(index_elements=["channel", "school_id"])
            )
        async with self._engine.begin() as conn:
            await conn.execute(
                update(L)
                .where(
                    L.channel == bot.channel,
                    L.school_id == bot.school_id,
                    or_(L.paused_until.is_(None), L.paused_until < until),
                )
                .values(paused_until=until)
            )

    async def school_timezone(self, school_id: str) -> str | None:
        async with self._engine.connect() as conn:
            tz = await conn.scalar(select(School.timezone).where(School.id == school_id))
        return str(tz) if tz else None

    # -- rows --------------------------------------------------------------------------

    async def claim(
        self,
        bot: BotKey,
        *,
        worker_id: str,
        now: dt.datetime,
        lease_until: dt.datetime,
        limit: int,
        exclude: Collection[int] = (),
    ) -> list[ClaimedMessage]:
        candidates = (
            select(M.id)
            .where(
                M.channel == bot.channel,
                M.school_id == bot.school_id,
                M.status == "pending",
                M.next_attempt_at <= now,
                _lease_free(now),
                M.sending_at.is_(None),  # in flight, or in doubt until settle_in_doubt runs
            )
            .order_by(M.next_attempt_at, M.id)
            .limit(limit)
        )
        if exclude:
            candidates = candidates.where(M.id.not_in(list(exclude)))
        if self._pg:
            # A materialized CTE runs once. As a plain ``IN (subquery)`` PostgreSQL may rescan
            # the locking subquery per outer row, and then LIMIT no longer bounds the claim.
            picked = (
                candidates.with_for_update(skip_locked=True)
                .cte("picked")
                .prefix_with("MATERIALIZED")
            )
            chosen: Any = select(picked.c.id)
        else:
            chosen = candidates
        stmt = (
            update(M)
            .where(
                M.id.in_(chosen),
                M.status == "pending",
                _lease_free(now),
                M.sending_at.is_(None),
            )
            .values(lease_until=lease_until, leased_by=worker_id)
            .returning(
                M.id,
                M.school_id,
                M.channel,
                M.chat_id,
                M.user_id,
                M.kind,
                M.payload,
                M.dedupe_key,
                M.urgent,
                M.attempts,
                M.next_attempt_at,
                M.expires_at,
                M.lease_until,
                M.in_doubt,
            )
        )
        async with self._engine.begin() as conn:
            rows = (await conn.execute(stmt)).all()
        claimed = [
            ClaimedMessage(
                id=r.id,
                recipient=ConversationKey(
                    school_id=r.school_id, channel=r.channel, chat_id=r.chat_id, user_id=r.user_id
                ),
                kind=r.kind,
                text=str((r.payload or {}).get("text", "")),
                buttons=_buttons(r.payload),
                dedupe_key=r.dedupe_key,
                urgent=bool(r.urgent),
                attempts=r.attempts,
                next_attempt_at=r.next_attempt_at,
                expires_at=r.expires_at,
                lease_until=r.lease_until,
                in_doubt=bool(r.in_doubt),
                locale=str((r.payload or {}).get("locale") or "vi"),
                attachment=_attachment(r.payload),
            )
            for r in rows
        ]
        claimed.sort(key=lambda m: (m.next_attempt_at, m.id))
        return claimed

    async def mark_sending(self, message_id: int, *, worker_id: str, now: dt.datetime) -> bool:
        group = self._sending.get(worker_id)
        if group is None:
            group = self._sending[worker_id] = _GroupCommit(
                lambda ids, at: self._mark(ids, worker_id, {"sending_at": at})
            )
        return await group(message_id, now)

    async def mark_sent(self, message_id: int, *, worker_id: str, now: dt.datetime) -> bool:
        group = self._sent.get(worker_id)
        if group is None:
            # leased_by stays: it records which worker sent the row.
            group = self._sent[worker_id] = _GroupCommit(
                lambda ids, at: self._mark(
                    ids,
                    worker_id,
                    {"status": "sent", "sent_at": at, "lease_until": None, "sending_at": None},
                )
            )
        return await group(message_id, now)

    async def _mark(self, ids: list[int], worker_id: str, values: dict[str, Any]) -> set[int]:
        """One statement for a group's rows still leased by ``worker_id``; the ids changed."""
        stmt = (
            update(M)
            .where(M.id.in_(ids), M.status == "pending", M.leased_by == worker_id)
            .values(**values)
            .returning(M.id)
        )
        async with self._engine.begin() as conn:
            return {int(row_id) for row_id in (await conn.execute(stmt)).scalars()}

    async def settle_in_doubt(self, now: dt.datetime) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(M)
                .where(M.status == "pending", M.sending_at.is_not(None), _lease_free(now))
                .values(
                    sending_at=None,
                    in_doubt=True,
                    lease_until=None,
                    leased_by=None,
                    next_attempt_at=now,
                    last_error="in doubt: its worker stopped while sending it",
                )
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def reschedule(
        self,
        message_id: int,
        *,
        worker_id: str,
        at: dt.datetime,
        error: str,
        count_attempt: bool,
    ) -> bool:
        return await self._change(
            update(M)
            .where(*_mine(message_id, worker_id))
            .values(
                attempts=M.attempts + (1 if count_attempt else 0),
                next_attempt_at=at,
                last_error=error[:200],
                lease_until=None,
                leased_by=None,
                sending_at=None,
            )
        )

    async def release(
        self, message_ids: Sequence[int], *, worker_id: str, at: dt.datetime | None = None
    ) -> int:
        if not message_ids:
            return 0
        values: dict[str, Any] = {"lease_until": None, "leased_by": None}
        if at is not None:
            values["next_attempt_at"] = at
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(M)
                .where(M.id.in_(list(message_ids)), M.status == "pending", M.leased_by == worker_id)
                .values(**values)
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def mark_failed(
        self,
        message_id: int,
        *,
        worker_id: str,
        now: dt.datetime,
        reason: str,
        unreachable: bool,
    ) -> bool:
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    update(M)
                    .where(*_mine(message_id, worker_id))
                    .values(
                        status="failed", last_error=reason[:200], lease_until=None, sending_at=None
                    )
                    .returning(M.school_id, M.channel, M.user_id)
                )
            ).first()
            if row is None:
                return False
            if unreachable:
                await conn.execute(
                    update(ChatLink)
                    .where(
                        ChatLink.school_id == row.school_id,
                        ChatLink.channel == row.channel,
                        ChatLink.user_id == row.user_id,
                        ChatLink.active.is_(True),
                    )
                    .values(active=False, unreachable_at=now)
                )
        return True

    async def mark_expired(self, message_id: int, *, worker_id: str, now: dt.datetime) -> bool:
        return await self._change(
            update(M)
            .where(*_mine(message_id, worker_id))
            .values(status="expired", lease_until=None, sending_at=None)
        )

    async def expire_due(self, now: dt.datetime) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(M)
                .where(
                    M.status == "pending",
                    M.expires_at.is_not(None),
                    M.expires_at <= now,
                    _lease_free(now),
                    M.sending_at.is_(None),
                )
                .values(status="expired", lease_until=None, leased_by=None)
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def stats(self, now: dt.datetime) -> list[SchoolQueueStats]:
        stmt = select(M.school_id, M.status, func.count(), func.min(M.created_at)).group_by(
            M.school_id, M.status
        )
        doubts = select(M.school_id, func.count()).where(M.in_doubt.is_(True)).group_by(M.school_id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
            in_doubt = {school: int(n) for school, n in (await conn.execute(doubts)).all()}
        per: dict[str, dict[str, Any]] = {}
        for school in in_doubt:
            per.setdefault(school, {"oldest": None})
        for school, status, count, oldest in rows:
            entry = per.setdefault(school, {"oldest": None})
            entry[status] = int(count)
            if status == "pending":
                entry["oldest"] = oldest
        out: list[SchoolQueueStats] = []
        for school in sorted(per):
            entry = per[school]
            oldest = entry["oldest"]
            age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
            out.append(
                SchoolQueueStats(
                    school_id=school,
                    pending=entry.get("pending", 0),
                    sent=entry.get("sent", 0),
                    failed=entry.get("failed", 0),
                    expired=entry.get("expired", 0),
                    oldest_pending_seconds=age,
                    in_doubt=in_doubt.get(school, 0),
                )
            )
        return out

    async def _change(self, stmt: Any) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(stmt)
        return bool(getattr(result, "rowcount", 0))
