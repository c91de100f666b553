"""The Zalo Bot Platform channel (``LIENLAC_ZALO_BOT__TOKEN``): updates in, text out.

Facts from ``reference/zalo.md`` §1: every call is ``POST <base>/bot<TOKEN>/<method>`` and
answers an envelope ``{"ok", "result", "error_code"?, "description"?}`` (HTTP 200 is not
success: check ``ok``). ``getUpdates`` returns **one** update, or HTTP 408 when there was none.
There is no ``update_id``: duplicates are dropped on ``event_name + message_id``. No buttons,
no edits: the router renders menus as numbered text (``ZALO`` capabilities), and long replies
are split at 2,000 characters.

* :func:`normalize` turns an update (wrapped ``{ok, result}`` or flat) into an ``Incoming``;
  polling and the webhook share it.
* :class:`ZaloBotApi` makes calls and translates errors: 401 -> :class:`ZaloBotAuthError`,
  429 / 5xx / network -> retried, the rest -> :class:`ZaloBotError`.
* :class:`ZaloBotChannel` polls or serves the webhook (``X-Bot-Api-Secret-Token``, constant
  time compare, 401 when missing or wrong) and runs turns, in order per chat.
* :class:`ZaloBotSender` is the outbox relay's :class:`bot.ports.OutboundSender`.
* :func:`serve` is what ``run_bot.py`` runs when the token is set.

The token is in every URL: no URL is logged, ``httpx``/``httpcore`` stay at WARNING and a
logging filter blanks the token wherever it might still appear.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.channels.base import ZALO, split_text
from bot.channels.http_server import running
from bot.channels.lanes import TurnLanes
from bot.channels.telegram import RedactSecrets
from bot.channels.webhook import Refused, parse_object, read_body
from bot.domain.errors import DeliveryFailedPermanently, DeliveryRetryLater
from bot.messages import Button, ConversationKey, Incoming, Reply

if TYPE_CHECKING:
    from bot.bootstrap import App
    from bot.config import Settings, ZaloBotSettings

log = logging.getLogger(__name__)

CHANNEL = "zalo_bot"
MAX_TEXT = ZALO.max_text  # 2,000 characters
SECRET_HEADER = "X-Bot-Api-Secret-Token"  # noqa: S105 - a header name
RECENT_EVENTS = 10_000
RETRIES = 3
BACKOFF = (0.5, 1.0, 2.0)
MAX_CONCURRENT_TURNS = 32
DRAIN_SECONDS = 6.0
TYPING_AFTER = 0.5  # seconds
TEXT_EVENT = "message.text.received"
UNSUPPORTED_EVENT = "message.unsupported.received"

Handle = Callable[[Incoming], Awaitable[list[Reply]]]


class ZaloBotError(Exception):
    """The platform refused a call (``ok: false``). ``code`` is the HTTP-like error code."""

    def __init__(self, method: str, code: int, description: str = "") -> None:
        super().__init__(f"{method}: {code} {description}".strip())
        self.method = method
        self.code = code
        self.description = description


class ZaloBotAuthError(ZaloBotError):
    """401: the token is invalid or was reset in Zalo Bot Creator. Fatal."""


class ZaloBotTransient(ZaloBotError):
    """429, 5xx, 408 on a send, or the network: worth another try later."""


# --- updates in --------------------------------------------------------------------------


def unwrap(payload: Any) -> dict[str, Any] | None:
    """The update inside ``{"ok": true, "result": {...}}`` (the docs) or the flat form
    ``{"event_name", "message"}`` (captured payloads); None for anything else."""
    if not isinstance(payload, dict):
        return None
    inner = payload.get("result") if "result" in payload else payload
    if not isinstance(inner, dict) or not isinstance(inner.get("message"), dict):
        return None
    return inner


def event_key(update: Mapping[str, Any]) -> str:
    """The duplicate key: ``event_name`` + ``message_id`` (there is no update id)."""
    message = update.get("message")
    message_id = message.get("message_id", "") if isinstance(message, dict) else ""
    return f"{update.get('event_name', '')}|{message_id}"


def normalize(update: Mapping[str, Any], *, school_id: str) -> Incoming | None:
    """The core's view of one update, or None for what the bot does not answer (bots, group
    messages that are not text, events without a chat). Non-text private messages (stickers,
    photos, unsupported content) become an empty text: the core answers with its help."""
    message = update.get("message")
    if not isinstance(message, dict):
        return None
    sender = message.get("from") or {}
    chat = message.get("chat") or {}
    if not isinstance(sender, dict) or not isinstance(chat, dict) or sender.get("is_bot"):
        return None
    chat_id = str(chat.get("id") or "")
    user_id = str(sender.get("id") or chat_id)
    if not chat_id:
        return None
    is_group = str(chat.get("chat_type", "PRIVATE")).upper() == "GROUP"
    text = message.get("text") if update.get("event_name") == TEXT_EVENT else ""
    text = text if isinstance(text, str) else ""
    if is_group and not text:
        return None
    return Incoming(
        key=ConversationKey(school_id=school_id, channel=CHANNEL, chat_id=chat_id, user_id=user_id),
        text=text,
        locale_hint="vi",
        is_group=is_group,
        message_id=str(message.get("message_id") or ""),
        display_name=str(sender.get("display_name") or ""),
    )


class EventDeduper:
    """Recently seen event keys (in memory, per process: one process per bot)."""

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


# --- calling the API ---------------------------------------------------------------------


class ZaloBotApi:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        token: str,
        backoff: Sequence[float] = BACKOFF,
    ) -> None:
        self._client = client
        self._base = f"{base_url.rstrip('/')}/bot{token}"
        self._backoff = tuple(backoff)
        self._resume_at = 0.0

    async def call_once(
        self, method: str, params: Mapping[str, Any] | None = None, *, wait_seconds: float = 10.0
    ) -> Any:
        """One call; the ``result`` (None when absent). Raises the ``ZaloBot*`` errors."""
        try:
            response = await self._client.post(
                f"{self._base}/{method}", json=dict(params or {}), timeout=wait_seconds
            )
        except httpx.HTTPError as err:
            raise ZaloBotTransient(method, 0, type(err).__name__) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {"ok": False, "error_code": response.status_code}
        if body.get("ok") is True and response.is_success:
            return body.get("result")
        code = body.get("error_code") or response.status_code
        try:
            code = int(code)
        except (TypeError, ValueError):
            code = response.status_code
        description = str(body.get("description") or "")[:200]
        if code == 401:
            raise ZaloBotAuthError(method, code, description)
        if code in (408, 429) or code >= 500 or code == 403:  # 403 is "Internal server error"
            raise ZaloBotTransient(method, code, description)
        raise ZaloBotError(method, code, description)

    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """:meth:`call_once` with retries for transient errors (429 pauses every call)."""
        loop = asyncio.get_running_loop()
        for attempt in range(RETRIES + 1):
            while (delay := self._resume_at - loop.time()) > 0:  # noqa: ASYNC110
                await asyncio.sleep(delay)
            try:
                return await self.call_once(method, params)
            except ZaloBotTransient as err:
                if attempt == RETRIES:
                    raise
                pause = self._backoff[min(attempt, len(self._backoff) - 1)]
                if err.code == 429:
                    pause = max(pause, 1.0)
                    self._resume_at = max(self._resume_at, loop.time() + pause)
                log.warning("Zalo Bot %s failed (%s); retrying in %.1f s", method, err.code, pause)
                await asyncio.sleep(pause)
        raise AssertionError("unreachable")

    async def send_text(self, chat_id: str, text: str) -> None:
        for part in split_text(text, MAX_TEXT):
            if part.strip():
                await self.call("sendMessage", {"chat_id": chat_id, "text": part})


def render_buttons(text: str, buttons: tuple[tuple[Button, ...], ...]) -> str:
    """Buttons of an outbox message as plain lines (Zalo Bot has no buttons)."""
    labels = [b.label for row in buttons for b in row]
    if not labels:
        return text
    return text + "\n" + "\n".join(f"• {label}" for label in labels)


# --- the channel -------------------------------------------------------------------------


class ZaloBotChannel:
    """Runs turns for one school's Zalo bot: feed raw updates to :meth:`submit`."""

    name = CHANNEL

    def __init__(self, api: ZaloBotApi, handle: Handle, *, school_id: str) -> None:
        self.api = api
        self._handle = handle
        self.school_id = school_id
        self._dedupe = EventDeduper()
        self._lanes = TurnLanes(limit=MAX_CONCURRENT_TURNS, name="Zalo Bot turn")

    def submit(self, payload: Any) -> bool:
        """Queue one update (wrapped or flat). False for a duplicate or something that is not
        an update. Turns of one chat run in arrival order, chats in parallel."""
        update = unwrap(payload)
        if update is None:
            return False
        if not self._dedupe.first_time(event_key(update)):
            log.info("Zalo Bot update seen before; dropped")
            return False
        incoming = normalize(update, school_id=self.school_id)
        if incoming is None:
            return False
        incoming = replace(incoming, event_id=event_key(update))
        self._lanes.submit(incoming.key.chat_id, lambda: self.process(incoming))
        return True

    async def process(self, incoming: Incoming) -> None:
        chat_id = incoming.key.chat_id
        typing = asyncio.create_task(self._typing(chat_id))
        try:
            replies = await self._handle(incoming)
        finally:
            typing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await typing
        for reply in replies:
            try:
                await self.api.send_text(chat_id, reply.text)
            except ZaloBotError as err:
                log.warning("Zalo Bot sendMessage failed: %s", err.code)
                return

    async def _typing(self, chat_id: str) -> None:
        """ "typing…" only when a turn is slow: every call may count against the plan's quota."""
        await asyncio.sleep(TYPING_AFTER)
        with contextlib.suppress(ZaloBotError):
            await self.api.call_once("sendChatAction", {"chat_id": chat_id, "action": "typing"})

    async def drain(self, seconds: float, force: asyncio.Event | None = None) -> None:
        await self._lanes.drain(seconds, force)

    # -- long polling ----------------------------------------------------------------------

    async def poll(self, stop: asyncio.Event, *, poll_seconds: int = 30) -> None:
        """getUpdates until ``stop``. A webhook left set makes getUpdates fail, so it is
        deleted first. HTTP 408 means "no update"."""
        with contextlib.suppress(ZaloBotError):
            await self.api.call_once("deleteWebhook")
        failures = 0
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                fetch = asyncio.ensure_future(
                    self.api.call_once(
                        "getUpdates", {"timeout": str(poll_seconds)}, wait_seconds=poll_seconds + 10
                    )
                )
                await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not fetch.done():
                    fetch.cancel()
                    with contextlib.suppress(asyncio.CancelledError, ZaloBotError):
                        await fetch
                    break
                try:
                    result = fetch.result()
                    failures = 0
                except ZaloBotAuthError:
                    raise
                except ZaloBotError as err:
                    if err.code == 408:
                        failures = 0
                        continue
                    failures += 1
                    pause = min(30.0, 0.5 * 2**failures)
                    log.warning("getUpdates failed (%s); retrying in %.1f s", err.code, pause)
                    await _sleep_unless(stop, pause)
                    continue
                updates = result if isinstance(result, list) else [result]
                for update in updates:
                    self.submit({"result": update} if isinstance(update, dict) else update)
        finally:
            stopping.cancel()

    # -- webhook ---------------------------------------------------------------------------

    def webhook_app(self, secret: str) -> Starlette:
        """This bot alone on :func:`webhook_app`."""
        return webhook_app({self.school_id: (self, secret)})

    async def serve_webhook(
        self, stop: asyncio.Event, *, listen: str, public_url: str, secret: str
    ) -> bool:
        """This bot alone on :func:`serve_webhooks`."""
        return await serve_webhooks(
            {self.school_id: (self, secret)},
            stop,
            listen=listen,
            public_urls={},
            default=public_url,
        )


