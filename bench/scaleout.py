"""``scaleout``: two bot processes on one PostgreSQL behind the webhook, against one.

The bench is Telegram and the load balancer at once: every verified parent sends a few
timetable questions (Monday, Tuesday, …), each one only after the previous POST got its 200
(as Telegram sends a chat's updates), and each POST goes to the next process in turn, so a
chat's consecutive messages land on different processes. Up to 40 POSTs are in flight, as
Telegram's default ``max_connections``. The clock runs from the first POST to the last reply.

Checked on every run, smoke included: every question answered exactly once (0 duplicates),
and each chat's answers in the order of its questions (per-chat order kept, which the
database's per-chat inbox lease guarantees: ``bot.inbox``). Target (issue 15): two processes
≥ 1.7× one process's throughput.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.common import ROOT, Figure, Run
from bench.reply import _env, _prepare
from bench.setup import database

TOKEN = "123456:SCALE-token"
FIRST_CHAT = 700_000
DAYS = (("thứ 2", "Thứ Hai"), ("thứ 3", "Thứ Ba"), ("thứ 4", "Thứ Tư"), ("thứ 5", "Thứ Năm"))
CONNECTIONS = 40  # Telegram's default max_connections for a webhook


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _bots(
    count: int, url: str, folder: Path, api_url: str
) -> Iterator[tuple[list[str], list[int]]]:
    """``count`` bot processes on one database, each with its own webhook port."""
    ports = [_free_port() for _ in range(count)]
    procs = []
    try:
        for port in ports:
            env = _env(
                LIENLAC_TELEGRAM__TOKEN=TOKEN,
                LIENLAC_TELEGRAM__API_BASE_URL=api_url,
                LIENLAC_DATABASE__URL=url,
                LIENLAC_DATA_DIR=str(folder),
                LIENLAC_THROTTLE__BURST="0",
                LIENLAC_LOG_LEVEL="WARNING",
                LIENLAC_DIGEST__ENABLED="false",
                LIENLAC_WEBHOOK__PUBLIC_URL=f"http://127.0.0.1:{ports[0]}",
                LIENLAC_WEBHOOK__LISTEN=f"127.0.0.1:{port}",
            )
            procs.append(
                subprocess.Popen(
                    [sys.executable, "run_bot.py"],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            )
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        _wait_routed(urls, procs)
        yield [f"{u}/telegram/demo" for u in urls], [proc.pid for proc in procs]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _wait_routed(urls: list[str], procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 60
    for url in urls:
        while True:
            for proc in procs:
                if proc.poll() is not None:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"a bot process exited: {err}")
            with contextlib.suppress(httpx.HTTPError):
                # the route answers 401 without the secret once the bot is up; 404 before
                if httpx.post(f"{url}/telegram/demo", timeout=2).status_code != 404:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} never became healthy")
            time.sleep(0.1)


def _update(update_id: int, chat: int, text: str) -> dict[str, object]:
    user = {"id": chat, "is_bot": False, "first_name": "Phụ huynh", "language_code": "vi"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": user,
            "chat": {"id": chat, "type": "private", "first_name": "Phụ huynh"},
            "date": int(time.time()),
            "text": f"tkb {text}",
        },
    }


async def _drive(targets: list[str], secret: str, chats: list[int], first_update: int) -> None:
    """Each chat's questions in order, each POST to the next process in turn."""
    slots = asyncio.Semaphore(CONNECTIONS)
    turn = 0
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret}

    async with httpx.AsyncClient(timeout=30) as client:

        async def chat_questions(index: int, chat: int) -> None:
            nonlocal turn
            for day, (question, _) in enumerate(DAYS):
                update = _update(first_update + index * len(DAYS) + day, chat, question)
                async with slots:
                    target = targets[turn % len(targets)]
                    turn += 1
                    response = await client.post(target, json=update, headers=headers)
                if response.status_code != 200:
                    raise RuntimeError(f"webhook answered {response.status_code}")

        await asyncio.gather(*(chat_questions(i, c) for i, c in enumerate(chats)))


def _check(api: object, chats: list[int]) -> tuple[int, int]:
    """(duplicates, chats whose answers came out of order)."""
    from tests.fakes.telegram_api import FakeTelegramApi

    assert isinstance(api, FakeTelegramApi)
    duplicates = disorder = 0
    for chat in chats:
        texts = [m["text"] or "" for m in api.sent(chat) if m["method"] == "sendMessage"]
        duplicates += max(0, len(texts) - len(DAYS))
        days = [next((n for _, n in DAYS if re.search(rf"{n},", t)), "?") for t in texts]
        if days[: len(DAYS)] != [name for _, name in DAYS]:
            disorder += 1
    return duplicates, disorder


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, every CPU (``/proc/stat``)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / hz, sum(ticks) / hz


