"""The composition root: the one place where engines, clients and adapters are built.

Nothing is built at import time. ``build_app`` wires everything from ``Settings`` and
returns an ``App`` whose ``aclose()`` releases it all.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.backends.local import LocalBackend
from bot.channels import base as channel_caps
from bot.channels import sms as sms_channel
from bot.clock import SystemClock
from bot.config import (
    AbsenceSettings,
    ConfigError,
    OtpSettings,
    PaymentSettings,
    SchoolConfig,
    Settings,
)
from bot.domain.absence import AbsencePolicy
from bot.domain.models import BankAccount, SchoolContact
from bot.domain.otp import OtpPolicy
from bot.domain.threads import ThreadPolicy
from bot.i18n import Catalog
from bot.inbox import Inbox
from bot.messages import ConversationKey
from bot.outbox import DEFAULT_LIMITS, UNLIMITED, OutboxRelay, SchoolHours
from bot.ports import Clock, OtpSender, OutboundSender, SchoolBackend
from bot.router import Router
from bot.throttle import Throttle
from bot.turn import CoreServices, SchoolProfile
from storage.engine import create_engine, session_factory
from storage.inbox_store import SqlInboxStore
from storage.migrate import upgrade
from storage.outbox_store import SqlOutboxStore
from storage.uow import SqlUnitOfWorkFactory, get_or_create_secret

if TYPE_CHECKING:
    import httpx

    from bot.scheduler import DigestScheduler

log = logging.getLogger(__name__)

CAPABILITIES = {
    "console": channel_caps.CONSOLE,
    "memory": channel_caps.MEMORY,
    "memory_text": channel_caps.MEMORY_TEXT_ONLY,
    "telegram": channel_caps.TELEGRAM,
    "zalo_bot": channel_caps.ZALO,
    "zalo_oa": channel_caps.ZALO,
}


LOCAL_CHANNELS = ("console", "memory", "memory_text")  # no platform limits to respect


class ConfiguredBackends:
    """Each configured school on its own backend (maybe remote, behind a cache); any other
    school id falls back to the ``local`` tables."""

    def __init__(self, backends: Mapping[str, SchoolBackend], local: LocalBackends) -> None:
        self._backends = dict(backends)
        self._local = local

    def for_school(self, school_id: str) -> SchoolBackend:
        backend = self._backends.get(school_id)
        return backend if backend is not None else self._local.for_school(school_id)


@dataclass(slots=True, kw_only=True)
class BuiltBackends:
    registry: ConfiguredBackends
    direct: dict[str, SchoolBackend]  # each school's backend without the cache (check-config)
    closers: list[Callable[[], Any]]


async def build_backends(
    settings: Settings,
    *,
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    http: httpx.AsyncClient | None = None,
    wrapper: Callable[[SchoolBackend], SchoolBackend] | None = None,
) -> BuiltBackends:
    """Every school's backend, built through its manifest (``lienlac.backends``). Config
    files are validated before anything is built; a wrong one raises ``ConfigError``."""

    from bot.backends.base import BackendDeps
    from bot.backends.cached import CachedBackend
    from bot.backends.registry import UnknownBackend, load_config, load_manifest

    closers: list[Callable[[], Any]] = []
    backends: dict[str, SchoolBackend] = {}
    direct: dict[str, SchoolBackend] = {}
    for school in settings.school_configs():
        b = school.backend
        try:
            manifest = load_manifest(b.kind)
            config = load_config(manifest, b.mapping)
        except (UnknownBackend, ValueError) as err:
            raise ConfigError(f"LIENLAC_BACKEND ({school.id}): {err}.") from err
        if manifest.needs_http and http is None:
            import httpx

            http = httpx.AsyncClient(timeout=b.timeout_seconds)
            closers.append(http.aclose)
        assert manifest.factory is not None, f"backend {manifest.name} has no factory"
        deps = BackendDeps(school_id=school.id, clock=clock, sessions=sessions, http=http)
        direct[school.id] = manifest.factory(config, deps)
        backend: SchoolBackend = direct[school.id]
        if manifest.needs_http:  # remote: a cache keeps answers when the school system is down
            backend = CachedBackend(
                backend,
                clock=clock,
                max_age=dt.timedelta(seconds=b.cache_max_age_seconds),
                fresh_for=dt.timedelta(seconds=b.cache_fresh_seconds),
                timeout_seconds=b.timeout_seconds,
            )
        backends[school.id] = wrapper(backend) if wrapper is not None else backend
    registry = ConfiguredBackends(backends, LocalBackends(sessions))
    return BuiltBackends(registry=registry, direct=direct, closers=closers)


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
    # each school's SMS provider for the SMS digest (issue 16); a school without one is absent
    sms_providers: dict[str, OtpSender] = field(default_factory=dict)
    _closers: list[Callable[[], Any]] = field(default_factory=list)

    @property
    def uow_factory(self) -> SqlUnitOfWorkFactory:
        return SqlUnitOfWorkFactory(self.sessions)

    async def metrics(self) -> bytes:
        """The Prometheus text for ``/metrics``: outbox queues and leave requests."""

        from bot.stats import collect_stats, outbox_metrics
        from storage.stats import absence_stats, otp_stats

        now = dt.datetime.now(dt.UTC)
        outbox = await collect_stats(SqlOutboxStore(self.engine), now=now)
        return outbox_metrics(
            outbox,
            await absence_stats(self.sessions, now=now),
            await otp_stats(self.sessions, now=now),
            {school.id: self.settings.otp for school in self.settings.school_configs()},
            None if (t := self.router.throttle) is None else (t.noticed, t.dropped),
            await SqlInboxStore(self.engine).waiting(),
        )

    def build_relay(
        self,
        senders: Mapping[str, OutboundSender],
        *,
        accept: Callable[[ConversationKey], bool] | None = None,
        worker_id: str | None = None,
        poll_interval: float = 1.0,
    ) -> OutboxRelay:
        """The outbox relay for the channels this process can send on; every committed turn
        wakes it."""
        limits = {**DEFAULT_LIMITS, **{name: UNLIMITED for name in LOCAL_CHANNELS}}
        senders = dict(senders)
        sms = self.sms_sender()
        if sms is not None and sms_channel.CHANNEL not in senders:
            senders[sms_channel.CHANNEL] = sms  # every relay can deliver the SMS digest
            if accept is not None:
                only = accept

                def accept(recipient: ConversationKey) -> bool:
                    return recipient.channel == sms_channel.CHANNEL or only(recipient)

        relay = OutboxRelay(
            SqlOutboxStore(self.engine),
            senders,
            self.services.clock,
            accept=accept,
            worker_id=worker_id,
            limits=limits,
            poll_interval=poll_interval,
            lease=dt.timedelta(seconds=self.settings.outbox.lease_seconds),
            quiet_hours=(self.services.quiet_start, self.services.quiet_end),
            schools={
                school_id: SchoolHours(p.timezone, p.quiet_start, p.quiet_end)
                for school_id, p in self.services.profiles.items()
            },
            resent_note=lambda locale: self.services.catalog.t(locale, "outbox.resent"),
        )
        self.router.after_commit.append(relay.wake)
        return relay

    def sms_sender(self) -> sms_channel.SmsSender | None:
        """The outbox's ``sms`` sender over the schools' SMS providers; None when no school
        has one."""
        if not self.sms_providers:
            return None
        return sms_channel.SmsSender(
            self.sms_providers,
            sms_channel.sms_phone_lookup(self.services.backends),
            max_segments=self.settings.digest.sms_max_segments,
        )

    def build_inbox(self) -> Inbox:
        """The webhook server's durable inbox (bot.inbox), on this app's database."""
        return Inbox(SqlInboxStore(self.engine), self.services.clock)

    async def aclose(self) -> None:
        for close in reversed(self._closers):
            result = close()
            if hasattr(result, "__await__"):
                await result
        await self.engine.dispose()


def admin_url(settings: Settings) -> str | None:
    """The office web page's public base (``…/admin``), or None when none is configured."""
    if not settings.admin.enabled:
        return None
    base = settings.admin.public_url or settings.webhook.public_url
    return base.rstrip("/") + "/admin" if base else None


