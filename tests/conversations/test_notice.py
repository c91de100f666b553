"""A teacher's notice: to their own class (preview, confirm, parents get it), never to
another class, and re-checked at the moment it is sent."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete, select

from bot.bootstrap import App, build_app
from bot.config import DatabaseSettings, DigestSettings, Settings
from storage.tables import NotificationItem, OutboxMessage, TeacherAssignmentRow
from tests.chat import Chat
from tests.fakes.ports import FakeClock, RecordingOtpSender

TEACHER_6A = "GV001"  # homeroom 6A, also teaches 7A


async def items(app: App) -> list[NotificationItem]:
    async with app.sessions() as s:
        return list(await s.scalars(select(NotificationItem)))


async def test_teacher_sends_a_notice_to_own_class_with_preview(
    app: App, sms: RecordingOtpSender
) -> None:
    parent_6a = Chat(app, user="mum-6a")
    await parent_6a.link("HS6A01", sms, phone_label="x01")
    parent_8a = Chat(app, user="mum-8a")
    await parent_8a.link("HS8A03", sms)
    teacher = Chat(app, user="teacher")
    await teacher.link(TEACHER_6A, sms)

    await teacher.say("/thongbao")
    assert teacher.buttons()[:2] == ["6A", "7A"]  # only their own classes
    await teacher.press("6A")
    await teacher.say("Thứ Sáu này họp phụ huynh lúc 19h tại lớp.")
    assert "Xem trước" in teacher.text and "họp phụ huynh" in teacher.text
    assert await items(app) == []  # nothing before the confirmation
    await teacher.press("📨 Gửi")
    assert "Đã ghi nhận thông báo cho lớp 6A: 1 phụ huynh" in teacher.text

    [item] = await items(app)
    assert item.user_id == "mum-6a" and item.kind == "notices" and item.digest_key is None
    async with app.sessions() as s:
        assert list(await s.scalars(select(OutboxMessage))) == []  # waits for the digest


async def test_teacher_cannot_send_to_another_class(app: App, sms: RecordingOtpSender) -> None:
    teacher = Chat(app, user="teacher", channel="memory_text")
    await teacher.link(TEACHER_6A, sms)
    await teacher.say("gui thong bao")
    await teacher.say("8A")
    assert "không dạy lớp 8A" in teacher.text
    await teacher.say("9Z")
    assert "Không tìm thấy lớp" in teacher.text
    await teacher.say("6a")  # typed, lower case: own class
    await teacher.say("x" * 900)
    assert "quá giới hạn 500" in teacher.text
    await teacher.say("Nghỉ học chiều mai do mất điện.")
    await teacher.press("Gửi khẩn")
    assert "Đã gửi khẩn" in teacher.text
    assert await items(app) == []  # no parent of 6A is linked in this chat


async def test_urgent_notice_goes_out_at_once_and_is_rechecked_at_send(
    app: App, sms: RecordingOtpSender
) -> None:
    parent = Chat(app, user="mum-6a")
    await parent.link("HS6A01", sms, phone_label="x01")
    teacher = Chat(app, user="teacher")
    await teacher.link(TEACHER_6A, sms)

    await teacher.say("/thongbao")
    await teacher.press("6A")
    await teacher.say("Mai trường nghỉ do bão.")
    await teacher.press("Gửi khẩn")
    async with app.sessions() as s:
        [alert] = list(await s.scalars(select(OutboxMessage)))
    assert (
        alert.urgent
        and alert.user_id == "mum-6a"
        and "Mai trường nghỉ do bão." in alert.payload["text"]
    )

    # The teacher loses 7A between the preview and the confirmation: refused.
    await teacher.say("/thongbao")
    await teacher.press("7A")
    await teacher.say("Thông báo cho 7A")
    async with app.sessions() as s:
        await s.execute(delete(TeacherAssignmentRow).where(TeacherAssignmentRow.class_id == "c-7a"))
        await s.commit()
    await teacher.press("📨 Gửi")
    assert "không dạy lớp 7A" in teacher.text


async def test_parents_cannot_send_notices(app: App, sms: RecordingOtpSender) -> None:
    parent = Chat(app, user="mum")
    await parent.link("HS8A03", sms)
    await parent.say("/thongbao")
    assert "Chỉ giáo viên" in parent.text


async def test_school_staff_send_to_the_whole_school_teachers_cannot(
    sqlite_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingOtpSender
) -> None:
    settings = Settings(
        database=DatabaseSettings(url=sqlite_url),
        data_dir=tmp_path,
        digest=DigestSettings(school_staff=["gv005"]),
    )
    app = await build_app(settings, clock=clock, otp_sender=sms)
    try:
        parent_6a = Chat(app, user="mum-6a")
        await parent_6a.link("HS6A01", sms, phone_label="x01")
        parent_8a = Chat(app, user="mum-8a")
        await parent_8a.link("HS8A03", sms)

        teacher = Chat(app, user="teacher")
        await teacher.link(TEACHER_6A, sms)
        await teacher.say("/thongbao")
        assert "🏫 Toàn trường" not in teacher.buttons()
        await teacher.say("toàn trường")
        assert "Chỉ cán bộ nhà trường" in teacher.text

        staff = Chat(app, user="staff", channel="memory_text")
        await staff.link("GV005", sms)
        await staff.say("/thongbao")
        await staff.press("Toàn trường")
        assert "phụ huynh toàn trường" in staff.text
        await staff.say("Lịch nghỉ Tết: từ 14/02 đến 22/02.")
        assert "Xem trước" in staff.text
        await staff.press("📨 Gửi")
        assert "Đã ghi nhận thông báo cho toàn trường: 2 phụ huynh" in staff.text
        assert sorted(i.user_id for i in await items(app)) == ["mum-6a", "mum-8a"]
    finally:
        await app.aclose()


async def test_a_typed_number_keeps_its_meaning_within_the_dialog(
    app: App, sms: RecordingOtpSender
) -> None:
    """Issue 19: the "1" that picked the class must not cancel at the next step."""
    teacher = Chat(app, user="teacher", channel="memory_text")
    await teacher.link(TEACHER_6A, sms)
    await teacher.say("/thongbao")
    assert "1. 6A" in teacher.text and "3. ✖️ Hủy" in teacher.text
    await teacher.say("1")
    assert "lớp 6A" in teacher.text
    assert "3. ✖️ Hủy" in teacher.text and "1. " not in teacher.text  # Hủy is still 3
    await teacher.say("1")  # not a choice any more: it is the notice's text, not "cancel"
    assert "Đã hủy" not in teacher.text
    # new choices take numbers the previous reply did not offer; Hủy stays 3
    assert "1. 📨 Gửi" in teacher.text and "3. ✖️ Hủy" in teacher.text
    await teacher.say("3")
    assert "Đã hủy" in teacher.text
    await teacher.say("/thongbao")  # a new dialog numbers from 1 again
    assert "1. 6A" in teacher.text
