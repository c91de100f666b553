"""``run_bot.py poll create`` / ``poll results`` (issue 17): a class poll from the command
line reaches the linked parents through the outbox; its results print or go to a CSV file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

import run_bot
from storage.engine import create_engine, session_factory
from storage.tables import OutboxMessage, PollBallot
from tests.integration.test_notice_cli import _link


async def _rows(url: str) -> tuple[list[PollBallot], list[OutboxMessage]]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as s:
            ballots = list(await s.scalars(select(PollBallot).order_by(PollBallot.id)))
            return ballots, list(await s.scalars(select(OutboxMessage)))
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


def test_a_class_poll_from_the_command_line_and_its_results(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create = ["poll", "create", "--class", "6a", "--question", "Đăng ký bán trú tháng 12?"]
    create += ["--option", "Có", "--option", "Không", "--deadline", "3 ngày"]
    assert run_bot.main([*create, "--lang", "en"]) == 0
    assert "Poll #1 for 6A" in capsys.readouterr().out
    ballots, outbox = asyncio.run(_rows(db))
    assert len(ballots) == 10 and "st-6a-01" in {b.student_id for b in ballots}  # 6A only
    [message] = outbox
    assert message.user_id == "mum-6a" and message.kind == "poll" and not message.urgent
    assert "Đăng ký bán trú tháng 12?" in message.payload["text"]

    assert run_bot.main(["poll", "results", "--id", "1", "--lang", "vi"]) == 0
    out = capsys.readouterr().out
    assert "Đã trả lời: 0/10" in out and "Nguyễn Minh An (6A), " in out  # linked: no mark
    assert "Chưa trả lời (10):" in out and "Trần Bảo Ngọc (6A)*" in out
    target = tmp_path / "ket-qua.csv"
    assert run_bot.main(["poll", "results", "--id", "1", "--csv", str(target)]) == 0
    text = target.read_text(encoding="utf-8-sig")
    assert "1,Đăng ký bán trú tháng 12?,6A,Nguyễn Minh An,," in text.splitlines()


def test_bad_poll_arguments_are_refused(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["poll", "create", "--question", "Q?", "--deadline", "3 ngày"]
    assert run_bot.main([*base, "--option", "Một"]) == 2
    assert run_bot.main([*base, "--class", "6Z", "--option", "A", "--option", "B"]) == 2
    assert "Unknown class: 6Z" in capsys.readouterr().err  # English by default
    assert (
        run_bot.main([*base, "--class", "6Z", "--option", "A", "--option", "B", "--lang", "vi"])
        == 2
    )
    assert "Không có lớp 6Z" in capsys.readouterr().err
    bad_deadline = ["poll", "create", "--question", "Q?", "--option", "A", "--option", "B"]
    assert run_bot.main([*bad_deadline, "--deadline", "hôm qua"]) == 2
    assert run_bot.main(["poll", "results", "--id", "99"]) == 2
    assert asyncio.run(_rows(db)) == ([], [])
