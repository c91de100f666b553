#!/usr/bin/env python3
"""LienLac command line. ``python run_bot.py`` with nothing set starts the demo chat.

Heavy modules are imported inside the commands, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.bootstrap import App
    from bot.config import SchoolConfig, Settings

DESCRIPTION = """\
LienLac: the school contact book (sổ liên lạc) as a chatbot on Telegram and Zalo.

With nothing configured, `python run_bot.py` migrates a local SQLite database, seeds the
demo school the first time, and opens a chat in this terminal. OTP codes appear as
simulated SMS lines. Settings come from LIENLAC_* environment variables (`__` nests, e.g.
LIENLAC_DATABASE__URL) or a TOML file given with --config.
"""

EPILOG = """\
examples (.venv/bin/python is the Python that ./scripts/demo and ./scripts/test set up):
  .venv/bin/python run_bot.py                      chat with the demo school in the terminal
  .venv/bin/python run_bot.py demo info            student codes, phones and teacher codes to try
  .venv/bin/python run_bot.py run --user me2       a second chat user (e.g. to act as a teacher)
  .venv/bin/python run_bot.py check-config         validate the settings and the database
  .venv/bin/python run_bot.py notice --class 6A --text "Họp phụ huynh 19h thứ Sáu" [--urgent]
  .venv/bin/python run_bot.py poll create --class 6A --question "Họp buổi nào?" \\
      --option "Sáng thứ Bảy" --option "Tối thứ Sáu" --deadline "27/11 17h"
  .venv/bin/python run_bot.py poll results --id 1 [--csv ket-qua.csv]
  .venv/bin/python run_bot.py poll close 1 | poll extend 1 "20/12 17:00" | poll cancel 1 --yes
  .venv/bin/python run_bot.py import --template    a blank spreadsheet to fill in
  .venv/bin/python run_bot.py import data.xlsx --school thcs-abc --name "Trường THCS ABC" --dry-run
  LIENLAC_DATABASE__URL=postgresql+asyncpg://postgres@127.0.0.1:5432/lienlac \\
      .venv/bin/python run_bot.py db upgrade       migrate a PostgreSQL database
