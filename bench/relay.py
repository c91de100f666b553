"""``relay``: the outbox relay delivering to 1, 10 and 50 school bots through the real Telegram
sender against a fake Bot API that enforces Telegram's limits (``bench/limited_telegram.py``:
30 messages per bot in any second, 1 per second per chat, 429 beyond), in its own process.

Each bot (its own token, its own school) has a backlog larger than the limits let through in
the measured time: nine rows in ten to a chat of their own, one in ten to the same busy chat
(which may receive only 1/s). The relay is the one ``bot/serve.py`` builds
(``App.build_relay`` with ``TelegramBots(...).sender``); it runs for ``seconds`` and each bot's
rate is what the fake accepted from it in that time.

Baseline, "the limits themselves": each bot's allowed rate, ``min(30, (rows to their own chats
+ min(rows to the busy chat, seconds + 1)) / seconds)`` (30/s here: the busy chat does not bind
while other chats have rows). Targets (issue 15): the slowest bot ≥ 0.95× its allowed rate,
0 answers 429, 0 duplicates (the same bot, chat and text twice; every row's text is unique).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import func, insert, select

from bench.common import ROOT, Figure, mean
from bench.setup import bench_app
from bot.channels import telegram
from bot.config import DigestSettings
from storage.tables import OutboxMessage

PER_BOT = 30.0  # Telegram: messages per second per bot token (what the fake enforces)
PER_CHAT = 1.0  # messages per second per chat
BUSY_EVERY = 10  # every 10th row of a bot goes to its one busy chat
DRAIN_SECONDS = 6.0  # as bot/serve.py: how long the relay may take to finish its pass


@dataclass(frozen=True, slots=True)
class Outcome:
    bots: int
    seconds: float
    rates: list[float]  # per bot: messages accepted per second in the measured time
    allowed: list[float]  # per bot: what the limits let through per second
    limited: int  # 429 answers
    duplicates: int
    marked_sent: int  # rows the database says were sent
    accepted: int  # messages the fake accepted (all of them, also after the measured time)


class LimitedApi:
    """The fake in its own process (see ``bench/limited_telegram.py``)."""

    def __init__(self, tokens: list[str]) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "bench.limited_telegram", *tokens],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = str(json.loads(self._line())["url"])

    def _line(self) -> str:
        out: IO[str] | None = self._proc.stdout
        assert out is not None
        line = out.readline()
        if not line:
            raise RuntimeError("the fake Bot API exited")
        return line

    def report(self) -> dict[str, Any]:
        assert self._proc.stdin is not None
        self._proc.stdin.write("report\n")
        self._proc.stdin.flush()
        report: dict[str, Any] = json.loads(self._line())
        return report

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(20)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)


@contextlib.contextmanager
def limited_api(tokens: list[str]) -> Iterator[LimitedApi]:
    api = LimitedApi(tokens)
    try:
        yield api
    finally:
        api.close()


def _token(run: int, bot: int) -> str:
    return f"{8_000_000 + run * 1000 + bot}:BENCH-relay-{run}-{bot}"


def _rows(school: str, bot: int, count: int, now: dt.datetime) -> tuple[list[dict[str, Any]], int]:
    """A bot's backlog, oldest first, and how many of its rows go to the busy chat."""
    busy_chat = str(9_000_000 + bot)
    rows, busy = [], 0
    for i in range(count):
        to_busy = i % BUSY_EVERY == BUSY_EVERY // 2
        busy += to_busy
        chat = busy_chat if to_busy else str(10_000_000 + bot * 100_000 + i)
        rows.append(
            {
                "school_id": school,
                "channel": telegram.CHANNEL,
                "chat_id": chat,
                "user_id": chat,
                "kind": "bench.relay",
                "payload": {"text": f"Thông báo thử {school} #{i}", "buttons": []},
                "dedupe_key": f"bench-relay:{school}:{i}",
                "urgent": False,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now + dt.timedelta(microseconds=i),
                "created_at": now,
                "last_error": "",
            }
        )
    return rows, busy


def allowed_rate(rows: int, busy: int, seconds: float) -> float:
    """The most the limits let one bot deliver per second, over ``seconds``, from a backlog of
    ``rows`` of which ``busy`` go to one chat (the others each to a chat of their own)."""
    deliverable = (rows - busy) + min(busy, math.floor(seconds * PER_CHAT) + 1)
    return min(PER_BOT, deliverable / seconds)


