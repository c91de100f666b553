"""``memory``: the resident memory of one bot process serving a province: 1,000 schools
configured (``[[schools]]`` in a TOML file, one Telegram bot each, long polling the loopback
fake Bot API) and 100,000 linked guardians in the database, idle and then under ``reply``
load (one parent per school asking for scores at once). RSS is read from
``/proc/<pid>/status`` (``VmRSS``; ``VmHWM`` is the peak).

Baseline, in the same run: a bare interpreter importing the same top-level modules.
Target (issue 15): ≤ 300 MB.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench import data
from bench.common import ROOT, Figure
from bench.digest import FIRST_CHAT, seed
from bench.reply import _env
from bench.setup import database
from storage.engine import create_engine
from storage.migrate import upgrade

IMPORTS = "import run_bot, bot.serve, bot.bootstrap, bot.channels.telegram, telegram, sqlalchemy"
LIMIT_MB = 300.0


def _status(pid: int, field: str) -> float:
    """``VmRSS`` or ``VmHWM`` of a process, in MB (10^6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no {field} for process {pid}")


def baseline_mb(kind: str) -> float:
    driver = "asyncpg" if kind == "postgres" else "aiosqlite"
    code = (
        f"{IMPORTS}, {driver}\n"
        "for line in open('/proc/self/status'):\n"
        "    if line.startswith('VmRSS:'): print(int(line.split()[1]) * 1024 / 1e6)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return float(out.stdout.strip())


def _token(school: int) -> str:
    return f"{100_000 + school}:BENCH-school-{school:04d}"


def _config(folder: Path, schools: int) -> Path:
    path = folder / "province.toml"
    lines = []
    for n in range(schools):
        lines += [
            "[[schools]]",
            f'id = "{data.school_id(n)}"',
            f'telegram = {{ token = "{_token(n)}" }}',
            "",
        ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _observe(
    api: object, args: list[str], env: dict[str, str], schools: int, per_school: int, askers: int
) -> tuple[float, float, float]:
    """Start the bot, wait until every school's bot polls, read RSS; then the load."""
    from tests.fakes.telegram_api import FakeTelegramApi

    assert isinstance(api, FakeTelegramApi)
    log = Path(env["LIENLAC_DATA_DIR"]) / "bot.log"  # a file: 1,000 bots can fill a pipe
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        api.wait_until(
            lambda: (
                len({r.token for r in api.requests if r.method == "getUpdates"}) >= schools
                or proc.poll() is not None
            ),
            600,
            what=f"getUpdates from {schools} bots",
        )
        if proc.poll() is not None:
            raise RuntimeError(f"the bot exited: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.5 if schools < 10 else 3)  # settle after the last bot's first poll
        idle = _status(proc.pid, "VmRSS")
        before = len(api.sent())
        for n in range(askers):
            school = n % schools
            pupil = school * per_school + n // schools
            api.inject_message(FIRST_CHAT + pupil, "điểm", token=_token(school))
        api.wait_until(lambda: len(api.sent()) - before >= askers, 600, what=f"{askers} replies")
        loaded = _status(proc.pid, "VmRSS")
        peak = _status(proc.pid, "VmHWM")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return idle, loaded, peak


async def _run(
    kind: str, api: object, *, schools: int, per_school: int, askers: int
) -> tuple[float, float, float]:
    """(idle RSS, RSS after the load, peak RSS) in MB."""
    from tests.fakes.telegram_api import FakeTelegramApi

    assert isinstance(api, FakeTelegramApi)
    async with database(kind) as (url, folder):
        engine = create_engine(url)
        try:
            await upgrade(engine)
            await seed(engine, schools * per_school, per_school=per_school, items=0)
        finally:
            await engine.dispose()
        env = _env(
            LIENLAC_TELEGRAM__API_BASE_URL=api.url,
            LIENLAC_DATABASE__URL=url,
            LIENLAC_DATA_DIR=str(folder),
            LIENLAC_THROTTLE__BURST="0",
            LIENLAC_LOG_LEVEL="WARNING",
        )
        args = ["run_bot.py", "--config", str(_config(folder, schools))]
        return await asyncio.to_thread(_observe, api, args, env, schools, per_school, askers)


def measure(
    kinds: tuple[str, ...], *, schools: int, per_school: int, askers: int, smoke: bool
) -> list[Figure]:
    figures: list[Figure] = []
    for kind in kinds:
        from tests.fakes.telegram_api import FakeTelegramApi

        base = baseline_mb(kind)
        with FakeTelegramApi(token=None) as api:
            for n in range(schools):
                api.add_bot(_token(n))
            idle, loaded, peak = asyncio.run(
                _run(kind, api, schools=schools, per_school=per_school, askers=askers)
            )
        name = f"memory/{kind}"
        guardians = schools * per_school
        what = f"{schools} schools, {guardians} guardians"
        target = "" if smoke else f"≤ {LIMIT_MB:g} MB"
        figures += [
            Figure(bench=name, measure=f"RSS idle, {what}", value=idle, unit="MB", baseline=base),
            Figure(
                bench=name,
                measure=f"RSS after {askers} replies",
                value=loaded,
                unit="MB",
                baseline=base,
            ),
            Figure(
                bench=name,
                measure="peak RSS (VmHWM)",
                value=peak,
                unit="MB",
                baseline=base,
                target=target,
                met=None if smoke else peak <= LIMIT_MB,
            ),
        ]
    return figures
