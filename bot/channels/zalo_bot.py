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
* :class:`ZaloBots` runs every school's bot; ``bot.serve`` wires it into the process.

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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response

from bot.channels.base import ZALO, split_text
from bot.channels.lanes import TurnLanes
from bot.channels.per_school import PerSchoolSender
from bot.channels.webhook import Hook, Hooks, RecentKeys, webhook_app
from bot.domain.errors import DeliveryFailedPermanently, DeliveryRetryLater
from bot.messages import Attachment, Button, ConversationKey, Incoming, Reply

log = logging.getLogger(__name__)

CHANNEL = "zalo_bot"
MAX_TEXT = ZALO.max_text  # 2,000 characters
MAX_CAPTION = 2000  # sendPhoto's caption (reference/zalo.md §1)
SECRET_HEADER = "X-Bot-Api-Secret-Token"  # noqa: S105 - a header name
WEBHOOK_PATH = "zalo-bot"  # POST /zalo-bot/{school} on the process's webhook server
RETRIES = 3
BACKOFF = (0.5, 1.0, 2.0)
MAX_CONCURRENT_TURNS = 32
DRAIN_SECONDS = 6.0
TYPING_AFTER = 0.5  # seconds
TEXT_EVENT = "message.text.received"
IMAGE_EVENT = "message.image.received"  # a photo: ``photo_url`` (captured) or ``photo`` (docs)
UNSUPPORTED_EVENT = "message.unsupported.received"

Handle = Callable[[Incoming], Awaitable[list[Reply]]]
Publish = Callable[[str, bytes], Awaitable[str]]  # (school, PNG) -> a URL Zalo can fetch


@dataclass(frozen=True, slots=True, kw_only=True)
class BotConfig:
    """One school's Zalo bot as :class:`ZaloBots` needs it."""

    token: str
    api_base_url: str
    poll_seconds: int = 30
    public_url: str | None = None  # this bot's own public base (deprecated setting)
    secret: str | None = None  # a fixed webhook secret; None: derived per bot


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
    attachment = None
    if update.get("event_name") == IMAGE_EVENT:  # issue 17: a photo for the teacher
        url = message.get("photo_url") or message.get("photo")
        if isinstance(url, str) and url:
            attachment = Attachment(kind="photo", file_id=url, mime="image/jpeg")
            caption = message.get("caption")
            text = caption if isinstance(caption, str) else ""
    return Incoming(
        key=ConversationKey(school_id=school_id, channel=CHANNEL, chat_id=chat_id, user_id=user_id),
        text=text,
        locale_hint="vi",
        is_group=is_group,
        message_id=str(message.get("message_id") or ""),
        display_name=str(sender.get("display_name") or ""),
        attachment=attachment,
    )


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

    async def send_photo(self, chat_id: str, url: str) -> None:
        """``sendPhoto``: Zalo fetches the picture from ``url`` (it takes no upload)."""
        await self.call("sendPhoto", {"chat_id": chat_id, "photo": url})


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

    def __init__(
        self, api: ZaloBotApi, handle: Handle, *, school_id: str, publish: Publish | None = None
    ) -> None:
        self.api = api
        self._handle = handle
        self.school_id = school_id
        self._publish = publish  # None: no public URL to serve a photo from: text only
        self._dedupe = RecentKeys()
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
        incoming = self._incoming(update)
        if incoming is None:
            return False
        self._lanes.submit(incoming.key.chat_id, lambda: self.process(incoming))
        return True

    def _incoming(self, payload: Any) -> Incoming | None:
        """The turn of one update (wrapped or flat), with its event id; None if none."""
        update = unwrap(payload)
        if update is None or (incoming := normalize(update, school_id=self.school_id)) is None:
            return None
        return replace(incoming, event_id=event_key(update))

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
            if reply.image_png is not None and self._publish is not None:
                await self._send_photo(chat_id, reply.image_png)

    async def _send_photo(self, chat_id: str, png: bytes) -> None:
        """The picture after its text (a chart, a VietQR); the text already says it all, so
        a failure is logged, not told."""
        try:
            assert self._publish is not None
            url = await self._publish(self.school_id, png)
            await self.api.send_photo(chat_id, url)
        except ZaloBotError as err:
            log.warning("Zalo Bot sendPhoto failed: %s", err.code)
        except Exception as err:  # the media store (database) is down: the text went out
            log.warning("Zalo Bot photo not published: %s", type(err).__name__)

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

    def hook(self, secret: str) -> Hook:
        """This bot's route on the process's webhook server (``/zalo-bot/{school}``)."""

        def receive(payload: dict[str, Any]) -> Response:
            self.submit(payload)  # answered at once; the turn runs in the background
            return JSONResponse({"ok": True})

        def lane(payload: dict[str, Any]) -> tuple[str, str] | None:
            incoming = self._incoming(payload)
            return None if incoming is None else (incoming.key.chat_id, incoming.event_id or "")

        async def run(payload: dict[str, Any]) -> None:
            incoming = self._incoming(payload)
            if incoming is not None:
                await self._lanes.run(incoming.key.chat_id, lambda: self.process(incoming))

        return Hook(
            receive=receive,
            lane=lane,
            run=run,
            secret=(SECRET_HEADER, secret),
            empty_is_probe=True,
        )

    def webhook_app(self, secret: str) -> Starlette:
        """This bot alone on a webhook server."""
        hooks = Hooks()
        hooks.add(WEBHOOK_PATH, self.school_id, self.hook(secret))
        return webhook_app(hooks)

    async def register_webhook(self, public_url: str, secret: str) -> bool:
        """setWebhook to ``{public_url}/zalo-bot/{school}``. False when Zalo refuses it."""
        url = f"{public_url.rstrip('/')}/{WEBHOOK_PATH}/{self.school_id}"
        try:
            await self.api.call("setWebhook", {"url": url, "secret_token": secret})
        except ZaloBotAuthError:
            raise
        except ZaloBotError as err:
            log.error(
                "Zalo refused the webhook address of school %s (%s %s)",
                self.school_id,
                err.code,
                err.description,
            )
            return False
        log.debug("Zalo Bot webhook of school %s registered", self.school_id)
        return True


