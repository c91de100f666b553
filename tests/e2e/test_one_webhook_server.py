"""Issue 14: one process, one webhook port. Telegram, the Zalo Bot and the Zalo OA of a school
are served by the real ``run_bot.py`` on ``LIENLAC_WEBHOOK__LISTEN`` under the contract's
routes (``/telegram/{school}``, ``/zalo-bot/{school}``, ``/zalo-oa/{school}``, ``/healthz``,
``/metrics``), and the deprecated per-channel variables still work, with a warning."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_telegram_e2e import message_update
from tests.e2e.test_zalo_e2e import (
    APP_ID,
    APP_SECRET,
    OA_SECRET,
    TOKEN,
    Bot,
    free_port,
    listening,
    oa_env,
)
from tests.fakes.telegram_api import FakeTelegramApi
from tests.fakes.zalo_bot_api import FakeZaloBotApi
from tests.fakes.zalo_oa_api import FakeZaloOa

pytestmark = pytest.mark.e2e

TG_TOKEN = "123456:ONE-server-token"
METRICS_TOKEN = "scrape-me-please-0123456789"
WAIT = 10.0


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Bot]:
    process = Bot(tmp_path)
    try:
        yield process
    finally:
        process.kill()


def test_one_port_serves_telegram_zalo_bot_and_zalo_oa(bot: Bot) -> None:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    with (
        FakeTelegramApi(token=TG_TOKEN) as tg,
        FakeZaloBotApi(token=TOKEN) as zalo,
        FakeZaloOa(app_id=APP_ID, app_secret=APP_SECRET, oa_secret=OA_SECRET) as oa,
    ):
        env = {
            **oa_env(oa, port),  # LIENLAC_WEBHOOK__LISTEN
            "LIENLAC_WEBHOOK__PUBLIC_URL": public,
            "LIENLAC_TELEGRAM__TOKEN": TG_TOKEN,
            "LIENLAC_TELEGRAM__API_BASE_URL": tg.url,
            "LIENLAC_ZALO_BOT__TOKEN": TOKEN,
            "LIENLAC_ZALO_BOT__API_BASE_URL": zalo.url,
            "LIENLAC_METRICS__TOKEN": METRICS_TOKEN,
        }
        bot.start(
            env,
            lambda: (
                listening(port)
                and oa.refreshes > 0
                and bool(zalo.webhook_url)
                and tg.webhook() is not None
            ),
        )
        hook = tg.webhook()
        assert hook is not None and hook["url"] == f"{public}/telegram/demo"
        assert zalo.webhook_url == f"{public}/zalo-bot/demo"
        assert tg.calls_to("getUpdates") == [] and zalo.calls_to("getUpdates") == []

        # Each platform, through the same port, reaches the same bot and gets an answer.
        assert tg.post_update_to_webhook(message_update(70_001, 7001, "/start")) == 200
        tg.wait_for(7001, "Xin chào", WAIT)
        chat = "a1b2c3d4e5f6a7b8c9d1"
        assert zalo.post_webhook(zalo.update(chat, "/start")) == 200
        zalo.wait_for(chat, "Xin chào", WAIT)
        user = "8123456789012345111"
        assert oa.send_event(f"{public}/zalo-oa/demo", oa.text_event(user, "/start")) == 200
        oa.wait_for(user, "Xin chào", WAIT)

        with httpx.Client(timeout=5) as client:
            assert client.get(f"{public}/healthz").json() == {"status": "ok"}
            assert client.get(f"{public}/metrics").status_code == 401
            scraped = client.get(
                f"{public}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
            )
            assert scraped.status_code == 200 and "lienlac_outbox_pending" in scraped.text
            assert "lienlac_inbox_waiting 0.0" in scraped.text  # every stored event answered
            # Unknown platforms and schools are 404; a wrong secret or signature is 401 and
            # reaches no dialog.
            assert client.post(f"{public}/viber/demo", json={}).status_code == 404
            assert client.post(f"{public}/telegram/other", json={}).status_code == 404
            forged = message_update(70_002, 7002, "/start")
            assert client.post(f"{public}/telegram/demo", json=forged).status_code == 401
            assert (
                client.post(
                    f"{public}/zalo-bot/demo",
                    json={"ok": True, "result": zalo.update("f" * 20, "/start")},
                    headers={"X-Bot-Api-Secret-Token": "not-the-secret"},
                ).status_code
                == 401
            )
            unsigned = oa.text_event("8123456789012345112", "/start")
            assert client.post(f"{public}/zalo-oa/demo", json=unsigned).status_code == 401
        time.sleep(0.5)
        assert tg.sent(7002) == [] and zalo.sent_to("f" * 20) == []
        assert oa.cs_to("8123456789012345112") == []
        bot.stop()
    output = bot.output()
    assert "deprecated" not in output
    bot.assert_clean(TG_TOKEN, TOKEN, APP_SECRET, OA_SECRET, METRICS_TOKEN)


def test_the_old_per_channel_listen_variable_still_works_with_a_warning(
    bot: Bot, tmp_path: Path
) -> None:
    """An installation upgraded from three servers keeps its Zalo OA port for one release."""
    old_port = free_port()
    with FakeZaloOa(app_id=APP_ID, app_secret=APP_SECRET, oa_secret=OA_SECRET) as oa:
        env = oa_env(oa, old_port)
        del env["LIENLAC_WEBHOOK__LISTEN"]
        env["LIENLAC_ZALO_OA__WEBHOOK_LISTEN"] = f"127.0.0.1:{old_port}"
        bot.start(env, lambda: listening(old_port) and oa.refreshes > 0)
        user = "8123456789012345222"
        url = f"http://127.0.0.1:{old_port}/zalo-oa/demo"
        assert oa.send_event(url, oa.text_event(user, "/start")) == 200
        oa.wait_for(user, "Xin chào", WAIT)
        bot.stop()
    assert "LIENLAC_ZALO_OA__WEBHOOK_LISTEN is deprecated" in bot.output()