async def _scenario(kind: str, run: int, bots: int, seconds: float, api: LimitedApi) -> Outcome:
    # no quiet hours: the bench must measure the same at any time of day
    no_quiet = DigestSettings(quiet_start=dt.time(0, 0), quiet_end=dt.time(0, 0))
    per_bot = math.ceil(PER_BOT * seconds * 1.3)
    schools = [f"r{run}b{b}" for b in range(bots)]
    tokens = {school: _token(run, b) for b, school in enumerate(schools)}
    async with bench_app(kind, digest=no_quiet) as app:
        now = app.services.clock.now()
        allowed = []
        async with app.engine.begin() as conn:
            for b, school in enumerate(schools):
                rows, busy = _rows(school, b, per_bot, now)
                allowed.append(allowed_rate(per_bot, busy, seconds))
                await conn.execute(insert(OutboxMessage), rows)
        tg = telegram.TelegramBots(
            {school: (token, api.url) for school, token in tokens.items()},
            app.router.handle,
            catalog=app.services.catalog,
        )
        try:
            relay = app.build_relay({telegram.CHANNEL: tg.sender})
            stop = asyncio.Event()
            began = time.monotonic()  # the system's clock: the fake's process reads the same
            task = asyncio.create_task(relay.run(stop))
            await asyncio.sleep(seconds)
            stop.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(task, DRAIN_SECONDS)
        finally:
            await tg.aclose()
        async with app.engine.connect() as conn:
            marked = int(
                await conn.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.status == "sent")
                )
                or 0
            )
    report = api.report()
    ours = set(tokens.values())
    accepted = {t: times for t, times in report["accepted"].items() if t in ours}
    end = began + seconds
    rates = [sum(began <= t <= end for t in accepted.get(tokens[s], [])) / seconds for s in schools]
    limited = sum(1 for token, _ in report["limited"] if token in ours)
    if report["violations"]:
        raise RuntimeError(f"the relay broke the Bot API spec: {report['violations'][:3]}")
    return Outcome(
        bots=bots,
        seconds=seconds,
        rates=rates,
        allowed=allowed,
        limited=limited,
        duplicates=sum(n for t, n in report["duplicates"].items() if t in ours),
        marked_sent=marked,
        accepted=sum(len(v) for v in accepted.values()),
    )


def _figures(kind: str, o: Outcome) -> list[Figure]:
    name = f"relay/{kind}"
    ratios = [r / a for r, a in zip(o.rates, o.allowed, strict=True)]
    worst = min(range(o.bots), key=lambda i: ratios[i])
    if o.marked_sent > o.accepted:
        raise RuntimeError(f"{o.marked_sent} rows marked sent, {o.accepted} messages accepted")
    return [
        Figure(
            bench=name,
            measure=f"slowest of {o.bots} bot(s)",
            value=o.rates[worst],
            unit="msg/s",
            baseline=o.allowed[worst],
            target="≥ 0.95× allowed",
            met=ratios[worst] >= 0.95,
        ),
        Figure(
            bench=name,
            measure=f"mean of {o.bots} bot(s)",
            value=mean(o.rates),
            unit="msg/s",
            baseline=mean(o.allowed),
        ),
        Figure(
            bench=name,
            measure=f"429 answers, {o.bots} bot(s)",
            value=o.limited,
            unit="",
            target="0",
            met=o.limited == 0,
        ),
        Figure(
            bench=name,
            measure=f"duplicates, {o.bots} bot(s)",
            value=o.duplicates,
            unit="",
            target="0",
            met=o.duplicates == 0,
        ),
    ]


def measure(kinds: tuple[str, ...], *, bots: tuple[int, ...], seconds: float) -> list[Figure]:
    plan = [(kind, n) for kind in kinds for n in bots]
    tokens = [_token(run, b) for run, (_, n) in enumerate(plan) for b in range(n)]
    figures: list[Figure] = []
    with limited_api(tokens) as api:
        for run, (kind, n) in enumerate(plan):
            outcome = asyncio.run(_scenario(kind, run, n, seconds, api))
            figures += _figures(kind, outcome)
    return figures
