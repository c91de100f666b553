"""Who may see and do what (issue 13, "the proof"): every query and every action, typed and
pressed, through the real router, for each kind of outsider:

- the parent of another child in the same class,
- the homeroom teacher of another class,
- a chat that never linked,
- a chat whose link the school revoked,
- a linked parent talking to another school's bot,
- a linked parent and a teacher writing in a group chat.

A press is attacked with a token issued to the attacker's own key for an action that names
the victim (the router re-checks the action, not only who holds the token), since a stale or
forged button is exactly that. Each case first shows the rightful owner gets the data, so the
"not shown" assertions mean something.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from bot.bootstrap import App
from bot.config import SchoolSettings
from tests.chat import Chat, Postman, add_empty_school, demo_app
from tests.fakes.ports import FakeClock, RecordingOtpSender

AN, AN_ID, AN_NAME = "HS6A01", "st-6a-01", "Nguyễn Minh An"  # 6A
NGOC, NGOC_ID, NGOC_NAME = "HS6A02", "st-6a-02", "Trần Bảo Ngọc"  # 6A, another family
HUY, HUY_ID, HUY_NAME = "HS8A03", "st-8a-03", "Phạm Quang Huy"  # 8A
GVCN_6A, GVCN_8A = "GV001", "GV007"

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
QUERIES = ["điểm", "diem toan", "tkb", "thời khóa biểu thứ 3", "học phí", "chuyên cần"]
TEACHER_QUERIES = ["đơn đã gửi", "đơn chờ duyệt", "ai nghỉ hôm nay", "ai nghỉ 25/11"]


def query_actions(student_id: str) -> list[str]:
    return [
        f"scores:{student_id}:",
        f"scores:{student_id}:toan",
        f"timetable:{student_id}:",
        f"fees:{student_id}:",
        f"attendance:{student_id}:",
    ]


def decision_actions(request_id: int) -> list[str]:
    return [f"ab:{verb}:{request_id}" for verb in ("ok", "no", "nr", "cancel")]


def typed_decisions(request_id: int) -> list[str]:
    return [
        f"duyet {request_id}",
        f"duyệt {request_id}",
        f"tu choi {request_id} không hợp lệ",
        f"huỷ đơn {request_id}",
    ]


@pytest.fixture
async def app(
    database_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingOtpSender
) -> AsyncIterator[App]:
    await add_empty_school(database_url, "other")
    schools = [SchoolSettings(id="demo"), SchoolSettings(id="other")]
    async with demo_app(database_url, tmp_path, clock, sms, schools=schools) as built:
        yield built


async def forge(app: App, chat: Chat, action: str, clock: FakeClock) -> str:
    """A token for ``action``, issued to the attacker's own conversation key."""
    async with app.uow_factory() as uow:
        [token] = await uow.buttons.issue(chat.key, [action], now=clock.now())
        await uow.commit()
    return token


async def status_of(app: App, request_id: int, school_id: str = "demo") -> tuple[str, int]:
    async with app.uow_factory() as uow:
        request = await uow.absences.get(school_id, request_id)
    assert request is not None
    return request.status, request.version


async def file_request(chat: Chat) -> int:
    await chat.say("xin nghỉ cho cháu thứ 4 cả ngày vì ốm")
    await chat.press("Gửi đơn")
    assert "đơn #" in chat.text, chat.text
    return int(chat.text.split("#", 1)[1].split()[0])


class World:
    """Two families in 6A, one in 8A, both homeroom teachers, two pending requests."""

    def __init__(self, app: App, sms: RecordingOtpSender, clock: FakeClock) -> None:
        self.app, self.sms, self.clock = app, sms, clock

    async def build(self) -> World:
        self.an = Chat(self.app, user="parent-an")
        await self.an.link(AN, self.sms, phone_label="Mẹ")
        self.ngoc = Chat(self.app, user="parent-ngoc")
        await self.ngoc.link(NGOC, self.sms)
        self.huy = Chat(self.app, user="parent-huy")
        await self.huy.link(HUY, self.sms)
        self.gv_6a = Chat(self.app, user="gv-6a")
        await self.gv_6a.link(GVCN_6A, self.sms)
        self.gv_8a = Chat(self.app, user="gv-8a")
        await self.gv_8a.link(GVCN_8A, self.sms)
        self.ngoc_request = await file_request(self.ngoc)
        self.huy_request = await file_request(self.huy)
        await Postman(self.app).deliver()  # the cards reach the teachers
        return self

    async def attack(
        self,
        attacker: Chat,
        *,
        student_id: str,
        secret: str,
        request_id: int,
        school_id: str = "demo",
    ) -> list[str]:
        """Every typed query and forged press against one victim; returns what the attacker
        read. The victim's request must be untouched afterwards."""
        before = await status_of(self.app, request_id, school_id="demo")
        seen: list[str] = []
        texts = [
            *QUERIES,
            *TEACHER_QUERIES,
            *typed_decisions(request_id),
            f"số buổi nghỉ của {secret}",
            f"điểm của {secret}",
        ]
        for text in texts:
            await attacker.say(text)
            seen.append(attacker.text)
        for action in [*query_actions(student_id), *decision_actions(request_id)]:
            await attacker.press_token(await forge(self.app, attacker, action, self.clock))
            seen.append(attacker.text)
        assert await status_of(self.app, request_id) == before, "the request was changed"
        leaked = [text for text in seen if secret in text]
        assert not leaked, f"{secret} shown to {attacker.key}: {leaked[0]!r}"
        return seen


