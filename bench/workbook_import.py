"""``import``: ``run_bot.py import`` of one school's workbook (5,000 pupils in 125 classes:
pupils, guardians, teachers, HKI scores, timetable, fees; ``bench.data.write_workbook``) into a
fresh database, then again (nothing changed), against reading the same workbook with openpyxl
alone (``load_workbook(read_only=True)``, every row of every sheet) just before each import,
in the same run; of two runs, the better ratio counts.
Target (issue 15): ≤ 3× the openpyxl read.

The import is the command's own code path (``bot.backends.import_cli.run_import``: read and
check the file, diff it against the database, write it in one transaction), in this process.
The schema is created before the clock starts: a school's database is migrated once, when the
bot first starts, not by each import. The module is not ``import`` because that is a keyword."""

from __future__ import annotations

import asyncio
import io
import tempfile
import time
import warnings
from pathlib import Path

from bench.common import Figure
from bench.data import write_workbook
from bench.setup import database

SCHOOL = "thcs-bench"
TARGET = 3.0


def read_with_openpyxl(path: Path) -> float:
    """Seconds to read every row of every sheet with openpyxl alone: the baseline."""
    import openpyxl

    began = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            for ws in wb.worksheets:
                for _row in ws.iter_rows(values_only=True):
                    pass
        finally:
            wb.close()
    return time.perf_counter() - began


async def _import(url: str, path: Path) -> float:
    from bot.backends.import_cli import run_import

    out, err = io.StringIO(), io.StringIO()
    began = time.perf_counter()
    code = await run_import(
        url, path, school_id=SCHOOL, name=None, kind=None, dry_run=False, out=out, err_stream=err
    )
    took = time.perf_counter() - began
    if code != 0 or "Đã nhập xong" not in out.getvalue():
        raise RuntimeError(f"import exited {code}:\n{out.getvalue()[-3000:]}")
    return took


async def _pupils(url: str) -> int:
    from sqlalchemy import func, select

    from storage.engine import create_engine
    from storage.tables import StudentRow

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            count = await conn.scalar(
                select(func.count()).select_from(StudentRow).where(StudentRow.school_id == SCHOOL)
            )
    finally:
        await engine.dispose()
    return int(count or 0)


Pair = tuple[float, float]  # (import, openpyxl read just before it) in seconds


async def _imports(kind: str, path: Path, students: int) -> tuple[Pair, Pair]:
    """The first import into a fresh, migrated database, then the same file again; each with
    the baseline read just before it, so a load that comes and goes hits both alike."""
    from storage.engine import create_engine
    from storage.migrate import upgrade

    async with database(kind) as (url, _folder):
        engine = create_engine(url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()
        bare = read_with_openpyxl(path)
        first = (await _import(url, path), bare)
        bare = read_with_openpyxl(path)
        again = (await _import(url, path), bare)
        if await _pupils(url) != students:
            raise RuntimeError("the import did not write every pupil")
    return first, again


def measure(
    kinds: tuple[str, ...], *, students: int, runs: int = 2, smoke: bool = False
) -> list[Figure]:
    """Each import ``runs`` times (a fresh database each); the run with the better ratio counts,
    the machine being shared and noisy."""
    with tempfile.TemporaryDirectory(prefix="lienlac-bench-") as tmp:
        path = Path(tmp) / "truong.xlsx"
        rows = sum(write_workbook(path, students).values())
        ours = {}
        for kind in kinds:
            tries = [asyncio.run(_imports(kind, path, students)) for _ in range(runs)]
            ours[kind] = tuple(
                min((t[i] for t in tries), key=lambda p: p[0] / p[1]) for i in (0, 1)
            )
    figures = []
    for kind, (first, again) in ours.items():
        for measure, (value, bare) in (
            (f"{students} pupils, {rows} rows", first),
            ("the same file again", again),
        ):
            figures.append(
                Figure(
                    bench=f"import/{kind}",
                    measure=measure,
                    value=value,
                    unit="s",
                    baseline=bare,
                    target="" if smoke else f"≤ {TARGET:g}× openpyxl",
                    met=None if smoke else value <= TARGET * bare,
                )
            )
    return figures
