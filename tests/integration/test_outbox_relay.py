"""The outbox relay against the real store, on SQLite and on PostgreSQL.

Time is a FakeClock; the relay's monotonic clock and its ``sleep`` are driven by it, so rate
limits, pauses, backoffs and leases are checked to the microsecond without sleeping.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import random
from bisect import bisect_left
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain.errors import DeliveryFailedPermanently, DeliveryRetryLater
from bot.messages import Button, ConversationKey
from bot.outbox import (
    TELEGRAM_LIMITS,
    UNLIMITED,
    BotKey,
    ChannelLimits,
    ClaimedMessage,
    OutboxRelay,
    OutboxStore,
    SchoolQueueStats,
)
from bot.ports import LinkRole, OutboundSender, OutgoingMessage
from bot.stats import collect_stats, format_stats, outbox_metrics
from storage.engine import create_engine, session_factory
from storage.migrate import upgrade
from storage.outbox_store import SqlOutboxStore
from storage.tables import ChatLink, OutboxMessage, School, SenderLease
from storage.uow import SqlUnitOfWorkFactory
from tests.fakes.ports import FakeClock

pytestmark = pytest.mark.integration

T0 = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)  # Monday 09:00 in Hà Nội
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def tg(chat: str, school: str = "demo", user: str | None = None) -> ConversationKey:
    return ConversationKey(
        school_id=school, channel="telegram", chat_id=chat, user_id=user or chat.lstrip("-")
    )


@dataclass
class Call:
    at: dt.datetime
    recipient: ConversationKey
    text: str
    ok: bool


@dataclass
class RecordingSender:
    """Records every deliver call; ``script[chat]`` lists exceptions to raise (None = ok)."""

    clock: FakeClock
    calls: list[Call] = field(default_factory=list)
    script: dict[str, list[BaseException | None]] = field(default_factory=dict)

    async def deliver(
        self, recipient: ConversationKey, text: str, buttons: tuple[tuple[Button, ...], ...]
    ) -> None:
        plan = self.script.get(recipient.chat_id)
        error = plan.pop(0) if plan else None
        self.calls.append(Call(self.clock.now(), recipient, text, error is None))
        if error is not None:
            raise error

    def delivered(self, chat: str | None = None) -> list[str]:
        return [
            c.text for c in self.calls if c.ok and (chat is None or c.recipient.chat_id == chat)
        ]


class Harness:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.clock = FakeClock(T0)
        self.store = SqlOutboxStore(engine)
        self.uow = SqlUnitOfWorkFactory(session_factory(engine))
        self.sender = RecordingSender(self.clock)

    def monotonic(self) -> float:
        return (self.clock.now() - EPOCH).total_seconds()

    async def sleep(self, seconds: float) -> None:
        self.clock.advance(seconds=seconds)

    def relay(
        self,
        *,
        worker_id: str = "w1",
        senders: Mapping[str, OutboundSender] | None = None,
        limits: Mapping[str, ChannelLimits] | None = None,
        **kw: Any,
    ) -> OutboxRelay:
        return OutboxRelay(
            self.store,
            senders or {"telegram": self.sender, "memory": self.sender},
            self.clock,
            worker_id=worker_id,
            limits=limits if limits is not None else {"telegram": TELEGRAM_LIMITS},
            monotonic=self.monotonic,
            sleep=self.sleep,
            rng=random.Random(1),
            **kw,
        )

    async def enqueue(
        self,
        to: ConversationKey,
        text: str,
        *,
        urgent: bool = False,
        not_before: dt.datetime | None = None,
        expires_at: dt.datetime | None = None,
        key: str | None = None,
    ) -> None:
        async with self.uow() as u:
            queued = await u.outbox.enqueue(
                OutgoingMessage(
                    recipient=to,
                    kind="notice",
                    text=text,
                    dedupe_key=key or f"test:{text}",
                    buttons=((Button(label="OK", action="", token="tok1"),),),
                    urgent=urgent,
                    not_before=not_before,
                    expires_at=expires_at,
                ),
                now=self.clock.now(),
            )
            assert queued
            await u.commit()

    async def rows(self) -> dict[str, OutboxMessage]:
        async with session_factory(self.engine)() as s:
            found = await s.scalars(select(OutboxMessage))
            return {r.payload["text"]: r for r in found}

    async def drain(self, relay: OutboxRelay, *, step: float = 0.5, max_passes: int = 5000) -> int:
        """Run passes, moving time on when a pass does nothing, until no row is pending."""
        passes = 0
        while passes < max_passes:
            passes += 1
            handled = await relay.run_once()
            if not [r for r in (await self.rows()).values() if r.status == "pending"]:
                return passes
            if handled == 0:
                self.clock.advance(seconds=step)
        raise AssertionError("the outbox did not drain")


@pytest.fixture
async def h(database_url: str) -> AsyncIterator[Harness]:
    engine = create_engine(database_url)
    await upgrade(engine)
    yield Harness(engine)
    await engine.dispose()


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max((bisect_left(times, t + window - 1e-5) - i for i, t in enumerate(times)), default=0)


# --- delivery -------------------------------------------------------------------------


async def test_every_message_is_delivered_exactly_once_in_order_within_limits(
    h: Harness,
) -> None:
    chats = [str(100 + i) for i in range(40)]
    for n in range(3):  # three messages to each of 40 private chats: 120 rows
        for chat in chats:
            await h.enqueue(tg(chat), f"{chat}#{n}")
    for i in range(30):  # and 30 to an unlimited channel
        await h.enqueue(
            ConversationKey(school_id="demo", channel="memory", chat_id=f"m{i}", user_id="u"),
            f"mem#{i}",
        )
    relay = h.relay(batch_size=50)
    await h.drain(relay, step=0.25)

    texts = h.sender.delivered()
    assert sorted(texts) == sorted(
        [f"{c}#{n}" for c in chats for n in range(3)] + [f"mem#{i}" for i in range(30)]
    )  # each exactly once
    rows = await h.rows()
    assert {r.status for r in rows.values()} == {"sent"}
    assert all(r.sent_at is not None and r.leased_by == "w1" for r in rows.values())
    assert all(r.lease_until is None and r.attempts == 0 for r in rows.values())
    for chat in chats:  # per-chat order kept, and 1 msg/s per private chat
        assert h.sender.delivered(chat) == [f"{chat}#{n}" for n in range(3)]
        times = [
            (c.at - EPOCH).total_seconds() for c in h.sender.calls if c.recipient.chat_id == chat
        ]
        assert all(b - a >= 1.0 - 1e-5 for a, b in itertools.pairwise(times))
    bot_times = [
        (c.at - EPOCH).total_seconds() for c in h.sender.calls if c.recipient.channel == "telegram"
    ]
    assert max_in_window(bot_times, 1.0) <= 30  # the bot never exceeds ~30/s
    assert max_in_window(bot_times, 1.0) >= 25  # and uses its budget


async def test_a_group_gets_at_most_twenty_messages_a_minute(h: Harness) -> None:
    group = "-1001234"
    for n in range(45):
        await h.enqueue(tg(group, user="u9"), f"g#{n:02d}")
    await h.drain(h.relay(), step=1.0)
    assert h.sender.delivered(group) == [f"g#{n:02d}" for n in range(45)]  # in order
    times = [(c.at - EPOCH).total_seconds() for c in h.sender.calls]
    assert max_in_window(times, 60.0) <= 20
    assert times[-1] - times[0] >= 44 * 3.0 - 1e-5  # one every 3 s


async def test_a_429_pauses_the_whole_bot_then_the_row_goes_out(h: Harness) -> None:
    h.sender.script["201"] = [DeliveryRetryLater("429 Too Many Requests", after_seconds=1)]
    for chat in ("201", "202", "203"):
        await h.enqueue(tg(chat), f"to {chat}")
    await h.enqueue(tg("301", school="other"), "other school")  # another bot: not paused
    # one row on its way at a time, so the 429 comes back before the next call leaves (with
    # several on their way, a call already sent is answered by the platform and settled alike)
    relay = h.relay(worker_id="a", in_flight=1)
    assert await relay.run_once() == 2
    # the two bots are sent for concurrently: their order is not fixed
    assert sorted(c.text for c in h.sender.calls) == ["other school", "to 201"]
    [limited] = [c for c in h.sender.calls if c.recipient.chat_id == "201"]
    assert not limited.ok
    limited_at = limited.at
    rows = await h.rows()
    assert rows["to 201"].status == "pending" and rows["to 201"].attempts == 0
    assert rows["to 201"].next_attempt_at == limited_at + dt.timedelta(seconds=1)
    assert "retry after 1 s" in rows["to 201"].last_error
    assert rows["to 202"].leased_by is None and rows["to 202"].status == "pending"

    # the same worker sends nothing to that bot while paused
    h.clock.advance(seconds=0.5)
    assert await relay.run_once() == 0
    assert len(h.sender.calls) == 2
    # the pause is in the database: another worker taking the bot over honours it too
    await relay.release_all()
    other = h.relay(worker_id="b", in_flight=1)
    for _ in range(4):
        h.clock.advance(seconds=0.1)
        await other.run_once()
        await relay.run_once()
    assert len(h.sender.calls) == 2, "nothing may reach the bot before retry_after elapsed"
    h.clock.advance(seconds=0.1)
    await h.drain(other, step=0.1)
    later = [c for c in h.sender.calls[2:] if c.recipient.school_id == "demo"]
    assert {c.text for c in later} == {"to 201", "to 202", "to 203"}
    assert all(c.at >= limited_at + dt.timedelta(seconds=1) for c in later)
    assert sorted(h.sender.delivered()) == sorted(["to 201", "to 202", "to 203", "other school"])
    rows = await h.rows()
    assert {r.status for r in rows.values()} == {"sent"}
    assert rows["to 201"].attempts == 0  # a 429 is not the message's failure


async def test_5xx_is_retried_with_backoff_then_succeeds(h: Harness) -> None:
    h.sender.script["401"] = [
        DeliveryRetryLater("HTTP 502 Bad Gateway"),
        DeliveryRetryLater("network: connect timeout"),
        None,
    ]
    await h.enqueue(tg("401"), "flaky")
    relay = h.relay()
    await h.drain(relay, step=0.25)
    calls = h.sender.calls
    assert [c.ok for c in calls] == [False, False, True]
    # full jitter: the n-th retry comes at most base * 2**(n-1) s after the failure
    assert calls[1].at - calls[0].at <= dt.timedelta(seconds=2 + 0.25)
    assert calls[2].at - calls[1].at <= dt.timedelta(seconds=4 + 0.25)
    row = (await h.rows())["flaky"]
    assert row.status == "sent" and row.attempts == 2
    assert row.last_error == "network: connect timeout"


async def test_too_many_failures_end_as_failed_with_the_reason(h: Harness) -> None:
    h.sender.script["402"] = [DeliveryRetryLater("HTTP 503")] * 10
    h.sender.script["403"] = [RuntimeError("a bug in the sender")] * 10
    await h.enqueue(tg("402"), "down")
    await h.enqueue(tg("403"), "buggy")
    await h.drain(h.relay(max_attempts=4), step=1.0)
    rows = await h.rows()
    assert rows["down"].status == "failed"
    assert rows["down"].last_error == "gave up after 4 attempts: HTTP 503"
    assert rows["buggy"].last_error == "gave up after 4 attempts: RuntimeError"
    assert len(h.sender.calls) == 8 and not any(c.ok for c in h.sender.calls)


async def _link(h: Harness, key: ConversationKey, subject: str) -> None:
    async with h.uow() as u:
        await u.links.add(
            key=key,
            role=LinkRole.GUARDIAN,
            subject_id=subject,
            person_id="g-1",
            consent_version="1",
            consent_at=T0,
            verified_at=T0,
        )
        await u.commit()


async def _links(h: Harness) -> dict[tuple[str, str], ChatLink]:
    async with session_factory(h.engine)() as s:
        return {(r.user_id, r.subject_id): r for r in await s.scalars(select(ChatLink))}


async def test_blocked_by_the_user_fails_the_row_and_deactivates_their_links(
    h: Harness,
) -> None:
    blocked, other = tg("501"), tg("502")
    for subject in ("st-1", "st-2"):
        await _link(h, blocked, subject)
    await _link(h, other, "st-3")
    h.sender.script["501"] = [
        DeliveryFailedPermanently("Forbidden: bot was blocked by the user", unreachable=True)
    ]
    h.sender.script["502"] = [DeliveryFailedPermanently("Bad Request: bad", unreachable=False)]
    await h.enqueue(blocked, "to blocked")
    await h.enqueue(other, "invalid request")
    h.clock.advance(seconds=5)
    failed_at = h.clock.now()
    await h.drain(h.relay())
    rows = await h.rows()
    assert rows["to blocked"].status == "failed"
    assert rows["to blocked"].last_error == "Forbidden: bot was blocked by the user"
    assert rows["invalid request"].status == "failed"
    assert rows["invalid request"].last_error == "Bad Request: bad"
    links = await _links(h)
    for subject in ("st-1", "st-2"):
        assert not links[("501", subject)].active
        assert links[("501", subject)].unreachable_at == failed_at
    assert links[("502", "st-3")].active and links[("502", "st-3")].unreachable_at is None
    assert len(h.sender.calls) == 2  # never retried


async def test_expired_rows_become_expired_not_sent(h: Harness) -> None:
    await h.enqueue(tg("601"), "stale", expires_at=T0 + dt.timedelta(minutes=10))
    await h.enqueue(tg("602"), "fresh", expires_at=T0 + dt.timedelta(days=1))
    # due only after it expires, so the relay finds it expired when it claims it
    await h.enqueue(
        tg("603"),
        "late",
        not_before=T0 + dt.timedelta(minutes=11, seconds=1),
        expires_at=T0 + dt.timedelta(minutes=11),
    )
    h.clock.advance(minutes=11)
    relay = h.relay()
    await relay.run_once()  # expires "stale" in bulk, sends "fresh"
    h.clock.advance(seconds=1)
    await relay.run_once()  # claims "late" (bulk expiry runs every 5 s) and expires it
    rows = await h.rows()
    assert rows["stale"].status == "expired" and rows["stale"].sent_at is None
    assert rows["late"].status == "expired" and rows["late"].sent_at is None
    assert rows["fresh"].status == "sent"
    assert h.sender.delivered() == ["fresh"]


async def test_a_dead_workers_rows_are_taken_over_after_the_lease_not_before(
    h: Harness,
) -> None:
    for n in range(5):
        await h.enqueue(tg(str(700 + n)), f"m{n}")
    bot = BotKey("telegram", "demo")
    # worker "dead" took the bot and claimed every row, then died before sending
    lease = dt.timedelta(seconds=30)
    held = await h.store.acquire_bots(
        [bot], worker_id="dead", now=h.clock.now(), until=h.clock.now() + lease
    )
    assert bot in held
    claimed = await h.store.claim(
        bot,
        worker_id="dead",
        now=h.clock.now(),
        lease_until=h.clock.now() + lease,
        limit=50,
    )
    assert len(claimed) == 5
    relay = h.relay(worker_id="alive", lease=lease)
    h.clock.advance(seconds=29)
    assert await relay.run_once() == 0
    assert h.sender.calls == [] and relay.owned_bots == []
    h.clock.advance(seconds=1.5)  # both leases lapsed
    await h.drain(relay)
    assert sorted(h.sender.delivered()) == [f"m{n}" for n in range(5)]  # exactly once
    rows = await h.rows()
    assert all(r.status == "sent" and r.leased_by == "alive" for r in rows.values())
    # the dead worker coming back cannot mark or fail what the other one sent
    now = h.clock.now()
    assert not await h.store.mark_sent(claimed[0].id, worker_id="dead", now=now)
    assert not await h.store.mark_failed(
        claimed[0].id, worker_id="dead", now=now, reason="x", unreachable=True
    )
    assert not await h.store.reschedule(
        claimed[0].id, worker_id="dead", at=now, error="x", count_attempt=True
    )
    assert await h.store.release([c.id for c in claimed], worker_id="dead") == 0
    assert all(r.status == "sent" for r in (await h.rows()).values())


async def test_a_row_in_flight_when_its_worker_died_goes_out_once_more_labelled(
    h: Harness,
) -> None:
    """Issue 13.10. The dead worker had claimed five rows and was inside the platform call for
    one of them (marked ``sending``). After the lease: the four it never started go out
    plainly, once; the one in flight goes out once more with the resent label in the
    recipient's language, and is counted as in doubt (a possible repeat), nowhere else."""
    for n in range(5):
        await h.enqueue(tg(str(720 + n)), f"m{n}")
    bot = BotKey("telegram", "demo")
    lease = dt.timedelta(seconds=30)
    now = h.clock.now()
    await h.store.acquire_bots([bot], worker_id="dead", now=now, until=now + lease)
    claimed = await h.store.claim(bot, worker_id="dead", now=now, lease_until=now + lease, limit=50)
    in_flight = next(m for m in claimed if m.text == "m2")
    assert not in_flight.in_doubt and in_flight.locale == "vi"
    assert await h.store.mark_sending(in_flight.id, worker_id="dead", now=now)
    assert not await h.store.mark_sending(in_flight.id, worker_id="other", now=now)
    # while its lease holds, a row in flight is nobody else's and does not expire
    assert await h.store.settle_in_doubt(now + dt.timedelta(seconds=29)) == 0
    relay = h.relay(
        worker_id="alive", lease=lease, resent_note=lambda locale: f"[{locale}: resent]"
    )
    h.clock.advance(seconds=31)
    await h.drain(relay)
    assert sorted(h.sender.delivered()) == ["[vi: resent]\nm2", "m0", "m1", "m3", "m4"]
    rows = await h.rows()
    assert all(r.status == "sent" and r.sending_at is None for r in rows.values())
    assert [t for t, r in rows.items() if r.in_doubt] == ["m2"]
    assert "in doubt" in rows["m2"].last_error
    stats = await collect_stats(h.store, now=h.clock.now())
    assert [(s.school_id, s.sent, s.in_doubt) for s in stats] == [("demo", 5, 1)]
    assert 'lienlac_outbox_in_doubt_total{school="demo"} 1.0' in outbox_metrics(stats).decode()
    assert format_stats(stats).splitlines()[0].split()[5:7] == ["in", "doubt"]
    # the dead worker's late outcome cannot overwrite the new one
    assert not await h.store.mark_sent(in_flight.id, worker_id="dead", now=h.clock.now())


