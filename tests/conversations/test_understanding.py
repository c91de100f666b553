"""Understood the way parents type (issue 16): a yes/no question about a day is attendance,
a fee item named is the fees, and a weak guess is asked back with buttons."""

from __future__ import annotations

from bot.bootstrap import App
from handlers.intents import IntentName, match
from tests.chat import Chat
from tests.fakes.ports import RecordingOtpSender

HUY = "HS8A03"  # Phạm Quang Huy (8A): no absence in the demo
ABSENT_TODAY = "HS9A08"  # Bùi Quốc Việt (9A): absent the whole day, unexcused, on 23/11/2026
# The demo clock: Monday 23/11/2026.


async def test_did_my_child_go_to_school_is_attendance_not_the_timetable(
    app: App, sms: RecordingOtpSender
) -> None:
    chat = Chat(app)
    await chat.link(ABSENT_TODAY, sms)
    for asked in (
        "hôm nay cháu có đi học không",
        "hnay chau co di hoc ko",
        "hom nay con co den lop k",
        "con có nghỉ không?",  # no day: today
        "did my child go to school today",
    ):
        await chat.say(asked)
        assert "📌 23/11/2026: Bùi Quốc Việt (9A) nghỉ cả ngày (không phép)." in chat.text, (
            asked,
            chat.text,
        )
        assert "📋 Chuyên cần" in chat.text and "📅" not in chat.text  # not the timetable
    for asked in ("thứ 7 cháu có đi học không", "hom qua chau co nghi khong", "t7 con co vang k"):
        await chat.say(asked)
        day = "22/11/2026" if "qua" in asked else "21/11/2026"  # Saturday: the last one
        assert f"📌 {day}: nhà trường không ghi nhận buổi vắng nào" in chat.text, (asked, chat.text)
    await chat.say("mai cháu có phải đi học không")  # a coming day: the timetable
    assert "📅" in chat.text and "📌" not in chat.text


async def test_fees_asked_without_the_word_hoc_phi(app: App, sms: RecordingOtpSender) -> None:
    chat = Chat(app)
    await chat.link(HUY, sms)
    for asked in (
        "con còn nợ bao nhiêu",
        "con con phai nop gi ko",
        "còn thiếu tiền gì không",
        "phải đóng những khoản nào",
        "hp thang nay bn",
    ):
        await chat.say(asked)
        assert "💰 Các khoản thu — Phạm Quang Huy (8A)" in chat.text, (asked, chat.text)
    for asked, item in (  # one item named: that item only
        ("bảo hiểm y tế đóng chưa", "Bảo hiểm y tế học sinh"),
        ("tien nuoc uong", "Nước uống tháng 11"),
        ("quỹ ban đại diện cha mẹ", "Quỹ Ban đại diện cha mẹ học sinh"),
    ):
        await chat.say(asked)
        assert "💰 Khoản thu anh/chị hỏi — Phạm Quang Huy (8A)" in chat.text, (asked, chat.text)
        assert item in chat.text and "Tiền ăn bán trú" not in chat.text, (asked, chat.text)


async def test_a_weak_guess_is_asked_back_with_buttons(app: App, sms: RecordingOtpSender) -> None:
    chat = Chat(app)
    await chat.link(HUY, sms)
    await chat.say("tiền")
    assert chat.text == "Anh/chị muốn xem thông tin nào ạ?"
    assert chat.buttons()[:4] == ["💰 Khoản thu", "📘 Điểm", "📅 Thời khóa biểu", "📋 Chuyên cần"]
    await chat.say("toán")
    assert chat.text == "Anh/chị muốn xem thông tin nào ạ?"
    assert chat.buttons()[0] == "📘 Điểm"
    await chat.press("Điểm")
    assert "Phạm Quang Huy" in chat.text and "Toán" in chat.text
    await chat.say("con mèo")  # nothing asked at all: the plain "I did not understand"
    assert "Xin lỗi, mình chưa hiểu câu này." in chat.text


async def test_a_weak_guess_on_a_text_only_channel_numbers_the_choices(
    app: App, sms: RecordingOtpSender
) -> None:
    chat = Chat(app, channel="memory_text")
    await chat.link(HUY, sms)
    await chat.say("tien")
    assert "1. 💰 Khoản thu" in chat.text
    await chat.press("Khoản thu")
    assert "💰 Các khoản thu — Phạm Quang Huy (8A)" in chat.text


async def test_a_teacher_is_not_asked_about_a_child(app: App, sms: RecordingOtpSender) -> None:
    chat = Chat(app)
    await chat.say("tiền")  # not linked: the help, not buttons about a child
    assert "Xin lỗi, mình chưa hiểu câu này." in chat.text


async def test_a_fee_item_named_as_the_school_names_it(app: App, sms: RecordingOtpSender) -> None:
    """ "đại diện cha mẹ" is no built-in word; the demo's fee list has "Quỹ Ban đại diện cha
    mẹ học sinh", so the second look with the backend's item names finds the fees."""
    assert match("đại diện cha mẹ đóng chưa").name is not IntentName.FEES
    chat = Chat(app)
    await chat.link(HUY, sms)
    for asked in ("đại diện cha mẹ đóng chưa", "dai dien cha me"):
        await chat.say(asked)
        assert "💰 Khoản thu anh/chị hỏi — Phạm Quang Huy (8A)" in chat.text, (asked, chat.text)
        assert "Quỹ Ban đại diện cha mẹ học sinh" in chat.text, (asked, chat.text)
