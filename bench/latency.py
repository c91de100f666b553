"""``latency``: the real router in process (the memory channel), verified parents asking mixed
questions (scores, timetable, fees, attendance).

Two phases, each against the same harness with a no-op handler as the same-run baseline:

* **capacity**: every chat asks its questions back to back, all at once (a closed loop): how
  many replies a second one process gives;
* **latency at a load**: questions arrive at ``rate`` per second (Poisson) from ``chats``
  chats (an open loop, as parents do), and each reply time is measured. A closed loop with
  500 chats would measure only the queue (500 / capacity), not a reply.

Target (issue 15): p99 ≤ 50 ms on SQLite, ≤ 100 ms on PostgreSQL, 500 chats.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

from bench.common import Figure, mean, percentile
from bench.setup import bench_app, link_parents
from bot.messages import ConversationKey, Incoming, Reply

QUESTIONS = ("điểm", "tkb", "học phí", "chuyên cần", "diem toan", "tkb thứ 3", "lịch học ngày mai")
TARGET_P99_MS = {"sqlite": 50.0, "postgres": 100.0}

Handle = Callable[[Incoming], Awaitable[list[Reply]]]


def _ask(key: ConversationKey, n: int) -> Incoming:
    return Incoming(key=key, text=QUESTIONS[n % len(QUESTIONS)], locale_hint="vi")


async def capacity(handle: Handle, keys: list[ConversationKey], rounds: int) -> float:
    """Replies per second with every chat asking back to back."""
    count = 0

    async def chat(index: int, key: ConversationKey) -> None:
        nonlocal count
        for turn in range(rounds):
            assert await handle(_ask(key, index + turn))
            count += 1

    began = time.perf_counter()
    await asyncio.gather(*(chat(i, k) for i, k in enumerate(keys)))
    return count / (time.perf_counter() - began)


async def at_load(
    handle: Handle, keys: list[ConversationKey], *, rate: float, total: int, seed: int = 15
) -> list[float]:
    """Reply times (ms) of ``total`` questions arriving at ``rate``/s from random chats; one
    chat's questions keep their order (a parent waits for the answer before the next)."""
    rng = random.Random(seed)
    lanes: dict[ConversationKey, asyncio.Lock] = {k: asyncio.Lock() for k in keys}
    times: list[float] = []

    async def one(n: int, key: ConversationKey) -> None:
        async with lanes[key]:
            began = time.perf_counter()
            assert await handle(_ask(key, n))
            times.append((time.perf_counter() - began) * 1000)

    tasks = []
    for n in range(total):
        tasks.append(asyncio.create_task(one(n, rng.choice(keys))))
        await asyncio.sleep(rng.expovariate(rate))
    await asyncio.gather(*tasks)
    return times


async def _noop(incoming: Incoming) -> list[Reply]:
    await asyncio.sleep(0)
    return [Reply(text="ok")]


async def measure(kind: str, *, chats: int, rounds: int, rate: float, total: int) -> list[Figure]:
    keys = [
        ConversationKey(school_id="demo", channel="memory", chat_id=f"b{i}", user_id=f"b{i}")
        for i in range(chats)
    ]
    base_capacity = await capacity(_noop, keys, rounds)
    base_ms = await at_load(_noop, keys, rate=rate, total=total)
    async with bench_app(kind) as app:
        await link_parents(app, keys)
        await capacity(app.router.handle, keys[: min(20, chats)], 1)  # warm caches and pools
        replies_per_second = await capacity(app.router.handle, keys, rounds)
        ms = await at_load(app.router.handle, keys, rate=rate, total=total)
    target = TARGET_P99_MS[kind]
    name = f"latency/{kind}"
    load = f"{rate:g}/s from {chats} chats"
    p99 = percentile(ms, 99)
    return [
        Figure(
            bench=name,
            measure=f"capacity, {chats} chats",
            value=replies_per_second,
            unit="replies/s",
            baseline=base_capacity,
        ),
        Figure(bench=name, measure=f"p50 at {load}", value=percentile(ms, 50), unit="ms"),
        Figure(bench=name, measure=f"p95 at {load}", value=percentile(ms, 95), unit="ms"),
        Figure(
            bench=name,
            measure=f"p99 at {load}",
            value=p99,
            unit="ms",
            baseline=percentile(base_ms, 99),
            target=f"≤ {target:g} ms",
            met=p99 <= target,
        ),
        Figure(bench=name, measure=f"mean at {load}", value=mean(ms), unit="ms"),
    ]
