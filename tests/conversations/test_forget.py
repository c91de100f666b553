"""/forget and ``run_bot.py forget --student`` leave nothing behind (issue 13.6): a whole
journey, then every row of every table in the metadata is searched for the chat's ids and
for the text the parent wrote, on SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from bot.bootstrap import App
from run_bot import _forget_student, _ops_say
from storage.tables import Base
from tests.chat import Chat, Postman, demo_app
from tests.fakes.ports import FakeClock, RecordingOtpSender

AN = "HS6A01"
PARENT = "parent-7731"
REASON = "cháu sốt cao 39 độ, đi khám bác sĩ Tâm"


@pytest.fixture
async def app(
    database_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingOtpSender
) -> AsyncIterator[App]:
    async with demo_app(database_url, tmp_path, clock, sms) as built:
        yield built


async def every_row(database_url: str) -> list[tuple[str, str]]:
    """(table, the row as JSON text) for every row of every table we own."""
    engine = create_async_engine(database_url)
    out = []
    try:
        async with engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                for row in (await conn.execute(sa.select(table))).mappings():
                    out.append((table.name, json.dumps(dict(row), default=str, ensure_ascii=False)))
    finally:
        await engine.dispose()
    return out


async def journey(app: App, sms: RecordingOtpSender) -> tuple[Chat, Chat, Postman]:
    parent = Chat(app, user=PARENT)
    await parent.link(AN, sms, phone_label="Mẹ")
    teacher = Chat(app, user="gv-6a")
    await teacher.link("GV001", sms)
    post = Postman(app)
    await parent.say("điểm")
    await parent.say("/caidat")
    await parent.say("/huy")
    await parent.say(f"xin nghỉ cho cháu thứ 4 cả ngày vì {REASON}")
    await parent.press("Gửi đơn")
    await parent.say(f"xin nghỉ cho cháu thứ 5 buổi sáng vì {REASON}")
    await parent.press("Gửi đơn")
    await parent.say(f"nhắn cô chủ nhiệm: {REASON}")  # a private message (issue 17)
    delivered = await post.deliver()
    assert any(REASON in d.text for d in delivered)  # the teacher's cards carry the reason
    await teacher.say("duyet 1")  # the parent's note about it waits in the outbox
    await teacher.say("/traloi 1 Cô đã nhận, chúc cháu mau khỏe")  # so does the answer
    return parent, teacher, post


# The school's own records, mirrored by the local backend (what a QLHS holds: guardians'
# phones, the attendance book with an approved absence and its reason). They are the school's
# to keep or erase in its own system, not the bot's data about a chat (SECURITY.md).
SCHOOL_RECORDS = {
    "school",
    "school_class",
    "student",
    "guardian",
    "student_guardian",
    "teacher",
    "teacher_assignment",
    "subject",
    "score",
    "timetable_slot",
    "fee_item",
    "attendance",
}


def leaks(rows: list[tuple[str, str]], *needles: str) -> list[tuple[str, str]]:
    return [(t, r) for t, r in rows if t not in SCHOOL_RECORDS and any(n in r for n in needles)]


async def test_forget_leaves_no_row_with_the_chat_or_its_words(
    app: App, sms: RecordingOtpSender, database_url: str
) -> None:
    parent, _teacher, post = await journey(app, sms)
    before = await every_row(database_url)
    assert leaks(before, PARENT) and leaks(before, REASON)  # the search can find them

    await parent.say("/xoa")
    await parent.press("Xóa dữ liệu")
    assert "hủy liên kết" in parent.text.lower()

    after = await every_row(database_url)
    assert leaks(after, PARENT, REASON, "0900000001", "mau khỏe") == []
    assert any(t == "audit_event" and "account.forget" in r for t, r in after)
    # The school keeps the absence itself: pupil, dates, status (approved stays approved).
    absences = [r for t, r in after if t == "absence_request"]
    assert len(absences) == 2
    assert '"status": "approved"' in absences[0] + absences[1]
    assert '"status": "cancelled"' in absences[0] + absences[1]  # the pending one withdrawn
    # Nothing more reaches the forgotten chat, and its old requests are out of its hands.
    assert [d for d in await post.deliver() if d.recipient.user_id == PARENT] == []
    await parent.say("huỷ đơn 2")
    assert "Không tìm thấy" in parent.text or "không tìm thấy" in parent.text
    await parent.say("điểm")
    assert "chưa liên kết" in parent.text


async def test_the_school_forgets_a_pupils_family(
    app: App, sms: RecordingOtpSender, database_url: str, tmp_path: Path
) -> None:
    parent, _teacher, _post = await journey(app, sms)
    other = Chat(app, user="parent-other")
    await other.link("HS6A02", sms)

    args = argparse.Namespace(student=AN, school=None)
    assert await _forget_student(args, app.settings, _ops_say("en")) == 0
    after = await every_row(database_url)
    assert leaks(after, PARENT, REASON) == []
    assert leaks(after, "parent-other")  # another family is untouched
    await parent.say("điểm")
    assert "chưa liên kết" in parent.text
