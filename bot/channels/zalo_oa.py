"""The Zalo Official Account channel (OA Open API v3): webhook events in, CS messages out.

Facts from ``reference/zalo.md`` §2:

* every call carries the header ``access_token`` (not Bearer); errors come as HTTP 200 with
  ``{"error": <negative>, "message"}``. ``-216``/``-220`` (token invalid/expired) make us
  refresh once and retry; ``-32`` (rate limit) is "retry later"; the rest are refused;
* tokens: see :mod:`bot.oa_tokens` (stored in the database, refreshed under a lease);
* replies and notifications use the customer-service API ``POST /v3.0/oa/message/cs``
  (≤ 2,000 characters per message). It needs an interaction within 7 days, else ``-230``
  (or ``-232``); ``-213`` not following, ``-227`` inactive > 45 days. For a notification the
  :class:`ZaloOaSender` then falls back to ZNS or SMS when the school configured one, and
  records why (an audit event and a log line); otherwise the outbox row fails with the reason;
* webhook ``POST /zalo-oa/<school>``: ``X-ZEvent-Signature: mac=<hex>`` with
  ``mac = sha256(<app_id|oa_id> + raw body + timestamp + <oa secret|app secret>)`` — the
  formula is uncertain, so the first term, the key and the check itself are settings.
  Answered at once (Zalo wants 200 within 2 s); the turn runs after. Duplicates (Zalo retries
  with ``num_retry``) are dropped on ``msg_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse, Response

from bot.channels.base import ZALO, split_text
from bot.channels.lanes import TurnLanes
from bot.channels.webhook import Hook, Hooks, RecentKeys, too_old, webhook_app
from bot.channels.zalo_bot import render_buttons
from bot.domain.errors import DeliveryFailedPermanently, DeliveryRetryLater
from bot.messages import Attachment, Button, ConversationKey, Incoming, Reply
from bot.oa_tokens import NewTokens, OaTokenManager, TokenRefreshFailed
from bot.ports import BackendRegistry, Clock, LinkRole, UnitOfWorkFactory

log = logging.getLogger(__name__)

CHANNEL = "zalo_oa"
WEBHOOK_PATH = "zalo-oa"  # POST /zalo-oa/{school} on the process's webhook server
MAX_TEXT = ZALO.max_text
SIGNATURE_HEADER = "X-ZEvent-Signature"
CS_PATH = "/v3.0/oa/message/cs"
UPLOAD_PATH = "/v2.0/oa/upload/image"  # PNG/JPG up to 1 MB; 5,000 uploads a month
UPLOAD_FILE_PATH = "/v2.0/oa/upload/file"  # PDF/DOC/DOCX up to 5 MB
MAX_UPLOAD_FILE = 5 * 1024 * 1024
# What the OA can send as a file (a photo goes by its URL in a media message instead).
FILE_TYPES = frozenset(
    {
        "application/pdf",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    }
)
Upload = tuple[str, bytes, str]  # (file name, bytes, MIME type)
TOKEN_PATH = "/v4/oa/access_token"  # noqa: S105 - a path
TOKEN_ERRORS = frozenset({-216, -220})
RATE_LIMITED = -32
# Outside the messaging window, not following, inactive: CS cannot reach the user.
WINDOW_ERRORS = frozenset({-230, -232, -213, -227})
DRAIN_SECONDS = 6.0

Handle = Callable[[Incoming], Awaitable[list[Reply]]]


class ZaloOaError(Exception):
    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(f"{code} {message}".strip())
        self.code = code
        self.message = message


class ZaloOaUnavailable(ZaloOaError):
    """Network error, timeout, non-2xx: transient."""


# --- OAuth -------------------------------------------------------------------------------


def oauth_refresher(
    client: httpx.AsyncClient, *, oauth_base_url: str, app_id: str, app_secret: str
) -> Callable[[str], Awaitable[NewTokens]]:
    """``POST /v4/oa/access_token`` (header ``secret_key``, form body) as a refresh call."""
    url = oauth_base_url.rstrip("/") + TOKEN_PATH

    async def refresh(refresh_token: str) -> NewTokens:
        try:
            response = await client.post(
                url,
                headers={"secret_key": app_secret},
                data={
                    "refresh_token": refresh_token,
                    "app_id": app_id,
                    "grant_type": "refresh_token",
                },
                timeout=10.0,
            )
        except httpx.HTTPError as err:
            raise TokenRefreshFailed(f"OAuth server unreachable ({type(err).__name__})") from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        access, new_refresh = body.get("access_token"), body.get("refresh_token")
        if not response.is_success or not access or not new_refresh:
            code = body.get("error", response.status_code)
            text = str(body.get("error_description") or body.get("message") or "")[:80]
            raise TokenRefreshFailed(f"Zalo refused the refresh token (error {code} {text})")
        try:
            expires_in = int(body.get("expires_in", 90000))  # a string in Zalo's answer
        except (TypeError, ValueError):
            expires_in = 90000
        return NewTokens(str(access), str(new_refresh), expires_in)

    return refresh


# --- the OA API --------------------------------------------------------------------------


class ZaloOaApi:
    def __init__(self, client: httpx.AsyncClient, *, base_url: str, tokens: OaTokenManager) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self.tokens = tokens

    async def _post_once(
        self, path: str, payload: Mapping[str, Any], token: str, *, upload: Upload | None = None
    ) -> Any:
        try:
            if upload is not None:  # multipart upload: the file, no JSON body
                response = await self._client.post(
                    self._base + path, files={"file": upload}, headers={"access_token": token}
                )
            else:
                response = await self._client.post(
                    self._base + path, json=dict(payload), headers={"access_token": token}
                )
        except httpx.HTTPError as err:
            raise ZaloOaUnavailable(0, type(err).__name__) from None
        if not response.is_success:
            raise ZaloOaUnavailable(response.status_code, "HTTP error")
        try:
            body = response.json()
            code = int(body.get("error", 0))
        except (ValueError, TypeError, AttributeError):
            raise ZaloOaUnavailable(response.status_code, "not JSON") from None
        if code != 0:
            raise ZaloOaError(code, str(body.get("message", ""))[:120])
        return body.get("data")

    async def post(
        self, path: str, payload: Mapping[str, Any], *, upload: Upload | None = None
    ) -> Any:
        """One call; after -216/-220 the token is refreshed and the call made once more."""
        token = await self.tokens.access_token()
        try:
            return await self._post_once(path, payload, token, upload=upload)
        except ZaloOaError as err:
            if err.code not in TOKEN_ERRORS:
                raise
            log.warning("Zalo OA said the access token is invalid (%s); refreshing", err.code)
        token = await self.tokens.access_token(force_refresh=True)
        return await self._post_once(path, payload, token, upload=upload)

    async def send_media(self, user_id: str, element: Mapping[str, str]) -> None:
        """A CS message whose attachment is a ``media`` template with one image element
        (``{"media_type": "image", "attachment_id" | "url": …}``)."""
        message = {
            "attachment": {
                "type": "template",
                "payload": {"template_type": "media", "elements": [dict(element)]},
            }
        }
        await self.post(CS_PATH, {"recipient": {"user_id": user_id}, "message": message})

    async def send_file(self, user_id: str, data: bytes, name: str, mime: str) -> None:
        """A document: uploaded (``POST /v2.0/oa/upload/file``, multipart ``file``, PDF or
        Word up to 5 MB, answers ``data.token``), then a CS message whose attachment is that
        file."""
        found = await self.post(UPLOAD_FILE_PATH, {}, upload=(name, data, mime))
        token = found.get("token") if isinstance(found, dict) else None
        if not token:
            raise ZaloOaError(0, "upload gave no token")
        message = {"attachment": {"type": "file", "payload": {"token": str(token)}}}
        await self.post(CS_PATH, {"recipient": {"user_id": user_id}, "message": message})

    async def fetch(self, url: str, *, limit: int) -> bytes | None:
        """The file behind a user's attachment URL (Zalo's CDN), or None when it cannot be
        had or is over ``limit`` bytes (read no further than that)."""
        try:
            async with self._client.stream("GET", url, timeout=20.0) as response:
                if not response.is_success:
                    return None
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > limit:
                        return None
                return bytes(data)
        except httpx.HTTPError:
            return None

    async def send_image(self, user_id: str, png: bytes) -> None:
        """A picture (a chart, a VietQR): uploaded (``POST /v2.0/oa/upload/image``, multipart
        ``file``; the ``attachment_id`` lasts 7 days), then a CS message whose attachment is a
        ``media`` template with that id."""
        data = await self.post(UPLOAD_PATH, {}, upload=("image.png", png, "image/png"))
        attachment = data.get("attachment_id") if isinstance(data, dict) else None
        if not attachment:
            raise ZaloOaError(0, "upload gave no attachment_id")
        await self.send_media(user_id, {"media_type": "image", "attachment_id": str(attachment)})

    async def send_text(self, user_id: str, text: str) -> None:
        for part in split_text(text, MAX_TEXT):
            if part.strip():
                await self.post(
                    CS_PATH, {"recipient": {"user_id": user_id}, "message": {"text": part}}
                )


# --- webhook events ----------------------------------------------------------------------


def signature(raw_body: bytes, *, first: str, timestamp: str, key: str) -> str:
    """``sha256(first + raw body + timestamp + key)`` in hex (plain SHA-256, not HMAC)."""
    digest = hashlib.sha256()
    digest.update(first.encode())
    digest.update(raw_body)
    digest.update(timestamp.encode())
    digest.update(key.encode())
    return digest.hexdigest()


def _obj(value: object) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else an empty one: events come from outside."""
    return value if isinstance(value, dict) else {}