async def test_every_outcome_clears_the_sending_mark(h: Harness) -> None:
    """Sent, retried, failed: none of them leaves a row marked as in flight, so a crash
    later never takes a finished row for one in doubt."""
    for chat in ("731", "732", "733"):
        await h.enqueue(tg(chat), f"to {chat}")
    h.sender.script["732"] = [DeliveryRetryLater("502"), None]
    h.sender.script["733"] = [DeliveryFailedPermanently("blocked", unreachable=False)]
    relay = h.relay()
    await relay.run_once()
    rows = await h.rows()
    assert {t: (r.status, r.sending_at) for t, r in rows.items()} == {
        "to 731": ("sent", None),
        "to 732": ("pending", None),
        "to 733": ("failed", None),
    }
    await h.drain(relay)
    assert not any(r.in_doubt for r in (await h.rows()).values())
    assert h.sender.delivered() == ["to 731", "to 732"]  # never labelled: never in doubt


async def test_a_lapsed_claim_is_not_marked_by_its_old_owner(h: Harness) -> None:
    await h.enqueue(tg("801"), "x")
    bot = BotKey("telegram", "demo")
    now = h.clock.now()
    first = await h.store.claim(
        bot, worker_id="a", now=now, lease_until=now + dt.timedelta(seconds=5), limit=10
    )
    assert [m.text for m in first] == ["x"]
    assert first[0].buttons == ((Button(label="OK", action="", token="tok1"),),)
    # not claimable while leased
    assert await h.store.claim(bot, worker_id="b", now=now, lease_until=now, limit=10) == []
    later = now + dt.timedelta(seconds=6)
    second = await h.store.claim(
        bot, worker_id="b", now=later, lease_until=later + dt.timedelta(seconds=5), limit=10
    )
    assert [m.id for m in second] == [first[0].id]
    assert not await h.store.mark_sent(first[0].id, worker_id="a", now=later)
    assert await h.store.mark_sent(first[0].id, worker_id="b", now=later)
    assert (await h.rows())["x"].leased_by == "b"


