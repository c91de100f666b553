"""The Telegram channel: Bot API updates in, :class:`~bot.messages.Reply` objects out.

The only module that imports ``telegram`` (python-telegram-bot 22.x). PTB is used as a typed
HTTP client (``telegram.Bot``) and for parsing (``Update.de_json``); polling, webhooks,
concurrency and retries are ours, so that nothing that must survive a restart lives in PTB
(no ``ConversationHandler``, ``JobQueue``, persistence or arbitrary callback data).

* :func:`to_incoming` turns an ``Update`` into an :class:`~bot.messages.Incoming`.
* :func:`plan_replies` turns the router's replies into Bot API calls (:class:`ApiCall`).
* :class:`BotApi` performs every call with one retry policy (429, network errors, blocked).
* :class:`TelegramChannel` receives updates (long polling or webhook), runs turns
  concurrently across conversations and in order within one, and sends the replies.
* :class:`TelegramBots` runs every school's bot; ``bot.serve`` wires it into the process.

The bot token is a secret: it is part of every Bot API URL, so no URL is ever logged, the
``httpx``/``telegram`` loggers are kept at WARNING, and a logging filter blanks the token
wherever it might still appear.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import logging
import ssl
import warnings
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, TypeVar

import httpx
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest

from bot.channels.base import TELEGRAM, split_text
from bot.channels.lanes import TurnLanes
from bot.channels.webhook import Endpoint, Hook, Hooks, RecentKeys, webhook_app
from bot.domain.errors import DeliveryFailedPermanently, DeliveryRetryLater
from bot.domain.threads import MAX_ATTACHMENT_BYTES
from bot.i18n import LOCALES, Catalog
from bot.messages import Attachment, Button, ConversationKey, Incoming, Reply

log = logging.getLogger(__name__)

T = TypeVar("T")
Handle = Callable[[Incoming], Awaitable[list[Reply]]]

CHANNEL = "telegram"
ALLOWED_UPDATES = ("message", "callback_query")
GROUP_CHATS = frozenset({"group", "supergroup", "channel"})
MAX_TEXT = TELEGRAM.max_text  # 4096 characters per message
MAX_CAPTION = 1024  # characters of a photo or document caption
MAX_CALLBACK_DATA = 64  # bytes, UTF-8
MAX_CALLBACK_ANSWER = 200  # characters
MAX_BUTTONS_PER_ROW = 8
MAX_BUTTONS = 100
POLL_TIMEOUT = 25  # seconds a getUpdates long poll may wait on the server
TYPING_AFTER = 0.5  # show "typing…" when a turn takes longer than this
TYPING_EVERY = 4.5  # Telegram shows the action for about 5 s
TYPING_BUSY = 8  # turns in flight beyond which no "typing…" is sent (issue 15)
MAX_CONCURRENT_TURNS = 32
DRAIN_SECONDS = 6.0  # on SIGTERM: how long turns in flight may take to finish
RETRIES = 3  # per Bot API call, after the first attempt
NETWORK_BACKOFF = (0.5, 1.0, 2.0)
WEBHOOK_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
WEBHOOK_PATH = "telegram"  # POST /telegram/{school} on the process's webhook server

# Platform metadata for the "/" menu (setMyCommands). Not user dialog text, so it lives here
# rather than in bot/locales: Telegram needs one list per language, and every command must be
# one that handlers/intents.py understands. (command, description) per language; the default
# list (users whose app language has no list of its own) is the Vietnamese one.
COMMANDS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "vi": (
        ("start", "Bắt đầu, liên kết với con"),
        ("diem", "Xem điểm"),
        ("tkb", "Thời khóa biểu"),
        ("hocphi", "Học phí, khoản thu"),
        ("chuyencan", "Chuyên cần, số buổi nghỉ"),
        ("nghiphep", "Xin nghỉ học cho con"),
        ("nhantin", "Nhắn riêng cho giáo viên"),
        ("duyet", "Giáo viên: đơn xin nghỉ chờ duyệt"),
        ("them", "Liên kết thêm một con"),
        ("ngonngu", "Đổi ngôn ngữ"),
        ("huy", "Hủy việc đang làm"),
        ("xoa", "Hủy liên kết, xóa dữ liệu"),
        ("help", "Hướng dẫn"),
    ),
    "en": (
        ("start", "Start, link your child"),
        ("scores", "Scores"),
        ("timetable", "Timetable"),
        ("fees", "School fees"),
        ("attendance", "Attendance"),
        ("absence", "Ask for leave for your child"),
        ("message", "Message your child's teacher"),
        ("pending", "Teachers: leave requests to decide"),
        ("addchild", "Link another child"),
        ("lang", "Change language"),
        ("cancel", "Cancel what is in progress"),
        ("forget", "Unlink and delete my data"),
        ("help", "Help"),
    ),
}
DEFAULT_COMMANDS_LOCALE = "vi"

# Replies that only tell the presser a button cannot be used. After a button press they are
# shown as the callback answer (a toast only the presser sees), not posted into the chat.
NOTICE_KEYS = ("button.stale", "button.not_yours", "group.private_only")


# --- updates in --------------------------------------------------------------------------


def to_incoming(update: Update, *, school_id: str, bot_username: str = "") -> Incoming | None:
    """The core's view of one update, or None for updates the bot ignores (other kinds,
    messages from bots or anonymous admins, non-text messages in groups, commands meant for
    another bot)."""
    query = update.callback_query
    if query is not None:
        user = query.from_user
        message = query.message
        if message is None or user.is_bot:
            return None  # a button under an inline-mode message: we never send those
        chat = message.chat
        return Incoming(
            key=_key(school_id, chat.id, user.id),
            button_token=query.data or "",
            locale_hint=user.language_code or "",
            is_group=chat.type in GROUP_CHATS,
            message_id=str(message.message_id),
            display_name=user.first_name,
        )
    msg = update.message
    if msg is None or msg.from_user is None or msg.from_user.is_bot:
        return None
    user = msg.from_user
    is_group = msg.chat.type in GROUP_CHATS
    attachment = None if is_group else _attachment_of(msg)
    text = msg.text or (msg.caption or "" if attachment is not None else "")
    if is_group and not text:
        return None  # joins, photos, pins … in a group: nothing to answer
    if text.startswith("/") and bot_username:
        head = text.split(maxsplit=1)[0]
        if "@" in head and head.split("@", 1)[1].lower() != bot_username.lower():
            return None  # "/diem@OtherBot" in a group
    return Incoming(
        key=_key(school_id, msg.chat.id, user.id),
        text=text,
        locale_hint=user.language_code or "",
        is_group=is_group,
        message_id=str(msg.message_id),
        display_name=user.first_name,
        attachment=attachment,
    )


def _attachment_of(msg: Message) -> Attachment | None:
    """A photo (its largest size) or a document in a private chat; the caption is the text."""
    if msg.photo:
        best = msg.photo[-1]
        return Attachment(kind="photo", file_id=best.file_id, size=best.file_size or 0)
    doc = msg.document
    if doc is not None:
        return Attachment(
            kind="document",
            file_id=doc.file_id,
            name=doc.file_name or "",
            mime=doc.mime_type or "",
            size=doc.file_size or 0,
        )
    return None


def _key(school_id: str, chat_id: int, user_id: int) -> ConversationKey:
    return ConversationKey(
        school_id=school_id, channel=CHANNEL, chat_id=str(chat_id), user_id=str(user_id)
    )


# --- replies out -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One Bot API call: ``method`` as in the Bot API docs, ``params`` as PTB keyword
    arguments. ``fallback`` is tried when the call is refused (an edit that cannot be made
    becomes a new message)."""

    method: str
    params: Mapping[str, Any]
    fallback: ApiCall | None = field(default=None, compare=False)


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """The reply's buttons as an inline keyboard: label shown, opaque token sent back."""
    rows: list[list[InlineKeyboardButton]] = []
    count = 0
    for row in reply.buttons:
        buttons = []
        for button in row:
            data = button.token
            if not data or len(data.encode("utf-8")) > MAX_CALLBACK_DATA:
                raise ValueError("a button token must be 1-64 bytes (the router issues them)")
            buttons.append(InlineKeyboardButton(text=button.label, callback_data=data))
        for start in range(0, len(buttons), MAX_BUTTONS_PER_ROW):
            rows.append(buttons[start : start + MAX_BUTTONS_PER_ROW])
        count += len(buttons)
    if count > MAX_BUTTONS:
        raise ValueError(f"{count} buttons in one message; Telegram takes at most {MAX_BUTTONS}")
    return InlineKeyboardMarkup(rows) if rows else None


