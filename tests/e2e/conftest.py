"""The Telegram bot process on its fakes, shared by the e2e modules that drive it (a module's
own ``api``/``sms``/``bot`` fixture, e.g. Zalo's, takes precedence)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_telegram_e2e import TOKEN, BotProcess
from tests.fakes.sms_gateway import FakeSmsGateway
from tests.fakes.telegram_api import FakeTelegramApi


@pytest.fixture
def api() -> Iterator[FakeTelegramApi]:
    with FakeTelegramApi(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def sms() -> Iterator[FakeSmsGateway]:
    with FakeSmsGateway() as gateway:
        yield gateway


@pytest.fixture
def bot(tmp_path: Path, api: FakeTelegramApi, sms: FakeSmsGateway) -> Iterator[BotProcess]:
    process = BotProcess(tmp_path, api, sms)
    try:
        yield process
    finally:
        process.kill()
