"""``uow.polls`` and ``uow.posts`` (issue 17) on SQLite and on PostgreSQL
(LIENLAC_TEST_PG_URL): ballots per pupil, answers, open polls, the once-only reminder mark,
closing early, extending, cancelling and editing a sent poll (each once), teachers' posts by
period."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain.polls import PollSpec
from bot.domain.posts import PostKind
from storage.engine import create_engine, session_factory
from storage.migrate import upgrade
from storage.uow import SqlUnitOfWorkFactory

NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)
DEADLINE = NOW + dt.timedelta(days=4)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(database_url)
    await upgrade(eng)
    yield eng
    await eng.dispose()


@pytest.fixture
def uow(engine: AsyncEngine) -> SqlUnitOfWorkFactory:
    return SqlUnitOfWorkFactory(session_factory(engine))


SPEC = PollSpec(
    question="Họp phụ huynh buổi nào?",
    options=("Sáng thứ Bảy", "Tối thứ Sáu"),
    multiple=True,
    anonymous=False,
    deadline_at=DEADLINE,
)


async def _create(uow: SqlUnitOfWorkFactory, school: str = "demo") -> int:
    async with uow() as u:
        poll = await u.polls.create(
            school_id=school,
            class_id="c-6a",
            class_name="6A",
            author_id="t-01",
            spec=SPEC,
            remind_at=DEADLINE - dt.timedelta(hours=24),
            pupils=[("s-1", "An", "6A"), ("s-2", "Ngọc", "6A"), ("s-1", "An", "6A")],
            now=NOW,
        )
        await u.commit()
    return poll.id


async def test_a_poll_keeps_one_ballot_per_pupil_and_its_answers(
    uow: SqlUnitOfWorkFactory,
) -> None:
    poll_id = await _create(uow)
    async with uow() as u:
        poll = await u.polls.get("demo", poll_id)
        assert poll is not None and poll.options == SPEC.options and poll.multiple
        assert poll.deadline_at == DEADLINE and poll.reminded_at is None
        assert await u.polls.get("other", poll_id) is None  # never across schools
        ballots = await u.polls.ballots("demo", poll_id)
        assert [(b.student_id, b.choices) for b in ballots] == [("s-1", ()), ("s-2", ())]
        await u.polls.answer(ballots[0].id, [1, 0], by="actor", now=NOW)
        await u.commit()
    async with uow() as u:
        first = await u.polls.ballot("demo", ballots[0].id)
        assert first is not None and first.choices == (0, 1) and first.answered_at == NOW
        assert await u.polls.ballot("other", ballots[0].id) is None
        await u.polls.answer(ballots[0].id, [], by="actor", now=NOW)
        await u.commit()
    async with uow() as u:
        cleared = await u.polls.ballot("demo", ballots[0].id)
        assert cleared is not None and cleared.choices == () and cleared.answered_at is None


async def test_open_ballots_recent_polls_and_the_reminder_mark_once(
    uow: SqlUnitOfWorkFactory,
) -> None:
    poll_id = await _create(uow)
    async with uow() as u:
        found = await u.polls.open_ballots("demo", ["s-2", "s-9"], NOW)
        assert [(p.id, b.student_id) for p, b in found] == [(poll_id, "s-2")]
        assert await u.polls.open_ballots("demo", ["s-2"], DEADLINE) == []
        assert [
            p.id for p in await u.polls.recent("demo", author_id="t-01", class_ids=None, limit=5)
        ] == [poll_id]
        assert await u.polls.recent("demo", author_id="t-02", class_ids=["c-8a"], limit=5) == []
        assert len(await u.polls.recent("demo", author_id=None, class_ids=["c-6a"], limit=5)) == 1
        assert await u.polls.due_reminders(NOW) == []
    later = DEADLINE - dt.timedelta(hours=1)
    async with uow() as u:
        assert [p.id for p in await u.polls.due_reminders(later)] == [poll_id]

    async def mark() -> bool:
        async with uow() as u:
            won = await u.polls.mark_reminded(poll_id, now=later)
            await u.commit()
            return won

    results = await asyncio.gather(mark(), mark())
    assert sorted(results) == [False, True]  # two workers: one reminder
    async with uow() as u:
        assert await u.polls.due_reminders(later) == []
        assert await u.polls.due_closings(later, since=NOW) == []
        after = DEADLINE + dt.timedelta(minutes=1)
        assert [p.id for p in await u.polls.due_closings(after, since=NOW)] == [poll_id]
        assert await u.polls.due_closings(after, since=DEADLINE) == []  # too long ago
        assert await u.polls.mark_closed_told(poll_id, now=after)
        assert not await u.polls.mark_closed_told(poll_id, now=after)
        await u.commit()
    async with uow() as u:
        assert await u.polls.due_closings(after, since=NOW) == []


async def test_closing_early_stops_answers_reminders_and_tells_the_author_once(
    uow: SqlUnitOfWorkFactory,
) -> None:
    poll_id = await _create(uow)
    soon = NOW + dt.timedelta(hours=1)

    async def close() -> bool:
        async with uow() as u:
            won = await u.polls.close(poll_id, now=soon)
            await u.commit()
            return won

    assert sorted(await asyncio.gather(close(), close())) == [False, True]  # a double press
    async with uow() as u:
        poll = await u.polls.get("demo", poll_id)
        assert poll is not None and poll.closed_at == soon and poll.cancelled_at is None
        assert not poll.is_open(soon) and poll.ended_at == soon
        assert await u.polls.open_ballots("demo", ["s-1", "s-2"], soon) == []
        later = DEADLINE - dt.timedelta(hours=1)
        assert await u.polls.due_reminders(later) == []  # no reminder after a close
        # the deadline job finds it (a backstop: the close told the author in its transaction)
        assert [p.id for p in await u.polls.due_closings(soon, since=NOW)] == [poll_id]
        assert await u.polls.mark_closed_told(poll_id, now=soon)
        await u.commit()
    async with uow() as u:
        after = DEADLINE + dt.timedelta(minutes=1)
        assert await u.polls.due_closings(after, since=NOW) == []  # told once
        assert not await u.polls.extend(
            poll_id, deadline_at=after, remind_at=None, was=DEADLINE, now=soon
        )  # closed: no extension


async def test_extending_moves_the_deadline_once_and_rearms_the_reminder(
    uow: SqlUnitOfWorkFactory,
) -> None:
    poll_id = await _create(uow)
    async with uow() as u:
        assert await u.polls.mark_reminded(poll_id, now=NOW)
        await u.commit()
    later = DEADLINE + dt.timedelta(days=3)
    remind = later - dt.timedelta(hours=24)

    async def extend() -> bool:
        async with uow() as u:
            won = await u.polls.extend(
                poll_id, deadline_at=later, remind_at=remind, was=DEADLINE, now=NOW
            )
            await u.commit()
            return won

    assert sorted(await asyncio.gather(extend(), extend())) == [False, True]  # a double press
    async with uow() as u:
        poll = await u.polls.get("demo", poll_id)
        assert poll is not None and poll.deadline_at == later and poll.remind_at == remind
        assert poll.reminded_at is None  # one more reminder allowed
        assert [p.id for p in await u.polls.due_reminders(remind)] == [poll_id]
        assert await u.polls.due_closings(DEADLINE + dt.timedelta(minutes=1), since=NOW) == []
        # without remind_at the reminder mark stays as it was
        assert await u.polls.mark_reminded(poll_id, now=NOW)
        even_later = later + dt.timedelta(days=1)
        assert await u.polls.extend(
            poll_id, deadline_at=even_later, remind_at=None, was=later, now=NOW
        )
        await u.commit()
    async with uow() as u:
        poll = await u.polls.get("demo", poll_id)
        assert poll is not None and poll.deadline_at == even_later and poll.reminded_at == NOW


async def test_cancelling_keeps_the_ballots_and_stops_everything_once(
    uow: SqlUnitOfWorkFactory,
) -> None:
    poll_id = await _create(uow)
    async with uow() as u:
        [first, _] = await u.polls.ballots("demo", poll_id)
        await u.polls.answer(first.id, [0], by="actor", now=NOW)
        await u.commit()

    async def cancel() -> bool:
        async with uow() as u:
            won = await u.polls.cancel(poll_id, now=NOW)
            await u.commit()
            return won

    assert sorted(await asyncio.gather(cancel(), cancel())) == [False, True]
    async with uow() as u:
        poll = await u.polls.get("demo", poll_id)
        assert poll is not None and poll.cancelled_at == NOW and not poll.is_open(NOW)
        kept = await u.polls.ballots("demo", poll_id)
        assert [b.choices for b in kept] == [(0,), ()]  # the answers are kept
        assert await u.polls.open_ballots("demo", ["s-1", "s-2"], NOW) == []
        assert await u.polls.due_reminders(DEADLINE - dt.timedelta(hours=1)) == []
        after = DEADLINE + dt.timedelta(minutes=1)
        assert await u.polls.due_closings(after, since=NOW) == []  # no results after a cancel
        assert not await u.polls.close(poll_id, now=NOW)
        assert [
            p.id for p in await u.polls.recent("demo", author_id="t-01", class_ids=None, limit=5)
        ] == [poll_id]


async def test_editing_only_while_nobody_has_answered(uow: SqlUnitOfWorkFactory) -> None:
    poll_id = await _create(uow)
    async with uow() as u:
        fixed = ["Sáng thứ Bảy", "Tối thứ Sáu 19h"]
        assert await u.polls.edit(poll_id, question="Họp buổi nào?", options=fixed, now=NOW)
        await u.commit()
    async with uow() as u:
        poll = await u.polls.get("demo", poll_id)
        assert poll is not None and poll.question == "Họp buổi nào?"
        assert poll.options == ("Sáng thứ Bảy", "Tối thứ Sáu 19h")
        [first, _] = await u.polls.ballots("demo", poll_id)
        await u.polls.answer(first.id, [1], by="actor", now=NOW)
        await u.commit()
    async with uow() as u:
        assert not await u.polls.edit(poll_id, question="Khác?", options=fixed, now=NOW)
        await u.polls.answer(first.id, [], by="actor", now=NOW)  # cleared again: editable
        assert await u.polls.edit(poll_id, question="Khác?", options=fixed, now=NOW)
        assert not await u.polls.edit(poll_id, question="Q?", options=fixed, now=DEADLINE)
        await u.commit()


async def test_posts_by_kind_class_pupil_and_period(uow: SqlUnitOfWorkFactory) -> None:
    async with uow() as u:
        for kind, class_id, student, at in (
            (PostKind.REMARK, "c-6a", "s-1", NOW),
            (PostKind.REMARK, "c-6a", "s-2", NOW),
            (PostKind.HOMEWORK, "c-6a", None, NOW),
            (PostKind.HOMEWORK, "c-8a", None, NOW),
            (PostKind.HOMEWORK, "c-6a", None, NOW - dt.timedelta(days=3)),
        ):
            await u.posts.add(
                school_id="demo",
                kind=kind,
                class_id=class_id,
                student_id=student,
                author_id="t-01",
                text=f"{kind}-{class_id}-{student}",
                now=at,
            )
        await u.commit()
    async with uow() as u:
        remarks = await u.posts.since(
            "demo", kind=PostKind.REMARK, class_ids=["c-6a"], student_ids=["s-1"], since=NOW
        )
        assert [p.text for p in remarks] == ["remark-c-6a-s-1"]
        homework = await u.posts.since(
            "demo", kind=PostKind.HOMEWORK, class_ids=["c-6a"], student_ids=None, since=NOW
        )
        assert [p.text for p in homework] == ["homework-c-6a-None"]
        week = await u.posts.since(
            "demo",
            kind=PostKind.HOMEWORK,
            class_ids=["c-6a"],
            student_ids=None,
            since=NOW - dt.timedelta(days=7),
        )
        assert len(week) == 2 and week[0].created_at < week[1].created_at
        assert (
            await u.posts.since(
                "other", kind=PostKind.HOMEWORK, class_ids=["c-6a"], student_ids=None, since=NOW
            )
            == []
        )
