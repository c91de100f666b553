"""Right answers to everyday questions (issue 20): next week's timetable, a message meant for
the teacher, alerts at each new score, "học bạ", and a code from another school's roster."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from bot.backends.demo_data import build_demo_school
from bot.backends.local_seed import seed_school
from bot.bootstrap import App, build_scheduler
from bot.config import SchoolSettings, TelegramSettings, ZaloBotSettings
from storage.engine import session_factory
from storage.migrate import upgrade
from storage.tables import ScoreRow
from tests.chat import Chat, Postman, demo_app
from tests.fakes.ports import FakeClock, RecordingOtpSender

HUY = "HS8A03"  # Phạm Quang Huy (8A), one guardian on file
SCHOOL_PHONE = "024 3825 1234"


def hanoi(day: dt.date, hour: int = 9) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC) - dt.timedelta(hours=7)


# --- 1. next week's timetable --------------------------------------------------------------


async def test_next_week_timetable_shows_next_mondays_date(
    app: App, sms: RecordingOtpSender
) -> None:
    chat = Chat(app)  # Monday 23/11/2026
    await chat.link(HUY, sms)
    for asked in ("tkb tuần sau", "tkb tuan sau", "thời khóa biểu tuần tới", "tuần sau học gì"):
        await chat.say(asked)
        assert "tuần từ 30/11/2026 đến 05/12/2026" in chat.text, (asked, chat.text)
        assert "Thứ Hai 30/11/2026" in chat.text and "23/11/2026" not in chat.text
    await chat.say("timetable next week")
    assert "30/11/2026" in chat.text and "23/11/2026" not in chat.text
    await chat.say("thứ 2 tuần sau")
    assert "📅 Thứ Hai, 30/11/2026" in chat.text
    await chat.say("tkb thứ sáu tuần sau")  # "sáu" is Friday here, "sau" moves the week
    assert "📅 Thứ Sáu, 04/12/2026" in chat.text
    await chat.say("tkb tuần trước")
    assert "tuần từ 16/11/2026 đến 21/11/2026" in chat.text
    await chat.say("last week timetable")
    assert "16/11/2026" in chat.text
    await chat.say("tkb tuần này")  # "tuan" alone is still this week
    assert "tuần từ 23/11/2026" in chat.text
    await chat.say("tkb thứ 2")  # a weekday alone: its next occurrence, today included
    assert "📅 Thứ Hai, 23/11/2026" in chat.text
    await chat.say("tkb")
    await chat.press("Tuần sau")
    assert "tuần từ 30/11/2026" in chat.text


@pytest.mark.parametrize(
    ("today", "week", "holiday"),
    [
        # across a month: Friday 27/11 -> Monday 30/11 to Saturday 5/12
        (dt.date(2026, 11, 27), "tuần từ 30/11/2026 đến 05/12/2026", None),
        # across a year: Wednesday 30/12/2026 -> Monday 4/1/2027
        (dt.date(2026, 12, 30), "tuần từ 04/01/2027 đến 09/01/2027", None),
        # Tết 2027: the week of 8/2 starts with Mùng ba
        (dt.date(2027, 2, 1), "tuần từ 08/02/2027 đến 13/02/2027", "Mùng ba Tết Nguyên Đán"),
    ],
)
async def test_next_week_across_a_month_a_year_and_tet(
    database_url: str,
    tmp_path: Path,
    sms: RecordingOtpSender,
    today: dt.date,
    week: str,
    holiday: str | None,
) -> None:
    clock = FakeClock(hanoi(today))
    async with demo_app(database_url, tmp_path, clock, sms) as app:
        chat = Chat(app)
        await chat.link(HUY, sms)
        await chat.say("tkb tuan sau")
        assert week in chat.text, chat.text
        if holiday is not None:
            assert f"Nghỉ lễ: {holiday}" in chat.text
        if today.year == 2026 and today.month == 12:  # this week holds New Year's Day
            await chat.say("tkb tuần này")
            assert "Thứ Sáu 01/01/2027\n  Nghỉ lễ: Tết Dương lịch" in chat.text


# --- 2. a message meant for the teacher --------------------------------------------------


async def test_a_message_for_the_teacher_is_not_answered_with_the_timetable(
    database_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingOtpSender
) -> None:
    async with demo_app(database_url, tmp_path, clock, sms, school_phone=SCHOOL_PHONE) as app:
        chat = Chat(app)
        await chat.link(HUY, sms)
        postman = Postman(app)
        messages = (
            "nhắn cô giáo chủ nhiệm: cháu hôm nay đau bụng",
            "nhan co giao chu nhiem chau hom nay dau bung",
            "gửi cô: mai cháu mang thiếu sách toán",
            "báo thầy là cháu hôm nay đi muộn",
            "cho mình nhắn cô là học phí nhà em nộp mai nhé",
        )
        for message in messages:  # the homeroom teacher is not on LienLac: said plainly
            await chat.say(message)
            assert "CHƯA được gửi" in chat.text, (message, chat.text)
            assert SCHOOL_PHONE in chat.text and "Trường THCS Nguyễn Du" in chat.text
            assert "📅" not in chat.text and "Tiết" not in chat.text and "💰" not in chat.text
        assert await postman.deliver() == []  # nothing went to anyone

        teacher = Chat(app, user="gv-8a")
        await teacher.link("GV007", sms)
        for message in messages:  # now each one is relayed to her (issue 17)
            await chat.say(message)
            assert "Đã chuyển tin nhắn tới Đỗ Thị Kim Oanh" in chat.text, (message, chat.text)
            assert "📅" not in chat.text and "Tiết" not in chat.text and "💰" not in chat.text
        cards = await postman.deliver()
        assert [c.recipient.user_id for c in cards] == ["gv-8a"] * len(messages)

        await chat.say("báo có điểm toán chưa")  # "có" is no teacher: a question
        assert "Toán" in chat.text and "CHƯA được gửi" not in chat.text

        await chat.say("xin nghỉ cho cháu thứ 4 cả ngày vì ốm")  # leave: as before
        assert "Đơn xin nghỉ học" in chat.text and "Lý do: ốm" in chat.text

        english = Chat(app, user="parent-en", locale="en")
        await english.say("/lang")
        await english.press("English")
        await english.say("please tell the teacher my son is sick")
        assert "has NOT been sent to anyone" in english.text and SCHOOL_PHONE in english.text


# --- 3. an alert at each new score ---------------------------------------------------------


async def set_score(app: App, clock: FakeClock, kind: str, tenths: int) -> None:
    async with app.sessions() as s:
        row = await s.scalar(
            select(ScoreRow).where(
                ScoreRow.school_id == "demo",
                ScoreRow.student_id == "st-8a-03",
                ScoreRow.subject_code == "toan",
                ScoreRow.kind == kind,
            )
        )
        assert row is not None
        row.tenths = tenths
        row.updated_at = clock.now()
        await s.commit()


async def test_new_score_alert_is_opt_in_once_per_score_and_waits_for_quiet_hours_to_end(
    database_url: str, tmp_path: Path, sms: RecordingOtpSender
) -> None:
    clock = FakeClock(hanoi(dt.date(2026, 11, 24)))  # Tuesday 09:00
    async with demo_app(database_url, tmp_path, clock, sms) as app:
        mum = Chat(app, user="mum")
        await mum.link(HUY, sms)
        dad = Chat(app, user="dad")  # the same child, the preference left off
        await dad.link(HUY, sms)
        await mum.say("/caidat")
        assert "Báo ngay khi có điểm mới: tắt" in mum.text  # off by default
        await mum.press("Báo ngay khi có điểm mới")
        assert "Đã lưu: báo ngay khi có điểm mới bật" in mum.text
        assert "Báo ngay khi có điểm mới: bật" in mum.text
        await mum.press("Xong")

        postman = Postman(app)
        scheduler = build_scheduler(app)
        await scheduler.run_once()  # the first tick notes where change detection starts

        clock.advance(hours=3)  # 12:00: a new Toán mid-term mark
        await set_score(app, clock, "gk", 95)
        await scheduler.run_once()
        got = await postman.deliver()
        assert [(d.recipient.user_id, d.text) for d in got] == [
            ("mum", "🔔 Phạm Quang Huy: Điểm mới: Toán giữa kỳ: 9,5")
        ]
        # re-detection (the overlap window) and a restart: no second alert
        await scheduler.run_once()
        await build_scheduler(app).run_once()
        assert await postman.deliver() == []

        clock.advance(hours=10)  # 22:00, quiet hours: a new final mark waits for the morning
        await set_score(app, clock, "ck", 80)
        await scheduler.run_once()
        assert await postman.deliver() == []
        clock.advance(hours=8, minutes=31)  # 06:31
        got = await postman.deliver()
        assert [(d.recipient.user_id, d.text) for d in got] == [
            ("mum", "🔔 Phạm Quang Huy: Điểm mới: Toán cuối kỳ: 8")
        ]
        assert postman.to("dad") == []  # dad reads new scores in his digest, as before


# --- 4. học bạ ------------------------------------------------------------------------------


async def test_hoc_ba_answers_the_year_summary_and_says_what_a_full_one_adds(
    app: App, sms: RecordingOtpSender
) -> None:
    chat = Chat(app)
    await chat.link(HUY, sms)
    for asked in ("học bạ", "hoc ba cua chau", "xem học bạ"):
        await chat.say(asked)
        assert "📘 Điểm trung bình học kỳ I — Phạm Quang Huy (8A)" in chat.text, chat.text
        assert "• Toán: 6,4" in chat.text and "Kết quả học tập học kỳ I: Đạt" in chat.text
        assert "Điểm cả năm = (HK I + 2 × HK II) / 3" in chat.text  # November: no HK II yet
        assert "Học bạ đầy đủ còn có nhận xét" in chat.text
    await chat.say("điểm cả năm")  # the year summary itself is unchanged
    assert "📘 Điểm trung bình cả năm" in chat.text and "Học bạ" not in chat.text
    await chat.say("/lang")
    await chat.press("English")
    await chat.say("transcript")
    assert "A full học bạ (transcript) would also hold" in chat.text


# --- 5. a code from another school's roster ----------------------------------------------


async def seed_other_schools(database_url: str) -> None:
    """Two more schools in the same database: their pupils' codes start with B or C."""
    demo = build_demo_school()
    engine = create_async_engine(database_url)
    try:
        await upgrade(engine)
        for school_id, name, prefix in (
            ("truong-b", "Trường THCS B", "B"),
            ("truong-c", "Trường THCS C", "C"),
        ):
            other = dataclasses.replace(
                demo,
                info=dataclasses.replace(demo.info, id=school_id, name=name),
                students=tuple(
                    dataclasses.replace(s, school_id=school_id, code=prefix + s.code)
                    for s in demo.students
                ),
            )
            await seed_school(session_factory(engine), other, now=hanoi(dt.date(2026, 11, 1)))
    finally:
        await engine.dispose()


