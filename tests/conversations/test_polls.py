"""Class polls (issue 17): a teacher asks the parents of a class, each guardian answers per
child (buttons, or typed where there are none), changes until the deadline, one reminder
before it, and the teacher reads the results; teachers see only their own classes."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

from sqlalchemy import delete, select

from bot.bootstrap import App
from bot.config import DigestSettings
from storage.tables import AuditEvent, OutboxMessage, PollBallot, PollRow, TeacherAssignmentRow
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


# --- managing a sent poll: close early, extend, cancel, fix a typo ----------------------------


async def test_the_author_closes_a_poll_early_parents_see_it_closed_results_sent_once(
    app: App, sms: RecordingOtpSender, clock: FakeClock
) -> None:
    mum = Chat(app, user="mum-an")
    await mum.link(AN, sms, phone_label="Mẹ")
    teacher = Chat(app, user="gv-6a")
    await teacher.link(GV_6A, sms)
    post = Postman(app)
    await create_poll(teacher)
    [to_mum] = await post.deliver()
    await mum.press_token(to_mum.token("Sáng thứ Bảy"))

    await teacher.say("kết quả khảo sát")
    assert {"🔒 Đóng ngay", "⏩ Gia hạn +1 ngày", "❌ Huỷ khảo sát"} <= set(teacher.buttons())
    assert "✏️ Sửa" not in teacher.buttons()  # answered already: no editing
    close = teacher.button("Đóng ngay").token
    clock.advance(hours=2)  # 11:00 Monday
    await teacher.press_token(close)
    assert "Đã đóng khảo sát #1" in teacher.text
    await teacher.press_token(close)  # a double press (or a replayed update)
    assert "đã đóng lúc 11:00 Thứ Hai 23/11/2026" in teacher.text
    await teacher.say("đóng khảo sát 1")  # and typed
    assert "đã đóng lúc 11:00 Thứ Hai 23/11/2026" in teacher.text

    # the author is sent the final results once; the deadline job does not send them again
    [final] = await post.tick()
    assert final.recipient.user_id == "gv-6a" and "đóng sớm" in final.text
    assert "Đã đóng lúc 11:00 Thứ Hai 23/11/2026" in final.text
    assert "Đã trả lời: 1/10" in final.text
    await mum.press_token(to_mum.token("Tối thứ Sáu"))  # the old button
    assert "đã đóng lúc 11:00 Thứ Hai 23/11/2026" in mum.text
    await mum.say("khảo sát")
    assert "không có khảo sát nào" in mum.text
    clock.advance(days=5)  # past the reminder time and the deadline: nothing more
    assert await post.tick() == []
    await teacher.say("kết quả khảo sát")
    assert "Đã đóng lúc 11:00 Thứ Hai 23/11/2026" in teacher.text
    assert "2. Tối thứ Sáu: 0 (0%)" in teacher.text  # the press after closing did not count
    assert "🔒 Đóng ngay" not in teacher.buttons() and "❌ Huỷ khảo sát" in teacher.buttons()


async def test_only_the_author_or_school_staff_manage_a_poll_rechecked_on_every_press(
    sqlite_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingOtpSender
) -> None:
    async with demo_app(
        sqlite_url, tmp_path, clock, sms, digest=DigestSettings(school_staff=["GV005"])
    ) as app:
        mum = Chat(app, user="mum-an")
        await mum.link(AN, sms, phone_label="Mẹ")
        gv6 = Chat(app, user="gv-6a")
        await gv6.link(GV_6A, sms)
        gv8 = Chat(app, user="gv-8a", channel="memory_text")
        await gv8.link(GV_8A, sms)
        staff = Chat(app, user="staff")
        await staff.link("GV005", sms)
        await create_poll(gv6)

        for typed in (
            "đóng khảo sát 1",
            "huỷ khảo sát 1",
            "gia hạn khảo sát 1 đến 30/11",
            "sửa khảo sát 1",
        ):
            await gv8.say(typed)  # another class's teacher
            assert "Chỉ giáo viên tạo khảo sát" in gv8.text, typed
            await mum.say(typed)  # a parent
            assert "Chỉ giáo viên đã liên kết" in mum.text, typed
        await gv8.say("đóng khảo sát 999")  # a guessed number: the same refusal
        assert "Chỉ giáo viên tạo khảo sát" in gv8.text
        # the author's buttons, pressed by someone else: refused
        await gv6.say("kết quả khảo sát")
        for label in ("Đóng ngay", "Huỷ khảo sát", "+1 ngày", "Sửa"):
            await staff.press_token(gv6.button(label).token)
            assert "không dành cho" in staff.text
        # the same actions behind buttons issued to the attacker's own chat: re-checked too
        stamp = int(dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC).timestamp())
        for action in ("pm:close:1", "pm:cancel_ok:1", f"pm:ext:1:{stamp}", "px:1"):
            async with app.uow_factory() as uow:
                [token] = await uow.buttons.issue(gv8.key, [action], now=clock.now())
                await uow.commit()
            await gv8.press_token(token)
            assert "Chỉ giáo viên tạo khảo sát" in gv8.text, action
        async with app.sessions() as s:
            [row] = list(await s.scalars(select(PollRow)))
            assert row.closed_at is None and row.cancelled_at is None
            assert row.question == "Họp phụ huynh vào buổi nào?"
            assert row.deadline_at == dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
            audits = list(await s.scalars(select(AuditEvent.action)))
        # another class's teacher, audited (a parent is simply told it is for teachers)
        assert audits.count("poll.refused") == 9 and audits.count("button.forged") == 4

        # school staff may manage any poll of the school, from their own results view
        await staff.say("kết quả khảo sát")
        assert "⏩ Gia hạn +1 ngày" in staff.buttons()
        await staff.say("gia hạn khảo sát 1 đến 30/11 17h")
        assert "Đã gia hạn khảo sát #1 đến 17:00 Thứ Hai 30/11/2026" in staff.text


async def test_a_cancelled_poll_tells_each_parent_chat_once_and_stops_everything(
    sqlite_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingOtpSender
) -> None:
    async with demo_app(
        sqlite_url, tmp_path, clock, sms, digest=DigestSettings(school_staff=["GV005"])
    ) as app:
        mum = Chat(app, user="mum")  # two children: An (6A) and Hà (8A)
        await mum.link(AN, sms, phone_label="Mẹ")
        await mum.say("thêm con")
        await mum.link(HA, sms, phone_label="Mẹ")
        ngoc = Chat(app, user="mum-ngoc", channel="memory_text")
        await ngoc.link(NGOC, sms)
        staff = Chat(app, user="staff")
        await staff.link("GV005", sms)
        post = Postman(app)
        await create_poll(staff, target="Toàn trường")
        delivered = await post.deliver()
        assert len(delivered) == 3
        [for_an] = [d for d in delivered if "Nguyễn Minh An" in d.text]
        [for_ngoc] = [d for d in delivered if d.recipient.user_id == "mum-ngoc"]
        await mum.press_token(for_an.token("Sáng thứ Bảy"))

        clock.advance(hours=13, minutes=30)  # 22:30: quiet hours
        await staff.say("huỷ khảo sát 1")
        assert "Huỷ khảo sát #1 gửi phụ huynh toàn trường?" in staff.text
        yes = staff.button("❌ Huỷ khảo sát").token
        await staff.press_token(yes)
        assert "Đã huỷ khảo sát #1. Đã báo 2 phụ huynh" in staff.text
        await staff.press_token(yes)  # a double press (or a replayed update)
        assert "đã được huỷ lúc 22:30 Thứ Hai 23/11/2026" in staff.text
        await staff.say("huỷ khảo sát 1")
        assert "đã được huỷ lúc" in staff.text
        assert await post.deliver() == []  # held until the morning
        clock.advance(hours=8, minutes=30)
        notices = await post.deliver()
        # one message per parent chat, though Mẹ has two children in the poll
        assert sorted(d.recipient.user_id for d in notices) == ["mum", "mum-ngoc"]
        assert all("đã được huỷ" in d.text and "Họp phụ huynh" in d.text for d in notices)

        await mum.press_token(for_an.token("Tối thứ Sáu"))
        assert "đã được huỷ" in mum.text
        await ngoc.say(f"ks {typed_id(for_ngoc.text)} 1")
        assert "đã được huỷ" in ngoc.text
        await mum.say("khảo sát")
        assert "không có khảo sát nào" in mum.text
        clock.advance(days=3)  # past the reminder time
        assert await post.tick() == []
        clock.advance(days=1)  # past the deadline: no final results either
        assert await post.tick() == []

        await staff.say("kết quả khảo sát")  # kept for the record, marked cancelled
        assert "Đã huỷ lúc 22:30 Thứ Hai 23/11/2026" in staff.text
        assert "1. Sáng thứ Bảy: 1" in staff.text and "Đã trả lời: 1/38" in staff.text
        assert not {"❌ Huỷ khảo sát", "🔒 Đóng ngay"} & set(staff.buttons())
        async with app.sessions() as s:
            kinds = [m.kind for m in await s.scalars(select(OutboxMessage))]
        assert kinds.count("poll.cancelled") == 2


async def test_a_typo_is_fixed_until_the_first_answer_then_editing_is_refused(
    app: App, sms: RecordingOtpSender
) -> None:
    mum = Chat(app, user="mum-an")
    await mum.link(AN, sms, phone_label="Mẹ")
    teacher = Chat(app, user="gv-6a", channel="memory_text")  # numbered choices
    await teacher.link(GV_6A, sms)
    post = Postman(app)
    await create_poll(teacher)
    await post.deliver()

    await teacher.say("kết quả khảo sát")
    assert "✏️ Sửa" in teacher.text
    await teacher.press("✏️ Sửa")
    assert "Sửa khảo sát #1" in teacher.text
    await teacher.press("2. Tối thứ Sáu")
    await teacher.say("Sáng thứ Bảy")  # the same as option 1
    assert "hai lựa chọn giống nhau" in teacher.text
    await teacher.say("Tối thứ Sáu 19h")
    assert "Đã sửa khảo sát #1" in teacher.text and "2. Tối thứ Sáu 19h" in teacher.text
    await teacher.say("sửa khảo sát 1")
    await teacher.press("Câu hỏi")
    await teacher.say("x" * 301)
    assert "quá giới hạn 300" in teacher.text
    await teacher.say("Họp phụ huynh tối thứ Sáu hay sáng thứ Bảy?")
    assert "Đã sửa khảo sát #1" in teacher.text

    await mum.say("khảo sát")  # the parent reads the fixed poll
    assert "Họp phụ huynh tối thứ Sáu hay sáng thứ Bảy?" in mum.text
    assert "Tối thứ Sáu 19h" in mum.buttons()
    await mum.press("Tối thứ Sáu 19h")
    assert "Nguyễn Minh An: Tối thứ Sáu 19h" in mum.text

    await teacher.say("sửa khảo sát 1")  # after the first answer: refused politely
    assert "đã có phụ huynh trả lời nên không sửa được" in teacher.text
    await teacher.say("kết quả khảo sát")
    assert "✏️ Sửa" not in teacher.text

    # a dialog opened before the first answer: the save is refused once an answer came in
    await create_poll(teacher)
    [to_mum] = await post.deliver()
    await teacher.say("sửa khảo sát 2")
    await teacher.press("Câu hỏi")
    await mum.press_token(to_mum.token("Sáng thứ Bảy"))
    await teacher.say("Câu hỏi khác?")
    assert "đã có phụ huynh trả lời nên không sửa được" in teacher.text
    async with app.sessions() as s:
        questions = [p.question for p in await s.scalars(select(PollRow).order_by(PollRow.id))]
    assert questions == [
        "Họp phụ huynh tối thứ Sáu hay sáng thứ Bảy?",
        "Họp phụ huynh vào buổi nào?",
    ]


async def test_extending_moves_the_reminder_and_the_results_one_day_per_press(
    app: App, sms: RecordingOtpSender, clock: FakeClock
) -> None:
    mum = Chat(app, user="mum-an")
    await mum.link(AN, sms, phone_label="Mẹ")
    ngoc = Chat(app, user="mum-ngoc", channel="memory_text")
    await ngoc.link(NGOC, sms)
    teacher = Chat(app, user="gv-6a")
    await teacher.link(GV_6A, sms)
    post = Postman(app)
    await create_poll(teacher)  # until 17:00 Friday 27/11; reminder 17:00 Thursday
    [to_mum] = [d for d in await post.deliver() if d.recipient.user_id == "mum-an"]

    await teacher.say("gia hạn khảo sát 1 đến 25/11")
    assert "Hạn mới phải sau hạn hiện tại" in teacher.text
    await teacher.say("gia hạn khảo sát 1 đến lúc nào đó")
    assert "gõ hạn mới" in teacher.text
    await teacher.say("gia hạn khảo sát 1 đến 30/11 17:00")
    assert "Đã gia hạn khảo sát #1 đến 17:00 Thứ Hai 30/11/2026" in teacher.text
    assert "Lời nhắc cho ai chưa trả lời: 17:00 Chủ Nhật 29/11/2026" in teacher.text

    clock.advance(days=3, hours=8, minutes=5)  # 17:05 Thursday: the old reminder time
    assert await post.tick() == []
    clock.advance(days=1)  # 17:05 Friday: the old deadline; still open
    assert await post.tick() == []
    await mum.press_token(to_mum.token("Sáng thứ Bảy"))
    assert "Đã ghi câu trả lời cho cháu Nguyễn Minh An" in mum.text
    clock.advance(days=2)  # 17:05 Sunday: the moved reminder, to who has not answered
    reminders = await post.tick()
    assert [d.recipient.user_id for d in reminders] == ["mum-ngoc"]

    # +1 day under the results; the reminder went out already, so not again
    await teacher.say("kết quả khảo sát")
    plus_one = teacher.button("+1 ngày").token
    await teacher.press_token(plus_one)
    assert "Đã gia hạn khảo sát #1 đến 17:00 Thứ Ba 01/12/2026" in teacher.text
    assert "không nhắc lại" in teacher.text
    await teacher.press_token(plus_one)  # a double press adds one day only
    assert "đã được gia hạn đến 17:00 Thứ Ba 01/12/2026" in teacher.text
    clock.advance(days=1)  # 17:05 Monday 30/11: the former deadline passes, still open
    assert await post.tick() == []
    clock.advance(days=1)  # 17:05 Tuesday 1/12: closed; the author gets the results once
    [final] = await post.tick()
    assert final.recipient.user_id == "gv-6a" and "hết hạn trả lời" in final.text
    assert "Đã trả lời: 1/10" in final.text
    assert await post.tick() == []
    await teacher.press_token(plus_one)
    assert "đã đóng lúc 17:00 Thứ Ba 01/12/2026" in teacher.text


async def test_answer_buttons_work_until_a_long_deadline_other_buttons_expire_in_a_week(
    app: App, sms: RecordingOtpSender, clock: FakeClock
) -> None:
    mum = Chat(app, user="mum-an")
    await mum.link(AN, sms, phone_label="Mẹ")
    teacher = Chat(app, user="gv-6a")
    await teacher.link(GV_6A, sms)
    post = Postman(app)
    await create_poll(teacher, deadline="20/12 17h")
    [to_mum] = await post.deliver()
    await teacher.say("kết quả khảo sát")
    refresh = teacher.button("Cập nhật").token

    clock.advance(days=10)
    await mum.press_token(to_mum.token("Tối thứ Sáu"))
    assert "Đã ghi câu trả lời cho cháu Nguyễn Minh An: Tối thứ Sáu" in mum.text
    await teacher.press_token(refresh)
    assert "Nút này đã cũ" in teacher.text
    clock.advance(days=20)  # past 20/12: the poll says it is closed
    await mum.press_token(to_mum.token("Sáng thứ Bảy"))
    assert "đã đóng lúc 17:00 Chủ Nhật 20/12/2026" in mum.text


async def test_a_long_extension_after_the_reminder_allows_one_more_a_short_one_does_not(
    app: App, sms: RecordingOtpSender, clock: FakeClock
) -> None:
    ngoc = Chat(app, user="mum-ngoc", channel="memory_text")
    await ngoc.link(NGOC, sms)
    teacher = Chat(app, user="gv-6a")
    await teacher.link(GV_6A, sms)
    post = Postman(app)
    await create_poll(teacher)  # until 17:00 Friday 27/11; reminder 17:00 Thursday
    await post.deliver()
    clock.advance(days=3, hours=8, minutes=5)  # 17:05 Thursday
    [first] = await post.tick()
    assert first.recipient.user_id == "mum-ngoc" and "Nhắc" in first.text

    await teacher.say("gia hạn khảo sát 1 đến 28/11 17:00")  # one day: not reminded again
    assert "không nhắc lại" in teacher.text
    await teacher.say("gia hạn khảo sát 1 đến 2/12 17:00")  # four days more: one more
    assert "Lời nhắc cho ai chưa trả lời: 17:00 Thứ Ba 01/12/2026" in teacher.text
    clock.advance(days=2)  # 17:05 Saturday 28/11
    assert await post.tick() == []
    clock.advance(days=3)  # 17:05 Tuesday 1/12
    [second] = await post.tick()
    assert second.recipient.user_id == "mum-ngoc" and "Nhắc" in second.text
    assert "17:00 Thứ Tư 02/12/2026" in second.text
    assert await post.tick() == []


async def test_an_author_who_no_longer_teaches_the_class_cannot_manage_it(
    app: App, sms: RecordingOtpSender
) -> None:
    teacher = Chat(app, user="gv-6a")
    await teacher.link(GV_6A, sms)
    await create_poll(teacher)
    await teacher.say("kết quả khảo sát")
    close = teacher.button("Đóng ngay").token
    async with app.sessions() as s:  # the school moves 6A to another teacher
        await s.execute(
            delete(TeacherAssignmentRow).where(
                TeacherAssignmentRow.teacher_id == "t-01", TeacherAssignmentRow.class_id == "c-6a"
            )
        )
        await s.commit()
    await teacher.press_token(close)  # the button shown earlier is re-checked
    assert "Chỉ giáo viên tạo khảo sát" in teacher.text
    async with app.sessions() as s:
        [row] = list(await s.scalars(select(PollRow)))
    assert row.closed_at is None


async def test_managing_in_english(app: App, sms: RecordingOtpSender) -> None:
    teacher = Chat(app, user="gv-6a")
    await teacher.link(GV_6A, sms)
    await create_poll(teacher)
    await teacher.say("/lang")
    await teacher.press("English")
    await teacher.say("extend poll 1 to 28/11 17:00")
    assert "Poll #1 now runs until 17:00 Saturday 28/11/2026" in teacher.text, teacher.text
    await teacher.say("edit poll 1")
    assert "Edit poll #1" in teacher.text
    await teacher.say("/cancel")
    await teacher.say("cancel poll 1")
    assert "Cancel poll #1" in teacher.text and "❌ Cancel the poll" in teacher.buttons()
    await teacher.say("close poll 1")
    assert "Poll #1 is closed" in teacher.text