def plan_replies(
    replies: Sequence[Reply],
    *,
    chat_id: int,
    callback_query_id: str | None = None,
    pressed_message_id: int | None = None,
    notices: Iterable[str] = (),
    reply_to: int | None = None,
) -> list[ApiCall]:
    """The Bot API calls that show ``replies`` in ``chat_id``.

    After a button press (``callback_query_id``) the query is always answered first; a reply
    that is only a notice (see :data:`NOTICE_KEYS`) becomes the answer's text instead of a
    message. The first reply with ``edit=True`` replaces the pressed message. ``reply_to``
    (used in groups, where several people talk) quotes the user's message in the first one.
    """
    calls: list[ApiCall] = []
    notice_texts = frozenset(notices)
    remaining = list(replies)
    if callback_query_id is not None:
        answer: dict[str, Any] = {"callback_query_id": callback_query_id}
        if (
            len(remaining) == 1
            and not remaining[0].buttons
            and remaining[0].image_png is None
            and remaining[0].document is None
            and (remaining[0].notice or remaining[0].text in notice_texts)
            and len(remaining[0].text) <= MAX_CALLBACK_ANSWER
        ):
            answer["text"] = remaining[0].text
            remaining = []
        calls.append(ApiCall("answerCallbackQuery", answer))
    can_edit = callback_query_id is not None and pressed_message_id is not None
    for reply in remaining:
        markup = keyboard(reply)
        parts = [p for p in split_text(reply.text, MAX_TEXT) if p.strip()]
        for index, part in enumerate(parts):
            params: dict[str, Any] = {"chat_id": chat_id, "text": part}
            if markup is not None and index == len(parts) - 1:
                params["reply_markup"] = markup
            send_params = dict(params)
            if reply_to is not None:
                send_params["reply_parameters"] = ReplyParameters(
                    reply_to, allow_sending_without_reply=True
                )
                reply_to = None
            send = ApiCall("sendMessage", send_params)
            if reply.edit and can_edit and index == 0:
                can_edit = False
                edit = {**params, "message_id": pressed_message_id}
                calls.append(ApiCall("editMessageText", edit, fallback=send))
            else:
                calls.append(send)
        if reply.image_png is not None:
            calls.append(ApiCall("sendPhoto", {"chat_id": chat_id, "photo": reply.image_png}))
        if reply.document is not None:
            filename, data = reply.document
            document = InputFile(data, filename=filename)
            calls.append(ApiCall("sendDocument", {"chat_id": chat_id, "document": document}))
    return calls


