"""Issue 16: ``run_bot.py stats`` counts, per school, the families reachable on Telegram, on
Zalo, by SMS (SMS-only guardians, with an SMS provider) and only on paper, and names the
pupils reachable by no chat and no SMS (class and name, never a phone), in either language;
on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from pathlib import Path

import pytest

import run_bot
from bot.messages import ConversationKey
from bot.ports import LinkRole
from storage.engine import create_engine, session_factory
from storage.uow import SqlUnitOfWorkFactory

T0 = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)


async def _link(url: str, channel: str, user: str, student_id: str) -> None:
    engine = create_engine(url)
    try:
        async with SqlUnitOfWorkFactory(session_factory(engine))() as uow:
            await uow.links.add(
                key=ConversationKey(school_id="demo", channel=channel, chat_id=user, user_id=user),
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


@pytest.fixture
def db(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LIENLAC_DATABASE__URL", database_url)
    monkeypatch.setenv("LIENLAC_DATA_DIR", str(tmp_path))
    assert run_bot.main(["demo", "reset"]) == 0
    asyncio.run(_link(database_url, "telegram", "mum-an", "st-6a-01"))
    asyncio.run(_link(database_url, "zalo_bot", "mum-anh", "st-7a-01"))
    asyncio.run(_link(database_url, "zalo_oa", "dad-khoa", "st-9a-01"))
    asyncio.run(_link(database_url, "telegram", "mum-khoa", "st-9a-01"))
    return database_url


def _row(out: str, school: str = "demo") -> list[str]:
    for line in out.splitlines():
        cells = line.split()
        if cells and cells[0] == school and len(cells) == 6:
            return cells[1:]
    raise AssertionError(out)


def test_stats_counts_families_by_channel_and_names_the_paper_only_ones(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_bot.main(["stats", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "Families reachable" in out
    assert "school  families  Telegram  Zalo  SMS  paper only" in out
    # 38 pupils; Telegram: An, Khoa; Zalo: Ánh, Khoa; SMS: Bảo and Lan (their grandparents)
    assert _row(out) == ["38", "2", "2", "2", "33"]
    assert "demo: 33 families reachable by no chat and no SMS (paper only):" in out
    assert "  6A  Lê Hoàng Nam" in out
    for reached in ("Nguyễn Minh An", "Lê Ngọc Ánh", "Lê Văn Khoa", "Đặng Quốc Bảo"):
        assert reached not in out
    assert "… and 13 more" in out
    assert not re.search(r"0\d{9}", out)  # no phone number

    assert run_bot.main(["stats", "--lang", "vi", "--all-families"]) == 0
    vi = capsys.readouterr().out
    assert "Liên lạc được với gia đình" in vi
    assert "demo: 33 gia đình không liên lạc được qua chat hay SMS (chỉ bản giấy):" in vi
    assert len([line for line in vi.splitlines() if re.match(r"^  [6-9]A  ", line)]) == 33
    assert "Bùi Thị Lan" not in vi and "gia đình nữa" not in vi
    assert "Families" not in vi


def test_without_an_sms_provider_sms_only_families_are_paper_only(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LIENLAC_OTP__PROVIDER", "zns")  # ZNS cannot carry a digest
    monkeypatch.setenv("LIENLAC_OTP__ZNS__TEMPLATE_ID", "t1")
    assert run_bot.main(["stats"]) == 0
    out = capsys.readouterr().out
    assert _row(out) == ["38", "2", "2", "-", "35"]
    assert "demo: no SMS provider configured" in out
    assert "Đặng Quốc Bảo" in out or "… and" in out
