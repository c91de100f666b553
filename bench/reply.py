"""``reply``: verified parents asking for their child's scores through the real Telegram
adapter (``run_bot.py``, long polling) against the loopback fake Bot API, and a bare
python-telegram-bot echo bot on the same fake in the same run (the baseline).

Each bot is its own process; N chats each send one message at once, and the clock runs from
the first message to the N-th reply. Also: CPU per reply (the bot process's user + system
time) and Bot API calls per reply. Target (issue 15): ≥ 0.5× the echo bot's replies/s.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT, Figure
from bench.setup import database, link_parents, settings_for
from bot.bootstrap import opened_app
from bot.messages import ConversationKey

TOKEN = "123456:BENCH-token"
FIRST_CHAT = 500_000


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LIENLAC_") and "proxy" not in k.lower()
    }
    env.update(NO_PROXY="127.0.0.1,localhost", PYTHONUNBUFFERED="1", **extra)
    return env


def _run_bot(
    api: object, args: list[str], env: dict[str, str], chats: int
) -> tuple[float, float, float]:
    """(replies/s, CPU ms per reply, Bot API calls per reply) of one bot process."""
    from tests.fakes.telegram_api import FakeTelegramApi

    assert isinstance(api, FakeTelegramApi)
    before_polls = len(api.calls_to("getUpdates"))
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        api.wait_until(
            lambda: len(api.calls_to("getUpdates")) > before_polls or proc.poll() is not None,
            60,
            what="the bot's first getUpdates",
        )
        if proc.poll() is not None:
            raise RuntimeError(
                f"the bot exited: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
        time.sleep(0.3)
        sent_before = len(api.sent())
        cpu_before = _cpu_seconds(proc.pid)
        calls_before = len(api.calls)
        began = time.perf_counter()
        for i in range(chats):
            api.inject_message(FIRST_CHAT + i, "điểm")
        api.wait_until(lambda: len(api.sent()) - sent_before >= chats, 600, what=f"{chats} replies")
        elapsed = time.perf_counter() - began
        cpu = _cpu_seconds(proc.pid) - cpu_before
        calls = len(api.calls) - calls_before - (len(api.calls_to("getUpdates")) - before_polls)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return chats / elapsed, cpu * 1000 / chats, calls / chats


async def _prepare(
    kind: str, url: str, folder: Path, chats: int, *, first_chat: int = FIRST_CHAT
) -> None:
    async with opened_app(settings_for(url, folder), console_write=lambda s: None) as app:
        keys = [
            ConversationKey(
                school_id="demo",
                channel="telegram",
                chat_id=str(first_chat + i),
                user_id=str(first_chat + i),
            )
            for i in range(chats)
        ]
        await link_parents(app, keys)


async def _lienlac(kind: str, api_url: str, chats: int, api: object) -> tuple[float, float, float]:
    async with database(kind) as (url, folder):
        await _prepare(kind, url, folder, chats)
        env = _env(
            LIENLAC_TELEGRAM__TOKEN=TOKEN,
            LIENLAC_TELEGRAM__API_BASE_URL=api_url,
            LIENLAC_DATABASE__URL=url,
            LIENLAC_DATA_DIR=str(folder),
            LIENLAC_THROTTLE__BURST="0",
            LIENLAC_LOG_LEVEL="WARNING",
            LIENLAC_DIGEST__ENABLED="false",
        )
        return await asyncio.to_thread(_run_bot, api, ["run_bot.py"], env, chats)


def measure(kinds: tuple[str, ...], *, chats: int) -> list[Figure]:
    from tests.fakes.telegram_api import FakeTelegramApi

    figures: list[Figure] = []
    with FakeTelegramApi(token=TOKEN) as api:
        echo_args = ["-m", "bench.echo_bot", TOKEN, api.url]
        runs = [_run_bot(api, echo_args, _env(), chats)]
        results = {kind: asyncio.run(_lienlac(kind, api.url, chats, api)) for kind in kinds}
        runs.append(_run_bot(api, echo_args, _env(), chats))
        # the baseline's better run (before and after ours): the ratio errs against us
        echo = max(runs)
        for kind in kinds:
            ours = results[kind]
            name = f"reply/{kind}"
            ratio = ours[0] / echo[0]
            figures += [
                Figure(
                    bench=name,
                    measure=f"replies/s, {chats} parents",
                    value=ours[0],
                    unit="/s",
                    baseline=echo[0],
                    target="≥ 0.5× echo",
                    met=ratio >= 0.5,
                ),
                Figure(
                    bench=name, measure="CPU per reply", value=ours[1], unit="ms", baseline=echo[1]
                ),
                Figure(
                    bench=name,
                    measure="Bot API calls per reply",
                    value=ours[2],
                    unit="",
                    baseline=echo[2],
                ),
            ]
    return figures