async def test_claims_are_bounded_and_disjoint(h: Harness) -> None:
    now = h.clock.now()
    rows = [
        {
            "school_id": "demo",
            "channel": "telegram",
            "chat_id": str(i),
            "user_id": str(i),
            "kind": "load",
            "payload": {"text": f"r{i}", "buttons": []},
            "dedupe_key": f"load:{i}",
            "urgent": False,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now - dt.timedelta(seconds=300 - i),  # oldest first
            "created_at": now,
            "last_error": "",
        }
        for i in range(300)
    ]
    async with h.engine.begin() as conn:
        await conn.execute(insert(OutboxMessage), rows)
    bot = BotKey("telegram", "demo")
    until = now + dt.timedelta(seconds=60)
    claims = await asyncio.gather(
        *(
            h.store.claim(bot, worker_id=f"w{i}", now=now, lease_until=until, limit=50)
            for i in range(4)
        )
    )
    assert [len(c) for c in claims] == [50, 50, 50, 50]  # LIMIT holds on both databases
    ids = [m.id for c in claims for m in c]
    assert len(set(ids)) == 200  # no row went to two claimers
    for claim in claims:
        assert [m.next_attempt_at for m in claim] == sorted(m.next_attempt_at for m in claim)
    rest = await h.store.claim(bot, worker_id="w9", now=now, lease_until=until, limit=500)
    assert len(rest) == 100 and not {m.id for m in rest} & set(ids)
    assert await h.store.claim(bot, worker_id="w9", now=now, lease_until=until, limit=50) == []
    # the oldest rows were claimed first
    first = await h.store.claim(
        bot,
        worker_id="w0",
        now=until + dt.timedelta(seconds=1),
        lease_until=until + dt.timedelta(seconds=90),
        limit=10,
    )
    assert [m.text for m in first] == [f"r{i}" for i in range(10)]