def event_key(event: Mapping[str, Any]) -> str:
    msg_id = _obj(event.get("message")).get("msg_id")
    if msg_id:
        return f"msg|{msg_id}"
    who = (_obj(event.get("follower")) or _obj(event.get("sender"))).get("id", "")
    return f"{event.get('event_name')}|{who}|{event.get('timestamp')}"


# A file's extension, as ``user_send_file`` gives it, to the type the limits know (issue 17).
_FILE_TYPES = {"pdf": "application/pdf", "jpg": "image/jpeg", "jpeg": "image/jpeg"}
_FILE_TYPES["png"] = "image/png"


def _attachment(event_name: object, message: Mapping[str, Any]) -> Attachment | None:
    """The photo (``user_send_image``) or file (``user_send_file``) of an event: its platform
    URL, kept out of logs; None when there is none."""
    found = message.get("attachments")
    first = _obj(found[0]) if isinstance(found, list) and found else {}
    payload = _obj(first.get("payload"))
    url = payload.get("url")
    if not isinstance(url, str) or not url:
        return None
    if event_name == "user_send_image":
        return Attachment(kind="photo", file_id=url, mime="image/jpeg")
    name = str(payload.get("name") or "")
    kind = str(payload.get("type") or name.rsplit(".", 1)[-1]).lower()
    size = str(payload.get("size") or "0")
    return Attachment(
        kind="document",
        file_id=url,
        name=name,
        mime=_FILE_TYPES.get(kind, "application/octet-stream"),
        size=int(size) if size.isdigit() else 0,
    )


