"""The work a bot process does besides answering: draining the outbox, the digest scheduler
(change detection, digests, instant alerts), the leave-request jobs (write retries,
reminders, escalation and expiry), the class polls' one reminder (``bot.polls``) and the
retention of relayed messages. Started next to a channel by ``run_bot.py``; stops when
``stop`` is set."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable

from bot.absence_jobs import AbsenceJobs
from bot.bootstrap import App
from bot.outbox import OutboxRelay
from bot.polls import PollJobs
from bot.thread_jobs import ThreadJobs

log = logging.getLogger(__name__)

ABSENCE_JOBS_INTERVAL = 60.0  # seconds between passes; reminders are hours apart


async def run_background(
    app: App,
    relay: OutboxRelay,
    stop: asyncio.Event,
    *,
    jobs_interval: float = ABSENCE_JOBS_INTERVAL,
    jobs: bool = True,
) -> None:
    """Drain the outbox with ``relay`` until ``stop``; with ``jobs`` (once per process, next
    to its first relay) also the digest scheduler and the leave-request jobs."""
    if not jobs:
        await relay.run(stop)
        return
    absence_jobs = AbsenceJobs(app.uow_factory, app.services)
    poll_jobs = PollJobs(app.uow_factory, app.services)
    thread_jobs = ThreadJobs(app.sessions, app.services)
    extra: list[Awaitable[None]] = []
    if app.settings.metrics.listen:
        from bot.channels.ops_http import serve_ops

        token = app.settings.metrics.token
        secret = token.get_secret_value() if token is not None else None
        extra.append(serve_ops(app.metrics, app.settings.metrics.listen, stop, secret))

    async def absence_loop() -> None:
        while not stop.is_set():
            try:
                if await absence_jobs.run_once():
                    relay.wake()
            except Exception:  # a bad pass must not stop the next one
                log.exception("absence jobs pass failed")
            try:
                if await poll_jobs.run_once():  # only queues: the relay sends
                    relay.wake()
            except Exception:
                log.exception("poll jobs pass failed")
            try:
                await thread_jobs.run_once()  # relayed messages past retention (issue 17)
            except Exception:
                log.exception("message retention pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), jobs_interval)

    scheduler = None
    if app.settings.digest.enabled:
        from bot.bootstrap import build_scheduler

        scheduler = build_scheduler(app, wake=relay.wake)  # digests and instant alerts
        scheduler.start()
    try:
        # relay.run gives its leases back on the way out
        await asyncio.gather(relay.run(stop), absence_loop(), *extra)
    finally:
        if scheduler is not None:
            await scheduler.aclose()
