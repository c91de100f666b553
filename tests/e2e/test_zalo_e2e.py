"""The real ``python run_bot.py`` process on Zalo, against loopback fakes: the Zalo Bot API
(:mod:`tests.fakes.zalo_bot_api`), the OA with its OAuth and ZNS endpoints
(:mod:`tests.fakes.zalo_oa_api`) and an eSMS gateway (:mod:`tests.fakes.esms_gateway`).

The parent journey is a list of steps (:data:`JOURNEY`), each ``step(chat, otp)``, run the same
on the Zalo bot and on the OA: append a step (e.g. the absence request) and both channels run
it. Every run ends with SIGTERM (exit 0 within 10 s) and checks that no secret reached the
output.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from tests.e2e.process import E2E_BURST, LoggedProcess
from tests.fakes.esms_gateway import FakeEsms
from tests.fakes.zalo_bot_api import FakeZaloBotApi
from tests.fakes.zalo_oa_api import FakeZaloOa

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
TOKEN = "1234567890:zalo-bot-TEST-secret"
APP_ID, APP_SECRET, OA_SECRET = "3141592653", "app-SECRET-value", "oa-SECRET-key"
ESMS_KEY, ESMS_SECRET = "esms-API-key", "esms-SECRET-key"
WAIT = 10.0
MOM_8A03 = "0900000024"  # the only guardian of HS8A03


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 0.2):
            return True
    except OSError:
        return False


class Bot(LoggedProcess):
    """``python run_bot.py`` with the given environment; output in files under tmp_path."""

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.secrets: list[str] = []

    def start(
        self, env: dict[str, str], ready: Callable[[], bool], args: tuple[str, ...] = ()
    ) -> None:
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("LIENLAC_") and "proxy" not in k.lower()
        }
        base.update(
            LIENLAC_DATABASE__URL=f"sqlite+aiosqlite:///{self.tmp_path / 'z.sqlite3'}",
            LIENLAC_DATA_DIR=str(self.tmp_path),
            LIENLAC_LOG_LEVEL="DEBUG",
            NO_PROXY="127.0.0.1,localhost",
            PYTHONUNBUFFERED="1",
            LIENLAC_THROTTLE__BURST=E2E_BURST,
        )
        base.update(env)
        self.spawn(list(args), base)
        deadline = time.monotonic() + 30
        while not ready():
            if self.exited():
                pytest.fail(f"the bot exited at start:\n{self.output()}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"the bot was not ready within 30 s:\n{self.output()}")
            time.sleep(0.05)

    def stop(self) -> None:
        code, _ = self.terminate()
        if code is None:
            pytest.fail(f"no exit within 10 s of SIGTERM:\n{self.output()}")
        assert code == 0, f"exit code {code}:\n{self.output()}"

    def assert_clean(self, *secrets: str) -> None:
        output = self.output()
        assert "DEBUG" in output
        assert "Traceback" not in output, output
        for secret in secrets:
            assert secret not in output, "a secret reached the logs"


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Bot]:
    process = Bot(tmp_path)
    try:
        yield process
    finally:
        process.kill()


@pytest.fixture
def esms() -> Iterator[FakeEsms]:
    with FakeEsms(api_key=ESMS_KEY, secret_key=ESMS_SECRET) as fake:
        yield fake


@pytest.fixture
def zalo() -> Iterator[FakeZaloBotApi]:
    with FakeZaloBotApi(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def oa() -> Iterator[FakeZaloOa]:
    with FakeZaloOa(app_id=APP_ID, app_secret=APP_SECRET, oa_secret=OA_SECRET) as fake:
        yield fake


def esms_env(esms: FakeEsms, **extra: str) -> dict[str, str]:
    return {
        "LIENLAC_OTP__PROVIDER": "sms",
        "LIENLAC_OTP__SMS__URL": esms.url,
        "LIENLAC_OTP__SMS__API_KEY": ESMS_KEY,
        "LIENLAC_OTP__SMS__SECRET_KEY": ESMS_SECRET,
        "LIENLAC_OTP__SMS__BRANDNAME": "TRUONG",
        **extra,
    }


def oa_env(oa: FakeZaloOa, port: int, **extra: str) -> dict[str, str]:
    return {
        "LIENLAC_ZALO_OA__APP_ID": APP_ID,
        "LIENLAC_ZALO_OA__APP_SECRET": APP_SECRET,
        "LIENLAC_ZALO_OA__OA_SECRET": OA_SECRET,
        "LIENLAC_ZALO_OA__REFRESH_TOKEN": oa.issue_refresh_token(),
        "LIENLAC_ZALO_OA__API_BASE_URL": oa.url,
        "LIENLAC_ZALO_OA__OAUTH_BASE_URL": oa.url,
        "LIENLAC_WEBHOOK__LISTEN": f"127.0.0.1:{port}",
        **extra,
    }


def zns_env(oa: FakeZaloOa) -> dict[str, str]:
    return {
        "LIENLAC_OTP__PROVIDER": "zns",
        "LIENLAC_OTP__ZNS__URL": oa.url,
        "LIENLAC_OTP__ZNS__TEMPLATE_ID": "7895417a7d3f9461cd2e",
    }


# --- one journey, two channels -----------------------------------------------------------


class Chat(Protocol):
    def say(self, text: str, expect: str) -> str:
        """Type ``text``; the first new bot message containing ``expect``."""
        ...


class Otp(Protocol):
    def mark(self) -> int: ...

    def code(self, after: int) -> str: ...


@dataclass
class BotChat:
    api: FakeZaloBotApi
    chat_id: str

    def say(self, text: str, expect: str) -> str:
        after = len(self.api.sent_to(self.chat_id))
        self.api.inject_text(self.chat_id, text)
        return str(self.api.wait_for(self.chat_id, expect, WAIT, after=after)["text"])


@dataclass
class OaChat:
    oa: FakeZaloOa
    webhook: str
    user_id: str

    def say(self, text: str, expect: str) -> str:
        after = len(self.oa.cs_to(self.user_id))
        assert self.oa.send_event(self.webhook, self.oa.text_event(self.user_id, text)) == 200
        return self.oa.wait_for(self.user_id, expect, WAIT, after=after)


@dataclass
class EsmsOtp:
    esms: FakeEsms
    phone: str

    def mark(self) -> int:
        return len(self.esms.sent)

    def code(self, after: int) -> str:
        return self.esms.wait_for_code(self.phone, after=after)


@dataclass
class ZnsOtp:
    oa: FakeZaloOa
    phone: str  # 84…

    def mark(self) -> int:
        return len(self.oa.zns_sent)

    def code(self, after: int) -> str:
        return self.oa.wait_for_zns(self.phone, after=after)


def step_verify(chat: Chat, otp: Otp) -> None:
    assert "mã học sinh" in chat.say("/start", "Xin chào")
    consent = chat.say("HS8A03", "Gõ số để chọn")  # numbered choices: no buttons on Zalo
    # /start offered 1. and 2. (parent, teacher): within the dialog the consent takes 3.
    assert "3. ✅ Đồng ý" in consent
    before = otp.mark()
    sent = chat.say("3", "Đã gửi mã")
    assert MOM_8A03 not in sent  # masked
    linked = chat.say(otp.code(before), "Liên kết thành công")
    assert "Phạm Quang Huy" in linked


def step_scores(chat: Chat, otp: Otp) -> None:
    assert "6,6" in chat.say("điểm công nghệ", "Công nghệ")
    summary = chat.say("diem", "Kết quả học tập")  # accents optional
    assert "Toán" in summary


def step_absence_request(chat: Chat, otp: Otp) -> None:
    """Issue 4 on Zalo: numbered choices and typed words instead of buttons."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from bot.domain.absence import school_days

    day = dt.datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date() + dt.timedelta(days=2)
    while not school_days(day, day):
        day += dt.timedelta(days=1)
    summary = chat.say(f"xin nghi cho chau ngay {day:%d/%m} vi om", "buổi nào")
    assert "1." in summary  # the sessions as numbered choices
    confirm = chat.say("cả ngày", "Gửi đơn")
    assert f"{day:%d/%m/%Y}" in confirm and "Lý do: om" in confirm
    sent = chat.say("gửi", "đơn #1")
    assert "Phạm Quang Huy (8A)" in sent
    assert "#1" in chat.say("đơn đã gửi", "Đơn đang chờ duyệt")
    assert "Đã hủy đơn xin nghỉ #1" in chat.say("hủy đơn 1", "Đã hủy")