# --- one webhook server for every school's bot -------------------------------------------


def webhook_app(bots: Mapping[str, tuple[ZaloBotChannel, str]]) -> Starlette:
    """``POST /zalo-bot/{school}`` (with that bot's ``X-Bot-Api-Secret-Token``) and
    ``GET /healthz``. Answers at once; the turn runs in the background."""

    async def receive(request: Request) -> Response:
        found = bots.get(request.path_params["school"])
        if found is None:
            return JSONResponse({"ok": False}, status_code=404)
        channel, secret = found
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not given or not hmac.compare_digest(given, secret.encode()):
            return JSONResponse({"ok": False}, status_code=401)
        try:
            raw = await read_body(request)
            if not raw.strip():
                return JSONResponse({"ok": True})  # an empty probe
            payload = parse_object(raw)
        except Refused as refused:
            return refused.response()
        channel.submit(payload)
        return JSONResponse({"ok": True})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/zalo-bot/{school}", receive, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


async def serve_webhooks(
    bots: Mapping[str, tuple[ZaloBotChannel, str]],
    stop: asyncio.Event,
    *,
    listen: str,
    public_urls: Mapping[str, str],
    default: str = "",
) -> bool:
    """Serve every bot's webhook on ``listen``, register each with Zalo (at its school's
    public URL, else ``default``, + ``/zalo-bot/<school>``), run until ``stop``. False when the
    server cannot start or Zalo refuses an address."""
    async with running(webhook_app(bots), listen, what="Zalo Bot webhook server") as up:
        if not up:
            return False
        for school, (channel, secret) in bots.items():
            base = public_urls.get(school) or default
            url = f"{base.rstrip('/')}/zalo-bot/{school}"
            try:
                await channel.api.call("setWebhook", {"url": url, "secret_token": secret})
            except ZaloBotAuthError:
                raise
            except ZaloBotError as err:
                log.error(
                    "Zalo refused the webhook address of school %s (%s %s)",
                    school,
                    err.code,
                    err.description,
                )
                return False
            log.debug("Zalo Bot webhook of school %s registered", school)
        log.info("Zalo Bot webhooks registered for %d bot(s); serving", len(bots))
        await stop.wait()
        return True


