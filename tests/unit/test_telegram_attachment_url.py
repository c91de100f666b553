"""Issue 17: a photo a parent sent on Zalo reaches a teacher on Telegram by its public URL
(Telegram fetches it); when Telegram cannot, the message's text still goes."""

from __future__ import annotations

import telegram

from bot.channels.telegram import TelegramSender
from bot.messages import Attachment, ConversationKey
from tests.fakes.telegram_api import FakeTelegramApi

TOKEN = "777:URL-photo-secret"
TEACHER = 4801


async def test_a_zalo_photo_goes_by_url_and_its_text_survives_a_failed_fetch() -> None:
    with FakeTelegramApi(token=TOKEN) as api:
        api.inject_message(TEACHER, "/start")  # the chat exists
        async with telegram.Bot(TOKEN, base_url=api.base_url) as bot:
            sender = TelegramSender({"demo": bot})
            to = ConversationKey(
                school_id="demo", channel="telegram", chat_id=str(TEACHER), user_id=str(TEACHER)
            )
            photo = Attachment(kind="photo", file_id="https://zalo-cdn.example/a.jpg")
            await sender.deliver_attachment(to, photo, "Tin nhắn #1: đơn thuốc", ())
            [sent] = api.sent(TEACHER)
            assert sent["method"] == "sendPhoto" and "đơn thuốc" in str(sent["caption"])

            api.fail_next(
                "sendPhoto", 400, description="Bad Request: wrong file identifier/HTTP URL"
            )
            await sender.deliver_attachment(to, photo, "Tin nhắn #2: ảnh hết hạn", ())
            last = api.sent(TEACHER)[-1]
            assert last["method"] == "sendMessage" and "ảnh hết hạn" in last["text"]
