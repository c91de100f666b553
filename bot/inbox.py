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
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.ports import Clock

log = logging.getLogger(__name__)

LEASE = dt.timedelta(seconds=30)  # a lane's owner renews it after every turn
POLL_SECONDS = 1.0  # rows left by a process that died, or put by another process
MAX_LANES = 64  # lanes drained at once by one process (the router caps turns itself)


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
        self, *, hook: str, lane: str, event_id: str, body: str, now: dt.datetime
    ) -> bool:
        """Store an event; False when the same event id of the hook is already stored."""
        ...

    async def free_lanes(
        self, now: dt.datetime, *, hooks: Collection[str], limit: int
    ) -> list[tuple[str, str]]:
        """(hook, lane) of ``hooks`` with rows and no live lease, oldest first."""
        ...

    async def take(
        self, hook: str, lane: str, *, holder: str, now: dt.datetime, until: dt.datetime
    ) -> bool:
        """Take or renew the lane's lease; False when another holder's lease is live."""
        ...

    async def next_rows(self, hook: str, lane: str, *, limit: int) -> list[Queued]: ...

    async def done(self, row_id: int) -> None: ...

    async def give_back(self, hook: str, lane: str, *, holder: str) -> None: ...

    async def has_rows(self, hook: str, lane: str) -> bool: ...


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
        """Store one event (a redelivered one is stored once) and wake the drain."""
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        stored = await self._store.put(
            hook=hook, lane=lane, event_id=event_id, body=body, now=self._clock.now()
        )
        if not stored:
            log.info("webhook event delivered again on %s; stored once", hook)
        self._wake.set()

    async def run(self, runner: Runner, stop: asyncio.Event) -> None:
        """Drain lanes until ``stop``; then let the turns in flight finish."""
        self._runner = runner
        try:
            while not stop.is_set():
                try:
                    await self._take_lanes()
                except Exception:  # the database is away: try again at the next poll
                    log.exception("the inbox could not look for work")
                self._wake.clear()
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
        for hook, lane in await self._store.free_lanes(now, hooks=served, limit=room):
            key = (hook, lane)
            if key in self._active:
                continue
            if await self._store.take(
                hook, lane, holder=self.holder, now=now, until=now + self._lease
            ):
                self._active[key] = asyncio.create_task(self._drain(hook, lane))

    async def _drain(self, hook: str, lane: str) -> None:
        assert self._runner is not None
        try:
            while rows := await self._store.next_rows(hook, lane, limit=10):
                await self._run_rows(rows)
                now = self._clock.now()
                if not await self._store.take(
                    hook, lane, holder=self.holder, now=now, until=now + self._lease
                ):
                    log.warning("an inbox lane was taken over by another process")
                    return
        except Exception:
            log.exception("an inbox lane stopped; its rows wait for the next pass")
        finally:
            with contextlib.suppress(Exception):
                await self._store.give_back(hook, lane, holder=self.holder)
            self._active.pop((hook, lane), None)
            # a row put after the last read and before the give-back: pick it up now
            with contextlib.suppress(Exception):
                if await self._store.has_rows(hook, lane):
                    self._wake.set()

    async def _run_rows(self, rows: Sequence[Queued]) -> None:
        assert self._runner is not None
        for row in rows:
            try:
                event = json.loads(row.body)
            except ValueError:
                log.error("an unreadable inbox row was dropped")
            else:
                try:
                    await self._runner.run(row.hook, event)
                except Exception:  # the turn answered politely or failed after its commit
                    log.exception("a turn from the inbox failed")
            await self._store.done(row.id)
