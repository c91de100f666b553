"""The real router, handlers and dialogs on an in-memory unit of work and the demo school in
memory (tests/fakes/uow.py): no database, a few milliseconds a test (issue 14)."""

from __future__ import annotations

import datetime as dt

from bot.bootstrap import CAPABILITIES
from bot.domain.otp import OtpPolicy
from bot.i18n import Catalog
from bot.messages import Button, ConversationKey, Incoming
from bot.router import Router
from bot.turn import CoreServices
from tests.fakes.ports import FakeClock, RecordingOtpSender
from tests.fakes.uow import DemoBackend, FakeUnitOfWorkFactory, guardian_link

NOW = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC)
KEY = ConversationKey(school_id="demo", channel="memory", chat_id="m1", user_id="m1")


class _Registry:
    def __init__(self, backend: DemoBackend) -> None:
        self._backend = backend

    def for_school(self, school_id: str) -> DemoBackend:
        if school_id != "demo":
            raise KeyError(school_id)
        return self._backend


async def _world() -> tuple[Router, FakeUnitOfWorkFactory, DemoBackend]:
    backend = DemoBackend()
    uow = FakeUnitOfWorkFactory()
    services = CoreServices(
        clock=FakeClock(NOW),
        catalog=Catalog.load(),
        backends=_Registry(backend),  # type: ignore[arg-type]
        otp_sender=RecordingOtpSender(),
        otp_policy=OtpPolicy(),
        secret=b"s" * 32,
        capabilities=CAPABILITIES,
    )
    router = Router(services=services, uow_factory=uow, capabilities=CAPABILITIES)
    student = await backend.find_student("HS8A03")
    assert student is not None
    [guardian, *_] = await backend.guardians(student.id)
    async with uow() as u:
        await u.links.add(
            **{
                k: v
                for k, v in vars_of(guardian_link(KEY, student, guardian, NOW)).items()
                if k != "id"
            }
        )
        await u.commit()
    return router, uow, backend


def vars_of(link: object) -> dict[str, object]:
    return {name: getattr(link, name) for name in link.__dataclass_fields__}  # type: ignore[attr-defined]


async def test_a_linked_parent_asks_for_scores_without_a_database() -> None:
    router, uow, _ = await _world()
    [reply] = await router.handle(Incoming(key=KEY, text="điểm công nghệ"))
    assert "Công nghệ" in reply.text and "6,6" in reply.text  # the TT22 rounding trap
    assert [e["action"] for e in uow.committed.audit] == ["query.scores"]  # audited
    assert uow.committed.states == {}  # a question saves no conversation state


async def test_buttons_are_stored_and_a_stranger_cannot_press_them() -> None:
    router, uow, _ = await _world()
    [reply] = await router.handle(Incoming(key=KEY, text="tkb"))
    button: Button = reply.buttons[0][0]
    assert button.token in uow.committed.buttons
    stranger = ConversationKey(school_id="demo", channel="memory", chat_id="x", user_id="x")
    [refused] = await router.handle(Incoming(key=stranger, button_token=button.token))
    assert "không dành cho anh/chị" in refused.text
    assert any(e["action"] == "button.forged" for e in uow.committed.audit)


async def test_an_unlinked_chat_is_greeted_and_sees_nothing() -> None:
    router, _, _ = await _world()
    stranger = ConversationKey(school_id="demo", channel="memory", chat_id="y", user_id="y")
    [reply] = await router.handle(Incoming(key=stranger, text="điểm"))
    assert "Phạm Quang Huy" not in reply.text