"""


def _parser() -> argparse.ArgumentParser:
    # --config is accepted before or after the command; SUPPRESS keeps a subcommand's
    # missing option from overwriting the one given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="TOML settings file (env variables win)",
    )
    common.add_argument(
        "--lang",
        choices=["vi", "en"],
        default=argparse.SUPPRESS,
        help="language of the answers (and of the terminal chat); default: from LC_ALL / "
        "LC_MESSAGES / LANG (vi_* or en_*), else Vietnamese for the chat, English otherwise",
    )
    parser = argparse.ArgumentParser(
        prog="run_bot.py",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser(
        "run",
        parents=[common],
        help="start the bot (default)",
        description="start the bot (default)",
    )
    run.add_argument(
        "--user",
        default="local",
        metavar="NAME",
        help="console chat user id; use another name to be a second person (default: local)",
    )
    run.add_argument(
        "--school",
        default=None,
        metavar="ID",
        help="with several schools ([[schools]]), which one the terminal chat talks to",
    )
    db = sub.add_parser(
        "db", parents=[common], help="database maintenance", description="database maintenance"
    )
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_sub.add_parser(
        "upgrade", parents=[common], help="apply all migrations", description="apply all migrations"
    )
    backup = db_sub.add_parser(
        "backup",
        parents=[common],
        help="a consistent copy of the SQLite database, safe while the bot runs",
        description="a consistent copy of the SQLite database, safe while the bot runs",
    )
    backup.add_argument("file", type=Path, help="the new backup file (must not exist)")
    check = sub.add_parser(
        "check-config",
        parents=[common],
        help="validate settings and database",
        description="validate settings and database",
    )
    check.add_argument(
        "--online",
        action="store_true",
        help="also ask Telegram (getMe) and Zalo Bot (getMe) whether each bot token works",
    )
    stats = sub.add_parser(
        "stats",
        parents=[common],
        help="outbox queue, leave requests waiting and families reachable, per school",
        description="outbox queue, leave requests waiting and families reachable, per school",
    )
    stats.add_argument(
        "--all-families",
        action="store_true",
        help="list every family reachable only on paper (default: the first 20 per school)",
    )
    subst = sub.add_parser(
        "substitute",
        parents=[common],
        help="substitute homeroom teachers for leave requests",
        description="substitute homeroom teachers for leave requests",
    )
    subst.add_argument("--school", default=None, metavar="ID", help="default: the first school")
    subst_sub = subst.add_subparsers(dest="substitute_command", metavar="ACTION", required=True)
    add = subst_sub.add_parser(
        "add",
        parents=[common],
        help="a teacher decides a class's requests over some dates",
        description="a teacher decides a class's requests over some dates",
    )
    add.add_argument("--class", dest="class_name", required=True, help="class name, e.g. 6A")
    add.add_argument("--teacher", required=True, help="the substitute's staff code, e.g. GV005")
    add.add_argument("--from", dest="start", required=True, help="first day, dd/mm/yyyy")
    add.add_argument("--to", dest="end", required=True, help="last day, dd/mm/yyyy")
    subst_sub.add_parser(
        "list",
        parents=[common],
        help="every substitution of the school",
        description="every substitution of the school",
    )
    remove = subst_sub.add_parser(
        "remove",
        parents=[common],
        help="end a substitution early",
        description="end a substitution early",
    )
    remove.add_argument("id", type=int, help="the number shown by `substitute list`")
    forget = sub.add_parser(
        "forget",
        parents=[common],
        help="the school erases a pupil's family chats: links, requests' text, messages",
        description="the school erases a pupil's family chats: links, requests' text, messages",
    )
    forget.add_argument("--student", required=True, metavar="CODE", help="the student code")
    forget.add_argument("--school", default=None, metavar="ID", help="default: the first school")
    threads = sub.add_parser(
        "threads",
        parents=[common],
        help="parents' private messages to teachers: export (CSV) or purge past retention",
        description="parents' private messages to teachers: export (CSV) or purge past retention",
    )
    threads_sub = threads.add_subparsers(dest="threads_command", metavar="ACTION", required=True)
    export = threads_sub.add_parser(
        "export",
        help="every relayed message of a school (or one class) as CSV",
        description="every relayed message of a school (or one class) as CSV; no phone "
        "numbers or chat ids, only pupil and teacher ids",
    )
    export.add_argument("--school", default=None, metavar="ID", help="default: the first school")
    export.add_argument("--class", dest="class_id", default=None, metavar="ID", help="one class")
    export.add_argument("--out", required=True, type=Path, metavar="FILE", help="the CSV file")
    threads_sub.add_parser(
        "purge",
        help="delete messages older than each school's messages.retention_days now",
        description="delete messages older than each school's messages.retention_days now "
        "(the bot also does it hourly)",
    )
    otp = sub.add_parser(
        "otp",
        parents=[common],
        help="one-time codes: lift a lock-out",
        description="one-time codes: lift a lock-out",
    )
    otp_sub = otp.add_subparsers(dest="otp_command", metavar="ACTION", required=True)
    unlock = otp_sub.add_parser(
        "unlock",
        parents=[common],
        help="let a family link again after wrong codes or too many texts (their own phone)",
        description="let a family link again after wrong codes or too many texts (their own phone)",
    )
    unlock.add_argument("--student", required=True, metavar="CODE", help="the student code")
    unlock.add_argument("--school", default=None, metavar="ID", help="default: the first school")
    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="the built-in demo school",
        description="the built-in demo school",
    )
    demo_sub = demo.add_subparsers(dest="demo_command", metavar="ACTION", required=True)
    info = demo_sub.add_parser(
        "info",
        parents=[common],
        help="classes, student codes, phones, teacher codes",
        description="classes, student codes, phones, teacher codes",
    )
    info.add_argument("--json", action="store_true", help="machine-readable output")
    demo_sub.add_parser(
        "reset",
        parents=[common],
        help="delete the demo school's data and chats, seed again",
        description="delete the demo school's data and chats, seed again",
    )
    notice = sub.add_parser(
        "notice",
        parents=[common],
        help="send a notice to the parents of a class or of the whole school",
        description="send a notice to the parents of a class or of the whole school",
    )
    notice.add_argument("--school", default=None, help="school id (default: the configured one)")
    notice.add_argument(
        "--class",
        dest="class_name",
        action="append",
        metavar="NAME",
        help="class name, e.g. 6A (repeatable); omit for the whole school",
    )
    notice.add_argument("--text", required=True, help="the notice, at most 500 characters")
    notice.add_argument("--urgent", action="store_true", help="send at once, even in quiet hours")
    notice.add_argument("--yes", action="store_true", help="send without asking to confirm")
    from bot import poll_cli

    poll_cli.add_parser(sub, common)
    fees = sub.add_parser(
        "fees",
        parents=[common],
        help="fee payments: match a bank statement to the fee items",
        description="fee payments: match a bank statement to the fee items",
    )
    fees_sub = fees.add_subparsers(dest="fees_command", metavar="ACTION", required=True)
    rec = fees_sub.add_parser(
        "reconcile",
        parents=[common],
        help="mark fees paid from a bank statement CSV (memo reference + amount)",
        description="Read a bank statement CSV export (columns for date, amount and memo; see "
        "docs/usage.md), match each transfer memo's fee reference (HP XXXXXXXX) and amount to "
        "the fee items, mark the matches paid on the local backend, print a summary.",
    )
    rec.add_argument("--school", default=None, help="school id (default: the configured one)")
    rec.add_argument("--file", type=Path, required=True, help="the bank statement .csv")
    rec.add_argument("--dry-run", action="store_true", help="report only, mark nothing paid")
    book = sub.add_parser(
        "contact-book",
        parents=[common],
        help="write the printed contact book of a class (or the whole school) as a PDF",
        description="One A4 page per pupil: the term's scores and averages, absences, fees "
        "due (with a VietQR code when the school's bank account is known), the teacher's "
        "remarks and the parent's signature.",
    )
    book.add_argument("--school", required=True, metavar="ID", help="school id")
    book.add_argument(
        "--class",
        dest="class_name",
        required=True,
        metavar="NAME",
        help="class name or id (e.g. 6A), or 'all' for the whole school",
    )
    book.add_argument("--month", required=True, metavar="MM/YYYY", help="e.g. 11/2026")
    book.add_argument("--out", type=Path, metavar="FILE", help="the PDF to write")
    imp = sub.add_parser(
        "import",
        parents=[common],
        help="load a school's spreadsheet (xlsx/csv) into the local backend",
        description="Import students, guardians, classes, teachers, scores, timetable, fees "
        "and attendance from an xlsx workbook (a sheet per kind) or a CSV file (one kind). "
        "Nothing is written if any row has an error.",
    )
    imp.add_argument("file", nargs="?", type=Path, help="the .xlsx or .csv file")
    imp.add_argument(
        "--school",
        metavar="ID",
        help="school id, required with FILE (serve it with LIENLAC_SCHOOL_ID=ID)",
    )
    imp.add_argument("--name", metavar="NAME", help="school name (needed for a new school)")
    imp.add_argument(
        "--kind",
        choices=[k.value for k in _import_kinds()],
        help="what a CSV file holds, when its headers do not say",
    )
    imp.add_argument("--dry-run", action="store_true", help="show the changes, write nothing")
    imp.add_argument(
        "--template",
        nargs="?",
        type=Path,
        const=Path("lienlac-mau-nhap-du-lieu.xlsx"),
        metavar="PATH",
        help="write a blank template workbook instead",
    )
    return parser


def _import_kinds() -> list[Any]:
    from bot.backends.spreadsheet import Kind

    return [k for k in Kind if k is not Kind.INFO]


def _import(args: argparse.Namespace, settings: Settings) -> int:
    import re

    from bot.backends.import_cli import run_import
    from bot.backends.spreadsheet import Kind

    logging.getLogger("alembic").setLevel(logging.WARNING)  # keep the summary readable
    from bot.i18n import Catalog

    lang = _language(args, default="en")
    if args.file is None or not args.school:
        print(Catalog.load().t(lang, "cli.import_needs_file"), file=sys.stderr)
        return 2
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", args.school):
        print(Catalog.load().t(lang, "cli.import_bad_school"), file=sys.stderr)
        return 2
    return asyncio.run(
        run_import(
            settings.database_url,
            args.file,
            school_id=args.school,
            name=args.name,
            kind=Kind(args.kind) if args.kind else None,
            dry_run=args.dry_run,
            lang=lang,
        )
    )


def _language(args: argparse.Namespace, *, default: str) -> str:
    """``--lang``, else the locale the way POSIX reads it (the first of LC_ALL, LC_MESSAGES,
    LANG that is set decides), else ``default``. Only vi_* and en_* count as a choice."""
    chosen = getattr(args, "lang", None)
    if chosen:
        return str(chosen)
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable, "")
        if value:
            lang = value.split(".")[0].split("_")[0].lower()
            return lang if lang in ("vi", "en") else default
    return default


def _settings(args: argparse.Namespace) -> Settings:
    from bot.config import load_settings

    return load_settings(getattr(args, "config", None))


def _alembic_chatter(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith(("Context impl", "Will assume"))


def _configure_logging(settings: Settings, *, console: bool) -> None:
    level = getattr(logging, settings.log_level)
    if console and "LIENLAC_LOG_LEVEL" not in os.environ:
        level = logging.WARNING  # keep the terminal chat readable
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs full URLs at INFO, and a Telegram URL contains the bot token.
    for noisy in ("httpx", "httpcore", "telegram", "apscheduler", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    # Alembic's "Context impl" and "Will assume" lines drown the answer of a one-shot command;
    # an actual migration step is still logged ("Running upgrade ...").
    logging.getLogger("alembic.runtime.plugins").setLevel(max(level, logging.WARNING))
    logging.getLogger("alembic.runtime.migration").addFilter(_alembic_chatter)


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.background import run_background
    from bot.bootstrap import build_app
    from bot.channels.console import ConsoleChannel, ConsoleSender
    from bot.domain.errors import BackendError

    if any(
        school.telegram.token is not None
        or school.zalo_bot.token is not None
        or school.zalo_oa.enabled
        for school in settings.school_configs()
    ):
        from bot.serve import serve

        return await serve(settings)
    console: ConsoleChannel | None = None

    def write(line: str) -> None:
        if console is not None:
            console.write(line)
        else:
            print(line, flush=True)

    schools = [school.id for school in settings.school_configs()]
    school_id = args.school or schools[0]
    if school_id not in schools:
        say = _ops_say(args.lang)
        print(say("unknown_school_choose", school=school_id, schools=", ".join(schools)))
        return 2
    # the office's web page (bot.admin) on the webhook server's address: /web in the terminal
    # chat prints a loopback sign-in link to it
    web_url = f"http://{settings.webhook.listen}/admin" if settings.admin.enabled else None
    app = await build_app(settings, console_write=write, web_url=web_url)
    try:
        try:
            info = await app.services.backends.for_school(school_id).school_info()
            school_name = info.name
        except BackendError as err:  # the school system is down: chat anyway, it may return
            logging.getLogger("run_bot").warning(
                "the school system did not answer at start (%s)", type(err).__name__
            )
            school_name = school_id
        console = ConsoleChannel(
            app.router.handle,
            school_id=school_id,
            user=args.user,
            locale=args.lang,
            documents_dir=settings.data_dir,
        )
        catalog = app.services.catalog
        banner = catalog.t(args.lang, "cli.console_banner", school=school_name)
        sender = ConsoleSender(console)
        relay = app.build_relay({"console": sender}, accept=sender.accepts)
        stop = asyncio.Event()
        background = asyncio.create_task(run_background(app, relay, stop))
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is not None:
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            async with contextlib.AsyncExitStack() as stack:
                if web_url is not None:
                    await stack.enter_async_context(_web_page(app, settings))
                with contextlib.suppress(asyncio.CancelledError):
                    await console.run(banner)
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(background, 5.0)
        console.write(catalog.t(args.lang, "cli.console_goodbye"))
    finally:
        await app.aclose()
    return 0


@contextlib.asynccontextmanager
async def _web_page(app: App, settings: Settings) -> AsyncIterator[None]:
    """The terminal demo's web server: only the office's web page (and /healthz), on
    ``LIENLAC_WEBHOOK__LISTEN``. A busy port is logged; the chat goes on without it."""
    from bot.admin.web import build_admin
    from bot.channels.http_server import running
    from bot.channels.webhook import Hooks, webhook_app

    server = webhook_app(Hooks(), admin=build_admin(app))
    async with running(server, settings.webhook.listen, what="web page server"):
        yield


async def _notice(args: argparse.Namespace, settings: Settings, say: Callable[..., str]) -> int:
    """``run_bot.py notice``: preview, confirm, then record the notice for the parents."""
    from bot.bootstrap import opened_app
    from bot.domain.text import clean, fold
    from bot.notifications import publish_notice

    text = clean(args.text).strip()  # no control or bidi characters reach the parents
    if not text or len(text) > 500:
        print(say("notice_length"), file=sys.stderr)
        return 2
    school_id = args.school or settings.school_configs()[0].id
    if school_id not in {s.id for s in settings.school_configs()}:
        print(say("notice_unknown_school", school=school_id), file=sys.stderr)
        return 2
    async with opened_app(settings) as app:
        # the school's own system (spreadsheet import, REST/JSON, OneRoster), not always the
        # local tables: a notice to "6A" reaches the parents of that school's 6A
        backend = app.services.backends.for_school(school_id)
        classes = {fold(c.name).replace(" ", ""): c for c in await backend.classes()}
        if not classes:
            print(say("notice_no_classes", school=school_id), file=sys.stderr)
            return 2
        class_ids: list[str] | None = None
        names = say("notice_whole_school")
        if args.class_name:
            wanted = [fold(n).replace(" ", "") for n in args.class_name]
            unknown = [n for n, w in zip(args.class_name, wanted, strict=True) if w not in classes]
            if unknown:
                print(say("notice_unknown_class", classes=", ".join(unknown)), file=sys.stderr)
                return 2
            class_ids = [classes[w].id for w in wanted]
            names = ", ".join(classes[w].name for w in wanted)
        kind = say("notice_urgent") if args.urgent else say("notice_normal")
        print(say("notice_preview", school=school_id, to=names, kind=kind, text=text))
        if not args.yes:
            try:
                answer = await asyncio.to_thread(input, say("notice_confirm"))
            except EOFError:
                answer = ""
            if fold(answer).strip() not in {"y", "yes", "co", "c"}:
                print(say("notice_cancelled"))
                return 1
        now = app.services.clock.now()
        async with app.uow_factory() as uow:
            reached = await publish_notice(
                uow,
                backend,
                app.services.catalog,
                school_id=school_id,
                class_ids=class_ids,
                author="cli",
                text=text,
                urgent=args.urgent,
                now=now,
            )
            await uow.audit.record(
                school_id=school_id,
                actor="cli",
                action="notice.sent",
                subject=",".join(class_ids or ["*"]),
                detail={"urgent": args.urgent, "parents": reached},
                at=now,
            )
            await uow.commit()
    print(say("notice_recorded", count=reached))
    return 0


async def _contact_book(args: argparse.Namespace, settings: Settings) -> int:
    """``run_bot.py contact-book``: one PDF, a page per pupil of a class or of the school."""
    from bot.backends.import_cli import ProgressLine
    from bot.bootstrap import opened_app
    from bot.contact_book import gather, parse_month, render
    from bot.domain.text import fold
    from bot.i18n import Catalog

    lang = _language(args, default="vi")
    catalog = Catalog.load()

    def say(key: str, /, **values: object) -> str:
        return catalog.t(lang, f"contact_book.{key}", **values)

    month = parse_month(args.month)
    if month is None:
        print(say("cli_bad_month"), file=sys.stderr)
        return 2
    if args.school not in {s.id for s in settings.school_configs()}:
        print(say("cli_unknown_school", school=args.school), file=sys.stderr)
        return 2
    async with opened_app(settings) as app:
        backend = app.services.backends.for_school(args.school)
        classes = list(await backend.classes())
        if fold(args.class_name) in {"all", "tat ca", "toan truong"}:
            chosen = classes
        else:
            wanted = fold(args.class_name).replace(" ", "")
            chosen = [
                c
                for c in classes
                if wanted in {fold(c.name).replace(" ", ""), fold(c.id).replace(" ", "")}
            ]
        if not chosen:
            print(
                say("cli_unknown_class", school=args.school, class_name=args.class_name),
                file=sys.stderr,
            )
            return 2
        bar = ProgressLine(sys.stderr) if len(chosen) > 1 else None
        stage = say("cli_progress")
        pages = await gather(
            backend,
            [c.id for c in chosen],
            month,
            progress=(lambda done, total: bar(stage, done, total)) if bar else None,
        )
        if bar is not None:
            bar.close()
        info = await backend.school_info()
        bank = app.services.for_school(args.school).bank
        pdf = render(pages, school=info, month=month, catalog=catalog, locale=lang, bank=bank)
    label = "all" if len(chosen) > 1 else fold(chosen[0].name).replace(" ", "")
    out = args.out or Path(f"so-lien-lac-{label}-{month.year:04d}-{month.month:02d}.pdf")
    out.write_bytes(pdf)
    print(say("cli_written", path=out, pages=max(1, len(pages))))
    return 0


def _ops_say(lang: str) -> Callable[..., str]:
    """The operator's lines (catalogue table ``[ops]``) in ``lang``."""
    from bot.i18n import Catalog

    catalog = Catalog.load()

    def say(key: str, /, **values: object) -> str:
        return catalog.t(lang, f"ops.{key}", **values)

    return say


