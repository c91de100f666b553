"""Per-school routing: the outbox sender of each school's bot/OA, and each school's OTP
provider as seen by a turn (``CoreServices.for_school``)."""

from __future__ import annotations

import pytest

from bot.channels.per_school import PerSchoolSender
from bot.domain.absence import AbsencePolicy
from bot.domain.errors import DeliveryFailedPermanently
from bot.domain.otp import OtpPolicy
from bot.i18n import Catalog
from bot.messages import ConversationKey
from bot.turn import CoreServices, SchoolProfile
from tests.fakes.outbound import RecordingSender
from tests.fakes.ports import FakeClock, RecordingOtpSender


def key(school: str) -> ConversationKey:
    return ConversationKey(school_id=school, channel="zalo_bot", chat_id="c1", user_id="c1")


async def test_the_outbox_sender_routes_by_the_recipients_school() -> None:
    a, b = RecordingSender(), RecordingSender()
    sender = PerSchoolSender("zalo_bot", {"a": a, "b": b})
    await sender.deliver(key("b"), "Thông báo", ())
    assert [d.text for d in b.delivered] == ["Thông báo"] and a.delivered == []
    with pytest.raises(DeliveryFailedPermanently) as err:
        await sender.deliver(key("gone"), "x", ())
    assert err.value.reason == "no zalo_bot for this school" and not err.value.unreachable


def test_each_school_sees_its_own_otp_sender_and_others_the_default() -> None:
    default, own_b = RecordingOtpSender(), RecordingOtpSender()

    def profile(sender: RecordingOtpSender | None) -> SchoolProfile:
        import datetime as dt

        return SchoolProfile(
            timezone="Asia/Ho_Chi_Minh",
            absence_policy=AbsencePolicy(),
            quiet_start=dt.time(21),
            quiet_end=dt.time(6, 30),
            school_staff=frozenset(),
            otp_sender=sender,
        )

    services = CoreServices(
        clock=FakeClock(),
        catalog=Catalog.load(),
        backends=None,  # type: ignore[arg-type]  # not used here
        otp_sender=default,
        otp_policy=OtpPolicy(),
        secret=b"s" * 32,
        profiles={"a": profile(None), "b": profile(own_b)},
    )
    assert services.for_school("b").otp_sender is own_b
    assert services.for_school("a").otp_sender is default  # a sender given to build_app
    assert services.for_school("unknown").otp_sender is default


async def test_one_schools_webhook_server_failing_stops_the_others() -> None:
    import asyncio

    from bot.serve import run_all

    stop = asyncio.Event()

    async def serving() -> int:
        await stop.wait()
        return 0

    async def cannot_listen() -> int:
        return 1

    assert await asyncio.wait_for(run_all([serving(), cannot_listen()], stop), 2.0) == [0, 1]
    assert stop.is_set()
    stop = asyncio.Event()
    stop.set()  # a shutdown: channels ending then are not failures
    assert await asyncio.wait_for(run_all([serving(), serving()], stop), 2.0) == [0, 0]
