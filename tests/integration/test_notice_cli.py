"""``run_bot.py notice``: preview, confirmation, then items (or urgent alerts) for the parents
of the chosen classes or of the whole school."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from pathlib import Path

import pytest
from sqlalchemy import select

import run_bot
from bot.messages import ConversationKey
from bot.ports import LinkRole
from storage.engine import create_engine, session_factory
from storage.tables import NotificationItem, OutboxMessage
from storage.uow import SqlUnitOfWorkFactory

T0 = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)


async def _link(url: str, user: str, student_id: str) -> None:
    engine = create_engine(url)
    try:
        async with SqlUnitOfWorkFactory(session_factory(engine))() as uow:
            await uow.links.add(
                key=ConversationKey(
                    school_id="demo", channel="telegram", chat_id=user, user_id=user
                ),
                role=LinkRole.GUARDIAN,
                subject_id=student_id,
                person_id="g",
                consent_version="t",
                consent_at=T0,
                verified_at=T0,
            )
            await uow.commit()
    finally:
        await engine.dispose()


async def _rows(url: str) -> tuple[list[NotificationItem], list[OutboxMessage]]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as s:
            items = list(await s.scalars(select(NotificationItem).order_by(NotificationItem.id)))
            outbox = list(await s.scalars(select(OutboxMessage)))
            return items, outbox
    finally:
        await engine.dispose()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("LIENLAC_DATABASE__URL", url)
    monkeypatch.setenv("LIENLAC_DATA_DIR", str(tmp_path))
    assert run_bot.main(["demo", "reset"]) == 0
    asyncio.run(_link(url, "mum-6a", "st-6a-01"))
    asyncio.run(_link(url, "mum-8a", "st-8a-03"))
    return url


def test_class_notice_after_confirmation(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert run_bot.main(["notice", "--class", "6A", "--text", "Họp phụ huynh thứ Sáu"]) == 1
    out = capsys.readouterr().out
    assert "To: 6A" in out and "Họp phụ huynh thứ Sáu" in out and "Cancelled" in out
    assert asyncio.run(_rows(db)) == ([], [])

    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert run_bot.main(["notice", "--class", "6a", "--text", "Họp phụ huynh thứ Sáu"]) == 0
    items, outbox = asyncio.run(_rows(db))
    assert [i.user_id for i in items] == ["mum-6a"] and outbox == []


def test_urgent_whole_school_notice_goes_out_at_once(db: str) -> None:
    assert run_bot.main(["notice", "--text", "Nghỉ học do bão", "--urgent", "--yes"]) == 0
    items, outbox = asyncio.run(_rows(db))
    assert sorted(i.user_id for i in items) == ["mum-6a", "mum-8a"]
    assert sorted(o.user_id for o in outbox) == ["mum-6a", "mum-8a"]
    assert all(o.urgent and "Nghỉ học do bão" in o.payload["text"] for o in outbox)


def test_bad_notice_arguments_are_refused(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_bot.main(["notice", "--class", "6Z", "--text", "x", "--yes"]) == 2
    assert "Unknown class: 6Z" in capsys.readouterr().err
    assert run_bot.main(["notice", "--text", "x" * 501, "--yes"]) == 2
    assert run_bot.main(["notice", "--text", "   ", "--yes"]) == 2
    assert asyncio.run(_rows(db)) == ([], [])
