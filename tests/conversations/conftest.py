from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.bootstrap import App
from tests.chat import demo_app
from tests.fakes.ports import FakeClock, RecordingOtpSender


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sms() -> RecordingOtpSender:
    return RecordingOtpSender()


@pytest.fixture
async def app(
    sqlite_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingOtpSender
) -> AsyncIterator[App]:
    async with demo_app(sqlite_url, tmp_path, clock, sms) as built:
        yield built
