"""Shared fixtures: a fresh database per test on SQLite and, with LIENLAC_TEST_PG_URL, on
PostgreSQL too (each test gets its own schema). In CI (CI=true) a missing PostgreSQL URL is
an error, not a skip: the storage tests must run on both databases."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ENV = "LIENLAC_TEST_PG_URL"


def _pg_url() -> str | None:
    url = os.environ.get(PG_ENV, "").strip()
    if not url and os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        raise pytest.UsageError(
            f"{PG_ENV} must be set in CI: the storage tests run on PostgreSQL too"
        )
    return url or None


def _pg_param() -> object:
    return pytest.param(
        "postgresql",
        id="postgresql",
        marks=pytest.mark.skipif(_pg_url() is None, reason=f"{PG_ENV} not set (local run)"),
    )


def database_params() -> list[object]:
    return [pytest.param("sqlite", id="sqlite"), _pg_param()]


@contextlib.contextmanager
def _database(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}"
        return
    base = _pg_url()
    assert base is not None
    name = f"lienlac_test_{uuid.uuid4().hex[:12]}"
    _pg_admin(base, f'CREATE DATABASE "{name}"')
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        _pg_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=database_params())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database for one test, as an async SQLAlchemy URL."""
    with _database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(params=[_pg_param()])
def pg_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty PostgreSQL database, for tests that only make sense there (several writer
    processes): never a SQLite variant, so nothing is skipped in CI."""
    with _database(request.param, tmp_path) as url:
        yield url


def _pg_admin(url: str, sql: str) -> None:
    import asyncio

    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")

    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}"
