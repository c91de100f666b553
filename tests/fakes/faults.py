"""Injectable faults shared by the loopback fakes of school systems (REST QLHS, OneRoster).

``faults.fail(500)``, ``faults.hang(5)``, ``faults.bad_json()``, ``faults.unauthorized()``
each affect the next ``count`` requests; ``faults.down = True`` fails every request with 503
until set back. Thread-safe: the fake runs in its own thread.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

from starlette.responses import JSONResponse, Response


@dataclass
class _Fault:
    kind: str  # "status" | "hang" | "bad_json"
    status: int
    seconds: float
    remaining: int


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Fault] = []
        self.down = False

    def fail(self, status: int = 500, *, count: int = 1) -> None:
        self._add(_Fault("status", status, 0.0, count))

    def unauthorized(self, *, count: int = 1) -> None:
        self._add(_Fault("status", 401, 0.0, count))

    def hang(self, seconds: float, *, count: int = 1) -> None:
        """Answer normally, but only after ``seconds`` (longer than the client's timeout = a
        timeout)."""
        self._add(_Fault("hang", 200, seconds, count))

    def bad_json(self, *, count: int = 1) -> None:
        self._add(_Fault("bad_json", 200, 0.0, count))

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self.down = False

    def _add(self, fault: _Fault) -> None:
        with self._lock:
            self._queue.append(fault)

    async def apply(self) -> Response | None:
        """A failure response to send instead of the real answer, or None to answer."""
        with self._lock:
            if self.down:
                return JSONResponse({"error": "maintenance"}, status_code=503)
            fault = self._queue[0] if self._queue else None
            if fault is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._queue.pop(0)
        if fault is None:
            return None
        if fault.kind == "hang":
            await asyncio.sleep(fault.seconds)
            return None
        if fault.kind == "bad_json":
            return Response(
                "<html><body>502 Bad Gateway</body></html>", media_type="application/json"
            )
        return JSONResponse({"error": "injected"}, status_code=fault.status)