async def test_one_worker_per_bot_and_max_bots(h: Harness) -> None:
    for school in ("s1", "s2", "s3"):
        await h.enqueue(tg("901", school=school), f"hello {school}")
    a = h.relay(worker_id="a", max_bots=2)
    b = h.relay(worker_id="b", max_bots=2)
    await a.run_once()
    await b.run_once()
    assert len(a.owned_bots) == 2 and len(b.owned_bots) == 1
    assert not set(a.owned_bots) & set(b.owned_bots)
    assert sorted(h.sender.delivered()) == ["hello s1", "hello s2", "hello s3"]
    async with session_factory(h.engine)() as s:
        leases = list(await s.scalars(select(SenderLease)))
    assert {lease.leased_by for lease in leases} == {"a", "b"}
    # idle bots are given back
    await a.run_once()
    assert a.owned_bots == []


async def test_due_bots_join_a_running_pass_not_the_next_one(h: Harness) -> None:
    """Twelve schools' bots are due and a pass takes on eight at a time: the other four join
    while the first eight send (bench `relay`: a bot taken on a pass later lost 2 s of 12)."""
    schools = [f"s{i:02d}" for i in range(12)]
    for school in schools:
        for n in range(3):
            await h.enqueue(tg(f"90{n}", school=school), f"hello {school} {n}")
    relay = h.relay(bots_per_pass=8)
    assert await relay.run_once() == 36
    assert len(relay.owned_bots) == 12
    assert len(h.sender.delivered()) == 36