def to_incoming(event: Mapping[str, Any], *, school_id: str) -> Incoming | None:
    """``user_send_text`` (and a photo or file for a teacher) -> Incoming; every other event
    -> None."""
    name = event.get("event_name")
    if name not in ("user_send_text", "user_send_image", "user_send_file"):
        return None
    sender = event.get("sender") or {}
    message = event.get("message") or {}
    if not isinstance(sender, dict) or not isinstance(message, dict):
        return None
    user_id = str(sender.get("id") or "")
    text = message.get("text")
    attachment = None
    if name != "user_send_text":
        attachment = _attachment(name, message)
        if attachment is None:
            return None
        text = text if isinstance(text, str) else ""
    if not user_id or not isinstance(text, str):
        return None
    return Incoming(
        key=ConversationKey(school_id=school_id, channel=CHANNEL, chat_id=user_id, user_id=user_id),
        text=text,
        locale_hint="vi",
        message_id=str(message.get("msg_id") or ""),
        attachment=attachment,
    )


class ZaloOaChannel:
    def __init__(
        self,
        api: ZaloOaApi,
        handle: Handle,
        *,
        school_id: str,
        app_id: str,
        signature_first: str,
        signature_key: str | None,
    ) -> None:
        self.api = api
        self._handle = handle
        self.school_id = school_id
        self._app_id = app_id
        self._first = signature_first
        self._key = signature_key  # None: signatures are not checked
        self._seen = RecentKeys()
        self._lanes = TurnLanes(name="Zalo OA turn")
        self.followers: dict[str, bool] = {}  # follow / unfollow seen by this process

    def check_signature(self, raw: bytes, event: Mapping[str, Any], header: str) -> bool:
        if self._key is None:
            return True
        given = header.strip().removeprefix("mac=").strip().lower()
        if not given:
            return False
        expected = signature(
            raw, first=self._first, timestamp=str(event.get("timestamp", "")), key=self._key
        )
        return hmac.compare_digest(given.encode(), expected.encode())

    def submit(self, event: Mapping[str, Any]) -> bool:
        """Queue one event; False for duplicates and events the bot does not act on."""
        if not self._seen.first_time(event_key(event)):
            log.info("Zalo OA event seen before; dropped")
            return False
        name = event.get("event_name")
        if name in ("follow", "unfollow"):
            follower = str(_obj(event.get("follower")).get("id", ""))
            self.followers[follower] = name == "follow"
            log.info("Zalo OA %s event", name)
            return False
        incoming = to_incoming(event, school_id=self.school_id)
        if incoming is None:
            return False
        incoming = replace(incoming, event_id=event_key(event))
        self._lanes.submit(incoming.key.chat_id, lambda: self._turn(incoming))
        return True

    async def _turn(self, incoming: Incoming) -> None:
        try:
            replies = await self._handle(incoming)
            for reply in replies:
                await self.api.send_text(incoming.key.chat_id, reply.text)
                if reply.image_png is not None:
                    await self._send_image(incoming.key.chat_id, reply.image_png)
        except (ZaloOaError, TokenRefreshFailed) as err:
            log.warning("Zalo OA reply not sent: %s", getattr(err, "code", type(err).__name__))
        except Exception:
            log.exception("Zalo OA turn failed")

    async def _send_image(self, user_id: str, png: bytes) -> None:
        """The picture after its text; the text says it all, so a refusal is only logged."""
        try:
            await self.api.send_image(user_id, png)
        except ZaloOaError as err:
            log.warning("Zalo OA image not sent: %s", err.code)

    def hook(self) -> Hook:
        """This OA's route on the process's webhook server (``/zalo-oa/{school}``): signed
        with the school's keys, then the app id, then the event's age."""

        def receive(event: dict[str, Any]) -> Response:
            if not self.accepts_app(event):
                return _error(403)
            if too_old(event.get("timestamp"), dt.datetime.now(dt.UTC)):
                log.warning("Zalo OA event too old or dated ahead: dropped")
                return JSONResponse({"error": 0})  # answered, so Zalo does not send it again
            # Answer first (Zalo wants 200 within 2 s), then queue the turn.
            return JSONResponse({"error": 0}, background=BackgroundTask(self._submit, event))

        return Hook(
            receive=receive,
            signed=self.check_signature,
            signature_header=SIGNATURE_HEADER,
            error=_error,
        )

    def webhook_app(self) -> Starlette:
        """This OA alone on a webhook server."""
        hooks = Hooks()
        hooks.add(WEBHOOK_PATH, self.school_id, self.hook())
        return webhook_app(hooks)

    async def _submit(self, event: Mapping[str, Any]) -> None:
        self.submit(event)

    def accepts_app(self, event: Mapping[str, Any]) -> bool:
        return str(event.get("app_id", self._app_id)) == self._app_id

    async def drain(self, seconds: float, force: asyncio.Event | None = None) -> None:
        await self._lanes.drain(seconds, force)