async def _db_upgrade(settings: Settings, say: Callable[..., str]) -> int:
    from bot.bootstrap import migrated_engine
    from storage.migrate import current_revision

    async with migrated_engine(settings) as engine:
        print(say("db_revision", revision=await current_revision(engine)))
    return 0


def _db_backup(target: Path, settings: Settings, say: Callable[..., str]) -> int:
    """``db backup FILE``: SQLite's online backup API copies a consistent snapshot while the
    bot keeps running (a one-shot command: no event loop to keep free, so no thread).
    PostgreSQL has its own tool. Prints paths and sizes, never data."""
    import sqlite3

    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        print(say("backup_postgres"), file=sys.stderr)
        return 2
    source = Path(url.database or "")
    if not url.database or url.database == ":memory:" or not source.is_file():
        print(say("backup_no_database", source=source), file=sys.stderr)
        return 2
    if target.exists() or not target.parent.is_dir():
        print(say("backup_bad_target", target=target), file=sys.stderr)
        return 2
    part = target.with_name(f".{target.name}.part")

    def copy() -> str:
        # The copy holds personal data: only its owner may read it, from the first byte.
        os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        src = sqlite3.connect(source, timeout=30)
        try:
            dst = sqlite3.connect(part)
            try:
                # One step, one read transaction: a snapshot; in WAL mode writers go on.
                src.backup(dst)
                dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
                check = dst.execute("PRAGMA quick_check").fetchone()[0]
                if check != "ok":
                    raise sqlite3.DatabaseError("the copy failed its integrity check")
                tables = "SELECT 1 FROM sqlite_master WHERE name = 'alembic_version'"
                row = None
                if dst.execute(tables).fetchone():
                    row = dst.execute("SELECT version_num FROM alembic_version").fetchone()
            finally:
                dst.close()
        finally:
            src.close()
        os.replace(part, target)
        return str(row[0]) if row else "none"

    try:
        revision = copy()
    except (sqlite3.Error, OSError) as err:  # e.g. a full disk or a read-only folder
        part.unlink(missing_ok=True)
        print(say("backup_failed", error=type(err).__name__, detail=err), file=sys.stderr)
        return 3
    size = target.stat().st_size
    print(say("backup_done", source=source, target=target, size=size, revision=revision))
    return 0