JOURNEY: tuple[Callable[[Chat, Otp], None], ...] = (
    step_verify,
    step_scores,
    step_absence_request,
)


def run_journey(chat: Chat, otp: Otp) -> None:
    for step in JOURNEY:
        step(chat, otp)


# --- Zalo Bot ----------------------------------------------------------------------------


def test_zalo_bot_journey_by_long_polling_with_sms_otp(
    bot: Bot, zalo: FakeZaloBotApi, esms: FakeEsms
) -> None:
    env = {
        "LIENLAC_ZALO_BOT__TOKEN": TOKEN,
        "LIENLAC_ZALO_BOT__API_BASE_URL": zalo.url,
        "LIENLAC_ZALO_BOT__POLL_TIMEOUT_SECONDS": "2",
        **esms_env(esms),
    }
    bot.start(env, lambda: bool(zalo.calls_to("getUpdates")))
    chat = BotChat(zalo, "6ede9afa66b88fe6d6a9")
    run_journey(chat, EsmsOtp(esms, MOM_8A03))
    # A redelivered update (same message_id) is answered once.
    update = zalo.update(chat.chat_id, "tkb thứ 2")
    after = len(zalo.sent_to(chat.chat_id))
    zalo.inject(update)
    zalo.inject(update)
    zalo.wait_for(chat.chat_id, "Chào cờ", WAIT, after=after)
    time.sleep(0.5)
    assert sum("Chào cờ" in p["text"] for p in zalo.sent_to(chat.chat_id)[after:]) == 1
    # Issue 17: a photo with a caption for the teacher is read as one (here the teacher has
    # not joined, so the parent is told it was not sent); its URL never reaches the logs.
    after = len(zalo.sent_to(chat.chat_id))
    photo = zalo.inject_photo(chat.chat_id, "nhắn cô chủ nhiệm: ảnh đơn thuốc của cháu")
    zalo.wait_for(chat.chat_id, "chưa dùng LienLac", WAIT, after=after)
    # A long reply is split at 2,000 characters (the fake refuses longer texts).
    assert all(len(p["text"]) <= 2000 for p in zalo.sent)
    # Issue 13.1 on Zalo: the linked parent asks in a class group. The group gets one line
    # pointing to the private chat: no name, no score, no timetable.
    group = "a9b8c7d6e5f4a3b2c1d0"
    for text in ("điểm", "tkb", "chuyên cần"):
        update = zalo.update(chat.chat_id, text)
        update["message"]["chat"] = {"id": group, "chat_type": "GROUP"}
        after = len(zalo.sent_to(group))
        zalo.inject(update)
        answer = zalo.wait_for(group, "tin nhắn riêng", WAIT, after=after)
        assert "Phạm Quang Huy" not in answer["text"]
    posted = " ".join(p["text"] for p in zalo.sent_to(group))
    assert "Huy" not in posted and "Chào cờ" not in posted and "Toán" not in posted
    bot.stop()
    assert zalo.violations == []
    url = photo["message"]["photo_url"]
    bot.assert_clean(TOKEN, TOKEN.split(":", 1)[1], ESMS_SECRET, ESMS_KEY, url)