def bot_commands() -> list[tuple[str | None, list[BotCommand]]]:
    """``(language_code, commands)`` for setMyCommands; ``None`` is the default list."""
    lists: list[tuple[str | None, list[BotCommand]]] = []
    for lang in (None, *COMMANDS):
        entries = COMMANDS[lang or DEFAULT_COMMANDS_LOCALE]
        lists.append((lang, [BotCommand(name, text) for name, text in entries]))
    return lists


# --- calling the Bot API -----------------------------------------------------------------


def _seconds(err: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the int form is deprecated
        warnings.simplefilter("ignore")
        value = err.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


class BotApi:
    """Every Bot API call goes through :meth:`call`, with one policy:

    * 429 (``RetryAfter``): pause *all* calls of this bot for ``retry_after`` seconds, then
      repeat the same call (at most :data:`RETRIES` times);
    * network errors and timeouts (including Telegram's 5xx): retry after a short backoff;
    * 403 (``Forbidden``, the user blocked the bot): log at INFO and give up (returns None);
    * anything else (``BadRequest`` …) is raised to the caller.
    """

    def __init__(self, bot: Bot, *, backoff: Sequence[float] = NETWORK_BACKOFF) -> None:
        self.bot = bot
        self._backoff = tuple(backoff)
        self._resume_at = 0.0  # loop time before which no call may be made (after a 429)

    async def _wait_for_flood_pause(self) -> None:
        loop = asyncio.get_running_loop()
        # A deadline, not an event: the pause ends by itself, and it may be pushed further.
        while (delay := self._resume_at - loop.time()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(delay)

    async def call(self, method: str, fn: Callable[[], Awaitable[T]]) -> T | None:
        loop = asyncio.get_running_loop()
        network_failures = 0
        for attempt in range(RETRIES + 1):
            await self._wait_for_flood_pause()
            try:
                return await fn()
            except RetryAfter as err:
                wait = _seconds(err) + 0.1
                self._resume_at = max(self._resume_at, loop.time() + wait)
                log.warning("Telegram flood control on %s: waiting %.1f s", method, wait)
            except Forbidden:
                log.info("Telegram refused %s: the bot was blocked or removed; giving up", method)
                return None
            except (InvalidToken, BadRequest):
                raise
            except NetworkError as err:  # TimedOut, 5xx, connection errors
                kind = "timed out" if isinstance(err, TimedOut) else type(err).__name__
                if attempt < RETRIES:
                    pause = self._backoff[min(network_failures, len(self._backoff) - 1)]
                    network_failures += 1
                    log.warning("Telegram %s failed (%s); retrying in %.1f s", method, kind, pause)
                    await asyncio.sleep(pause)
        log.warning("Telegram %s failed %d times; giving up", method, RETRIES + 1)
        return None

    async def perform(self, call: ApiCall) -> bool:
        """Make one planned call (or its fallback). False when it could not be made."""
        try:
            done = await self.call(call.method, lambda: self._invoke(call))
        except BadRequest as err:
            if call.fallback is not None:
                log.debug("%s refused (%s); using %s", call.method, err, call.fallback.method)
                return await self.perform(call.fallback)
            log.warning("Telegram refused %s: %s", call.method, err)
            return False
        except TelegramError as err:
            log.warning("Telegram %s failed: %s", call.method, type(err).__name__)
            return False
        return done is not None

    async def _invoke(self, call: ApiCall) -> object:
        b = self.bot
        methods: dict[str, Callable[..., Awaitable[object]]] = {
            "sendMessage": b.send_message,
            "editMessageText": b.edit_message_text,
            "sendPhoto": b.send_photo,
            "sendDocument": b.send_document,
            "answerCallbackQuery": b.answer_callback_query,
            "sendChatAction": b.send_chat_action,
        }
        return await methods[call.method](**call.params)


class TelegramSender:
    """The outbox relay's way into Telegram (notifications, not replies). Errors become the
    relay's: 429 -> retry after ``retry_after``; blocked or chat gone -> permanent, and the
    recipient's links are deactivated; network and 5xx -> retry with backoff."""

    def __init__(self, bots: Mapping[str, Bot]) -> None:
        self._bots = dict(bots)  # school id -> that school's bot

    async def deliver(
        self, recipient: ConversationKey, text: str, buttons: tuple[tuple[Button, ...], ...]
    ) -> None:
        bot = self._bots.get(recipient.school_id)
        if bot is None:  # the school's bot was removed from the configuration
            raise DeliveryFailedPermanently("no Telegram bot for this school", unreachable=False)
        markup = keyboard(Reply(text=text, buttons=buttons))
        parts = [p for p in split_text(text, MAX_TEXT) if p.strip()]
        for index, part in enumerate(parts):
            params: dict[str, Any] = {"chat_id": int(recipient.chat_id), "text": part}
            if markup is not None and index == len(parts) - 1:
                params["reply_markup"] = markup
            await self._call(bot.send_message, params)

    async def deliver_attachment(
        self,
        recipient: ConversationKey,
        attachment: Attachment,
        text: str,
        buttons: tuple[tuple[Button, ...], ...],
    ) -> None:
        """A photo or document a user sent to this same bot, passed on by its ``file_id``
        with ``text`` as the caption (or, longer than a caption may be, sent before it)."""
        bot = self._bots.get(recipient.school_id)
        if bot is None:
            raise DeliveryFailedPermanently("no Telegram bot for this school", unreachable=False)
        params: dict[str, Any] = {"chat_id": int(recipient.chat_id)}
        if len(text) <= MAX_CAPTION:
            params["caption"] = text
            markup = keyboard(Reply(text=text, buttons=buttons))
            if markup is not None:
                params["reply_markup"] = markup
        else:
            await self.deliver(recipient, text, buttons)
        method, field = (
            (bot.send_photo, "photo")
            if attachment.kind == "photo"
            else (bot.send_document, "document")
        )
        try:
            await self._call(method, {**params, field: attachment.file_id})
        except DeliveryFailedPermanently as err:
            # Another platform's URL (Zalo) that Telegram could not fetch (it fetches photos up
            # to 5 MB, files up to 20 MB): fetched here and uploaded; failing that, the text
            # still goes, and it says a file came with it.
            url = attachment.file_id.startswith(("https://", "http://"))
            if not url or err.unreachable:
                raise
            data = await _download(attachment.file_id, MAX_ATTACHMENT_BYTES)
            if data is not None:
                upload = InputFile(data, filename=attachment.name or f"{attachment.kind}.bin")
                with contextlib.suppress(DeliveryFailedPermanently):
                    await self._call(method, {**params, field: upload})
                    return
            if "caption" in params:  # else the text went already, before the file
                await self.deliver(recipient, text, buttons)

    @staticmethod
    async def _call(method: Any, params: dict[str, Any]) -> None:
        """One Bot API call, its errors translated for the relay."""
        try:
            await method(**params)
        except RetryAfter as err:
            raise DeliveryRetryLater("429", after_seconds=_seconds(err)) from None
        except Forbidden:
            raise DeliveryFailedPermanently("blocked by the user") from None
        except BadRequest as err:
            gone = "chat not found" in str(err).lower()
            raise DeliveryFailedPermanently(
                "chat not found" if gone else "refused", unreachable=gone
            ) from None
        except NetworkError as err:  # TimedOut, 5xx, connection errors
            raise DeliveryRetryLater(type(err).__name__) from None


async def _download(url: str, cap: int) -> bytes | None:
    """The bytes at ``url`` (a user's file on Zalo), or None when it is gone, unreachable or
    over ``cap`` bytes (streamed: stops at the cap). The URL is never logged."""
    data = bytearray()
    try:
        async with (
            httpx.AsyncClient(timeout=20.0, follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                return None
            async for chunk in response.aiter_bytes():
                data.extend(chunk)
                if len(data) > cap:
                    log.info("attachment over %d bytes: not uploaded", cap)
                    return None
    except httpx.HTTPError as err:
        log.info("attachment download failed (%s)", type(err).__name__)
        return None
    return bytes(data) or None


# --- receiving updates and running turns -------------------------------------------------


class TelegramChannel:
    """Runs turns for one school's bot. Feed it parsed updates with :meth:`submit`."""

    name = CHANNEL

    def __init__(
        self, api: BotApi, handle: Handle, *, school_id: str, catalog: Catalog | None = None
    ) -> None:
        self.api = api
        self._handle = handle
        self.school_id = school_id
        self.bot_username = ""
        notices: set[str] = set()
        if catalog is not None:
            notices.update(catalog.t(locale, key) for locale in LOCALES for key in NOTICE_KEYS)
        self._notices = frozenset(notices)
        self._dedupe = RecentKeys()
        self._lanes = TurnLanes(limit=MAX_CONCURRENT_TURNS, name="Telegram turn")
        # ``GET /metrics`` in webhook mode (behind LIENLAC_METRICS__TOKEN, see ops_http).
        self.metrics: Endpoint | None = None

    # -- start-up --------------------------------------------------------------------------

    async def start(self) -> bool:
        """getMe and the command menu. False when Telegram cannot be reached."""
        bot = self.api.bot

        async def get_me() -> bool:
            await bot.initialize()  # calls getMe
            return True

        if await self.api.call("getMe", get_me) is None:
            return False
        self.bot_username = bot.username or ""
        for lang, commands in bot_commands():
            try:
                await self.api.call(
                    "setMyCommands", partial(bot.set_my_commands, commands, language_code=lang)
                )
            except BadRequest as err:  # a menu is nice to have, not a reason to stop
                log.warning("setMyCommands (%s) refused: %s", lang or "default", err)
        return True

    # -- updates ---------------------------------------------------------------------------

    def submit(self, update: Update) -> bool:
        """Queue one update. Turns of one chat user run in arrival order, others in parallel.
        False for a duplicate ``update_id``."""
        if not self._dedupe.first_time(str(update.update_id)):
            log.info("update %s seen before; dropped", update.update_id)
            return False
        self._lanes.submit(_lane(update), lambda: self.process(update))
        return True

    async def process(self, update: Update) -> None:
        """One turn: update -> Incoming -> router -> Bot API calls."""
        query = update.callback_query
        incoming = to_incoming(update, school_id=self.school_id, bot_username=self.bot_username)
        if incoming is not None:
            incoming = replace(incoming, event_id=f"update:{update.update_id}")
        if incoming is None:
            if query is not None:
                await self.api.perform(
                    ApiCall("answerCallbackQuery", {"callback_query_id": query.id})
                )
            return
        chat_id = int(incoming.key.chat_id)
        # "typing…" for a turn that is slow on its own (a slow school system); not when the
        # bot is busy, where every turn waits and the extra calls would only add to the load
        busy = self._lanes.in_flight > TYPING_BUSY
        typing = asyncio.create_task(self._typing(chat_id) if not busy else asyncio.sleep(0))
        try:
            replies = await self._handle(incoming)
        finally:
            typing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await typing
        if incoming.is_group and query is None and self.bot_username:
            # the group's one line points to the private chat with a link that opens it
            link = f"https://t.me/{self.bot_username}"
            replies = [
                replace(r, text=f"{r.text}\n👉 {link}") if r.to_private else r for r in replies
            ]
        calls = plan_replies(
            replies,
            chat_id=chat_id,
            callback_query_id=query.id if query is not None else None,
            pressed_message_id=int(incoming.message_id) if query is not None else None,
            notices=self._notices,
            reply_to=int(incoming.message_id) if incoming.is_group and query is None else None,
        )
        for call in calls:
            await self.api.perform(call)

    async def _typing(self, chat_id: int) -> None:
        """ "typing…" while a slow turn runs (cancelled when the turn ends)."""
        await asyncio.sleep(TYPING_AFTER)
        while True:
            await self.api.perform(
                ApiCall("sendChatAction", {"chat_id": chat_id, "action": ChatAction.TYPING})
            )
            await asyncio.sleep(TYPING_EVERY)

    async def drain(self, seconds: float, force: asyncio.Event | None = None) -> None:
        await self._lanes.drain(seconds, force)

    # -- long polling ----------------------------------------------------------------------

    async def poll(self, stop: asyncio.Event) -> None:
        """getUpdates until ``stop``. Pending updates are kept: what parents wrote while the
        bot was down is answered. Each batch is confirmed by the next request's offset."""
        bot = self.api.bot
        with contextlib.suppress(BadRequest):
            # A webhook left over from webhook mode makes getUpdates fail with 409.
            await self.api.call(
                "deleteWebhook", partial(bot.delete_webhook, drop_pending_updates=False)
            )
        offset: int | None = None
        failures = 0
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                fetch = asyncio.ensure_future(
                    bot.get_updates(
                        offset=offset, timeout=POLL_TIMEOUT, allowed_updates=list(ALLOWED_UPDATES)
                    )
                )
                await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not fetch.done():
                    fetch.cancel()
                    with contextlib.suppress(asyncio.CancelledError, TelegramError):
                        await fetch
                    break
                try:
                    updates = fetch.result()
                    failures = 0
                except RetryAfter as err:
                    await _sleep_unless(stop, _seconds(err))
                    continue
                except TimedOut:
                    continue
                except InvalidToken:
                    raise
                except Exception as err:  # 409 (another poller / webhook), network, 5xx …
                    failures += 1
                    pause = min(30.0, 0.5 * 2**failures)
                    log.warning(
                        "getUpdates failed (%s); retrying in %.1f s", type(err).__name__, pause
                    )
                    await _sleep_unless(stop, pause)
                    continue
                for update in updates:
                    offset = update.update_id + 1
                    self.submit(update)
        finally:
            stopping.cancel()
        if offset is not None:
            # Confirm what was taken, so a restart does not run those turns again.
            with contextlib.suppress(TelegramError):
                await bot.get_updates(offset=offset, timeout=0, limit=1, read_timeout=2.0)

    # -- webhook ---------------------------------------------------------------------------

    def hook(self, secret: str) -> Hook:
        """This bot's route on the process's webhook server (``/telegram/{school}``)."""

        def parsed(data: dict[str, Any]) -> Update | None:
            try:
                if not isinstance(data.get("update_id"), int):
                    raise ValueError("not an update")
                return Update.de_json(data, self.api.bot)
            except Exception:  # PTB's own parsing of a well-formed but odd update
                return None

        def receive(data: dict[str, Any]) -> Response:
            update = parsed(data)
            if update is None:
                return JSONResponse({"ok": False}, status_code=400)
            self.submit(update)  # answered at once; the turn runs in the background
            return JSONResponse({"ok": True})

        def lane(data: dict[str, Any]) -> tuple[str, str] | None:
            update = parsed(data)
            if update is None:
                return None
            chat, user = _lane(update)
            return f"{chat}:{user}", str(update.update_id)

        async def run(data: dict[str, Any]) -> None:
            update = parsed(data)
            if update is not None:
                await self._lanes.run(_lane(update), lambda: self.process(update))

        return Hook(receive=receive, lane=lane, run=run, secret=(WEBHOOK_SECRET_HEADER, secret))

    def webhook_app(self, secret: str) -> Starlette:
        """This bot alone on a webhook server (tests, and a single bot behind a proxy)."""
        hooks = Hooks()
        hooks.add(WEBHOOK_PATH, self.school_id, self.hook(secret))
        return webhook_app(hooks, metrics=self.metrics)

    async def register_webhook(self, public_url: str, secret: str) -> bool:
        """setWebhook to ``{public_url}/telegram/{school}`` with the secret token."""
        url = f"{public_url.rstrip('/')}/{WEBHOOK_PATH}/{self.school_id}"
        try:
            registered = await self.api.call(
                "setWebhook",
                lambda: self.api.bot.set_webhook(
                    url, secret_token=secret, allowed_updates=list(ALLOWED_UPDATES)
                ),
            )
        except TelegramError as err:
            log.error("Telegram refused the webhook address of %s: %s", self.school_id, err)
            registered = None
        return bool(registered)


def _lane(update: Update) -> tuple[int, int]:
    """(chat, user) of an update: the unit whose turns must keep their order."""
    chat = update.effective_chat
    user = update.effective_user
    return (chat.id if chat else 0, user.id if user else -update.update_id)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def webhook_secret(installation_secret: bytes, *, school_id: str, token: str) -> str:
    """The ``secret_token`` for setWebhook: 32 characters of ``[A-Za-z0-9_-]``.

    Derived from the installation's random secret (kept in the database) rather than drawn
    anew at each start, so a restart or a second worker registers the same value and never
    locks out updates already on their way; a different bot or school gets another one.
    """
    label = f"telegram-webhook|{school_id}|{hashlib.sha256(token.encode()).hexdigest()}"
    digest = hmac.new(installation_secret, label.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


# --- every school's bot in one process ------------------------------------------------------


def make_bot(token: str, base: str, *, tls: ssl.SSLContext | None = None) -> Bot:
    """A bot with its two HTTP clients. ``tls``: one TLS context shared by every bot of the
    process; each client would otherwise load the CA bundle anew, about 0.8 MB each, and a
    province of 1,000 school bots held 1.7 GB of them (issue 15, ``python -m bench memory``)."""
    tls = tls or httpx.create_ssl_context()
    return Bot(
        token,
        base_url=f"{base}/bot",
        base_file_url=f"{base}/file/bot",
        request=HTTPXRequest(
            connection_pool_size=MAX_CONCURRENT_TURNS * 2,
            read_timeout=10.0,
            write_timeout=10.0,
            connect_timeout=5.0,
            pool_timeout=5.0,
            httpx_kwargs={"verify": tls},
        ),
        get_updates_request=HTTPXRequest(
            connection_pool_size=2,
            read_timeout=10.0,
            connect_timeout=5.0,
            httpx_kwargs={"verify": tls},
        ),
    )


class TelegramBots:
    """One bot per school (``{school id: (token, api base url)}``): their channels, the relay's
    sender, and :meth:`run`, long polling or on the process's webhook server."""

    def __init__(
        self,
        bots: Mapping[str, tuple[str, str]],
        handle: Handle,
        *,
        catalog: Catalog,
        metrics: Endpoint | None = None,
    ) -> None:
        self.tokens = {school: token for school, (token, _) in bots.items()}
        tls = httpx.create_ssl_context()
        self.bots = {
            school: make_bot(token, base, tls=tls) for school, (token, base) in bots.items()
        }
        self.channels = {
            school: TelegramChannel(BotApi(bot), handle, school_id=school, catalog=catalog)
            for school, bot in self.bots.items()
        }
        for channel in self.channels.values():
            channel.metrics = metrics
        self.sender = TelegramSender(self.bots)

    async def run(
        self,
        stop: asyncio.Event,
        force: asyncio.Event,
        *,
        hooks: Hooks | None = None,
        public_url: str | None = None,
        secret_of: Callable[[str, str], str] | None = None,
    ) -> int:
        """Until ``stop``: 0, or 1 (Telegram unreachable, webhook refused), 2 (bad token).
        With ``public_url`` (and the process's ``hooks``) each bot's route is added and its
        webhook registered; otherwise each bot polls."""
        try:
            for school, channel in self.channels.items():
                if not await channel.start():
                    log.error(
                        "Telegram cannot be reached for school %s at "
                        "LIENLAC_TELEGRAM__API_BASE_URL",
                        school,
                    )
                    return 1
            if public_url and hooks is not None and secret_of is not None:
                for school, channel in self.channels.items():
                    secret = secret_of(school, self.tokens[school])
                    hooks.add(WEBHOOK_PATH, school, channel.hook(secret))
                    if not await channel.register_webhook(public_url, secret):
                        return 1
                log.info("Telegram webhooks registered for %d bot(s)", len(self.channels))
                await stop.wait()
            else:
                for school, channel in self.channels.items():
                    log.info("Telegram bot @%s (%s): long polling", channel.bot_username, school)
                await asyncio.gather(*(c.poll(stop) for c in self.channels.values()))
        except InvalidToken:
            stop.set()  # the other bots' polling ends too
            log.error("Telegram refused a bot token: check LIENLAC_TELEGRAM__TOKEN / [[schools]]")
            return 2
        finally:
            await asyncio.gather(*(c.drain(DRAIN_SECONDS, force) for c in self.channels.values()))
        log.info("Telegram bots stopped")
        return 0

    async def aclose(self) -> None:
        for bot in self.bots.values():
            with contextlib.suppress(Exception):
                await bot.shutdown()
