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
import datetime as dt
import hashlib
import hmac
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.channels.base import ZALO, split_text
from bot.channels.http_server import running
from bot.channels.lanes import TurnLanes
from bot.channels.webhook import Refused, parse_object, read_body, too_old
from bot.channels.zalo_bot import redacted, render_buttons, run_all
from bot.domain.errors import DeliveryFailedPermanently, DeliveryRetryLater
from bot.messages import Button, ConversationKey, Incoming, Reply
from bot.oa_tokens import NewTokens, OaTokenManager, TokenRefreshFailed
from bot.ports import BackendRegistry, Clock, LinkRole, OutboundSender, UnitOfWorkFactory

if TYPE_CHECKING:
    from bot.bootstrap import App
    from bot.config import SchoolConfig, Settings, ZaloOaSettings

log = logging.getLogger(__name__)

CHANNEL = "zalo_oa"
MAX_TEXT = ZALO.max_text
SIGNATURE_HEADER = "X-ZEvent-Signature"
CS_PATH = "/v3.0/oa/message/cs"
TOKEN_PATH = "/v4/oa/access_token"  # noqa: S105 - a path
TOKEN_ERRORS = frozenset({-216, -220})
RATE_LIMITED = -32
# Outside the messaging window, not following, inactive: CS cannot reach the user.
WINDOW_ERRORS = frozenset({-230, -232, -213, -227})
RECENT_EVENTS = 10_000
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

    async def _post_once(self, path: str, payload: Mapping[str, Any], token: str) -> Any:
        try:
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

    async def post(self, path: str, payload: Mapping[str, Any]) -> Any:
        """One call; after -216/-220 the token is refreshed and the call made once more."""
        token = await self.tokens.access_token()
        try:
            return await self._post_once(path, payload, token)
        except ZaloOaError as err:
            if err.code not in TOKEN_ERRORS:
                raise
            log.warning("Zalo OA said the access token is invalid (%s); refreshing", err.code)
        token = await self.tokens.access_token(force_refresh=True)
        return await self._post_once(path, payload, token)

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


