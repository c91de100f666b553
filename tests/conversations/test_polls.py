"""Class polls (issue 17): a teacher asks the parents of a class, each guardian answers per
child (buttons, or typed where there are none), changes until the deadline, one reminder
before it, and the teacher reads the results; teachers see only their own classes."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

from sqlalchemy import select

from bot.bootstrap import App
from bot.config import DigestSettings
from storage.tables import OutboxMessage, PollBallot
from tests.chat import Chat, Postman, demo_app
from tests.fakes.ports import FakeClock, RecordingOtpSender

AN = "HS6A01"  # Nguyễn Minh An, 6A; guardians Mẹ 0900000001 and Bố 0900000002
NGOC = "HS6A02"  # Trần Bảo Ngọc, 6A; one guardian
HA = "HS8A02"  # Nguyễn Thu Hà, 8A; also Mẹ's child
GV_6A = "GV001"  # homeroom 6A, also teaches 7A
GV_8A = "GV007"  # homeroom 8A, teaches 8A and 9A


def typed_id(text: str) -> int:
    m = re.search(r"ks (\d+)", text)
    assert m, text
    return int(m.group(1))


async def create_poll(
    teacher: Chat,
    *,
    target: str = "6A",
    deadline: str = "27/11 17h",
    multiple: bool = False,
    anonymous: bool = False,
) -> None:
    await teacher.say("tạo khảo sát")
    await teacher.press(target)
    assert "câu hỏi" in teacher.text
    await teacher.say("Họp phụ huynh vào buổi nào?")
    await teacher.say("Sáng thứ Bảy\nTối thứ Sáu")
    await teacher.press("Nhiều lựa chọn" if multiple else "Một lựa chọn")
    await teacher.say(deadline)
    await teacher.press("Ẩn danh" if anonymous else "Ghi tên")
    assert "Xem trước khảo sát" in teacher.text
    await teacher.press("Gửi khảo sát")
    assert "Đã gửi khảo sát #" in teacher.text, teacher.text


async def test_poll_from_creation_through_reminder_change_deadline_and_results(
    app: App, sms: RecordingOtpSender, clock: FakeClock
) -> None:
    mum = Chat(app, user="mum-an")
    await mum.link(AN, sms, phone_label="Mẹ")
    ngoc = Chat(app, user="mum-ngoc", channel="memory_text")  # no buttons: typed answers
    await ngoc.link(NGOC, sms)
    teacher = Chat(app, user="gv-6a")
    await teacher.link(GV_6A, sms)
    post = Postman(app)

    await teacher.say("/khaosat")
    assert teacher.buttons()[:2] == ["6A", "7A"]  # only their own classes
    await teacher.press("6A")
    await teacher.say("Họp phụ huynh vào buổi nào?")
    await teacher.say("Sáng thứ Bảy")  # one option is not a poll
    assert "Cần từ 2 đến 6 lựa chọn" in teacher.text
    await teacher.say("Sáng thứ Bảy; Tối thứ Sáu")
    await teacher.press("Một lựa chọn")
    await teacher.say("hôm qua")
    assert "chưa hiểu hạn" in teacher.text or "phải sau" in teacher.text
    await teacher.say("27/11 17h")
    await teacher.press("Ghi tên")
    assert "Hạn trả lời: 17:00 Thứ Sáu 27/11/2026" in teacher.text
    await teacher.press("Gửi khảo sát")
    assert "Đã gửi khảo sát #1 cho phụ huynh 6A: 2 tin nhắn" in teacher.text

    delivered = await post.deliver()
    [to_mum] = [d for d in delivered if d.recipient.user_id == "mum-an"]
    [to_ngoc] = [d for d in delivered if d.recipient.user_id == "mum-ngoc"]
    assert "cho cháu Nguyễn Minh An" in to_mum.text and "Họp phụ huynh" in to_mum.text
    assert to_ngoc.buttons == () and "1. Sáng thứ Bảy" in to_ngoc.text
    ngoc_ballot = typed_id(to_ngoc.text)

    # Mum answers with a button, then changes her mind
    await mum.press_token(to_mum.token("Sáng thứ Bảy"))
    assert "Đã ghi câu trả lời cho cháu Nguyễn Minh An: Sáng thứ Bảy" in mum.text
    await mum.press("Tối thứ Sáu")
    assert "Nguyễn Minh An: Tối thứ Sáu" in mum.text
    assert "✓ Tối thứ Sáu" in mum.buttons()

    await teacher.say("kết quả khảo sát")
    assert "2. Tối thứ Sáu: 1 (100%) — Nguyễn Minh An" in teacher.text
    # every pupil of 6A has a ballot: the 8 with no linked parent are marked
    assert "Đã trả lời: 1/10" in teacher.text
    assert "Chưa trả lời (9): Bùi Phương Thảo (6A)*, " in teacher.text
    assert "Trần Bảo Ngọc (6A), " in teacher.text  # linked: no mark
    assert "* 8 em chưa có phụ huynh liên kết LienLac" in teacher.text

    # The reminder: Thursday 17:00 (24 h before), only to who has not answered, only once
    assert await post.tick() == []
    clock.advance(days=3, hours=8, minutes=5)  # Thứ Năm 26/11 17:05
    reminders = await post.tick()
    assert [d.recipient.user_id for d in reminders] == ["mum-ngoc"]
    assert "Nhắc" in reminders[0].text and f"ks {ngoc_ballot}" in reminders[0].text
    assert await post.tick() == []  # never twice

    # Typed answers on a channel without buttons
    await ngoc.say(f"ks {ngoc_ballot}")  # the question again, numbered
    assert "Họp phụ huynh vào buổi nào?" in ngoc.text and "2. Tối thứ Sáu" in ngoc.text
    await ngoc.say(f"ks {ngoc_ballot} 7")
    assert "từ 1 đến 2" in ngoc.text
    await ngoc.say(f"KS {ngoc_ballot} 2")
    assert "Đã ghi câu trả lời cho cháu Trần Bảo Ngọc: Tối thứ Sáu" in ngoc.text
    await ngoc.say("1")  # the numbered choices under the answer change it
    assert "Trần Bảo Ngọc: Sáng thứ Bảy" in ngoc.text

    await teacher.press("Cập nhật")
    assert "Đã trả lời: 2/10" in teacher.text and "Trần Bảo Ngọc (6A)" not in teacher.text
    await teacher.press("Tải CSV")
    [document] = [r.document for r in teacher.last if r.document]
    assert document is not None
    rows = list(csv.reader(io.StringIO(document[1].decode("utf-8-sig"))))
    assert rows[0] == ["poll", "question", "class", "pupil", "answer", "answered_at"]
    assert len(rows) == 11 and {(r[3], r[4]) for r in rows[1:] if r[4]} == {
        ("Nguyễn Minh An", "Tối thứ Sáu"),
        ("Trần Bảo Ngọc", "Sáng thứ Bảy"),
    }

    # After the deadline: a polite "closed", the answer unchanged
    clock.advance(days=1)
    await mum.press("Sáng thứ Bảy")
    assert "đã đóng lúc 17:00 Thứ Sáu 27/11/2026" in mum.text
    await teacher.say("ket qua khao sat")
    assert "Đã đóng" in teacher.text and "2. Tối thứ Sáu: 1 (50%)" in teacher.text
    # ... and the teacher is sent the final results once
    [closing] = await post.tick()
    assert closing.recipient.user_id == "gv-6a" and "hết hạn trả lời" in closing.text
    assert "Đã trả lời: 2/10" in closing.text
    assert await post.tick() == []


async def test_a_parent_of_two_answers_once_per_child_anonymous_counts_only(
    sqlite_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingOtpSender
) -> None:
    async with demo_app(
        sqlite_url, tmp_path, clock, sms, digest=DigestSettings(school_staff=["GV005"])
    ) as app:
        mum = Chat(app, user="mum")
        await mum.link(AN, sms, phone_label="Mẹ")
        await mum.say("thêm con")
        await mum.link(HA, sms, phone_label="Mẹ")
        staff = Chat(app, user="staff")
        await staff.link("GV005", sms)
        post = Postman(app)

        await create_poll(staff, target="Toàn trường", multiple=True, anonymous=True)
        assert "toàn trường: 2 tin nhắn" in staff.text
        delivered = await post.deliver()
        assert len(delivered) == 2
        [for_an] = [d for d in delivered if "Nguyễn Minh An" in d.text]
        [for_ha] = [d for d in delivered if "Nguyễn Thu Hà" in d.text]

        await mum.press_token(for_an.token("Sáng thứ Bảy"))
        await mum.press("Tối thứ Sáu")  # multiple choice: both for An
        assert "Nguyễn Minh An: Sáng thứ Bảy; Tối thứ Sáu" in mum.text
        async with app.sessions() as s:
            ballots = {b.student_name: b.choices for b in await s.scalars(select(PollBallot))}
        assert len(ballots) == 38  # the whole school's class lists
        assert [name for name, choices in ballots.items() if choices] == ["Nguyễn Minh An"]
        assert ballots["Nguyễn Minh An"] == [0, 1]

        await staff.say("kết quả khảo sát")
        assert "Đã trả lời: 1/38" in staff.text and "Chưa trả lời: 37 học sinh" in staff.text
        assert "36 em chưa có phụ huynh liên kết" in staff.text
        assert "Nguyễn" not in staff.text  # anonymous: no names, ever

        await mum.press_token(for_ha.token("Tối thứ Sáu"))
        assert "Nguyễn Thu Hà: Tối thứ Sáu" in mum.text
        await staff.press("Cập nhật")
        assert "1. Sáng thứ Bảy: 1" in staff.text and "2. Tối thứ Sáu: 2" in staff.text
        assert "Đã trả lời: 2/38" in staff.text

        # "khảo sát" from the parent: both open polls, one per child, with fresh buttons
        await mum.say("khảo sát")
        assert len(mum.last) == 2 and "Đã chọn: Tối thứ Sáu" in mum.last[1].text


async def test_teachers_only_ask_and_read_their_own_classes_forged_ids_refused(
    app: App, sms: RecordingOtpSender
) -> None:
    mum = Chat(app, user="mum-an")
    await mum.link(AN, sms, phone_label="Mẹ")
    stranger = Chat(app, user="mum-huy", channel="memory_text")
    await stranger.link("HS8A03", sms)
    gv6 = Chat(app, user="gv-6a", channel="memory_text")
    await gv6.link(GV_6A, sms)
    gv8 = Chat(app, user="gv-8a")
    await gv8.link(GV_8A, sms)
    post = Postman(app)

    await gv6.say("/poll")
    await gv6.say("8A")
    assert "không dạy lớp 8A" in gv6.text
    await gv6.say("toàn trường")  # not school staff
    assert "Chỉ cán bộ nhà trường" in gv6.text
    await gv6.say("6a")
    await gv6.say("Đăng ký bán trú tháng 12?")
    await gv6.say("Có\nKhông")
    await gv6.say("1")  # one option
    await gv6.say("mai 8h")
    await gv6.say("2")  # anonymous
    await gv6.say("gửi")
    assert "Đã gửi khảo sát #1" in gv6.text
    [_to_mum] = await post.deliver()
    async with app.sessions() as s:
        [ballot] = [b.id for b in await s.scalars(select(PollBallot)) if b.student_id == "st-6a-01"]

    # Another class's teacher sees nothing of it
    await gv8.say("kết quả khảo sát")
    assert "chưa có khảo sát nào" in gv8.text
    # A parent of another class, guessing ballot numbers: refused, nothing stored
    for guess in (ballot, ballot + 1, 999):
        await stranger.say(f"ks {guess} 1")
        assert "không trả lời được khảo sát này" in stranger.text
    async with app.sessions() as s:
        assert all(b.choices == [] for b in await s.scalars(select(PollBallot)))
    await gv6.say("khảo sát 6A")  # no answer number: not taken for one
    assert "không trả lời được" not in gv6.text
    await gv6.say("/huy")
    # A parent with no open poll
    await stranger.say("khảo sát")
    assert "không có khảo sát nào" in stranger.text
    # Parents cannot create polls
    await mum.say("/khaosat")
    assert "không có khảo sát nào" not in mum.text and "Khảo sát gửi phụ huynh 6A" in mum.text


async def test_poll_messages_wait_for_the_end_of_quiet_hours(
    app: App, sms: RecordingOtpSender, clock: FakeClock
) -> None:
    mum = Chat(app, user="mum-an")
    await mum.link(AN, sms, phone_label="Mẹ")
    teacher = Chat(app, user="gv-6a")
    await teacher.link(GV_6A, sms)
    post = Postman(app)
    clock.advance(hours=13, minutes=30)  # 22:30 in Hà Nội: quiet hours
    await create_poll(teacher, deadline="27/11")
    assert await post.deliver() == []
    async with app.sessions() as s:
        [row] = list(await s.scalars(select(OutboxMessage)))
    assert not row.urgent and row.kind == "poll"
    clock.advance(hours=8, minutes=30)  # 07:00 the next morning
    assert [d.recipient.user_id for d in await post.deliver()] == ["mum-an"]
    assert clock.now() < dt.datetime(2026, 11, 27, 13, 0, tzinfo=dt.UTC)


async def test_a_parent_who_links_after_the_poll_still_answers(
    app: App, sms: RecordingOtpSender
) -> None:
    teacher = Chat(app, user="gv-6a")
    await teacher.link(GV_6A, sms)
    await create_poll(teacher)
    assert "0 tin nhắn" in teacher.text  # nobody linked yet
    mum = Chat(app, user="mum-an", channel="memory_text")
    await mum.link(AN, sms, phone_label="Mẹ")
    await mum.say("khảo sát")
    assert "Họp phụ huynh vào buổi nào?" in mum.text
    await mum.press("Tối thứ Sáu")
    assert "Nguyễn Minh An: Tối thứ Sáu" in mum.text


async def test_a_teacher_who_is_also_a_parent_is_addressed_as_the_teacher(
    app: App, sms: RecordingOtpSender
) -> None:
    both = Chat(app, user="co-hoa")
    await both.link(GV_6A, sms)
    await both.say("thêm con")
    await both.link(AN, sms, phone_label="Mẹ")
    await both.say("/khaosat")  # the teacher's dialog, not the parent's list
    assert both.buttons()[:2] == ["6A", "7A"]
    await both.say("/huy")
    assert "Thầy/cô cần gì" in both.text or "Thầy cô cần gì" in both.text, both.text
