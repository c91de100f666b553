"""What every benchmark shares: timing, percentiles, the results row in ``bench/README.md``."""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "bench" / "README.md"
MARKER = "<!-- results: one row per run, newest last -->"


@dataclass(frozen=True, slots=True, kw_only=True)
class Figure:
    """One measured figure, with its baseline from the same run and its target."""

    bench: str
    measure: str
    value: float
    unit: str
    baseline: float | None = None  # the same measure for the baseline, when it has one
    target: str = ""
    met: bool | None = None  # None: no target for this figure

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        assert self.baseline is not None
        return self.value / self.baseline

    def line(self) -> str:
        base = "" if self.baseline is None else f" (baseline {self.baseline:.4g} {self.unit})"
        ratio = "" if self.ratio is None else f" = {self.ratio:.3g}×"
        verdict = "" if self.met is None else ("  MET" if self.met else "  NOT MET")
        target = f"  target {self.target}" if self.target else ""
        figure = f"{self.bench:16} {self.measure:28} {self.value:10.4g} {self.unit}"
        return f"{figure}{base}{ratio}{target}{verdict}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """What the command line asked of every benchmark in one run."""

    kinds: tuple[str, ...]  # "sqlite", "postgres": the databases to run on
    smoke: bool = False  # tiny sizes, no targets, nothing recorded
    rate: float = 50.0  # latency: questions per second offered


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return out.stdout.strip() or "?"
    except OSError:
        return "?"


def machine() -> str:
    return f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}"


def record(figures: list[Figure], command: str) -> None:
    """Append the run's figures to the results table of ``bench/README.md``."""
    text = README.read_text(encoding="utf-8")
    if MARKER not in text:
        text = text.rstrip() + "\n\n" + MARKER + "\n"
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")
    rows = []
    for f in figures:
        ratio = "" if f.ratio is None else f"{f.ratio:.3g}×"
        base = "" if f.baseline is None else f"{f.baseline:.4g}"
        verdict = "" if f.met is None else ("met" if f.met else "**not met**")
        rows.append(
            f"| {when} | {commit()} | {f.bench} | {f.measure} | {f.value:.4g} {f.unit} | "
            f"{base} | {ratio} | {f.target} | {verdict} | {machine()} | `{command}` |"
        )
    README.write_text(text.rstrip() + "\n" + "\n".join(rows) + "\n", encoding="utf-8")


def python() -> str:
    return sys.executable
