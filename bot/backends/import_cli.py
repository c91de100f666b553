"""``python run_bot.py import``: read a spreadsheet, show the diff, write it in one transaction.

Exit codes: 0 imported (or a clean dry run), 1 the file has errors (nothing written),
2 the file cannot be read at all or the command is wrong, 3 the database failed.
Output is for the school's operator; it names sheets, rows and columns, never phone numbers
or student codes. Every line is in ``lang`` (catalogue tables ``cli`` and ``import_msg``); the
sheets and columns are named as the file names them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bot.backends.spreadsheet import SPECS, ImportFileError, Kind, Said
from bot.i18n import DEFAULT_LOCALE, Catalog

__all__ = ["DEFAULT_TEMPLATE", "run_import", "run_template"]

DEFAULT_TEMPLATE = Path("lienlac-mau-nhap-du-lieu.xlsx")
MAX_ERRORS_SHOWN = 200
MAX_CHANGES_SHOWN = 50


class ProgressLine:
    """A progress bar on a terminal; plain lines (at most one every 2 s per stage) otherwise."""

    def __init__(
        self, stream: TextIO, rows: str = "{count} dòng", *, lang: str = DEFAULT_LOCALE
    ) -> None:
        self._stream = stream
        self._lang = lang
        self._rows = rows
        self._tty = stream.isatty()
        self._last: tuple[str, float] = ("", 0.0)
        self._open = False

    def __call__(self, stage: str | Said, done: int, total: int) -> None:
        if isinstance(stage, Said):
            stage = stage.render(self._lang)
        now = time.monotonic()
        finished = total > 0 and done >= total
        if self._tty:
            if total > 0:
                width = 30
                filled = min(width, width * done // total)
                bar = "#" * filled + "." * (width - filled)
                text = f"\r{stage}: [{bar}] {done}/{total}"
            else:
                text = f"\r{stage}: {self._rows.format(count=done)}"
            self._stream.write(text.ljust(72))
            self._open = True
            if finished:
                self._stream.write("\n")
                self._open = False
            self._stream.flush()
            return
        if stage != self._last[0] or finished or now - self._last[1] >= 2.0:
            shown = f"{done}/{total}" if total > 0 else self._rows.format(count=done)
            self._stream.write(f"... {stage}: {shown}\n")
            self._stream.flush()
            self._last = (stage, now)

    def close(self) -> None:
        if self._open:
            self._stream.write("\n")
            self._open = False


def _say(lang: str) -> Callable[..., str]:
    catalog = Catalog.load()

    def say(key: str, /, **values: object) -> str:
        return catalog.t(lang, f"cli.{key}", **values)

    return say


def run_template(path: Path | None, out: TextIO = sys.stdout, *, lang: str = DEFAULT_LOCALE) -> int:
    from bot.backends.spreadsheet import write_template

    say = _say(lang)
    target = path or DEFAULT_TEMPLATE
    try:
        write_template(target)
    except OSError as err:
        reason = err.strerror or type(err).__name__
        print(say("template_write_failed", target=target, reason=reason), file=out)
        return 2
    print(say("template_written", target=target), file=out)
    print(say("template_next"), file=out)
    print(say("template_command", target=target), file=out)
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
    lang: str = DEFAULT_LOCALE,
) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from bot.backends.local_import import import_school
    from bot.backends.spreadsheet import read_file
    from bot.clock import SystemClock
    from storage.engine import create_engine, session_factory
    from storage.migrate import upgrade

    say = _say(lang)
    progress = ProgressLine(err_stream, say("import_rows", count="{count}"), lang=lang)
    try:
        parsed = read_file(path, kind=kind, progress=progress)
    except ImportFileError as err:
        progress.close()
        print(say("import_unreadable", file=path.name, error=err.render(lang)), file=out)
        return 2
    except MemoryError:
        progress.close()
        print(say("import_too_big", file=path.name), file=out)
        return 2
    progress.close()
    for title in parsed.skipped:
        print(say("import_sheet_skipped", title=title), file=out)

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
        print(say("import_db_error", error=type(err).__name__), file=out)
        return 3
    finally:
        await engine.dispose()
    progress.close()

    if report.errors:
        print(say("import_errors", count=len(report.errors)), file=out)
        for error in report.errors[:MAX_ERRORS_SHOWN]:
            print(f"  - {error.render(lang)}", file=out)
        if len(report.errors) > MAX_ERRORS_SHOWN:
            print(say("import_more_errors", count=len(report.errors) - MAX_ERRORS_SHOWN), file=out)
        return 1

    if dry_run:
        print(say("import_dry_run_changes"), file=out)
        for summary in report.sheets.values():
            for change in summary.changes[:MAX_CHANGES_SHOWN]:
                print(f"  {summary.title}, {change.render(lang)}", file=out)
            if len(summary.changes) > MAX_CHANGES_SHOWN:
                more = len(summary.changes) - MAX_CHANGES_SHOWN
                print(say("import_more_changes", title=summary.title, count=more), file=out)
    if report.school_created:
        print(say("import_school_created", school=school_id), file=out)
    elif report.school_changes:
        fields = ", ".join(report.school_changes)
        print(say("import_school_updated", school=school_id, fields=fields), file=out)
    sheet, added = say("import_col_sheet"), say("import_col_added")
    changed, unchanged = say("import_col_changed"), say("import_col_unchanged")
    print(f"{sheet:<20} {added:>7} {changed:>7} {unchanged:>11}", file=out)
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
        print(say("import_dry_run_done"), file=out)
    else:
        print(say("import_done", school=school_id, scores=report.scores_touched), file=out)
    return 0