def _error(status: int) -> Response:
    return JSONResponse({"error": status}, status_code=status)


# --- the outbox relay's sender, with the fallback -----------------------------------------

PhoneLookup = Callable[[ConversationKey], Awaitable[str | None]]
FallbackSend = Callable[[str, str], Awaitable[None]]  # (phone, text)
RecordFallback = Callable[[ConversationKey, str, str], Awaitable[None]]  # (key, how, why)


class ZaloOaSender:
    """:class:`bot.ports.OutboundSender` for ``zalo_oa``: a CS message; outside the window
    (``-230``/``-232``/``-213``/``-227``) the school's fallback (SMS or ZNS) if configured."""

    def __init__(
        self,
        api: ZaloOaApi,
        *,
        fallback: FallbackSend | None = None,
        fallback_name: str = "",
        phone_of: PhoneLookup | None = None,
        record: RecordFallback | None = None,
    ) -> None:
        self._api = api
        self._fallback = fallback
        self._fallback_name = fallback_name
        self._phone_of = phone_of
        self._record = record

    async def deliver(
        self, recipient: ConversationKey, text: str, buttons: tuple[tuple[Button, ...], ...]
    ) -> None:
        await self._text(recipient, render_buttons(text, buttons))

    async def _text(self, recipient: ConversationKey, text: str) -> bool:
        """A CS text; outside the window the school's fallback. True when it went by CS."""
        try:
            await self._api.send_text(recipient.chat_id, text)
        except ZaloOaUnavailable as err:
            raise DeliveryRetryLater(f"zalo_oa unavailable ({err.code})") from None
        except TokenRefreshFailed as err:
            raise DeliveryRetryLater(f"zalo_oa token: {err}"[:200]) from None
        except ZaloOaError as err:
            if err.code == RATE_LIMITED:
                raise DeliveryRetryLater("zalo_oa rate limit (-32)", after_seconds=60.0) from None
            if err.code in WINDOW_ERRORS:
                await self._fall_back(recipient, text, err.code)
                return False
            raise DeliveryFailedPermanently(
                f"zalo_oa error {err.code}", unreachable=False
            ) from None
        return True

    async def deliver_attachment(
        self,
        recipient: ConversationKey,
        attachment: Attachment,
        text: str,
        buttons: tuple[tuple[Button, ...], ...],
    ) -> None:
        """A photo or file another user of this OA sent (issue 17), after the text: a photo
        by its URL in a ``media`` message; a PDF or Word file fetched (at most 5 MB) and
        uploaded. One that cannot go (too big, another type, the link expired) leaves its
        link under the text. Outside the window the school's fallback carries the text."""
        full = render_buttons(text, buttons)
        url = attachment.file_id
        web = url.startswith(("https://", "http://"))
        data = None
        if web and attachment.kind == "document" and attachment.mime.lower() in FILE_TYPES:
            data = await self._api.fetch(url, limit=MAX_UPLOAD_FILE)
        sendable = web and (attachment.kind == "photo" or data is not None)
        if not sendable and web:
            full += f"\n📎 {attachment.name or attachment.kind}: {url}"
        if not await self._text(recipient, full) or not sendable:
            return
        try:
            if data is not None:
                name = attachment.name or "tep.pdf"
                await self._api.send_file(recipient.chat_id, data, name, attachment.mime)
            else:
                await self._api.send_media(recipient.chat_id, {"media_type": "image", "url": url})
        except (ZaloOaError, TokenRefreshFailed) as err:
            # The text went: trying the row again would send it twice. The file's link
            # follows instead (best effort).
            log.info("zalo_oa: a relayed file did not go (%s)", type(err).__name__)
            name = attachment.name or attachment.kind
            with contextlib.suppress(ZaloOaError, TokenRefreshFailed):
                await self._api.send_text(recipient.chat_id, f"📎 {name}: {url}")

    async def _fall_back(self, recipient: ConversationKey, text: str, code: int) -> None:
        why = f"zalo_oa outside the messaging window (error {code})"
        if self._fallback is None or self._phone_of is None:
            log.info("%s; no fallback configured", why)
            raise DeliveryFailedPermanently(f"{why}; no fallback", unreachable=False)
        phone = await self._phone_of(recipient)
        if phone is None:
            raise DeliveryFailedPermanently(f"{why}; no phone on file", unreachable=False)
        try:
            await self._fallback(phone, text)
        except Exception as err:
            log.warning("%s; %s fallback failed (%s)", why, self._fallback_name, type(err).__name__)
            raise DeliveryRetryLater(f"{why}; {self._fallback_name} failed") from None
        log.info("%s; sent by %s instead", why, self._fallback_name)
        if self._record is not None:
            await self._record(recipient, self._fallback_name, why)


