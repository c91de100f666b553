"""The storage ports' contract, run on SQLite and on PostgreSQL (LIENLAC_TEST_PG_URL)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.backends.demo_data import build_demo_school
from bot.backends.local import LocalBackend
from bot.backends.local_seed import delete_school, seed_school
from bot.domain.errors import ConcurrentTurn
from bot.domain.models import Term
from bot.messages import Attachment, ConversationKey
from bot.ports import AbsenceRequest, ConversationState, LinkRole, UnitOfWork
from storage.engine import create_engine, session_factory
from storage.migrate import current_revision, head_revision, upgrade
from storage.uow import SqlUnitOfWorkFactory, get_or_create_secret

NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)
KEY = ConversationKey(school_id="demo", channel="memory", chat_id="c1", user_id="u1")
OTHER = ConversationKey(school_id="demo", channel="memory", chat_id="c2", user_id="u2")


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(database_url)
    await upgrade(eng)
    await seed_school(session_factory(eng), build_demo_school(), now=NOW)
    yield eng
    await eng.dispose()


@pytest.fixture
def uow(engine: AsyncEngine) -> SqlUnitOfWorkFactory:
    return SqlUnitOfWorkFactory(session_factory(engine))


async def test_migrations_are_idempotent_and_at_head(engine: AsyncEngine) -> None:
    await upgrade(engine)  # a second start must change nothing
    assert await current_revision(engine) == head_revision() == "0018"


async def test_conversation_state_round_trips_and_survives_a_new_session(
    uow: SqlUnitOfWorkFactory,
) -> None:
    async with uow() as u:
        state = await u.conversations.load(KEY)
        assert state == ConversationState()
        state.dialog, state.step = "verify", "ask_otp"
        state.data = {"person_id": "g-01", "phones": {"g-01": "09x xxx x01"}, "n": 3}
        state.locale, state.menu = "en", {"1": "tok"}
        await u.conversations.save(KEY, state)
        await u.commit()
    async with uow() as u:
        loaded = await u.conversations.load(KEY)
    assert (loaded.dialog, loaded.step, loaded.locale) == ("verify", "ask_otp", "en")
    assert loaded.data == {"person_id": "g-01", "phones": {"g-01": "09x xxx x01"}, "n": 3}
    assert loaded.menu == {"1": "tok"} and loaded.version == 1


async def test_a_stale_writer_gets_concurrent_turn(uow: SqlUnitOfWorkFactory) -> None:
    async with uow() as u:
        await u.conversations.save(KEY, ConversationState(dialog="verify"))
        await u.commit()
    async with uow() as a, uow() as b:
        sa = await a.conversations.load(KEY)
        sb = await b.conversations.load(KEY)
        sa.step = "one"
        await a.conversations.save(KEY, sa)
        await a.commit()
        sb.step = "two"
        with pytest.raises(ConcurrentTurn):
            await b.conversations.save(KEY, sb)


async def test_uncommitted_work_is_rolled_back(uow: SqlUnitOfWorkFactory) -> None:
    async with uow() as u:
        await u.conversations.save(KEY, ConversationState(dialog="verify"))
    async with uow() as u:
        assert (await u.conversations.load(KEY)).dialog is None


async def test_links_are_idempotent_per_user_and_subject_and_deleted_by_forget(
    uow: SqlUnitOfWorkFactory,
) -> None:
    async with uow() as u:
        for _ in range(2):
            await u.links.add(
                key=KEY,
                role=LinkRole.GUARDIAN,
                subject_id="st-6a-01",
                person_id="g-01",
                consent_version="2026-11",
                consent_at=NOW,
                verified_at=NOW,
            )
        await u.links.add(
            key=KEY,
            role=LinkRole.GUARDIAN,
            subject_id="st-8a-02",
            person_id="g-01",
            consent_version="2026-11",
            consent_at=NOW,
            verified_at=NOW,
        )
        await u.commit()
    async with uow() as u:
        links = await u.links.active_links(KEY)
        assert [link.subject_id for link in links] == ["st-6a-01", "st-8a-02"]
        assert links[0].verified_at == NOW and links[0].verified_at.tzinfo is not None
        assert await u.links.active_links(OTHER) == []
        assert await u.links.delete_all(KEY) == 2
        await u.commit()
    async with uow() as u:
        assert await u.links.active_links(KEY) == []


async def test_otp_challenges_count_sends_and_failures(uow: SqlUnitOfWorkFactory) -> None:
    async with uow() as u:
        ch = await u.otps.create(
            key=KEY,
            role=LinkRole.GUARDIAN,
            subject_id="st-6a-01",
            person_id="g-01",
            code_hash="h1",
            now=NOW,
            expires_at=NOW + dt.timedelta(minutes=5),
        )
        later = NOW + dt.timedelta(minutes=2)
        await u.otps.record_resend(
            ch.id, code_hash="h2", now=later, expires_at=later + dt.timedelta(minutes=5)
        )
        await u.otps.record_failure(ch.id, locked_until=None)
        await u.otps.record_failure(ch.id, locked_until=NOW + dt.timedelta(minutes=15))
        await u.commit()
    async with uow() as u:
        latest = await u.otps.latest(KEY)
        assert latest is not None
        assert (latest.code_hash, latest.sends, latest.attempts) == ("h2", 2, 2)
        assert latest.locked_until == NOW + dt.timedelta(minutes=15)
        assert await u.otps.sends_since(school_id="demo", person_id="g-01", since=NOW) == 2
        assert await u.otps.sends_since(school_id="demo", person_id="g-02", since=NOW) == 0
        await u.otps.consume(latest.id, now=NOW)
        await u.commit()
    async with uow() as u:
        assert await u.otps.latest(KEY) is None


async def test_button_tokens_are_short_opaque_and_bound_to_the_user(
    uow: SqlUnitOfWorkFactory,
) -> None:
    async with uow() as u:
        tokens = await u.buttons.issue(KEY, ["scores:st-6a-01:điểm toán", "menu:fees"], now=NOW)
        await u.commit()
    assert len(set(tokens)) == 2
    assert all(len(t.encode()) <= 24 and "st-6a" not in t for t in tokens)
    async with uow() as u:
        found = await u.buttons.resolve(tokens[0])
        assert found == (KEY, "scores:st-6a-01:điểm toán", NOW)
        assert await u.buttons.resolve("nope") is None
        assert await u.buttons.resolve("x" * 500) is None


async def test_audit_counts_by_actor_and_time(uow: SqlUnitOfWorkFactory) -> None:
    async with uow() as u:
        for minutes in (0, 30, 90):
            await u.audit.record(
                school_id="demo",
                actor="a1",
                action="verify.lookup",
                at=NOW + dt.timedelta(minutes=minutes),
            )
        await u.commit()
    async with uow() as u:
        since = NOW + dt.timedelta(minutes=10)
        assert (
            await u.audit.count(school_id="demo", actor="a1", action="verify.lookup", since=since)
            == 2
        )
        assert (
            await u.audit.count(school_id="demo", actor="a2", action="verify.lookup", since=NOW)
            == 0
        )


async def test_secret_is_shared_by_concurrent_workers(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    values = await asyncio.gather(*(get_or_create_secret(sessions, "k") for _ in range(4)))
    assert len(set(values)) == 1 and len(values[0]) == 32


async def test_local_backend_reads_the_seeded_school(engine: AsyncEngine) -> None:
    backend = LocalBackend(session_factory(engine), "demo")
    student = await backend.find_student(" hs8a03")
    assert student is not None and student.class_name == "8A"
    scores = {s.subject_code: s for s in await backend.scores(student.id, Term.HK1)}
    tech = scores["cong_nghe"]
    assert [str(x) for x in tech.regular] == ["6", "7", "6"]
    assert (str(tech.midterm), str(tech.final)) == ("6.8", "6.6")
    assert len(await backend.timetable(student.class_id)) >= 30
    assert await backend.find_student("nope") is None
    assert other_school_sees_nothing(
        await LocalBackend(session_factory(engine), "other").find_student("HS8A03")
    )


def other_school_sees_nothing(found: object) -> bool:
    return found is None


async def test_demo_reset_removes_chats_and_reseeds(
    engine: AsyncEngine, uow: SqlUnitOfWorkFactory
) -> None:
    async with uow() as u:
        await u.links.add(
            key=KEY,
            role=LinkRole.GUARDIAN,
            subject_id="st-6a-01",
            person_id="g-01",
            consent_version="2026-11",
            consent_at=NOW,
            verified_at=NOW,
        )
        await u.commit()
    sessions = session_factory(engine)
    await delete_school(sessions, "demo")
    assert await seed_school(sessions, build_demo_school(), now=NOW)
    async with uow() as u:
        assert await u.links.active_links(KEY) == []
    assert await LocalBackend(sessions, "demo").find_student("HS6A01") is not None


async def test_outbox_enqueue_is_deduplicated_and_transactional(
    engine: AsyncEngine, uow: SqlUnitOfWorkFactory
) -> None:
    from sqlalchemy import func, select

    from bot.ports import OutgoingMessage
    from storage.tables import OutboxMessage

    msg = OutgoingMessage(
        recipient=OTHER, kind="absence.decision", text="Đã duyệt", dedupe_key="absence:1:decision"
    )
    async with uow() as u:
        assert await u.outbox.enqueue(msg, now=NOW) is True
        assert await u.outbox.enqueue(msg, now=NOW) is False
        await u.commit()
    async with uow() as u:  # a second transaction with the same key queues nothing
        assert await u.outbox.enqueue(msg, now=NOW) is False
    async with uow() as u:  # rolled back: nothing queued
        await u.outbox.enqueue(
            OutgoingMessage(recipient=OTHER, kind="x", text="t", dedupe_key="other"), now=NOW
        )
    async with session_factory(engine)() as s:
        rows = list(await s.scalars(select(OutboxMessage)))
        assert [(r.dedupe_key, r.status, r.payload["text"]) for r in rows] == [
            ("absence:1:decision", "pending", "Đã duyệt")
        ]
        assert await s.scalar(select(func.count()).select_from(OutboxMessage)) == 1


async def _request(
    u: UnitOfWork, *, student: str = "st-6a-01", cls: str = "c-6a", day: int = 25
) -> AbsenceRequest:
    return await u.absences.create(
        school_id="demo",
        student_id=student,
        class_id=cls,
        requester=KEY,
        guardian_id="g-01",
        start_date=dt.date(2026, 11, day),
        end_date=dt.date(2026, 11, day),
        session="day",
        reason="ốm",
        now=NOW,
    )


async def test_absence_requests_transition_once_and_are_found_by_the_jobs(
    uow: SqlUnitOfWorkFactory,
) -> None:
    async with uow() as u:
        first = await _request(u)
        second = await _request(u, student="st-8a-02", cls="c-8a", day=26)
        await u.commit()
    async with uow() as u:
        assert await u.absences.schools_with_work() == ["demo"]
        assert [r.id for r in await u.absences.covering("demo", ["c-6a"], first.start_date)] == [
            first.id
        ]
        assert await u.absences.covering("demo", ["c-7a"], first.start_date) == []
        assert [r.id for r in await u.absences.pending_started_by("demo", first.start_date)] == [
            first.id
        ]
        stale = await u.absences.stale_pending("demo", NOW)
        assert {r.id for r in stale} == {first.id, second.id}
        await u.absences.mark_reminded(first.id, now=NOW)
        await u.absences.mark_escalated(first.id, now=NOW)
        # two deciders read the same version: only the first write wins
        assert await u.absences.transition(first, "approved", now=NOW, decided_by="t-01")
        assert not await u.absences.transition(first, "rejected", now=NOW, decided_by="t-02")
        await u.commit()
    async with uow() as u:
        fresh = await u.absences.get("demo", first.id)
        assert fresh is not None and fresh.status == "approved" and fresh.version == 1
        assert fresh.escalated_at is not None and fresh.reminded_at is not None
        assert [r.id for r in await u.absences.stale_pending("demo", NOW)] == [second.id]
        assert [r.id for r in await u.absences.due_writes("demo", NOW)] == [first.id]
        await u.absences.record_write(
            first.id, now=NOW, error="BackendUnavailable", retry_at=NOW + dt.timedelta(minutes=5)
        )
        await u.commit()
    async with uow() as u:
        assert await u.absences.due_writes("demo", NOW) == []
        again = await u.absences.due_writes("demo", NOW + dt.timedelta(minutes=5))
        assert [(r.id, r.write_error, r.write_attempts) for r in again] == [
            (first.id, "BackendUnavailable", 1)
        ]
        await u.absences.record_write(first.id, now=NOW)
        assert await u.absences.transition(second, "cancelled", now=NOW)
        await u.commit()
    async with uow() as u:
        assert await u.absences.schools_with_work() == []


async def test_a_requests_files_round_trip_through_the_unit_of_work(
    uow: SqlUnitOfWorkFactory,
) -> None:
    """Issue 17: the medical certificate's references come back in order with every read."""
    photo = Attachment(kind="photo", file_id="AgAC", size=10)
    pdf = Attachment(kind="document", file_id="BQAC", name="giấy.pdf", mime="application/pdf")
    async with uow() as u:
        with_files = await u.absences.create(
            school_id="demo",
            student_id="st-6a-01",
            class_id="c-6a",
            requester=KEY,
            guardian_id="g-01",
            start_date=dt.date(2026, 11, 25),
            end_date=dt.date(2026, 11, 25),
            session="day",
            reason="ốm",
            now=NOW,
            attachments=(photo, pdf),
        )
        without = await _request(u, day=26)
        await u.commit()
    async with uow() as u:
        got = await u.absences.get("demo", with_files.id)
        assert got is not None and got.attachments == (photo, pdf)
        listed = await u.absences.pending_for_requester(KEY)
        assert [r.attachments for r in listed] == [(photo, pdf), ()]
        assert without.attachments == ()


async def test_substitutes_are_in_force_only_over_their_dates(uow: SqlUnitOfWorkFactory) -> None:
    async with uow() as u:
        row = await u.substitutes.add(
            school_id="demo",
            class_id="c-6a",
            teacher_id="t-05",
            start_date=dt.date(2026, 11, 23),
            end_date=dt.date(2026, 11, 27),
            now=NOW,
        )
        await u.commit()
    async with uow() as u:
        assert [s.id for s in await u.substitutes.on("demo", dt.date(2026, 11, 27))] == [row.id]
        assert await u.substitutes.on("demo", dt.date(2026, 11, 28)) == []
        assert await u.substitutes.on("other", dt.date(2026, 11, 25)) == []
        assert await u.substitutes.remove("demo", row.id)
        assert not await u.substitutes.remove("demo", row.id)
        await u.commit()
    async with uow() as u:
        assert await u.substitutes.all("demo") == []