async def _substitute(args: argparse.Namespace, settings: Settings, say: Callable[..., str]) -> int:
    import datetime as dt

    from bot.bootstrap import opened_app
    from bot.domain.formatting import format_date
    from bot.domain.text import fold

    school = getattr(args, "school", None) or settings.school_configs()[0].id
    async with opened_app(settings) as app:
        backend = app.services.backends.for_school(school)
        classes = {c.id: c for c in await backend.classes()}
        teachers = {t.id: t for t in await backend.teachers()}
        async with app.uow_factory() as uow:
            if args.substitute_command == "list":
                rows = await uow.substitutes.all(school)
                if not rows:
                    print(say("substitute_none"))
                for r in rows:
                    cls = classes.get(r.class_id)
                    who = teachers.get(r.teacher_id)
                    print(
                        f"#{r.id}  {cls.name if cls else r.class_id}  "
                        f"{who.code + ' ' + who.full_name if who else r.teacher_id}  "
                        f"{format_date(r.start_date)} – {format_date(r.end_date)}"
                    )
                return 0
            if args.substitute_command == "remove":
                if not await uow.substitutes.remove(school, args.id):
                    print(say("substitute_unknown", id=args.id), file=sys.stderr)
                    return 1
                await uow.commit()
                print(say("substitute_removed", id=args.id))
                return 0
            cls_found = [c for c in classes.values() if fold(c.name) == fold(args.class_name)]
            teacher = await backend.find_teacher(args.teacher)
            try:
                start = dt.datetime.strptime(args.start, "%d/%m/%Y").date()
                end = dt.datetime.strptime(args.end, "%d/%m/%Y").date()
            except ValueError:
                print(say("substitute_bad_dates"), file=sys.stderr)
                return 2
            if not cls_found or teacher is None or end < start:
                problem = (
                    say("substitute_no_class", name=args.class_name)
                    if not cls_found
                    else say("substitute_no_teacher")
                    if teacher is None
                    else say("substitute_end_before_start")
                )
                print(say("substitute_not_added", problem=problem), file=sys.stderr)
                return 2
            row = await uow.substitutes.add(
                school_id=school,
                class_id=cls_found[0].id,
                teacher_id=teacher.id,
                start_date=start,
                end_date=end,
                now=dt.datetime.now(dt.UTC),
            )
            await uow.commit()
            print(
                say(
                    "substitute_added",
                    id=row.id,
                    teacher=teacher.full_name,
                    name=cls_found[0].name,
                    start=format_date(start),
                    end=format_date(end),
                )
            )
            return 0


