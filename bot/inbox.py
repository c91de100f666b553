"""The durable inbox of the webhook server: a webhook event is written to the database before
the platform gets its 200, and turns run from there, one chat at a time across every process.

Why (issue 15, "scaleout"; the Trust rule that a crash never loses a request)
    Answering 200 first and running the turn in memory loses the turn when the process dies
    in between, and behind a load balancer two processes can take two messages of one chat at
    once and answer them in the wrong order. Here::

        POST /{platform}/{school}  -> checks (bot.channels.webhook) -> INSERT inbox_event -> 200
        any process's Inbox.run:  lanes with rows and no live lease
                                  -> take the lane's lease (one conditional upsert)
                                  -> its rows in id order: run the turn, delete the row
                                  -> give the lease back

    A *lane* is what must keep its order: one chat's user on one platform of one school. Rows
    are numbered by the database as they arrive, and the platform's next event of a chat is
    only sent after the 200 for the previous one, so id order is arrival order. The lane's
    lease (table ``inbox_lease``) is held by one process at a time; a process that dies stops
    renewing it and, once it lapses, any other process (or the same one restarted) goes on
    with the rows left. A row whose turn committed just before a crash runs again and is
    dropped by the turn's own record of the event id (``seen_event``): nothing runs twice.

The database is the only shared memory: no process remembers anything another would need.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Protocol

from bot.ports import Clock

log = logging.getLogger(__name__)

LEASE = dt.timedelta(seconds=30)  # a lane's owner renews it after every turn
POLL_SECONDS = 1.0  # rows left by a process that died, or put by another process
MAX_LANES = 64  # lanes drained at once by one process (the router caps turns itself)
BATCH = 10  # a lane's rows read at once


@dataclass(frozen=True, slots=True)
class Queued:
    """One stored event: ``hook`` is ``platform/school``, ``body`` the event as received."""

    id: int
    hook: str
    lane: str
    body: str


class InboxStore(Protocol):
    """The SQL side (``storage.inbox_store.SqlInboxStore``); each method is one transaction."""

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
        """Store an event and try to take its lane: (stored, not a redelivery; lane taken)."""
        ...

    async def free_lanes(
        self, now: dt.datetime, *, hooks: Collection[str], holder: str, limit: int
    ) -> list[tuple[str, str]]:
        """(hook, lane) of ``hooks`` with rows and no live lease but ``holder``'s, oldest
        first."""
        ...

    async def take(
        self, hook: str, lane: str, *, holder: str, now: dt.datetime, until: dt.datetime
    ) -> bool:
        """Take or renew the lane's lease; False when another holder's lease is live."""
        ...

    async def next_rows(self, hook: str, lane: str, *, limit: int) -> list[Queued]: ...

    async def done(self, row_id: int) -> None: ...

    async def finish(
        self, row: Queued, *, holder: str, now: dt.datetime, until: dt.datetime, limit: int
    ) -> list[Queued] | None:
        """Delete the row whose turn ran, renew the lane, and return its next rows; None when
        the lease went to another holder meanwhile."""
        ...

    async def give_back(self, hook: str, lane: str, *, holder: str) -> bool:
        """Give the lane's lease back; True when rows were put meanwhile."""
        ...


class Runner(Protocol):
    """The webhook server's routes as the inbox sees them."""

    def names(self) -> list[str]:
        """The hooks (``platform/school``) this process serves: it takes only their lanes."""
        ...

    async def run(self, hook: str, event: Any) -> None:
        """One stored event's turn, to its end."""
        ...


class Inbox:
    """Puts events for the webhook pipeline and drains lanes in this process."""

    def __init__(
        self,
        store: InboxStore,
        clock: Clock,
        *,
        lease: dt.timedelta = LEASE,
        poll_seconds: float = POLL_SECONDS,
        max_lanes: int = MAX_LANES,
    ) -> None:
        self._store = store
        self._clock = clock
        self._lease = lease
        self._poll = poll_seconds
        self._max_lanes = max_lanes
        self.holder = f"inbox-{secrets.token_hex(6)}"
        self._wake = asyncio.Event()
        self._active: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._runner: Runner | None = None

    async def put(self, hook: str, lane: str, event_id: str, event: Any) -> None:
        """Store one event (a redelivered one is stored once); when its lane is free, this
        process takes it and runs the turn at once."""
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        now = self._clock.now()
        stored, taken = await self._store.put(
            hook=hook,
            lane=lane,
            event_id=event_id,
            body=body,
            holder=self.holder,
            now=now,
            until=now + self._lease,
        )
        if not stored:
            log.info("webhook event delivered again on %s; stored once", hook)
        if taken and self._runner is not None and (hook, lane) not in self._active:
            self._start(hook, lane)
        elif taken:
            self._wake.set()  # not draining yet, or the lane's drain is giving it back

    async def run(self, runner: Runner, stop: asyncio.Event) -> None:
        """Drain lanes until ``stop``; then let the turns in flight finish."""
        self._runner = runner
        try:
            while not stop.is_set():
                self._wake.clear()  # before looking: a put during the look wakes the next one
                try:
                    await self._take_lanes()
                except Exception:  # the database is away: try again at the next poll
                    log.exception("the inbox could not look for work")
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll)
        finally:
            if self._active:
                await asyncio.gather(*self._active.values(), return_exceptions=True)

    async def _take_lanes(self) -> None:
        room = self._max_lanes - len(self._active)
        if room <= 0:
            return
        now = self._clock.now()
        assert self._runner is not None
        served = self._runner.names()
        if not served:
            return
        for hook, lane in await self._store.free_lanes(
            now, hooks=served, holder=self.holder, limit=room
        ):
            key = (hook, lane)
            if key in self._active:
                continue
            if await self._store.take(
                hook, lane, holder=self.holder, now=now, until=now + self._lease
            ):
                self._start(hook, lane)

    def _start(self, hook: str, lane: str) -> None:
        self._active[(hook, lane)] = asyncio.create_task(self._drain(hook, lane))

    async def _drain(self, hook: str, lane: str) -> None:
        assert self._runner is not None
        more = False
        try:
            rows: list[Queued] | None = await self._store.next_rows(hook, lane, limit=BATCH)
            while rows:
                for row in rows[:-1]:
                    await self._run(row)
                    await self._store.done(row.id)
                await self._run(rows[-1])
                now = self._clock.now()
                rows = await self._store.finish(
                    rows[-1], holder=self.holder, now=now, until=now + self._lease, limit=BATCH
                )
                if rows is None:
                    log.warning("an inbox lane was taken over by another process")
                    return
        except Exception:
            log.exception("an inbox lane stopped; its rows wait for the next pass")
        finally:
            with contextlib.suppress(Exception):
                more = await self._store.give_back(hook, lane, holder=self.holder)
            self._active.pop((hook, lane), None)
            if more:  # a row put after the last read and before the give-back
                self._wake.set()

    async def _run(self, row: Queued) -> None:
        assert self._runner is not None
        try:
            event = json.loads(row.body)
        except ValueError:
            log.error("an unreadable inbox row was dropped")
            return
        try:
            await self._runner.run(row.hook, event)
        except Exception:  # the turn answered politely, or failed after its commit
            log.exception("a turn from the inbox failed")