@pytest.fixture
async def world(app: App, sms: RecordingOtpSender, clock: FakeClock) -> World:
    return await World(app, sms, clock).build()


async def test_the_rightful_owners_do_see_the_data(world: World) -> None:
    await world.ngoc.say("điểm")
    assert NGOC_NAME in world.ngoc.text
    await world.gv_6a.say("đơn chờ duyệt")
    assert NGOC_NAME in world.gv_6a.text and f"#{world.ngoc_request}" in world.gv_6a.text
    await world.gv_8a.say("đơn chờ duyệt")
    assert HUY_NAME in world.gv_8a.text


async def test_parent_of_a_cannot_read_or_touch_child_b(world: World) -> None:
    await world.attack(
        world.an, student_id=NGOC_ID, secret=NGOC_NAME, request_id=world.ngoc_request
    )
    await world.an.say("điểm")  # and still sees their own child
    assert AN_NAME in world.an.text


async def test_teacher_of_6a_cannot_read_or_decide_for_8a(world: World) -> None:
    await world.attack(
        world.gv_6a, student_id=HUY_ID, secret=HUY_NAME, request_id=world.huy_request
    )


async def test_teacher_of_8a_cannot_read_or_decide_for_6a(world: World) -> None:
    await world.attack(
        world.gv_8a, student_id=NGOC_ID, secret=NGOC_NAME, request_id=world.ngoc_request
    )


async def test_unlinked_chat_sees_nothing(world: World) -> None:
    stranger = Chat(world.app, user="stranger")
    for student_id, secret, request_id in (
        (NGOC_ID, NGOC_NAME, world.ngoc_request),
        (HUY_ID, HUY_NAME, world.huy_request),
    ):
        await world.attack(stranger, student_id=student_id, secret=secret, request_id=request_id)


async def test_revoked_link_sees_nothing_of_the_former_child(
    world: World, database_url: str
) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text("UPDATE chat_link SET active = :off WHERE user_id = :user"),
                {"off": False, "user": "parent-ngoc"},
            )
    finally:
        await engine.dispose()
    await world.attack(
        world.ngoc, student_id=NGOC_ID, secret=NGOC_NAME, request_id=world.ngoc_request
    )


async def test_another_schools_bot_knows_nothing_of_this_school(world: World) -> None:
    # The same Telegram user, writing to school "other"'s bot: not linked there.
    elsewhere = Chat(world.app, user="parent-an", school_id="other")
    await world.attack(elsewhere, student_id=AN_ID, secret=AN_NAME, request_id=world.ngoc_request)
    teacher_elsewhere = Chat(world.app, user="gv-6a", school_id="other")
    await world.attack(
        teacher_elsewhere, student_id=NGOC_ID, secret=NGOC_NAME, request_id=world.ngoc_request
    )
    # A button this school's bot gave is refused on the other bot.
    await world.an.say("điểm")
    token = await forge(world.app, world.an, f"scores:{AN_ID}:", world.clock)
    await elsewhere.press_token(token)
    assert AN_NAME not in elsewhere.text


async def test_group_chat_gets_no_personal_data_and_takes_no_decision(world: World) -> None:
    in_group = Chat(world.app, user="parent-an", chat_id="-100777", is_group=True)
    await world.attack(in_group, student_id=AN_ID, secret=AN_NAME, request_id=world.ngoc_request)
    teacher_in_group = Chat(world.app, user="gv-6a", chat_id="-100777", is_group=True)
    await world.attack(
        teacher_in_group, student_id=NGOC_ID, secret=NGOC_NAME, request_id=world.ngoc_request
    )
    # The same people, in private, still can.
    await world.gv_6a.say(f"duyet {world.ngoc_request}")
    assert "Đã duyệt" in world.gv_6a.text