class CountingStore:
    """The SQL store, counting ``claim`` calls; the sender reads the count at each call."""

    def __init__(self, inner: SqlOutboxStore) -> None:
        self.inner = inner
        self.claims = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def claim(self, *args: Any, **kwargs: Any) -> list[ClaimedMessage]:
        self.claims += 1
        return await self.inner.claim(*args, **kwargs)


async def test_the_next_batch_is_claimed_while_the_current_one_drains(h: Harness) -> None:
    """No bubble between batches: when half a batch is left the next one is claimed, so the
    bot goes on sending while that claim runs; each chat's order holds across batches."""
    for n in range(120):
        await h.enqueue(tg(str(1000 + n % 60)), f"row {n:03d}")
    store = CountingStore(h.store)
    claims_seen: list[int] = []

    class Sender:
        async def deliver(
            self, recipient: ConversationKey, text: str, buttons: tuple[tuple[Button, ...], ...]
        ) -> None:
            claims_seen.append(store.claims)
            await h.sender.deliver(recipient, text, buttons)

    relay = OutboxRelay(
        cast(OutboxStore, store),
        {"telegram": Sender()},
        h.clock,
        worker_id="w1",
        limits={},
        batch_size=50,
        monotonic=h.monotonic,
        sleep=h.sleep,
        rng=random.Random(1),
    )
    assert await relay.run_once() == 120
    assert claims_seen[40] == 2  # the second batch was claimed before the first one drained
    for chat in {c.recipient.chat_id for c in h.sender.calls}:
        texts = h.sender.delivered(chat)
        assert texts == sorted(texts)


