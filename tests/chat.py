"""A scripted chat against the real app (router, dialogs, storage) through the in-memory
channel: ``await chat.say("HS6A01")``, ``await chat.press("Đồng ý")``, ``chat.text``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from bot.bootstrap import App, build_app
from bot.config import DatabaseSettings, Settings, ThrottleSettings
from bot.messages import Button, ConversationKey, Incoming, Reply
from storage.migrate import upgrade
from storage.tables import School
from tests.fakes.outbound import Delivered
from tests.fakes.ports import FakeClock, RecordingOtpSender


async def add_empty_school(database_url: str, school_id: str, *, name: str = "Trường khác") -> None:
    """A second school served by the same process, with no pupils of its own."""
    import datetime as dt

    engine = create_async_engine(database_url)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.execute(
                sa.insert(School).values(
                    id=school_id, name=name, created_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
                )
            )
    finally:
        await engine.dispose()


@asynccontextmanager
async def demo_app(
    database_url: str,
    tmp_path: Path,
    clock: FakeClock,
    sms: RecordingOtpSender,
    **overrides: Any,
) -> AsyncIterator[App]:
    wrapper = overrides.pop("backend_wrapper", None)
    # Scripted chats type faster than any person: no flood control unless a test asks for it
    # (tests/e2e/test_flood_e2e.py attacks it through the real process).
    overrides.setdefault("throttle", ThrottleSettings(burst=0))
    settings = Settings(database=DatabaseSettings(url=database_url), data_dir=tmp_path, **overrides)
    app = await build_app(settings, clock=clock, otp_sender=sms, backend_wrapper=wrapper)
    try:
        yield app
    finally:
        await app.aclose()


class Chat:
    def __init__(
        self,
        app: App,
        *,
        user: str = "parent-1",
        chat_id: str | None = None,
        channel: str = "memory",
        locale: str = "vi",
        is_group: bool = False,
        school_id: str = "demo",
    ) -> None:
        self.app = app
        self.key = ConversationKey(
            school_id=school_id, channel=channel, chat_id=chat_id or user, user_id=user
        )
        self.locale = locale
        self.is_group = is_group
        self.last: list[Reply] = []

    @property
    def text(self) -> str:
        return "\n".join(r.text for r in self.last)

    async def say(self, text: str) -> list[Reply]:
        self.last = await self.app.router.handle(
            Incoming(key=self.key, text=text, locale_hint=self.locale, is_group=self.is_group)
        )
        return self.last

    async def press_token(self, token: str) -> list[Reply]:
        self.last = await self.app.router.handle(
            Incoming(
                key=self.key, button_token=token, locale_hint=self.locale, is_group=self.is_group
            )
        )
        return self.last

    def button(self, label: str) -> Button:
        for reply in reversed(self.last):
            for row in reply.buttons:
                for b in row:
                    if label.lower() in b.label.lower():
                        return b
        raise AssertionError(f"no button {label!r} in {self.last!r}")

    def buttons(self) -> list[str]:
        return [b.label for r in self.last for row in r.buttons for b in row]

    async def press(self, label: str) -> list[Reply]:
        if not self.app.services.can_show_buttons(self.key.channel):  # numbered: type it
            for line in self.text.splitlines():
                m = re.match(r"^(\d+)\. (.*)$", line.strip())
                if m and label.lower() in m.group(2).lower():
                    return await self.say(m.group(1))
            raise AssertionError(f"no numbered choice {label!r} in {self.text!r}")
        return await self.press_token(self.button(label).token)

    async def link(
        self, code: str, sms: RecordingOtpSender, phone_label: str | None = None
    ) -> None:
        """The whole happy path: code, (phone), consent, OTP."""
        await self.say(code)
        if phone_label is not None:
            await self.press(phone_label)
        await self.press("Đồng ý" if self.locale == "vi" else "agree")
        await self.say(sms.last_code())
        assert "thành công" in self.text or "Linked" in self.text, self.text


class Postman:
    """Runs the app's real outbox relay (and the leave-request jobs) once, delivering to a
    recording sender: what the teacher and the parent would receive on their phones."""

    def __init__(self, app: App) -> None:
        from bot.absence_jobs import AbsenceJobs
        from bot.polls import PollJobs
        from tests.fakes.outbound import RecordingSender

        self.sender = RecordingSender()
        self.relay = app.build_relay(
            {"memory": self.sender, "memory_text": self.sender}, worker_id="test"
        )
        self.jobs = AbsenceJobs(app.uow_factory, app.services)
        self.poll_jobs = PollJobs(app.uow_factory, app.services)

    async def deliver(self) -> list[Delivered]:
        before = len(self.sender.delivered)
        while await self.relay.run_once():
            pass
        return self.sender.delivered[before:]

    async def tick(self) -> list[Delivered]:
        """The background jobs' pass, then delivery."""
        await self.jobs.run_once()
        await self.poll_jobs.run_once()
        return await self.deliver()

    def to(self, user: str) -> list[Delivered]:
        return self.sender.to(user)
