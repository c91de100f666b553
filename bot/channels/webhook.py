"""The checks every webhook route runs, in this order (ARCHITECTURE.md, "webhook routes";
issue 13.5), before anything reaches a channel:

1. **Body limit while reading.** A ``Content-Length`` over the limit is refused at once; a
   body streamed without one is cut off as soon as it passes the limit (413). Nothing larger
   than the limit is ever held in memory (a 100 MB POST took the process to 472 MB).
2. **Secret or signature** (401), checked by the route: Telegram and the Zalo Bot send a
   secret header, checked before the body is read; the Zalo OA signs the body with a
   timestamp that is inside it, so its signature is checked right after step 3.
3. **JSON with a depth limit** (400 on anything that is not a JSON object within
   ``MAX_DEPTH`` levels, at any depth; never a 500 from the parser's recursion).
4. **Event age** where the platform dates its events: older than ``MAX_AGE`` or more than
   ``MAX_SKEW`` in the future is dropped with 200, so the platform does not retry it.

Deduplication (a platform redelivers) is the channel's, by event id.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

MAX_BODY = 256 * 1024  # bytes; a Telegram update or Zalo event is a few KB
MAX_DEPTH = 32  # nesting of objects and arrays; real events use fewer than 8
MAX_AGE = dt.timedelta(minutes=10)  # platforms retry for minutes, not hours
MAX_SKEW = dt.timedelta(minutes=2)  # clocks differ a little; a date far ahead is forged


class Refused(Exception):
    """The request stops here with ``status`` (and a small JSON body, never a trace)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status

    def response(self) -> Response:
        return JSONResponse({"ok": False, "error": self.status}, status_code=self.status)


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The body, refused with 413 as soon as it is known to be over ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refused(413, "body too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(413, "body too large")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_object(raw: bytes, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """A JSON object nested at most ``max_depth`` deep, or ``Refused(400)``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise Refused(400, "not UTF-8") from err
    if _depth(text) > max_depth:
        raise Refused(400, "nested too deep")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise Refused(400, "not JSON") from err
    if not isinstance(value, dict):
        raise Refused(400, "not a JSON object")
    return value


def _depth(text: str) -> int:
    """The deepest nesting of ``{``/``[`` outside strings, without building anything."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def too_old(timestamp: object, now: dt.datetime) -> bool:
    """Whether an event dated ``timestamp`` (Unix seconds or milliseconds, as a number or a
    string) is outside the accepted window. An event without a usable date is kept: the
    signature and the dedupe still protect it."""
    try:
        value = float(str(timestamp))
    except ValueError:
        return False
    if value > 1e11:  # milliseconds (Zalo)
        value /= 1000
    try:
        at = dt.datetime.fromtimestamp(value, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return True
    return at < now - MAX_AGE or at > now + MAX_SKEW
