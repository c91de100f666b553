"""Per-user flood control at the edge of every turn (issue 13.8: 40 messages in a second got
40 replies). A token bucket per chat user: ``burst`` messages at once, then ``per_second``.
The first message over the limit gets one polite line (one per flood: the next only after
the bucket has filled up again); the rest are dropped without a database read, so other
chats stay fast while one floods. Buckets of users who went quiet
are forgotten, so memory stays bounded."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

MAX_USERS = 50_000  # buckets kept; the full (idle) ones are dropped first past this


class Verdict(enum.Enum):
    GO = "go"  # handle the message
    NOTICE = "notice"  # over the limit for the first time: say so once
    DROP = "drop"  # still over the limit: no answer


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float
    noticed: bool = False


class Throttle:
    def __init__(
        self,
        *,
        burst: int,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        max_users: int = MAX_USERS,
    ) -> None:
        self._burst = float(burst)
        self._rate = per_second
        self._clock = clock
        self._max = max_users
        self._buckets: dict[Hashable, _Bucket] = {}
        self.noticed = 0  # floods told to slow down, since the process started (/metrics)
        self.dropped = 0  # messages dropped without an answer, since the process started

    def check(self, user: Hashable) -> Verdict:
        now = self._clock()
        bucket = self._buckets.get(user)
        if bucket is None:
            if len(self._buckets) >= self._max:
                self._evict(now)
            bucket = self._buckets[user] = _Bucket(tokens=self._burst, at=now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        if bucket.tokens >= self._burst:
            bucket.noticed = False  # quiet long enough: a new flood gets a new notice
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return Verdict.GO
        if bucket.noticed:
            self.dropped += 1
            return Verdict.DROP
        bucket.noticed = True
        self.noticed += 1
        return Verdict.NOTICE

    def _evict(self, now: float) -> None:
        full = [
            user
            for user, b in self._buckets.items()
            if b.tokens + (now - b.at) * self._rate >= self._burst
        ]
        for user in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[user]
