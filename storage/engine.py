"""Build the async engine and session factory. Called only from ``bot.bootstrap`` and tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

# Connections per process. The router runs at most 8 turns at once, each needing at most two
# connections (its transaction and a backend read), so the pool never starves a turn.
POOL_SIZE = 10
MAX_OVERFLOW = 10


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An engine for ``url``; for SQLite, creates the folder and turns on WAL and foreign keys."""
    # hide_parameters: a failing statement must not put phones or codes into a log line.
    kwargs: dict[str, Any] = {
        "echo": echo,
        "hide_parameters": True,
        "pool_size": POOL_SIZE,
        "max_overflow": MAX_OVERFLOW,
    }
    if is_sqlite(url):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_async_engine(url, **kwargs)
    if is_sqlite(url):

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            # WAL + NORMAL: every commit survives a crash of the process (kill -9, restart); a
            # power cut may take back the last moments' commits, never corrupt the file. The
            # fsync per commit of FULL halved write throughput (issue 15). PostgreSQL is the
            # production database where that matters.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
