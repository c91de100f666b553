"""The digest story on a school whose data lives in its own QLHS (``rest_json`` against the
loopback fake): the teacher enters a mark in the QLHS, the scheduler's poll finds it, and the
parent's evening digest carries it, once, even though every tick re-reads with an overlap."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.bootstrap import build_app, build_scheduler
from bot.config import BackendSettings, DatabaseSettings, Settings
from bot.outbox import OutboxRelay
from storage.outbox_store import SqlOutboxStore
from storage.tables import NotificationItem, OutboxMessage
from tests.chat import Chat
from tests.fakes.ports import FakeClock, RecordingOtpSender
from tests.fakes.qlhs_rest import FakeQlhs
from tests.integration.test_digest_demo import EPOCH, RecordingSender, _advance

pytestmark = pytest.mark.integration


async def test_a_parent_on_a_rest_json_school_gets_the_new_mark_in_the_digest_once(
    database_url: str, tmp_path: Path
) -> None:
    clock = FakeClock(dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC))  # Tuesday 09:00, Hà Nội
    sms = RecordingOtpSender()
    with FakeQlhs() as qlhs:
        settings = Settings(
            database=DatabaseSettings(url=database_url),
            data_dir=tmp_path,
            backend=BackendSettings(kind="rest_json", mapping=qlhs.mapping_file(tmp_path)),
        )
        app = await build_app(settings, clock=clock, otp_sender=sms)
        try:
            chat = Chat(app, user="mum")
            await chat.link("HS8A03", sms)  # the default digest: every day at 19:00

            scheduler = build_scheduler(app, wake=lambda: None)
            await scheduler.run_once()  # the first tick only notes where the polling starts
            assert qlhs.hits("/api/v1/thay-doi") == 0

            clock.advance(hours=3)  # 12:00: the teacher enters a Toán mid-term mark in the QLHS
            qlhs.score_changed("st-8a-03", ("toan", "Toán"), "gk", 9.5, at=clock.now())
            clock.advance(minutes=1)
            assert (await scheduler.run_once()).items == 1
            for _ in range(3):  # later ticks re-read the last minutes: nothing new
                clock.advance(minutes=1)
                assert (await scheduler.run_once()).items == 0
            assert qlhs.hits("/api/v1/thay-doi") >= 4

            clock.advance(hours=6, minutes=56)  # 19:00
            assert (await scheduler.run_once()).digests == 1

            sender = RecordingSender()
            relay = OutboxRelay(
                SqlOutboxStore(app.engine),
                {"memory": sender},
                clock,
                worker_id="w1",
                limits={},
                monotonic=lambda: (clock.now() - EPOCH).total_seconds(),
                sleep=lambda seconds: _advance(clock, seconds),
                rng=random.Random(1),
            )
            for _ in range(2):
                await relay.run_once()
            await relay.release_all()

            assert len(sender.delivered) == 1
            recipient, text = sender.delivered[0]
            assert recipient.user_id == "mum"
            assert text.startswith("📬 Bản tin ngày 24/11/2026")
            assert "Phạm Quang Huy (8A)" in text
            assert "Toán giữa kỳ: 9,5" in text
            async with app.sessions() as s:
                items = list(await s.scalars(select(NotificationItem)))
                rows = list(await s.scalars(select(OutboxMessage)))
            assert len(items) == 1
            assert [(r.kind, r.status) for r in rows] == [("digest", "sent")]
        finally:
            await app.aclose()
