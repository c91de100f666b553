"""Issue 17: a photo or file passed on between two users of one Zalo bot or OA, against the
loopback fakes (each serves its own "CDN" for what users sent). The Zalo Bot sends a photo by
its URL with the text as its caption; the OA sends the text, then the photo by its URL in a
media message, or a PDF fetched (at most 5 MB) and uploaded. What cannot go leaves its link
under the text, never silence, and never the text twice."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import httpx
import pytest

from bot.channels.zalo_bot import ZaloBotApi, ZaloBotSender
from bot.channels.zalo_oa import ZaloOaApi, ZaloOaSender, oauth_refresher
from bot.domain.errors import DeliveryFailedPermanently
from bot.messages import Attachment, ConversationKey
from bot.oa_tokens import OaTokenManager
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.oa_tokens import SqlOaTokenStore
from tests.fakes.zalo_bot_api import PNG, FakeZaloBotApi
from tests.fakes.zalo_oa_api import FakeZaloOa

pytestmark = pytest.mark.integration

TOKEN = "777:files-secret"
APP_ID, APP_SECRET, OA_SECRET = "3141592653", "app-secret", "oa-secret"
PHOTO = PNG + b"anh giay kham benh"
PDF = b"%PDF-1.4 giay xac nhan cua benh vien"
TEACHER_BOT = ConversationKey(school_id="demo", channel="zalo_bot", chat_id="t" * 20, user_id="t")
TEACHER_OA = ConversationKey(school_id="demo", channel="zalo_oa", chat_id="u-gv", user_id="u-gv")


@pytest.fixture
def zalo() -> Iterator[FakeZaloBotApi]:
    with FakeZaloBotApi(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def oa() -> Iterator[FakeZaloOa]:
    with FakeZaloOa(app_id=APP_ID, app_secret=APP_SECRET, oa_secret=OA_SECRET) as fake:
        yield fake


async def test_a_photo_between_two_zalo_bot_users_goes_with_the_text_as_its_caption(
    zalo: FakeZaloBotApi,
) -> None:
    async with httpx.AsyncClient(timeout=5.0) as client:
        sender = ZaloBotSender(ZaloBotApi(client, base_url=zalo.url, token=TOKEN))
        photo = Attachment(kind="photo", file_id=zalo.cdn_url(PHOTO), mime="image/jpeg")
        card = "💬 Tin nhắn #1 từ Mẹ của Nguyễn Minh An (6A):\nẢnh đơn thuốc của cháu"
        await sender.deliver_attachment(TEACHER_BOT, photo, card, ())
        [sent] = zalo.photos
        assert sent["chat_id"] == TEACHER_BOT.chat_id and sent["png"] == PHOTO
        assert sent["caption"] == card
        assert zalo.sent == []  # one message: the photo with its caption

        # longer than a caption may be: the text first, then the photo alone
        long = card + "\n" + "x" * 2100
        await sender.deliver_attachment(TEACHER_BOT, photo, long, ())
        sent_text = "".join(m["text"] for m in zalo.sent)
        assert sent_text.replace("\n", "") == long.replace("\n", "")  # in parts, all of it
        assert zalo.photos[-1]["caption"] == ""

        # the link expired (Zalo cannot fetch it): the text still goes, once
        gone = Attachment(kind="photo", file_id=f"{zalo.url}/cdn/expired.png")
        await sender.deliver_attachment(TEACHER_BOT, gone, "Tin nhắn #2: ảnh", ())
        assert zalo.sent[-1]["text"] == "Tin nhắn #2: ảnh"
        assert len(zalo.photos) == 2

        # a file from the OA: the Zalo Bot sends no files, its link goes under the text
        pdf = Attachment(kind="document", file_id="https://zalo-cdn.example/g.pdf", name="giay.pdf")
        await sender.deliver_attachment(TEACHER_BOT, pdf, "Tin nhắn #3", ())
        assert zalo.sent[-1]["text"] == "Tin nhắn #3\n📎 giay.pdf: https://zalo-cdn.example/g.pdf"

        # a chat that is gone is no photo's fault: the relay learns it
        zalo.fail_next("sendPhoto", 404)
        with pytest.raises(DeliveryFailedPermanently):
            await sender.deliver_attachment(TEACHER_BOT, photo, "Tin nhắn #4", ())


async def test_a_photo_and_a_pdf_between_two_oa_users(database_url: str, oa: FakeZaloOa) -> None:
    engine = create_engine(database_url)
    await upgrade(engine)

    class Clock:
        def now(self) -> dt.datetime:
            return dt.datetime.now(dt.UTC)

    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            tokens = OaTokenManager(
                SqlOaTokenStore(engine),
                oauth_refresher(
                    client, oauth_base_url=oa.url, app_id=APP_ID, app_secret=APP_SECRET
                ),
                school_id="demo",
                clock=Clock(),
                worker="w",
            )
            await tokens.seed(app_id=APP_ID, refresh_token=oa.issue_refresh_token())
            sender = ZaloOaSender(ZaloOaApi(client, base_url=oa.url, tokens=tokens))

            photo = Attachment(kind="photo", file_id=oa.cdn_url(PHOTO, "a.jpg"))
            await sender.deliver_attachment(TEACHER_OA, photo, "Tin nhắn #1: ảnh", ())
            assert oa.cs_sent[-1] == {"user_id": "u-gv", "text": "Tin nhắn #1: ảnh"}
            assert oa.images_to("u-gv") == [PHOTO]

            pdf = Attachment(
                kind="document",
                file_id=oa.cdn_url(PDF, "giay.pdf"),
                name="giay.pdf",
                mime="application/pdf",
                size=len(PDF),
            )
            await sender.deliver_attachment(TEACHER_OA, pdf, "Tin nhắn #2: giấy khám", ())
            assert oa.cs_sent[-1]["text"] == "Tin nhắn #2: giấy khám"
            assert [f["data"] for f in oa.cs_files] == [PDF]

            # over the OA's 5 MB: not fetched past the limit; its link goes under the text
            big_url = oa.cdn_url(b"%PDF" + b"0" * (5 * 1024 * 1024), "scan.pdf")
            big = Attachment(
                kind="document", file_id=big_url, name="scan.pdf", mime="application/pdf"
            )
            await sender.deliver_attachment(TEACHER_OA, big, "Tin nhắn #3", ())
            assert oa.cs_sent[-1]["text"] == f"Tin nhắn #3\n📎 scan.pdf: {big_url}"
            assert len(oa.cs_files) == 1

            # a photo whose link expired: the text went; its link follows, the text not twice
            gone = Attachment(kind="photo", file_id=f"{oa.url}/cdn/expired.jpg", name="a.jpg")
            await sender.deliver_attachment(TEACHER_OA, gone, "Tin nhắn #4", ())
            texts = [m["text"] for m in oa.cs_sent]
            assert texts.count("Tin nhắn #4") == 1
            assert len(oa.images_to("u-gv")) == 1
    finally:
        await engine.dispose()
