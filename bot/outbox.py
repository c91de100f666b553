"""The outbox relay: claim due rows, send them under each bot's rate limits, mark the outcome.

Everything addressed to someone other than the person who just wrote is written to
``outbox_message`` in the same transaction as the change that caused it (see
``storage.uow.SqlOutboxRepo``). This module drains that table. It talks to the database only
through the :class:`OutboxStore` port (``storage.outbox_store.SqlOutboxStore``) and to the
platforms only through :class:`bot.ports.OutboundSender`.

One pass (:meth:`OutboxRelay.run_once`)::

    expire rows past expires_at (not leased)             -> expired
    find bots (channel, school) with due rows, take or renew their sender leases
    for each bot we hold, concurrently:
        claim up to batch_size due rows with a row lease (FOR UPDATE SKIP LOCKED on PostgreSQL)
        in order, per chat: wait for the bot's and the chat's token bucket, deliver, then at once
        commit the row's outcome:
            delivered                                     -> sent
            DeliveryRetryLater(after_seconds=N) (429)     -> the whole bot pauses N s (also in the
                                                             database, for every worker); the row
                                                             is due again at now+N; not an attempt
            DeliveryRetryLater() / other error (5xx, network)
                                                          -> attempts+1, due again after an
                                                             exponential backoff with full jitter
                                                             (base 2 s, cap 10 min); failed with
                                                             the reason after max_attempts
            DeliveryFailedPermanently                     -> failed with the reason; if
                                                             unreachable, the recipient's chat
                                                             links are deactivated
            expired before sending                        -> expired
            non-urgent in the school's quiet hours        -> due again when they end
        rows it cannot send within the lease (rate limits, pause) go back to the queue

Every row ends ``sent``, ``failed`` (with ``last_error``) or ``expired``; nothing vanishes.

Several workers
    A bot's rate limits (Telegram: ~30 msg/s per token) only hold if one process sends for it.
    Each worker therefore holds a *sender lease* per bot (table ``sender_lease``, a conditional
    UPDATE) and renews it every pass; it claims rows only of bots it holds. A worker that dies
    stops renewing; once the lease lapses another worker (or the same one restarted) takes the
    bot over, and the rows the dead worker had claimed are claimable again once their row
    lease lapses. ``max_bots`` caps how many bots one worker holds, to spread bots over
    workers. Workers compare their own clocks with the leases: keep clocks in sync (NTP) to
    well under the safety margin (a quarter of the lease, at most 15 s).

Delivery guarantee, honestly
    The relay never delivers a row it does not hold: before each ``deliver`` it checks that
    both the row lease and the bot lease have at least the safety margin left. A row is marked
    ``sent`` only after ``deliver`` returned, and that mark is committed on its own, before the
    next row is sent. ``mark_sent`` succeeds only while the row is still leased by this worker.

    Just before ``deliver`` the row is marked ``sending`` (``mark_sending``, its own commit);
    every outcome clears the mark, and no worker claims a marked row. A row still marked once
    its lease lapsed was inside the platform call when its worker died: ``settle_in_doubt``
    (first pass of every worker, then every few seconds) makes it claimable again with
    ``in_doubt`` set, and its next delivery starts with ``resent_note`` in the recipient's
    language ("sent again, ignore it if you already have it"). A possible repeat is labelled
    rather than risking a loss; ``stats`` counts these rows.

    What remains is at-least-once at the transport, in these windows:

    * the process dies (``kill -9``, power loss) or the database becomes unreachable after the
      platform accepted a message but before its ``sent`` mark committed: at most one row per
      bot the worker was sending for, known as in doubt. After the lease lapses it is sent
      again, labelled;
    * a ``deliver`` that raised a retryable error although the platform had accepted the
      message (a timeout while waiting for the answer): the row is retried;
    * a ``deliver`` call that outlives the safety margin (a sender without a timeout, a frozen
      process) while another worker takes the row over. Give senders a timeout below the
      margin.

    Telegram and Zalo have no idempotency key, so such a recipient sees that message twice.
    Senders whose transport can deduplicate implement :class:`IdempotentSender`: the relay
    then passes ``outbox-<row id>``, stable across retries and workers, and the receiving side
    can drop the repeat. The multi-process tests use such a sender and a sink that
    deduplicates by that key; they count the raw repeats too.

Rate limits are per process: when a bot moves to another worker, its new token buckets
start full, so the first second after a takeover may carry one burst more than the budget.

A pass waits for its slowest bot: each bot claims batch after batch for about 2 s
(``_PASS_SECONDS``), all bots side by side; due bots not yet taken on join the running pass,
``bots_per_pass`` every quarter of a second (``_JOIN_EVERY``), with
at most ``in_flight`` rows of a bot on their way (their calls leave one by one, spaced by
the bot's buckets) and at most ``concurrency`` database calls at once. Rows held only by
their chat's limit while the bot could send are put back at once, due when the chat may
receive again, and the bot claims others. Order is kept per chat within a batch (never two
rows of one chat on their way at once); a retried row may be overtaken.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import random
import secrets
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from bot.domain.calendar import DEFAULT_TIMEZONE
from bot.domain.errors import DeliveryFailedPermanently, DeliveryRetryLater
from bot.domain.quiet_hours import DEFAULT_QUIET_END, DEFAULT_QUIET_START, next_send_time
from bot.messages import Attachment, Button, ConversationKey
from bot.ports import Clock, OutboundSender

log = logging.getLogger(__name__)

REASON_MAX = 200  # outbox_message.last_error


# --- rate limits ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rate:
    """A token bucket: ``per_second`` tokens flow in, at most ``burst`` are kept. In any
    window of ``w`` seconds it lets through at most ``burst + per_second * w`` messages.

    ``cap`` (``(n, seconds)``) adds a ceiling as the platform counts, on arrival: never more
    than ``n`` sends in any ``seconds``. The relay cannot see when a send arrived, only that it
    was between the token and the answer (:meth:`TokenBucket.answered`), so it counts each
    send until ``seconds`` after its answer: however late a busy event loop starts a call or
    reads its answer, ``n + 1`` sends never arrive within ``seconds``. The price is the round
    trip: a bot sends at most ``n / (seconds + round trip)`` a second (Telegram at 200 ms:
    25/s), where a 429 would stop it for the ``retry_after`` Telegram names. (Counting from the
    answer less the quickest recent round trip was tried: with 50 bots on 2 CPUs the event
    loop's own delay made the quickest round trip long, and the fake answered 429 four times.)
    With the cap the bucket may keep a few tokens (``burst`` > 1): a send started late is made
    up by the next ones instead of lost.
    """

    per_second: float
    burst: float = 1.0
    cap: tuple[int, float] | None = None

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst < 1:
            raise ValueError("a rate needs per_second > 0 and burst >= 1")
        if self.cap is not None and (self.cap[0] < 1 or self.cap[1] <= 0):
            raise ValueError("a rate's cap needs n >= 1 sends in seconds > 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelLimits:
    """A platform's sending budget; ``None`` means no limit of that kind."""

    per_bot: Rate | None  # all messages of one bot token / OA
    per_private_chat: Rate | None
    per_group_chat: Rate | None = None
    negative_ids_are_groups: bool = False  # Telegram: group and channel chat ids are < 0

    def for_chat(self, chat_id: str) -> Rate | None:
        if self.negative_ids_are_groups and chat_id.startswith("-"):
            return self.per_group_chat
        return self.per_private_chat


# Telegram (reference/telegram.md §1): ~30 msg/s per bot -> 29/s, and never more than 30 in
# any second as Telegram sees them (the cap; the bench `relay` checks it against a fake that
# answers 429 beyond 30 in any second, issue 15). The bucket keeps up to 4 tokens, so a send
# the event loop starts a few milliseconds late does not cost the bot its slot: with a burst
# of 1 a busy relay lost ~8 % of its budget that way (bench `relay`, 2026-12-04). 1 msg/s per
# private chat, counted the same way; 20 msg/min per group -> one every 3 s after the first
# (never more than 20 in any minute).
TELEGRAM_LIMITS = ChannelLimits(
    per_bot=Rate(29.0, burst=4.0, cap=(30, 1.0)),
    per_private_chat=Rate(1.0, burst=1.0, cap=(1, 1.0)),
    per_group_chat=Rate(20.0 / 60.0, burst=1.0),
    negative_ids_are_groups=True,
)
# Zalo OA Open API (reference/zalo.md §2): 4,000 requests/minute per OA -> 60/s with a burst of
# 6 (at most 3,606 in any minute). Per user: unpublished; 1/s like Telegram.
ZALO_OA_LIMITS = ChannelLimits(per_bot=Rate(60.0, burst=6.0), per_private_chat=Rate(1.0))
# Zalo Bot Platform (reference/zalo.md §1): no published rate limits; stay conservative.
ZALO_BOT_LIMITS = ChannelLimits(per_bot=Rate(20.0, burst=5.0), per_private_chat=Rate(1.0))
UNLIMITED = ChannelLimits(per_bot=None, per_private_chat=None)
# The SMS digest (issue 16): brandname gateways take a few requests a second per account.
SMS_LIMITS = ChannelLimits(per_bot=Rate(5.0, burst=5.0), per_private_chat=Rate(1.0))
DEFAULT_LIMITS: Mapping[str, ChannelLimits] = {
    "telegram": TELEGRAM_LIMITS,
    "zalo_oa": ZALO_OA_LIMITS,
    "zalo_bot": ZALO_BOT_LIMITS,
    "sms": SMS_LIMITS,
}

# A pass goes on for about this long while its bots have due rows: a bot whose rows ran out
# starts again when more are due (the pass looks every ``_JOIN_EVERY``). Between passes the
# bots' leases are renewed, so a pass also waits for its slowest bot: the longer the pass, the
# rarer that pause (every 2 s it cost each bot ~5 % of its rate, bench `relay`).
_PASS_SECONDS = 8.0

# While due bots wait to be taken on, a pass takes on ``bots_per_pass`` more this often.
_JOIN_EVERY = 0.25

_EPSILON = 1e-6  # tokens: float dust must not turn "ready" into "wait a nanosecond"


class Sent:
    """One send counted by a capped bucket (see :attr:`Rate.cap`): from its token until its
    answer, then from its answer."""

    __slots__ = ("answered", "at")

    def __init__(self, at: float) -> None:
        self.at = at  # the token; once answered, the answer
        self.answered = False


_UNANSWERED_POLL = 0.01  # s: how often a capped bucket looks again at a send still on its way


class TokenBucket:
    """A token bucket on an injectable monotonic clock (seconds, float). Starts full. With a
    :attr:`Rate.cap` it also keeps its last ``n`` sends."""

    def __init__(self, rate: Rate, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._tokens = rate.burst
        self._last = clock()
        self._sent: deque[Sent] | None = None if rate.cap is None else deque(maxlen=rate.cap[0])

    def _refill(self) -> None:
        now = self._clock()
        if now > self._last:
            self._tokens = min(
                self.rate.burst, self._tokens + (now - self._last) * self.rate.per_second
            )
            self._last = now

    def wait_time(self) -> float:
        """Seconds until one token is there (0.0: now)."""
        self._refill()
        missing = 1.0 - self._tokens
        wait = 0.0 if missing <= _EPSILON else missing / self.rate.per_second
        sent, cap = self._sent, self.rate.cap
        if sent is not None and cap is not None and len(sent) == cap[0]:
            # the send ``n`` back must have left the platform's window before another goes
            oldest = sent[0]
            if not oldest.answered:
                wait = max(wait, _UNANSWERED_POLL)
            elif (window_wait := oldest.at + cap[1] - self._last) > _EPSILON:
                wait = max(wait, window_wait)
        return wait

    def try_take(self) -> Sent | None:
        """A token if one is there now: the send to report :meth:`answered` (capped buckets
        count it until then), else None."""
        if self.wait_time() > 0:
            return None
        self._tokens -= 1.0
        sent = Sent(self._last)
        if self._sent is not None:
            self._sent.append(sent)
        return sent

    def take(self) -> Sent:
        """Take a token that :meth:`wait_time` said is there."""
        sent = self.try_take()
        if sent is None:
            raise RuntimeError("token bucket is empty: wait first")
        return sent

    def answered(self, sent: Sent) -> None:
        """The platform answered ``sent`` (or the call failed): it arrived by now."""
        if not sent.answered:
            sent.at = max(sent.at, self._clock())
            sent.answered = True

    @property
    def idle(self) -> bool:
        """Full again: forgetting this bucket changes nothing."""
        self._refill()
        cap = self.rate.cap
        if self._sent and cap is not None:
            newest = self._sent[-1]
            if not newest.answered or self._last < newest.at + cap[1]:
                return False
        return self._tokens >= self.rate.burst - _EPSILON


def _oldest_first(row: ClaimedMessage) -> tuple[dt.datetime, int]:
    return row.next_attempt_at, row.id


def backoff_delay(
    attempt: int,
    *,
    base: float = 2.0,
    cap: float = 600.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Exponential backoff with full jitter: uniform in ``[0, min(cap, base * 2**(attempt-1))]``
    for ``attempt`` = 1, 2, ... (the number of failures so far)."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 62))
    return rand() * ceiling


# --- the store port -------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class BotKey:
    """One bot: a channel at one school (one Telegram token / Zalo OA per school)."""

    channel: str
    school_id: str

    def __str__(self) -> str:
        return f"{self.school_id}/{self.channel}"


@dataclass(frozen=True, slots=True, kw_only=True)
class BotLease:
    bot: BotKey
    lease_until: dt.datetime
    paused_until: dt.datetime | None  # the platform asked this bot to wait (429)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimedMessage:
    """One outbox row this worker has leased until ``lease_until``."""

    id: int
    recipient: ConversationKey
    kind: str
    text: str
    buttons: tuple[tuple[Button, ...], ...]
    dedupe_key: str
    urgent: bool
    attempts: int
    next_attempt_at: dt.datetime
    expires_at: dt.datetime | None
    lease_until: dt.datetime
    in_doubt: bool = False  # a worker died while sending it: this may be a repeat
    locale: str = "vi"  # the recipient's language when it was queued
    attachment: Attachment | None = None  # relayed by reference (issue 17)

    @property
    def bot(self) -> BotKey:
        return BotKey(self.recipient.channel, self.recipient.school_id)

    @property
    def idempotency_key(self) -> str:
        return f"outbox-{self.id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SchoolQueueStats:
    school_id: str
    pending: int
    sent: int
    failed: int
    expired: int
    oldest_pending_seconds: float  # age of the oldest pending row; 0.0 when none
    in_doubt: int = 0  # rows whose worker died while sending them: possible repeats


class OutboxStore(Protocol):
    """The relay's view of the outbox table. Each method is its own committed transaction.

    Row methods that take ``worker_id`` change a row only while ``leased_by == worker_id`` and
    it is still ``pending``, and return whether they did: a worker that lost its lease to
    another can never overwrite that worker's outcome.
    """

    async def due_bots(
        self, now: dt.datetime, *, channels: Collection[str], limit: int = 1000
    ) -> list[BotKey]:
        """Bots of these channels with pending rows due at ``now``."""
        ...

    async def acquire_bots(
        self,
        bots: Sequence[BotKey],
        *,
        worker_id: str,
        now: dt.datetime,
        until: dt.datetime,
    ) -> dict[BotKey, BotLease]:
        """Take (if free or lapsed) or renew (if ours) each bot's sender lease until ``until``;
        the leases held afterwards."""
        ...

    async def release_bots(self, bots: Sequence[BotKey], *, worker_id: str) -> None: ...

    async def pause_bot(self, bot: BotKey, *, until: dt.datetime) -> None:
        """Nobody sends for ``bot`` before ``until`` (kept if a later pause is stored)."""
        ...

    async def school_timezone(self, school_id: str) -> str | None: ...

    async def claim(
        self,
        bot: BotKey,
        *,
        worker_id: str,
        now: dt.datetime,
        lease_until: dt.datetime,
        limit: int,
        exclude: Collection[int] = (),
    ) -> list[ClaimedMessage]:
        """Lease up to ``limit`` due, pending, unleased (or lapsed) rows of ``bot``, oldest
        ``next_attempt_at`` first, skipping ids in ``exclude``."""
        ...

    async def mark_sending(self, message_id: int, *, worker_id: str, now: dt.datetime) -> bool:
        """Committed just before the platform call: from now until the outcome is marked, the
        row is in flight and no worker claims it."""
        ...

    async def mark_sent(self, message_id: int, *, worker_id: str, now: dt.datetime) -> bool: ...

    async def settle_in_doubt(self, now: dt.datetime) -> int:
        """Rows still in flight whose lease lapsed (their worker died mid-call) become
        claimable again, flagged ``in_doubt``; how many."""
        ...

    async def reschedule(
        self,
        message_id: int,
        *,
        worker_id: str,
        at: dt.datetime,
        error: str,
        count_attempt: bool,
    ) -> bool:
        """Due again at ``at``, lease cleared; ``attempts + 1`` if ``count_attempt``."""
        ...

    async def release(
        self, message_ids: Sequence[int], *, worker_id: str, at: dt.datetime | None = None
    ) -> int:
        """Give rows back unchanged (not an attempt); due at ``at`` if given."""
        ...

    async def mark_failed(
        self,
        message_id: int,
        *,
        worker_id: str,
        now: dt.datetime,
        reason: str,
        unreachable: bool,
    ) -> bool:
        """Failed with ``reason``; if ``unreachable``, the recipient's chat links (school,
        channel, user) become inactive with ``unreachable_at = now``, in the same transaction."""
        ...

    async def mark_expired(self, message_id: int, *, worker_id: str, now: dt.datetime) -> bool: ...

    async def expire_due(self, now: dt.datetime) -> int:
        """Pending rows past ``expires_at`` that nobody holds become expired."""
        ...

    async def stats(self, now: dt.datetime) -> list[SchoolQueueStats]: ...


@runtime_checkable
class IdempotentSender(Protocol):
    """A sender whose transport can drop repeats: the relay passes a key that is the same for
    every delivery attempt of one outbox row, from any worker."""

    async def deliver_idempotent(
        self,
        idempotency_key: str,
        recipient: ConversationKey,
        text: str,
        buttons: tuple[tuple[Button, ...], ...],
    ) -> None: ...


@runtime_checkable
class AttachmentSender(Protocol):
    """A sender that can pass on a photo or file a user sent, by the platform's reference
    (Telegram: the same bot's ``file_id``), with the text as its caption."""

    async def deliver_attachment(
        self,
        recipient: ConversationKey,
        attachment: Attachment,
        text: str,
        buttons: tuple[tuple[Button, ...], ...],
    ) -> None: ...


# --- the relay ------------------------------------------------------------------------


def default_worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


def _clip(text: str) -> str:
    return text if len(text) <= REASON_MAX else text[: REASON_MAX - 1] + "…"


@dataclass(frozen=True, slots=True)
class SchoolHours:
    """A school's clock as the relay needs it: its time zone and quiet hours (local)."""

    timezone: str
    quiet_start: dt.time
    quiet_end: dt.time


@dataclass(slots=True)
class _BotState:
    lease: BotLease
    timezone: str = DEFAULT_TIMEZONE
    quiet: tuple[dt.time, dt.time] | None = None
    paused_until: dt.datetime | None = None
    skip: dict[int, None] = field(default_factory=dict)  # rows ``accept`` refused (ordered set)


@dataclass(slots=True)
class _Buckets:
    bot: TokenBucket | None
    chats: dict[str, TokenBucket] = field(default_factory=dict)


# Store calls a store may declare it batches itself (``coalesced_marks``): every row marked at
# one moment shares one transaction, one at a time, so gating them would only split the
# groups. With 10 bots the gate of 8 held each commit to 8 rows (bench `relay`).
_COALESCED = frozenset({"mark_sending", "mark_sent"})


class _Gated:
    """An :class:`OutboxStore` with at most ``limit`` of its calls running at once (but the
    marks a store coalesces itself, see ``_COALESCED``)."""

    def __init__(self, store: OutboxStore, limit: int) -> None:
        self._inner = store
        self._slots = asyncio.Semaphore(limit)
        self._free = _COALESCED if getattr(store, "coalesced_marks", False) else frozenset()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)
        if name in self._free:
            return method

        async def gated(*args: Any, **kwargs: Any) -> Any:
            async with self._slots:
                return await method(*args, **kwargs)

        return gated


class OutboxRelay:
    """Drains the outbox for the bots this worker can send for (``senders`` by channel)."""

    def __init__(
        self,
        store: OutboxStore,
        senders: Mapping[str, OutboundSender],
        clock: Clock,
        *,
        worker_id: str | None = None,
        batch_size: int = 50,
        lease: dt.timedelta = dt.timedelta(seconds=60),
        limits: Mapping[str, ChannelLimits] = DEFAULT_LIMITS,
        accept: Callable[[ConversationKey], bool] | None = None,
        max_attempts: int = 8,
        backoff_base: float = 2.0,
        backoff_cap: float = 600.0,
        quiet_hours: tuple[dt.time, dt.time] | None = (DEFAULT_QUIET_START, DEFAULT_QUIET_END),
        schools: Mapping[str, SchoolHours] | None = None,
        max_bots: int | None = None,
        bots_per_pass: int = 8,
        concurrency: int = 8,  # store calls at once: with the router's turns, within the pool
        in_flight: int = 4,  # of them, rows of one bot (their commits overlap; calls do not)
        poll_interval: float = 1.0,
        max_wait: float = 2.0,
        resent_note: Callable[[str], str] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if batch_size < 1 or max_attempts < 1 or concurrency < 1 or bots_per_pass < 1:
            raise ValueError("batch_size, max_attempts, concurrency, bots_per_pass must be >= 1")
        if lease <= dt.timedelta(0):
            raise ValueError("lease must be positive")
        # every store call is one short transaction: ``concurrency`` of them at once is the
        # relay's share of the connection pool (rows waiting for their turn hold none)
        self._store: OutboxStore = _Gated(store, concurrency)
        self._senders = dict(senders)
        self._clock = clock
        self.worker_id = (worker_id or default_worker_id())[:64]
        self._batch = batch_size
        self._lease = lease
        self._margin = min(lease / 4, dt.timedelta(seconds=15))
        self._limits = limits
        self._accept = accept
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._quiet = quiet_hours  # for schools not in ``schools``; None: no quiet hours
        self._schools = dict(schools or {})
        self._max_bots = max_bots
        self._bots_per_pass = bots_per_pass
        self._in_flight = max(1, in_flight)  # rows of one bot on their way at once
        self._send_locks: dict[BotKey, asyncio.Lock] = {}
        self._poll = poll_interval
        self._max_wait = max_wait
        self._resent_note = resent_note
        self._monotonic = monotonic
        self._sleep = sleep
        self._rng = rng or random.Random()  # jitter, not secrets
        self._owned: dict[BotKey, _BotState] = {}
        self._buckets: dict[BotKey, _Buckets] = {}
        self._wake = asyncio.Event()
        self._next_expiry: dt.datetime | None = None
        self._bots_waiting = False  # due bots this worker has room for but did not take yet
        self._stop: asyncio.Event | None = None  # :meth:`run`'s
        self._given_up: set[BotKey] = set()  # this pass: bots with rows only others want
        self._dry: set[BotKey] = set()  # this pass: bots whose pass sent nothing
        # a pass may last this long: its bots' leases, renewed between passes, must outlast it
        self._pass_seconds = min(_PASS_SECONDS, (self._lease - self._margin).total_seconds() / 2)

    # -- public ------------------------------------------------------------------------

    @property
    def owned_bots(self) -> list[BotKey]:
        return sorted(self._owned)

    def wake(self) -> None:
        """Skip the idle wait: something was just enqueued."""
        self._wake.set()

    async def run_once(self) -> int:
        """One pass. Returns how many rows reached an outcome (sent, failed, expired or
        rescheduled after an attempt); rows only put back for later do not count."""
        now = self._clock.now()
        handled = 0
        if self._next_expiry is None or now >= self._next_expiry:  # also on the first pass
            settled = await self._store.settle_in_doubt(now)
            if settled:
                log.warning(
                    "outbox: %d message(s) were in flight when a worker stopped; "
                    "they go out again, labelled as a possible repeat",
                    settled,
                )
            handled += await self._store.expire_due(now)
            self._next_expiry = now + min(self._lease, dt.timedelta(seconds=5))
        self._given_up.clear()
        self._dry.clear()
        await self._refresh_bots(now)
        until = self._monotonic() + self._pass_seconds
        passes = {asyncio.create_task(self._bot_pass(bot, until)): bot for bot in self._owned}
        error: BaseException | None = None
        joining = True  # until a round takes on none (other workers hold the rest)
        try:
            while passes:
                idle = self._restartable(passes.values())  # owned bots whose pass has ended
                looking = (idle or (self._bots_waiting and joining)) and not self._stopping()
                done, _ = await asyncio.wait(
                    passes,
                    timeout=_JOIN_EVERY if looking and self._monotonic() < until else None,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                for task in done:
                    bot = passes.pop(task)
                    failed = task.exception()
                    if failed is not None:
                        log.warning(
                            "outbox: pass for bot %s failed: %s", bot, type(failed).__name__
                        )
                        error = error or failed
                    else:
                        handled += task.result()
                        if not task.result():  # paused, or nothing it could send: not again
                            self._dry.add(bot)  # in this pass (each start makes progress)
                if error is not None or self._stopping() or self._monotonic() >= until:
                    continue  # no new passes: let the running ones end
                running = set(passes.values())
                if self._restartable(running) or (self._bots_waiting and joining):
                    # bots with rows due since their pass ended, and due bots this worker has
                    # room for, send now rather than after the slowest bot's pass
                    more, joined = await self._rejoin(self._clock.now(), running, joining)
                    joining = joining and joined
                    for bot in more:
                        passes[asyncio.create_task(self._bot_pass(bot, until))] = bot
        finally:
            for task in passes:
                task.cancel()
            if passes:
                await asyncio.wait(list(passes))
        if error is not None:
            raise error
        return handled

    def _stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    async def run(self, stop: asyncio.Event) -> None:
        """Pass after pass until ``stop`` is set; never dies of an exception (it is logged
        without personal data and the loop backs off). Once ``stop`` is set no new row is
        started: the calls on their way finish, the rest goes back. Gives the bots back on
        the way out."""
        failures = 0
        self._stop = stop
        try:
            while not stop.is_set():
                try:
                    handled = await self.run_once()
                except Exception as exc:
                    failures += 1
                    delay = max(
                        0.5, backoff_delay(failures, base=1.0, cap=60.0, rand=self._rng.random)
                    )
                    log.warning(
                        "outbox: relay pass failed (%s), next try in %.1f s",
                        type(exc).__name__,
                        delay,
                    )
                else:
                    failures = 0
                    delay = 0.0 if handled else self._poll
                if delay > 0:
                    await self._idle(stop, delay)
                else:
                    await asyncio.sleep(0)
        finally:
            await self.release_all()

    async def release_all(self) -> None:
        """Give back every bot lease this worker holds (best effort)."""
        bots = list(self._owned)
        self._owned.clear()
        if bots:
            try:
                await self._store.release_bots(bots, worker_id=self.worker_id)
            except Exception as exc:
                log.warning("outbox: could not release bot leases: %s", type(exc).__name__)

    # -- bots --------------------------------------------------------------------------

    async def _idle(self, stop: asyncio.Event, delay: float) -> None:
        waiters = {
            asyncio.ensure_future(stop.wait()),
            asyncio.ensure_future(self._wake.wait()),
        }
        try:
            await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            self._wake.clear()

    async def _refresh_bots(self, now: dt.datetime) -> None:
        due = await self._store.due_bots(now, channels=list(self._senders))
        due_set = set(due)
        drop = [bot for bot in self._owned if bot not in due_set]
        keep = [bot for bot in self._owned if bot in due_set]
        new = self._newcomers(due, owned=len(keep))
        if drop:
            for bot in drop:
                del self._owned[bot]
            await self._store.release_bots(drop, worker_id=self.worker_id)
        want = keep + new
        held = (
            await self._store.acquire_bots(
                want, worker_id=self.worker_id, now=now, until=now + self._lease
            )
            if want
            else {}
        )
        for bot in keep:
            if bot not in held:
                log.info("outbox: lost the sender lease of bot %s", bot)
                del self._owned[bot]
        for bot, lease in held.items():
            await self._adopt(bot, lease)

    async def _rejoin(
        self, now: dt.datetime, running: Collection[BotKey], joining: bool
    ) -> tuple[list[BotKey], bool]:
        """Mid-pass: the owned bots whose pass has ended and that have rows due again, and
        (while ``joining``) ``bots_per_pass`` more of the due bots taken on. Also whether any
        was taken on (none: other workers hold the rest)."""
        due = await self._store.due_bots(now, channels=list(self._senders))
        idle = set(self._restartable(running))
        again = [bot for bot in due if bot in idle]
        if not joining:
            return again, False
        new = self._newcomers(due, owned=len(self._owned))
        if not new:
            return again, False
        held = await self._store.acquire_bots(
            new, worker_id=self.worker_id, now=now, until=now + self._lease
        )
        for bot, lease in held.items():
            await self._adopt(bot, lease)
        return again + list(held), bool(held)

    def _restartable(self, running: Collection[BotKey]) -> list[BotKey]:
        """Owned bots whose pass has ended after sending (not one whose pass sent nothing:
        paused, or its due rows are another worker's or in doubt)."""
        return [bot for bot in self._owned if bot not in running and bot not in self._dry]

    def _newcomers(self, due: Sequence[BotKey], *, owned: int) -> list[BotKey]:
        """The due bots to try to take on now (in random order: two workers starting
        together split them); notes whether more are left waiting."""
        room = len(due) if self._max_bots is None else max(0, self._max_bots - owned)
        new = [bot for bot in due if bot not in self._owned and bot not in self._given_up]
        self._rng.shuffle(new)
        self._bots_waiting = len(new) > min(room, self._bots_per_pass)
        return new[: min(room, self._bots_per_pass)]

    async def _adopt(self, bot: BotKey, lease: BotLease) -> None:
        state = self._owned.get(bot)
        if state is None:
            hours = self._schools.get(bot.school_id)
            if hours is not None:  # the school's own profile: never another school's
                state = _BotState(
                    lease=lease,
                    timezone=hours.timezone,
                    quiet=None if self._quiet is None else (hours.quiet_start, hours.quiet_end),
                )
            else:
                tz = await self._store.school_timezone(bot.school_id) or DEFAULT_TIMEZONE
                state = _BotState(lease=lease, timezone=tz, quiet=self._quiet)
            self._owned[bot] = state
        state.lease = lease
        if lease.paused_until is not None and (
            state.paused_until is None or lease.paused_until > state.paused_until
        ):
            state.paused_until = lease.paused_until

    def _bot_usable(self, state: _BotState, now: dt.datetime) -> bool:
        if state.paused_until is not None and now < state.paused_until:
            return False
        return state.lease.lease_until - now >= self._margin

    def _buckets_of(self, bot: BotKey) -> _Buckets:
        buckets = self._buckets.get(bot)
        if buckets is None:
            rate = self._limits_of(bot).per_bot
            buckets = _Buckets(
                bot=None if rate is None else TokenBucket(rate, clock=self._monotonic)
            )
            self._buckets[bot] = buckets
        return buckets

    def _limits_of(self, bot: BotKey) -> ChannelLimits:
        return self._limits.get(bot.channel, UNLIMITED)

    def _chat_bucket(self, bot: BotKey, chat_id: str) -> TokenBucket | None:
        buckets = self._buckets_of(bot)
        bucket = buckets.chats.get(chat_id)
        if bucket is None:
            rate = self._limits_of(bot).for_chat(chat_id)
            if rate is None:
                return None
            if len(buckets.chats) >= 10_000:  # forget chats whose bucket is full again
                for key in [k for k, b in buckets.chats.items() if b.idle]:
                    del buckets.chats[key]
            bucket = buckets.chats[chat_id] = TokenBucket(rate, clock=self._monotonic)
        return bucket

    async def _bot_pass(self, bot: BotKey, deadline: float) -> int:
        """Claim and send ``bot``'s due rows until it has none, or ``deadline`` (monotonic),
        when the pass ends. Bots send side by side; ``in_flight`` bounds a bot's rows on their
        way and ``concurrency`` the database calls, not the bots."""
        state = self._owned.get(bot)
        if state is None or not self._bot_usable(state, self._clock.now()):
            return 0
        rows = await self._claim(bot, state, first=True)
        if not rows:
            return 0
        return await self._drain(bot, state, rows, deadline=deadline)

    async def _claim(
        self, bot: BotKey, state: _BotState, *, first: bool = False
    ) -> list[ClaimedMessage]:
        """A batch of ``bot``'s due rows, oldest first, without the rows ``accept`` refuses
        (given back, and skipped from now on). The ``first`` claim of a pass finding none for
        us at all gives the bot back too, so that a worker that wants these rows can have it
        (a later one leaves it: rows of the bot are still on their way)."""
        now = self._clock.now()
        rows = await self._store.claim(
            bot,
            worker_id=self.worker_id,
            now=now,
            lease_until=now + self._lease,
            limit=self._batch,
            exclude=list(state.skip),
        )
        if self._accept is not None:
            refused = [r for r in rows if not self._accept(r.recipient)]
            if refused:
                rows = [r for r in rows if self._accept(r.recipient)]
                await self._store.release([r.id for r in refused], worker_id=self.worker_id)
                for r in refused:
                    state.skip[r.id] = None
                while len(state.skip) > 1000:
                    del state.skip[next(iter(state.skip))]
            if not rows and first and self._owned.get(bot) is state:
                del self._owned[bot]
                self._given_up.add(bot)  # not taken on again before the next pass
                await self._store.release_bots([bot], worker_id=self.worker_id)
        return rows

    # -- rows --------------------------------------------------------------------------

    async def _drain(
        self, bot: BotKey, state: _BotState, rows: list[ClaimedMessage], *, deadline: float
    ) -> int:
        """Send ``rows`` (one bot's) and the batches claimed after them, keeping each chat's
        order.

        Up to ``in_flight`` rows of the bot are on their way at once (each one's commits and
        call overlap the next ones'), never two of one chat; the calls themselves leave one by
        one in the bot's token-bucket order (:meth:`_send_turn`). When half the rows are gone
        the next batch is claimed while these go on (until ``deadline``, on the monotonic
        clock), so the bot never stands idle between batches."""
        handled = 0
        queue = sorted(await self._defer_quiet(state, rows), key=_oldest_first)
        lease_floor = min((r.lease_until for r in queue), default=None)
        flying: dict[asyncio.Task[tuple[int, bool]], str] = {}
        refill: asyncio.Task[list[ClaimedMessage]] | None = None
        more_due = True  # the last claim found rows: there may be more
        stopped = False

        def waitables() -> list[asyncio.Future[Any]]:
            found: list[asyncio.Future[Any]] = list(flying)
            if refill is not None:
                found.append(refill)
            return found

        async def settle(block: bool, at_most: float | None = None) -> None:
            nonlocal handled, stopped, refill, queue, lease_floor, more_due
            if block and (pending := waitables()):
                await asyncio.wait(pending, timeout=at_most, return_when=asyncio.FIRST_COMPLETED)
            for task in [t for t in flying if t.done()]:
                del flying[task]
                outcome, go_on = task.result()
                handled += outcome
                stopped = stopped or not go_on
            if refill is not None and refill.done():
                claimed, refill = refill.result(), None
                more_due = bool(claimed)
                more = await self._defer_quiet(state, claimed)
                if more:
                    queue = sorted(queue + more, key=_oldest_first)
                    floor = min(r.lease_until for r in more)
                    lease_floor = floor if lease_floor is None else min(lease_floor, floor)

        try:
            while (queue or refill is not None) and not stopped:
                await settle(block=len(flying) >= self._in_flight)
                if stopped:
                    break
                if self._stopping():  # shutting down: finish the calls made, give the rest back
                    break
                if (
                    refill is None
                    and more_due
                    and len(queue) <= self._batch // 2
                    and self._monotonic() < deadline
                    and self._owned.get(bot) is state
                ):
                    refill = asyncio.create_task(self._claim(bot, state))
                if not queue:  # the next batch is on its way
                    await settle(block=True)
                    continue
                now = self._clock.now()
                if not self._bot_usable(state, now) or (
                    lease_floor is not None and lease_floor - now < self._margin
                ):
                    break
                index, wait, chat_waits = self._next_ready(bot, queue, busy=set(flying.values()))
                if index < 0:  # every waiting row's chat has a row on its way
                    await settle(block=True)
                    continue
                first_chat = queue[index].recipient.chat_id
                if wait > 0 and chat_waits.get(first_chat, 0.0) > self._bot_wait(bot):
                    # only chat limits hold these rows (the bot could send now): give them
                    # back, due when their chat may receive, and go on with other rows
                    await self._give_back(queue, now=now, chat_waits=chat_waits)
                    queue = []
                    continue
                if wait > 0:
                    assert lease_floor is not None  # the queue has rows
                    lease_left = (lease_floor - now - self._margin).total_seconds()
                    if wait > self._max_wait or wait > lease_left:
                        await self._give_back(queue, now=now, chat_waits=chat_waits)
                        queue = []
                        break
                    if flying or refill is not None:
                        await settle(block=True, at_most=max(wait, 0.001))
                    else:
                        await self._sleep(max(wait, 0.001))
                    continue
                message = queue.pop(index)
                chat = message.recipient.chat_id
                flying[asyncio.create_task(self._handle(bot, state, message))] = chat
                if self._in_flight == 1:
                    await settle(block=True)
            while flying:
                await settle(block=True)
            if refill is not None:  # claimed after the pass ended: give those back too
                queue += await refill
                refill = None
            await self._give_back(queue)
            queue = []
        except BaseException:
            for task in flying:
                task.cancel()
            if refill is not None:
                refill.cancel()
            pending = waitables()
            if pending:
                await asyncio.wait(pending)
            if refill is not None and not refill.cancelled() and refill.exception() is None:
                queue += refill.result()
            if queue:  # rows not yet started: give them back now rather than at lease lapse
                try:
                    await self._give_back(queue)
                except Exception as exc:
                    log.debug("outbox: could not give rows back: %s", type(exc).__name__)
            raise
        return handled

    async def _send_turn(
        self, bot: BotKey, state: _BotState, chat: str
    ) -> list[tuple[TokenBucket, Sent]] | None:
        """Wait for the bot's turn to call the platform and take the tokens: calls leave one
        by one, spaced by the buckets. The sends taken, to report answered when the call
        returns; None when the bot was paused (429) meanwhile."""
        lock = self._send_locks.setdefault(bot, asyncio.Lock())
        async with lock:
            while True:
                if not self._bot_usable(state, self._clock.now()):
                    return None
                wait = self._bot_wait(bot)
                chat_bucket = self._chat_bucket(bot, chat)
                if chat_bucket is not None:
                    wait = max(wait, chat_bucket.wait_time())
                if wait <= 0:
                    break
                await self._sleep(max(wait, 0.001))
            buckets = self._buckets_of(bot)
            taken: list[tuple[TokenBucket, Sent]] = []
            for bucket in (buckets.bot, chat_bucket):
                if bucket is not None:
                    taken.append((bucket, bucket.take()))
            return taken

    async def _defer_quiet(
        self, state: _BotState, queue: list[ClaimedMessage]
    ) -> list[ClaimedMessage]:
        """In the school's quiet hours, give every non-urgent, unexpired row back at once,
        due when the quiet hours end (one statement, not one per row)."""
        if state.quiet is None:
            return queue
        now = self._clock.now()
        start, end = state.quiet
        at = next_send_time(now, tz=state.timezone, quiet_start=start, quiet_end=end)
        if at <= now:
            return queue
        later = [m for m in queue if not m.urgent and (m.expires_at is None or m.expires_at > now)]
        if not later:
            return queue
        await self._store.release([m.id for m in later], worker_id=self.worker_id, at=at)
        deferred = {m.id for m in later}
        return [m for m in queue if m.id not in deferred]

    def _next_ready(
        self, bot: BotKey, queue: Sequence[ClaimedMessage], *, busy: Collection[str] = ()
    ) -> tuple[int, float, dict[str, float]]:
        """The first row (in order) whose chat may receive now, only the first row of each
        chat being a candidate and none of a ``busy`` chat (a row on its way); else the
        shortest wait (index -1 when every row's chat is busy). Also each blocked chat's
        wait."""
        seen: set[str] = set(busy)
        best, best_wait = -1, float("inf")
        chat_waits: dict[str, float] = {}
        for index, message in enumerate(queue):
            chat = message.recipient.chat_id
            if chat in seen:
                continue
            seen.add(chat)
            bucket = self._chat_bucket(bot, chat)
            wait = 0.0 if bucket is None else bucket.wait_time()
            if wait <= 0:
                best, best_wait = index, 0.0
                break
            chat_waits[chat] = wait
            if wait < best_wait:
                best, best_wait = index, wait
        return best, max(best_wait, self._bot_wait(bot)), chat_waits

    def _bot_wait(self, bot: BotKey) -> float:
        bucket = self._buckets_of(bot).bot
        return 0.0 if bucket is None else bucket.wait_time()

    async def _give_back(
        self,
        queue: Sequence[ClaimedMessage],
        *,
        now: dt.datetime | None = None,
        chat_waits: Mapping[str, float] | None = None,
    ) -> None:
        """Release rows not sent: unchanged, or (chats still rate-limited) due when the chat
        may receive again, so the next pass does not claim them only to wait."""
        if not queue:
            return
        if now is None or not chat_waits:
            await self._store.release([m.id for m in queue], worker_id=self.worker_id)
            return
        by_time: dict[dt.datetime | None, list[int]] = {}
        for message in queue:
            wait = chat_waits.get(message.recipient.chat_id)
            at = None if wait is None else now + dt.timedelta(seconds=wait)
            if at is not None and at <= message.next_attempt_at:
                at = None
            by_time.setdefault(at, []).append(message.id)
        for at, ids in by_time.items():
            await self._store.release(ids, worker_id=self.worker_id, at=at)

    async def _handle(
        self, bot: BotKey, state: _BotState, message: ClaimedMessage
    ) -> tuple[int, bool]:
        """Deliver one row and commit its outcome. Returns (rows with an outcome, whether to
        go on with this bot's batch)."""
        now = self._clock.now()
        wid = self.worker_id
        if message.expires_at is not None and message.expires_at <= now:
            await self._store.mark_expired(message.id, worker_id=wid, now=now)
            return 1, True
        if state.quiet is not None and not message.urgent:
            start, end = state.quiet
            at = next_send_time(now, tz=state.timezone, quiet_start=start, quiet_end=end)
            if at > now:
                await self._store.release([message.id], worker_id=wid, at=at)
                return 0, True
        sender = self._senders[bot.channel]
        if not await self._store.mark_sending(message.id, worker_id=wid, now=now):
            log.info("outbox: row %d passed to another worker before sending", message.id)
            return 0, True
        # The tokens are taken after that commit, just before the call, in the bot's one line
        # of calls: a slow commit must not bunch two calls closer together at the platform
        # than the buckets spaced them.
        taken = await self._send_turn(bot, state, message.recipient.chat_id)
        if taken is None:
            until = state.paused_until or self._clock.now()
            await self._store.reschedule(
                message.id, worker_id=wid, at=until, error="bot paused", count_attempt=False
            )
            return 0, False
        try:
            try:
                await self._deliver(sender, message)
            finally:  # it reached the platform by now, if at all: the caps count from here
                for bucket, sent in taken:
                    bucket.answered(sent)
        except DeliveryRetryLater as exc:
            after = self._clock.now()
            if exc.after_seconds is not None:
                until = after + dt.timedelta(seconds=max(0.0, exc.after_seconds))
                if state.paused_until is None or until > state.paused_until:
                    state.paused_until = until
                log.info(
                    "outbox: bot %s rate-limited for %.1f s (row %d)",
                    bot,
                    exc.after_seconds,
                    message.id,
                )
                await self._store.pause_bot(bot, until=until)
                await self._store.reschedule(
                    message.id,
                    worker_id=wid,
                    at=until,
                    error=_clip(f"retry after {exc.after_seconds:g} s: {exc.reason}"),
                    count_attempt=False,
                )
                return 1, False
            await self._retry_or_fail(message, exc.reason, after)
            return 1, True
        except DeliveryFailedPermanently as exc:
            log.info("outbox: row %d failed permanently (bot %s)", message.id, bot)
            await self._store.mark_failed(
                message.id,
                worker_id=wid,
                now=self._clock.now(),
                reason=_clip(exc.reason or "failed permanently"),
                unreachable=exc.unreachable,
            )
            return 1, True
        except Exception as exc:  # a sender bug or an untranslated network error
            await self._retry_or_fail(message, type(exc).__name__, self._clock.now())
            return 1, True
        if not await self._store.mark_sent(message.id, worker_id=wid, now=self._clock.now()):
            log.warning(
                "outbox: row %d was sent after its lease passed to another worker", message.id
            )
        return 1, True

    async def _deliver(self, sender: OutboundSender, message: ClaimedMessage) -> None:
        if message.attachment is not None and isinstance(sender, AttachmentSender):
            await sender.deliver_attachment(
                message.recipient, message.attachment, self._text_of(message), message.buttons
            )
        elif isinstance(sender, IdempotentSender):  # the receiving side drops a repeat
            await sender.deliver_idempotent(
                message.idempotency_key, message.recipient, message.text, message.buttons
            )
        else:
            await sender.deliver(message.recipient, self._text_of(message), message.buttons)

    def _text_of(self, message: ClaimedMessage) -> str:
        if not message.in_doubt or self._resent_note is None:
            return message.text
        return f"{self._resent_note(message.locale)}\n{message.text}"

    async def _retry_or_fail(self, message: ClaimedMessage, reason: str, now: dt.datetime) -> None:
        attempts = message.attempts + 1
        if attempts >= self._max_attempts:
            log.info("outbox: row %d failed after %d attempts", message.id, attempts)
            await self._store.mark_failed(
                message.id,
                worker_id=self.worker_id,
                now=now,
                reason=_clip(f"gave up after {attempts} attempts: {reason}"),
                unreachable=False,
            )
            return
        delay = backoff_delay(
            attempts, base=self._backoff_base, cap=self._backoff_cap, rand=self._rng.random
        )
        log.info(
            "outbox: row %d will be retried in %.1f s (attempt %d)", message.id, delay, attempts
        )
        await self._store.reschedule(
            message.id,
            worker_id=self.worker_id,
            at=now + dt.timedelta(seconds=delay),
            error=_clip(reason),
            count_attempt=True,
        )
