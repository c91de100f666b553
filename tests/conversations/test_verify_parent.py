"""Scripted chats through the verify dialog: the parent's first minutes with LienLac."""

from __future__ import annotations

from pathlib import Path

from bot.bootstrap import App
from tests.chat import Chat, demo_app
from tests.fakes.ports import FakeClock, RecordingOtpSender

ONE_GUARDIAN = "HS8A03"  # Phạm Quang Huy, 8A; one guardian 0900000024
TWO_GUARDIANS = "HS6A01"  # Nguyễn Minh An, 6A; Mẹ 0900000001 and Bố 0900000002
SIBLING = "HS8A02"  # Nguyễn Thu Hà, 8A; also a child of 0900000001


async def test_happy_path_links_and_shows_the_term_average(
    app: App, sms: RecordingOtpSender
) -> None:
    chat = Chat(app)
    await chat.say("/start")
    assert "mã học sinh" in chat.text
    await chat.say(ONE_GUARDIAN)
    assert "Phạm Quang Huy" not in chat.text and "8A" not in chat.text  # no name before the OTP
    assert "Người nhận mã: Mẹ" in chat.text
    assert "09x xxx x24" in chat.text  # the phone on file, masked
    assert "Nghị định 13/2023" in chat.text
    assert sms.sent == []  # nothing is sent before consent
    await chat.press("Đồng ý")
    assert len(sms.sent) == 1 and sms.sent[0].phone == "0900000024"
    assert "09x xxx x24" in chat.text
    await chat.say(sms.last_code())
    assert "Liên kết thành công" in chat.text and "Phạm Quang Huy (8A)" in chat.text
    await chat.say("điểm công nghệ")
    assert "6,6" in chat.text  # the TT22 rounding trap: 52.4 / 8 = 6.55 -> 6.6
    assert "52,4 / 8" in chat.text


async def test_code_typed_without_start_and_lower_case_is_understood(
    app: App, sms: RecordingOtpSender
) -> None:
    chat = Chat(app)
    await chat.say("  hs8a03 ")
    assert "09x xxx x24" in chat.text and "Điều khoản" in chat.text


async def test_unknown_code_gets_a_clear_reply_and_no_sms(
    app: App, sms: RecordingOtpSender
) -> None:
    chat = Chat(app)
    await chat.say("HS9Z99")
    assert "không tìm thấy mã" in chat.text.lower()
    assert sms.sent == []


async def test_code_lookups_are_rate_limited_per_chat(
    app: App, sms: RecordingOtpSender, clock: FakeClock
) -> None:
    chat = Chat(app)
    for i in range(5):
        await chat.say(f"HS0X{i:02d}")
        assert "không tìm thấy" in chat.text.lower()
    await chat.say(ONE_GUARDIAN)  # even a right code is refused now: no enumeration
    assert "gõ sai mã học sinh nhiều lần" in chat.text
    clock.advance(hours=1, seconds=1)
    await chat.say(ONE_GUARDIAN)
    assert "09x xxx x24" in chat.text
    for _ in range(10):  # right codes count too: 10 look-ups an hour
        await chat.say("/huy")
        await chat.say(ONE_GUARDIAN)
    assert "quá nhiều" in chat.text


async def test_five_wrong_codes_lock_out_and_a_resend_does_not_reset_attempts(
    app: App, sms: RecordingOtpSender, clock: FakeClock
) -> None:
    chat = Chat(app)
    await chat.say(ONE_GUARDIAN)
    await chat.press("Đồng ý")
    right = sms.last_code()
    wrong = "000000" if right != "000000" else "111111"
    await chat.say(wrong)
    assert "còn 4 lần" in chat.text
    clock.advance(seconds=61)
    await chat.press("Gửi lại")
    assert len(sms.sent) == 2
    for left in (3, 2, 1):
        await chat.say(wrong)
        assert f"còn {left} lần" in chat.text
    await chat.say(wrong)
    assert "tạm khóa" in chat.text
    await chat.say(sms.last_code())  # even the right code is refused while locked
    assert "tạm khóa" in chat.text
    assert "thành công" not in chat.text
    clock.advance(minutes=16)
    await chat.press("Gửi lại")
    await chat.say(sms.last_code())
    assert "Liên kết thành công" in chat.text


