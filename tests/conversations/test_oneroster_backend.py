"""Scripted chats against a school on the ``oneroster`` backend (a loopback fake OneRoster 1.2
provider): verification through ``agents`` with phones, scores from the gradebook, questions
OneRoster cannot answer, and the provider failing."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.bootstrap import App, build_app
from bot.config import BackendSettings, DatabaseSettings, Settings
from tests.chat import Chat
from tests.fakes.oneroster import FakeOneRoster
from tests.fakes.ports import FakeClock, RecordingOtpSender

pytestmark = pytest.mark.conversations

CHILD = "HS8A03"
DOWN = "Hệ thống của nhà trường đang không phản hồi"


def _toml(config: dict[str, Any]) -> str:
    lines = []
    tables = []
    for key, value in config.items():
        if isinstance(value, dict):
            tables.append(f"[{key}]\n" + "".join(f'"{k}" = "{v}"\n' for k, v in value.items()))
        elif isinstance(value, str):
            lines.append(f'{key} = "{value}"')
        else:
            lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n" + "\n".join(tables)


@pytest.fixture
def provider() -> Iterator[FakeOneRoster]:
    with FakeOneRoster() as server:
        yield server


@pytest.fixture
async def app(
    tmp_path: Path, provider: FakeOneRoster, clock: FakeClock, sms: RecordingOtpSender
) -> AsyncIterator[App]:
    path = tmp_path / "oneroster.toml"
    path.write_text(_toml(provider.config(timeout_seconds=0.5)), encoding="utf-8")
    settings = Settings(
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'or.sqlite3'}"),
        data_dir=tmp_path,
        backend=BackendSettings(kind="oneroster", mapping=path),
    )
    built = await build_app(settings, clock=clock, otp_sender=sms)
    try:
        yield built
    finally:
        await built.aclose()


async def test_a_parent_verifies_through_oneroster_agents_and_reads_scores(
    app: App, sms: RecordingOtpSender
) -> None:
    chat = Chat(app)
    await chat.say(CHILD)
    assert "Người nhận mã: Mẹ" in chat.text and "Phạm Quang Huy" not in chat.text
    assert "09x xxx x24" in chat.text  # "+84 900 000 024" on file, normalised and masked
    await chat.press("Đồng ý")
    assert sms.sent[-1].phone == "0900000024"
    await chat.say(sms.last_code())
    assert "Liên kết thành công" in chat.text
    await chat.say("điểm công nghệ")
    assert "6,6" in chat.text and "52,4 / 8" in chat.text
    await chat.say("điểm")
    assert "Giáo dục thể chất: Đạt" in chat.text


async def test_questions_oneroster_cannot_answer_get_a_polite_reply(
    app: App, sms: RecordingOtpSender
) -> None:
    chat = Chat(app)
    await chat.link(CHILD, sms)
    for question in ("tkb thứ 2", "học phí", "chuyên cần"):
        await chat.say(question)
        assert "Nhà trường chưa cung cấp thông tin này qua LienLac" in chat.text, question


async def test_an_expired_token_is_renewed_without_the_parent_noticing(
    app: App, sms: RecordingOtpSender, provider: FakeOneRoster, clock: FakeClock
) -> None:
    chat = Chat(app)
    await chat.link(CHILD, sms)
    assert provider.tokens_issued == 1
    provider.expire_tokens()
    clock.advance(minutes=1)
    await chat.say("điểm công nghệ")
    assert "6,6" in chat.text and "cập nhật" not in chat.text
    assert provider.tokens_issued == 2


async def test_provider_down_serves_cached_scores_then_the_clear_message(
    app: App, sms: RecordingOtpSender, provider: FakeOneRoster, clock: FakeClock
) -> None:
    chat = Chat(app)
    await chat.link(CHILD, sms)
    await chat.say("điểm công nghệ")
    clock.advance(minutes=20)
    provider.faults.down = True
    await chat.say("điểm công nghệ")
    assert "6,6" in chat.text and "cập nhật lúc 09:00" in chat.text
    clock.advance(hours=7)
    await chat.say("điểm công nghệ")
    assert DOWN in chat.text and "6,6" not in chat.text


@pytest.mark.parametrize("fault", ["timeout", "bad_json", "500", "401"])
async def test_each_fault_before_any_cache_gives_the_clear_message(
    app: App, provider: FakeOneRoster, fault: str
) -> None:
    if fault == "timeout":
        provider.faults.hang(3, count=20)
    elif fault == "bad_json":
        provider.faults.bad_json(count=20)
    elif fault == "500":
        provider.faults.fail(500, count=20)
    else:
        provider.faults.unauthorized(count=20)
    chat = Chat(app)
    started = time.monotonic()
    await chat.say(CHILD)
    assert time.monotonic() - started < 5
    assert DOWN in chat.text
    assert "Traceback" not in chat.text


async def test_an_open_circuit_stops_asking_the_provider_until_the_cooldown(
    app: App, sms: RecordingOtpSender, provider: FakeOneRoster, clock: FakeClock
) -> None:
    chat = Chat(app)
    await chat.link(CHILD, sms)
    clock.advance(hours=7)  # the roster and the cache are too old: every read asks
    provider.faults.down = True
    for _ in range(3):  # 2 requests each (one retry): the 5th failure opens the circuit
        await chat.say("điểm")
        assert DOWN in chat.text
    asked = provider.requests
    provider.faults.down = False
    await chat.say("điểm")
    assert DOWN in chat.text
    assert provider.requests == asked  # failed fast, nothing sent
    clock.advance(seconds=31)
    await chat.say("điểm công nghệ")
    assert "6,6" in chat.text
