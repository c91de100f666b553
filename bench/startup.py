"""``startup``: ``run_bot.py --help``, and the demo from a fresh data directory to its first
reply (migrations, seeding, the banner, an answer to ``/start``), against ``python -c pass``
in the same run. Targets (issue 15): --help ≤ 0.5 s, first reply ≤ 2 s."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from bench.common import ROOT, Figure


def _seconds(args: list[str], env: dict[str, str] | None = None) -> float:
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, check=True, timeout=120
    )
    return time.perf_counter() - began


def _first_reply(folder: str) -> float:
    from tests.e2e.process import BotProcess

    env = {"LIENLAC_DATA_DIR": folder}
    began = time.perf_counter()
    bot = BotProcess(env=env)
    try:
        bot.read_until("/quit", timeout=60)
        bot.type("/start")
        bot.read_until("Xin chào", timeout=60)
        took = time.perf_counter() - began
        bot.type("/quit")
        bot.close()
    finally:
        bot.kill()
    return took


def measure(*, runs: int) -> list[Figure]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIENLAC_")}
    bare = min(_seconds(["-c", "pass"], env) for _ in range(runs))
    helps = min(_seconds(["run_bot.py", "--help"], env) for _ in range(runs))
    firsts = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="lienlac-bench-") as folder:
            firsts.append(_first_reply(folder))
    first = min(firsts)
    return [
        Figure(
            bench="startup",
            measure="run_bot.py --help",
            value=helps,
            unit="s",
            baseline=bare,
            target="≤ 0.5 s",
            met=helps <= 0.5,
        ),
        Figure(
            bench="startup",
            measure="fresh demo to first reply",
            value=first,
            unit="s",
            baseline=bare,
            target="≤ 2 s",
            met=first <= 2.0,
        ),
    ]
