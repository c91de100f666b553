"""docs/operations.md's backups, as an operator does them: link a parent in the real bot, back
the database up, restore it somewhere new, start a new bot there: the parent is still linked.
SQLite through ``run_bot.py db backup`` (while the bot runs), PostgreSQL through
``pg_dump -Fc`` / ``pg_restore --clean --if-exists``."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.e2e.process import ROOT, BotProcess, link_in_terminal

pytestmark = pytest.mark.e2e

PHONE = "0900000024"  # HS8A03's mother in the demo school


def _link_and_read(env: dict[str, str]) -> BotProcess:
    """A running bot whose terminal user is linked to HS8A03 and has read a score."""
    bot = BotProcess(env=env)
    bot.read_until("/quit")
    bot.type("/start")
    bot.read_until("Gõ số để chọn")  # 1. parent, 2. teacher
    link_in_terminal(bot, "HS8A03", ("Đồng ý",))
    bot.type("điểm công nghệ")
    assert "6,6" in bot.read_until("làm tròn")
    return bot


def _quit(bot: BotProcess) -> None:
    bot.type("/quit")
    bot.read_until("Tạm biệt")
    assert bot.close() == 0
    assert "Traceback" not in "".join(bot.stderr)


def _still_linked(env: dict[str, str]) -> None:
    """A new bot process on the restored data answers "điểm" without asking to link."""
    bot = BotProcess(env=env)
    try:
        bot.read_until("/quit")
        bot.type("điểm công nghệ")
        answer = bot.read_until("làm tròn")
        assert "Phạm Quang Huy" in answer and "6,6" in answer
        assert "mã học sinh" not in answer and "Điều khoản" not in answer
        _quit(bot)
    finally:
        bot.kill()


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "run_bot.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
    )


def test_sqlite_backup_taken_while_running_restores_the_links(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    backup = tmp_path / "backups" / "lienlac-2026-12-04.sqlite3"
    backup.parent.mkdir()
    bot = _link_and_read({"LIENLAC_DATA_DIR": str(old)})
    try:
        # taken while the bot runs: the online backup API gives a consistent copy
        done = _cli("db", "backup", str(backup), env={"LIENLAC_DATA_DIR": str(old)})
        assert done.returncode == 0, done.stderr
        assert "Backed up" in done.stdout and "revision" in done.stdout
        _quit(bot)
    finally:
        bot.kill()
    out = done.stdout + done.stderr
    assert PHONE not in out and "HS8A03" not in out and "Traceback" not in out
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600  # personal data: owner only
    again = _cli("db", "backup", str(backup), env={"LIENLAC_DATA_DIR": str(old)})
    assert again.returncode == 2 and "choose a new file" in again.stderr  # never overwrites

    new.mkdir()
    shutil.copy(backup, new / "lienlac.sqlite3")  # restore: only the backup, nothing else
    _still_linked({"LIENLAC_DATA_DIR": str(new)})


def _libpq(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def test_postgresql_dump_and_restore_keeps_the_links(pg_database_url: str, tmp_path: Path) -> None:
    assert "127.0.0.1" in pg_database_url or "localhost" in pg_database_url
    env = {"LIENLAC_DATA_DIR": str(tmp_path / "data"), "LIENLAC_DATABASE__URL": pg_database_url}
    bot = _link_and_read(env)
    try:
        _quit(bot)
    finally:
        bot.kill()
    refused = _cli("db", "backup", str(tmp_path / "x.sqlite3"), env=env)
    assert refused.returncode == 2 and "pg_dump -Fc" in refused.stderr

    dump = tmp_path / "lienlac.dump"
    subprocess.run(
        ["pg_dump", "-Fc", "-f", str(dump), "-d", _libpq(pg_database_url)],
        check=True,
        timeout=60,
    )
    restored_name = f"lienlac_restored_{uuid.uuid4().hex[:12]}"
    restored = pg_database_url.rsplit("/", 1)[0] + "/" + restored_name
    admin = ["psql", "-v", "ON_ERROR_STOP=1", "-q", "-d", _libpq(pg_database_url), "-c"]
    subprocess.run([*admin, f'CREATE DATABASE "{restored_name}"'], check=True, timeout=30)
    try:
        subprocess.run(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                "-d",
                _libpq(restored),
                str(dump),
            ],
            check=True,
            timeout=60,
        )
        _still_linked({**env, "LIENLAC_DATABASE__URL": restored})
    finally:
        subprocess.run(
            [*admin, f'DROP DATABASE IF EXISTS "{restored_name}" WITH (FORCE)'], timeout=30
        )
