"""A loopback fake of the ``http_json`` OTP gateway (``LIENLAC_OTP__PROVIDER=http_json``).

``POST /sms`` with ``{"phone": "...", "text": "..."}`` is recorded and answered 200, unless told
to fail::

    with FakeSmsGateway() as sms:
        env["LIENLAC_OTP__URL"] = sms.url + "/sms"
        ...
        code = sms.wait_for_code("0900000001")      # the 6 digits of the next SMS to that phone
        sms.fail_next(status=503)                   # fail_next(timeout=30): hang, then fail
        sms.delay(1.5)                              # a slow gateway that still accepts
        sms.wait_for_request(after=n)               # a request has arrived (maybe still held)

Runs on :class:`tests.fakes.telegram_api.LoopbackServer` (its own thread and loop), so sync tests
that start the bot as a subprocess and async tests can both use it.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.telegram_api import LoopbackServer

_CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")


@dataclass(frozen=True)
class Sms:
    phone: str
    text: str
    time: float

    @property
    def code(self) -> str:
        found = _CODE.findall(self.text)
        assert len(found) == 1, f"expected exactly one 6-digit code in {self.text!r}"
        return str(found[0])


@dataclass
class _Failure:
    status: int
    timeout: float
    remaining: int


class FakeSmsGateway(LoopbackServer):
    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._sent: list[Sms] = []
        self._failures: list[_Failure] = []
        self._delays: list[list[float]] = []  # [seconds, remaining]
        self.received = 0  # requests that arrived, answered or not yet
        self.refused = 0  # requests answered with an error (injected or malformed)
        super().__init__(
            Starlette(routes=[Route("/sms", self._handle, methods=["POST"])]),
            name="fake-sms-gateway",
        )

    @property
    def sms_url(self) -> str:
        return f"{self.url}/sms"

    @property
    def sent(self) -> list[Sms]:
        with self._lock:
            return list(self._sent)

    def fail_next(self, *, status: int = 503, timeout: float = 0.0, count: int = 1) -> None:
        """The next ``count`` requests answer ``status`` (after hanging ``timeout`` seconds:
        longer than the bot's OTP timeout makes it a client-side timeout)."""
        with self._lock:
            self._failures.append(_Failure(status, timeout, count))

    def delay(self, seconds: float, *, count: int = 1) -> None:
        """Hold the next ``count`` requests ``seconds`` before accepting them."""
        with self._lock:
            self._delays.append([seconds, count])

    def wait_for_request(self, *, after: int = 0, timeout: float = 5.0) -> None:
        """Block until more than ``after`` requests have arrived."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self.received <= after:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no request #{after + 1} within {timeout} s")
                self._lock.wait(min(remaining, 0.05))

    def wait_for_sms(self, phone: str, *, after: int = 0, timeout: float = 5.0) -> Sms:
        """The first SMS to ``phone`` among those from index ``after`` on."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for sms in self._sent[after:]:
                    if sms.phone == phone:
                        return sms
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    phones = [s.phone for s in self._sent]
                    raise TimeoutError(f"no SMS to {phone} within {timeout} s; sent to {phones}")
                self._lock.wait(min(remaining, 0.05))

    def wait_for_code(self, phone: str, *, after: int = 0, timeout: float = 5.0) -> str:
        return self.wait_for_sms(phone, after=after, timeout=timeout).code

    def last_code(self, phone: str) -> str:
        with self._lock:
            for sms in reversed(self._sent):
                if sms.phone == phone:
                    return sms.code
        raise AssertionError(f"no SMS sent to {phone}")

    async def _handle(self, request: Request) -> Response:
        with self._lock:
            self.received += 1
            self._lock.notify_all()
            pause = 0.0
            if self._delays:
                pause = self._delays[0][0]
                self._delays[0][1] -= 1
                if self._delays[0][1] <= 0:
                    self._delays.pop(0)
            failure = self._failures[0] if self._failures else None
            if failure is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.pop(0)
        if failure is not None:
            if failure.timeout:
                await asyncio.sleep(failure.timeout)
            with self._lock:
                self.refused += 1
            return JSONResponse({"error": "injected failure"}, status_code=failure.status)
        if pause:
            await asyncio.sleep(pause)
        try:
            body = json.loads(await request.body())
            phone, text = body["phone"], body["text"]
            if not isinstance(phone, str) or not isinstance(text, str):
                raise TypeError("phone and text must be strings")
        except (ValueError, KeyError, TypeError) as exc:
            with self._lock:
                self.refused += 1
            return JSONResponse({"error": str(exc)}, status_code=400)
        with self._lock:
            self._sent.append(Sms(phone=phone, text=text, time=time.monotonic()))
            self._lock.notify_all()
        return JSONResponse({"status": "queued"})