async def _reach(settings: Settings, sessions: Any) -> list[Any]:
    """Per school, how its families can be reached (``bot.stats.Reach``): the school data
    of the ``local`` backend; other backends cannot list families."""
    from bot.backends.local import LocalBackend
    from bot.bootstrap import sms_provider_configured
    from bot.stats import Reach, reachability
    from storage.stats import guardian_chats

    out = []
    for school in settings.school_configs():
        if school.backend.kind != "local":
            out.append(Reach(school_id=school.id, listed=False))
            continue
        families = await LocalBackend(sessions, school.id).families()
        chats = await guardian_chats(sessions, school.id)
        provider = sms_provider_configured(school.otp)
        out.append(reachability(school.id, families, chats, sms_provider=provider))
    return out


async def _stats(settings: Settings, say: Callable[..., str], *, all_families: bool = False) -> int:
    import datetime as dt

    from bot.bootstrap import migrated_engine
    from bot.stats import (
        collect_stats,
        format_absence_stats,
        format_otp_stats,
        format_reach,
        format_stats,
    )
    from storage.engine import session_factory
    from storage.outbox_store import SqlOutboxStore
    from storage.stats import absence_stats, otp_stats

    async with migrated_engine(settings) as engine:
        now = dt.datetime.now(dt.UTC)
        outbox = await collect_stats(SqlOutboxStore(engine), now=now)
        absences = await absence_stats(session_factory(engine), now=now)
        otps = await otp_stats(session_factory(engine), now=now)
        reach = await _reach(settings, session_factory(engine))
    print(say("stats_outbox"))
    print(format_stats(outbox, say))
    print(say("stats_absences"))
    print(format_absence_stats(absences, say))
    print(say("stats_otp"))
    caps = {s.id: settings.otp for s in settings.school_configs()}
    print(format_otp_stats(otps, caps, say))
    print(say("stats_reach"))
    print(format_reach(reach, say, limit=None if all_families else 20))
    return 0


