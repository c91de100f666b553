"""Resilient JSON over HTTP for remote backends (``rest_json``, ``oneroster``).

Every failure leaves this module as a ``BackendError``:

====================================  ==============================================
what happened                         raised
====================================  ==============================================
timeout, connection error, 5xx, 429   ``BackendUnavailable`` (GETs retried first)
401 / 403 (after one token refresh)   ``BackendAuthFailed``
404                                   ``None`` is returned: missing data is not an error
other 4xx, a body that is not JSON    ``BackendUnavailable``
circuit open                          ``BackendUnavailable`` at once, no request made
====================================  ==============================================

Only idempotent reads (GET) are retried, with exponential backoff. After ``failures``
consecutive failed calls the circuit opens and calls fail fast for ``cooldown`` seconds; then
one trial call is let through (half-open) and its outcome closes or re-opens the circuit.

Logs name the endpoint, never the URL: paths carry student codes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import httpx

from bot.domain.errors import BackendAuthFailed, BackendError, BackendUnavailable
from bot.domain.text import clean
from bot.ports import Clock

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


class BreakerState(enum.Enum):
    CLOSED = "closed"  # calls go through; failures are counted
    OPEN = "open"  # calls fail fast until the cool-down has passed
    HALF_OPEN = "half_open"  # one trial call decides: closed again, or open again


class CircuitBreaker:
    def __init__(self, *, clock: Clock, failures: int = 5, cooldown_seconds: float = 30) -> None:
        self._clock = clock
        self._threshold = failures
        self._cooldown = dt.timedelta(seconds=cooldown_seconds)
        self._failures = 0
        self._opened_at: dt.datetime | None = None

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock.now() - self._opened_at >= self._cooldown:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def before_call(self) -> None:
        if self.state is BreakerState.OPEN:
            raise BackendUnavailable("circuit open: the school system failed repeatedly")

    def succeeded(self) -> None:
        self._failures = 0
        self._opened_at = None

    def failed(self) -> None:
        self._failures += 1
        if self.state is BreakerState.HALF_OPEN or self._failures >= self._threshold:
            if self._opened_at is None or self.state is BreakerState.HALF_OPEN:
                log.warning("school system circuit opened after %d failures", self._failures)
            self._opened_at = self._clock.now()


class Auth(Protocol):
    async def headers(self, client: httpx.AsyncClient) -> dict[str, str]: ...

    def invalidate(self) -> bool:
        """Forget a cached credential; True if a fresh one may succeed (worth one retry)."""
        ...


class NoAuth:
    async def headers(self, client: httpx.AsyncClient) -> dict[str, str]:
        return {}

    def invalidate(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class HeaderAuth:
    """A static header: ``Authorization: Bearer …`` or an API key header."""

    name: str
    value: str

    async def headers(self, client: httpx.AsyncClient) -> dict[str, str]:
        return {self.name: self.value}

    def invalidate(self) -> bool:
        return False


class OAuth2ClientCredentials:
    """OAuth 2.0 client credentials (RFC 6749 §4.4), the token cached until shortly before it
    expires and fetched again after a 401."""

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str,
        clock: Clock,
        timeout: float,
    ) -> None:
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._clock = clock
        self._timeout = timeout
        self._token: str | None = None
        self._expires_at: dt.datetime | None = None
        self._lock = asyncio.Lock()
        self.fetched = 0  # how many tokens were obtained (tests, metrics)

    async def headers(self, client: httpx.AsyncClient) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self._current(client)}"}

    def invalidate(self) -> bool:
        self._token = None
        return True

    async def _current(self, client: httpx.AsyncClient) -> str:
        async with self._lock:
            now = self._clock.now()
            if self._token is not None and (self._expires_at is None or now < self._expires_at):
                return self._token
            data = {"grant_type": "client_credentials"}
            if self._scope:
                data["scope"] = self._scope
            try:
                response = await client.post(
                    self._token_url,
                    data=data,
                    auth=(self._client_id, self._client_secret),
                    timeout=self._timeout,
                )
            except httpx.HTTPError as err:
                raise BackendUnavailable("token endpoint unreachable") from err
            if response.status_code in (400, 401, 403):
                raise BackendAuthFailed("client credentials refused")
            if response.status_code >= 300:
                raise BackendUnavailable(f"token endpoint answered {response.status_code}")
            try:
                body = response.json()
                token = str(body["access_token"])
                lifetime = float(body.get("expires_in", 3600))
            except (ValueError, KeyError, TypeError) as err:
                raise BackendUnavailable("token endpoint answered without a token") from err
            self._token = token
            # renew a little early so a request never carries a token about to expire
            self._expires_at = now + dt.timedelta(seconds=max(lifetime - 30, lifetime / 2))
            self.fetched += 1
            return token


def cleaned(value: Any) -> Any:
    """Every string of a school system's answer as :func:`bot.domain.text.clean` leaves it: a
    name or a notice from the QLHS reaches parents and the database without control or
    bidirectional-override characters, like text typed in a chat (issue 13.7)."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, list):
        return [cleaned(v) for v in value]
    if isinstance(value, dict):
        return {k: cleaned(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, slots=True)
class JsonResponse:
    body: Any
    headers: httpx.Headers


class JsonHttp:
    """GET/POST JSON against one base URL with auth, timeouts, retries and a circuit breaker."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        auth: Auth,
        breaker: CircuitBreaker,
        timeout: float = 10.0,
        retries: int = 2,
        backoff_seconds: float = 0.2,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self._auth = auth
        self.breaker = breaker
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff_seconds
        self._sleep = sleep

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self._base}/{path.lstrip('/')}"

    async def get(
        self, path: str, *, endpoint: str, params: dict[str, str] | None = None
    ) -> JsonResponse | None:
        """The decoded body, or None on 404. Retried on timeouts, connection errors and 5xx."""
        attempt = 0
        while True:
            try:
                return await self._call("GET", path, endpoint=endpoint, params=params)
            except _Retryable as err:
                if attempt >= self._retries:
                    raise BackendUnavailable(f"{endpoint}: {err.reason}") from err.__cause__
                await self._sleep(self._backoff * (2**attempt))
                attempt += 1

    async def post(self, path: str, *, endpoint: str, payload: Any) -> JsonResponse | None:
        """Never retried: a write may have happened even when the answer was lost."""
        try:
            return await self._call("POST", path, endpoint=endpoint, payload=payload)
        except _Retryable as err:
            raise BackendUnavailable(f"{endpoint}: {err.reason}") from err.__cause__

    async def _call(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        params: dict[str, str] | None = None,
        payload: Any = None,
    ) -> JsonResponse | None:
        self.breaker.before_call()
        try:
            result = await self._exchange(method, path, params=params, payload=payload)
        except _Retryable as err:
            self.breaker.failed()
            log.warning("school system %s %s failed: %s", method, endpoint, err.reason)
            raise
        except BackendAuthFailed:
            self.breaker.failed()
            log.warning("school system refused our credentials on %s", endpoint)
            raise
        except BackendError:
            self.breaker.failed()
            log.warning("school system %s %s gave an unusable answer", method, endpoint)
            raise
        self.breaker.succeeded()
        return result

    async def _exchange(
        self, method: str, path: str, *, params: dict[str, str] | None, payload: Any
    ) -> JsonResponse | None:
        refreshed = False
        while True:
            headers = {"Accept": "application/json", **await self._auth.headers(self._client)}
            try:
                response = await self._client.request(
                    method,
                    self.url(path),
                    params=params,
                    json=payload,
                    headers=headers,
                    timeout=self._timeout,
                )
            except httpx.TimeoutException as err:
                raise _Retryable("timed out") from err
            except httpx.HTTPError as err:
                raise _Retryable(type(err).__name__) from err
            status = response.status_code
            if status in (401, 403):
                if not refreshed and self._auth.invalidate():
                    refreshed = True
                    continue
                raise BackendAuthFailed(f"answered {status}")
            if status == 404:
                return None
            if status == 429 or status >= 500:
                raise _Retryable(f"answered {status}")
            if status >= 400:
                raise BackendUnavailable(f"answered {status}")
            if status == 204 or not response.content:
                return JsonResponse(None, response.headers)
            try:
                body = json.loads(response.content, parse_float=Decimal)
            except ValueError as err:
                raise BackendUnavailable("answered with something that is not JSON") from err
            return JsonResponse(cleaned(body), response.headers)


class _Retryable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
