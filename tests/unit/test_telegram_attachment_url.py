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


async def test_a_zalo_photo_telegram_refuses_by_url_goes_by_upload() -> None:
    from tests.fakes.zalo_bot_api import PNG, FakeZaloBotApi  # its /cdn/… serves pictures

    with FakeTelegramApi(token=TOKEN) as api, FakeZaloBotApi(token="1:cdn") as cdn:
        api.inject_message(TEACHER, "/start")
        async with telegram.Bot(TOKEN, base_url=api.base_url) as bot:
            sender = TelegramSender({"demo": bot})
            to = ConversationKey(
                school_id="demo", channel="telegram", chat_id=str(TEACHER), user_id=str(TEACHER)
            )
            photo = Attachment(kind="photo", file_id=cdn.cdn_url(PNG + b"don thuoc"))
            api.fail_next("sendPhoto", 400, description="Bad Request: failed to get HTTP URL")
            await sender.deliver_attachment(to, photo, "Tin nhắn #4 về An: đơn thuốc", ())
            [sent] = api.sent(TEACHER)
            assert sent["method"] == "sendPhoto" and "đơn thuốc" in str(sent["caption"])
            upload = sent["params"]["photo"]  # the bytes uploaded, not the URL again
            assert getattr(upload, "data", b"").startswith(b"\x89PNG")

            # Gone from the CDN too: only the text goes.
            gone = Attachment(kind="photo", file_id=f"{cdn.url}/cdn/expired.jpg")
            api.fail_next("sendPhoto", 400, description="Bad Request: failed to get HTTP URL")
            await sender.deliver_attachment(to, gone, "Tin nhắn #5 ảnh hết hạn", ())
            last = api.sent(TEACHER)[-1]
            assert last["method"] == "sendMessage" and "ảnh hết hạn" in last["text"]

            # Over our own 10 MB limit: not uploaded (the download stops), the text goes.
            big = Attachment(kind="photo", file_id=cdn.cdn_url(PNG + bytes(11 << 20)))
            api.fail_next("sendPhoto", 400, description="Bad Request: failed to get HTTP URL")
            await sender.deliver_attachment(to, big, "Tin nhắn #6 ảnh quá lớn", ())
            last = api.sent(TEACHER)[-1]
            assert last["method"] == "sendMessage" and "ảnh quá lớn" in last["text"]
            assert len(api.sent(TEACHER)) == 3