def otp_policy(settings: Settings) -> OtpPolicy:

    o = settings.otp
    return OtpPolicy(
        ttl=dt.timedelta(seconds=o.ttl_seconds),
        max_attempts=o.max_attempts,
        lockout=dt.timedelta(seconds=o.lockout_seconds),
        resend_cooldown=dt.timedelta(seconds=o.resend_cooldown_seconds),
        max_sends_per_hour=o.max_sends_per_hour,
        max_sends_per_day=o.max_sends_per_day,
        phones_per_chat_per_day=o.phones_per_chat_per_day,
        school_sends_per_day=o.school_sends_per_day,
        school_alert_ratio=o.school_alert_ratio,
        wrong_codes_per_student_per_day=o.wrong_codes_per_student_per_day,
        code_lookups_per_hour=o.code_lookups_per_hour,
        unknown_codes_per_hour=o.unknown_codes_per_hour,
        unknown_codes_per_school_per_day=o.unknown_codes_per_school_per_day,
    )


def absence_policy(a: AbsenceSettings) -> AbsencePolicy:

    return AbsencePolicy(
        max_days=a.max_days,
        past_days=a.past_days,
        same_day_cutoff=a.same_day_cutoff,
        remind_after=dt.timedelta(hours=a.remind_after_hours),
        decision_cutoff=a.decision_cutoff,
        deputy_code=a.deputy_code,
        deputy_window=dt.timedelta(hours=a.deputy_hours),
    )