async def _check_config(
    settings: Settings, say: Callable[..., str], *, online: bool = False
) -> int:
    from sqlalchemy import text

    from bot.bootstrap import missing_school, schools_without_data
    from storage.engine import create_engine
    from storage.migrate import current_revision

    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        revision = await current_revision(engine)
        oa_lines = {
            school.id: await _oa_token_line(school, engine, say) if revision else ""
            for school in settings.school_configs()
        }
        # what `run` would refuse at start: a local school with no data
        missing = await schools_without_data(settings, engine) if revision else []
    except Exception as err:
        print(say("db_unreachable", error=type(err).__name__))
        return 1
    finally:
        await engine.dispose()
    if missing:
        for school_id in missing:
            print(missing_school(school_id))
        return 1
    if not revision and any(
        s.backend.kind == "local" and not (settings.seed_demo and s.id == "demo")
        for s in settings.school_configs()
    ):
        print(missing_school(settings.school_configs()[0].id))
        return 1
    bad_tokens = [
        s.id
        for s in settings.school_configs()
        if s.telegram.token is not None
        and not re.fullmatch(r"\d{5,16}:[A-Za-z0-9_-]{30,}", s.telegram.token.get_secret_value())
    ]
    if bad_tokens:
        print(say("bad_token", schools=", ".join(bad_tokens)))
        return 1
    if online:
        refused = await _check_bots_online(settings, say)
        if refused:
            print(refused)
            return 1
    print(say("valid"))
    kind = settings.database_url.split("://", 1)[0]
    print(say("database", kind=kind, revision=revision or say("no_revision")))
    several = len(settings.school_configs()) > 1
    for school in settings.school_configs():
        # with [[schools]], each school's own lines, labelled
        where = f" ({school.id})" if several else ""
        print(say("otp_provider", where=where, provider=school.otp.provider))
        bot = say("token_set") if school.zalo_bot.token else say("off")
        print(say("zalo_bot", where=where, state=bot))
        oa = school.zalo_oa
        app = say("zalo_oa_app", app=oa.app_id) if oa.enabled else say("off")
        print(say("zalo_oa", where=where, state=app))
        if oa_lines[school.id]:
            print(say("zalo_oa_token", where=where, state=oa_lines[school.id]))
    remote = False
    for school in settings.school_configs():
        kind = school.backend.kind
        remote = remote or kind != "local"
        telegram = say("token_set") if school.telegram.token else say("off")
        print(
            say(
                "school_line",
                school=school.id,
                timezone=school.timezone,
                kind=school.backend.kind,
                telegram=telegram,
            )
        )
    if not remote:
        return 0
    return await _check_backend(settings, say)


async def _check_bots_online(settings: Settings, say: Callable[..., str]) -> str | None:
    """``check-config --online``: each bot token asked once (getMe) where it is used. One
    sentence for the first that fails, None when every one answered. Never echoes a token."""
    import httpx

    checks = []
    for school in settings.school_configs():
        if school.telegram.token is not None:
            token = school.telegram.token.get_secret_value()
            checks.append(
                (
                    "Telegram",
                    "LIENLAC_TELEGRAM__TOKEN",
                    school.telegram.api_base_url,
                    token,
                    school.id,
                )
            )
        if school.zalo_bot.token is not None:
            token = school.zalo_bot.token.get_secret_value()
            checks.append(
                (
                    "Zalo Bot",
                    "LIENLAC_ZALO_BOT__TOKEN",
                    school.zalo_bot.api_base_url,
                    token,
                    school.id,
                )
            )
    async with httpx.AsyncClient(timeout=10.0) as client:
        for name, variable, base, token, school_id in checks:
            try:
                response = await client.post(f"{base}/bot{token}/getMe", json={})
            except httpx.HTTPError as err:
                return say(
                    "online_no_answer",
                    name=name,
                    base=base,
                    error=type(err).__name__,
                    school=school_id,
                )
            try:
                body = response.json()
            except ValueError:
                body = {}
            if response.is_success and isinstance(body, dict) and body.get("ok") is True:
                continue
            if response.status_code in (401, 404):
                return say(
                    "online_refused",
                    name=name,
                    school=school_id,
                    status=response.status_code,
                    variable=variable,
                )
            return say("online_status", name=name, status=response.status_code, school=school_id)
    return None


