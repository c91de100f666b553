"""A flood from one chat (issue 13.8) through the real process on Telegram: 40 messages in a
second get at most the burst of answers and one polite line; another chat is answered at
once meanwhile."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_telegram_e2e import TOKEN, BotProcess, free_port, say
from tests.fakes.sms_gateway import FakeSmsGateway
from tests.fakes.telegram_api import FakeTelegramApi

pytestmark = pytest.mark.e2e

BURST = 8  # the default


@pytest.fixture
def api() -> Iterator[FakeTelegramApi]:
    with FakeTelegramApi(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def bot(tmp_path: Path, api: FakeTelegramApi) -> Iterator[BotProcess]:
    with FakeSmsGateway() as sms:
        process = BotProcess(tmp_path, api, sms)
        try:
            yield process
        finally:
            process.kill()


def test_one_chat_flooding_gets_one_notice_and_others_stay_fast(
    bot: BotProcess, api: FakeTelegramApi
) -> None:
    flooder, other = 7001, 7002
    ops = free_port()
    bot.start(LIENLAC_THROTTLE__BURST=str(BURST), LIENLAC_METRICS__LISTEN=f"127.0.0.1:{ops}")
    began = time.monotonic()
    for i in range(40):
        api.inject_message(flooder, f"/help {i}")
    say(api, other, "/start", "Xin chào")
    assert time.monotonic() - began < 5
    api.wait_for(flooder, "nhắn nhanh quá", 10)
    time.sleep(1.5)
    elapsed = time.monotonic() - began
    answers = api.sent(flooder)
    # the burst, one a second while the 40 are read (a loaded machine reads slowly), the notice
    assert len(answers) <= BURST + math.ceil(elapsed) + 1, (len(answers), elapsed)
    assert sum("nhắn nhanh quá" in str(a.get("text")) for a in answers) == 1
    # The operator sees it on /metrics: one flood, the rest dropped unanswered.
    scraped = httpx.get(f"http://127.0.0.1:{ops}/metrics", timeout=5).text
    assert "lienlac_throttle_floods 1.0" in scraped
    dropped = re.search(r"^lienlac_throttle_dropped (\d+)", scraped, re.M)
    assert dropped is not None and int(dropped.group(1)) >= 40 - len(answers) - 1
    # After a pause the chat is answered again.
    time.sleep(2)
    say(api, flooder, "/help", "mã học sinh")
    bot.stop()
    bot.assert_clean()
