"""The webhook inbox (bot.inbox) on SQLite and PostgreSQL: stored once, one holder per lane,
a lane's events run in order and once, even with two workers (two engines, as two processes)
draining the same table, and a dead worker's lane is taken over once its lease lapses."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import SystemClock
from bot.inbox import Inbox
from storage.engine import create_engine
from storage.inbox_store import SqlInboxStore
from storage.migrate import upgrade

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
HOOK = "telegram/demo"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(database_url)
    await upgrade(eng)
    yield eng
    await eng.dispose()


async def test_an_event_is_stored_once_and_a_lane_has_one_holder(engine: AsyncEngine) -> None:
    store = SqlInboxStore(engine)
    # stored, and the lane taken by the process that stored it
    assert await put(store, "1:1", "7", holder="a") == (True, True)
    assert await put(store, "1:1", "7", holder="a") == (False, True)  # a redelivery
    assert await put(store, "2:2", "8", holder="a") == (True, True)
    assert await put(store, "2:2", "9", holder="b") == (True, False)  # a holds the lane
    assert await store.give_back(HOOK, "2:2", holder="a")  # rows are waiting
    assert await put(store, "3", "7", holder="a", hook="zalo-bot/other") == (True, True)
    assert await store.waiting() == 4
    for hook, lane in ((HOOK, "1:1"), ("zalo-bot/other", "3")):
        await store.give_back(hook, lane, holder="a")

    # only the routes this process serves, oldest first
    assert await store.free_lanes(NOW, hooks=[HOOK], holder="c", limit=10) == [
        (HOOK, "1:1"),
        (HOOK, "2:2"),
    ]

    later = NOW + dt.timedelta(seconds=30)
    assert await store.take(HOOK, "1:1", holder="a", now=NOW, until=later)
    assert await store.take(HOOK, "1:1", holder="a", now=NOW, until=later)  # renewed
    assert not await store.take(HOOK, "1:1", holder="b", now=NOW, until=later)
    assert await store.free_lanes(NOW, hooks=[HOOK], holder="c", limit=10) == [(HOOK, "2:2")]

    await store.give_back(HOOK, "1:1", holder="b")  # not b's: nothing changes
    assert not await store.take(HOOK, "1:1", holder="b", now=NOW, until=later)
    # a lapsed lease is anyone's
    assert await store.take(
        HOOK,
        "1:1",
        holder="b",
        now=later + dt.timedelta(seconds=1),
        until=later + dt.timedelta(minutes=1),
    )

    (row,) = await store.next_rows(HOOK, "1:1", limit=10)
    assert (row.hook, row.lane, row.body) == (HOOK, "1:1", "{}")
    assert await store.finish(row, holder="a", now=NOW, until=later, limit=10) is None  # b's
    assert await store.finish(row, holder="b", now=NOW, until=later, limit=10) == []
    assert not await store.give_back(HOOK, "1:1", holder="b")  # nothing left
    assert await store.take(HOOK, "1:1", holder="a", now=NOW, until=later)

    first, second = await store.next_rows(HOOK, "2:2", limit=10)
    assert await store.take(HOOK, "2:2", holder="a", now=NOW, until=later)
    assert await store.finish(first, holder="a", now=NOW, until=later, limit=10) == [second]


async def put(
    store: SqlInboxStore, lane: str, event_id: str, *, holder: str, hook: str = HOOK
) -> tuple[bool, bool]:
    until = NOW + dt.timedelta(seconds=30)
    return await store.put(
        hook=hook, lane=lane, event_id=event_id, body="{}", holder=holder, now=NOW, until=until
    )


class Recorder:
    """The turns as the inbox runs them: per lane, in order, and never two at once."""

    def __init__(self, hooks: list[str], *, fail_every: int = 0) -> None:
        self._hooks = hooks
        self.seen: dict[str, list[int]] = defaultdict(list)
        self.running: set[str] = set()
        self.overlaps = 0
        self.by_worker: dict[str, int] = defaultdict(int)
        self._fail_every = fail_every

    def for_worker(self, name: str) -> Any:
        recorder = self

        class Runner:
            def names(self) -> list[str]:
                return recorder._hooks

            async def run(self, hook: str, event: Any) -> None:
                lane = f"{hook}|{event['lane']}"
                if lane in recorder.running:
                    recorder.overlaps += 1
                recorder.running.add(lane)
                try:
                    await asyncio.sleep(random.random() / 200)
                    recorder.seen[lane].append(event["n"])
                    recorder.by_worker[name] += 1
                    if recorder._fail_every and event["n"] % recorder._fail_every == 0:
                        raise RuntimeError("a turn that fails after its commit")
                finally:
                    recorder.running.discard(lane)

        return Runner()


async def _until_empty(store: SqlInboxStore, seconds: float = 30.0) -> None:
    async with asyncio.timeout(seconds):
        while await store.waiting():  # noqa: ASYNC110 (another engine's rows: no event to wait on)
            await asyncio.sleep(0.05)


async def test_two_workers_run_each_lane_in_order_once(database_url: str) -> None:
    engines = [create_engine(database_url) for _ in range(2)]
    await upgrade(engines[0])
    try:
        inboxes = [Inbox(SqlInboxStore(e), SystemClock(), poll_seconds=0.05) for e in engines]
        recorder = Recorder([HOOK], fail_every=7)
        stop = asyncio.Event()
        workers = [
            asyncio.create_task(inbox.run(recorder.for_worker(f"w{i}"), stop))
            for i, inbox in enumerate(inboxes)
        ]
        lanes, per_lane = 12, 8
        for n in range(per_lane):  # arrivals interleave across chats, as they do
            for lane in range(lanes):
                event = {"lane": lane, "n": n}
                await inboxes[(n + lane) % 2].put(HOOK, str(lane), f"{lane}-{n}", event)
        await _until_empty(SqlInboxStore(engines[0]))
        stop.set()
        await asyncio.gather(*workers)
    finally:
        for e in engines:
            await e.dispose()
    assert recorder.overlaps == 0
    assert {lane: ns for lane, ns in recorder.seen.items()} == {
        f"{HOOK}|{lane}": list(range(per_lane)) for lane in range(lanes)
    }
    assert sum(recorder.by_worker.values()) == lanes * per_lane


async def test_a_dead_workers_lane_is_taken_over_when_its_lease_lapses(
    engine: AsyncEngine,
) -> None:
    store = SqlInboxStore(engine)
    clock = SystemClock()
    now = clock.now()
    # a worker stored an event, took the lane and died without giving it back
    assert await store.put(
        hook=HOOK,
        lane="5:5",
        event_id="1",
        body='{"lane": 5, "n": 0}',
        holder="dead",
        now=now,
        until=now + dt.timedelta(seconds=0.6),
    ) == (True, True)
    recorder = Recorder([HOOK])
    inbox = Inbox(store, clock, poll_seconds=0.05)
    stop = asyncio.Event()
    worker = asyncio.create_task(inbox.run(recorder.for_worker("live"), stop))
    await asyncio.sleep(0.3)
    assert recorder.seen == {}  # the lease is still live
    await _until_empty(store, 10)
    stop.set()
    await worker
    assert recorder.seen == {f"{HOOK}|5": [0]}


async def test_rows_of_routes_another_process_serves_are_left_alone(engine: AsyncEngine) -> None:
    store = SqlInboxStore(engine)
    await put(store, "1", "1", holder="x", hook="zalo-bot/other")
    await store.give_back("zalo-bot/other", "1", holder="x")
    recorder = Recorder([HOOK])
    stop = asyncio.Event()
    worker = asyncio.create_task(
        Inbox(store, SystemClock(), poll_seconds=0.05).run(recorder.for_worker("w"), stop)
    )
    await asyncio.sleep(0.3)
    stop.set()
    await worker
    assert recorder.seen == {} and await store.waiting() == 1
