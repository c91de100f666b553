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
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from bot.config import Settings

DESCRIPTION = """\
LienLac: the school contact book (sổ liên lạc) as a chatbot on Telegram and Zalo.

With nothing configured, `python run_bot.py` migrates a local SQLite database, seeds the
demo school the first time, and opens a chat in this terminal. OTP codes appear as
simulated SMS lines. Settings come from LIENLAC_* environment variables (`__` nests, e.g.
LIENLAC_DATABASE__URL) or a TOML file given with --config.
"""

EPILOG = """\
examples:
  python run_bot.py                      chat with the demo school in the terminal
  python run_bot.py demo info            student codes, phones and teacher codes to try
  python run_bot.py run --user me2       a second chat user (e.g. to act as a teacher)
  python run_bot.py check-config         validate the settings and the database
  LIENLAC_DATABASE__URL=postgresql+asyncpg://postgres@127.0.0.1:5432/lienlac \\
      python run_bot.py db upgrade       migrate a PostgreSQL database
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
    parser = argparse.ArgumentParser(
        prog="run_bot.py",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser("run", parents=[common], help="start the bot (default)")
    run.add_argument(
        "--user",
        default="local",
        metavar="NAME",
        help="console chat user id; use another name to be a second person (default: local)",
    )
    run.add_argument("--lang", default="vi", choices=["vi", "en"], help="console language hint")
    db = sub.add_parser("db", parents=[common], help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_sub.add_parser("upgrade", parents=[common], help="apply all migrations")
    sub.add_parser("check-config", parents=[common], help="validate settings and database")
    demo = sub.add_parser("demo", parents=[common], help="the built-in demo school")
    demo_sub = demo.add_subparsers(dest="demo_command", metavar="ACTION", required=True)
    info = demo_sub.add_parser(
        "info", parents=[common], help="classes, student codes, phones, teacher codes"
    )
    info.add_argument("--json", action="store_true", help="machine-readable output")
    demo_sub.add_parser(
        "reset", parents=[common], help="delete the demo school's data and chats, seed again"
    )
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    from bot.config import load_settings

    return load_settings(getattr(args, "config", None))


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


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.bootstrap import build_app
    from bot.channels.console import ConsoleChannel

    if settings.zalo_bot.token is not None or settings.zalo_oa.enabled:
        return await _serve_channels(settings)
    if settings.telegram.token is not None:
        from bot.channels.telegram import serve

        # With the console OTP provider the codes appear in this terminal (the demo).
        telegram_app = await build_app(settings, console_write=lambda s: print(s, flush=True))
        try:
            return await serve(telegram_app, settings)
        finally:
            await telegram_app.aclose()
    console: ConsoleChannel | None = None

    def write(line: str) -> None:
        if console is not None:
            console.write(line)
        else:
            print(line, flush=True)

    app = await build_app(settings, console_write=write)
    try:
        info = await app.services.backends.for_school(settings.school_id).school_info()
        console = ConsoleChannel(
            app.router.handle,
            school_id=settings.school_id,
            user=args.user,
            locale=args.lang,
        )
        banner = (
            f"LienLac — {info.name}\n"
            "Gõ /start để bắt đầu, /help để xem hướng dẫn, /quit để thoát. "
            "Mã học sinh để thử: `python run_bot.py demo info`.\n"
        )
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is not None:
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await console.run(banner)
        console.write("Tạm biệt! 👋")
    finally:
        await app.aclose()
    return 0


async def _serve_channels(settings: Settings) -> int:
    """Zalo Bot and/or Zalo OA (and Telegram when its token is set too) in one process, until
    SIGTERM/SIGINT (a second signal cuts the drain short). The worst exit code wins."""
    from bot.bootstrap import build_app

    app = await build_app(settings, console_write=lambda s: print(s, flush=True))
    loop = asyncio.get_running_loop()
    stop, force = asyncio.Event(), asyncio.Event()

    def on_signal() -> None:
        if stop.is_set():
            force.set()
        stop.set()

    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, on_signal)
    runs: list[Coroutine[Any, Any, int]] = []
    if settings.zalo_bot.token is not None:
        from bot.channels import zalo_bot

        runs.append(zalo_bot.serve(app, settings, stop, force))
    if settings.zalo_oa.enabled:
        from bot.channels import zalo_oa

        runs.append(zalo_oa.serve(app, settings, stop, force))
    if settings.telegram.token is not None:
        from bot.channels import telegram

        token = settings.telegram.token.get_secret_value()

        async def run_telegram() -> int:
            with telegram._token_redacted(token):
                return await telegram._serve(app, settings, token, stop, force)

        runs.append(run_telegram())
    try:
        tasks: list[asyncio.Task[int]] = [asyncio.ensure_future(run) for run in runs]
        # One channel failing at start stops the others: the operator sees one clear error.
        for done in asyncio.as_completed(tasks):
            if await done != 0:
                stop.set()
        codes: list[int] = [task.result() for task in tasks]
        return max(codes)
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        await app.aclose()


async def _db_upgrade(settings: Settings) -> int:
    from storage.engine import create_engine
    from storage.migrate import current_revision, upgrade

    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
        print(f"Database is at revision {await current_revision(engine)}.")
    finally:
        await engine.dispose()
    return 0


async def _check_config(settings: Settings) -> int:
    from sqlalchemy import text

    from storage.engine import create_engine
    from storage.migrate import current_revision

    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        revision = await current_revision(engine)
        oa_line = await _oa_token_line(settings, engine) if revision else ""
    except Exception as err:
        print(f"The database cannot be reached: {type(err).__name__}. Check LIENLAC_DATABASE__URL.")
        return 1
    finally:
        await engine.dispose()
    print("Settings are valid.")
    print(f"  school: {settings.school_id} ({settings.school_timezone})")
    print(
        f"  database: {settings.database_url.split('://', 1)[0]}, revision {revision or 'none yet'}"
    )
    print(f"  OTP provider: {settings.otp.provider}")
    print(f"  Telegram: {'token set' if settings.telegram.token else 'off'}")
    print(f"  Zalo Bot: {'token set' if settings.zalo_bot.token else 'off'}")
    print(f"  Zalo OA: {'app ' + settings.zalo_oa.app_id if settings.zalo_oa.enabled else 'off'}")
    if oa_line:
        print(f"  Zalo OA token: {oa_line}")
    return 0


async def _oa_token_line(settings: Settings, engine: Any) -> str:
    """The OA token's stats entry (no token), or "" when there is no OA or no row yet."""
    if not settings.zalo_oa.enabled:
        return ""
    from storage.oa_tokens import SqlOaTokenStore

    state = await SqlOaTokenStore(engine).load(settings.school_id)
    if state is None:
        return "not stored yet (the first start uses LIENLAC_ZALO_OA__REFRESH_TOKEN)"
    expires = state.expires_at.isoformat(timespec="minutes") if state.expires_at else "-"
    line = f"expires {expires}, {state.refresh_failures} failed refresh(es)"
    return f"{line}; last error: {state.last_error}" if state.last_error else line


