"""Turns in flight for one bot: a chat's turns run in arrival order (one lane per chat user),
different chats in parallel, at most ``limit`` at once; at shutdown they get a grace period,
then the rest are cancelled. Shared by every channel that receives pushes or polls."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

log = logging.getLogger(__name__)


class TurnLanes:
    def __init__(self, *, limit: int | None = None, name: str = "turn") -> None:
        self._tails: dict[Hashable, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(limit) if limit else None
        self._name = name

    @property
    def in_flight(self) -> int:
        """Turns submitted and not yet finished (running or waiting)."""
        return len(self._tasks)

    async def run(self, lane: Hashable, work: Callable[[], Awaitable[None]]) -> None:
        """:meth:`submit`, and wait for it (the inbox runs a stored event to its end)."""
        await self.submit(lane, work)

    def submit(self, lane: Hashable, work: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Run ``work`` after the lane's previous turn; a failure is logged, never raised."""
        task = asyncio.create_task(self._run_after(self._tails.get(lane), work))
        self._tails[lane] = task
        self._tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            if self._tails.get(lane) is t:
                del self._tails[lane]

        task.add_done_callback(done)
        return task

    async def _run_after(
        self, previous: asyncio.Task[None] | None, work: Callable[[], Awaitable[None]]
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        try:
            if self._slots is None:
                await work()
            else:
                async with self._slots:
                    await work()
        except Exception:
            log.exception("%s failed", self._name)

    async def drain(self, seconds: float, force: asyncio.Event | None = None) -> None:
        """Let turns in flight finish for up to ``seconds`` (or until ``force``), then cancel
        the rest."""
        pending = set(self._tasks)
        if pending:
            log.info("waiting for %d %s(s) in flight", len(pending), self._name)
            waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(asyncio.wait(pending))}
            if force is not None:
                waiters.add(asyncio.ensure_future(force.wait()))
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
        left = set(self._tasks)
        for task in left:
            task.cancel()
        if left:
            log.warning("cancelled %d %s(s) still running at shutdown", len(left), self._name)
            await asyncio.wait(left, timeout=1.0)
