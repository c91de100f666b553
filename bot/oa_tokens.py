"""Zalo OA OAuth tokens: kept in the database, refreshed before expiry, never spent twice.

Zalo's OA access token lives 25 h; the refresh token lives 3 months, is **single-use** and
rotates at every refresh (reference/zalo.md §2). Two workers refreshing with the same refresh
token would leave one of them (and then everyone) with a spent token, so:

1. the pair lives in one row (:class:`OaTokenStore`, table ``oa_token``), with a ``version``;
2. a worker that finds the access token within ``margin`` of expiry takes a short *refresh
   lease* with a conditional UPDATE (``WHERE version = <read> AND lease is free``); only the
   holder calls Zalo;
3. the holder stores the new pair (``version + 1``) before anything uses it; the others wait
   for the version to move and read the new access token;
4. a failed refresh releases the lease and bumps ``refresh_failures`` with the error
   (the operator's stats entry) and logs one clear line. A refused refresh token is terminal:
   the admin must consent again and set a new ``LIENLAC_ZALO_OA__REFRESH_TOKEN``, which
   replaces the stored pair at the next start (``seed_hash``).

In one process an ``asyncio.Lock`` makes it single-flight too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from bot.ports import Clock

log = logging.getLogger(__name__)

LEASE = dt.timedelta(seconds=60)  # longer than one OAuth call with its timeout
WAIT_STEP = 0.1  # seconds between reads while another worker refreshes


@dataclass(frozen=True, slots=True)
class OaTokenState:
    access_token: str
    refresh_token: str
    expires_at: dt.datetime | None
    version: int
    refresh_by: str | None
    refresh_lease_until: dt.datetime | None
    refresh_failures: int = 0
    last_error: str = ""


@dataclass(frozen=True, slots=True)
class NewTokens:
    access_token: str
    refresh_token: str
    expires_in: int  # seconds


class TokenRefreshFailed(Exception):
    """Zalo did not give a new pair. ``str(err)`` is safe to log (no token)."""


class OaTokenStore(Protocol):
    async def seed(
        self, school_id: str, *, app_id: str, refresh_token: str, seed_hash: str
    ) -> None:
        """Create the row from the configured refresh token if there is none, or replace the
        pair when ``seed_hash`` differs from the stored one (a new consent)."""
        ...

    async def load(self, school_id: str) -> OaTokenState | None: ...

    async def take_lease(
        self, school_id: str, *, version: int, worker: str, now: dt.datetime, until: dt.datetime
    ) -> bool:
        """Take the refresh lease if the row is still at ``version`` and the lease is free."""
        ...

    async def save(
        self, school_id: str, *, worker: str, tokens: NewTokens, now: dt.datetime
    ) -> bool:
        """Store the new pair (version + 1) and release the lease, if ``worker`` holds it."""
        ...

    async def record_failure(
        self, school_id: str, *, worker: str, error: str, now: dt.datetime
    ) -> None:
        """Count the failure, keep the error, release the lease."""
        ...


RefreshCall = Callable[[str], Awaitable[NewTokens]]


def seed_hash(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()


def worker_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(4)}"


class OaTokenManager:
    """Hands out a valid access token; refreshes it (once across workers) when needed."""

    def __init__(
        self,
        store: OaTokenStore,
        refresh: RefreshCall,
        *,
        school_id: str,
        clock: Clock,
        margin: dt.timedelta = dt.timedelta(hours=5),
        worker: str | None = None,
        wait_timeout: float = 30.0,
    ) -> None:
        self._store = store
        self._refresh = refresh
        self.school_id = school_id
        self._clock = clock
        self._margin = margin
        self.worker = worker or worker_id()
        self._wait_timeout = wait_timeout
        self._lock = asyncio.Lock()
        self._cached: OaTokenState | None = None  # the last pair read or written here
        self.refreshes = 0  # refreshes this worker made (tests, logs)

    async def seed(self, *, app_id: str, refresh_token: str) -> None:
        await self._store.seed(
            self.school_id,
            app_id=app_id,
            refresh_token=refresh_token,
            seed_hash=seed_hash(refresh_token),
        )

    def _fresh(self, state: OaTokenState) -> bool:
        return (
            bool(state.access_token)
            and state.expires_at is not None
            and state.expires_at - self._margin > self._clock.now()
        )

    async def access_token(self, *, force_refresh: bool = False) -> str:
        """A valid access token. ``force_refresh`` after Zalo said the token is invalid
        (-216/-220): refresh unless someone already did since ``stale`` was read."""
        cached = self._cached
        if cached is not None and self._fresh(cached) and not force_refresh:
            return cached.access_token  # no database read per message
        state = cached if force_refresh and cached is not None else await self._load()
        if self._fresh(state) and not force_refresh:
            self._cached = state
            return state.access_token
        async with self._lock:
            again = await self._load()
            if again.version != state.version and again.access_token and self._fresh(again):
                self._cached = again
                return again.access_token  # refreshed meanwhile (here or elsewhere)
            token = await self._refresh_from(again)
            self._cached = await self._load()
            return token

    async def _load(self) -> OaTokenState:
        state = await self._store.load(self.school_id)
        if state is None:
            raise TokenRefreshFailed("no OA token row: LIENLAC_ZALO_OA__REFRESH_TOKEN not seeded")
        return state

    async def _refresh_from(self, state: OaTokenState) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait_timeout
        while True:
            now = self._clock.now()
            if await self._store.take_lease(
                self.school_id,
                version=state.version,
                worker=self.worker,
                now=now,
                until=now + LEASE,
            ):
                return await self._do_refresh(state)
            # Another worker holds the lease (or already refreshed): wait for a new version.
            await asyncio.sleep(WAIT_STEP)
            fresh = await self._load()
            if fresh.version != state.version and fresh.access_token:
                return fresh.access_token
            if loop.time() > deadline:
                raise TokenRefreshFailed("another worker is still refreshing the OA token")
            state = fresh

    async def _do_refresh(self, state: OaTokenState) -> str:
        try:
            tokens = await self._refresh(state.refresh_token)
        except TokenRefreshFailed as err:
            await self._store.record_failure(
                self.school_id, worker=self.worker, error=str(err)[:200], now=self._clock.now()
            )
            log.error(
                "Zalo OA token refresh failed for school %s: %s. If it repeats, consent again "
                "in the Zalo app and set a new LIENLAC_ZALO_OA__REFRESH_TOKEN.",
                self.school_id,
                err,
            )
            raise
        except BaseException:
            await self._store.record_failure(
                self.school_id, worker=self.worker, error="interrupted", now=self._clock.now()
            )
            raise
        saved = await self._store.save(
            self.school_id, worker=self.worker, tokens=tokens, now=self._clock.now()
        )
        if not saved:  # our lease was taken over: the pair we hold is still the newest
            log.error("Zalo OA token refresh for school %s lost its lease", self.school_id)
        self.refreshes += 1
        log.info("Zalo OA access token refreshed for school %s", self.school_id)
        return tokens.access_token