async def _check_backend(settings: Settings, say: Callable[..., str]) -> int:
    """Test before configure: ask the school system each kind of question once."""
    from bot.backends.registry import probe
    from bot.bootstrap import build_backends
    from bot.clock import SystemClock
    from storage.engine import create_engine, session_factory

    engine = create_engine(settings.database_url)
    results = []
    try:
        built = await build_backends(
            settings, sessions=session_factory(engine), clock=SystemClock()
        )
        try:
            for school in settings.school_configs():
                if school.backend.kind == "local":
                    continue
                b = school.backend
                print(say("backend_line", school=school.id, kind=b.kind, mapping=b.mapping))
                backend = built.direct[school.id]
                sample = getattr(backend, "check_student_code", "")
                results.extend(await probe(backend, sample))
        finally:
            for close in built.closers:
                result = close()
                if hasattr(result, "__await__"):
                    await result
    finally:
        await engine.dispose()
    width = max(len(r.endpoint) for r in results)
    for r in results:
        mark = say("probe_ok") if r.ok else say("probe_fail")
        print(f"    {mark:<5}{r.endpoint:<{width}}  {r.detail}")
    failed = [r for r in results if not r.ok]
    if failed:
        print(say("backend_failed", failed=len(failed), total=len(results)))
        return 1
    print(say("backend_ok", total=len(results)))
    return 0


async def _oa_token_line(school: SchoolConfig, engine: Any, say: Callable[..., str]) -> str:
    """The school's OA token stats entry (no token), or "" when it has no OA."""
    if not school.zalo_oa.enabled:
        return ""
    from storage.oa_tokens import SqlOaTokenStore

    state = await SqlOaTokenStore(engine).load(school.id)
    if state is None:
        return say("oa_token_not_stored")
    expires = state.expires_at.isoformat(timespec="minutes") if state.expires_at else "-"
    line = say("oa_token_state", expires=expires, failures=state.refresh_failures)
    return say("oa_token_error", line=line, error=state.last_error) if state.last_error else line


async def _demo_reset(settings: Settings, say: Callable[..., str]) -> int:
    from bot.backends.demo_data import SCHOOL_ID, build_demo_school
    from bot.backends.local_seed import delete_school, seed_school
    from bot.bootstrap import migrated_engine
    from bot.clock import SystemClock
    from storage.engine import session_factory

    async with migrated_engine(settings) as engine:
        sessions = session_factory(engine)
        await delete_school(sessions, SCHOOL_ID)
        await seed_school(sessions, build_demo_school(), now=SystemClock().now())
    print(say("demo_reset"))
    return 0


def demo_info() -> dict[str, Any]:
    from bot.backends.demo_data import build_demo_school

    demo = build_demo_school()
    guardians = {g.id: g for g in demo.guardians}
    classes = {c.id: c for c in demo.classes}
    by_student: dict[str, list[dict[str, str]]] = {}
    for link in demo.guardian_links:
        g = guardians[link.guardian_id]
        by_student.setdefault(link.student_id, []).append(
            {"name": g.name, "relation": g.relation, "phone": g.phone}
        )
    return {
        "school": {"id": demo.info.id, "name": demo.info.name, "year": demo.info.school_year},
        "classes": [
            {
                "id": c.id,
                "name": c.name,
                "grade": c.grade,
                "homeroom_teacher": c.homeroom_teacher_id,
            }
            for c in demo.classes
        ],
        "students": [
            {
                "code": s.code,
                "name": s.full_name,
                "class": s.class_name,
                "guardians": by_student.get(s.id, []),
            }
            for s in demo.students
        ],
        "teachers": [
            {
                "code": t.code,
                "name": t.full_name,
                "phone": t.phone,
                "homeroom": [classes[c].name for c in t.homeroom_class_ids],
                "classes": [classes[c].name for c in t.subject_class_ids],
            }
            for t in demo.teachers
        ],
    }


def _print_demo_info(as_json: bool, say: Callable[..., str]) -> int:
    info = demo_info()
    if as_json:
        print(json.dumps(info, ensure_ascii=False, indent=2))
        return 0
    print(say("demo_title", name=info["school"]["name"], year=info["school"]["year"]) + "\n")
    print(say("demo_students"))
    for s in info["students"]:
        parents = "; ".join(f"{g['relation']} {g['name']}: {g['phone']}" for g in s["guardians"])
        print(f"  {s['code']:<8} {s['name']:<24} {s['class']:<4} {parents}")
    print("\n" + say("demo_teachers"))
    for t in info["teachers"]:
        homeroom = ", ".join(t["homeroom"]) or "-"
        taught = ", ".join(t["classes"])
        roles = say("demo_teacher_roles", homeroom=f"{homeroom:<4}", taught=taught)
        print(f"  {t['code']:<6} {t['name']:<24} {t['phone']}  {roles}")
    print("\n" + say("demo_phones_fake"))
    return 0


async def _otp_unlock(args: argparse.Namespace, settings: Settings, say: Callable[..., str]) -> int:
    """Lift every OTP lock of one pupil and the phones of its guardians (wrong codes, texts
    per phone): the counters start again from now. Recorded in the audit log."""
    import datetime as dt

    from bot.bootstrap import opened_app
    from dialogs.verify_parent import UNLOCK

    school = args.school or settings.school_configs()[0].id
    async with opened_app(settings) as app:
        backend = app.services.backends.for_school(school)
        student = await backend.find_student(args.student)
        if student is None:
            print(say("no_student", school=school), file=sys.stderr)
            return 2
        guardians = await backend.guardians(student.id)
        now = dt.datetime.now(dt.UTC)
        async with app.uow_factory() as uow:
            for subject in [f"s:{student.id}", *(f"p:{g.id}" for g in guardians)]:
                await uow.audit.record(
                    school_id=school, actor="cli", action=UNLOCK, subject=subject, at=now
                )
            await uow.commit()
        print(
            say(
                "otp_unlocked",
                name=student.full_name,
                class_name=student.class_name,
                phones=len(guardians),
            )
        )
        return 0