def test_zalo_bot_webhook_rejects_a_missing_or_wrong_secret(
    bot: Bot, zalo: FakeZaloBotApi, esms: FakeEsms
) -> None:
    port = free_port()
    env = {
        "LIENLAC_ZALO_BOT__TOKEN": TOKEN,
        "LIENLAC_ZALO_BOT__API_BASE_URL": zalo.url,
        "LIENLAC_WEBHOOK__PUBLIC_URL": f"http://127.0.0.1:{port}",
        "LIENLAC_WEBHOOK__LISTEN": f"127.0.0.1:{port}",
        **esms_env(esms),
    }
    bot.start(env, lambda: bool(zalo.webhook_url))
    assert zalo.webhook_url.endswith("/zalo-bot/demo")
    chat = "a1b2c3d4e5f6a7b8c9d0"
    assert zalo.post_webhook(zalo.update(chat, "/start"), secret="") == 401
    assert zalo.post_webhook(zalo.update(chat, "/start"), secret="wrong-secret-x") == 401
    time.sleep(0.3)
    assert zalo.sent_to(chat) == []
    # The right secret, wrapped and flat payloads; the same message twice runs once.
    assert zalo.post_webhook(zalo.update(chat, "/start")) == 200
    zalo.wait_for(chat, "Xin chào", WAIT)
    again = zalo.update(chat, "/help")
    assert zalo.post_webhook(again, flat=True) == 200
    assert zalo.post_webhook(again, flat=True) == 200
    zalo.wait_for(chat, "mã học sinh", WAIT, after=1)
    time.sleep(0.5)
    assert len(zalo.sent_to(chat)) == 2
    bot.stop()
    assert zalo.violations == []
    bot.assert_clean(TOKEN, TOKEN.split(":", 1)[1], zalo.webhook_secret)


