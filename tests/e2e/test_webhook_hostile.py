"""Hostile requests to the webhook routes of the real process (issue 13.5): a huge body is
refused while it is read and the process stays small, deep JSON is a 400 (never a 500), an
event dated 2017 is dropped, and hypothesis throws arbitrary bodies at every route."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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

TG_TOKEN = "123456:HOSTILE-test-token"

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


@pytest.fixture
def oa() -> Iterator[FakeZaloOa]:
    with FakeZaloOa(app_id=APP_ID, app_secret=APP_SECRET, oa_secret=OA_SECRET) as fake:
        yield fake


@pytest.fixture
def zalo() -> Iterator[FakeZaloBotApi]:
    with FakeZaloBotApi(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def tg() -> Iterator[FakeTelegramApi]:
    with FakeTelegramApi(token=TG_TOKEN) as fake:
        yield fake


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Bot]:
    process = Bot(tmp_path)
    try:
        yield process
    finally:
        process.kill()


def rss_kib(bot: Bot) -> int:
    assert bot.proc is not None
    status = Path(f"/proc/{bot.proc.pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1])


def test_every_webhook_route_refuses_hostile_bodies(
    bot: Bot, oa: FakeZaloOa, zalo: FakeZaloBotApi, tg: FakeTelegramApi
) -> None:
    port = free_port()  # one webhook server for every platform (issue 14)
    env = {
        **oa_env(oa, port),
        "LIENLAC_ZALO_BOT__TOKEN": TOKEN,
        "LIENLAC_ZALO_BOT__API_BASE_URL": zalo.url,
        "LIENLAC_TELEGRAM__TOKEN": TG_TOKEN,
        "LIENLAC_TELEGRAM__API_BASE_URL": tg.url,
        "LIENLAC_WEBHOOK__PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    bot.start(
        env,
        lambda: (
            oa.refreshes > 0
            and listening(port)
            and bool(zalo.webhook_url)
            and tg.webhook() is not None
        ),
    )
    oa_url = f"http://127.0.0.1:{port}/zalo-oa/demo"
    bot_url = f"http://127.0.0.1:{port}/zalo-bot/demo"
    tg_url = f"http://127.0.0.1:{port}/telegram/demo"
    secret = {"X-Bot-Api-Secret-Token": zalo.webhook_secret}
    hook = tg.webhook()
    assert hook is not None
    tg_secret = {"X-Telegram-Bot-Api-Secret-Token": hook["secret_token"]}
    routes = ((oa_url, {}), (bot_url, secret), (tg_url, tg_secret))
    before = rss_kib(bot)
    with httpx.Client(timeout=30) as client:
        # 1. A 20 MB body, announced and streamed without a length: refused while reading.
        big = b"{" + b'"a": "' + b"x" * (20 * 1024 * 1024) + b'"}'
        assert client.post(oa_url, content=big).status_code == 413

        def chunks() -> Iterator[bytes]:
            for _ in range(20):
                yield b"x" * (1024 * 1024)

        for url, headers in routes:
            assert client.post(url, content=chunks(), headers=headers).status_code == 413
        # 2. Deep JSON at any depth: 400, never 500.
        for depth in (40, 1000, 15_000):  # all under the body limit
            deep = ("[" * depth + "]" * depth).encode()
            for url, headers in routes:
                assert client.post(url, content=deep, headers=headers).status_code == 400
            nested = ('{"message": ' * depth + "1" + "}" * depth).encode()
            assert client.post(oa_url, content=nested).status_code == 400
        # 3. A correctly signed event from 2017 (a replay): dropped, never answered.
        user = "8123456789012345999"
        old = oa.text_event(user, "/start")
        old["timestamp"] = "1500000000000"
        assert oa.send_event(oa_url, old) == 200
        ahead = oa.text_event(user, "/help")
        ahead["timestamp"] = str(int((time.time() + 3600) * 1000))
        assert oa.send_event(oa_url, ahead) == 200
        time.sleep(1.0)
        assert oa.cs_to(user) == []
        fresh = oa.text_event(user, "/start")
        assert oa.send_event(oa_url, fresh) == 200
        oa.wait_for(user, "Xin chào", 10)
    assert rss_kib(bot) - before < 30 * 1024  # not the 472 MB a 100 MB body once cost

    # 4. Arbitrary bodies and JSON values over HTTP: never a 5xx, never a traceback, and no
    # dialog reached (nothing is sent to anyone on any platform).
    sent_before = (len(tg.sent()), len(zalo.sent), len(oa.cs_sent))
    with httpx.Client(timeout=10) as client:

        @settings(
            max_examples=60,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
        @given(body=st.one_of(st.binary(max_size=300), JSON.map(lambda v: json.dumps(v).encode())))
        def never_5xx(body: bytes) -> None:
            for url, headers in routes:
                answer = client.post(url, content=body, headers=headers)
                assert answer.status_code < 500, (url, body, answer.text)
                assert "Traceback" not in answer.text

        never_5xx()
    time.sleep(0.5)
    assert (len(tg.sent()), len(zalo.sent), len(oa.cs_sent)) == sent_before
    bot.stop()
    assert "Traceback" not in bot.output()


def test_an_event_delivered_again_after_a_restart_runs_once(bot: Bot, oa: FakeZaloOa) -> None:
    port = free_port()
    env = oa_env(oa, port)
    url = f"http://127.0.0.1:{port}/zalo-oa/demo"
    user = "8123456789012345777"
    event = oa.text_event(user, "/start")
    bot.start(env, lambda: oa.refreshes > 0 and listening(port))
    assert oa.send_event(url, event) == 200
    oa.wait_for(user, "Xin chào", 10)
    bot.stop()
    bot.start(env, lambda: listening(port))  # the OA token is kept in the database
    assert oa.send_event(url, event) == 200  # Zalo retries what it thinks was lost
    fresh = oa.text_event(user, "/help")
    assert oa.send_event(url, fresh) == 200
    oa.wait_for(user, "mã học sinh", 10, after=1)
    time.sleep(0.5)
    assert sum("Xin chào" in text for text in oa.cs_to(user)) == 1
    bot.stop()