@dataclass(frozen=True, slots=True)
class Outcome:
    rate: float  # replies per second
    duplicates: int
    disorder: int
    bot_cpu_ms: float  # CPU of the bot processes per reply
    machine_busy: float  # share of all the machine's CPUs busy while measuring (0..1)


def _one(
    api: object, processes: int, url: str, folder: Path, chats: list[int], first: int
) -> Outcome:
    """Replies/s, duplicates, chats out of order and where the CPU went, with ``processes``
    bots."""
    from tests.fakes.telegram_api import FakeTelegramApi

    assert isinstance(api, FakeTelegramApi)
    with _bots(processes, url, folder, api.url) as (targets, pids):
        api.wait_until(lambda: api.webhook() is not None, 30, what="setWebhook")
        hook = api.webhook()
        assert hook is not None
        sent_before = len(api.sent())
        expected = len(chats) * len(DAYS)
        cpu_before = sum(_cpu_seconds(pid) for pid in pids)
        busy_before, total_before = _machine_busy()
        began = time.perf_counter()
        asyncio.run(_drive(targets, str(hook.get("secret_token", "")), chats, first))
        api.wait_until(
            lambda: len(api.sent()) - sent_before >= expected, 600, what=f"{expected} replies"
        )
        elapsed = time.perf_counter() - began
        cpu = sum(_cpu_seconds(pid) for pid in pids) - cpu_before
        busy_after, total_after = _machine_busy()
        time.sleep(0.5)  # a duplicate would arrive late
        duplicates, disorder = _check(api, chats)
    return Outcome(
        rate=expected / elapsed,
        duplicates=duplicates,
        disorder=disorder,
        bot_cpu_ms=1000 * cpu / expected,
        machine_busy=(busy_after - busy_before) / max(1e-9, total_after - total_before),
    )


def measure(run: Run) -> list[Figure]:
    from tests.fakes.telegram_api import FakeTelegramApi

    chats = 20 if run.smoke else 400
    kind = "postgres"  # several processes share one database: PostgreSQL, as in production
    with FakeTelegramApi(token=TOKEN) as api:
        results: dict[int, Outcome] = {}
        with contextlib.ExitStack() as stack:
            loop = asyncio.new_event_loop()
            stack.callback(loop.close)
            db = database(kind)
            url, folder = loop.run_until_complete(db.__aenter__())
            stack.callback(lambda: loop.run_until_complete(db.__aexit__(None, None, None)))
            groups = {1: list(range(FIRST_CHAT, FIRST_CHAT + chats))}
            groups[2] = [c + chats for c in groups[1]]
            loop.run_until_complete(_prepare(kind, url, folder, 2 * chats, first_chat=FIRST_CHAT))
            first = 1
            for processes in (1, 2):
                results[processes] = _one(api, processes, url, folder, groups[processes], first)
                first += chats * len(DAYS) + 1000
    one, two = results[1], results[2]
    name = "scaleout/postgres"
    figures = [
        Figure(bench=name, measure="replies/s, 1 process", value=one.rate, unit="/s"),
        Figure(
            bench=name,
            measure="replies/s, 2 processes",
            value=two.rate,
            unit="/s",
            baseline=one.rate,
            target="≥ 1.7× one",
            met=two.rate / one.rate >= 1.7,
        ),
    ]
    for processes, outcome in results.items():
        figures += [
            Figure(
                bench=name,
                measure=f"duplicate replies, {processes} proc.",
                value=outcome.duplicates,
                unit="",
                target="0",
                met=outcome.duplicates == 0,
            ),
            Figure(
                bench=name,
                measure=f"chats out of order, {processes} proc.",
                value=outcome.disorder,
                unit="",
                target="0",
                met=outcome.disorder == 0,
            ),
            # where the time went: the bots' own CPU per reply, and how busy the whole machine
            # (bots, PostgreSQL, this harness and its fake Bot API) was while measuring
            Figure(
                bench=name,
                measure=f"bot CPU per reply, {processes} proc.",
                value=outcome.bot_cpu_ms,
                unit="ms",
            ),
            Figure(
                bench=name,
                measure=f"machine CPU busy, {processes} proc.",
                value=100 * outcome.machine_busy,
                unit="%",
            ),
        ]
    return figures