async def test_quiet_hours_hold_non_urgent_messages_until_morning(h: Harness) -> None:
    async with session_factory(h.engine)() as s:
        s.add(School(id="demo", name="Demo", timezone="Asia/Ho_Chi_Minh", created_at=T0))
        await s.commit()
    h.clock.advance(hours=13)  # 15:00 UTC = 22:00 in Hà Nội
    await h.enqueue(tg("111"), "digest")
    await h.enqueue(tg("112"), "urgent", urgent=True)
    relay = h.relay()
    assert await relay.run_once() == 1
    assert h.sender.delivered() == ["urgent"]
    morning = dt.datetime(2026, 11, 23, 23, 30, tzinfo=dt.UTC)  # 06:30 in Hà Nội
    row = (await h.rows())["digest"]
    assert row.next_attempt_at == morning and row.attempts == 0 and row.leased_by is None
    h.clock.advance(hours=8, minutes=29)
    assert await relay.run_once() == 0
    h.clock.advance(minutes=1)
    assert await relay.run_once() == 1
    assert h.sender.delivered() == ["urgent", "digest"]
    assert h.sender.calls[-1].at == morning


async def test_accept_lets_a_console_deliver_only_to_its_own_user(h: Harness) -> None:
    me = ConversationKey(school_id="demo", channel="console", chat_id="me", user_id="me")
    them = ConversationKey(school_id="demo", channel="console", chat_id="them", user_id="them")
    await h.enqueue(me, "for me")
    await h.enqueue(them, "for them")
    relay = h.relay(senders={"console": h.sender}, accept=lambda k: k.user_id == "me", limits={})
    await relay.run_once()
    assert h.sender.delivered() == ["for me"]
    row = (await h.rows())["for them"]
    assert row.status == "pending" and row.leased_by is None
    for _ in range(3):  # the refused row is not claimed again and again
        assert await relay.run_once() == 0
    assert h.sender.delivered() == ["for me"]
    other = h.relay(
        worker_id="w2", senders={"console": h.sender}, accept=lambda k: k.user_id == "them"
    )
    await other.run_once()
    assert h.sender.delivered() == ["for me", "for them"]