def make_outbound_sender(
    api: ZaloOaApi,
    *,
    fallback: FallbackSend | None = None,
    fallback_name: str = "",
    phone_of: PhoneLookup | None = None,
    record: RecordFallback | None = None,
) -> ZaloOaSender:
    return ZaloOaSender(
        api, fallback=fallback, fallback_name=fallback_name, phone_of=phone_of, record=record
    )


def phone_lookup(uow_factory: UnitOfWorkFactory, backends: BackendRegistry) -> PhoneLookup:
    """The phone on file of the guardian linked to a chat (for the SMS/ZNS fallback)."""

    async def phone_of(key: ConversationKey) -> str | None:
        async with uow_factory() as uow:
            links = await uow.links.active_links(key)
        backend = backends.for_school(key.school_id)
        for link in links:
            if link.role != LinkRole.GUARDIAN:
                continue
            for guardian in await backend.guardians(link.subject_id):
                if guardian.id == link.person_id and guardian.phone:
                    return guardian.phone
        return None

    return phone_of


def audit_recorder(uow_factory: UnitOfWorkFactory, clock: Clock) -> RecordFallback:
    """Records each fallback as an audit event ``zalo_oa.fallback`` (ids and reason only)."""

    async def record(key: ConversationKey, how: str, why: str) -> None:
        async with uow_factory() as uow:
            await uow.audit.record(
                school_id=key.school_id,
                actor=str(key),
                action="zalo_oa.fallback",
                detail={"via": how, "why": why},
                at=clock.now(),
            )
            await uow.commit()

    return record
