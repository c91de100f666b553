"""The composition root: the one place where engines, clients and adapters are built.

Nothing is built at import time. ``build_app`` wires everything from ``Settings`` and
returns an ``App`` whose ``aclose()`` releases it all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.backends.local import LocalBackend
from bot.channels import base as channel_caps
from bot.clock import SystemClock
from bot.config import ConfigError, Settings
from bot.domain.otp import OtpPolicy
from bot.i18n import Catalog
from bot.ports import Clock, OtpSender, SchoolBackend
from bot.router import Router
from bot.turn import CoreServices
from storage.engine import create_engine, session_factory
from storage.migrate import upgrade
from storage.uow import SqlUnitOfWorkFactory, get_or_create_secret

log = logging.getLogger(__name__)

CAPABILITIES = {
    "console": channel_caps.CONSOLE,
    "memory": channel_caps.MEMORY,
    "memory_text": channel_caps.MEMORY_TEXT_ONLY,
    "telegram": channel_caps.TELEGRAM,
    "zalo_bot": channel_caps.ZALO,
    "zalo_oa": channel_caps.ZALO,
}


class LocalBackends:
    """Every school on the ``local`` backend, sharing one session factory."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._cache: dict[str, SchoolBackend] = {}

    def for_school(self, school_id: str) -> SchoolBackend:
        if school_id not in self._cache:
            self._cache[school_id] = LocalBackend(self._sessions, school_id)
        return self._cache[school_id]


@dataclass(slots=True, kw_only=True)
class App:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    services: CoreServices
    router: Router
    _closers: list[Callable[[], Any]] = field(default_factory=list)

    async def aclose(self) -> None:
        for close in reversed(self._closers):
            result = close()
            if hasattr(result, "__await__"):
                await result
        await self.engine.dispose()


def otp_policy(settings: Settings) -> OtpPolicy:
    import datetime as dt

    o = settings.otp
    return OtpPolicy(
        ttl=dt.timedelta(seconds=o.ttl_seconds),
        max_attempts=o.max_attempts,
        lockout=dt.timedelta(seconds=o.lockout_seconds),
        resend_cooldown=dt.timedelta(seconds=o.resend_cooldown_seconds),
        max_sends_per_hour=o.max_sends_per_hour,
        code_lookups_per_hour=o.code_lookups_per_hour,
    )


async def prepare_database(settings: Settings, *, clock: Clock | None = None) -> AsyncEngine:
    """Create the engine, migrate, and seed the demo school the first time."""
    from bot.backends.demo_data import SCHOOL_ID, build_demo_school
    from bot.backends.local_seed import school_exists, seed_school

    engine = create_engine(settings.database_url, echo=settings.database.echo)
    try:
        await upgrade(engine)
        sessions = session_factory(engine)
        if settings.seed_demo and settings.school_id == SCHOOL_ID:
            now = (clock or SystemClock()).now()
            if await seed_school(sessions, build_demo_school(), now=now):
                log.info("seeded the demo school")
        elif not await school_exists(sessions, settings.school_id):
            raise ConfigError(
                f"School {settings.school_id!r} has no data in the database: import its data "
                "first, or leave LIENLAC_SCHOOL_ID unset to use the demo school."
            )
    except Exception:
        await engine.dispose()
        raise
    return engine


async def build_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    otp_sender: OtpSender | None = None,
    console_write: Callable[[str], None] = print,
) -> App:
    from bot.otp_senders import ConsoleOtpSender, HttpJsonOtpSender

    clock = clock or SystemClock()
    engine = await prepare_database(settings, clock=clock)
    sessions = session_factory(engine)
    closers: list[Callable[[], Any]] = []
    if otp_sender is None:
        if settings.otp.provider == "http_json":
            import httpx

            assert settings.otp.url is not None  # checked by the settings model
            client = httpx.AsyncClient(timeout=settings.otp.timeout_seconds)
            closers.append(client.aclose)
            otp_sender = HttpJsonOtpSender(
                client, settings.otp.url, timeout=settings.otp.timeout_seconds
            )
        elif settings.otp.provider in ("sms", "zns"):
            otp_sender = _gateway_otp_sender(settings, engine, clock, closers)
        else:
            otp_sender = ConsoleOtpSender(console_write)
    services = CoreServices(
        clock=clock,
        catalog=Catalog.load(),
        backends=LocalBackends(sessions),
        otp_sender=otp_sender,
        otp_policy=otp_policy(settings),
        secret=await get_or_create_secret(sessions, "otp_hmac"),
        timezone=settings.school_timezone,
    )
    router = Router(
        services=services, uow_factory=SqlUnitOfWorkFactory(sessions), capabilities=CAPABILITIES
    )
    return App(
        settings=settings,
        engine=engine,
        sessions=sessions,
        services=services,
        router=router,
        _closers=closers,
    )


def _gateway_otp_sender(
    settings: Settings, engine: AsyncEngine, clock: Clock, closers: list[Callable[[], Any]]
) -> OtpSender:
    """``sms`` (eSMS/SpeedSMS) or ``zns`` (ZNS template, then SMS if configured)."""
    import httpx

    from bot.otp_senders import FallbackOtpSender, ZnsOtpSender, sms_gateway_sender

    client = httpx.AsyncClient()
    closers.append(client.aclose)
    sms_sender = sms_gateway_sender(settings.otp.sms, client)
    if settings.otp.provider == "sms":
        assert sms_sender is not None  # checked by the settings model
        return sms_sender
    zns = settings.otp.zns
    zns_sender = ZnsOtpSender(
        client,
        base_url=zns.url,
        template_id=zns.template_id,
        token=zns_token_source(settings, engine, clock, client),
        otp_param=zns.otp_param,
        development_mode=zns.development_mode,
        timeout=zns.timeout_seconds,
    )
    if sms_sender is not None and settings.otp.zns_fallback_sms:
        return FallbackOtpSender(zns_sender, sms_sender)
    return zns_sender


def zns_token_source(
    settings: Settings, engine: AsyncEngine, clock: Clock, client: Any
) -> Callable[[], Any]:
    """The OA access token for ZNS: from the OA token store when the OA is configured (the
    same rotating pair as the OA channel), else the static ``LIENLAC_OTP__ZNS__ACCESS_TOKEN``."""
    import datetime as dt

    from bot.oa_tokens import OaTokenManager, TokenRefreshFailed

    oa = settings.zalo_oa
    if oa.enabled:
        from bot.channels.zalo_oa import oauth_refresher
        from storage.oa_tokens import SqlOaTokenStore

        assert oa.app_secret is not None
        manager = OaTokenManager(
            SqlOaTokenStore(engine),
            oauth_refresher(
                client,
                oauth_base_url=oa.oauth_base_url,
                app_id=oa.app_id,
                app_secret=oa.app_secret.get_secret_value(),
            ),
            school_id=settings.school_id,
            clock=clock,
            margin=dt.timedelta(seconds=oa.refresh_margin_seconds),
        )
        seeded = False

        async def from_store() -> str:
            nonlocal seeded
            if not seeded and oa.refresh_token is not None:
                await manager.seed(
                    app_id=oa.app_id, refresh_token=oa.refresh_token.get_secret_value()
                )
                seeded = True
            return await manager.access_token()

        return from_store
    static = settings.otp.zns.access_token

    async def from_settings() -> str:
        if static is None:
            raise TokenRefreshFailed("LIENLAC_OTP__ZNS__ACCESS_TOKEN is not set")
        return static.get_secret_value()

    return from_settings
