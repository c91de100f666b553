"""The composition root of a serving process: every school's Telegram bot, Zalo bot and Zalo
OA, **one** webhook server, **one** outbox relay with the digest scheduler and the
leave-request jobs, started in order and stopped in reverse.

::

    build_app (engine, migrations, backends, router)          bot.bootstrap
      -> secrets blanked in every log line                     bot.channels.redact
      -> channels: TelegramBots, ZaloBots, ZaloOaChannel        bot.channels.*
      -> relay (all their senders) + scheduler + jobs           bot.background
      -> the webhook server on LIENLAC_WEBHOOK__LISTEN           bot.channels.webhook
      -> each channel adds its routes, registers its webhook or polls
    SIGTERM/SIGINT: stop taking updates, drain turns (a second signal cuts that short),
    stop the relay, close the server and the clients, dispose the engine.

Channels only translate between the wire and ``Incoming``/``Reply``; everything that needs
settings, storage or the app is wired here. The console (the demo) stays in ``run_bot.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from functools import partial
from typing import Any

import httpx
from starlette.types import ASGIApp

from bot.background import run_background
from bot.bootstrap import App, build_app
from bot.channels import telegram, zalo_bot, zalo_oa
from bot.channels.http_server import running
from bot.channels.ops_http import metrics_endpoint
from bot.channels.per_school import PerSchoolSender
from bot.channels.redact import redacted
from bot.channels.webhook import MEDIA_PATH, Hooks, webhook_app
from bot.config import SchoolConfig, Settings, ZaloOaSettings
from bot.oa_tokens import TokenRefreshFailed
from bot.ports import OutboundSender

log = logging.getLogger(__name__)

DRAIN_SECONDS = 6.0  # on SIGTERM: how long the relay may take to finish its pass


async def serve(settings: Settings) -> int:
    """Serve every configured school's bots until SIGTERM/SIGINT; the exit code (0 clean,
    1 a platform or port unreachable, 2 a token refused; the worst wins)."""
    app = await build_app(settings, console_write=lambda s: print(s, flush=True))
    try:
        async with _signals() as (stop, force):
            return await serve_app(app, settings, stop, force)
    finally:
        await app.aclose()


@contextlib.asynccontextmanager
async def _signals() -> AsyncIterator[tuple[asyncio.Event, asyncio.Event]]:
    """``stop`` on the first SIGTERM/SIGINT, ``force`` on the second."""
    loop = asyncio.get_running_loop()
    stop, force = asyncio.Event(), asyncio.Event()

    def on_signal() -> None:
        if stop.is_set():
            force.set()
        stop.set()

    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, on_signal)
    try:
        yield stop, force
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


def webhook_listens(settings: Settings) -> list[str]:
    """``LIENLAC_WEBHOOK__LISTEN``, then any address still set with a deprecated per-channel
    variable (served by the same server, with a warning). When only deprecated addresses are
    set, the default address is left alone: an upgraded installation keeps its ports."""
    listens = [settings.webhook.listen]
    explicit = "listen" in settings.webhook.model_fields_set
    for school in settings.school_configs():
        for name, old in (
            ("LIENLAC_ZALO_BOT__WEBHOOK_LISTEN", school.zalo_bot.webhook_listen),
            ("LIENLAC_ZALO_OA__WEBHOOK_LISTEN", school.zalo_oa.webhook_listen),
        ):
            if old and old not in listens:
                log.warning(
                    "%s is deprecated: every webhook is on LIENLAC_WEBHOOK__LISTEN (%s); "
                    "%s is served too for this release",
                    name,
                    settings.webhook.listen,
                    old,
                )
                listens.append(old)
    return listens if explicit or len(listens) == 1 else listens[1:]


async def serve_app(app: App, settings: Settings, stop: asyncio.Event, force: asyncio.Event) -> int:
    schools = settings.school_configs()
    tg_bots = {
        s.id: (s.telegram.token.get_secret_value(), s.telegram.api_base_url)
        for s in schools
        if s.telegram.token is not None
    }
    zalo_bots = {s.id: _bot_config(s) for s in schools if s.zalo_bot.token is not None}
    oas = [s for s in schools if s.zalo_oa.enabled]
    if any(zb.public_url for zb in zalo_bots.values()):
        log.warning(
            "LIENLAC_ZALO_BOT__WEBHOOK_PUBLIC_URL is deprecated: set LIENLAC_WEBHOOK__PUBLIC_URL"
        )
    public_url = settings.webhook.public_url
    token = settings.metrics.token
    metrics = metrics_endpoint(
        app.metrics, token.get_secret_value() if token else None, public=True
    )
    secrets = [
        *(t for t, _ in tg_bots.values()),
        *(b.token for b in zalo_bots.values()),
        *(b.secret for b in zalo_bots.values() if b.secret),
        *_oa_secrets(oas),
    ]
    with redacted(*secrets):
        async with httpx.AsyncClient(timeout=10.0) as client:
            senders: dict[str, OutboundSender] = {}
            hooks = Hooks()
            runs: list[Callable[[], Coroutine[Any, Any, int]]] = []
            closers: list[Callable[[], Awaitable[None]]] = []
            drains: list[Callable[[], Awaitable[None]]] = []
            if oas:
                built = await _build_oas(app, oas, client)
                if built is None:
                    return 2
                channels, oa_senders = built
                senders[zalo_oa.CHANNEL] = PerSchoolSender(zalo_oa.CHANNEL, oa_senders)
                for school_id, channel in channels.items():
                    hooks.add(zalo_oa.WEBHOOK_PATH, school_id, channel.hook())
                    drains.append(partial(channel.drain, zalo_oa.DRAIN_SECONDS, force))
            if tg_bots:
                tg = telegram.TelegramBots(
                    tg_bots, app.router.handle, catalog=app.services.catalog, metrics=metrics
                )
                senders[telegram.CHANNEL] = tg.sender
                closers.append(tg.aclose)

                runs.append(
                    lambda: tg.run(
                        stop,
                        force,
                        hooks=hooks,
                        public_url=public_url,
                        secret_of=_derived(telegram.webhook_secret, app),
                    )
                )
            media = _media(app, public_url)
            if zalo_bots:
                zb = zalo_bot.ZaloBots(
                    client, zalo_bots, app.router.handle, publish=media.publish if media else None
                )
                senders[zalo_bot.CHANNEL] = zb.sender

                runs.append(
                    lambda: zb.run(
                        stop,
                        force,
                        hooks=hooks,
                        public_url=public_url,
                        secret_of=_derived(zalo_bot.webhook_secret, app),
                    )
                )
            relay = app.build_relay(senders)
            background_stop = asyncio.Event()
            background = asyncio.create_task(run_background(app, relay, background_stop))
            needs_server = (
                bool(oas)
                or bool(public_url)
                or any(b.public_url for b in zalo_bots.values())
                or bool(settings.admin.enabled and settings.admin.public_url)
            )
            try:
                async with contextlib.AsyncExitStack() as stack:
                    if needs_server:
                        listens = webhook_listens(settings)
                        inbox = app.build_inbox()
                        server = webhook_app(
                            hooks,
                            metrics=metrics,
                            inbox=inbox,
                            media=media.lookup if media else None,
                            admin=_admin(app, settings),
                        )
                        up = await stack.enter_async_context(
                            running(server, listens, what="webhook server")
                        )
                        if not up:
                            stop.set()
                            return 1
                        log.info("webhook server on %s", ", ".join(listens))
                        draining = asyncio.create_task(inbox.run(hooks, stop))
                        stack.push_async_callback(_finished, draining)
                    if oas:
                        runs.append(lambda: _until(stop))
                    try:
                        codes = await run_all([run() for run in runs], stop)
                    finally:
                        await asyncio.gather(*(drain() for drain in drains))
                    if hooks.paths():
                        log.debug("webhook routes served: %s", ", ".join(hooks.paths()))
                return max(codes, default=0)
            finally:
                stop.set()
                background_stop.set()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(background, DRAIN_SECONDS)
                for close in reversed(closers):
                    await close()


class _Media:
    """Pictures served from the webhook server for Zalo Bot's ``sendPhoto`` (a URL only)."""

    def __init__(self, app: App, public_url: str) -> None:
        from storage.media_store import SqlMediaStore

        self._store = SqlMediaStore(app.sessions)
        self._clock = app.services.clock
        self._base = f"{public_url.rstrip('/')}/{MEDIA_PATH}"

    async def publish(self, school_id: str, png: bytes) -> str:
        token = await self._store.put(png, school_id=school_id, now=self._clock.now())
        return f"{self._base}/{token}.png"

    async def lookup(self, token: str) -> tuple[str, bytes] | None:
        return await self._store.get(token, now=self._clock.now())