def test_sms_gateway_errors_and_timeouts_let_the_parent_retry(
    bot: Bot, zalo: FakeZaloBotApi, esms: FakeEsms
) -> None:
    env = {
        "LIENLAC_ZALO_BOT__TOKEN": TOKEN,
        "LIENLAC_ZALO_BOT__API_BASE_URL": zalo.url,
        "LIENLAC_ZALO_BOT__POLL_TIMEOUT_SECONDS": "2",
        **esms_env(esms, LIENLAC_OTP__SMS__TIMEOUT_SECONDS="1"),
    }
    bot.start(env, lambda: bool(zalo.calls_to("getUpdates")))
    chat = BotChat(zalo, "0f0f0f0f0f0f0f0f0f0f")
    chat.say("HS8A03", "Gõ số để chọn")
    esms.fail_next("99")  # refused by the gateway
    failed = chat.say("1", "Chưa gửi được mã")  # 1. Đồng ý
    assert "1. 🔁 Thử lại" in failed  # the same step again: it keeps the number 1
    esms.fail_next("100", hang=3)  # slower than the 1 s timeout
    assert "Chưa gửi được mã" in chat.say("1", "Chưa gửi được mã")
    typing = zalo.calls_to("sendChatAction")  # the slow turn showed "typing…"
    assert typing and typing[0].params == {"chat_id": chat.chat_id, "action": "typing"}
    before = len(esms.sent)
    chat.say("1", "Đã gửi mã")  # "1. Thử lại": no attempt was burned
    chat.say(esms.wait_for_code(MOM_8A03, after=before), "Liên kết thành công")
    bot.stop()
    bot.assert_clean(TOKEN, ESMS_SECRET)


# --- Zalo OA -----------------------------------------------------------------------------


