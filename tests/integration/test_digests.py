"""Change detection and digests against the real storage and the local backend, on SQLite
and PostgreSQL: once per parent per period, combined per parent, once per change, catch-up
within the grace window only."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.backends.demo_data import build_demo_school
from bot.backends.local_seed import seed_school
from bot.bootstrap import LocalBackends
from bot.domain.digest import Content, DigestPrefs, Frequency
from bot.i18n import Catalog
from bot.messages import ConversationKey
from bot.notifications import DigestPolicy, Notifier
from bot.ports import LinkRole
from bot.scheduler import DigestScheduler
from storage.engine import create_engine, session_factory
from storage.migrate import upgrade
from storage.tables import (
    AttendanceRow,
    ChangeWatermark,
    FeeItemRow,
    NotificationItem,
    OutboxMessage,
    ScoreRow,
)
from storage.uow import SqlUnitOfWorkFactory
from tests.fakes.ports import FakeClock

pytestmark = pytest.mark.integration

T0 = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)  # Monday 09:00 in Hà Nội
AT_19 = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)  # Monday 19:00 in Hà Nội


def parent(user: str, school: str = "demo") -> ConversationKey:
    return ConversationKey(school_id=school, channel="telegram", chat_id=user, user_id=user)


class Harness:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = session_factory(engine)
        self.uow = SqlUnitOfWorkFactory(self.sessions)
        self.clock = FakeClock(T0)
        self.catalog = Catalog.load()

    def notifier(
        self, *, engine: AsyncEngine | None = None, schools: tuple[str, ...] = ("demo",)
    ) -> Notifier:
        sessions = session_factory(engine) if engine is not None else self.sessions
        return Notifier(
            uow_factory=SqlUnitOfWorkFactory(sessions),
            backends=LocalBackends(sessions),
            catalog=self.catalog,
            schools=schools,
            policy=DigestPolicy(grace=dt.timedelta(hours=2)),
        )

    async def link(self, key: ConversationKey, student_id: str, guardian_id: str) -> None:
        async with self.uow() as u:
            await u.links.add(
                key=key,
                role=LinkRole.GUARDIAN,
                subject_id=student_id,
                person_id=guardian_id,
                consent_version="t",
                consent_at=T0,
                verified_at=T0,
            )
            await u.commit()

    async def set_prefs(self, key: ConversationKey, prefs: DigestPrefs) -> None:
        async with self.uow() as u:
            await u.notifications.save_prefs(key, prefs, now=T0)
            await u.commit()

    async def change_score(
        self, student_id: str, subject: str, tenths: int, at: dt.datetime, school: str = "demo"
    ) -> None:
        async with self.sessions() as s:
            row = await s.scalar(
                select(ScoreRow)
                .where(
                    ScoreRow.school_id == school,
                    ScoreRow.student_id == student_id,
                    ScoreRow.subject_code == subject,
                    ScoreRow.kind == "tx",
                )
                .order_by(ScoreRow.seq)
                .limit(1)
            )
            assert row is not None
            row.tenths = tenths
            row.updated_at = at
            await s.commit()

    async def outbox(self, kind: str | None = None) -> list[OutboxMessage]:
        async with self.sessions() as s:
            query = select(OutboxMessage).order_by(OutboxMessage.id)
            if kind is not None:
                query = query.where(OutboxMessage.kind == kind)
            return list(await s.scalars(query))

    async def items(self) -> list[NotificationItem]:
        async with self.sessions() as s:
            return list(await s.scalars(select(NotificationItem).order_by(NotificationItem.id)))


@pytest.fixture
async def h(database_url: str) -> AsyncIterator[Harness]:
    engine = create_engine(database_url)
    await upgrade(engine)
    await seed_school(session_factory(engine), build_demo_school(), now=T0 - dt.timedelta(days=1))
    yield Harness(engine)
    await engine.dispose()


async def test_first_run_only_sets_the_watermark_then_changes_become_items_once_each(
    h: Harness,
) -> None:
    await h.link(parent("mum"), "st-8a-03", "g-24")
    notifier = h.notifier()
    first = await notifier.run_once(T0)
    assert first.items == 0  # a new installation does not flood parents with the whole year
    async with h.sessions() as s:
        assert (await s.get(ChangeWatermark, "demo")) is not None

    await h.change_score("st-8a-03", "toan", 85, T0 + dt.timedelta(minutes=5))
    for minute in (6, 7, 8):  # re-scans overlap the watermark: still one item
        await notifier.run_once(T0 + dt.timedelta(minutes=minute))
    items = await h.items()
    assert [(i.kind, i.payload["value"], i.payload["subject"]) for i in items] == [
        ("scores", "8.5", "Toán")
    ]
    # Changed again: a new version of the record is a new item.
    await h.change_score("st-8a-03", "toan", 90, T0 + dt.timedelta(minutes=10))
    await notifier.run_once(T0 + dt.timedelta(minutes=11))
    assert [i.payload["value"] for i in await h.items()] == ["8.5", "9"]


async def test_each_guardian_of_the_student_gets_the_change(h: Harness) -> None:
    await h.link(parent("mum"), "st-6a-01", "g-01")
    await h.link(parent("dad"), "st-6a-01", "g-02")
    await h.link(parent("other"), "st-8a-03", "g-24")
    notifier = h.notifier()
    await notifier.run_once(T0)
    await h.change_score("st-6a-01", "toan", 70, T0 + dt.timedelta(minutes=1))
    await notifier.run_once(T0 + dt.timedelta(minutes=2))
    assert sorted(i.user_id for i in await h.items()) == ["dad", "mum"]


async def test_exactly_one_digest_per_parent_per_period_even_when_run_again(h: Harness) -> None:
    await h.link(parent("mum"), "st-8a-03", "g-24")
    await h.link(parent("dad"), "st-6a-01", "g-02")
    notifier = h.notifier()
    await notifier.run_once(T0)
    await h.change_score("st-8a-03", "toan", 85, T0 + dt.timedelta(minutes=5))
    await h.change_score("st-6a-01", "toan", 60, T0 + dt.timedelta(minutes=5))
    before = await notifier.run_once(AT_19 - dt.timedelta(seconds=1))
    assert before.digests == 0  # 18:59:59: today's period is not due yet (yesterday's is too old)
    assert (await notifier.run_once(AT_19)).digests == 2
    for extra in (0, 1, 30):  # the same minute again, and later ticks in the same period
        assert (await notifier.run_once(AT_19 + dt.timedelta(minutes=extra))).digests == 0
    digests = await h.outbox("digest")
    assert sorted(d.user_id for d in digests) == ["dad", "mum"]
    assert {d.dedupe_key for d in digests} == {
        "digest:demo:d2026-11-23:telegram:mum",
        "digest:demo:d2026-11-23:telegram:dad",
    }
    mum = next(d for d in digests if d.user_id == "mum")
    assert "Toán thường xuyên: 8,5" in mum.payload["text"]
    assert "Ngày mai" not in mum.payload["text"]  # 24/11 is a holiday: no timetable
    assert all(i.digest_key is not None for i in await h.items())
    # Next day: a new period, but nothing new happened, so only the timetable is there.
    next_day = await notifier.run_once(AT_19 + dt.timedelta(days=1))
    assert next_day.digests == 2
    tuesday = [d for d in await h.outbox("digest") if "d2026-11-24" in d.dedupe_key]
    assert all("Điểm mới" not in d.payload["text"] for d in tuesday)
    assert all("Ngày mai (Thứ Tư)" in d.payload["text"] for d in tuesday)


async def test_two_schedulers_at_once_create_each_digest_once(
    h: Harness, database_url: str
) -> None:
    for n in range(12):
        await h.link(parent(f"p{n}"), "st-8a-03", "g-24")
    await h.notifier().run_once(T0)
    await h.change_score("st-8a-03", "toan", 85, T0 + dt.timedelta(minutes=5))
    other_engine = create_engine(database_url)
    try:
        results = await asyncio.gather(
            h.notifier().run_once(AT_19),
            h.notifier(engine=other_engine).run_once(AT_19),
        )
    finally:
        await other_engine.dispose()
    assert sum(r.digests for r in results) == 12
    digests = await h.outbox("digest")
    assert len(digests) == 12 and len({d.user_id for d in digests}) == 12
    assert len(await h.items()) == 12  # the change too: once per parent


async def test_a_parent_of_two_children_gets_one_combined_digest(h: Harness) -> None:
    mum = parent("mum")
    await h.link(mum, "st-6a-01", "g-01")
    await h.link(mum, "st-8a-02", "g-01")
    notifier = h.notifier()
    await notifier.run_once(T0)
    await h.change_score("st-6a-01", "toan", 85, T0 + dt.timedelta(minutes=5))
    await h.change_score("st-8a-02", "toan", 95, T0 + dt.timedelta(minutes=5))
    await notifier.run_once(AT_19)
    [digest] = await h.outbox("digest")
    text = digest.payload["text"]
    an, ha = text.index("Nguyễn Minh An (6A)"), text.index("Nguyễn Thu Hà (8A)")
    assert "8,5" in text[an:ha] and "9,5" in text[ha:]  # grouped by child
    assert "Trường" not in text  # one school: no school names


async def test_children_at_two_schools_served_by_one_bot_share_one_digest(h: Harness) -> None:
    demo = build_demo_school()
    other = dataclasses.replace(
        demo, info=dataclasses.replace(demo.info, id="school-b", name="Trường THCS B")
    )
    await seed_school(h.sessions, other, now=T0 - dt.timedelta(days=1))
    await h.link(parent("mum"), "st-6a-01", "g-01")
    await h.link(parent("mum", school="school-b"), "st-8a-03", "g-24")
    notifier = h.notifier(schools=("demo", "school-b"))
    await notifier.run_once(T0)
    await h.change_score("st-6a-01", "toan", 85, T0 + dt.timedelta(minutes=5))
    await h.change_score("st-8a-03", "toan", 40, T0 + dt.timedelta(minutes=5), school="school-b")
    await notifier.run_once(AT_19)
    [digest] = await h.outbox("digest")
    text = digest.payload["text"]
    assert "Nguyễn Du" in text and "Trường THCS B" in text
    assert "8,5" in text and "4" in text


async def test_missed_digest_is_caught_up_within_grace_and_skipped_when_older(
    h: Harness,
) -> None:
    await h.link(parent("mum"), "st-8a-03", "g-24")
    notifier = h.notifier()
    await notifier.run_once(T0)
    await h.change_score("st-8a-03", "toan", 85, T0 + dt.timedelta(minutes=5))
    # Down from 18:00 to 21:30: 19:00 is 2.5 h old, beyond the 2 h grace: skipped.
    assert (await notifier.run_once(AT_19 + dt.timedelta(hours=2, minutes=30))).digests == 0
    assert await h.outbox("digest") == []
    # The item is not lost: the next day's digest carries it.
    # Down again from 18:00 to 20:45 the next day: within grace, caught up.
    late = AT_19 + dt.timedelta(days=1, hours=1, minutes=45)
    assert (await notifier.run_once(late)).digests == 1
    [digest] = await h.outbox("digest")
    assert "d2026-11-24" in digest.dedupe_key and "8,5" in digest.payload["text"]


async def test_preferences_pick_the_time_the_period_and_the_content(h: Harness) -> None:
    weekly = parent("weekly")
    off = parent("off")
    no_scores = parent("noscores")
    for key in (weekly, off, no_scores):
        await h.link(key, "st-8a-03", "g-24")
    await h.set_prefs(
        weekly, DigestPrefs(frequency=Frequency.WEEKLY, weekday=0, minute_of_day=1200)
    )
    await h.set_prefs(off, DigestPrefs(frequency=Frequency.OFF))
    await h.set_prefs(no_scores, DigestPrefs(content=frozenset({Content.NOTICES, Content.FEES})))
    notifier = h.notifier()
    await notifier.run_once(T0)
    await h.change_score("st-8a-03", "toan", 85, T0 + dt.timedelta(minutes=5))
    await notifier.run_once(AT_19)
    assert await h.outbox("digest") == []  # no_scores: nothing it wants; weekly: not yet
    await notifier.run_once(AT_19 + dt.timedelta(hours=1))  # Monday 20:00
    [digest] = await h.outbox("digest")
    assert digest.user_id == "weekly" and digest.dedupe_key.endswith("w2026-W48:telegram:weekly")
    assert "Bản tin tuần" in digest.payload["text"] and "8,5" in digest.payload["text"]


async def test_unexcused_absence_alerts_at_once_and_is_not_repeated_in_the_digest(
    h: Harness,
) -> None:
    mum = parent("mum")
    quiet = parent("quiet")
    await h.link(mum, "st-8a-03", "g-24")
    await h.link(quiet, "st-8a-03", "g-24")
    await h.set_prefs(quiet, DigestPrefs(instant=False))
    notifier = h.notifier()
    await notifier.run_once(T0)
    async with h.sessions() as s:
        s.add(
            AttendanceRow(
                school_id="demo",
                student_id="st-8a-03",
                date=dt.date(2026, 11, 23),
                session="morning",
                excused=False,
                reason="",
                recorded_at=T0 + dt.timedelta(minutes=1),
            )
        )
        await s.commit()
    result = await notifier.run_once(T0 + dt.timedelta(minutes=2))
    assert result.alerts == 1
    [alert] = await h.outbox("alert")
    assert alert.user_id == "mum" and alert.urgent
    assert "Phạm Quang Huy" in alert.payload["text"] and "không phép" in alert.payload["text"]
    await notifier.run_once(AT_19)
    digests = {d.user_id: d.payload["text"] for d in await h.outbox("digest")}
    assert "Nghỉ học 23/11/2026" not in digests.get("mum", "")
    assert "Nghỉ học 23/11/2026" in digests["quiet"]


async def test_scheduler_wakes_the_relay_only_when_it_queued_something(h: Harness) -> None:
    await h.link(parent("mum"), "st-8a-03", "g-24")
    woken: list[int] = []
    scheduler = DigestScheduler(h.notifier(), h.clock, wake=lambda: woken.append(1))
    await scheduler.run_once(T0)
    assert woken == []
    # Monday 19:00: nothing new, and tomorrow (24/11, Ngày Văn hóa Việt Nam) is a holiday, so
    # there is no timetable either: no message, nothing to wake the relay for.
    assert (await scheduler.run_once(AT_19)).digests == 0
    assert woken == []
    await scheduler.run_once(AT_19 + dt.timedelta(days=1))  # Tuesday: Wednesday's lessons
    assert woken == [1]


async def test_watermark_never_moves_back(h: Harness) -> None:
    async with h.uow() as u:
        await u.notifications.set_watermark("demo", AT_19, now=AT_19)
        await u.notifications.set_watermark("demo", T0, now=AT_19)
        await u.commit()
    async with h.uow() as u:
        assert await u.notifications.watermark("demo") == AT_19


async def test_a_digest_is_not_made_for_unlinked_parents(h: Harness) -> None:
    await h.link(parent("mum"), "st-8a-03", "g-24")
    async with h.sessions() as s:
        from storage.tables import ChatLink

        await s.execute(update(ChatLink).values(active=False))
        await s.commit()
    assert (await h.notifier().run_once(AT_19)).digests == 0


async def test_started_scheduler_ticks_at_once_and_shuts_down(h: Harness) -> None:
    scheduler = DigestScheduler(h.notifier(), h.clock, tick_seconds=3600)
    scheduler.start()
    try:
        assert scheduler.running
        for _ in range(100):  # the first tick runs at start: change detection begins
            async with h.uow() as u:
                if await u.notifications.watermark("demo") is not None:
                    break
            await asyncio.sleep(0.05)
        async with h.uow() as u:
            assert await u.notifications.watermark("demo") == T0
    finally:
        scheduler.shutdown()
    assert not scheduler.running


async def test_absence_written_through_the_backend_is_detected_and_so_is_its_excuse(
    h: Harness,
) -> None:
    await h.link(parent("mum"), "st-8a-03", "g-24")
    notifier = h.notifier()
    # record_absence stamps the real time: move the seeded rows and the watermark to 2020.
    long_ago = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    async with h.sessions() as s:
        await s.execute(update(ScoreRow).values(updated_at=long_ago))
        await s.execute(update(AttendanceRow).values(recorded_at=long_ago))
        await s.execute(update(FeeItemRow).values(updated_at=long_ago))
        await s.commit()
    await notifier.run_once(long_ago + dt.timedelta(hours=1))
    backend = LocalBackends(h.sessions).for_school("demo")
    day = dt.date(2026, 11, 25)
    await backend.record_absence("st-8a-03", day, "morning", excused=False, reason="")
    first = await notifier.run_once(dt.datetime.now(dt.UTC))
    assert (first.items, first.alerts) == (1, 1)
    await backend.record_absence("st-8a-03", day, "morning", excused=False, reason="")
    assert (await notifier.run_once(dt.datetime.now(dt.UTC))).items == 0  # nothing changed
    await backend.record_absence("st-8a-03", day, "morning", excused=True, reason="ốm")
    later = await notifier.run_once(dt.datetime.now(dt.UTC))
    assert (later.items, later.alerts) == (1, 0)  # now excused: news for the digest, not urgent
    assert [i.payload["excused"] for i in await h.items()] == [False, True]