def missing_school(school_id: str) -> str:
    return (
        f"School {school_id!r} has no data in the database: import its data first "
        "(.venv/bin/python run_bot.py import FILE --school ID), or leave LIENLAC_SCHOOL_ID "
        "unset to use the demo school."
    )


# The demo school's account, so the demo shows a payment QR with nothing configured: an
# account number no bank issues, and a holder name that says not to pay.
DEMO_BANK = BankAccount(
    bank_name="Vietcombank (demo)",
    bank_bin="970436",
    account="0000000000",
    account_name="LIENLAC DEMO KHONG CHUYEN TIEN",
)


def thread_policy(school: SchoolConfig) -> ThreadPolicy:
    """The school's rules for parents' private messages to teachers (issue 17)."""
    m = school.messages
    return ThreadPolicy(
        office_start=m.office_start,
        office_end=m.office_end,
        urgent_words=tuple(m.urgent_words),
        per_hour=m.per_hour,
        retention_days=m.retention_days,
        subject_teachers=m.subject_teachers,
        school_days_only=m.school_days_only,
        zalo_fallback=school.zalo_oa.notification_fallback if school.zalo_oa.enabled else "none",
    )


def bank_account(payment: PaymentSettings, *, demo: bool = False) -> BankAccount | None:
    """The school's account for fee payments, or ``None`` when none is configured (the
    seeded demo school has :data:`DEMO_BANK`)."""
    if not payment.enabled:
        return DEMO_BANK if demo else None
    return BankAccount(
        bank_name=payment.bank_name,
        bank_bin=payment.bank_bin,
        account=payment.account,
        account_name=payment.account_name,
        memo_prefix=payment.memo_prefix,
    )


async def schools_without_data(settings: Settings, engine: AsyncEngine) -> list[str]:
    """The configured schools on the local backend that ``run`` would refuse at start (no
    data in the database; the demo is seeded then, so it never counts)."""
    from bot.backends.demo_data import SCHOOL_ID
    from bot.backends.local_seed import school_exists

    sessions = session_factory(engine)
    return [
        school.id
        for school in settings.school_configs()
        if school.backend.kind == "local"
        and not (settings.seed_demo and school.id == SCHOOL_ID)
        and not await school_exists(sessions, school.id)
    ]