def test_zalo_oa_journey_with_zns_otp_and_signed_webhooks(
    bot: Bot, oa: FakeZaloOa, tmp_path: Path
) -> None:
    port = free_port()
    env = {**oa_env(oa, port), **zns_env(oa)}
    webhook = f"http://127.0.0.1:{port}/zalo-oa/demo"

    bot.start(env, lambda: oa.refreshes > 0 and listening(port))
    user = "8123456789012345678"
    # Missing, wrong, or made with another key: rejected, nothing answered.
    event = oa.text_event(user, "/start")
    assert oa.send_event(webhook, event, signature="") == 401
    assert oa.send_event(webhook, event, signature="mac=" + "0" * 64) == 401
    assert oa.send_event(webhook, event, key=APP_SECRET) == 401
    time.sleep(0.3)
    assert oa.cs_to(user) == []
    # follow / unfollow and other events are accepted and ignored.
    assert oa.send_event(webhook, oa.follow_event(user)) == 200
    run_journey(OaChat(oa, webhook, user), ZnsOtp(oa, "84" + MOM_8A03[1:]))
    # Issue 17: a PDF for the teacher is read as one (the teacher has not joined: the
    # parent is told); an .exe is refused. No URL reaches the logs.
    pdf = oa.file_event(user, "file", text="nhắn cô chủ nhiệm: giấy khám bệnh")
    after = len(oa.cs_to(user))
    assert oa.send_event(webhook, pdf) == 200
    oa.wait_for(user, "chưa dùng LienLac", WAIT, after=after)
    exe = oa.file_event(user, "file", text="nhắn cô: xem", name="a.exe", file_type="exe")
    assert oa.send_event(webhook, exe) == 200
    oa.wait_for(user, "CHƯA được gửi", WAIT, after=after)
    urls = [e["message"]["attachments"][0]["payload"]["url"] for e in (pdf, exe)]
    # Zalo retries a delivery it thinks failed: the same msg_id runs once.
    retry = oa.text_event(user, "tkb thứ 2")
    after = len(oa.cs_to(user))
    assert oa.send_event(webhook, retry) == 200
    assert oa.send_event(webhook, retry) == 200
    oa.wait_for(user, "Chào cờ", WAIT, after=after)
    time.sleep(0.5)
    assert sum("Chào cờ" in t for t in oa.cs_to(user)[after:]) == 1
    bot.stop()
    assert oa.spent_reuses == 0
    bot.assert_clean(APP_SECRET, OA_SECRET, *oa.issued, *urls)


def test_zns_refusal_falls_back_to_sms_and_a_timeout_lets_the_parent_retry(
    bot: Bot, oa: FakeZaloOa, esms: FakeEsms
) -> None:
    port = free_port()
    env = {
        **oa_env(oa, port),
        **esms_env(esms),
        **zns_env(oa),
        "LIENLAC_OTP__ZNS__TIMEOUT_SECONDS": "1",
        # starting again at once must be allowed to send again here (the guard's cooldown)
        "LIENLAC_OTP__RESEND_COOLDOWN_SECONDS": "0",
    }
    webhook = f"http://127.0.0.1:{port}/zalo-oa/demo"

    bot.start(env, lambda: oa.refreshes > 0 and listening(port))
    chat = OaChat(oa, webhook, "8000000000000000001")
    chat.say("HS8A03", "Gõ số để chọn")
    # ZNS: "-118 no Zalo account" -> the code goes by SMS.
    oa.fail_zns(-118)
    before = len(esms.sent)
    chat.say("1", "Đã gửi mã")
    code = esms.wait_for_code(MOM_8A03, after=before)
    assert oa.zns_sent == []
    chat.say("/huy", "")
    # ZNS hangs past its timeout and the SMS gateway refuses: not sent, the parent may retry.
    chat.say("HS8A03", "Gõ số để chọn")
    oa.fail_zns(-118, hang=3.0)  # longer than the 1 s ZNS timeout
    esms.fail_next("99")
    assert "Chưa gửi được mã" in chat.say("1", "Chưa gửi được mã")
    before_zns = len(oa.zns_sent)
    chat.say("1", "Đã gửi mã")
    code = oa.wait_for_zns("84" + MOM_8A03[1:], after=before_zns)
    chat.say(code, "Liên kết thành công")
    bot.stop()
    bot.assert_clean(APP_SECRET, OA_SECRET, ESMS_SECRET)


