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


async def test_0011_keeps_stored_preferences_with_score_alerts_off(database_url: str) -> None:
    """A parent's preferences saved before 0011 read back unchanged, the new-score alert off
    (issue 20); and 0011 goes down again cleanly."""
    import datetime as dt

    import sqlalchemy as sa
    from alembic import command

    from storage.migrate import alembic_config, current_revision

    engine = create_engine(database_url)
    try:
        await upgrade(engine, "0010")
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO notification_pref (school_id, channel, user_id, frequency, "
                    "weekday, minute_of_day, content, instant, locale, updated_at) VALUES "
                    "('demo', 'memory', 'mum', 'weekly', 5, 1200, 'scores', :yes, 'vi', :at)"
                ),
                {"yes": True, "at": dt.datetime(2026, 11, 1, tzinfo=dt.UTC)},
            )
        await upgrade(engine, "0011")
        assert await current_revision(engine) == "0011"
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.text("SELECT frequency, instant, score_alerts FROM notification_pref")
                )
            ).one()
        assert (row.frequency, bool(row.instant), bool(row.score_alerts)) == ("weekly", True, False)

        def down(connection: Connection) -> None:
            command.downgrade(alembic_config(connection), "0010")

        async with engine.begin() as conn:
            await conn.run_sync(down)
        assert await current_revision(engine) == "0010"
        async with engine.connect() as conn:
            count = await conn.scalar(sa.text("SELECT count(*) FROM notification_pref"))
        assert count == 1
    finally:
        await engine.dispose()


async def test_0012_keeps_guardians_not_sms_only(database_url: str) -> None:
    """A guardian stored before 0012 reads back unchanged, not SMS only (issue 16); and 0012
    goes down again cleanly."""
    import datetime as dt

    import sqlalchemy as sa
    from alembic import command

    from storage.migrate import alembic_config, current_revision

    engine = create_engine(database_url)
    try:
        await upgrade(engine, "0011")
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO school (id, name, timezone, backend, school_year, current_term, "
                    "created_at) VALUES ('demo', 'D', 'Asia/Ho_Chi_Minh', 'local', '', 1, :at)"
                ),
                {"at": dt.datetime(2026, 11, 1, tzinfo=dt.UTC)},
            )
            await conn.execute(
                sa.text(
                    "INSERT INTO guardian (school_id, id, name, phone, relation) VALUES "
                    "('demo', 'g-1', 'Bà Tư', '0900000011', 'Bà')"
                )
            )
        await upgrade(engine, "0012")
        async with engine.connect() as conn:
            row = (await conn.execute(sa.text("SELECT name, sms_only FROM guardian"))).one()
        assert (row.name, bool(row.sms_only)) == ("Bà Tư", False)

        def down(connection: Connection) -> None:
            command.downgrade(alembic_config(connection), "0011")

        async with engine.begin() as conn:
            await conn.run_sync(down)
        assert await current_revision(engine) == "0011"
        async with engine.connect() as conn:
            assert await conn.scalar(sa.text("SELECT count(*) FROM guardian")) == 1
    finally:
        await engine.dispose()


async def test_0013_adds_the_message_threads_and_goes_down_cleanly(database_url: str) -> None:
    """Relayed parent–teacher messages (issue 17): three new tables, nothing else touched;
    0013 goes down to 0012 and up again."""
    import sqlalchemy as sa
    from alembic import command

    from storage.migrate import alembic_config, current_revision

    engine = create_engine(database_url)
    try:
        await upgrade(engine, "0013")
        assert await current_revision(engine) == "0013"

        def tables(connection: Connection) -> set[str]:
            return set(sa.inspect(connection).get_table_names())

        async with engine.connect() as conn:
            assert {"message_thread", "thread_message", "teacher_office_hours"} <= (
                await conn.run_sync(tables)
            )

        def down(connection: Connection) -> None:
            command.downgrade(alembic_config(connection), "0012")

        async with engine.begin() as conn:
            await conn.run_sync(down)
        async with engine.connect() as conn:
            left = await conn.run_sync(tables)
        assert not {"message_thread", "thread_message", "teacher_office_hours"} & left
        await upgrade(engine, "0013")
        assert await current_revision(engine) == "0013"
    finally:
        await engine.dispose()


async def test_0015_adds_the_web_sign_in_table_and_goes_down_again(database_url: str) -> None:
    """Issue 18: single-use sign-in links to the office's web page (hashes only)."""
    import sqlalchemy as sa
    from alembic import command

    from storage.migrate import alembic_config, current_revision

    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        assert await current_revision(engine) >= "0015"

        def tables(connection: Connection) -> set[str]:
            return set(sa.inspect(connection).get_table_names())

        async with engine.connect() as conn:
            assert "web_sign_in" in await conn.run_sync(tables)

        def down(connection: Connection) -> None:
            command.downgrade(alembic_config(connection), "0014")

        async with engine.begin() as conn:
            await conn.run_sync(down)
        async with engine.connect() as conn:
            assert "web_sign_in" not in await conn.run_sync(tables)
    finally:
        await engine.dispose()