async def test_expired_code_is_refused_then_a_new_code_works(
    app: App, sms: RecordingOtpSender, clock: FakeClock
) -> None:
    chat = Chat(app)
    await chat.say(ONE_GUARDIAN)
    await chat.press("Đồng ý")
    code = sms.last_code()
    clock.advance(minutes=5, seconds=1)
    await chat.say(code)
    assert "hết hạn" in chat.text
    await chat.press("Gửi lại")
    assert sms.last_code() is not None and len(sms.sent) == 2
    await chat.say(sms.last_code())
    assert "Liên kết thành công" in chat.text


async def test_resend_has_a_cooldown(app: App, sms: RecordingOtpSender) -> None:
    chat = Chat(app)
    await chat.say(ONE_GUARDIAN)
    await chat.press("Đồng ý")
    await chat.press("Gửi lại")
    assert "chờ" in chat.text and len(sms.sent) == 1


async def test_gateway_failure_burns_nothing_and_retry_works(
    app: App, sms: RecordingOtpSender
) -> None:
    chat = Chat(app)
    await chat.say(ONE_GUARDIAN)
    sms.fail_next = 1
    await chat.press("Đồng ý")
    assert "Chưa gửi được" in chat.text
    await chat.press("Thử lại")
    assert len(sms.sent) == 1
    await chat.say(sms.last_code())
    assert "Liên kết thành công" in chat.text


async def test_typing_something_else_mid_flow_gets_a_reminder(
    app: App, sms: RecordingOtpSender
) -> None:
    chat = Chat(app)
    await chat.say(ONE_GUARDIAN)
    await chat.press("Đồng ý")
    await chat.say("điểm toán")
    assert "mã 6 số" in chat.text
    await chat.say("/diem")
    assert "mã 6 số" in chat.text
    await chat.say("/huy")
    assert "Đã hủy" in chat.text
    await chat.say(sms.last_code())  # after cancelling, a code is not accepted as an OTP
    assert "thành công" not in chat.text


async def test_decline_consent_stores_nothing(app: App, sms: RecordingOtpSender) -> None:
    chat = Chat(app)
    await chat.say(ONE_GUARDIAN)
    await chat.press("Không đồng ý")
    assert "không lưu gì" in chat.text
    assert sms.sent == []
    await chat.say("điểm")
    assert "chưa liên kết" in chat.text


async def test_two_guardians_choose_the_phone(app: App, sms: RecordingOtpSender) -> None:
    chat = Chat(app)
    await chat.say(TWO_GUARDIANS)
    assert set(chat.buttons()) >= {"09x xxx x01 (Mẹ)", "09x xxx x02 (Bố)"}
    await chat.press("x02")
    await chat.press("Đồng ý")
    assert sms.sent[-1].phone == "0900000002"


async def test_parent_of_two_children_is_asked_which_child(
    app: App, sms: RecordingOtpSender
) -> None:
    chat = Chat(app)
    await chat.link(TWO_GUARDIANS, sms, phone_label="x01")
    await chat.press("Thêm con")
    await chat.say(SIBLING)
    await chat.press("x01")
    await chat.press("Đồng ý")
    await chat.say(sms.last_code())
    assert "Nguyễn Thu Hà" in chat.text
    await chat.say("điểm")
    assert "con nào" in chat.text
    assert set(chat.buttons()) == {"Nguyễn Minh An (6A)", "Nguyễn Thu Hà (8A)"}
    await chat.press("Thu Hà")
    assert "Nguyễn Thu Hà (8A)" in chat.text and "Toán" in chat.text
    await chat.say("diem toan cua An")  # the name in the question picks the child
    assert "Nguyễn Minh An (6A)" in chat.text and "ĐTB môn" in chat.text


async def test_forget_unlinks_and_deletes(app: App, sms: RecordingOtpSender) -> None:
    chat = Chat(app)
    await chat.link(ONE_GUARDIAN, sms)
    await chat.say("/forget")
    await chat.press("Giữ lại")
    await chat.say("học phí")
    assert "₫" in chat.text
    await chat.say("/xoa")
    await chat.press("Xóa dữ liệu")
    assert "Đã hủy liên kết" in chat.text
    await chat.say("học phí")
    assert "chưa liên kết" in chat.text


