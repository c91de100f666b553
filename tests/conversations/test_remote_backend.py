"""Scripted chats against a school on the ``rest_json`` backend (a loopback fake QLHS):
a parent verifies and reads scores; when the QLHS is slow, failing or refusing us, the parent
gets cached answers with their age, or a clear message, and never a traceback."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.bootstrap import App, build_app
from bot.config import BackendSettings, DatabaseSettings, Settings
from tests.chat import Chat
from tests.fakes.ports import FakeClock, RecordingOtpSender
from tests.fakes.qlhs_rest import CLIENT_ID, CLIENT_SECRET, FakeQlhs

pytestmark = pytest.mark.conversations

CHILD = "HS8A03"  # Phạm Quang Huy, 8A; Công nghệ HKI rounds 6.55 -> 6,6
DOWN = "Hệ thống của nhà trường đang không phản hồi"


@pytest.fixture
def qlhs() -> Iterator[FakeQlhs]:
    with FakeQlhs() as server:
        yield server


async def remote_app(
    tmp_path: Path,
    qlhs: FakeQlhs,
    clock: FakeClock,
    sms: RecordingOtpSender,
    *,
    backend: dict[str, Any] | None = None,
    **mapping: Any,
) -> App:
    mapping.setdefault("timeout_seconds", 0.5)
    mapping.setdefault("retries", 1)
    mapping.setdefault("backoff_seconds", 0.01)
    path = qlhs.mapping_file(tmp_path, **mapping)
    settings = Settings(
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'remote.sqlite3'}"),
        data_dir=tmp_path,
        backend=BackendSettings(kind="rest_json", mapping=path, **(backend or {})),
    )
    return await build_app(settings, clock=clock, otp_sender=sms)


@pytest.fixture
async def app(
    tmp_path: Path, qlhs: FakeQlhs, clock: FakeClock, sms: RecordingOtpSender
) -> AsyncIterator[App]:
    built = await remote_app(tmp_path, qlhs, clock, sms)
    try:
        yield built
    finally:
        await built.aclose()


async def linked(app: App, sms: RecordingOtpSender) -> Chat:
    chat = Chat(app)
    await chat.link(CHILD, sms)
    return chat


async def test_a_parent_verifies_against_the_qlhs_and_reads_scores(
    app: App, sms: RecordingOtpSender, qlhs: FakeQlhs
) -> None:
    chat = Chat(app)
    await chat.say(CHILD)
    assert "Người nhận mã: Mẹ" in chat.text and "Phạm Quang Huy" not in chat.text
    assert "09x xxx x24" in chat.text  # the guardian's phone, from the QLHS
    await chat.press("Đồng ý")
    assert sms.sent[-1].phone == "0900000024"
    await chat.say(sms.last_code())
    assert "Liên kết thành công" in chat.text
    await chat.say("điểm công nghệ")
    assert "6,6" in chat.text and "52,4 / 8" in chat.text
    assert "cập nhật lúc" not in chat.text  # a live answer carries no age
    await chat.say("tkb thứ 2")
    assert "Chào cờ" in chat.text
    await chat.say("học phí")
    assert "631.800 ₫" in chat.text


async def test_qlhs_down_serves_cached_scores_with_their_age(
    app: App, sms: RecordingOtpSender, qlhs: FakeQlhs, clock: FakeClock
) -> None:
    chat = await linked(app, sms)
    await chat.say("điểm công nghệ")  # fetched at 09:00 in Hà Nội
    assert "6,6" in chat.text
    clock.advance(minutes=65)
    qlhs.faults.down = True
    await chat.say("điểm công nghệ")
    assert "6,6" in chat.text
    assert "cập nhật lúc 09:00" in chat.text
    assert "Traceback" not in chat.text


async def test_cache_too_old_gives_the_clear_message(
    app: App, sms: RecordingOtpSender, qlhs: FakeQlhs, clock: FakeClock
) -> None:
    chat = await linked(app, sms)
    await chat.say("điểm công nghệ")
    clock.advance(hours=7)  # older than the 6-hour default
    qlhs.faults.down = True
    await chat.say("điểm công nghệ")
    assert DOWN in chat.text
    assert "6,6" not in chat.text


async def test_the_age_says_the_day_when_it_is_not_today(
    tmp_path: Path, qlhs: FakeQlhs, clock: FakeClock, sms: RecordingOtpSender
) -> None:
    app = await remote_app(tmp_path, qlhs, clock, sms, backend={"cache_max_age_seconds": 3 * 86400})
    try:
        chat = await linked(app, sms)
        await chat.say("học phí")
        clock.advance(days=1)
        qlhs.faults.down = True
        await chat.say("học phí")
        assert "631.800 ₫" in chat.text
        assert "cập nhật lúc 09:00 ngày 23/11/2026" in chat.text
    finally:
        await app.aclose()


async def test_english_parents_see_the_age_in_english(
    app: App, sms: RecordingOtpSender, qlhs: FakeQlhs, clock: FakeClock
) -> None:
    chat = Chat(app, locale="en")
    await chat.link(CHILD, sms)
    await chat.say("fees")
    clock.advance(minutes=5)
    qlhs.faults.down = True
    await chat.say("fees")
    assert "last updated at 09:00" in chat.text


async def test_a_slow_qlhs_times_out_with_a_clear_message(
    app: App, sms: RecordingOtpSender, qlhs: FakeQlhs, clock: FakeClock
) -> None:
    chat = await linked(app, sms)
    clock.advance(minutes=1)
    qlhs.faults.hang(3, count=10)  # longer than the 0.5 s request timeout, every retry
    started = time.monotonic()
    await chat.say("điểm")
    assert time.monotonic() - started < 3
    assert DOWN in chat.text


async def test_one_500_is_retried_and_the_parent_never_notices(
    app: App, sms: RecordingOtpSender, qlhs: FakeQlhs, clock: FakeClock
) -> None:
    chat = await linked(app, sms)
    clock.advance(minutes=1)
    before = qlhs.hits("/api/v1/hoc-sinh/st-8a-03")
    qlhs.faults.fail(500)  # the first request of the turn: which child (get_student)
    await chat.say("học phí")
    assert "631.800 ₫" in chat.text
    assert "cập nhật" not in chat.text
    assert qlhs.hits("/api/v1/hoc-sinh/st-8a-03") == before + 2


async def test_repeated_500s_give_the_clear_message(
    app: App, sms: RecordingOtpSender, qlhs: FakeQlhs, clock: FakeClock
) -> None:
    chat = await linked(app, sms)
    clock.advance(minutes=1)
    qlhs.faults.fail(500, count=10)
    await chat.say("học phí")
    assert DOWN in chat.text


async def test_bad_json_gives_the_clear_message(
    app: App, sms: RecordingOtpSender, qlhs: FakeQlhs, clock: FakeClock
) -> None:
    chat = await linked(app, sms)
    clock.advance(minutes=1)
    qlhs.faults.bad_json(count=10)
    await chat.say("học phí")
    assert DOWN in chat.text


async def test_refused_credentials_give_the_clear_message_and_a_log_line(
    app: App,
    sms: RecordingOtpSender,
    qlhs: FakeQlhs,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    chat = await linked(app, sms)
    clock.advance(minutes=1)
    qlhs.faults.unauthorized(count=10)
    with caplog.at_level(logging.WARNING):
        await chat.say("học phí")
    assert DOWN in chat.text
    assert "refused our credentials" in caplog.text
    assert "HS8A03" not in caplog.text and "st-8a-03" not in caplog.text  # no codes in logs
    assert "qlhs-test-token" not in caplog.text


async def test_open_circuit_fails_fast_without_asking_the_qlhs(
    app: App, sms: RecordingOtpSender, qlhs: FakeQlhs, clock: FakeClock
) -> None:
    chat = await linked(app, sms)
    clock.advance(minutes=1)
    qlhs.faults.down = True
    await chat.say("học phí")  # 2 failed requests (one retry)
    await chat.say("chuyên cần")  # 2 more
    await chat.say("tkb")  # the 5th failure opens the circuit
    assert DOWN in chat.text
    hits = qlhs.hits("/api/v1/lop/c-8a/tkb") + qlhs.hits("/api/v1/hoc-sinh/st-8a-03/khoan-thu")
    qlhs.faults.down = False  # the QLHS is back, but the circuit stays open for 30 s
    clock.advance(seconds=5)
    await chat.say("học phí")
    assert DOWN in chat.text
    assert (
        qlhs.hits("/api/v1/lop/c-8a/tkb") + qlhs.hits("/api/v1/hoc-sinh/st-8a-03/khoan-thu") == hits
    )
    clock.advance(seconds=30)  # cool-down over: one trial call, and it succeeds
    await chat.say("học phí")
    assert "631.800 ₫" in chat.text


async def test_oauth2_token_is_cached_and_renewed_after_expiry(
    tmp_path: Path, qlhs: FakeQlhs, clock: FakeClock, sms: RecordingOtpSender
) -> None:
    path = qlhs.mapping_file(tmp_path, timeout_seconds=0.5, retries=0)
    text = path.read_text(encoding="utf-8").replace(
        'kind = "bearer"\ntoken = "qlhs-test-token"',
        f'kind = "oauth2"\ntoken_url = "{qlhs.url}/oauth/token"\n'
        f'client_id = "{CLIENT_ID}"\nclient_secret = "{CLIENT_SECRET}"',
    )
    path.write_text(text, encoding="utf-8")
    settings = Settings(
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'oauth.sqlite3'}"),
        data_dir=tmp_path,
        backend=BackendSettings(kind="rest_json", mapping=path, cache_fresh_seconds=0),
    )
    app = await build_app(settings, clock=clock, otp_sender=sms)
    try:
        chat = await linked(app, sms)
        await chat.say("học phí")
        assert "631.800 ₫" in chat.text
        assert qlhs.tokens_issued == 1  # one token for the whole conversation
        qlhs.expire_tokens()  # the QLHS forgets it: the next call gets 401, fetches a new one
        await chat.say("học phí")
        assert "631.800 ₫" in chat.text
        assert "cập nhật" not in chat.text
        assert qlhs.tokens_issued == 2
    finally:
        await app.aclose()


async def test_a_wrong_client_secret_gives_the_clear_message(
    tmp_path: Path, qlhs: FakeQlhs, clock: FakeClock, sms: RecordingOtpSender
) -> None:
    path = qlhs.mapping_file(tmp_path, timeout_seconds=0.5, retries=0)
    text = path.read_text(encoding="utf-8").replace(
        'kind = "bearer"\ntoken = "qlhs-test-token"',
        f'kind = "oauth2"\ntoken_url = "{qlhs.url}/oauth/token"\n'
        f'client_id = "{CLIENT_ID}"\nclient_secret = "wrong"',
    )
    path.write_text(text, encoding="utf-8")
    settings = Settings(
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'oauth.sqlite3'}"),
        data_dir=tmp_path,
        backend=BackendSettings(kind="rest_json", mapping=path),
    )
    app = await build_app(settings, clock=clock, otp_sender=sms)
    try:
        chat = Chat(app)
        await chat.say(CHILD)
        assert DOWN in chat.text
        assert sms.sent == []
    finally:
        await app.aclose()


async def test_an_answer_that_does_not_fit_the_mapping_gives_the_clear_message(
    app: App, sms: RecordingOtpSender, qlhs: FakeQlhs, caplog: pytest.LogCaptureFixture
) -> None:
    record = qlhs.recordings["/api/v1/hoc-sinh?ma_hs=HS8A03"]["data"]["items"][0]
    del record["ho_ten"]  # the QLHS renamed a field the mapping relies on
    chat = Chat(app)
    with caplog.at_level(logging.WARNING):
        await chat.say(CHILD)
    assert DOWN in chat.text
    assert sms.sent == []
    assert "HS8A03" not in caplog.text