async def test_run_survives_errors_and_wakes_up(h: Harness) -> None:
    class FlakyStore(SqlOutboxStore):
        failures = 2

        async def due_bots(self, *args: Any, **kw: Any) -> list[BotKey]:
            if self.failures:
                self.failures -= 1
                raise ConnectionError("database restarting")
            return await super().due_bots(*args, **kw)

    store = FlakyStore(h.engine)
    relay = OutboxRelay(
        store,
        {"memory": h.sender},
        h.clock,
        worker_id="loop",
        limits={"memory": UNLIMITED},
        poll_interval=30.0,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    for _ in range(400):  # two failures, each followed by a short backoff (>= 0.5 s)
        await asyncio.sleep(0.01)
        if store.failures == 0:
            break
    await asyncio.sleep(0.2)
    await h.enqueue(
        ConversationKey(school_id="demo", channel="memory", chat_id="c", user_id="u"), "woken"
    )
    relay.wake()  # without this the loop would sleep 30 s
    for _ in range(300):
        await asyncio.sleep(0.01)
        if h.sender.delivered():
            break
    assert h.sender.delivered() == ["woken"]
    assert relay.owned_bots == [BotKey("memory", "demo")] or relay.owned_bots == []
    stop.set()
    await asyncio.wait_for(task, 5)
    async with session_factory(h.engine)() as s:
        leases = list(await s.scalars(select(SenderLease)))
    assert all(lease.leased_by is None for lease in leases)  # given back on the way out


# --- stats ----------------------------------------------------------------------------


async def test_stats_per_school(h: Harness) -> None:
    await h.enqueue(tg("1"), "old pending")
    h.clock.advance(minutes=2)
    await h.enqueue(tg("2"), "new pending", not_before=T0 + dt.timedelta(days=1))
    await h.enqueue(tg("3"), "to send")
    await h.enqueue(tg("4"), "to fail")
    await h.enqueue(tg("5"), "to expire", expires_at=T0 + dt.timedelta(minutes=3))
    await h.enqueue(tg("6", school="other"), "other sent")
    h.sender.script["4"] = [DeliveryFailedPermanently("blocked")]
    # keep "old pending" pending: push it out of reach for this pass
    async with h.engine.begin() as conn:
        await conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.chat_id == "1")
            .values(next_attempt_at=T0 + dt.timedelta(days=2))
        )
    h.clock.advance(minutes=2)  # T0 + 4 min
    relay = h.relay(limits={"telegram": UNLIMITED})  # no pacing sleep moves the fake clock
    await relay.run_once()
    now = h.clock.now()
    got = await collect_stats(h.store, now=now)
    assert got == [
        SchoolQueueStats(
            school_id="demo",
            pending=2,
            sent=1,
            failed=1,
            expired=1,
            oldest_pending_seconds=240.0,
        ),
        SchoolQueueStats(
            school_id="other", pending=0, sent=1, failed=0, expired=0, oldest_pending_seconds=0.0
        ),
    ]
    table = format_stats(got)
    assert table.splitlines()[1].split() == ["demo", "2", "1", "1", "1", "0", "4m00s"]
    assert table.splitlines()[3].split() == ["total", "2", "2", "1", "1", "0", "4m00s"]
    metrics = outbox_metrics(got).decode()
    assert 'lienlac_outbox_pending{school="demo"} 2.0' in metrics
    assert 'lienlac_outbox_sent_total{school="other"} 1.0' in metrics
    assert 'lienlac_outbox_failed_total{school="demo"} 1.0' in metrics
    assert 'lienlac_outbox_expired_total{school="demo"} 1.0' in metrics
    assert 'lienlac_outbox_oldest_pending_seconds{school="demo"} 240.0' in metrics
    assert outbox_metrics(got) == metrics.encode()  # a fresh registry each time
    assert await collect_stats(SqlOutboxStore(h.engine), now=now) == got