# --- the outbox relay's sender -----------------------------------------------------------


class ZaloBotSender:
    """:class:`bot.ports.OutboundSender` for ``zalo_bot`` (one call, no retries of its own:
    the relay retries and rate-limits)."""

    def __init__(self, api: ZaloBotApi) -> None:
        self._api = api

    async def deliver(
        self, recipient: ConversationKey, text: str, buttons: tuple[tuple[Button, ...], ...]
    ) -> None:
        for part in split_text(render_buttons(text, buttons), MAX_TEXT):
            try:
                await self._api.call_once(
                    "sendMessage", {"chat_id": recipient.chat_id, "text": part}
                )
            except ZaloBotTransient as err:
                after = 1.0 if err.code == 429 else None
                raise DeliveryRetryLater(f"zalo_bot {err.code}", after_seconds=after) from None
            except ZaloBotAuthError as err:
                raise DeliveryRetryLater(f"zalo_bot token refused ({err.code})") from None
            except ZaloBotError as err:
                raise DeliveryFailedPermanently(
                    f"zalo_bot {err.code} {err.description}"[:200], unreachable=err.code == 404
                ) from None


def make_outbound_sender(client: httpx.AsyncClient, *, base_url: str, token: str) -> ZaloBotSender:
    """The relay's sender for this bot (give the client a timeout below the relay's margin)."""
    return ZaloBotSender(ZaloBotApi(client, base_url=base_url, token=token))