def _media(app: App, public_url: str | None) -> _Media | None:
    """Photos by URL need a public address; without one a Zalo bot sends the text only."""
    return _Media(app, public_url) if public_url else None


def _admin(app: App, settings: Settings) -> ASGIApp | None:
    """The school office's web page (bot.admin), unless turned off."""
    if not settings.admin.enabled:
        return None
    from bot.admin.web import build_admin

    return build_admin(app)


async def _finished(task: asyncio.Task[None]) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(task, DRAIN_SECONDS)


def _derived(secret: Callable[..., str], app: App) -> Callable[[str, str], str]:
    """(school, bot token) -> that bot's webhook secret, derived from the installation's."""
    return lambda school_id, token: secret(app.services.secret, school_id=school_id, token=token)


async def _until(stop: asyncio.Event) -> int:
    await stop.wait()
    return 0


async def run_all(runs: Sequence[Coroutine[Any, Any, int]], stop: asyncio.Event) -> list[int]:
    """Run together until each returns; the exit codes. One failing (a non-zero code before
    ``stop``) sets ``stop``, so the others end too: the operator sees one clear error. When
    one raises, the others are stopped and awaited, then it re-raises."""

    async def one(run: Coroutine[Any, Any, int]) -> int:
        code = await run
        if code != 0:
            stop.set()
        return code

    tasks = [asyncio.ensure_future(one(run)) for run in runs]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