async def test_a_code_of_another_school_names_that_school_and_its_bot_never_the_pupil(
    database_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingOtpSender
) -> None:
    await seed_other_schools(database_url)
    schools = [
        SchoolSettings(id="demo"),
        SchoolSettings(
            id="truong-b",
            telegram=TelegramSettings(username="TruongB_LienLacBot"),
            zalo_bot=ZaloBotSettings(link="https://zalo.me/truongb"),
        ),
        SchoolSettings(id="truong-c", phone="0236 123 456"),
    ]
    async with demo_app(database_url, tmp_path, clock, sms, schools=schools) as app:
        chat = Chat(app, channel="telegram")
        await chat.say("/help")
        assert "Mỗi trường có bot LienLac riêng" in chat.text

        await chat.say("B" + HUY)
        assert "Mã này là mã học sinh của Trường THCS B" in chat.text, chat.text
        assert "https://t.me/TruongB_LienLacBot" in chat.text
        assert "Phạm Quang Huy" not in chat.text and "8A" not in chat.text
        assert "Mình không tìm thấy mã này" not in chat.text

        zalo = Chat(app, user="zalo-parent", channel="zalo_bot")
        await zalo.say("B" + HUY)
        assert "https://zalo.me/truongb" in zalo.text and "t.me" not in zalo.text

        # a parent already linked here adds a child of school C (no bot known: its phone)
        await chat.link(HUY, sms)
        await chat.say("thêm con")
        await chat.say("C" + HUY)
        assert "Trường THCS C" in chat.text and "0236 123 456" in chat.text
        assert "Phạm Quang Huy" not in chat.text
        await chat.say("ZZ999999")  # in no school: as before
        assert "Mình không tìm thấy mã này" in chat.text
