"""Zalo OA: the token store under concurrent refreshes (SQLite and PostgreSQL), a refused
refresh token, and notifications outside the messaging window (fallback to SMS or ZNS),
against the loopback fakes of the OA, its OAuth endpoint and an eSMS gateway."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.channels.zalo_oa import (
    ZaloOaApi,
    ZaloOaSender,
    audit_recorder,
    oauth_refresher,
    phone_lookup,
)
from bot.domain.errors import DeliveryFailedPermanently, DeliveryRetryLater
from bot.messages import ConversationKey
from bot.oa_tokens import OaTokenManager, TokenRefreshFailed
from bot.otp_senders import SmsGatewayOtpSender, ZnsOtpSender
from bot.ports import LinkRole
from storage.engine import create_engine, session_factory
from storage.migrate import upgrade
from storage.oa_tokens import SqlOaTokenStore
from storage.uow import SqlUnitOfWorkFactory
from tests.fakes.esms_gateway import FakeEsms
from tests.fakes.zalo_oa_api import FakeZaloOa

ROOT = Path(__file__).resolve().parents[2]
APP_ID, APP_SECRET, OA_SECRET = "3141592653", "app-secret", "oa-secret"
NOW = dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.at = NOW

    def now(self) -> dt.datetime:
        return self.at


@pytest.fixture
def oa() -> Iterator[FakeZaloOa]:
    with FakeZaloOa(app_id=APP_ID, app_secret=APP_SECRET, oa_secret=OA_SECRET) as fake:
        yield fake


def manager(
    engine: object, client: httpx.AsyncClient, oa: FakeZaloOa, clock: Clock, worker: str
) -> OaTokenManager:
    return OaTokenManager(
        SqlOaTokenStore(engine),  # type: ignore[arg-type]
        oauth_refresher(client, oauth_base_url=oa.url, app_id=APP_ID, app_secret=APP_SECRET),
        school_id="demo",
        clock=clock,
        worker=worker,
    )


async def test_two_workers_refreshing_at_once_spend_the_refresh_token_once(
    database_url: str, oa: FakeZaloOa
) -> None:
    """Each worker has its own engine (its own connections), as two processes would."""
    engines = [create_engine(database_url) for _ in range(3)]
    await upgrade(engines[0])
    clock = Clock()
    oa.hold_refresh_seconds = 0.3  # a slow OAuth server widens the race
    async with httpx.AsyncClient() as client:
        workers = [manager(e, client, oa, clock, f"w{i}") for i, e in enumerate(engines)]
        first = oa.issue_refresh_token()
        await workers[0].seed(app_id=APP_ID, refresh_token=first)
        await workers[1].seed(app_id=APP_ID, refresh_token=first)  # a second start: no change
        try:
            tokens = await asyncio.gather(*(w.access_token() for w in workers))
            assert len(set(tokens)) == 1
            assert oa.refreshes == 1 and oa.spent_reuses == 0
            assert sum(w.refreshes for w in workers) == 1
            state = await SqlOaTokenStore(engines[0]).load("demo")
            assert state is not None
            assert state.refresh_token in oa.valid_refresh_tokens()  # no lost refresh
            assert state.expires_at == NOW + dt.timedelta(seconds=90000)
            assert state.refresh_by is None and state.refresh_lease_until is None

            # Still fresh 19 h later: no refresh. Past 20 h (5 h margin): one refresh again.
            clock.at = NOW + dt.timedelta(hours=19)
            assert await workers[2].access_token() == tokens[0]
            clock.at = NOW + dt.timedelta(hours=20, minutes=1)
            again = await asyncio.gather(*(w.access_token() for w in workers))
            assert len(set(again)) == 1 and again[0] != tokens[0]
            assert oa.refreshes == 2 and oa.spent_reuses == 0

            # Zalo says -216 to a worker holding an old token: it reads the new one, no refresh.
            api = ZaloOaApi(client, base_url=oa.url, tokens=workers[0])
            await workers[1].access_token(force_refresh=True)  # another worker rotated
            assert oa.refreshes == 3
            await api.send_text("u-1", "Xin chào")
            assert oa.cs_to("u-1") == ["Xin chào"]
            assert oa.refreshes == 3 and oa.spent_reuses == 0
        finally:
            for engine in engines:
                await engine.dispose()


async def test_a_refused_refresh_token_is_logged_and_counted(
    database_url: str, oa: FakeZaloOa, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(database_url)
    await upgrade(engine)
    try:
        async with httpx.AsyncClient() as client:
            worker = manager(engine, client, oa, Clock(), "w1")
            await worker.seed(app_id=APP_ID, refresh_token="rt-never-issued-by-zalo")
            with caplog.at_level(logging.ERROR), pytest.raises(TokenRefreshFailed):
                await worker.access_token()
            state = await SqlOaTokenStore(engine).load("demo")
            assert state is not None
            assert state.refresh_failures == 1
            assert "refused the refresh token" in state.last_error
            assert state.refresh_by is None  # the lease is released: a retry can run
            line = next(r.getMessage() for r in caplog.records if r.name == "bot.oa_tokens")
            assert "LIENLAC_ZALO_OA__REFRESH_TOKEN" in line
            assert "rt-never-issued-by-zalo" not in caplog.text

            # The admin consents again: a new configured token replaces the stored pair.
            await worker.seed(app_id=APP_ID, refresh_token=oa.issue_refresh_token())
            assert await worker.access_token()
    finally:
        await engine.dispose()


# --- the messaging window -------------------------------------------------------------


async def _linked_parent(database_url: str) -> tuple[object, ConversationKey]:
    """The demo school, with chat ``u-parent`` linked to HS8A03 through its guardian."""
    from bot.backends.demo_data import build_demo_school
    from bot.backends.local_seed import seed_school

    engine = create_engine(database_url)
    await upgrade(engine)
    sessions = session_factory(engine)
    demo = build_demo_school()
    await seed_school(sessions, demo, now=NOW)
    student = next(s for s in demo.students if s.code == "HS8A03")
    guardian_id = next(g.guardian_id for g in demo.guardian_links if g.student_id == student.id)
    key = ConversationKey(
        school_id="demo", channel="zalo_oa", chat_id="u-parent", user_id="u-parent"
    )
    async with SqlUnitOfWorkFactory(sessions)() as uow:
        await uow.links.add(
            key=key,
            role=LinkRole.GUARDIAN,
            subject_id=student.id,
            person_id=guardian_id,
            consent_version="1",
            consent_at=NOW,
            verified_at=NOW,
        )
        await uow.commit()
    return engine, key


async def test_outside_the_window_a_notification_falls_back_to_sms_and_says_why(
    database_url: str, oa: FakeZaloOa
) -> None:
    from bot.bootstrap import LocalBackends

    engine, key = await _linked_parent(database_url)
    sessions = session_factory(engine)  # type: ignore[arg-type]
    uow = SqlUnitOfWorkFactory(sessions)
    try:
        with FakeEsms(api_key="k", secret_key="s") as esms:
            async with httpx.AsyncClient() as client:
                tokens = manager(engine, client, oa, Clock(), "w1")
                await tokens.seed(app_id=APP_ID, refresh_token=oa.issue_refresh_token())
                api = ZaloOaApi(client, base_url=oa.url, tokens=tokens)
                sms = SmsGatewayOtpSender(
                    client,
                    style="esms",
                    base_url=esms.url,
                    api_key="k",
                    secret_key="s",
                    brandname="TRUONG",
                    timeout=5.0,
                )

                async def by_sms(phone: str, text: str) -> None:
                    await sms.send(phone=phone, text=text)

                sender = ZaloOaSender(
                    api,
                    fallback=by_sms,
                    fallback_name="sms",
                    phone_of=phone_lookup(uow, LocalBackends(sessions)),
                    record=audit_recorder(uow, Clock()),
                )
                # Inside the window: a CS message.
                await sender.deliver(key, "Thông báo 1", ())
                assert oa.cs_to("u-parent") == ["Thông báo 1"]
                # Outside (-230): the SMS gateway gets it, on the guardian's phone on file.
                oa.outside_window("u-parent")
                await sender.deliver(key, "Thông báo 2 123456", ())
                assert esms.wait_for_code("0900000024") == "123456"
                assert oa.cs_refused == [("u-parent", -230)]
                async with uow() as tx:
                    count = await tx.audit.count(
                        school_id="demo", actor=str(key), action="zalo_oa.fallback", since=NOW
                    )
                assert count == 1
                # The SMS gateway down too: the relay retries later.
                esms.fail_next("99")
                with pytest.raises(DeliveryRetryLater):
                    await sender.deliver(key, "Thông báo 3", ())
                # Without a fallback: failed, with the reason, links kept.
                plain = ZaloOaSender(api)
                with pytest.raises(DeliveryFailedPermanently) as failed:
                    await plain.deliver(key, "Thông báo 4", ())
                assert "-230" in failed.value.reason and not failed.value.unreachable
    finally:
        await engine.dispose()  # type: ignore[attr-defined]


async def test_outside_the_window_a_notification_can_fall_back_to_zns(
    database_url: str, oa: FakeZaloOa
) -> None:
    from bot.bootstrap import LocalBackends

    engine, key = await _linked_parent(database_url)
    sessions = session_factory(engine)  # type: ignore[arg-type]
    try:
        async with httpx.AsyncClient() as client:
            tokens = manager(engine, client, oa, Clock(), "w1")
            await tokens.seed(app_id=APP_ID, refresh_token=oa.issue_refresh_token())
            api = ZaloOaApi(client, base_url=oa.url, tokens=tokens)
            zns = ZnsOtpSender(
                client,
                base_url=oa.url,
                template_id="notice-1",
                token=tokens.access_token,
                timeout=5.0,
            )

            async def by_zns(phone: str, text: str) -> None:
                await zns.send_template(phone=phone, template_id="notice-1", data={"content": text})

            sender = ZaloOaSender(
                api,
                fallback=by_zns,
                fallback_name="zns",
                phone_of=phone_lookup(SqlUnitOfWorkFactory(sessions), LocalBackends(sessions)),
            )
            oa.outside_window("u-parent")
            await sender.deliver(key, "Lịch họp phụ huynh", ())
            assert oa.zns_sent[-1]["phone"] == "84900000024"
            assert oa.zns_sent[-1]["template_data"] == {"content": "Lịch họp phụ huynh"}
    finally:
        await engine.dispose()  # type: ignore[attr-defined]


# --- the outbox relay with the Zalo senders built from settings ---------------------------


async def test_the_relay_delivers_on_zalo_bot_and_falls_back_outside_the_oa_window(
    database_url: str, oa: FakeZaloOa
) -> None:
    from bot.bootstrap import build_app
    from bot.config import (
        DatabaseSettings,
        OtpSettings,
        Settings,
        SmsGatewaySettings,
        ZaloBotSettings,
        ZaloOaSettings,
    )
    from bot.outbox import OutboxRelay
    from bot.ports import OutgoingMessage
    from bot.serve import outbound_senders
    from storage.outbox_store import SqlOutboxStore
    from tests.fakes.zalo_bot_api import FakeZaloBotApi

    token = "555:relay-secret"
    with FakeZaloBotApi(token=token) as zb, FakeEsms(api_key="k", secret_key="s") as esms:
        settings = Settings(
            database=DatabaseSettings(url=database_url),
            zalo_bot=ZaloBotSettings(token=token, api_base_url=zb.url),  # type: ignore[arg-type]
            zalo_oa=ZaloOaSettings(
                app_id=APP_ID,
                app_secret=APP_SECRET,  # type: ignore[arg-type]
                oa_secret=OA_SECRET,  # type: ignore[arg-type]
                refresh_token=oa.issue_refresh_token(),  # type: ignore[arg-type]
                api_base_url=oa.url,
                oauth_base_url=oa.url,
                notification_fallback="sms",
            ),
            otp=OtpSettings(
                sms=SmsGatewaySettings(url=esms.url, api_key="k", secret_key="s")  # type: ignore[arg-type]
            ),
        )
        app = await build_app(settings, console_write=lambda _: None)
        try:
            sessions = app.sessions
            from bot.backends.demo_data import build_demo_school

            demo = build_demo_school()
            student = next(s for s in demo.students if s.code == "HS8A03")
            guardian = next(
                g.guardian_id for g in demo.guardian_links if g.student_id == student.id
            )
            parent_oa = ConversationKey(
                school_id="demo", channel="zalo_oa", chat_id="u-oa", user_id="u-oa"
            )
            parent_bot = ConversationKey(
                school_id="demo", channel="zalo_bot", chat_id="c" * 20, user_id="c" * 20
            )
            clock = app.services.clock
            async with SqlUnitOfWorkFactory(sessions)() as uow:
                await uow.links.add(
                    key=parent_oa,
                    role=LinkRole.GUARDIAN,
                    subject_id=student.id,
                    person_id=guardian,
                    consent_version="1",
                    consent_at=clock.now(),
                    verified_at=clock.now(),
                )
                for n, key in enumerate((parent_oa, parent_bot)):
                    await uow.outbox.enqueue(
                        OutgoingMessage(
                            recipient=key, kind="notice", text=f"Thông báo {n}", dedupe_key=f"n{n}"
                        ),
                        now=clock.now(),
                    )
                await uow.commit()
            oa.outside_window("u-oa")
            async with httpx.AsyncClient(timeout=5.0) as client:
                senders = await outbound_senders(app, settings, client)
                assert sorted(senders) == ["zalo_bot", "zalo_oa"]
                relay = OutboxRelay(SqlOutboxStore(app.engine), senders, clock, quiet_hours=None)
                assert await relay.run_once() == 2
            assert zb.sent_to("c" * 20)[-1]["text"] == "Thông báo 1"
            assert esms.sent[-1]["Content"] == "Thông báo 0"  # by SMS, outside the window
            assert esms.sent[-1]["Phone"] == "0900000024"
            stats = await SqlOutboxStore(app.engine).stats(clock.now())
            assert [(s.sent, s.failed, s.pending) for s in stats] == [(2, 0, 0)]
        finally:
            await app.aclose()


def test_two_worker_processes_refresh_once(database_url: str, oa: FakeZaloOa) -> None:
    """Two real processes ask for the token at the same instant, on a row without one."""

    async def seed() -> None:
        engine = create_engine(database_url)
        await upgrade(engine)
        async with httpx.AsyncClient() as client:
            await manager(engine, client, oa, Clock(), "seeder").seed(
                app_id=APP_ID, refresh_token=oa.issue_refresh_token()
            )
        await engine.dispose()

    async def stored() -> tuple[str, str]:
        engine = create_engine(database_url)
        try:
            state = await SqlOaTokenStore(engine).load("demo")
        finally:
            await engine.dispose()
        assert state is not None
        return state.access_token, state.refresh_token

    asyncio.run(seed())
    oa.hold_refresh_seconds = 0.5
    start_at = time.time() + 3.0  # both processes are up by then
    command = [
        sys.executable,
        "-m",
        "tests.oa_token_worker",
        "--db",
        database_url,
        "--oauth",
        oa.url,
        "--app-id",
        APP_ID,
        "--app-secret",
        APP_SECRET,
        "--at",
        str(start_at),
    ]
    procs = [
        subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    lines: list[str] = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        lines += out.splitlines()
    tokens = {line.split()[1] for line in lines if line.startswith("token ")}
    refreshes = sum(int(line.split()[1]) for line in lines if line.startswith("refreshes "))
    assert len(tokens) == 1  # both processes got the same access token
    assert refreshes == 1 and oa.refreshes == 1
    assert oa.spent_reuses == 0 and oa.refused_refreshes == 0
    access, refresh = asyncio.run(stored())
    assert access in tokens and refresh in oa.valid_refresh_tokens()  # no lost refresh
