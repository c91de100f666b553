"""The issue's "done" story on the demo school, on SQLite and PostgreSQL: a parent sets a
digest time in the chat, a score changes, the scheduler at that time queues a digest with
the new score, and the relay delivers it exactly once."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.bootstrap import build_scheduler
from bot.messages import Button, ConversationKey
from bot.outbox import OutboxRelay
from storage.outbox_store import SqlOutboxStore
from storage.tables import GuardianRow, OutboxMessage, ScoreRow
from tests.chat import Chat, demo_app
from tests.fakes.ports import FakeClock, RecordingOtpSender

pytestmark = pytest.mark.integration

EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@dataclass
class RecordingSender:
    delivered: list[tuple[ConversationKey, str]] = field(default_factory=list)

    async def deliver(
        self, recipient: ConversationKey, text: str, buttons: tuple[tuple[Button, ...], ...]
    ) -> None:
        self.delivered.append((recipient, text))


async def test_parent_sets_a_time_and_gets_the_new_score_at_that_time_once(
    database_url: str, tmp_path: Path
) -> None:
    # Tuesday 24/11/2026 09:00 in Hà Nội
    clock = FakeClock(dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC))
    sms = RecordingOtpSender()
    async with demo_app(database_url, tmp_path, clock, sms) as app:
        async with app.sessions() as s:  # the SMS-only grandparents: tests/…/test_sms_digest.py
            await s.execute(update(GuardianRow).values(sms_only=False))
            await s.commit()
        chat = Chat(app, user="mum")
        await chat.link("HS8A03", sms)
        await chat.say("/caidat")
        await chat.press("Giờ nhận")
        await chat.say("8 giờ tối")
        assert "hằng ngày lúc 20:00" in chat.text
        await chat.press("Xong")

        woken: list[bool] = []
        scheduler = build_scheduler(app, wake=lambda: woken.append(True))
        await scheduler.run_once()  # the first tick only notes where change detection starts

        clock.advance(hours=3)  # 12:00: the teacher enters a new Toán score
        async with app.sessions() as s:
            row = await s.scalar(
                select(ScoreRow).where(
                    ScoreRow.school_id == "demo",
                    ScoreRow.student_id == "st-8a-03",
                    ScoreRow.subject_code == "toan",
                    ScoreRow.kind == "gk",
                )
            )
            assert row is not None
            row.tenths = 95
            row.updated_at = clock.now()
            await s.commit()
        await scheduler.run_once()  # the change becomes an item, no message yet

        clock.advance(hours=7, minutes=59)  # 19:59: not yet (the default 19:00 was changed)
        assert (await scheduler.run_once()).digests == 0
        clock.advance(minutes=1)  # 20:00
        assert (await scheduler.run_once()).digests == 1
        assert woken == [True]
        assert (await scheduler.run_once()).digests == 0  # the same minute again: nothing

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
        for _ in range(3):
            await relay.run_once()
        clock.advance(minutes=5)
        await scheduler.run_once()
        await relay.run_once()

        assert len(sender.delivered) == 1
        recipient, text = sender.delivered[0]
        assert recipient.user_id == "mum"
        assert text.startswith("📬 Bản tin ngày 24/11/2026")
        assert "Phạm Quang Huy (8A)" in text and "Toán giữa kỳ: 9,5" in text
        assert "Ngày mai (Thứ Tư)" in text  # Wednesday is a school day
        async with app.sessions() as s:
            rows = list(await s.scalars(select(OutboxMessage)))
        assert [(r.kind, r.status) for r in rows] == [("digest", "sent")]
        await relay.release_all()


async def _advance(clock: FakeClock, seconds: float) -> None:
    clock.advance(seconds=seconds)
