"""``latency``: reply times of mixed questions from many concurrent chats, through the real
router in process (the memory channel), against the same harness with a no-op handler.

Target (issue 15): p99 ≤ 50 ms on SQLite, ≤ 100 ms on PostgreSQL, with 500 concurrent chats.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from bench.common import Figure, mean, percentile
from bench.setup import bench_app, link_parents
from bot.messages import ConversationKey, Incoming, Reply

QUESTIONS = ("điểm", "tkb", "học phí", "chuyên cần", "diem toan", "tkb thứ 3", "lịch học ngày mai")
TARGET_P99_MS = {"sqlite": 50.0, "postgres": 100.0}

Handle = Callable[[Incoming], Awaitable[list[Reply]]]


async def _drive(
    handle: Handle, keys: list[ConversationKey], rounds: int
) -> tuple[list[float], float]:
    """Every chat asks ``rounds`` questions one after another, all chats at once. Returns the
    reply times (s) and the wall time."""
    times: list[float] = []

    async def chat(index: int, key: ConversationKey) -> None:
        for turn in range(rounds):
            text = QUESTIONS[(index + turn) % len(QUESTIONS)]
            began = time.perf_counter()
            replies = await handle(Incoming(key=key, text=text, locale_hint="vi"))
            times.append(time.perf_counter() - began)
            assert replies, text

    began = time.perf_counter()
    await asyncio.gather(*(chat(i, k) for i, k in enumerate(keys)))
    return times, time.perf_counter() - began


async def _noop(incoming: Incoming) -> list[Reply]:
    await asyncio.sleep(0)
    return [Reply(text="ok")]


async def measure(kind: str, *, chats: int, rounds: int) -> list[Figure]:
    keys = [
        ConversationKey(school_id="demo", channel="memory", chat_id=f"b{i}", user_id=f"b{i}")
        for i in range(chats)
    ]
    base_times, _ = await _drive(_noop, keys, rounds)
    async with bench_app(kind) as app:
        await link_parents(app, keys)
        await _drive(app.router.handle, keys[: min(20, chats)], 1)  # warm caches and pools
        times, wall = await _drive(app.router.handle, keys, rounds)
    ms = [t * 1000 for t in times]
    base_ms = [t * 1000 for t in base_times]
    target = TARGET_P99_MS[kind]
    name = f"latency/{kind}"
    p99 = percentile(ms, 99)
    return [
        Figure(bench=name, measure=f"p50, {chats} chats", value=percentile(ms, 50), unit="ms"),
        Figure(bench=name, measure=f"p95, {chats} chats", value=percentile(ms, 95), unit="ms"),
        Figure(
            bench=name,
            measure=f"p99, {chats} chats",
            value=p99,
            unit="ms",
            baseline=percentile(base_ms, 99),
            target=f"≤ {target:g} ms",
            met=p99 <= target,
        ),
        Figure(bench=name, measure="mean", value=mean(ms), unit="ms"),
        Figure(bench=name, measure="replies per second", value=len(ms) / wall, unit="/s"),
    ]