# --- secrets and the process -------------------------------------------------------------


def webhook_secret(installation_secret: bytes, *, school_id: str, token: str) -> str:
    """A stable 32-character ``secret_token`` derived from the installation secret."""
    label = f"zalo-bot-webhook|{school_id}|{hashlib.sha256(token.encode()).hexdigest()}"
    digest = hmac.new(installation_secret, label.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


@contextlib.contextmanager
def redacted(*secrets: str) -> Iterator[None]:
    """Blank ``secrets`` (and the part after ``:`` of a bot token) in every log record."""
    parts = [s for s in secrets if s] + [s.split(":", 1)[-1] for s in secrets if ":" in s]
    redact = RedactSecrets(parts)
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(redact)
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(redact)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def school_bots(settings: Settings) -> dict[str, ZaloBotSettings]:
    """Each school's Zalo bot (``zalo_bot`` of its ``[[schools]]`` entry, else the top-level
    one), for the schools that have a token."""
    return {
        school.id: school.zalo_bot
        for school in settings.school_configs()
        if school.zalo_bot.token is not None
    }


async def serve(app: App, settings: Settings, stop: asyncio.Event, force: asyncio.Event) -> int:
    """Run every school's Zalo bot until ``stop``; the exit code (0 clean, 1 unreachable,
    2 bad token). Bots with a ``webhook_public_url`` share one webhook server per listen
    address; the others poll. Signals are handled by the caller (``run_bot.py``)."""
    bots = school_bots(settings)
    tokens = {school: zb.token.get_secret_value() for school, zb in bots.items() if zb.token}
    async with httpx.AsyncClient(timeout=15.0) as client:
        channels = {
            school: ZaloBotChannel(
                ZaloBotApi(client, base_url=bots[school].api_base_url, token=token),
                app.router.handle,
                school_id=school,
            )
            for school, token in tokens.items()
        }
        secrets_ = {
            school: (
                zb.webhook_secret.get_secret_value()
                if zb.webhook_secret is not None
                else webhook_secret(app.services.secret, school_id=school, token=tokens[school])
            )
            for school, zb in bots.items()
            if zb.webhook_public_url
        }
        with redacted(*tokens.values(), *secrets_.values()):
            school = ""
            try:
                for school, channel in channels.items():
                    me = await channel.api.call("getMe")
                    name = me.get("account_name", "") if isinstance(me, dict) else ""
                    mode = "webhook" if school in secrets_ else "long polling"
                    log.info("Zalo bot %s (%s): %s", name, school, mode)
                school = ""
                runs: list[Coroutine[Any, Any, bool]] = []
                by_listen: dict[str, dict[str, tuple[ZaloBotChannel, str]]] = {}
                for school_id, secret in secrets_.items():
                    listen = bots[school_id].webhook_listen
                    by_listen.setdefault(listen, {})[school_id] = (channels[school_id], secret)
                public = {s: bots[s].webhook_public_url or "" for s in secrets_}
                for listen, hooks in by_listen.items():
                    runs.append(serve_webhooks(hooks, stop, listen=listen, public_urls=public))
                for school_id, channel in channels.items():
                    if school_id not in secrets_:
                        runs.append(_poll(channel, stop, bots[school_id].poll_timeout_seconds))
                if not await run_all(runs, stop):
                    return 1
            except ZaloBotAuthError:
                stop.set()  # the other schools' bots stop too: one clear error
                where = f" of school {school}" if school and len(channels) > 1 else ""
                log.error("Zalo refused the bot token%s: check LIENLAC_ZALO_BOT__TOKEN", where)
                return 2
            except ZaloBotError as err:
                stop.set()
                log.error(
                    "Zalo Bot cannot be reached (%s): check LIENLAC_ZALO_BOT__API_BASE_URL",
                    err.code,
                )
                return 1
            finally:
                await asyncio.gather(*(c.drain(DRAIN_SECONDS, force) for c in channels.values()))
    log.info("Zalo bot(s) stopped")
    return 0


async def run_all(runs: Sequence[Coroutine[Any, Any, bool]], stop: asyncio.Event) -> bool:
    """Run together until ``stop``; False when one of them failed (returned False), which
    sets ``stop`` so that the others end too. When one raises, the others are stopped and
    awaited, then it re-raises."""
    failed = False

    async def one(run: Coroutine[Any, Any, bool]) -> None:
        nonlocal failed
        if not await run and not stop.is_set():
            failed = True
            stop.set()

    tasks = [asyncio.ensure_future(one(run)) for run in runs]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return not failed


async def _poll(channel: ZaloBotChannel, stop: asyncio.Event, poll_seconds: int) -> bool:
    started = time.monotonic()
    await channel.poll(stop, poll_seconds=poll_seconds)
    log.debug("Zalo Bot polled for %.0f s", time.monotonic() - started)
    return True