# --- start-up failures: one clear line, an exit code, no traceback --------------------------


def _run(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LIENLAC_") and "proxy" not in k.lower()
    }
    full.update(
        LIENLAC_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'z.sqlite3'}",
        LIENLAC_DATA_DIR=str(tmp_path),
        NO_PROXY="127.0.0.1,localhost",
        **env,
    )
    return subprocess.run(
        [sys.executable, "run_bot.py", *args],
        cwd=REPO,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_refused_token_stops_the_bot_with_a_clear_line(
    tmp_path: Path, zalo: FakeZaloBotApi, oa: FakeZaloOa
) -> None:
    bad_bot = _run(
        tmp_path,
        {"LIENLAC_ZALO_BOT__TOKEN": "1:wrong-token", "LIENLAC_ZALO_BOT__API_BASE_URL": zalo.url},
    )
    assert bad_bot.returncode == 2
    assert "check LIENLAC_ZALO_BOT__TOKEN" in bad_bot.stderr
    assert "wrong-token" not in bad_bot.stderr + bad_bot.stdout
    assert "Traceback" not in bad_bot.stderr

    env = oa_env(oa, free_port(), LIENLAC_ZALO_OA__REFRESH_TOKEN="rt-spent-or-unknown")
    bad_oa = _run(tmp_path, env)
    assert bad_oa.returncode == 2
    assert "Zalo OA token refresh failed" in bad_oa.stderr
    assert "rt-spent-or-unknown" not in bad_oa.stderr + bad_oa.stdout
    assert "Traceback" not in bad_oa.stderr
    check = _run(tmp_path, env, "check-config")
    assert check.returncode == 0, check.stderr
    assert "1 failed refresh(es); last error: Zalo refused the refresh token" in check.stdout


def test_zalo_bot_oa_and_telegram_in_one_process(
    bot: Bot, zalo: FakeZaloBotApi, oa: FakeZaloOa, esms: FakeEsms
) -> None:
    from tests.fakes.telegram_api import FakeTelegramApi

    telegram_token = "424242:TELEGRAM-secret"
    port = free_port()
    with FakeTelegramApi(token=telegram_token) as telegram:
        env = {
            "LIENLAC_ZALO_BOT__TOKEN": TOKEN,
            "LIENLAC_ZALO_BOT__API_BASE_URL": zalo.url,
            "LIENLAC_ZALO_BOT__POLL_TIMEOUT_SECONDS": "2",
            "LIENLAC_TELEGRAM__TOKEN": telegram_token,
            "LIENLAC_TELEGRAM__API_BASE_URL": telegram.url,
            **oa_env(oa, port),
            **esms_env(esms),
        }
        bot.start(
            env,
            lambda: (
                bool(zalo.calls_to("getUpdates"))
                and bool(telegram.calls_to("getUpdates"))
                and listening(port)
            ),
        )
        assert "Xin chào" in BotChat(zalo, "b" * 20).say("/start", "Xin chào")
        oa_chat = OaChat(oa, f"http://127.0.0.1:{port}/zalo-oa/demo", "8111")
        assert "Xin chào" in oa_chat.say("/start", "Xin chào")
        telegram.inject_message(5001, "/start")
        telegram.wait_for(5001, "Xin chào", WAIT)
        # A sticker in a private Zalo chat gets a polite answer, not silence or an error.
        after = len(zalo.sent_to("b" * 20))
        zalo.inject(zalo.update("b" * 20, "", event="message.sticker.received"))
        zalo.wait_until(lambda: len(zalo.sent_to("b" * 20)) > after, WAIT, what="an answer")
        bot.stop()
    bot.assert_clean(TOKEN, telegram_token, APP_SECRET, OA_SECRET, ESMS_SECRET, *oa.issued)
