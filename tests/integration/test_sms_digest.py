"""Issue 16, "an SMS-only family receives its digest", on SQLite and PostgreSQL: a guardian
marked SMS only in the school data gets a short ASCII digest at the loopback SMS gateway (the
school's ``http_json`` OTP provider) on their digest schedule, never in quiet hours, once,
even when the scheduler and the relay are started again."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.bootstrap import build_app, build_scheduler
from bot.config import DatabaseSettings, DigestSettings, OtpSettings, Settings, ThrottleSettings
from bot.domain.sms import segment_count
from storage.tables import GuardianRow, OutboxMessage, ScoreRow
from tests.fakes.ports import FakeClock
from tests.fakes.sms_gateway import FakeSmsGateway

pytestmark = pytest.mark.integration

GRANDMOTHER_PHONE = "0900000011"  # Bà of Đặng Quốc Bảo (6A, st-6a-07), SMS only in the demo
GRANDFATHER_PHONE = "0900000030"  # Ông of Bùi Thị Lan (8A): nothing new for him


def _settings(database_url: str, tmp_path: Path, gateway: FakeSmsGateway) -> Settings:
    return Settings(
        database=DatabaseSettings(url=database_url),
        data_dir=tmp_path,
        throttle=ThrottleSettings(burst=0),
        otp=OtpSettings(provider="http_json", url=gateway.sms_url),
        digest=DigestSettings(sms_max_segments=2),
    )


async def _drain(relay: object) -> None:
    while await relay.run_once():  # type: ignore[attr-defined]
        pass


async def test_sms_only_grandmother_gets_a_short_ascii_digest_once_outside_quiet_hours(
    database_url: str, tmp_path: Path
) -> None:
    # Tuesday 24/11/2026 09:00 in Hà Nội
    clock = FakeClock(dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC))
    with FakeSmsGateway() as gateway:
        settings = _settings(database_url, tmp_path, gateway)
        app = await build_app(settings, clock=clock)
        try:
            scheduler = build_scheduler(app)
            await scheduler.run_once()  # the first tick notes where change detection starts

            clock.advance(hours=3)  # 12:00: every score of Bảo is entered again, all new
            async with app.sessions() as s:
                await s.execute(
                    update(ScoreRow)
                    .where(ScoreRow.school_id == "demo", ScoreRow.student_id == "st-6a-07")
                    .values(updated_at=clock.now())
                )
                await s.commit()
            await scheduler.run_once()

            clock.advance(hours=6, minutes=59)  # 18:59: not yet
            assert (await scheduler.run_once()).digests == 0
            clock.advance(minutes=1)  # 19:00, the default digest time: one SMS digest
            assert (await scheduler.run_once()).digests == 1

            clock.advance(hours=2, minutes=30)  # 21:30: quiet hours, the relay holds it
            relay = app.build_relay({}, worker_id="w1")
            await _drain(relay)
            assert gateway.sent == []
            await relay.release_all()

            clock.advance(hours=9, minutes=5)  # 06:35 the next morning
            await _drain(relay)
            assert len(gateway.sent) == 1
            sms = gateway.sent[0]
            assert sms.phone == GRANDMOTHER_PHONE
            assert sms.text.isascii() and segment_count(sms.text) <= 2
            assert sms.text.startswith("LienLac 24/11/2026:")
            assert "Diem moi" in sms.text  # "Điểm mới", folded
            assert "xem so lien lac" in sms.text  # more scores than fit: "+N tin khác"
            await relay.release_all()
        finally:
            await app.aclose()

        # a restart: a new app, scheduler and relay at the same minute send nothing again
        app = await build_app(settings, clock=clock)
        try:
            assert (await build_scheduler(app).run_once()).digests == 0
            relay = app.build_relay({}, worker_id="w2")
            await _drain(relay)
            await relay.release_all()
            async with app.sessions() as s:
                rows = list(await s.scalars(select(OutboxMessage)))
            assert [(r.channel, r.kind, r.status) for r in rows] == [("sms", "digest", "sent")]
            assert all(GRANDMOTHER_PHONE not in r.chat_id + str(r.payload) for r in rows)
        finally:
            await app.aclose()
    assert [s.phone for s in gateway.sent] == [GRANDMOTHER_PHONE]
    assert GRANDFATHER_PHONE not in {s.phone for s in gateway.sent}


async def test_a_guardian_no_longer_sms_only_gets_nothing(
    database_url: str, tmp_path: Path
) -> None:
    clock = FakeClock(dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC))
    with FakeSmsGateway() as gateway:
        app = await build_app(_settings(database_url, tmp_path, gateway), clock=clock)
        try:
            scheduler = build_scheduler(app)
            await scheduler.run_once()
            clock.advance(hours=3)
            async with app.sessions() as s:
                await s.execute(
                    update(ScoreRow)
                    .where(ScoreRow.school_id == "demo", ScoreRow.student_id == "st-6a-07")
                    .values(updated_at=clock.now())
                )
                await s.commit()
            await scheduler.run_once()
            clock.advance(hours=7)  # 19:00: the digest is queued
            assert (await scheduler.run_once()).digests == 1
            async with app.sessions() as s:  # then an import takes the mark away
                await s.execute(
                    update(GuardianRow)
                    .where(GuardianRow.school_id == "demo")
                    .values(sms_only=False)
                )
                await s.commit()
            relay = app.build_relay({}, worker_id="w1")
            await _drain(relay)
            await relay.release_all()
            async with app.sessions() as s:
                row = await s.scalar(select(OutboxMessage))
            assert row is not None and row.status == "failed"
            assert gateway.sent == []
        finally:
            await app.aclose()


async def test_a_gateway_outage_is_retried_and_the_digest_still_arrives_once(
    database_url: str, tmp_path: Path
) -> None:
    clock = FakeClock(dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC))
    with FakeSmsGateway() as gateway:
        app = await build_app(_settings(database_url, tmp_path, gateway), clock=clock)
        try:
            scheduler = build_scheduler(app)
            await scheduler.run_once()
            clock.advance(hours=3)
            async with app.sessions() as s:
                await s.execute(
                    update(ScoreRow)
                    .where(ScoreRow.school_id == "demo", ScoreRow.student_id == "st-6a-07")
                    .values(updated_at=clock.now())
                )
                await s.commit()
            await scheduler.run_once()
            clock.advance(hours=7)  # 19:00
            assert (await scheduler.run_once()).digests == 1
            gateway.fail_next(status=503)
            relay = app.build_relay({}, worker_id="w1")
            await _drain(relay)
            assert gateway.sent == [] and gateway.refused == 1
            async with app.sessions() as s:
                row = await s.scalar(select(OutboxMessage))
            assert row is not None and row.status == "pending" and row.attempts == 1
            clock.advance(minutes=15)  # past the backoff
            await asyncio.sleep(1.1)  # and past the per-phone rate (1 a second, real time)
            await _drain(relay)
            await relay.release_all()
            assert [s.phone for s in gateway.sent] == [GRANDMOTHER_PHONE]
            assert gateway.sent[0].text.startswith("LienLac 24/11/2026:\nDiem moi:")
        finally:
            await app.aclose()


async def test_a_grandmother_who_links_a_chat_gets_the_chat_digest_not_an_sms(
    database_url: str, tmp_path: Path
) -> None:
    from tests.chat import Chat

    clock = FakeClock(dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC))
    with FakeSmsGateway() as gateway:
        app = await build_app(_settings(database_url, tmp_path, gateway), clock=clock)
        try:
            chat = Chat(app, user="ba-tu")
            await chat.say("HS6A07")
            await chat.press("Đồng ý")
            await chat.say(gateway.last_code(GRANDMOTHER_PHONE))
            assert "thành công" in chat.text
            scheduler = build_scheduler(app)
            await scheduler.run_once()
            clock.advance(hours=3)
            async with app.sessions() as s:
                await s.execute(
                    update(ScoreRow)
                    .where(ScoreRow.school_id == "demo", ScoreRow.student_id == "st-6a-07")
                    .values(updated_at=clock.now())
                )
                await s.commit()
            await scheduler.run_once()
            clock.advance(hours=7)  # 19:00
            assert (await scheduler.run_once()).digests == 1
            async with app.sessions() as s:
                rows = list(await s.scalars(select(OutboxMessage)))
            assert [(r.channel, r.kind) for r in rows] == [("memory", "digest")]
        finally:
            await app.aclose()
