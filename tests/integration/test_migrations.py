"""Migrations and models agree (no schema change without a migration), on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from storage.engine import create_engine
from storage.migrate import upgrade
from storage.tables import Base


async def test_models_match_the_migrations(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)

        def diff(conn: Connection) -> list[object]:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))

        async with engine.connect() as conn:
            changes = await conn.run_sync(diff)
        assert changes == [], f"models and migrations differ: write a migration: {changes}"
    finally:
        await engine.dispose()