# --- the outbox relay's sender -----------------------------------------------------------


class ZaloBotSender:
    """:class:`bot.ports.OutboundSender` for ``zalo_bot`` (one call, no retries of its own:
    the relay retries and rate-limits). Also an ``AttachmentSender``: a photo another Zalo
    user sent goes on by its URL (``sendPhoto``, the text as its caption)."""

    def __init__(self, api: ZaloBotApi) -> None:
        self._api = api

    async def deliver(
        self, recipient: ConversationKey, text: str, buttons: tuple[tuple[Button, ...], ...]
    ) -> None:
        for part in split_text(render_buttons(text, buttons), MAX_TEXT):
            await self._call("sendMessage", {"chat_id": recipient.chat_id, "text": part})

    async def deliver_attachment(
        self,
        recipient: ConversationKey,
        attachment: Attachment,
        text: str,
        buttons: tuple[tuple[Button, ...], ...],
    ) -> None:
        """A photo by its URL (Zalo fetches it), ``text`` as its caption, or before it when
        longer than a caption may be. The Zalo Bot sends no files: a document's link goes
        under the text. A photo Zalo cannot fetch any more (the link expired): the text
        still goes."""
        full = render_buttons(text, buttons)
        url = attachment.file_id
        web = url.startswith(("https://", "http://"))  # never a Telegram file id
        if attachment.kind != "photo" or not web:
            link = f"\n📎 {attachment.name or attachment.kind}: {url}" if web else ""
            await self.deliver(recipient, full + link, ())
            return
        params: dict[str, Any] = {"chat_id": recipient.chat_id, "photo": url}
        if len(full) <= MAX_CAPTION:
            params["caption"] = full
        else:
            await self.deliver(recipient, full, ())
        try:
            await self._call("sendPhoto", params)
        except DeliveryFailedPermanently as err:
            if err.unreachable:
                raise
            if "caption" in params:  # else the text went already
                await self.deliver(recipient, full, ())

    async def _call(self, method: str, params: Mapping[str, Any]) -> None:
        try:
            await self._api.call_once(method, params)
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


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class ZaloBots:
    """One Zalo bot per school (``{school id: ZaloBotSettings-like (token, api base url,
    poll seconds, own public URL, own webhook secret)}``): channels, the relay's sender, and
    :meth:`run`, long polling or on the process's webhook server."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        bots: Mapping[str, BotConfig],
        handle: Handle,
        *,
        publish: Publish | None = None,
    ) -> None:
        self._bots = dict(bots)
        self.channels = {
            school: ZaloBotChannel(
                ZaloBotApi(client, base_url=b.api_base_url, token=b.token),
                handle,
                school_id=school,
                publish=publish,
            )
            for school, b in self._bots.items()
        }
        self.sender = PerSchoolSender(
            CHANNEL,
            {
                school: make_outbound_sender(client, base_url=b.api_base_url, token=b.token)
                for school, b in self._bots.items()
            },
        )

    async def run(
        self,
        stop: asyncio.Event,
        force: asyncio.Event,
        *,
        hooks: Hooks | None,
        public_url: str | None,
        secret_of: Callable[[str, str], str],
    ) -> int:
        """Until ``stop``: 0, 1 (Zalo unreachable, webhook refused) or 2 (bad token). A bot
        with a public URL (its own, else ``public_url``) gets its route on ``hooks`` and
        registers it; the others poll."""
        school = ""
        try:
            webhooks: dict[str, str] = {}
            for school, channel in self.channels.items():
                me = await channel.api.call("getMe")
                name = me.get("account_name", "") if isinstance(me, dict) else ""
                base = self._bots[school].public_url or public_url
                if base and hooks is not None:
                    webhooks[school] = base
                log.info(
                    "Zalo bot %s (%s): %s",
                    name,
                    school,
                    "webhook" if school in webhooks else "long polling",
                )
            school = ""
            for school, base in webhooks.items():
                assert hooks is not None
                channel = self.channels[school]
                secret = self._bots[school].secret or secret_of(school, self._bots[school].token)
                hooks.add(WEBHOOK_PATH, school, channel.hook(secret))
                if not await channel.register_webhook(base, secret):
                    return 1
            school = ""
            if webhooks:
                log.info("Zalo Bot webhooks registered for %d bot(s)", len(webhooks))
            polls = [
                channel.poll(stop, poll_seconds=self._bots[s].poll_seconds)
                for s, channel in self.channels.items()
                if s not in webhooks
            ]
            await asyncio.gather(stop.wait(), *polls)
        except ZaloBotAuthError:
            stop.set()  # the other schools' bots stop too: one clear error
            where = f" of school {school}" if school and len(self.channels) > 1 else ""
            log.error("Zalo refused the bot token%s: check LIENLAC_ZALO_BOT__TOKEN", where)
            return 2
        except ZaloBotError as err:
            stop.set()
            log.error(
                "Zalo Bot cannot be reached (%s): check LIENLAC_ZALO_BOT__API_BASE_URL", err.code
            )
            return 1
        finally:
            await asyncio.gather(*(c.drain(DRAIN_SECONDS, force) for c in self.channels.values()))
        log.info("Zalo bot(s) stopped")
        return 0
