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

5. **Durable dedupe.** The channel drops an event id it saw lately (:class:`RecentKeys`) and
   gives the id to the router with the turn, which records it in the turn's own transaction
   (table ``seen_event``): a redelivery after a restart runs nothing twice.

:func:`webhook_app` is the one server of a process (``LIENLAC_WEBHOOK__LISTEN``): every
platform's route, ``POST /{telegram|zalo-bot|zalo-oa}/{school}``, goes through the same
:func:`_pipeline`; a channel only supplies a :class:`Hook` per school. ``GET /healthz`` and
``GET /metrics`` (behind ``LIENLAC_METRICS__TOKEN``) live on the same port.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

log = logging.getLogger(__name__)

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


# --- one server, one pipeline ---------------------------------------------------------------

PLATFORMS = ("telegram", "zalo-bot", "zalo-oa")  # the first path segment of each route
RECENT_EVENTS = 10_000  # event ids remembered per channel in memory (the database has all)


class RecentKeys:
    """The last ``size`` event ids one channel saw: a quick in-memory duplicate check before
    the router's durable one."""

    def __init__(self, size: int = RECENT_EVENTS) -> None:
        self._size = size
        self._seen: OrderedDict[str, None] = OrderedDict()

    def first_time(self, key: str) -> bool:
        if key in self._seen:
            return False
        self._seen[key] = None
        while len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return True


class Queue(Protocol):
    """Where an event is stored before its 200 (``bot.inbox.Inbox``)."""

    async def put(self, hook: str, lane: str, event_id: str, event: Any) -> None: ...


def json_error(status: int) -> Response:
    return JSONResponse({"ok": False, "error": status}, status_code=status)


@dataclass(frozen=True, slots=True, kw_only=True)
class Hook:
    """What the pipeline needs from one school's channel on one platform.

    ``secret``: (header, value) compared before the body is read (Telegram, Zalo Bot).
    ``signed``: ``(raw body, parsed event, signature header value) -> bool``, for platforms
    that sign the body (Zalo OA: the timestamp is inside the body, so it runs after the parse).
    ``receive``: the platform's own last checks and the hand-over to the channel; it answers
    at once, the turn runs in the background.
    """

    receive: Callable[[dict[str, Any]], Response]
    # With the process's inbox (bot.inbox): ``lane`` gives (lane, event id) of an event to
    # store before the 200 (None: not one, ``receive`` answers it), ``run`` runs a stored one.
    lane: Callable[[dict[str, Any]], tuple[str, str] | None] | None = None
    run: Callable[[dict[str, Any]], Awaitable[None]] | None = None
    accepted: Callable[[], Response] = lambda: JSONResponse({"ok": True})
    secret: tuple[str, str] | None = None
    signed: Callable[[bytes, Mapping[str, Any], str], bool] | None = None
    signature_header: str = ""
    empty_is_probe: bool = False  # an empty body is a platform's reachability probe: 200
    error: Callable[[int], Response] = json_error


class Hooks:
    """The routes of the process's one webhook server; filled by the channels as they start
    (a route not yet added answers 404)."""

    def __init__(self) -> None:
        self._hooks: dict[tuple[str, str], Hook] = {}

    def add(self, platform: str, school_id: str, hook: Hook) -> None:
        if platform not in PLATFORMS:
            raise ValueError(f"unknown webhook platform {platform!r}")
        self._hooks[(platform, school_id)] = hook

    def get(self, platform: str, school_id: str) -> Hook | None:
        return self._hooks.get((platform, school_id))

    def paths(self) -> list[str]:
        return [f"/{name}" for name in self.names()]

    def names(self) -> list[str]:
        """``platform/school`` of every route served with the inbox (bot.inbox.Runner)."""
        return sorted(f"{platform}/{school}" for platform, school in self._hooks)

    async def run(self, name: str, event: Any) -> None:
        """A stored event's turn (bot.inbox.Runner)."""
        platform, _, school = name.partition("/")
        hook = self._hooks.get((platform, school))
        if hook is None or hook.run is None:
            raise LookupError(f"no inbox route {name!r} in this process")
        await hook.run(event)


async def _pipeline(hook: Hook, request: Request, inbox: Queue | None) -> Response:
    if hook.secret is not None:
        header, expected = hook.secret
        given = request.headers.get(header, "").encode()
        if not given or not hmac.compare_digest(given, expected.encode()):
            return hook.error(401)
    try:
        raw = await read_body(request)
        if hook.empty_is_probe and not raw.strip():
            return JSONResponse({"ok": True})
        event = parse_object(raw)
    except Refused as refused:
        return hook.error(refused.status)
    if hook.signed is not None and not hook.signed(
        raw, event, request.headers.get(hook.signature_header, "")
    ):
        log.warning("a webhook with a missing or wrong signature: rejected")
        return hook.error(401)
    queued = hook.lane(event) if inbox is not None and hook.lane is not None else None
    if inbox is None or queued is None:
        return hook.receive(event)
    lane, event_id = queued
    name = f"{request.path_params['platform']}/{request.path_params['school']}"
    try:
        await inbox.put(name, lane, event_id, event)
    except Exception:  # not stored: no 200, so the platform sends it again
        log.exception("a webhook event could not be stored")
        return hook.error(503)
    return hook.accepted()


Endpoint = Callable[[Request], Awaitable[Response]]


MediaLookup = Callable[[str], Awaitable[tuple[str, bytes] | None]]  # token -> (type, bytes)
MEDIA_PATH = "media"  # GET /media/{token}.png: an image a platform fetches by URL


def webhook_app(
    hooks: Hooks,
    *,
    metrics: Endpoint | None = None,
    inbox: Queue | None = None,
    media: MediaLookup | None = None,
    admin: ASGIApp | None = None,
) -> Starlette:
    """The one webhook server: ``POST /{platform}/{school}``, ``GET /healthz`` and, when
    ``metrics`` is given, ``GET /metrics``. With ``inbox``, an event a route can queue is
    stored before the 200 and its turn runs from the inbox (bot.inbox). With ``media``,
    ``GET /media/{token}.png`` serves the images sent by URL (Zalo Bot ``sendPhoto``). With
    ``admin``, the school office's web page is under ``/admin`` (bot.admin)."""

    async def serve_media(request: Request) -> Response:
        name = str(request.path_params["name"])
        if media is None or not name.endswith(".png") or len(name) > 80:
            return Response(status_code=404)
        found = await media(name.removesuffix(".png"))
        if found is None:
            return Response(status_code=404)
        content_type, data = found
        return Response(data, media_type=content_type, headers={"Cache-Control": "no-store"})

    async def receive(request: Request) -> Response:
        hook = hooks.get(request.path_params["platform"], request.path_params["school"])
        if hook is None:
            return json_error(404)
        return await _pipeline(hook, request, inbox)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def prometheus(request: Request) -> Response:
        if metrics is None:
            return Response(status_code=404)
        return await metrics(request)

    routes: list[BaseRoute] = []
    if admin is not None:  # before /{platform}/{school}, which would take POST /admin/...
        routes.append(Mount("/admin", app=admin))
    return Starlette(
        routes=[
            Route(f"/{MEDIA_PATH}/{{name}}", serve_media, methods=["GET"]),
            *routes,
            Route("/{platform}/{school}", receive, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", prometheus, methods=["GET"]),
        ]
    )
