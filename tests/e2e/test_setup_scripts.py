"""The first hour as a new user meets it (issue 19): the README's `./scripts/demo`, in a fresh
copy of the repository, with the wrong Python and then the right one."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.process import ROOT

# An old Python as the scripts see it: too old for the version check, says which it is.
OLD_PYTHON = """#!/bin/sh
case "$1" in
  -V|--version) echo "Python 3.10.12" ;;
  *) exit 1 ;;
esac
"""


def _fresh_clone(tmp_path: Path) -> Path:
    """The repository's tracked files, as `git clone` would give them (no .venv)."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    clone = tmp_path / "lienlac"
    for name in filter(None, files):
        source = ROOT / name.decode()
        if source.is_file():
            target = clone / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return clone


def _old_python(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(OLD_PYTHON, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _demo(clone: Path, python: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIENLAC_", "VIRTUAL_ENV"))}
    env.update(PYTHON=python, LIENLAC_DATA_DIR=str(clone / "data"))
    return subprocess.run(
        [str(clone / "scripts" / "demo"), *args],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_wrong_python_is_one_line_then_a_rebuilt_venv_runs_the_readme_command(
    tmp_path: Path,
) -> None:
    clone = _fresh_clone(tmp_path)
    old = _old_python(tmp_path / "bin" / "python3.10")

    refused = _demo(clone, str(old), "demo", "info")
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs Python 3.11 or newer" in lines[0], refused.stderr
    assert "Python 3.10.12" in lines[0] and "PYTHON=python3.11" in lines[0]
    assert not (clone / ".venv").exists()  # nothing half-made is left behind

    # A .venv someone made earlier with the old Python: rebuilt, then the README's command
    # (`./scripts/demo demo info`) works right after the quick start.
    _old_python(clone / ".venv" / "bin" / "python")
    first = _demo(clone, sys.executable, "demo", "info", "--json")
    assert first.returncode == 0, first.stderr
    assert "Rebuilding .venv: it was made with Python 3.10.12." in first.stderr
    assert json.loads(first.stdout)["school"]["id"] == "demo"
    assert "Traceback" not in first.stderr

    # The next start installs nothing (no package index needed, about a second)
    started = time.monotonic()
    again = _demo(clone, sys.executable, "demo", "info")
    assert again.returncode == 0 and "HS6A01" in again.stdout, again.stderr
    assert again.stderr == "" and time.monotonic() - started < 30
    # and the other commands run with the .venv's Python, as the README says
    info = subprocess.run(
        [str(clone / ".venv" / "bin" / "python"), "run_bot.py", "demo", "info", "--json"],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(info.stdout)["school"]["id"] == "demo"


def test_scripts_test_without_postgresql_says_so_in_one_line_and_tests_on_sqlite(
    tmp_path: Path,
) -> None:
    """Locally (no CI), a PostgreSQL that does not answer is one line, then SQLite only."""
    clone = _fresh_clone(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIENLAC_", "VIRTUAL_ENV"))}
    env.pop("CI", None)
    env.update(
        PYTHON=sys.executable,
        LIENLAC_TEST_PG_URL="postgresql+asyncpg://postgres@127.0.0.1:1/test",  # nobody there
    )
    done = subprocess.run(
        [
            str(clone / "scripts" / "test"),
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/unit/test_phone.py",
        ],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (
        "PostgreSQL at LIENLAC_TEST_PG_URL does not answer: testing on SQLite only" in done.stdout
    )
    assert "== pytest (PostgreSQL: off)" in done.stdout and " passed" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert "ConnectionRefused" not in done.stdout + done.stderr
