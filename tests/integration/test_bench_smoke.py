"""Every benchmark runs in the suite at smoke size (a few seconds, no thresholds, nothing
recorded), on SQLite and on PostgreSQL, so ``bench/`` cannot rot (issue 15)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import NAMES

ROOT = Path(__file__).resolve().parents[2]


def _kinds() -> list[str]:
    return ["sqlite", "postgres"] if os.environ.get("LIENLAC_TEST_PG_URL") else ["sqlite"]


@pytest.mark.parametrize("kind", _kinds())
def test_every_benchmark_runs_at_smoke_size(kind: str) -> None:
    before = (ROOT / "bench" / "README.md").read_text(encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "all", "--smoke", "--db", kind],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    benches = {line.split()[0].split("/")[0] for line in done.stdout.splitlines() if line}
    assert benches >= set(NAMES), done.stdout  # every benchmark printed its figures
    assert (ROOT / "bench" / "README.md").read_text(encoding="utf-8") == before  # no record
