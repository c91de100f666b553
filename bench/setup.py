"""A database to benchmark on (a temporary SQLite file, or a fresh PostgreSQL database), the
app built on it, and parents linked in bulk (as if each had typed the OTP)."""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from bot.bootstrap import App, opened_app
from bot.config import DatabaseSettings, Settings, ThrottleSettings
from bot.messages import ConversationKey
from bot.ports import LinkRole
from bot.turn import CONSENT_VERSION

PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def pg_base() -> str:
    return (
        os.environ.get("LIENLAC_BENCH_PG_URL")
        or os.environ.get("LIENLAC_TEST_PG_URL")
        or PG_DEFAULT
    )


async def _pg_admin(url: str, sql: str) -> None:
    """CREATE/DROP DATABASE, which cannot run inside a transaction (AUTOCOMMIT)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def database(kind: str) -> AsyncIterator[tuple[str, Path]]:
    """(database URL, data dir) for one run, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="lienlac-bench-") as tmp:
        folder = Path(tmp)
        if kind == "sqlite":
            yield f"sqlite+aiosqlite:///{folder / 'bench.sqlite3'}", folder
            return
        base = pg_base()
        name = f"bench_{secrets.token_hex(4)}"
        await _pg_admin(base, f'CREATE DATABASE "{name}"')
        try:
            yield base.rsplit("/", 1)[0] + "/" + name, folder
        finally:
            await _pg_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def settings_for(url: str, folder: Path, **overrides: object) -> Settings:
    overrides.setdefault("throttle", ThrottleSettings(burst=0))  # a bench types fast
    return Settings(database=DatabaseSettings(url=url), data_dir=folder, **overrides)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def bench_app(kind: str, **overrides: object) -> AsyncIterator[App]:
    async with (
        database(kind) as (url, folder),
        opened_app(settings_for(url, folder, **overrides), console_write=_quiet) as app,
    ):
        yield app


def _quiet(line: str) -> None:
    """The console OTP provider's simulated SMS: not wanted in a benchmark's output."""


async def link_parents(app: App, keys: list[ConversationKey], *, seed: int = 2026) -> None:
    """Each key linked as the guardian of a demo pupil (seeded choice), in batches."""
    backend = app.services.backends.for_school("demo")
    pupils = [p for c in await backend.classes() for p in await backend.class_students(c.id)]
    guardians = {p.id: list(await backend.guardians(p.id)) for p in pupils}
    rng = random.Random(seed)
    now = app.services.clock.now()
    for start in range(0, len(keys), 500):
        async with app.uow_factory() as uow:
            for key in keys[start : start + 500]:
                pupil = rng.choice(pupils)
                await uow.links.add(
                    key=key,
                    role=LinkRole.GUARDIAN,
                    subject_id=pupil.id,
                    person_id=guardians[pupil.id][0].id,
                    consent_version=CONSENT_VERSION,
                    consent_at=now,
                    verified_at=now,
                )
            await uow.commit()
