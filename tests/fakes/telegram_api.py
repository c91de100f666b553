"""A loopback, spec-validating fake of the Telegram Bot API server, for tests.

It is a real HTTP server (Starlette on uvicorn) on ``127.0.0.1`` with an OS-chosen port, run in a
background thread with its own event loop, so the same object serves sync tests that start the
real bot as a subprocess and async tests that drive ``telegram.Bot`` in-process::

    from tests.fakes.telegram_api import FakeTelegramApi

    with FakeTelegramApi(token="123:ABC") as api:          # or: async with FakeTelegramApi() as api
        bot = telegram.Bot("123:ABC", base_url=api.base_url)  # PTB appends the token
        # a bot run as a subprocess gets api.base_url (…/bot) and the token via its settings
        api.inject_message(chat_id=42, text="/start")       # queued for getUpdates (or webhook)
        reply = api.wait_for(42, "Chào")                    # first sent message containing it
        api.press_button(42, "Duyệt")                       # callback_query from that keyboard
        assert api.violations == []                         # nothing broke the spec

Requests arrive at ``/bot<token>/<method>`` (method names case-insensitive) as
``application/x-www-form-urlencoded`` (what PTB 22 sends; nested objects are JSON strings),
``multipart/form-data`` (a part with a file name is an InputFile) or ``application/json``. Every
call is checked against the pinned spec (:mod:`tests.fakes.telegram_spec`): unknown or missing
parameters, types down into nested objects and arrays, ``N-M characters|bytes`` limits, inline
keyboards (≤ 100 buttons, ≤ 8 a row), parse_mode markup. A failed check answers like Telegram,
``400 {"ok":false,"error_code":400,"description":"Bad Request: …"}``, and is appended to
:attr:`FakeTelegramApi.violations`. Answers Telegram gives to valid but impossible calls (message to
edit not found, message is not modified, getUpdates while a webhook is set …) are not violations;
they are listed in :attr:`FakeTelegramApi.rejections` with the violations.

Implemented with realistic results: getMe, getUpdates (long poll, offset confirmation, negative
offset, allowed_updates, 409 when a webhook is set or a newer getUpdates arrives), setWebhook /
deleteWebhook / getWebhookInfo, set/get/deleteMyCommands (per scope and language_code),
sendMessage, editMessageText, editMessageReplyMarkup, deleteMessage, answerCallbackQuery,
sendChatAction, sendPhoto, sendDocument, getChat, getFile (+ ``/file/bot<token>/<path>``), close,
logOut. Other methods returning a Message get a generic one; every other method returns ``true``.

With a webhook set to a ``127.0.0.1``/``localhost`` URL, injected updates are POSTed there (JSON,
with ``X-Telegram-Bot-Api-Secret-Token`` when a secret was set), in order, retried on a non-2xx
answer after each of ``webhook_retry_delays`` and then dropped (see ``webhook_deliveries``). A
webhook elsewhere only holds updates as pending, as Telegram would when it cannot reach it.

Fault injection: :meth:`fail_next` (429 with ``retry_after``, 5xx, anything), :meth:`block_chat`
(403), :meth:`delay` (slow answers / client timeouts). After a 429 every call of that bot that comes
before ``retry_after`` has elapsed (getUpdates exempt) is noted in ``retry_after_violations``.

Telegram's sending limits, enforced (off by default): ``FakeTelegramApi(limits=SendLimits())``
answers a message beyond 30 per bot token in any 1-second window, or a second one to a chat
within 1 second, with ``429 {"ok":false,"error_code":429,"description":"Too Many Requests:
retry after N","parameters":{"retry_after":N}}`` (listed in ``rate_limits``).
:meth:`FakeTelegramApi.accepted_times` and :meth:`FakeTelegramApi.duplicates` count what got
through.

All controls are thread-safe; ``wait_*`` block with a timeout, ``await_*`` are their async twins.
A stopped fake can be started again (new port; bots, chats and records are kept).

Notes on python-telegram-bot 22.8 as seen from here: it sends form-urlencoded bodies (multipart
when a file is attached), booleans as ``true``/``false`` and nested objects as JSON strings;
``TelegramError`` strips "Bad Request: " and then ``str.capitalize()``s the description, so
"message is not modified" must be matched case-insensitively; ``RetryAfter()`` itself emits a
PTBDeprecationWarning unless ``PTB_TIMEDELTA=1`` is set (then ``retry_after`` is a timedelta), which
``filterwarnings = error`` turns into the exception raised instead of RetryAfter.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import email.parser
import email.policy
import hashlib
import json
import math
import random
import re
import socket
import threading
import time
import urllib.parse
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NamedTuple, Self

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from tests.fakes.telegram_spec import (
    SPEC_VERSION,
    EntityParseError,
    TelegramSpec,
    UploadedFile,
    plain_text,
)

__all__ = [
    "SPEC_VERSION",
    "Call",
    "FakeTelegramApi",
    "LoopbackServer",
    "RequestRecord",
    "UploadedFile",
]

LOOPBACK = "127.0.0.1"
DEFAULT_TOKEN = "123456789:TEST-fake-telegram-token"
DEFAULT_GROUP_USER_ID = 900_000_001
# Update kinds Telegram leaves out unless allowed_updates names them.
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
ERROR_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "
    "the webhook first"
)
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is "
    "running"
)
_TOKEN_RE = re.compile(r"(\d+):[A-Za-z0-9_-]+")
_UNSET: Any = object()


class Call(NamedTuple):
    """One Bot API call as the fake parsed it (``params`` coerced per the spec)."""

    method: str
    params: dict[str, Any]
    time: float


@dataclass
class RequestRecord:
    """Everything about one HTTP request to ``/bot<token>/<method>``."""

    token: str
    method: str
    params: dict[str, Any]
    time: float
    status: int = 0
    response: Any = None


@dataclass(frozen=True, slots=True)
class SendLimits:
    """Telegram's flood limits as the fake enforces them, on each message's arrival: per bot
    token at most ``per_bot`` messages in any ``window`` seconds; per chat (of one bot) at most
    one message per ``chat_interval`` seconds. Chat actions are not messages."""

    per_bot: int = 30
    window: float = 1.0
    chat_interval: float = 1.0


_MESSAGE_METHODS = ("send", "copy", "forward")  # what counts against the limits


class _ApiError(Exception):
    def __init__(self, code: int, description: str, *, violation: bool = False) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.violation = violation


@dataclass(eq=False)
class _Entry:
    update: dict[str, Any]
    delivered: bool = False


@dataclass
class _Fault:
    method: str  # lower-case name or "*"
    token: str | None
    code: int
    description: str
    retry_after: int | None
    remaining: int
    body: str | None


@dataclass
class _Delay:
    method: str
    token: str | None
    seconds: float
    remaining: int | None
    chat: str | None = None  # only calls whose chat_id is this


@dataclass
class _Bot:
    token: str
    user: dict[str, Any]
    updates: list[_Entry] = field(default_factory=list)
    next_update_id: int = 100_000_001
    allowed_updates: list[str] | None = None
    webhook: dict[str, Any] | None = None
    webhook_error: tuple[int, str] | None = None
    poll_generation: int = 0
    next_message_id: dict[int, int] = field(default_factory=dict)
    messages: dict[tuple[int | str, int], dict[str, Any]] = field(default_factory=dict)
    commands: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    callback_queries: dict[str, dict[str, Any]] = field(default_factory=dict)
    flood: tuple[float, int, str] | None = None  # (issued at, retry_after, method)
    updates_event: asyncio.Event = field(default_factory=asyncio.Event)
    webhook_event: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def short_user(self) -> dict[str, Any]:
        return {k: self.user[k] for k in ("id", "is_bot", "first_name", "username")}


def _is_local_url(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname
    return host in ("127.0.0.1", "localhost")


def _update_kind(update: Mapping[str, Any]) -> str:
    return next((key for key in update if key != "update_id"), "")


def _chat_key(chat_id: int | str) -> int | str:
    if isinstance(chat_id, str) and re.fullmatch(r"-?\d+", chat_id):
        return int(chat_id)
    return chat_id


class LoopbackServer:
    """Serve an ASGI app on ``127.0.0.1:<free port>`` from a thread with its own event loop.

    ``with LoopbackServer(app) as server: httpx.get(server.url + "/")``. Also handy for hosting a
    webhook receiver in a test. Subclasses hook :meth:`on_startup` / :meth:`on_shutdown`, which
    run on the server's loop.
    """

    def __init__(self, app: ASGIApp, *, name: str = "loopback-asgi") -> None:
        self._app = app
        self._name = name
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError(f"{self._name} already started")
        self._ready = threading.Event()
        self._startup_error = None
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, 0))
        self._sock = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            host=LOOPBACK,
            port=self.port,
            log_config=None,
            access_log=False,
            lifespan="off",
            ws="none",
            http="h11",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError(f"{self._name} did not start within 15 s")
        if self._startup_error is not None:
            self._thread.join(5)
            raise RuntimeError(f"{self._name} failed to start") from self._startup_error
        return self

    def stop(self, timeout: float = 15.0) -> None:
        thread, loop, server = self._thread, self.loop, self._server
        if thread is None or server is None:
            return
        if loop is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(self._begin_stop)
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError(f"{self._name} did not stop within {timeout} s")
        self._thread = None
        if self._startup_error is not None:
            raise RuntimeError(f"{self._name} crashed") from self._startup_error

    def _begin_stop(self) -> None:
        self.on_stopping()
        assert self._server is not None
        self._server.should_exit = True

    def on_stopping(self) -> None:
        """Called on the server loop when a stop begins (wake long waits here)."""

    async def on_startup(self) -> None:
        """Called on the server loop before the server accepts requests."""

    async def on_shutdown(self) -> None:
        """Called on the server loop after the server stopped."""

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # reported by start() or stop()
            self._startup_error = exc
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                asyncio.set_event_loop(None)
                loop.close()
                if self._sock is not None:
                    self._sock.close()
                self._ready.set()

    async def _main(self) -> None:
        assert self._server is not None
        assert self._sock is not None
        await self.on_startup()
        serving = asyncio.create_task(self._server.serve(sockets=[self._sock]))
        try:
            # uvicorn offers no "started" event, only a flag.
            while not self._server.started and not serving.done():  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            if serving.done():
                await serving  # raises the startup error
                raise RuntimeError("server exited during startup")
            self._ready.set()
            await serving
        finally:
            if not serving.done():
                serving.cancel()
            await self.on_shutdown()

    def run_coroutine(self, coro: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
        """Run ``coro`` on the server loop from another thread and return its result."""
        future = self.submit(coro)
        return future.result(timeout)

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        if self.loop is None or self._thread is None:
            coro.close()
            raise RuntimeError(f"{self._name} is not running")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)


class FakeTelegramApi(LoopbackServer):
    """The fake Bot API server; see the module docstring. ``token=None`` starts with no bot."""

    def __init__(
        self,
        token: str | None = DEFAULT_TOKEN,
        *,
        username: str | None = None,
        first_name: str = "LienLac Test Bot",
        webhook_retry_delays: Sequence[float] = (0.05, 0.2, 0.5),
        webhook_timeout: float = 10.0,
        utf16_limits: bool = False,
        retry_after_exempt: Iterable[str] = ("getUpdates",),
        spec: TelegramSpec | None = None,
        limits: SendLimits | None = None,
    ) -> None:
        self.spec = spec or TelegramSpec.load()
        self.limits = limits
        self._recent: dict[str, deque[float]] = {}  # token -> accepted times in the window
        self._chat_last: dict[tuple[str, int | str], float] = {}  # (token, chat) -> last accepted
        self.spec_version = self.spec.version
        self.webhook_retry_delays = tuple(webhook_retry_delays)
        self.webhook_timeout = webhook_timeout
        self.utf16_limits = utf16_limits
        self.retry_after_exempt = frozenset(m.lower() for m in retry_after_exempt)
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._bots: dict[str, _Bot] = {}
        self._default_token: str | None = None
        self._chats: dict[int, dict[str, Any]] = {}
        self._usernames: dict[str, int] = {}
        self._files: dict[str, UploadedFile] = {}
        self._faults: list[_Fault] = []
        self._delays: list[_Delay] = []
        self._blocked: set[tuple[str | None, int | str]] = set()
        self._calls: list[Call] = []
        self._requests: list[RequestRecord] = []
        self._sent: list[dict[str, Any]] = []
        self._violations: list[str] = []
        self._rejections: list[str] = []
        self._retry_after_violations: list[str] = []
        self._rate_limits: list[dict[str, Any]] = []
        self._callback_answers: list[dict[str, Any]] = []
        self._webhook_deliveries: list[dict[str, Any]] = []
        self._closing: asyncio.Event | None = None
        self._http: httpx.AsyncClient | None = None
        self._workers: dict[str, asyncio.Task[None]] = {}
        routes = [
            Route("/bot{token}/{method}", self._handle, methods=["GET", "POST"]),
            Route("/file/bot{token}/{path:path}", self._handle_file, methods=["GET"]),
        ]
        app = Starlette(routes=routes)
        app.add_exception_handler(404, self._not_found)
        super().__init__(app, name="fake-telegram-api")
        if token is not None:
            self.add_bot(token, username=username, first_name=first_name)

    # -- addresses and bots --------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """For ``Bot(token, base_url=...)``: ``http://127.0.0.1:PORT/bot`` (PTB appends token)."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    @property
    def token(self) -> str:
        """The default (first) bot's token."""
        if self._default_token is None:
            raise LookupError("no bot: call add_bot()")
        return self._default_token

    def add_bot(
        self, token: str, *, username: str | None = None, first_name: str = "LienLac Test Bot"
    ) -> dict[str, Any]:
        """Serve another bot token; returns its getMe ``User``. The first one is the default."""
        match = _TOKEN_RE.fullmatch(token)
        if match is None:
            raise ValueError(f"not a bot token (<digits>:<secret>): {token!r}")
        bot_id = int(match.group(1))
        user = {
            "id": bot_id,
            "is_bot": True,
            "first_name": first_name,
            "username": username or f"lienlac_test_{bot_id}_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        with self._lock:
            if token in self._bots:
                raise ValueError(f"bot {token!r} already added")
            bot = _Bot(token=token, user=user)
            self._bots[token] = bot
            if self._default_token is None:
                self._default_token = token
        if self.loop is not None and self._closing is not None:
            self.loop.call_soon_threadsafe(self._start_worker, bot)
        return dict(user)

    def bot_user(self, token: str | None = None) -> dict[str, Any]:
        with self._lock:
            return dict(self._bot(token).user)

    def _bot(self, token: str | None) -> _Bot:
        token = token or self.token
        try:
            return self._bots[token]
        except KeyError:
            raise LookupError(f"unknown bot token {token!r}") from None

    # -- records ------------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """Every call to a known bot and method, in arrival order (all bots)."""
        with self._lock:
            return list(self._calls)

    @property
    def requests(self) -> list[RequestRecord]:
        """Like :attr:`calls` plus token, HTTP status and response body."""
        with self._lock:
            return list(self._requests)

    @property
    def violations(self) -> list[str]:
        """``"<method>: <problem>"`` for every call that broke the spec (each was answered 400)."""
        with self._lock:
            return list(self._violations)

    @property
    def rejections(self) -> list[str]:
        """``"<method>: <code> <description>"`` for every error not injected by a test."""
        with self._lock:
            return list(self._rejections)

    @property
    def retry_after_violations(self) -> list[str]:
        """Calls that arrived before an issued 429's ``retry_after`` had elapsed."""
        with self._lock:
            return list(self._retry_after_violations)

    @property
    def rate_limits(self) -> list[dict[str, Any]]:
        """Every 429 issued: ``{token, method, chat_id, retry_after, time}``."""
        with self._lock:
            return [dict(r) for r in self._rate_limits]

    @property
    def callback_answers(self) -> list[dict[str, Any]]:
        """answerCallbackQuery calls: ``{callback_query_id, text, show_alert, url, cache_time,
        time, token, update_id, chat_id, message_id, data}`` (last five from the query)."""
        with self._lock:
            return [dict(a) for a in self._callback_answers]

    @property
    def webhook_deliveries(self) -> list[dict[str, Any]]:
        """Every webhook POST: ``{token, url, update_id, attempt, status, error, time, manual}``."""
        with self._lock:
            return [dict(d) for d in self._webhook_deliveries]

    def calls_to(self, method: str, *, token: str | None = None) -> list[Call]:
        """Calls of one method (case-insensitive); ``token`` narrows to one bot."""
        with self._lock:
            return [
                Call(r.method, r.params, r.time)
                for r in self._requests
                if r.method.lower() == method.lower() and (token is None or r.token == token)
            ]

    def sent(
        self, chat_id: int | str | None = None, *, token: str | None = None
    ) -> list[dict[str, Any]]:
        """What bots sent, edited or deleted in a chat (all chats if None), oldest first.

        Each record: ``method, chat_id, message_id, text`` (as sent), ``plain_text`` (markup
        removed), ``caption, parse_mode, entities, reply_markup, params, message`` (the result),
        ``token`` and ``time`` (``time.monotonic()``).
        """
        with self._lock:
            key = None if chat_id is None else self._resolve_chat(chat_id)
            return [
                dict(r)
                for r in self._sent
                if (key is None or r["chat_id"] == key) and (token is None or r["token"] == token)
            ]

    def chat_messages(
        self, chat_id: int | str, *, token: str | None = None
    ) -> list[dict[str, Any]]:
        """The chat as a user sees it now: Message objects (user's and bot's), by message_id."""
        with self._lock:
            bot = self._bot(token)
            key = self._resolve_chat(chat_id)
            found = [m for (c, _), m in bot.messages.items() if c == key]
            return copy.deepcopy(sorted(found, key=lambda m: m["message_id"]))

    def pending_updates(self, *, token: str | None = None) -> list[dict[str, Any]]:
        """Updates not confirmed yet (getUpdates) / not delivered yet (webhook)."""
        with self._lock:
            return [copy.deepcopy(e.update) for e in self._bot(token).updates]

    def webhook(self, *, token: str | None = None) -> dict[str, Any] | None:
        """The parameters of the last setWebhook (url, secret_token, drop_pending_updates …)."""
        with self._lock:
            hook = self._bot(token).webhook
            return None if hook is None else dict(hook)

    def commands(
        self,
        language_code: str = "",
        scope: Mapping[str, Any] | None = None,
        *,
        token: str | None = None,
    ) -> list[dict[str, Any]] | None:
        """Commands set for a scope (default ``{"type": "default"}``) and language, or None."""
        with self._lock:
            found = self._bot(token).commands.get((_scope_key(scope), language_code))
            return None if found is None else copy.deepcopy(found)

    def all_commands(self, *, token: str | None = None) -> dict[tuple[str, str], list[Any]]:
        """``{(scope as sorted JSON, language_code): [BotCommand, ...]}``."""
        with self._lock:
            return copy.deepcopy(self._bot(token).commands)

    def clear_records(self) -> None:
        """Forget calls, sent messages, violations and other records (not bots, chats, faults)."""
        with self._lock:
            for records in (
                self._calls,
                self._requests,
                self._sent,
                self._violations,
                self._rejections,
                self._retry_after_violations,
                self._rate_limits,
                self._callback_answers,
                self._webhook_deliveries,
            ):
                records.clear()

    # -- injecting updates ----------------------------------------------------------------------

    def inject_message(
        self,
        chat_id: int,
        text: str,
        user_id: int | None = None,
        first_name: str = "Test",
        language_code: str | None = "vi",
        chat_type: str = "private",
        *,
        token: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        chat_title: str | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> int:
        """A user's text message; returns its update_id. ``/cmd`` gets a bot_command entity.

        In a private chat the user id defaults to the chat id (as on Telegram).
        """
        if user_id is None:
            user_id = chat_id if chat_type == "private" else DEFAULT_GROUP_USER_ID
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        for key, value in (
            ("last_name", last_name),
            ("username", username),
            ("language_code", language_code),
        ):
            if value is not None:
                user[key] = value
        if entities is None and text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            entities = [{"type": "bot_command", "offset": 0, "length": _utf16(command)}]
        with self._lock:
            bot = self._bot(token)
            chat = self._remember_chat(chat_id, chat_type, user, chat_title)
            message: dict[str, Any] = {
                "message_id": self._next_message_id(bot, chat_id),
                "from": user,
                "chat": dict(chat),
                "date": int(time.time()),
                "text": text,
            }
            if entities:
                message["entities"] = entities
            bot.messages[(chat_id, message["message_id"])] = message
            return self._enqueue(bot, {"message": copy.deepcopy(message)})

    def inject_file(
        self,
        chat_id: int,
        kind: str,
        data: bytes,
        *,
        caption: str = "",
        filename: str = "file.pdf",
        mime_type: str = "application/pdf",
        first_name: str = "Test",
        username: str | None = None,
        token: str | None = None,
    ) -> int:
        """A user's photo (``kind="photo"``) or document in a private chat, with an optional
        caption; the file is kept so the bot can send it on by its ``file_id``."""
        user: dict[str, Any] = {"id": chat_id, "is_bot": False, "first_name": first_name}
        if username is not None:
            user["username"] = username
        upload = UploadedFile(part=kind, filename=filename, content_type=mime_type, data=data)
        file_id = f"user-{kind}-{hashlib.sha256(data).hexdigest()[:24]}"
        ref = {"file_id": file_id, "file_unique_id": _unique_id(file_id), "file_size": len(data)}
        with self._lock:
            self._files[file_id] = upload
            bot = self._bot(token)
            chat = self._remember_chat(chat_id, "private", user, None)
            message: dict[str, Any] = {
                "message_id": self._next_message_id(bot, chat_id),
                "from": user,
                "chat": dict(chat),
                "date": int(time.time()),
            }
            if kind == "photo":
                message["photo"] = [{**ref, "width": 800, "height": 600}]
            else:
                message["document"] = {**ref, "file_name": filename, "mime_type": mime_type}
            if caption:
                message["caption"] = caption
            bot.messages[(chat_id, message["message_id"])] = message
            return self._enqueue(bot, {"message": copy.deepcopy(message)})

    def inject_callback(
        self,
        chat_id: int,
        data: str,
        message_id: int,
        user_id: int | None = None,
        *,
        first_name: str = "Test",
        language_code: str | None = "vi",
        token: str | None = None,
    ) -> int:
        """A press of an inline button with ``data`` under message ``message_id``; → update_id.

        The query carries a random ``id``, ``from`` (the user; defaults to the chat id), the
        message as the fake knows it (or an InaccessibleMessage) and ``chat_instance``.
        """
        user: dict[str, Any] = {
            "id": chat_id if user_id is None else user_id,
            "is_bot": False,
            "first_name": first_name,
        }
        if language_code is not None:
            user["language_code"] = language_code
        with self._lock:
            bot = self._bot(token)
            message = bot.messages.get((chat_id, message_id))
            if message is None:
                chat = self._remember_chat(chat_id, "private", user, None)
                message = {"chat": dict(chat), "message_id": message_id, "date": 0}
            query = {
                "id": str(random.getrandbits(62)),
                "from": user,
                "message": copy.deepcopy(message),
                "chat_instance": str(_stable_int(f"{bot.token}:{chat_id}")),
                "data": data,
            }
            return self._enqueue(bot, {"callback_query": query})

    def press_button(
        self,
        chat_id: int,
        button_text: str,
        *,
        message_id: int | None = None,
        user_id: int | None = None,
        token: str | None = None,
        first_name: str = "Test",
        language_code: str | None = "vi",
    ) -> int:
        """Press the inline button labelled ``button_text`` (exactly) on the newest bot message
        that has it (or on ``message_id``); → update_id. Raises LookupError if there is none."""
        with self._lock:
            bot = self._bot(token)
            labels: list[str] = []
            candidates = sorted(
                (m for (c, _), m in bot.messages.items() if c == chat_id),
                key=lambda m: -m["message_id"],
            )
            for message in candidates:
                if message_id is not None and message["message_id"] != message_id:
                    continue
                rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
                for button in (b for row in rows for b in row):
                    labels.append(button.get("text", ""))
                    if button.get("text") == button_text and "callback_data" in button:
                        return self.inject_callback(
                            chat_id,
                            button["callback_data"],
                            message["message_id"],
                            user_id,
                            first_name=first_name,
                            language_code=language_code,
                            token=token,
                        )
        raise LookupError(f"no inline button {button_text!r} in chat {chat_id}; have {labels}")

    def inject_update(self, update: Mapping[str, Any], *, token: str | None = None) -> int:
        """Queue a raw update (forged, duplicate …); ``update_id`` is assigned if missing."""
        body = copy.deepcopy(dict(update))
        update_id = body.pop("update_id", None)
        with self._lock:
            return self._enqueue(self._bot(token), body, update_id)

    def _enqueue(self, bot: _Bot, body: dict[str, Any], update_id: int | None = None) -> int:
        if update_id is None:
            update_id = bot.next_update_id
        bot.next_update_id = max(bot.next_update_id, update_id + 1)
        update = {"update_id": update_id, **body}
        query = update.get("callback_query")
        if isinstance(query, dict) and "id" in query:
            bot.callback_queries[str(query["id"])] = {**query, "update_id": update_id}
        bot.updates.append(_Entry(update))
        self._changed(bot)
        return update_id

    # -- webhook --------------------------------------------------------------------------------

    def post_update_to_webhook(
        self,
        update: Mapping[str, Any],
        *,
        secret: str | None = _UNSET,
        url: str | None = None,
        token: str | None = None,
        timeout: float = 30.0,
    ) -> int:
        """POST ``update`` to the bot's webhook (or ``url``) once; → the HTTP status.

        ``secret`` defaults to the registered secret_token; ``None`` sends no header. Do not call
        this from the event loop that runs the receiving app: use :meth:`apost_update_to_webhook`.
        """
        coro = self._manual_post(update, secret, url, token)
        return int(self.run_coroutine(coro, timeout))

    async def apost_update_to_webhook(
        self,
        update: Mapping[str, Any],
        *,
        secret: str | None = _UNSET,
        url: str | None = None,
        token: str | None = None,
    ) -> int:
        """Async twin of :meth:`post_update_to_webhook` (the POST runs on the fake's loop)."""
        future = self.submit(self._manual_post(update, secret, url, token))
        return int(await asyncio.wrap_future(future))

    async def _manual_post(
        self, update: Mapping[str, Any], secret: str | None, url: str | None, token: str | None
    ) -> int:
        with self._lock:
            bot = self._bot(token)
            hook = dict(bot.webhook or {})
        target = url or hook.get("url")
        if not target:
            raise ValueError("no webhook set and no url given")
        if not _is_local_url(target):
            raise ValueError(f"refusing to POST outside loopback: {target}")
        if secret is _UNSET:
            secret = hook.get("secret_token")
        status, error = await self._post(target, dict(update), secret)
        self._record_delivery(bot, target, dict(update), 1, status, error, manual=True)
        if status is None:
            raise ConnectionError(f"webhook POST to {target} failed: {error}")
        return status

    async def _post(
        self, url: str, update: dict[str, Any], secret: str | None
    ) -> tuple[int | None, str | None]:
        assert self._http is not None
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        try:
            response = await self._http.post(
                url, content=json.dumps(update).encode(), headers=headers
            )
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        return response.status_code, None

    def _record_delivery(
        self,
        bot: _Bot,
        url: str,
        update: Mapping[str, Any],
        attempt: int,
        status: int | None,
        error: str | None,
        *,
        manual: bool,
    ) -> None:
        with self._lock:
            self._webhook_deliveries.append(
                {
                    "token": bot.token,
                    "url": url,
                    "update_id": update.get("update_id"),
                    "attempt": attempt,
                    "status": status,
                    "error": error,
                    "time": time.monotonic(),
                    "manual": manual,
                }
            )
            self._changed()

    async def _webhook_worker(self, bot: _Bot) -> None:
        while True:
            bot.webhook_event.clear()
            with self._lock:
                hook = dict(bot.webhook) if bot.webhook else None
                entry = None
                if hook is not None and _is_local_url(hook["url"]):
                    entry = self._next_deliverable(bot, hook.get("allowed_updates"))
            if hook is None or entry is None:
                await bot.webhook_event.wait()
                continue
            ok = False
            delays = (*self.webhook_retry_delays, None)
            for attempt, pause in enumerate(delays, start=1):
                status, error = await self._post(
                    hook["url"], entry.update, hook.get("secret_token")
                )
                self._record_delivery(
                    bot, hook["url"], entry.update, attempt, status, error, manual=False
                )
                if status is not None and 200 <= status < 300:
                    ok = True
                    break
                with self._lock:
                    bot.webhook_error = (
                        int(time.time()),
                        error or f"Wrong response from the webhook: {status}",
                    )
                if pause is not None:
                    await asyncio.sleep(pause)
            with self._lock:
                bot.updates = [e for e in bot.updates if e is not entry]
                if ok:
                    entry.delivered = True
                self._changed()

    def _start_worker(self, bot: _Bot) -> None:
        if bot.token not in self._workers:
            self._workers[bot.token] = asyncio.get_running_loop().create_task(
                self._webhook_worker(bot)
            )

    # -- fault injection ------------------------------------------------------------------------

    def fail_next(
        self,
        method: str = "*",
        error_code: int = 429,
        *,
        retry_after: int | None = None,
        count: int = 1,
        description: str | None = None,
        token: str | None = None,
        body: str | None = None,
    ) -> None:
        """Answer the next ``count`` valid calls of ``method`` (``"*"``: any) with an error.

        429 → ``"Too Many Requests: retry after N"`` + ``parameters.retry_after`` (N defaults to
        1); 403 → "Forbidden: bot was blocked by the user"; 5xx → "Bad Gateway" and the like.
        ``body`` replaces the JSON body (e.g. an HTML 502 page from a proxy). ``token=None``:
        any bot.
        """
        if error_code == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            if error_code == 429:
                description = f"Too Many Requests: retry after {retry_after}"
            else:
                description = ERROR_DESCRIPTIONS.get(error_code, f"Error {error_code}")
        with self._lock:
            self._faults.append(
                _Fault(method.lower(), token, error_code, description, retry_after, count, body)
            )

    def delay(
        self,
        method: str,
        seconds: float,
        *,
        count: int | None = None,
        token: str | None = None,
        chat: int | str | None = None,
    ) -> None:
        """Hold answers to ``method`` (``"*"``: any; only to ``chat`` if given) for
        ``seconds`` (next ``count`` calls, or until changed; ``seconds=0`` removes the delay).
        The call takes effect after the pause, as a platform that accepted a message but was
        slow to answer. Longer than the client's read timeout makes PTB raise TimedOut."""
        where = None if chat is None else str(chat)
        with self._lock:
            self._delays = [
                d
                for d in self._delays
                if not (d.method == method.lower() and d.token == token and d.chat == where)
            ]
            if seconds > 0:
                self._delays.append(_Delay(method.lower(), token, seconds, count, where))

    def block_chat(self, chat_id: int | str, *, token: str | None = None) -> None:
        """The user blocked the bot (``token=None``: every bot): sends there answer 403."""
        with self._lock:
            self._blocked.add((token, self._resolve_chat(chat_id)))

    def unblock_chat(self, chat_id: int | str, *, token: str | None = None) -> None:
        with self._lock:
            self._blocked.discard((token, self._resolve_chat(chat_id)))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._delays.clear()
            self._blocked.clear()

    # -- waiting -------------------------------------------------------------------------------

    def wait_for(
        self,
        chat_id: int | str,
        predicate: Callable[[dict[str, Any]], bool] | str | None = None,
        timeout: float = 5.0,
        *,
        after: int = 0,
        token: str | None = None,
    ) -> dict[str, Any]:
        """Block until a :meth:`sent` record of the chat (from index ``after`` on) matches.

        ``predicate`` is a callable on the record, a substring of its text/caption, or None (any).
        Raises TimeoutError listing what was sent.
        """
        match = _record_matcher(predicate)
        found: list[dict[str, Any]] = []

        def check() -> bool:
            found[:] = [r for r in self.sent(chat_id, token=token)[after:] if match(r)][:1]
            return bool(found)

        self.wait_until(check, timeout, what=lambda: self._describe_wait(chat_id, predicate))
        return found[0]

    async def await_message(
        self,
        chat_id: int | str,
        predicate: Callable[[dict[str, Any]], bool] | str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - same signature as wait_for()
        *,
        after: int = 0,
        token: str | None = None,
    ) -> dict[str, Any]:
        """Async twin of :meth:`wait_for` (polls; never blocks the caller's loop)."""
        match = _record_matcher(predicate)
        found: list[dict[str, Any]] = []

        def check() -> bool:
            found[:] = [r for r in self.sent(chat_id, token=token)[after:] if match(r)][:1]
            return bool(found)

        await self.await_until(check, timeout, what=lambda: self._describe_wait(chat_id, predicate))
        return found[0]

    def wait_for_call(
        self, method: str, timeout: float = 5.0, *, after: int = 0, token: str | None = None
    ) -> Call:
        """Block until the ``after``-th (0-based) call of ``method`` has arrived; return it."""
        found: list[Call] = []

        def check() -> bool:
            found[:] = self.calls_to(method, token=token)[after : after + 1]
            return bool(found)

        self.wait_until(check, timeout, what=f"call #{after} of {method}")
        return found[0]

    async def await_call(
        self,
        method: str,
        timeout: float = 5.0,  # noqa: ASYNC109 - same signature as wait_for_call()
        *,
        after: int = 0,
        token: str | None = None,
    ) -> Call:
        found: list[Call] = []

        def check() -> bool:
            found[:] = self.calls_to(method, token=token)[after : after + 1]
            return bool(found)

        await self.await_until(check, timeout, what=f"call #{after} of {method}")
        return found[0]

    def wait_until(
        self,
        condition: Callable[[], bool],
        timeout: float = 5.0,
        *,
        what: str | Callable[[], str] = "condition",
    ) -> None:
        """Block until ``condition()`` is true (re-checked on every change), or TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"timed out after {timeout} s waiting for {_text(what)}")
                self._cond.wait(min(remaining, 0.05))

    async def await_until(
        self,
        condition: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - same signature as wait_until()
        *,
        what: str | Callable[[], str] = "condition",
    ) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() >= deadline:
                raise TimeoutError(f"timed out after {timeout} s waiting for {_text(what)}")
            await asyncio.sleep(0.01)

    def _describe_wait(self, chat_id: int | str, predicate: object) -> str:
        texts = [r["text"] or r["caption"] or r["method"] for r in self.sent(chat_id)]
        return (
            f"a message matching {predicate!r} in chat {chat_id}; sent there: {texts!r}; "
            f"violations: {self.violations!r}"
        )

    # -- state helpers (call with the lock held) -------------------------------------------------

    def _changed(self, bot: _Bot | None = None) -> None:
        self._cond.notify_all()
        loop = self.loop
        if bot is None or loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # loop closed meanwhile
            loop.call_soon_threadsafe(_set_events, bot)

    def _resolve_chat(self, chat_id: int | str) -> int | str:
        key = _chat_key(chat_id)
        if isinstance(key, str) and key.startswith("@"):
            name = key[1:].lower()
            if name not in self._usernames:
                self._usernames[name] = -1_000_000_000_000 - len(self._usernames) - 1
                self._chats[self._usernames[name]] = {
                    "id": self._usernames[name],
                    "type": "channel",
                    "title": key[1:],
                    "username": key[1:],
                }
            return self._usernames[name]
        return key

    def _remember_chat(
        self, chat_id: int, chat_type: str, user: Mapping[str, Any] | None, title: str | None
    ) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private" and user is not None:
            for key in ("first_name", "last_name", "username"):
                if key in user:
                    chat[key] = user[key]
        elif chat_type != "private":
            chat["title"] = title or f"Test {chat_type} {chat_id}"
        if chat_id not in self._chats or title is not None or chat_type == "private":
            self._chats[chat_id] = chat
        return self._chats[chat_id]

    def _chat(self, key: int | str) -> dict[str, Any]:
        if isinstance(key, str):
            raise _ApiError(400, "Bad Request: chat not found")
        if key not in self._chats:
            if key > 0:
                self._chats[key] = {"id": key, "type": "private", "first_name": f"User {key}"}
            else:
                kind = "supergroup" if str(key).startswith("-100") else "group"
                self._chats[key] = {"id": key, "type": kind, "title": f"Test {kind} {key}"}
        return self._chats[key]

    def _next_message_id(self, bot: _Bot, chat_id: int) -> int:
        bot.next_message_id[chat_id] = bot.next_message_id.get(chat_id, 0) + 1
        return bot.next_message_id[chat_id]

    def _wanted(self, allowed: list[str] | None) -> frozenset[str]:
        return frozenset(allowed) if allowed else self.spec.update_kinds - OPT_IN_UPDATES

    def _next_deliverable(self, bot: _Bot, allowed: list[str] | None) -> _Entry | None:
        """First pending update the bot wants; drops those it did not ask for."""
        wanted = self._wanted(allowed)
        while bot.updates:
            entry = bot.updates[0]
            if _update_kind(entry.update) in wanted:
                return entry
            bot.updates.pop(0)
        return None

    # -- HTTP ----------------------------------------------------------------------------------

    async def on_startup(self) -> None:
        self._closing = asyncio.Event()
        self._http = httpx.AsyncClient(timeout=self.webhook_timeout, trust_env=False)
        with self._lock:
            bots = list(self._bots.values())
            for bot in bots:  # fresh events: a restarted server runs on a new loop
                bot.updates_event = asyncio.Event()
                bot.webhook_event = asyncio.Event()
        for bot in bots:
            self._start_worker(bot)

    def on_stopping(self) -> None:
        if self._closing is not None:
            self._closing.set()
        with self._lock:
            for bot in self._bots.values():
                _set_events(bot)

    async def on_shutdown(self) -> None:
        workers = list(self._workers.values())
        self._workers.clear()
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _not_found(self, request: Request, exc: Exception) -> Response:
        return _error_response(404, "Not Found")

    async def _handle_file(self, request: Request) -> Response:
        token, path = request.path_params["token"], request.path_params["path"]
        with self._lock:
            known = token in self._bots
            upload = self._files.get(path.rsplit("/", 1)[-1]) if known else None
        if not known:
            return _error_response(401, "Unauthorized")
        if upload is None:
            return _error_response(404, "Not Found")
        return Response(upload.data, media_type=upload.content_type)

    async def _handle(self, request: Request) -> Response:
        token, raw_method = request.path_params["token"], request.path_params["method"]
        now = time.monotonic()
        with self._lock:
            bot = self._bots.get(token)
        method = self.spec.canonical_method(raw_method)
        record = RequestRecord(token, method or raw_method, {}, now)
        if bot is None:
            return self._reject(record, _ApiError(401, "Unauthorized"))
        if method is None:
            return self._reject(
                record, _ApiError(404, "Not Found: method not found", violation=True)
            )
        try:
            raw, files = await _read_params(request)
        except ClientDisconnect:  # the bot process was stopped mid-request: nobody to answer
            return Response(status_code=499)
        except ValueError as exc:
            return self._reject(record, _ApiError(400, f"Bad Request: {exc}", violation=True))
        checked = self.spec.validate_call(method, raw, files, utf16=self.utf16_limits)
        record.params = checked.params
        with self._lock:
            self._calls.append(Call(method, checked.params, now))
            self._requests.append(record)
            self._note_early_retry(bot, method, now)
            self._changed()
        if checked.errors:
            description = "Bad Request: " + "; ".join(checked.errors)
            return self._reject(record, _ApiError(400, description, violation=True))
        pause = self._take_delay(token, method, checked.params.get("chat_id"))
        if pause and self._closing is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), pause)
        injected = self._take_fault(bot, method, checked.params, time.monotonic())
        if injected is None:
            injected = self._enforce_limits(bot, method, checked.params, time.monotonic())
        if injected is not None:
            return self._finish(record, injected)
        try:
            result = await self._dispatch(bot, method, checked.params)
        except _ApiError as exc:
            return self._reject(record, exc)
        return self._finish(record, JSONResponse({"ok": True, "result": result}))

    def _finish(self, record: RequestRecord, response: Response) -> Response:
        with self._lock:
            record.status = response.status_code
            try:
                record.response = json.loads(bytes(response.body))
            except ValueError:
                record.response = bytes(response.body).decode("utf-8", "replace")
            self._changed()
        return response

    def _reject(self, record: RequestRecord, error: _ApiError) -> Response:
        with self._lock:
            note = f"{record.method}: {error.code} {error.description}"
            self._rejections.append(note)
            if error.violation:
                self._violations.append(f"{record.method}: {error.description}")
        return self._finish(record, _error_response(error.code, error.description))

    def _note_early_retry(self, bot: _Bot, method: str, now: float) -> None:
        if bot.flood is None or method.lower() in self.retry_after_exempt:
            return
        issued, retry_after, limited = bot.flood
        waited = now - issued
        if waited >= retry_after:
            bot.flood = None
            return
        self._retry_after_violations.append(
            f"{method} arrived {waited:.3f} s after a 429 on {limited} with retry_after="
            f"{retry_after} (bot {bot.user['id']})"
        )

    def _take_delay(self, token: str, method: str, chat: object) -> float:
        with self._lock:
            for item in self._delays:
                if (
                    item.method in ("*", method.lower())
                    and item.token in (None, token)
                    and item.chat in (None, str(chat))
                ):
                    if item.remaining is not None:
                        item.remaining -= 1
                        if item.remaining <= 0:
                            self._delays.remove(item)
                    return item.seconds
        return 0.0

    def _take_fault(
        self, bot: _Bot, method: str, params: Mapping[str, Any], now: float
    ) -> Response | None:
        with self._lock:
            for fault in self._faults:
                if fault.method in ("*", method.lower()) and fault.token in (None, bot.token):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    if fault.code == 429:
                        retry_after = fault.retry_after or 1
                        bot.flood = (now, retry_after, method)
                        self._rate_limits.append(
                            {
                                "token": bot.token,
                                "method": method,
                                "chat_id": params.get("chat_id"),
                                "retry_after": retry_after,
                                "time": now,
                            }
                        )
                    if fault.body is not None:
                        return Response(fault.body, fault.code, media_type="text/html")
                    extra = {"retry_after": fault.retry_after} if fault.retry_after else None
                    return _error_response(fault.code, fault.description, extra)
            if "chat_id" in params and method.startswith(("send", "copy", "forward", "edit")):
                key = self._resolve_chat(params["chat_id"])
                if (None, key) in self._blocked or (bot.token, key) in self._blocked:
                    if isinstance(key, int) and key < 0:
                        text = "Forbidden: bot was kicked from the group chat"
                    else:
                        text = "Forbidden: bot was blocked by the user"
                    return _error_response(403, text)
        return None

    def _enforce_limits(
        self, bot: _Bot, method: str, params: Mapping[str, Any], now: float
    ) -> Response | None:
        """With :attr:`limits`: 429 for a message beyond the bot's or the chat's budget."""
        limits = self.limits
        if (
            limits is None
            or "chat_id" not in params
            or not method.startswith(_MESSAGE_METHODS)
            or method == "sendChatAction"
        ):
            return None
        with self._lock:
            chat = self._resolve_chat(params["chat_id"])
            recent = self._recent.setdefault(bot.token, deque())
            while recent and recent[0] <= now - limits.window:
                recent.popleft()
            wait = 0.0
            if len(recent) >= limits.per_bot:
                wait = recent[0] + limits.window - now
            last = self._chat_last.get((bot.token, chat))
            if last is not None and now - last < limits.chat_interval:
                wait = max(wait, last + limits.chat_interval - now)
            if wait <= 0:
                recent.append(now)
                self._chat_last[(bot.token, chat)] = now
                return None
            retry_after = max(1, math.ceil(wait))
            bot.flood = (now, retry_after, method)
            self._rate_limits.append(
                {
                    "token": bot.token,
                    "method": method,
                    "chat_id": params.get("chat_id"),
                    "retry_after": retry_after,
                    "time": now,
                }
            )
        return _error_response(
            429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
        )

    def accepted_times(self) -> dict[str, list[float]]:
        """Token -> the ``time.monotonic()`` of each message it sent that was accepted."""
        with self._lock:
            out: dict[str, list[float]] = {}
            for r in self._sent:
                if r["method"].startswith(_MESSAGE_METHODS):
                    out.setdefault(r["token"], []).append(r["time"])
            return out

    def duplicates(self, *, token: str | None = None) -> int:
        """Messages that repeat an earlier one exactly (same bot, chat and text); ``token``
        narrows to one bot."""
        with self._lock:
            seen = Counter(
                (r["token"], r["chat_id"], r["text"])
                for r in self._sent
                if r["method"].startswith(_MESSAGE_METHODS)
                and (token is None or r["token"] == token)
            )
            return sum(n - 1 for n in seen.values())

    # -- methods -------------------------------------------------------------------------------

    async def _dispatch(self, bot: _Bot, method: str, params: dict[str, Any]) -> Any:
        if method == "getUpdates":
            return await self._get_updates(bot, params)
        handler = getattr(self, f"_m_{method}", None)
        with self._lock:
            if handler is not None:
                return handler(bot, params)
            returns = self.spec.methods[method].returns
            if returns == ("Message",) and "chat_id" in params:
                return self._store_message(bot, method, params, {})
            if returns == ("Array of Message",) and isinstance(params.get("media"), list):
                items = [m for m in params["media"] if isinstance(m, dict)]
                return [
                    self._store_message(
                        bot,
                        method,
                        {"chat_id": params["chat_id"], "caption": item.get("caption")},
                        {},
                    )
                    for item in items
                ]
            return True

    async def _get_updates(self, bot: _Bot, params: dict[str, Any]) -> list[dict[str, Any]]:
        with self._lock:
            if bot.webhook is not None:
                raise _ApiError(409, WEBHOOK_CONFLICT)
            bot.poll_generation += 1
            generation = bot.poll_generation
            _set_events(bot)  # wakes an older long poll, which then answers 409
            if params.get("allowed_updates"):
                bot.allowed_updates = list(params["allowed_updates"])
            offset = params.get("offset")
            if isinstance(offset, int) and offset < 0:
                del bot.updates[: max(0, len(bot.updates) + offset)]
            elif isinstance(offset, int):
                bot.updates = [
                    e for e in bot.updates if not (e.delivered and e.update["update_id"] < offset)
                ]
        limit = int(params.get("limit", 100))
        deadline = time.monotonic() + max(0, int(params.get("timeout", 0)))
        while True:
            bot.updates_event.clear()
            with self._lock:
                if bot.poll_generation != generation:
                    raise _ApiError(409, POLL_CONFLICT)
                if bot.webhook is not None:
                    raise _ApiError(409, WEBHOOK_CONFLICT)
                wanted = self._wanted(bot.allowed_updates)
                bot.updates = [e for e in bot.updates if _update_kind(e.update) in wanted]
                batch = bot.updates[:limit]
                closing = self._closing is not None and self._closing.is_set()
                if batch or closing or time.monotonic() >= deadline:
                    for entry in batch:
                        entry.delivered = True
                    return [copy.deepcopy(e.update) for e in batch]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(bot.updates_event.wait(), deadline - time.monotonic())

    def _m_getMe(self, bot: _Bot, params: dict[str, Any]) -> Any:
        return dict(bot.user)

    def _m_setWebhook(self, bot: _Bot, params: dict[str, Any]) -> Any:
        if not params.get("url"):
            return self._m_deleteWebhook(bot, params)
        hook = {k: v for k, v in params.items() if not isinstance(v, UploadedFile)}
        hook["has_custom_certificate"] = "certificate" in params
        bot.webhook = hook
        bot.webhook_error = None
        bot.poll_generation += 1
        if params.get("drop_pending_updates"):
            bot.updates.clear()
        self._changed(bot)
        return True

    def _m_deleteWebhook(self, bot: _Bot, params: dict[str, Any]) -> Any:
        bot.webhook = None
        bot.webhook_error = None
        if params.get("drop_pending_updates"):
            bot.updates.clear()
        self._changed(bot)
        return True

    def _m_getWebhookInfo(self, bot: _Bot, params: dict[str, Any]) -> Any:
        hook = bot.webhook or {}
        info: dict[str, Any] = {
            "url": hook.get("url", ""),
            "has_custom_certificate": bool(hook.get("has_custom_certificate", False)),
            "pending_update_count": len(bot.updates),
        }
        if hook:
            info["max_connections"] = hook.get("max_connections", 40)
            if hook.get("allowed_updates"):
                info["allowed_updates"] = hook["allowed_updates"]
            if hook.get("ip_address"):
                info["ip_address"] = hook["ip_address"]
        if bot.webhook_error is not None:
            info["last_error_date"], info["last_error_message"] = bot.webhook_error
        return info

    def _m_setMyCommands(self, bot: _Bot, params: dict[str, Any]) -> Any:
        key = (_scope_key(params.get("scope")), params.get("language_code", ""))
        bot.commands[key] = copy.deepcopy(params["commands"])
        return True

    def _m_getMyCommands(self, bot: _Bot, params: dict[str, Any]) -> Any:
        key = (_scope_key(params.get("scope")), params.get("language_code", ""))
        return copy.deepcopy(bot.commands.get(key, []))

    def _m_deleteMyCommands(self, bot: _Bot, params: dict[str, Any]) -> Any:
        bot.commands.pop((_scope_key(params.get("scope")), params.get("language_code", "")), None)
        return True

    def _m_sendMessage(self, bot: _Bot, params: dict[str, Any]) -> Any:
        text = _plain(params["text"], params.get("parse_mode"))
        extra: dict[str, Any] = {"text": text}
        if params.get("entities"):
            extra["entities"] = params["entities"]
        return self._store_message(bot, "sendMessage", params, extra)

    def _m_sendPhoto(self, bot: _Bot, params: dict[str, Any]) -> Any:
        file_id, unique, size = self._file(params["photo"], "photo")
        sizes = [
            {"width": 90, "height": 90},
            {"width": 800, "height": 800},
        ]
        photo = [
            {"file_id": file_id, "file_unique_id": unique, "file_size": size, **s} for s in sizes
        ]
        return self._store_message(bot, "sendPhoto", params, {"photo": photo})

    def _m_sendDocument(self, bot: _Bot, params: dict[str, Any]) -> Any:
        file_id, unique, size = self._file(params["document"], "document")
        upload = params["document"]
        document: dict[str, Any] = {"file_id": file_id, "file_unique_id": unique, "file_size": size}
        if isinstance(upload, UploadedFile):
            document["file_name"] = upload.filename
            document["mime_type"] = upload.content_type
        return self._store_message(bot, "sendDocument", params, {"document": document})

    def _m_getFile(self, bot: _Bot, params: dict[str, Any]) -> Any:
        upload = self._files.get(params["file_id"])
        if upload is None:
            raise _ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": params["file_id"],
            "file_unique_id": _unique_id(params["file_id"]),
            "file_size": len(upload.data),
            "file_path": f"files/{params['file_id']}",
        }

    def _m_editMessageText(self, bot: _Bot, params: dict[str, Any]) -> Any:
        if "inline_message_id" in params:
            self._record_sent(bot, "editMessageText", params, None)
            return True
        message = self._own_message(bot, params, "edit")
        text = _plain(params.get("text", ""), params.get("parse_mode"))
        markup = _inline_markup(params)
        if message.get("text") == text and message.get("reply_markup") == markup:
            raise _ApiError(400, NOT_MODIFIED)
        message["text"] = text
        message.pop("entities", None)
        if params.get("entities"):
            message["entities"] = params["entities"]
        return self._edited(bot, "editMessageText", params, message, markup)

    def _m_editMessageReplyMarkup(self, bot: _Bot, params: dict[str, Any]) -> Any:
        if "inline_message_id" in params:
            self._record_sent(bot, "editMessageReplyMarkup", params, None)
            return True
        message = self._own_message(bot, params, "edit")
        markup = _inline_markup(params)
        if message.get("reply_markup") == markup:
            raise _ApiError(400, NOT_MODIFIED)
        return self._edited(bot, "editMessageReplyMarkup", params, message, markup)

    def _m_deleteMessage(self, bot: _Bot, params: dict[str, Any]) -> Any:
        key = (self._resolve_chat(params["chat_id"]), params["message_id"])
        if key not in bot.messages:
            raise _ApiError(400, "Bad Request: message to delete not found")
        del bot.messages[key]
        self._record_sent(bot, "deleteMessage", params, None)
        return True

    def _m_answerCallbackQuery(self, bot: _Bot, params: dict[str, Any]) -> Any:
        query = bot.callback_queries.get(str(params["callback_query_id"]))
        if query is None:
            raise _ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        message = query.get("message") or {}
        self._callback_answers.append(
            {
                "callback_query_id": str(params["callback_query_id"]),
                "text": params.get("text"),
                "show_alert": params.get("show_alert", False),
                "url": params.get("url"),
                "cache_time": params.get("cache_time"),
                "time": time.monotonic(),
                "token": bot.token,
                "update_id": query.get("update_id"),
                "chat_id": (message.get("chat") or {}).get("id"),
                "message_id": message.get("message_id"),
                "data": query.get("data"),
            }
        )
        self._changed()
        return True

    def _m_sendChatAction(self, bot: _Bot, params: dict[str, Any]) -> Any:
        self._chat(self._resolve_chat(params["chat_id"]))
        return True

    def _m_getChat(self, bot: _Bot, params: dict[str, Any]) -> Any:
        chat = dict(self._chat(self._resolve_chat(params["chat_id"])))
        chat.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        return chat

    def _m_close(self, bot: _Bot, params: dict[str, Any]) -> Any:
        return True

    def _m_logOut(self, bot: _Bot, params: dict[str, Any]) -> Any:
        return True

    # -- message helpers (lock held) -----------------------------------------------------------

    def _store_message(
        self, bot: _Bot, method: str, params: Mapping[str, Any], extra: Mapping[str, Any]
    ) -> dict[str, Any]:
        key = self._resolve_chat(params["chat_id"])
        chat = self._chat(key)
        message: dict[str, Any] = {
            "message_id": self._next_message_id(bot, chat["id"]),
            "from": bot.short_user,
            "chat": dict(chat),
            "date": int(time.time()),
            **extra,
        }
        if isinstance(params.get("caption"), str):
            message["caption"] = _plain(params["caption"], params.get("parse_mode"))
            if params.get("caption_entities"):
                message["caption_entities"] = params["caption_entities"]
        markup = _inline_markup(params)
        if markup is not None:
            message["reply_markup"] = markup
        bot.messages[(chat["id"], message["message_id"])] = message
        self._record_sent(bot, method, params, message)
        return copy.deepcopy(message)

    def _own_message(self, bot: _Bot, params: Mapping[str, Any], verb: str) -> dict[str, Any]:
        key = (self._resolve_chat(params["chat_id"]), params["message_id"])
        message = bot.messages.get(key)
        if message is None:
            raise _ApiError(400, f"Bad Request: message to {verb} not found")
        if (message.get("from") or {}).get("id") != bot.user["id"]:
            raise _ApiError(400, f"Bad Request: message can't be {verb}ed")
        return message

    def _edited(
        self,
        bot: _Bot,
        method: str,
        params: Mapping[str, Any],
        message: dict[str, Any],
        markup: dict[str, Any] | None,
    ) -> dict[str, Any]:
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        self._record_sent(bot, method, params, message)
        return copy.deepcopy(message)

    def _record_sent(
        self,
        bot: _Bot,
        method: str,
        params: Mapping[str, Any],
        message: Mapping[str, Any] | None,
    ) -> None:
        text = params.get("text")
        mode = params.get("parse_mode")
        record = {
            "method": method,
            "chat_id": self._resolve_chat(params["chat_id"]) if "chat_id" in params else None,
            "message_id": (message or {}).get("message_id", params.get("message_id")),
            "text": text,
            "plain_text": _plain(text, mode) if isinstance(text, str) else None,
            "caption": params.get("caption"),
            "parse_mode": mode,
            "entities": params.get("entities"),
            "reply_markup": params.get("reply_markup"),
            "params": dict(params),
            "message": copy.deepcopy(message) if message is not None else None,
            "token": bot.token,
            "time": time.monotonic(),
        }
        self._sent.append(record)
        self._changed()

    def _file(self, value: Any, kind: str) -> tuple[str, str, int]:
        if isinstance(value, UploadedFile):
            digest = hashlib.sha256(value.data).hexdigest()[:24]
            file_id = f"{kind}-{digest}"
            self._files[file_id] = value
            return file_id, _unique_id(file_id), len(value.data)
        file_id = str(value)
        known = self._files.get(file_id)
        if known is None and not file_id.startswith(("http://", "https://")):
            raise _ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        if known is None:
            file_id = f"{kind}-url-{hashlib.sha256(file_id.encode()).hexdigest()[:24]}"
        return file_id, _unique_id(file_id), len(known.data) if known else 0


# -- module helpers ----------------------------------------------------------------------------


def _set_events(bot: _Bot) -> None:
    bot.updates_event.set()
    bot.webhook_event.set()


def _error_response(
    code: int, description: str, parameters: Mapping[str, Any] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = dict(parameters)
    return JSONResponse(body, status_code=code)


def _scope_key(scope: Mapping[str, Any] | None) -> str:
    return json.dumps(dict(scope or {"type": "default"}), sort_keys=True)


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _stable_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:7], "big")


def _unique_id(file_id: str) -> str:
    return hashlib.sha256(file_id.encode()).hexdigest()[:16]


def _plain(text: str, parse_mode: Any) -> str:
    try:
        return plain_text(text, parse_mode if isinstance(parse_mode, str) else None)
    except EntityParseError:
        return text


def _inline_markup(params: Mapping[str, Any]) -> dict[str, Any] | None:
    markup = params.get("reply_markup")
    if isinstance(markup, dict) and "inline_keyboard" in markup:
        return copy.deepcopy(markup)
    return None


def _text(what: str | Callable[[], str]) -> str:
    return what() if callable(what) else what


def _record_matcher(
    predicate: Callable[[dict[str, Any]], bool] | str | None,
) -> Callable[[dict[str, Any]], bool]:
    if predicate is None:
        return lambda record: True
    if isinstance(predicate, str):
        needle = predicate
        return lambda r: any(
            isinstance(r.get(k), str) and needle in r[k] for k in ("text", "plain_text", "caption")
        )
    return predicate


async def _read_params(request: Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """Query string + body (urlencoded, multipart or JSON) → (params, uploaded files)."""
    params: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    if not body:
        return params, {}
    content_type = request.headers.get("content-type", "")
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime == "application/json":
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise ValueError(f"can't parse JSON body: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError("JSON body must be an object")
        params.update(data)
        return params, {}
    if mime in ("application/x-www-form-urlencoded", ""):
        try:
            pairs = urllib.parse.parse_qsl(
                body.decode("utf-8"), keep_blank_values=True, strict_parsing=True
            )
        except (UnicodeDecodeError, ValueError) as exc:
            raise ValueError(f"can't parse form body: {exc}") from None
        params.update(pairs)
        return params, {}
    if mime == "multipart/form-data":
        return _parse_multipart(content_type, body, params)
    raise ValueError(f"unsupported Content-Type {content_type!r}")


def _parse_multipart(
    content_type: str, body: bytes, params: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ValueError("malformed multipart body")
    files: dict[str, UploadedFile] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise ValueError("multipart part without a name")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None or part.get_content_type() not in ("text/plain",):
            files[name] = UploadedFile(name, filename or name, part.get_content_type(), data)
        else:
            params[name] = data.decode(part.get_content_charset() or "utf-8")
    return params, files