# --- Zalo: settings to channel parts ---------------------------------------------------------


def _bot_config(school: SchoolConfig) -> zalo_bot.BotConfig:
    zb = school.zalo_bot
    assert zb.token is not None
    return zalo_bot.BotConfig(
        token=zb.token.get_secret_value(),
        api_base_url=zb.api_base_url,
        poll_seconds=zb.poll_timeout_seconds,
        public_url=zb.webhook_public_url,
        secret=zb.webhook_secret.get_secret_value() if zb.webhook_secret else None,
    )


def _oa_secrets(schools: Sequence[SchoolConfig]) -> list[str]:
    return [
        s.get_secret_value()
        for school in schools
        for s in (school.zalo_oa.app_secret, school.zalo_oa.oa_secret, school.zalo_oa.refresh_token)
        if s is not None
    ]


def signature_key(oa: ZaloOaSettings) -> str | None:
    if not oa.verify_signature:
        return None
    secret = oa.oa_secret if oa.signature_key == "oa_secret" else oa.app_secret
    assert secret is not None  # checked by the settings model
    return secret.get_secret_value()


async def build_oa_api(
    app: App, school: SchoolConfig, client: httpx.AsyncClient
) -> zalo_oa.ZaloOaApi:
    """The school's OA API with its token manager (its own ``oa_token`` row; the configured
    refresh token seeded if new)."""
    import datetime as dt

    from bot.oa_tokens import OaTokenManager
    from storage.oa_tokens import SqlOaTokenStore

    oa = school.zalo_oa
    assert oa.app_secret is not None
    manager = OaTokenManager(
        SqlOaTokenStore(app.engine),
        zalo_oa.oauth_refresher(
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
    return zalo_oa.ZaloOaApi(client, base_url=oa.api_base_url, tokens=manager)


def oa_sender(
    app: App, school: SchoolConfig, api: zalo_oa.ZaloOaApi, client: httpx.AsyncClient
) -> zalo_oa.ZaloOaSender:
    """The relay's sender for the school's OA, with its fallback outside the window."""
    from storage.uow import SqlUnitOfWorkFactory

    uow = SqlUnitOfWorkFactory(app.sessions)
    fallback = fallback_from_settings(school, client, api.tokens.access_token)
    return zalo_oa.make_outbound_sender(
        api,
        fallback=fallback[0] if fallback else None,
        fallback_name=fallback[1] if fallback else "",
        phone_of=zalo_oa.phone_lookup(uow, app.services.backends),
        record=zalo_oa.audit_recorder(uow, app.services.clock),
    )


async def _build_oas(
    app: App, schools: Sequence[SchoolConfig], client: httpx.AsyncClient
) -> tuple[dict[str, zalo_oa.ZaloOaChannel], dict[str, OutboundSender]] | None:
    """Each school's OA channel and sender (one API and token manager per school); None when
    an OA has no usable token (logged)."""
    channels: dict[str, zalo_oa.ZaloOaChannel] = {}
    senders: dict[str, OutboundSender] = {}
    for school in schools:
        oa = school.zalo_oa
        api = await build_oa_api(app, school, client)
        try:
            await api.tokens.access_token()  # fail early on a refused refresh token
        except TokenRefreshFailed:
            where = f" (school {school.id})" if len(schools) > 1 else ""
            log.error("Zalo OA has no usable token%s: check LIENLAC_ZALO_OA__REFRESH_TOKEN", where)
            return None
        channels[school.id] = zalo_oa.ZaloOaChannel(
            api,
            app.router.handle,
            school_id=school.id,
            app_id=oa.app_id,
            signature_first=oa.app_id if oa.signature_first == "app_id" else oa.oa_id,
            signature_key=signature_key(oa),
        )
        senders[school.id] = oa_sender(app, school, api, client)
    paths = ", ".join(f"/{zalo_oa.WEBHOOK_PATH}/{s.id}" for s in schools)
    log.info("Zalo OA webhook routes: %s", paths)
    return channels, senders


async def outbound_senders(
    app: App, settings: Settings, client: httpx.AsyncClient
) -> dict[str, OutboundSender]:
    """The relay's senders for the Zalo channels the schools configured (``zalo_bot``,
    ``zalo_oa``; either may be absent), each routing by ``recipient.school_id``. For a
    worker process that only sends (no webhooks)."""
    senders: dict[str, OutboundSender] = {}
    bots = {
        s.id: zalo_bot.make_outbound_sender(client, base_url=cfg.api_base_url, token=cfg.token)
        for s in settings.school_configs()
        if s.zalo_bot.token is not None
        for cfg in (_bot_config(s),)
    }
    if bots:
        senders[zalo_bot.CHANNEL] = PerSchoolSender(zalo_bot.CHANNEL, bots)
    oas: dict[str, OutboundSender] = {}
    for school in settings.school_configs():
        if school.zalo_oa.enabled:
            api = await build_oa_api(app, school, client)
            oas[school.id] = oa_sender(app, school, api, client)
    if oas:
        senders[zalo_oa.CHANNEL] = PerSchoolSender(zalo_oa.CHANNEL, oas)
    return senders


def fallback_from_settings(
    school: SchoolConfig, client: httpx.AsyncClient, zns_token: Callable[[], Awaitable[str]]
) -> tuple[zalo_oa.FallbackSend, str] | None:
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
