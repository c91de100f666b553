"""``python run_bot.py import``: read a spreadsheet, show the diff, write it in one transaction.

Exit codes: 0 imported (or a clean dry run), 1 the file has errors (nothing written),
2 the file cannot be read at all or the command is wrong, 3 the database failed.
Output is for the school's operator; it names sheets, rows and columns, never phone numbers
or student codes.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

from bot.backends.spreadsheet import SPECS, ImportFileError, Kind

__all__ = ["DEFAULT_TEMPLATE", "run_import", "run_template"]

DEFAULT_TEMPLATE = Path("lienlac-mau-nhap-du-lieu.xlsx")
MAX_ERRORS_SHOWN = 200
MAX_CHANGES_SHOWN = 50


class ProgressLine:
    """A progress bar on a terminal; plain lines (at most one every 2 s per stage) otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._last: tuple[str, float] = ("", 0.0)
        self._open = False

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        finished = total > 0 and done >= total
        if self._tty:
            if total > 0:
                width = 30
                filled = min(width, width * done // total)
                bar = "#" * filled + "." * (width - filled)
                text = f"\r{stage}: [{bar}] {done}/{total}"
            else:
                text = f"\r{stage}: {done} dòng"
            self._stream.write(text.ljust(72))
            self._open = True
            if finished:
                self._stream.write("\n")
                self._open = False
            self._stream.flush()
            return
        if stage != self._last[0] or finished or now - self._last[1] >= 2.0:
            shown = f"{done}/{total}" if total > 0 else f"{done} dòng"
            self._stream.write(f"... {stage}: {shown}\n")
            self._stream.flush()
            self._last = (stage, now)

    def close(self) -> None:
        if self._open:
            self._stream.write("\n")
            self._open = False


def run_template(path: Path | None, out: TextIO = sys.stdout) -> int:
    from bot.backends.spreadsheet import write_template

    target = path or DEFAULT_TEMPLATE
    try:
        write_template(target)
    except OSError as err:
        print(f"Không ghi được {target}: {err.strerror or type(err).__name__}", file=out)
        return 2
    print(f"Đã ghi mẫu nhập dữ liệu: {target}", file=out)
    print("Điền dữ liệu rồi nhập bằng:", file=out)
    print(f"  python run_bot.py import {target} --school <mã trường> --name '<tên>'", file=out)
    return 0


async def run_import(
    database_url: str,
    path: Path,
    *,
    school_id: str,
    name: str | None,
    kind: Kind | None,
    dry_run: bool,
    out: TextIO = sys.stdout,
    err_stream: TextIO = sys.stderr,
) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from bot.backends.local_import import import_school
    from bot.backends.spreadsheet import read_file
    from bot.clock import SystemClock
    from storage.engine import create_engine, session_factory
    from storage.migrate import upgrade

    progress = ProgressLine(err_stream)
    try:
        parsed = read_file(path, kind=kind, progress=progress)
    except ImportFileError as err:
        progress.close()
        print(f"Không nhập được {path.name}: {err}", file=out)
        return 2
    except MemoryError:
        progress.close()
        print(f"Không nhập được {path.name}: tệp quá lớn để đọc", file=out)
        return 2
    progress.close()
    for title in parsed.skipped:
        print(f"Bỏ qua trang '{title}': không nhận ra loại dữ liệu.", file=out)

    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        report = await import_school(
            session_factory(engine),
            parsed,
            school_id=school_id,
            name=name,
            now=SystemClock().now(),
            dry_run=dry_run,
            progress=progress,
        )
    except (SQLAlchemyError, OSError) as err:
        progress.close()
        print(
            f"Lỗi cơ sở dữ liệu ({type(err).__name__}): không ghi gì cả. "
            "Kiểm tra LIENLAC_DATABASE__URL.",
            file=out,
        )
        return 3
    finally:
        await engine.dispose()
    progress.close()

    if report.errors:
        print(f"Tệp có {len(report.errors)} lỗi; không nhập gì cả:", file=out)
        for error in report.errors[:MAX_ERRORS_SHOWN]:
            print(f"  - {error}", file=out)
        if len(report.errors) > MAX_ERRORS_SHOWN:
            print(f"  … và {len(report.errors) - MAX_ERRORS_SHOWN} lỗi khác.", file=out)
        return 1

    if dry_run:
        print("Chạy thử (--dry-run): những thay đổi sẽ được ghi:", file=out)
        for summary in report.sheets.values():
            for change in summary.changes[:MAX_CHANGES_SHOWN]:
                print(f"  {summary.title}, {change}", file=out)
            if len(summary.changes) > MAX_CHANGES_SHOWN:
                more = len(summary.changes) - MAX_CHANGES_SHOWN
                print(f"  {summary.title}: … và {more} thay đổi khác", file=out)
    if report.school_created:
        print(f"Trường '{school_id}': tạo mới.", file=out)
    elif report.school_changes:
        print(f"Trường '{school_id}': cập nhật {', '.join(report.school_changes)}.", file=out)
    print(f"{'Trang':<20} {'Thêm':>7} {'Sửa':>7} {'Giữ nguyên':>11}", file=out)
    for k in Kind:
        if k not in report.sheets:
            continue
        summary = report.sheets[k]
        title = SPECS[k].title
        print(
            f"{title:<20} {summary.added:>7} {summary.changed:>7} {summary.unchanged:>11}",
            file=out,
        )
    if dry_run:
        print("Chạy thử: chưa ghi gì vào cơ sở dữ liệu.", file=out)
    else:
        print(
            f"Đã nhập xong vào trường '{school_id}' "
            f"({report.scores_touched} điểm mới hoặc đã sửa).",
            file=out,
        )
    return 0
