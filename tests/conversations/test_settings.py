"""Scripted chats through the notification settings, with buttons (Telegram-like) and with
numbered menus (console/Zalo-like), including bad input."""

from __future__ import annotations

from bot.bootstrap import App
from bot.domain.digest import Content, DigestPrefs, Frequency
from tests.chat import Chat
from tests.fakes.ports import RecordingOtpSender

ONE_GUARDIAN = "HS8A03"


async def stored(app: App, chat: Chat) -> DigestPrefs | None:
    from storage.uow import SqlUnitOfWorkFactory

    async with SqlUnitOfWorkFactory(app.sessions)() as uow:
        k = chat.key
        return await uow.notifications.prefs(k.school_id, k.channel, k.user_id)


async def test_parent_sets_time_weekly_day_content_alerts_and_language_with_buttons(
    app: App, sms: RecordingOtpSender
) -> None:
    chat = Chat(app)
    await chat.link(ONE_GUARDIAN, sms)
    await chat.say("/caidat")
    assert "Cài đặt thông báo" in chat.text
    assert "hằng ngày lúc 19:00" in chat.text  # the defaults
    assert "21:00–06:30" in chat.text  # quiet hours are shown
    assert await stored(app, chat) is None  # nothing stored until something changes

    await chat.press("Giờ nhận")
    await chat.say("20h")
    assert "Đã lưu: bản tin hằng ngày lúc 20:00" in chat.text

    await chat.press("Tần suất")
    await chat.press("Hằng tuần")
    assert "ngày nào" in chat.text
    await chat.press("Thứ Bảy")
    assert "hằng tuần, Thứ Bảy lúc 20:00" in chat.text

    await chat.press("Nội dung")
    assert "✅ điểm" in chat.buttons()
    await chat.press("điểm")
    assert "⬜ điểm" in chat.buttons()
    await chat.press("Quay lại")
    await chat.press("Tắt báo ngay")
    assert "Đã lưu: báo ngay việc khẩn tắt" in chat.text

    await chat.press("English")
    assert "Notification settings" in chat.text and "every week, Saturday at 20:00" in chat.text
    await chat.press("Done")
    assert "Settings saved" in chat.text

    prefs = await stored(app, chat)
    assert prefs == DigestPrefs(
        frequency=Frequency.WEEKLY,
        weekday=5,
        minute_of_day=20 * 60,
        content=frozenset(Content) - {Content.SCORES},
        instant=False,
        locale="en",
    )
    await chat.say("scores maths")  # the chat now answers in English too
    assert "Maths" in chat.text or "Toán" in chat.text


async def test_settings_by_numbered_menu_with_bad_inputs(app: App, sms: RecordingOtpSender) -> None:
    chat = Chat(app, channel="memory_text")
    await chat.link(ONE_GUARDIAN, sms)
    await chat.say("cai dat thong bao")  # free text, no diacritics
    assert "1. " in chat.text and "Cài đặt thông báo" in chat.text
    await chat.press("Giờ nhận")
    assert "8 giờ tối" in chat.text

    await chat.say("25h")
    assert "chưa hiểu giờ này" in chat.text
    await chat.say("9" * 5000)  # huge
    assert "chưa hiểu giờ này" in chat.text
    await chat.say("   ")  # empty
    assert "gõ câu hỏi" in chat.text or "chưa hiểu" in chat.text
    await chat.say("22h")  # in quiet hours: refused, with the reason
    assert "giờ yên tĩnh" in chat.text and "22:00" in chat.text
    await chat.say("8 giờ tối")
    assert "hằng ngày lúc 20:00" in chat.text

    await chat.press("Tần suất")
    await chat.say("hang tuan")
    await chat.say("thu 6")
    assert "hằng tuần, Thứ Sáu lúc 20:00" in chat.text
    await chat.press("Tần suất")
    await chat.press("Tắt bản tin")
    assert "Bản tin: tắt" in chat.text
    await chat.say("19h30")  # a time typed at the menu turns the digest back on
    assert "hằng ngày lúc 19:30" in chat.text
    await chat.say("xong")
    assert "Đã lưu cài đặt" in chat.text
    prefs = await stored(app, chat)
    assert prefs is not None and prefs.minute_of_day == 19 * 60 + 30
    assert prefs.frequency is Frequency.DAILY


async def test_settings_need_a_linked_child(app: App) -> None:
    chat = Chat(app)
    await chat.say("/settings")
    assert "liên kết" in chat.text
    await chat.say("20h")  # not in a dialog: not taken as a time
    assert "Đã lưu" not in chat.text


async def test_a_settings_button_outside_the_dialog_is_stale(
    app: App, sms: RecordingOtpSender
) -> None:
    chat = Chat(app)
    await chat.link(ONE_GUARDIAN, sms)
    await chat.say("/caidat")
    button = chat.button("Giờ nhận")
    await chat.say("/cancel")
    await chat.press_token(button.token)
    assert "đã cũ" in chat.text


async def test_forget_deletes_the_preferences_too(app: App, sms: RecordingOtpSender) -> None:
    chat = Chat(app)
    await chat.link(ONE_GUARDIAN, sms)
    await chat.say("/caidat")
    await chat.say("20h")
    assert await stored(app, chat) is not None
    await chat.say("/xoa")
    await chat.press("Xóa dữ liệu")
    assert await stored(app, chat) is None


async def test_another_task_typed_in_the_settings_menu_leaves_it(
    app: App, sms: RecordingOtpSender
) -> None:
    """Issue 19: the settings menu left open no longer traps the parent."""
    chat = Chat(app, user="busy-mum")
    await chat.link("HS8A03", sms)
    await chat.say("/caidat")
    await chat.say("abc")
    assert "chưa hiểu" in chat.text and "/huy" in chat.text  # stays, and says how to leave
    await chat.say("xin nghỉ cho cháu ngày mai vì ốm")
    assert "Đã thoát" in chat.text
    assert "nghỉ" in chat.text and "Cài đặt" not in chat.text
    await chat.say("học phí")  # the leave request now owns the text, as any dialog would
    await chat.say("/huy")
    await chat.say("/caidat")
    await chat.press("Tần suất")
    await chat.press("Hằng tuần")
    await chat.say("thứ 3")  # where settings asks for a day, "thứ 3" is that day
    assert "Đã thoát" not in chat.text and "hằng tuần, Thứ Ba" in chat.text
