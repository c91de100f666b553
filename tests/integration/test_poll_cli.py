"""``run_bot.py poll create`` / ``poll results`` (issue 17): a class poll from the command
line reaches the linked parents through the outbox; its results print or go to a CSV file."""

from __future__ import annotations

import asyncio
import io
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


def test_extend_close_and_cancel_a_poll_from_the_command_line(
    db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    create = ["poll", "create", "--class", "6a", "--question", "Đăng ký bán trú tháng 12?"]
    yes_no = ["--option", "Có", "--option", "Không", "--deadline", "3 ngày"]
    assert run_bot.main([*create, *yes_no]) == 0
    assert run_bot.main([*create, "--option", "A", "--option", "B", "--deadline", "3 ngày"]) == 0
    capsys.readouterr()

    assert run_bot.main(["poll", "extend", "1", "10 ngày", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "Extended poll #1 to" in out and "the reminder at" in out
    assert run_bot.main(["poll", "extend", "1", "2 ngày"]) == 2  # earlier than now set
    assert "must be after the current one" in capsys.readouterr().err
    assert run_bot.main(["poll", "extend", "1", "hôm qua"]) == 2
    assert run_bot.main(["poll", "close", "1", "--lang", "vi"]) == 0
    assert "Đã đóng khảo sát #1" in capsys.readouterr().out
    assert run_bot.main(["poll", "close", "1"]) == 1  # once
    assert run_bot.main(["poll", "extend", "1", "20 ngày"]) == 1
    assert "not open any more" in capsys.readouterr().err
    assert run_bot.main(["poll", "close", "99"]) == 2

    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert run_bot.main(["poll", "cancel", "2"]) == 1  # asked, and not confirmed
    assert "Not cancelled" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert run_bot.main(["poll", "cancel", "2"]) == 0
    assert "Cancelled poll #2: 1 cancel notice(s) queued" in capsys.readouterr().out
    assert run_bot.main(["poll", "cancel", "2", "--yes"]) == 1  # once
    assert "already cancelled" in capsys.readouterr().err

    _, outbox = asyncio.run(_rows(db))
    # two polls to the one linked 6A parent, one cancel notice; the CLI author gets no results
    assert sorted(m.kind for m in outbox) == ["poll", "poll", "poll.cancelled"]
    [notice] = [m for m in outbox if m.kind == "poll.cancelled"]
    assert notice.user_id == "mum-6a" and "đã được huỷ" in notice.payload["text"]
    assert run_bot.main(["poll", "results", "--id", "2", "--lang", "vi"]) == 0
    assert "Đã huỷ lúc" in capsys.readouterr().out