async def prepare_database(settings: Settings, *, clock: Clock | None = None) -> AsyncEngine:
    """Create the engine, migrate, and seed the demo school the first time."""
    from bot.backends.demo_data import SCHOOL_ID, build_demo_school
    from bot.backends.local_seed import school_exists, seed_school

    engine = create_engine(settings.database_url, echo=settings.database.echo)
    try:
        await upgrade(engine)
        sessions = session_factory(engine)
        for school in settings.school_configs():
            local = school.backend.kind == "local"
            if settings.seed_demo and school.id == SCHOOL_ID and local:
                now = (clock or SystemClock()).now()
                if await seed_school(sessions, build_demo_school(), now=now):
                    log.info("seeded the demo school")
            elif local and not await school_exists(sessions, school.id):
                raise ConfigError(missing_school(school.id))
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
    backend_http: httpx.AsyncClient | None = None,
    backend_wrapper: Callable[[SchoolBackend], SchoolBackend] | None = None,
    web_url: str | None = None,
) -> App:
    """Everything wired from ``settings``. ``backend_wrapper`` wraps the configured school's
    backend (tests put a fault-injecting fake around it; instrumentation could too).
    ``web_url`` is where ``/web`` links point when the settings name no public address (the
    terminal demo's own loopback server)."""
    clock = clock or SystemClock()
    engine = await prepare_database(settings, clock=clock)
    sessions = session_factory(engine)
    try:
        built = await build_backends(
            settings, sessions=sessions, clock=clock, http=backend_http, wrapper=backend_wrapper
        )
    except Exception:
        await engine.dispose()
        raise
    closers: list[Callable[[], Any]] = list(built.closers)
    # Each school's OTP goes through its own provider; a sender given here serves them all.
    school_otp: dict[str, OtpSender] = {}
    sms_providers: dict[str, OtpSender] = {}
    if otp_sender is None:
        otp_http: list[httpx.AsyncClient] = []
        for school in settings.school_configs():
            school_otp[school.id] = _otp_sender_for(
                school, engine, clock, closers, console_write, otp_http
            )
            provider = _sms_provider_for(school, school_otp[school.id], otp_http)
            if provider is not None:
                sms_providers[school.id] = provider
        otp_sender = school_otp[settings.school_configs()[0].id]
    else:
        sms_providers = {school.id: otp_sender for school in settings.school_configs()}
    home = settings.school_configs()[0]  # the defaults; each school's own are in profiles

    def is_demo(school: SchoolConfig) -> bool:
        from bot.backends.demo_data import SCHOOL_ID

        return settings.seed_demo and school.id == SCHOOL_ID and school.backend.kind == "local"

    services = CoreServices(
        clock=clock,
        catalog=Catalog.load(),
        backends=built.registry,
        otp_sender=otp_sender,
        otp_policy=otp_policy(settings),
        secret=await get_or_create_secret(sessions, "otp_hmac"),
        timezone=home.timezone,
        absence_policy=absence_policy(home.absence),
        capabilities=CAPABILITIES,
        quiet_start=home.quiet_start,
        quiet_end=home.quiet_end,
        school_staff=frozenset(home.school_staff),
        bank=bank_account(home.payment, demo=is_demo(home)),
        threads=thread_policy(home),
        web_url=admin_url(settings) or (web_url if settings.admin.enabled else None),
        profiles={
            school.id: SchoolProfile(
                timezone=school.timezone,
                absence_policy=absence_policy(school.absence),
                quiet_start=school.quiet_start,
                quiet_end=school.quiet_end,
                school_staff=frozenset(school.school_staff),
                otp_sender=school_otp.get(school.id),
                contact=SchoolContact(
                    phone=school.phone,
                    telegram_username=school.telegram.username or "",
                    zalo_link=school.zalo_bot.link or "",
                ),
                bank=bank_account(school.payment, demo=is_demo(school)),
                threads=thread_policy(school),
            )
            for school in settings.school_configs()
        },
    )
    throttle = settings.throttle
    router = Router(
        services=services,
        uow_factory=SqlUnitOfWorkFactory(sessions),
        capabilities=CAPABILITIES,
        throttle=Throttle(burst=throttle.burst, per_second=throttle.per_second)
        if throttle.burst
        else None,
    )
    return App(
        settings=settings,
        engine=engine,
        sessions=sessions,
        services=services,
        router=router,
        sms_providers=sms_providers,
        _closers=closers,
    )


def build_scheduler(app: App, *, wake: Callable[[], None] | None = None) -> DigestScheduler:
    """The digest scheduler for the configured school; ``wake`` nudges the outbox relay.
    The caller starts it inside the event loop and shuts it down before ``app.aclose()``."""

    from bot.notifications import DigestPolicy, Notifier
    from bot.scheduler import DigestScheduler

    notifier = Notifier(
        uow_factory=SqlUnitOfWorkFactory(app.sessions),
        backends=app.services.backends,
        catalog=app.services.catalog,
        schools=[school.id for school in app.settings.school_configs()],
        policy=DigestPolicy(
            grace=dt.timedelta(minutes=app.settings.digest.grace_minutes),
            default_timezone=app.settings.school_timezone,
            sms_max_segments=app.settings.digest.sms_max_segments,
        ),
    )
    return DigestScheduler(
        notifier, app.services.clock, wake=wake, tick_seconds=app.settings.digest.tick_seconds
    )