async def test_restart_mid_dialog_loses_nothing(
    sqlite_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingOtpSender
) -> None:
    async with demo_app(sqlite_url, tmp_path, clock, sms) as first:
        chat = Chat(first)
        await chat.say(ONE_GUARDIAN)
        await chat.press("Đồng ý")
    async with demo_app(sqlite_url, tmp_path, clock, sms) as second:  # a new process
        chat = Chat(second)
        await chat.say(sms.last_code())
        assert "Liên kết thành công" in chat.text
    async with demo_app(sqlite_url, tmp_path, clock, sms) as third:
        chat = Chat(third)
        await chat.say("hoc phi")
        assert "Phạm Quang Huy" in chat.text


async def test_someone_elses_button_is_refused(app: App, sms: RecordingOtpSender) -> None:
    alice = Chat(app, user="alice")
    await alice.say(ONE_GUARDIAN)
    token = alice.button("Đồng ý").token
    mallory = Chat(app, user="mallory")
    await mallory.press_token(token)
    assert "không dành cho" in mallory.text
    assert sms.sent == []
    await mallory.press_token("forged-token")
    assert "đã cũ" in mallory.text


async def test_numbered_choices_on_a_channel_without_buttons(
    app: App, sms: RecordingOtpSender
) -> None:
    chat = Chat(app, channel="memory_text")
    await chat.say(TWO_GUARDIANS)
    assert "1. 09x xxx x01 (Mẹ)" in chat.text
    await chat.press("x01")
    await chat.press("Đồng ý")
    await chat.say(sms.last_code())
    assert "Liên kết thành công" in chat.text


async def test_teacher_links_with_staff_code(app: App, sms: RecordingOtpSender) -> None:
    chat = Chat(app, user="teacher-1")
    await chat.say("GV001")
    assert "Giáo viên" in chat.text
    await chat.press("Đồng ý")
    assert sms.sent[-1].phone == "0900001001"
    # a teacher's SMS does not warn against sharing the code "even with teachers"
    assert "giao vien" in sms.sent[-1].text and "ke ca giao vien" not in sms.sent[-1].text
    await chat.say(sms.last_code())
    assert "giáo viên" in chat.text.lower() and "thành công" in chat.text
    await chat.say("điểm")
    assert "dành cho phụ huynh" in chat.text


async def test_start_offers_parent_or_teacher_and_a_typed_code_still_works(
    app: App, sms: RecordingOtpSender
) -> None:
    teacher = Chat(app, user="gv")
    await teacher.say("/start")
    assert teacher.buttons()[:2] == ["👪 Tôi là phụ huynh", "🧑‍🏫 Tôi là giáo viên"]
    await teacher.press("Tôi là giáo viên")
    assert "mã giáo viên" in teacher.text
    await teacher.say("GV001")
    assert "Giáo viên: Nguyễn Thị Thanh Hoa" in teacher.text
    parent = Chat(app, user="me", channel="memory_text")
    await parent.say("/start")
    assert "1. 👪 Tôi là phụ huynh" in parent.text
    await parent.say(ONE_GUARDIAN)  # typed straight away instead of choosing
    assert "Người nhận mã: Mẹ" in parent.text and "Phạm Quang Huy" not in parent.text


async def test_a_teacher_is_addressed_thay_co_never_anh_chi(
    app: App, sms: RecordingOtpSender
) -> None:
    """Issue 19: from "I am a teacher" on, through the one-time code and after linking,
    a teacher is "thầy/cô"; a parent stays "anh/chị"."""
    teacher = Chat(app, user="gv")
    await teacher.say("/start")
    await teacher.press("Tôi là giáo viên")
    await teacher.say("GV9999")  # no such code
    assert "thầy/cô" in teacher.text.lower() and "anh/chị" not in teacher.text.lower()
    await teacher.say("GV001")
    await teacher.press("Đồng ý")
    seen = [teacher.text]
    await teacher.say("000000" if sms.last_code() != "000000" else "111111")  # a wrong code
    seen.append(teacher.text)
    await teacher.say("/huy")
    seen.append(teacher.text)
    await teacher.say("GV001")
    await teacher.press("Không đồng ý")
    seen.append(teacher.text)
    assert "mã giáo viên" in teacher.text
    await teacher.link("GV001", sms)
    for ask in ("/start", "/xoa"):
        await teacher.say(ask)
        seen.append(teacher.text)
    for text in seen:
        assert "anh/chị" not in text.lower(), text
    assert sum("thầy/cô" in text.lower() for text in seen) >= 5, seen

    parent = Chat(app, user="me")
    await parent.say(ONE_GUARDIAN)
    await parent.press("Đồng ý")
    assert "Anh/chị gõ mã" in parent.text