async def _demo_reset(settings: Settings) -> int:
    from bot.backends.demo_data import SCHOOL_ID, build_demo_school
    from bot.backends.local_seed import delete_school, seed_school
    from bot.clock import SystemClock
    from storage.engine import create_engine, session_factory
    from storage.migrate import upgrade

    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
        sessions = session_factory(engine)
        await delete_school(sessions, SCHOOL_ID)
        await seed_school(sessions, build_demo_school(), now=SystemClock().now())
    finally:
        await engine.dispose()
    print("The demo school was reset: fresh data, and every chat link and dialog removed.")
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


def _print_demo_info(as_json: bool) -> int:
    info = demo_info()
    if as_json:
        print(json.dumps(info, ensure_ascii=False, indent=2))
        return 0
    print(f"{info['school']['name']} — năm học {info['school']['year']} (school id: demo)\n")
    print("Học sinh (mã — họ tên — lớp — phụ huynh: SĐT):")
    for s in info["students"]:
        parents = "; ".join(f"{g['relation']} {g['name']}: {g['phone']}" for g in s["guardians"])
        print(f"  {s['code']:<8} {s['name']:<24} {s['class']:<4} {parents}")
    print("\nGiáo viên (mã — họ tên — SĐT — chủ nhiệm — dạy):")
    for t in info["teachers"]:
        homeroom = ", ".join(t["homeroom"]) or "-"
        taught = ", ".join(t["classes"])
        print(f"  {t['code']:<6} {t['name']:<24} {t['phone']}  CN: {homeroom:<4} dạy: {taught}")
    print(
        "\nMọi số điện thoại là giả. Trong demo, mã OTP hiện ra ngay trong cửa sổ chat "
        "dưới dạng tin nhắn SMS giả lập."
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "run"
    if command == "demo" and args.demo_command == "info":
        return _print_demo_info(args.json)
    from bot.config import ConfigError

    try:
        settings = _settings(args)
        _configure_logging(settings, console=command == "run")
        if command == "run":
            if not hasattr(args, "user"):
                args.user, args.lang = "local", "vi"
            return asyncio.run(_run(args, settings))
        if command == "db":
            return asyncio.run(_db_upgrade(settings))
        if command == "check-config":
            return asyncio.run(_check_config(settings))
        if command == "demo":
            return asyncio.run(_demo_reset(settings))
    except ConfigError as err:
        print(f"Configuration error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    raise AssertionError(f"unknown command {command}")


if __name__ == "__main__":
    sys.exit(main())
