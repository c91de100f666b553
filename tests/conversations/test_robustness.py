"""Bad input gets a clear, polite reply and nothing is lost: empty, huge, group, concurrent."""

from __future__ import annotations

import asyncio
import re

from bot.bootstrap import App
from bot.messages import Incoming
from tests.chat import Chat
from tests.fakes.ports import RecordingOtpSender


async def test_empty_and_whitespace_get_a_hint(app: App) -> None:
    chat = Chat(app)
    for text in ("", "   ", "\n"):
        await chat.say(text)
        assert "tin nhắn chữ" in chat.text


async def test_a_huge_message_is_answered_not_crashed(app: App) -> None:
    chat = Chat(app)
    await chat.say("điểm " + "a" * 100_000)
    assert "chưa liên kết" in chat.text
    await chat.say("\x00\u200b🙂" * 2000)
    assert chat.text  # a polite help menu, not a crash


async def test_unknown_text_gets_the_help_menu(app: App, sms: RecordingOtpSender) -> None:
    chat = Chat(app)
    await chat.link("HS8A03", sms)
    await chat.say("con mèo kêu meo meo")
    assert "chưa hiểu" in chat.text
    assert "📘 Điểm" in chat.buttons()


async def test_no_scores_in_a_group_chat(app: App, sms: RecordingOtpSender) -> None:
    private = Chat(app, user="p1")
    await private.link("HS8A03", sms)
    group = Chat(app, user="p1", chat_id="-100123", is_group=True)
    await group.say("điểm")
    assert "tin nhắn riêng" in group.text
    assert "Toán" not in group.text
    await group.say("HS8A03")
    assert "tin nhắn riêng" in group.text
    assert len(sms.sent) == 1  # only the private link's code: nothing was started in the group


async def test_concurrent_messages_in_one_chat_run_one_at_a_time(
    app: App, sms: RecordingOtpSender
) -> None:
    chat = Chat(app)
    await chat.link("HS8A03", sms)
    incoming = [
        Incoming(key=chat.key, text=t, locale_hint="vi") for t in ["điểm", "tkb", "học phí"] * 5
    ]
    results = await asyncio.gather(*(app.router.handle(i) for i in incoming))
    assert all(r and "lỗi" not in r[0].text for r in results)
    assert "₫" in results[2][0].text


async def test_concurrent_code_lookups_in_many_chats(app: App) -> None:
    chats = [Chat(app, user=f"u{i}") for i in range(20)]
    await asyncio.gather(*(c.say("HS8A03") for c in chats))
    assert all("09x xxx x24" in c.text and "Phạm Quang Huy" not in c.text for c in chats)


async def test_english_speakers_get_english(app: App, sms: RecordingOtpSender) -> None:
    chat = Chat(app, locale="en-US")
    await chat.say("/start")
    assert "student code" in chat.text
    await chat.say("HS8A03")
    await chat.press("I agree")
    await chat.say(sms.last_code())
    assert "Linked with" in chat.text
    await chat.say("scores")
    assert "semester I averages" in chat.text
    assert re.search(r": \d+\.\d\b", chat.text), chat.text  # English decimal point
    assert not re.search(r": \d+,\d\b", chat.text)


async def test_language_choice_is_stored(app: App) -> None:
    chat = Chat(app)
    await chat.say("/ngonngu")
    await chat.press("English")
    assert "Switched to English" in chat.text
    await chat.say("/help")
    assert "student code" in chat.text


async def test_a_voluntary_fee_is_not_counted_as_owed(app: App, sms: RecordingOtpSender) -> None:
    """Issue 19: "Còn phải nộp" counted the voluntary contributions too."""
    from bot.domain.formatting import format_vnd

    backend = app.services.backends.for_school("demo")
    student = await backend.find_student("HS8A03")
    assert student is not None
    fees = list(await backend.fees(student.id))
    owed = sum(f.amount for f in fees if f.mandatory and not f.paid)
    voluntary = sum(f.amount for f in fees if not f.mandatory and not f.paid)
    assert voluntary, "the demo family has a voluntary contribution open"
    chat = Chat(app, user="fees-mum")
    await chat.link("HS8A03", sms)
    await chat.say("học phí")
    if owed:
        assert f"Còn phải nộp (các khoản bắt buộc): {format_vnd(owed)}" in chat.text
    else:
        assert "Đã nộp đủ các khoản bắt buộc" in chat.text
    assert f"Khoản tự nguyện chưa nộp: {format_vnd(voluntary)}" in chat.text


async def test_every_dialog_lets_go_of_a_parent_or_teacher_who_clearly_asks_something_else(
    app: App, sms: RecordingOtpSender
) -> None:
    """Issue 19: not only /caidat: a leave request waiting for the session is left with one
    line when another task is typed (linking keeps its reminder: a code is expected)."""
    parent = Chat(app, user="me-robust")
    await parent.link("HS8A03", sms)
    await parent.say("xin nghỉ cho cháu thứ 4 vì ốm")
    assert "buổi nào" in parent.text
    await parent.say("chưa rõ")  # not a session it can read: it asks again, naming /huy
    assert "/huy" in parent.text
    await parent.say("điểm toán")
    assert parent.last[0].text == "(Đã thoát phần đang làm dở.)"
    assert "Toán" in parent.text and "buổi" not in parent.text
