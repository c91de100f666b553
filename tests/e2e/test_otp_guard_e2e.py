"""The OTP guard attacked through the real process (issue 13.2-13.4): Telegram through the
loopback Bot API fake, codes through the loopback SMS gateway fake, the school's
``run_bot.py otp unlock`` as a second process on the same database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.test_telegram_e2e import REPO, BotProcess, press, say
from tests.fakes.sms_gateway import FakeSmsGateway
from tests.fakes.telegram_api import FakeTelegramApi

pytestmark = pytest.mark.e2e

HUY, HUY_PHONE = "HS8A03", "0900000024"  # one guardian (Mẹ)
COOLDOWN = 2  # seconds between two codes to one phone, shortened for the test


def texts_to(sms: FakeSmsGateway, phone: str) -> int:
    return sum(1 for m in sms.sent if m.phone == phone)


def ask_code(api: FakeTelegramApi, chat: int, expect: str) -> str:
    say(api, chat, "/start", "Xin chào")
    consent = say(api, chat, HUY, "Điều khoản")
    assert "Phạm Quang Huy" not in consent["text"] and "8A" not in consent["text"]
    assert "Người nhận mã: Mẹ" in consent["text"] and "09x xxx x24" in consent["text"]
    return str(press(api, chat, "Đồng ý", expect)["text"])


def test_guessing_is_locked_per_chat_across_restarts_the_real_parent_gets_through(
    bot: BotProcess, api: FakeTelegramApi, sms: FakeSmsGateway, tmp_path: Path
) -> None:
    attacker, parent, other = 6101, 6102, 6103
    bot.start(LIENLAC_OTP__RESEND_COOLDOWN_SECONDS=str(COOLDOWN))

    ask_code(api, attacker, "Đã gửi mã")
    real = sms.wait_for_code(HUY_PHONE, timeout=10)
    wrong = "000000" if real != "000000" else "111111"
    for left in (4, 3, 2, 1):
        assert f"còn {left} lần" in say(api, attacker, wrong, "Mã chưa đúng")["text"]
    say(api, attacker, wrong, "tạm khóa")
    sent = texts_to(sms, HUY_PHONE)

    # Starting again, as often as it likes: no new code, no new guesses.
    time.sleep(COOLDOWN + 0.5)
    for _ in range(3):
        assert "tạm khóa" in ask_code(api, attacker, "tạm khóa")
        assert "tạm khóa" in say(api, attacker, real, "tạm khóa")["text"]
    assert texts_to(sms, HUY_PHONE) == sent

    # The real parent, in another chat, only waits the cooldown.
    ask_code(api, parent, "Đã gửi mã")
    code = sms.wait_for_code(HUY_PHONE, after=sent, timeout=10)
    assert "Liên kết thành công" in say(api, parent, code, "Liên kết thành công")["text"]

    # The school lifts a lock: `run_bot.py otp unlock --student`.
    time.sleep(COOLDOWN + 0.5)
    ask_code(api, other, "Đã gửi mã")
    before = texts_to(sms, HUY_PHONE)
    for _ in range(5):
        say(api, other, wrong, "")
    assert "tạm khóa" in api.sent(other)[-1]["text"]
    env = {k: v for k, v in bot.env().items()}
    done = subprocess.run(
        [sys.executable, "run_bot.py", "otp", "unlock", "--student", HUY],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Unlocked" in done.stdout
    time.sleep(COOLDOWN + 0.5)
    ask_code(api, other, "Đã gửi mã")
    code = sms.wait_for_code(HUY_PHONE, after=before, timeout=10)
    assert "Liên kết thành công" in say(api, other, code, "Liên kết thành công")["text"]
    bot.stop()
    bot.assert_clean()


def test_restarts_and_many_guardians_do_not_flood_phones_or_the_school_bill(
    bot: BotProcess, api: FakeTelegramApi, sms: FakeSmsGateway
) -> None:
    chat = 6201
    bot.start()  # the default 60 s between two codes to one phone
    ask_code(api, chat, "Đã gửi mã")
    for _ in range(5):  # five restarts within seconds
        answer = ask_code(api, chat, "Mã đã được gửi")
        assert "vẫn còn hiệu lực" in answer
    assert texts_to(sms, HUY_PHONE) == 1
    code = sms.wait_for_code(HUY_PHONE, timeout=10)  # the first code still links
    say(api, chat, code, "Liên kết thành công")

    # One chat, many families' codes: codes go to three phones a day, then no more.
    stranger = 6202
    codes = ["HS6A02", "HS6A03", "HS6A05", "HS6A06", "HS6A07"]
    phones = ["0900000005", "0900000006", "0900000009", "0900000010", "0900000011"]
    for code, phone in zip(codes[:3], phones[:3], strict=True):
        say(api, stranger, "/huy", "")
        say(api, stranger, code, "Điều khoản")
        press(api, stranger, "Đồng ý", "Đã gửi mã")
        assert texts_to(sms, phone) == 1
    for code, phone in zip(codes[3:], phones[3:], strict=True):
        say(api, stranger, "/huy", "")
        say(api, stranger, code, "Điều khoản")
        press(api, stranger, "Đồng ý", "quá nhiều số điện thoại")
        assert texts_to(sms, phone) == 0
    bot.stop()
    bot.assert_clean()


def test_stats_and_metrics_show_the_school_bill(tmp_path: Path) -> None:
    """The alert when the school's daily codes come near the limit: `stats` and /metrics."""
    import asyncio
    import datetime as dt

    from sqlalchemy import insert

    from storage.engine import create_engine
    from storage.migrate import upgrade
    from storage.tables import AuditEvent

    url = f"sqlite+aiosqlite:///{tmp_path / 's.sqlite3'}"

    async def fill() -> None:
        engine = create_engine(url)
        try:
            await upgrade(engine)
            now = dt.datetime.now(dt.UTC)
            rows = [
                {"school_id": "demo", "at": now, "actor": "x", "action": "verify.otp_sent"}
                for _ in range(9)
            ]
            async with engine.begin() as conn:
                await conn.execute(insert(AuditEvent), rows)
        finally:
            await engine.dispose()

    asyncio.run(fill())
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIENLAC_")}
    env.update(LIENLAC_DATABASE__URL=url, LIENLAC_OTP__SCHOOL_SENDS_PER_DAY="10")
    done = subprocess.run(
        [sys.executable, "run_bot.py", "stats"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "demo  9/10  0  0  ALERT: near the daily limit" in done.stdout
