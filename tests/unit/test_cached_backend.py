"""The cache in front of remote backends, against a hand-written fake backend."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence

import pytest

from bot.backends.cached import CachedBackend
from bot.domain.errors import BackendAuthFailed, BackendNotFound, BackendUnavailable
from bot.domain.models import FeeItem, Student
from bot.ports import Capability, Change, ChangeBatch
from tests.fakes.ports import FakeClock

STUDENT = Student(
    id="st-1", school_id="s", code="HS1", full_name="Lê An", class_id="c", class_name="6A"
)


class FlakyBackend:
    """Answers ``fees`` and ``find_student`` until told to fail or to hang."""

    capabilities = frozenset({Capability.STUDENTS, Capability.FEES})

    def __init__(self) -> None:
        self.calls = 0
        self.error: Exception | None = None
        self.hang = 0.0
        self.amount = 100

    async def _answer(self) -> None:
        self.calls += 1
        if self.hang:
            await asyncio.sleep(self.hang)
        if self.error is not None:
            raise self.error

    async def fees(self, student_id: str) -> Sequence[FeeItem]:
        await self._answer()
        return [
            FeeItem(
                id="f",
                student_id=student_id,
                name="BHYT",
                amount=self.amount,
                due_date=None,
                paid=False,
                mandatory=True,
            )
        ]

    async def find_student(self, code: str) -> Student | None:
        await self._answer()
        return STUDENT if code.strip().upper() == "HS1" else None

    async def record_absence(
        self, student_id: str, day: dt.date, session: str, *, excused: bool, reason: str
    ) -> None:
        await self._answer()

    async def changes_since(
        self, watermark: dt.datetime | None, *, now: dt.datetime
    ) -> ChangeBatch:
        await self._answer()
        change = Change(
            kind="fees",
            student_id="st-1",
            key=f"fee:f:{self.amount}",
            occurred_at=now,
            payload={"name": "BHYT", "amount": self.amount, "due_date": None},
        )
        return ChangeBatch(changes=(change,), watermark=now)


@pytest.fixture
def inner() -> FlakyBackend:
    return FlakyBackend()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache(inner: FlakyBackend, clock: FakeClock) -> CachedBackend:
    return CachedBackend(
        inner,  # type: ignore[arg-type]
        clock=clock,
        max_age=dt.timedelta(hours=1),
        fresh_for=dt.timedelta(seconds=30),
        timeout_seconds=0.2,
    )


async def test_a_fresh_answer_is_reused_without_asking(
    cache: CachedBackend, inner: FlakyBackend, clock: FakeClock
) -> None:
    await cache.fees("st-1")
    clock.advance(seconds=10)
    await cache.fees("st-1")
    assert inner.calls == 1
    clock.advance(seconds=30)
    inner.amount = 200
    assert (await cache.fees("st-1"))[0].amount == 200  # older than "fresh": asked again
    assert inner.calls == 2


@pytest.mark.parametrize("error", [BackendUnavailable("down"), BackendAuthFailed("401")])
async def test_a_failure_serves_the_cached_answer_and_reports_its_age(
    cache: CachedBackend, inner: FlakyBackend, clock: FakeClock, error: Exception
) -> None:
    fetched = clock.now()
    await cache.fees("st-1")
    clock.advance(minutes=10)
    inner.error = error
    noted: list[dt.datetime] = []
    view = cache.observed(noted.append)
    assert (await view.fees("st-1"))[0].amount == 100
    assert noted == [fetched]


async def test_a_too_old_answer_is_not_served(
    cache: CachedBackend, inner: FlakyBackend, clock: FakeClock
) -> None:
    await cache.fees("st-1")
    clock.advance(hours=1, seconds=1)
    inner.error = BackendUnavailable("down")
    noted: list[dt.datetime] = []
    with pytest.raises(BackendUnavailable):
        await cache.observed(noted.append).fees("st-1")
    assert noted == []


async def test_a_hanging_backend_times_out_as_unavailable(
    cache: CachedBackend, inner: FlakyBackend
) -> None:
    inner.hang = 5
    with pytest.raises(BackendUnavailable, match="no answer within"):
        await cache.fees("st-1")
    with pytest.raises(BackendUnavailable, match="no answer within"):
        await cache.record_absence("st-1", dt.date(2026, 11, 25), "day", excused=True, reason="")


async def test_not_found_is_never_hidden_by_the_cache(
    cache: CachedBackend, inner: FlakyBackend, clock: FakeClock
) -> None:
    await cache.fees("st-1")
    clock.advance(minutes=1)
    inner.error = BackendNotFound("gone")
    with pytest.raises(BackendNotFound):
        await cache.fees("st-1")


async def test_codes_share_one_entry_whatever_their_case(
    cache: CachedBackend, inner: FlakyBackend
) -> None:
    assert await cache.find_student("HS1") == STUDENT
    assert await cache.find_student(" hs1 ") == STUDENT
    assert inner.calls == 1


async def test_writes_always_reach_the_school_system(
    cache: CachedBackend, inner: FlakyBackend
) -> None:
    for _ in range(2):
        await cache.record_absence("st-1", dt.date(2026, 11, 25), "day", excused=True, reason="")
    assert inner.calls == 2


async def test_the_cache_is_bounded(inner: FlakyBackend, clock: FakeClock) -> None:
    cache = CachedBackend(
        inner,  # type: ignore[arg-type]
        clock=clock,
        max_age=dt.timedelta(hours=1),
        max_entries=3,
    )
    for i in range(5):
        await cache.fees(f"st-{i}")
    await cache.fees("st-0")  # evicted: asked again
    assert inner.calls == 6


async def test_changes_are_never_served_from_the_cache(
    cache: CachedBackend, inner: FlakyBackend, clock: FakeClock
) -> None:
    first = await cache.changes_since(clock.now(), now=clock.now())
    inner.amount = 200
    again = await cache.changes_since(clock.now(), now=clock.now())
    assert inner.calls == 2
    assert first.changes[0].key != again.changes[0].key
    inner.error = BackendUnavailable("down")
    with pytest.raises(BackendUnavailable):
        await cache.observed(lambda _: None).changes_since(clock.now(), now=clock.now())


async def test_a_change_poll_may_take_longer_than_one_read_but_not_forever(
    inner: FlakyBackend, clock: FakeClock
) -> None:
    cache = CachedBackend(
        inner,  # type: ignore[arg-type]
        clock=clock,
        max_age=dt.timedelta(hours=1),
        timeout_seconds=0.1,
        changes_timeout_seconds=0.4,
    )
    inner.hang = 0.2  # two reads' time: fine for a poll of several pages
    assert len((await cache.changes_since(clock.now(), now=clock.now())).changes) == 1
    inner.hang = 1.0
    with pytest.raises(BackendUnavailable, match=r"no answer within 0\.4 s"):
        await cache.changes_since(clock.now(), now=clock.now())