async def test_each_school_keeps_its_own_quiet_hours_and_time_zone(
    database_url: str, tmp_path: Path
) -> None:
    """Issue 14: ``App.build_relay`` gave every school the first school's quiet hours. Three
    schools in one process at 14:30 UTC: the demo (Hà Nội, quiet from 21:00: it is 21:30
    there), a late one (Hà Nội, quiet from 22:00) and one in Tokyo (quiet from 23:00: it is
    23:30 there). Only the late school's parent is messaged now; the others in their own
    morning."""
    from bot.bootstrap import build_app
    from bot.config import DatabaseSettings, SchoolSettings, Settings
    from tests.chat import add_empty_school

    for school in ("late", "east"):
        await add_empty_school(database_url, school)
    settings = Settings(
        database=DatabaseSettings(url=database_url),
        data_dir=tmp_path,
        schools=[
            SchoolSettings(id="demo"),
            SchoolSettings(id="late", quiet_start=dt.time(22, 0), quiet_end=dt.time(6, 0)),
            SchoolSettings(
                id="east",
                timezone="Asia/Tokyo",
                quiet_start=dt.time(23, 0),
                quiet_end=dt.time(7, 15),
            ),
        ],
    )
    clock = FakeClock(dt.datetime(2026, 11, 23, 14, 30, tzinfo=dt.UTC))
    app = await build_app(settings, clock=clock)
    try:
        sender = RecordingSender(clock)
        async with app.uow_factory() as u:
            for school in ("demo", "late", "east"):
                await u.outbox.enqueue(
                    OutgoingMessage(
                        recipient=tg("900", school=school),
                        kind="digest",
                        text=f"to {school}",
                        dedupe_key=f"quiet:{school}",
                    ),
                    now=clock.now(),
                )
            await u.commit()
        relay = app.build_relay({"telegram": sender})
        await relay.run_once()
        assert sender.delivered() == ["to late"]
        async with session_factory(app.engine)() as s:
            due = {
                r.school_id: r.next_attempt_at.astimezone(dt.UTC)
                for r in await s.scalars(select(OutboxMessage))
                if r.status == "pending"
            }
        assert due == {
            "demo": dt.datetime(2026, 11, 23, 23, 30, tzinfo=dt.UTC),  # 06:30 in Hà Nội
            "east": dt.datetime(2026, 11, 23, 22, 15, tzinfo=dt.UTC),  # 07:15 in Tokyo
        }
    finally:
        await app.aclose()


async def test_rows_marked_at_once_share_a_commit_and_each_learns_its_own_outcome(
    h: Harness,
) -> None:
    """Issue 15: ``mark_sending``/``mark_sent`` of rows marked at the same moment go in one
    statement (a group commit); each caller still learns whether its own row changed."""
    for n in range(12):
        await h.enqueue(tg(str(900 + n)), f"m{n}")
    bot = BotKey("telegram", "demo")
    now = h.clock.now()
    lease = now + dt.timedelta(seconds=30)
    mine = await h.store.claim(bot, worker_id="a", now=now, lease_until=lease, limit=10)
    assert len(mine) == 10
    others = await h.store.claim(bot, worker_id="b", now=now, lease_until=lease, limit=10)
    ids = [m.id for m in mine] + [m.id for m in others]
    sending = await asyncio.gather(*(h.store.mark_sending(i, worker_id="a", now=now) for i in ids))
    assert sending == [True] * 10 + [False] * len(others)  # b's rows are not a's to mark
    sent = await asyncio.gather(*(h.store.mark_sent(i, worker_id="a", now=now) for i in ids))
    assert sent == sending
    rows = await h.rows()
    assert {t for t, r in rows.items() if r.status == "sent"} == {m.text for m in mine}
    assert all(r.sending_at is None for r in rows.values())
