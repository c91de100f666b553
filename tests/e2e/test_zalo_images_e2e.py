"""Issue 16 on Zalo: a parent gets the score chart and the fee's VietQR as pictures, on the Zalo
Bot (``sendPhoto`` with a URL the fake fetches from the bot's webhook server) and on the OA
(an upload, then a CS message with the ``media`` attachment). The real ``run_bot.py`` process
against the loopback fakes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.backends.demo_data import build_demo_school
from bot.bootstrap import DEMO_BANK
from bot.domain.payments import qr_payload, qr_png
from tests.e2e.test_zalo_e2e import (
    APP_ID,
    APP_SECRET,
    ESMS_KEY,
    ESMS_SECRET,
    OA_SECRET,
    TOKEN,
    WAIT,
    Bot,
    EsmsOtp,
    OaChat,
    ZnsOtp,
    esms_env,
    free_port,
    listening,
    oa_env,
    step_verify,
    zns_env,
)
from tests.fakes.esms_gateway import FakeEsms
from tests.fakes.zalo_bot_api import FakeZaloBotApi
from tests.fakes.zalo_oa_api import FakeZaloOa

pytestmark = pytest.mark.e2e

MOM_8A03 = "0900000024"


@pytest.fixture
def zbot(tmp_path: Path) -> Iterator[Bot]:
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


def _water_qr() -> bytes:
    """The VietQR of Huy's unpaid "Nước uống tháng 11", on the demo school's account."""
    fee = next(
        f
        for f in build_demo_school().fees
        if f.student_id == "st-8a-03" and f.name.startswith("Nước uống")
    )
    return qr_png(qr_payload(DEMO_BANK, "demo", fee))


def _png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


@dataclass
class WebhookBotChat:
    api: FakeZaloBotApi
    chat_id: str

    def say(self, text: str, expect: str) -> str:
        after = len(self.api.sent_to(self.chat_id))
        assert self.api.post_webhook(self.api.update(self.chat_id, text)) == 200
        return str(self.api.wait_for(self.chat_id, expect, WAIT, after=after)["text"])


def test_zalo_bot_parent_gets_the_chart_and_the_qr_as_photos(
    zbot: Bot, zalo: FakeZaloBotApi, esms: FakeEsms
) -> None:
    bot = zbot
    port = free_port()
    env = {
        "LIENLAC_ZALO_BOT__TOKEN": TOKEN,
        "LIENLAC_ZALO_BOT__API_BASE_URL": zalo.url,
        "LIENLAC_WEBHOOK__PUBLIC_URL": f"http://127.0.0.1:{port}",
        "LIENLAC_WEBHOOK__LISTEN": f"127.0.0.1:{port}",
        **esms_env(esms),
    }
    bot.start(env, lambda: bool(zalo.webhook_url))
    chat = WebhookBotChat(zalo, "c0ffee00c0ffee00c0ff")
    step_verify(chat, EsmsOtp(esms, MOM_8A03))

    text = chat.say("biểu đồ điểm", "📈 Điểm trung bình các môn")
    assert "Toán" in text  # the text alternative comes too
    zalo.wait_until(lambda: len(zalo.photos) == 1, WAIT, what="the chart photo")
    width, height = _png_size(zalo.photos[0]["png"])
    assert width >= 600 and height >= 300
    assert zalo.photos[0]["chat_id"] == chat.chat_id

    answer = chat.say("nước uống còn nợ không", "Nước uống tháng 11")
    assert "Số tài khoản" not in answer  # the bank details come with the picture
    zalo.wait_until(lambda: len(zalo.photos) == 2, WAIT, what="the VietQR photo")
    photo = zalo.photos[1]
    assert photo["png"] == _water_qr()
    # the picture's address is long, random and short-lived; a wrong one is 404
    token = photo["url"].rsplit("/", 1)[1].removesuffix(".png")
    assert len(token) >= 40
    missing = f"http://127.0.0.1:{port}/media/{'x' * 43}.png"
    assert httpx.get(missing, timeout=5.0, trust_env=False).status_code == 404
    bot.stop()
    assert zalo.violations == []
    bot.assert_clean(TOKEN, TOKEN.split(":", 1)[1], ESMS_SECRET)


def test_zalo_oa_parent_gets_the_chart_and_the_qr_as_images(
    zbot: Bot, oa: FakeZaloOa, tmp_path: Path
) -> None:
    bot = zbot
    port = free_port()
    bot.start({**oa_env(oa, port), **zns_env(oa)}, lambda: oa.refreshes > 0 and listening(port))
    user = "8123456789012345999"
    chat = OaChat(oa, f"http://127.0.0.1:{port}/zalo-oa/demo", user)
    step_verify(chat, ZnsOtp(oa, "84" + MOM_8A03[1:]))

    chat.say("xem tiến bộ môn toán", "📈 Điểm môn Toán")
    oa.wait_until(lambda: len(oa.images_to(user)) == 1, WAIT, what="the chart image")
    width, height = _png_size(oa.images_to(user)[0])
    assert width >= 600 and height >= 300

    chat.say("nước uống còn nợ không", "Nước uống tháng 11")
    oa.wait_until(lambda: len(oa.images_to(user)) == 2, WAIT, what="the VietQR image")
    assert oa.images_to(user)[1] == _water_qr()
    time.sleep(0.3)
    assert [code for _, code in oa.cs_refused] == []
    bot.stop()
    bot.assert_clean(APP_SECRET, OA_SECRET, *oa.issued)
