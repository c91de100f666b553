"""The digest scheduler: time triggers only. It creates rows; it never sends.

Every ``tick_seconds`` (default: each minute, on the minute) it runs one
:meth:`bot.notifications.Notifier.run_once`: change detection for each school, then the
digests due now. When it queued anything it calls ``wake()`` so the outbox relay does not
wait for its next poll.

Warning:
    Safe to run in several processes at once and to run twice for the same minute: all it
    writes is guarded by unique keys (see ``bot.notifications``). After downtime the first
    tick makes each parent's missed digest if its slot is at most ``DigestPolicy.grace`` old;
    older periods are skipped (their items go into the next digest).

APScheduler 3 (``AsyncIOScheduler``) is used only as a timer; jobs live in memory, nothing
is stored in its job stores, so there is no state to reconcile between workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.notifications import Notifier, RunResult
from bot.ports import Clock

log = logging.getLogger(__name__)

JOB_ID = "lienlac-digests"


class DigestScheduler:
    def __init__(
        self,
        notifier: Notifier,
        clock: Clock,
        *,
        wake: Callable[[], None] | None = None,
        tick_seconds: int = 60,
    ) -> None:
        if tick_seconds < 1:
            raise ValueError("tick_seconds must be at least 1")
        self._notifier = notifier
        self._clock = clock
        self._wake = wake
        self._tick = tick_seconds
        self._scheduler: AsyncIOScheduler | None = None
        self._in_flight: asyncio.Task[object] | None = None
        self._closing = False

    async def run_once(self, now: dt.datetime | None = None) -> RunResult:
        """One tick at ``now`` (the clock's time if not given). Tests call this directly."""
        result = await self._notifier.run_once(now or self._clock.now())
        if (result.digests or result.alerts) and self._wake is not None:
            self._wake()
        if result.items or result.digests or result.alerts:
            log.info(
                "scheduler tick: %d items, %d alerts, %d digests queued",
                result.items,
                result.alerts,
                result.digests,
            )
        return result

    async def _job(self) -> None:
        if self._closing:  # handed to the loop just before aclose(): the database is going
            return
        self._in_flight = asyncio.current_task()
        try:
            await self.run_once()
        except Exception:  # a bad tick must not stop the timer; the next one retries
            log.exception("digest scheduler tick failed")
        except asyncio.CancelledError:  # the process is stopping; the next start catches up
            log.info("digest scheduler tick cut short by shutdown")
        finally:
            self._in_flight = None

    def start(self) -> None:
        """Start ticking on the running event loop (call from inside it)."""
        if self._scheduler is not None:
            return
        scheduler = AsyncIOScheduler(timezone=dt.UTC)
        start = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        scheduler.add_job(
            self._job,
            IntervalTrigger(seconds=self._tick, start_date=start, timezone=dt.UTC),
            id=JOB_ID,
            max_instances=1,
            coalesce=True,  # after a pause, one catch-up tick, not one per missed minute
            misfire_grace_time=None,
            next_run_time=dt.datetime.now(dt.UTC),  # a first tick at once: catch up after downtime
        )
        scheduler.start()
        self._scheduler = scheduler

    def shutdown(self) -> None:
        """Stop the timer; a tick in flight goes on (see :meth:`aclose`)."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    async def aclose(self, grace: float = 10.0) -> None:
        """Stop the timer and let a tick in flight finish (it only writes rows, each in its
        own transaction) before the database goes away; cut short after ``grace`` s.
        APScheduler's own shutdown cancels running jobs, so it comes last."""
        self._closing = True
        if self._scheduler is not None:
            self._scheduler.pause()
        task = self._in_flight
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), grace)
            except TimeoutError:
                log.warning("digest scheduler tick still running after %.0f s; cut short", grace)
        self.shutdown()
        if task is not None and not task.done():
            with contextlib.suppress(BaseException):
                await task

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running