async def test_0016_adds_the_ended_web_sessions_table_and_goes_down_again(
    database_url: str,
) -> None:
    """Issue 18: signed-out sessions of the office's web page (session id hashes only)."""
    import sqlalchemy as sa
    from alembic import command

    from storage.migrate import alembic_config, current_revision

    engine = create_engine(database_url)
    try:
        await upgrade(engine, "0016")
        assert await current_revision(engine) == "0016"

        def tables(connection: Connection) -> set[str]:
            return set(sa.inspect(connection).get_table_names())

        async with engine.connect() as conn:
            assert {"web_session_ended", "web_sign_in"} <= await conn.run_sync(tables)

        def down(connection: Connection) -> None:
            command.downgrade(alembic_config(connection), "0015")

        async with engine.begin() as conn:
            await conn.run_sync(down)
        async with engine.connect() as conn:
            found = await conn.run_sync(tables)
            assert "web_session_ended" not in found and "web_sign_in" in found
    finally:
        await engine.dispose()


async def test_0017_adds_the_leave_request_attachments_and_goes_down_again(
    database_url: str,
) -> None:
    """Issue 17: a leave request keeps the references of its medical certificate; a request
    stored before 0017 reads back with none, and 0017 goes down again cleanly."""
    import datetime as dt

    import sqlalchemy as sa
    from alembic import command

    from storage.migrate import alembic_config, current_revision

    engine = create_engine(database_url)
    at = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    try:
        await upgrade(engine, "0016")
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO absence_request (school_id, student_id, class_id, "
                    "requester_channel, requester_chat_id, requester_user_id, guardian_id, "
                    "start_date, end_date, session, reason, status, decision_reason, "
                    "write_attempts, write_error, created_at, updated_at, version) VALUES "
                    "('demo', 'HS1', '6A', 'memory', 'c', 'u', 'g', :d, :d, 'day', 'ốm', "
                    "'pending', '', 0, '', :at, :at, 0)"
                ),
                {"d": dt.date(2026, 11, 2), "at": at},
            )
        await upgrade(engine, "0017")
        assert await current_revision(engine) == "0017"
        async with engine.connect() as conn:
            stored = (await conn.execute(sa.text("SELECT attachments FROM absence_request"))).one()
        assert stored.attachments == ""

        def columns(connection: Connection) -> set[str]:
            return {c["name"] for c in sa.inspect(connection).get_columns("absence_request")}

        def down(connection: Connection) -> None:
            command.downgrade(alembic_config(connection), "0016")

        async with engine.begin() as conn:
            await conn.run_sync(down)
        assert await current_revision(engine) == "0016"
        async with engine.connect() as conn:
            found = await conn.run_sync(columns)
            assert "attachments" not in found and "reason" in found
    finally:
        await engine.dispose()


async def test_0018_adds_poll_closed_and_cancelled_and_goes_down_again(database_url: str) -> None:
    """Issue 17: a sent poll closed early or cancelled; existing polls stay open (both NULL),
    and 0018 goes down to 0017 keeping the polls, and up again."""
    import datetime as dt

    import sqlalchemy as sa
    from alembic import command

    from storage.migrate import alembic_config, current_revision

    engine = create_engine(database_url)
    try:
        await upgrade(engine, "0016")
        at = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO poll (school_id, class_id, class_name, author_id, question,"
                    " options, multiple, anonymous, deadline_at, remind_at, created_at)"
                    " VALUES ('s', 'c', '6A', 'GV001', 'Q?', '[\"A\", \"B\"]', false, false,"
                    " :at, :at, :at)"
                ),
                {"at": at},
            )
        await upgrade(engine, "0018")
        assert await current_revision(engine) == "0018"

        def columns(connection: Connection) -> set[str]:
            return {c["name"] for c in sa.inspect(connection).get_columns("poll")}

        async with engine.connect() as conn:
            assert {"closed_at", "cancelled_at"} <= await conn.run_sync(columns)
            row = (await conn.execute(sa.text("SELECT closed_at, cancelled_at FROM poll"))).one()
            assert tuple(row) == (None, None)

        def down(connection: Connection) -> None:
            command.downgrade(alembic_config(connection), "0017")

        async with engine.begin() as conn:
            await conn.run_sync(down)
        async with engine.connect() as conn:
            assert not {"closed_at", "cancelled_at"} & await conn.run_sync(columns)
            assert await conn.scalar(sa.text("SELECT count(*) FROM poll")) == 1
        await upgrade(engine, "0018")
        assert await current_revision(engine) == "0018"
    finally:
        await engine.dispose()