def _otp_sender_for(
    school: SchoolConfig,
    engine: AsyncEngine,
    clock: Clock,
    closers: list[Callable[[], Any]],
    console_write: Callable[[str], None],
    shared_http: list[httpx.AsyncClient],
) -> OtpSender:
    """The school's OTP provider (``otp`` of its ``[[schools]]`` entry, else the top-level
    one): ``console``, ``http_json``, ``sms`` or ``zns``. One HTTP client serves them all."""
    from bot.otp_senders import ConsoleOtpSender, HttpJsonOtpSender

    otp = school.otp
    if otp.provider == "console":
        return ConsoleOtpSender(console_write)
    if not shared_http:
        import httpx

        shared_http.append(httpx.AsyncClient(timeout=otp.timeout_seconds))
        closers.append(shared_http[0].aclose)
    client = shared_http[0]
    if otp.provider == "http_json":
        assert otp.url is not None  # checked by the settings model
        return HttpJsonOtpSender(client, otp.url, timeout=otp.timeout_seconds)
    return _gateway_otp_sender(school, engine, clock, client)


def sms_provider_configured(otp: OtpSettings) -> bool:
    """Whether the school can text a digest: an OTP provider that texts a phone, or ``zns``
    with the SMS keys set (see :func:`_sms_provider_for`)."""
    return otp.provider != "zns" or sms_gateway_configured(otp)


def sms_gateway_configured(otp: OtpSettings) -> bool:
    return otp.sms.configured and otp.sms.api_key is not None


def _sms_provider_for(
    school: SchoolConfig, otp_sender: OtpSender, shared_http: list[httpx.AsyncClient]
) -> OtpSender | None:
    """What sends the school's SMS digest (issue 16): its OTP provider when that texts a
    phone (``console`` in the demo, ``http_json``, ``sms``); with ``zns``, the SMS keys
    (``LIENLAC_OTP__SMS__*``) if set, else nothing (a ZNS template cannot carry a digest)."""
    from bot.otp_senders import sms_gateway_sender

    if school.otp.provider != "zns":
        return otp_sender
    return sms_gateway_sender(school.otp.sms, shared_http[0]) if shared_http else None


def _gateway_otp_sender(
    school: SchoolConfig, engine: AsyncEngine, clock: Clock, client: httpx.AsyncClient
) -> OtpSender:
    """``sms`` (eSMS/SpeedSMS) or ``zns`` (ZNS template, then SMS if configured)."""
    from bot.otp_senders import FallbackOtpSender, ZnsOtpSender, sms_gateway_sender

    otp = school.otp
    sms_sender = sms_gateway_sender(otp.sms, client)
    if otp.provider == "sms":
        assert sms_sender is not None  # checked by the settings model
        return sms_sender
    zns = otp.zns
    zns_sender = ZnsOtpSender(
        client,
        base_url=zns.url,
        template_id=zns.template_id,
        token=zns_token_source(school, engine, clock, client),
        otp_param=zns.otp_param,
        development_mode=zns.development_mode,
        timeout=zns.timeout_seconds,
    )
    if sms_sender is not None and otp.zns_fallback_sms:
        return FallbackOtpSender(zns_sender, sms_sender)
    return zns_sender


def zns_token_source(
    school: SchoolConfig, engine: AsyncEngine, clock: Clock, client: Any
) -> Callable[[], Any]:
    """The OA access token for ZNS: from the school's OA token store when its OA is
    configured (the same rotating pair as its OA channel), else the static
    ``LIENLAC_OTP__ZNS__ACCESS_TOKEN``."""

    from bot.oa_tokens import OaTokenManager, TokenRefreshFailed

    oa = school.zalo_oa
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
            school_id=school.id,
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
    static = school.otp.zns.access_token

    async def from_settings() -> str:
        if static is None:
            raise TokenRefreshFailed("LIENLAC_OTP__ZNS__ACCESS_TOKEN is not set")
        return static.get_secret_value()

    return from_settings


# --- one way for a command to open the database or the app --------------------------------


@contextlib.asynccontextmanager
async def migrated_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The database at the newest revision, disposed when the block ends."""
    from storage.migrate import upgrade

    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
        yield engine
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def opened_app(settings: Settings, **kwargs: Any) -> AsyncIterator[App]:
    """:func:`build_app` for the block (the CLI's commands), closed when it ends."""
    app = await build_app(settings, **kwargs)
    try:
        yield app
    finally:
        await app.aclose()