def to_incoming(event: Mapping[str, Any], *, school_id: str) -> Incoming | None:
    """``user_send_text`` -> Incoming; every other event -> None."""
    if event.get("event_name") != "user_send_text":
        return None
    sender = event.get("sender") or {}
    message = event.get("message") or {}
    if not isinstance(sender, dict) or not isinstance(message, dict):
        return None
    user_id = str(sender.get("id") or "")
    text = message.get("text")
    if not user_id or not isinstance(text, str):
        return None
    return Incoming(
        key=ConversationKey(school_id=school_id, channel=CHANNEL, chat_id=user_id, user_id=user_id),
        text=text,
        locale_hint="vi",
        message_id=str(message.get("msg_id") or ""),
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
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lanes = TurnLanes(name="Zalo OA turn")
        self.followers: dict[str, bool] = {}  # follow / unfollow seen by this process

    def _first_time(self, key: str) -> bool:
        if key in self._seen:
            return False
        self._seen[key] = None
        while len(self._seen) > RECENT_EVENTS:
            self._seen.popitem(last=False)
        return True

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
        if not self._first_time(event_key(event)):
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
        except (ZaloOaError, TokenRefreshFailed) as err:
            log.warning("Zalo OA reply not sent: %s", getattr(err, "code", type(err).__name__))
        except Exception:
            log.exception("Zalo OA turn failed")

    def webhook_app(self) -> Starlette:
        """This OA alone on :func:`webhook_app`."""
        return webhook_app({self.school_id: self})

    async def _submit(self, event: Mapping[str, Any]) -> None:
        self.submit(event)

    async def serve_webhook(self, stop: asyncio.Event, *, listen: str) -> bool:
        """This OA alone on :func:`serve_webhooks`."""
        return await serve_webhooks({self.school_id: self}, stop, listen=listen)

    def accepts_app(self, event: Mapping[str, Any]) -> bool:
        return str(event.get("app_id", self._app_id)) == self._app_id

    async def drain(self, seconds: float, force: asyncio.Event | None = None) -> None:
        await self._lanes.drain(seconds, force)


# --- one webhook server for every school's OA -------------------------------------------


def webhook_app(channels: Mapping[str, ZaloOaChannel]) -> Starlette:
    """``POST /zalo-oa/{school}`` (signed with that school's keys) and ``GET /healthz``."""

    async def receive(request: Request) -> Response:
        channel = channels.get(request.path_params["school"])
        if channel is None:
            return JSONResponse({"error": 404}, status_code=404)
        try:
            raw = await read_body(request)
            event = parse_object(raw)
        except Refused as refused:
            return JSONResponse({"error": refused.status}, status_code=refused.status)
        # The signature covers the body and the timestamp inside it: checked once parsed.
        if not channel.check_signature(raw, event, request.headers.get(SIGNATURE_HEADER, "")):
            log.warning("Zalo OA webhook with a missing or wrong signature: rejected")
            return JSONResponse({"error": 401}, status_code=401)
        if not channel.accepts_app(event):
            return JSONResponse({"error": 403}, status_code=403)
        if too_old(event.get("timestamp"), dt.datetime.now(dt.UTC)):
            log.warning("Zalo OA event too old or dated ahead: dropped")
            return JSONResponse({"error": 0})  # answered, so Zalo does not send it again
        # Answer first (Zalo wants 200 within 2 s), then queue the turn.
        return JSONResponse({"error": 0}, background=BackgroundTask(channel._submit, event))

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/zalo-oa/{school}", receive, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


async def serve_webhooks(
    channels: Mapping[str, ZaloOaChannel], stop: asyncio.Event, *, listen: str
) -> bool:
    """Serve every OA's webhook on ``listen`` until ``stop``; False when it cannot start."""
    async with running(webhook_app(channels), listen, what="Zalo OA webhook server") as up:
        if not up:
            return False
        paths = ", ".join(f"/zalo-oa/{school}" for school in channels)
        log.info("Zalo OA webhook listening on %s (%s)", listen, paths)
        await stop.wait()
        return True


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
        full = render_buttons(text, buttons)
        try:
            await self._api.send_text(recipient.chat_id, full)
        except ZaloOaUnavailable as err:
            raise DeliveryRetryLater(f"zalo_oa unavailable ({err.code})") from None
        except TokenRefreshFailed as err:
            raise DeliveryRetryLater(f"zalo_oa token: {err}"[:200]) from None
        except ZaloOaError as err:
            if err.code == RATE_LIMITED:
                raise DeliveryRetryLater("zalo_oa rate limit (-32)", after_seconds=60.0) from None
            if err.code in WINDOW_ERRORS:
                await self._fall_back(recipient, full, err.code)
                return
            raise DeliveryFailedPermanently(
                f"zalo_oa error {err.code}", unreachable=False
            ) from None

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


def fallback_from_settings(
    school: SchoolConfig, client: httpx.AsyncClient, zns_token: Callable[[], Awaitable[str]]
) -> tuple[FallbackSend, str] | None:
    """The school's ``LIENLAC_ZALO_OA__NOTIFICATION_FALLBACK``: ``sms`` (its OTP SMS
    gateway's keys) or ``zns`` (``ZNS_NOTICE_TEMPLATE_ID``, one ``content`` parameter); None
    when ``none``."""
    from bot.otp_senders import ZnsOtpSender, sms_gateway_sender

    how = school.zalo_oa.notification_fallback
    if how == "sms":
        sender = sms_gateway_sender(school.otp.sms, client)
        if sender is None:
            log.warning(
                "LIENLAC_ZALO_OA__NOTIFICATION_FALLBACK=sms but LIENLAC_OTP__SMS__* is not set "
                "(school %s): notifications outside the messaging window will fail",
                school.id,
            )
            return None

        async def by_sms(phone: str, text: str) -> None:
            await sender.send(phone=phone, text=text)

        return by_sms, "sms"
    if how == "zns":
        template = school.zalo_oa.zns_notice_template_id
        zns = ZnsOtpSender(
            client,
            base_url=school.otp.zns.url,
            template_id=template,
            token=zns_token,
            timeout=school.otp.zns.timeout_seconds,
        )

        async def by_zns(phone: str, text: str) -> None:
            await zns.send_template(phone=phone, template_id=template, data={"content": text[:400]})

        return by_zns, "zns"
    return None


def signature_key(oa: ZaloOaSettings) -> str | None:
    if not oa.verify_signature:
        return None
    secret = oa.oa_secret if oa.signature_key == "oa_secret" else oa.app_secret
    assert secret is not None  # checked by the settings model
    return secret.get_secret_value()


def school_oas(settings: Settings) -> list[SchoolConfig]:
    """The schools with an OA (``zalo_oa`` of their ``[[schools]]`` entry, else the top-level
    one)."""
    return [school for school in settings.school_configs() if school.zalo_oa.enabled]


async def build_api(app: App, school: SchoolConfig, client: httpx.AsyncClient) -> ZaloOaApi:
    """The school's OA API with its token manager (its own ``oa_token`` row; the configured
    refresh token seeded if new)."""
    from storage.oa_tokens import SqlOaTokenStore

    oa = school.zalo_oa
    assert oa.app_secret is not None
    manager = OaTokenManager(
        SqlOaTokenStore(app.engine),
        oauth_refresher(
            client,
            oauth_base_url=oa.oauth_base_url,
            app_id=oa.app_id,
            app_secret=oa.app_secret.get_secret_value(),
        ),
        school_id=school.id,
        clock=app.services.clock,
        margin=dt.timedelta(seconds=oa.refresh_margin_seconds),
    )
    if oa.refresh_token is not None:
        await manager.seed(app_id=oa.app_id, refresh_token=oa.refresh_token.get_secret_value())
    return ZaloOaApi(client, base_url=oa.api_base_url, tokens=manager)


def _secrets(schools: list[SchoolConfig]) -> list[str]:
    return [
        s.get_secret_value()
        for school in schools
        for s in (school.zalo_oa.app_secret, school.zalo_oa.oa_secret, school.zalo_oa.refresh_token)
        if s is not None
    ]


async def serve(app: App, settings: Settings, stop: asyncio.Event, force: asyncio.Event) -> int:
    """Serve every school's OA webhook until ``stop`` (one server per listen address,
    ``/zalo-oa/<school>``); the exit code."""
    schools = school_oas(settings)
    channels: dict[str, ZaloOaChannel] = {}
    async with httpx.AsyncClient(timeout=10.0) as client:
        with redacted(*_secrets(schools)):
            for school in schools:
                oa = school.zalo_oa
                api = await build_api(app, school, client)
                try:
                    await api.tokens.access_token()  # fail early on a refused refresh token
                except TokenRefreshFailed:
                    where = f" (school {school.id})" if len(schools) > 1 else ""
                    log.error(
                        "Zalo OA has no usable token%s: check LIENLAC_ZALO_OA__REFRESH_TOKEN",
                        where,
                    )
                    return 2
                channels[school.id] = ZaloOaChannel(
                    api,
                    app.router.handle,
                    school_id=school.id,
                    app_id=oa.app_id,
                    signature_first=oa.app_id if oa.signature_first == "app_id" else oa.oa_id,
                    signature_key=signature_key(oa),
                )
            by_listen: dict[str, dict[str, ZaloOaChannel]] = {}
            for school in schools:
                listen = school.zalo_oa.webhook_listen
                by_listen.setdefault(listen, {})[school.id] = channels[school.id]
            try:
                groups = [serve_webhooks(g, stop, listen=at) for at, g in by_listen.items()]
                if not await run_all(groups, stop):
                    return 1
            finally:
                await asyncio.gather(*(c.drain(DRAIN_SECONDS, force) for c in channels.values()))
    log.info("Zalo OA stopped")
    return 0


async def outbound_senders(
    app: App, settings: Settings, client: httpx.AsyncClient
) -> dict[str, OutboundSender]:
    """The outbox relay's senders for the Zalo channels the schools configured:
    ``{"zalo_bot": ..., "zalo_oa": ...}`` (either may be absent), each routing by
    ``recipient.school_id`` to that school's bot or OA. Pass them to
    :class:`bot.outbox.OutboxRelay` next to Telegram's; ``DEFAULT_LIMITS`` already has Zalo's
    rate limits. Give ``client`` a timeout well below the relay's lease margin (10 s)."""
    from bot.channels import zalo_bot
    from bot.channels.per_school import PerSchoolSender
    from storage.uow import SqlUnitOfWorkFactory

    senders: dict[str, OutboundSender] = {}
    bots = {
        school: zalo_bot.make_outbound_sender(
            client, base_url=zb.api_base_url, token=zb.token.get_secret_value()
        )
        for school, zb in zalo_bot.school_bots(settings).items()
        if zb.token is not None
    }
    if bots:
        senders[zalo_bot.CHANNEL] = PerSchoolSender(zalo_bot.CHANNEL, bots)
    uow = SqlUnitOfWorkFactory(app.sessions)
    oas: dict[str, OutboundSender] = {}
    for school in school_oas(settings):
        api = await build_api(app, school, client)
        fallback = fallback_from_settings(school, client, api.tokens.access_token)
        oas[school.id] = make_outbound_sender(
            api,
            fallback=fallback[0] if fallback else None,
            fallback_name=fallback[1] if fallback else "",
            phone_of=phone_lookup(uow, app.services.backends),
            record=audit_recorder(uow, app.services.clock),
        )
    if oas:
        senders[CHANNEL] = PerSchoolSender(CHANNEL, oas)
    return senders