async def _forget_student(
    args: argparse.Namespace, settings: Settings, say: Callable[..., str]
) -> int:
    """Every chat ever linked as a guardian of the pupil is forgotten, as if it had sent
    /forget (storage/privacy.py); one anonymised audit event records that it happened."""
    import datetime as dt

    from bot.bootstrap import opened_app

    school = args.school or settings.school_configs()[0].id
    async with opened_app(settings) as app:
        student = await app.services.backends.for_school(school).find_student(args.student)
        if student is None:
            print(say("no_student", school=school), file=sys.stderr)
            return 2
        now = dt.datetime.now(dt.UTC)
        async with app.uow_factory() as uow:
            users = await uow.privacy.users_of_student(school, student.id)
            for key in users:
                await uow.privacy.forget_user(key, now=now)
            await uow.audit.record(
                school_id=school, actor="cli", action="account.forget", detail={}, at=now
            )
            await uow.commit()
        print(say("forgotten", count=len(users)))
        return 0


async def _threads(args: argparse.Namespace, settings: Settings, say: Callable[..., str]) -> int:
    """``threads export`` / ``threads purge`` (issue 17)."""
    import datetime as dt

    from bot.bootstrap import opened_app
    from bot.thread_jobs import purge
    from storage.thread_store import export_csv

    async with opened_app(settings) as app:
        if args.threads_command == "purge":
            gone = await purge(app.sessions, app.services, now=dt.datetime.now(dt.UTC))
            print(say("threads_purged", count=gone))
            return 0
        school = args.school or settings.school_configs()[0].id
        async with app.sessions() as session:
            text = await export_csv(session, school, args.class_id)
        args.out.write_text(text, encoding="utf-8-sig")  # Excel reads the diacritics right
        print(say("threads_exported", count=max(text.count("\n") - 1, 0), target=args.out))
        return 0


def _database_problem(err: BaseException, url: str) -> str | None:
    """One line for an operator when the database cannot be reached or opened (issue 13.11),
    instead of a traceback; None when ``err`` is about something else."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    chain: list[BaseException] = []
    cause: BaseException | None = err
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    postgres = any(type(e).__module__.startswith("asyncpg") for e in chain)
    refused = next((e for e in chain if isinstance(e, ConnectionRefusedError)), None)
    if not (postgres or refused or any(isinstance(e, (DBAPIError, InterfaceError)) for e in chain)):
        return None
    try:
        parsed = make_url(url)
        where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
        if parsed.get_backend_name() == "sqlite":
            where = parsed.database or "(memory)"
        shown = parsed.render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is the settings' job to report
        where, shown = "?", "?"
    if refused is not None or any(isinstance(e, OSError) for e in chain):
        reason = "connection refused" if refused else "cannot connect"
        return (
            f"Cannot reach the database at {where} ({reason}). Check LIENLAC_DATABASE__URL "
            f"({shown}) or start the database server."
        )
    detail = type(chain[-1]).__name__
    if any(isinstance(e, OperationalError) for e in chain) and "sqlite" in shown:
        return f"Cannot open the SQLite database {where} ({detail}). Check the path and its folder."
    return (
        f"The database at {where} refused us ({detail}). Check LIENLAC_DATABASE__URL ({shown}): "
        "user, password and database name."
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "run"
    if command == "demo" and args.demo_command == "info":
        return _print_demo_info(args.json, _ops_say(_language(args, default="en")))
    if command == "import" and args.template is not None:
        from bot.backends.import_cli import run_template

        return run_template(args.template, lang=_language(args, default="en"))
    from bot.config import ConfigError

    try:
        settings = _settings(args)
        _configure_logging(settings, console=command == "run")
        if command == "run":
            if not hasattr(args, "user"):
                args.user, args.school = "local", None
            args.lang = _language(args, default="vi")
            return asyncio.run(_run(args, settings))
        say = _ops_say(_language(args, default="en"))
        if command == "db":
            if args.db_command == "backup":
                return _db_backup(args.file, settings, say)
            return asyncio.run(_db_upgrade(settings, say))
        if command == "check-config":
            return asyncio.run(_check_config(settings, say, online=getattr(args, "online", False)))
        if command == "stats":
            return asyncio.run(_stats(settings, say, all_families=args.all_families))
        if command == "substitute":
            return asyncio.run(_substitute(args, settings, say))
        if command == "forget":
            return asyncio.run(_forget_student(args, settings, say))
        if command == "otp":
            return asyncio.run(_otp_unlock(args, settings, say))
        if command == "threads":
            return asyncio.run(_threads(args, settings, say))
        if command == "demo":
            return asyncio.run(_demo_reset(settings, say))
        if command == "notice":
            return asyncio.run(_notice(args, settings, say))
        if command == "poll":
            from bot import poll_cli

            return asyncio.run(poll_cli.run(args, settings, lang=_language(args, default="en")))
        if command == "import":
            return _import(args, settings)
        if command == "fees":
            from bot.backends.fee_reconcile import run_reconcile

            logging.getLogger("alembic").setLevel(logging.WARNING)  # keep the summary readable

            school = args.school or settings.school_configs()[0].id
            return asyncio.run(
                run_reconcile(settings, args.file, school_id=school, dry_run=args.dry_run)
            )
        if command == "contact-book":
            return asyncio.run(_contact_book(args, settings))
    except ConfigError as err:
        print(f"Configuration error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as err:
        problem = _database_problem(err, settings.database_url if "settings" in locals() else "")
        if problem is None:
            raise
        print(problem, file=sys.stderr)
        return 3
    raise AssertionError(f"unknown command {command}")


if __name__ == "__main__":
    sys.exit(main())
