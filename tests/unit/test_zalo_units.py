"""Zalo adapters in process: update normalisation, webhook signatures, error translation,
OTP gateways (phone forms, errors, timeouts) and the settings, against loopback fakes."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.channels import zalo_bot, zalo_oa
from bot.channels.redact import redacted
from bot.config import ConfigError, load_settings
from bot.domain.errors import DeliveryFailedPermanently, DeliveryRetryLater, OtpDeliveryFailed
from bot.messages import Button, ConversationKey
from bot.otp_senders import FallbackOtpSender, SmsGatewayOtpSender, ZnsOtpSender
from tests.fakes.esms_gateway import FakeEsms
from tests.fakes.telegram_api import LoopbackServer
from tests.fakes.zalo_bot_api import FakeZaloBotApi
from tests.fakes.zalo_oa_api import FakeZaloOa, sign

TOKEN = "987654321:unit-secret"
KEY = ConversationKey(school_id="demo", channel="zalo_bot", chat_id="c" * 20, user_id="c" * 20)


# --- Zalo Bot: updates ------------------------------------------------------------------


def _message(text: str = "Xin chào", chat_type: str = "PRIVATE", **sender: Any) -> dict[str, Any]:
    return {
        "from": {"id": "u1", "display_name": "Ted", "is_bot": False, **sender},
        "chat": {"id": "u1" if chat_type == "PRIVATE" else "g1", "chat_type": chat_type},
        "text": text,
        "message_id": "2d758cb5e222177a4e35",
        "date": 1750316131602,
    }


def test_wrapped_and_flat_updates_normalise_the_same() -> None:
    flat = {"event_name": "message.text.received", "message": _message()}
    wrapped = {"ok": True, "result": flat}
    for payload in (flat, wrapped):
        update = zalo_bot.unwrap(payload)
        assert update is not None
        incoming = zalo_bot.normalize(update, school_id="demo")
        assert incoming is not None
        assert incoming.text == "Xin chào"
        assert (incoming.key.channel, incoming.key.chat_id) == ("zalo_bot", "u1")
        assert zalo_bot.event_key(update) == "message.text.received|2d758cb5e222177a4e35"
    assert zalo_bot.unwrap({"ok": True}) is None
    assert zalo_bot.unwrap([1, 2]) is None


def test_bots_group_stickers_and_unsupported_content() -> None:
    bot_msg = {"event_name": "message.text.received", "message": _message(is_bot=True)}
    assert zalo_bot.normalize(bot_msg, school_id="demo") is None
    group_sticker = {"event_name": "message.sticker.received", "message": _message("", "GROUP")}
    assert zalo_bot.normalize(group_sticker, school_id="demo") is None
    group_text = {"event_name": "message.text.received", "message": _message("/help", "GROUP")}
    incoming = zalo_bot.normalize(group_text, school_id="demo")
    assert incoming is not None and incoming.is_group and incoming.key.chat_id == "g1"
    # A private unsupported message (protected sender, a file …): empty text, help follows.
    private = {"event_name": "message.unsupported.received", "message": _message("ignored")}
    incoming = zalo_bot.normalize(private, school_id="demo")
    assert incoming is not None and incoming.text == ""


# --- Zalo Bot: API errors -----------------------------------------------------------------


@pytest.fixture
def fake_bot() -> Iterator[FakeZaloBotApi]:
    with FakeZaloBotApi(token=TOKEN) as fake:
        yield fake


async def test_sender_translates_platform_errors(fake_bot: FakeZaloBotApi) -> None:
    async with httpx.AsyncClient() as client:
        sender = zalo_bot.make_outbound_sender(client, base_url=fake_bot.url, token=TOKEN)
        buttons = ((Button(label="Duyệt", action="a", token="t1"),),)
        await sender.deliver(KEY, "Đơn xin nghỉ 12", buttons)
        assert fake_bot.sent[-1]["text"] == "Đơn xin nghỉ 12\n• Duyệt"
        await sender.deliver(KEY, "x" * 4500, ())  # split at 2,000 characters
        assert [len(p["text"]) for p in fake_bot.sent[-3:]] == [2000, 2000, 500]
        fake_bot.fail_next("sendMessage", 429)
        with pytest.raises(DeliveryRetryLater) as later:
            await sender.deliver(KEY, "a", ())
        assert later.value.after_seconds == 1.0
        fake_bot.fail_next("sendMessage", 502)
        with pytest.raises(DeliveryRetryLater):
            await sender.deliver(KEY, "a", ())
        fake_bot.fail_next("sendMessage", 400)
        with pytest.raises(DeliveryFailedPermanently):
            await sender.deliver(KEY, "a", ())
        bad = zalo_bot.make_outbound_sender(client, base_url=fake_bot.url, token="1:wrong")
        with pytest.raises(DeliveryRetryLater) as refused:
            await bad.deliver(KEY, "a", ())
        assert "wrong" not in refused.value.reason
    assert fake_bot.violations == []


async def test_api_retries_transient_errors_and_stops_on_a_bad_token(
    fake_bot: FakeZaloBotApi,
) -> None:
    async with httpx.AsyncClient() as client:
        api = zalo_bot.ZaloBotApi(client, base_url=fake_bot.url, token=TOKEN, backoff=(0.01,))
        fake_bot.fail_next("sendMessage", 503, count=2)
        await api.send_text("u1", "xin chào")
        assert fake_bot.sent_to("u1")[-1]["text"] == "xin chào"
        with pytest.raises(zalo_bot.ZaloBotError) as unknown:
            await api.call("sendNothing")
        assert unknown.value.code == 404
        with pytest.raises(zalo_bot.ZaloBotAuthError):
            await zalo_bot.ZaloBotApi(client, base_url=fake_bot.url, token="1:x").call("getMe")


# --- Zalo OA: signatures and events ---------------------------------------------------------


def test_signature_is_plain_sha256_of_first_body_timestamp_key() -> None:
    raw = b'{"event_name":"user_send_text"}'
    expected = hashlib.sha256(b"app1" + raw + b"1543908534" + b"key").hexdigest()
    assert zalo_oa.signature(raw, first="app1", timestamp="1543908534", key="key") == expected
    assert sign(raw, first="app1", timestamp="1543908534", key="key") == expected  # the fake


def _oa_channel(first: str = "app1", key: str | None = "oa-key") -> zalo_oa.ZaloOaChannel:
    async def handle(incoming: Any) -> list[Any]:
        return []

    return zalo_oa.ZaloOaChannel(
        None,  # type: ignore[arg-type]
        handle,
        school_id="demo",
        app_id="app1",
        signature_first=first,
        signature_key=key,
    )


def test_signature_check_is_configurable() -> None:
    event = {"timestamp": "1543908534", "event_name": "user_send_text"}
    raw = json.dumps(event).encode()
    by_app = zalo_oa.signature(raw, first="app1", timestamp="1543908534", key="oa-key")
    by_oa = zalo_oa.signature(raw, first="oa9", timestamp="1543908534", key="oa-key")
    channel = _oa_channel()
    assert channel.check_signature(raw, event, f"mac={by_app}")
    assert channel.check_signature(raw, event, by_app.upper())
    assert not channel.check_signature(raw, event, f"mac={by_oa}")
    assert not channel.check_signature(raw, event, "")
    assert not channel.check_signature(raw + b" ", event, f"mac={by_app}")  # exact bytes
    assert _oa_channel(first="oa9").check_signature(raw, event, f"mac={by_oa}")
    assert _oa_channel(key=None).check_signature(raw, event, "")  # verify_signature=false


def test_oa_events() -> None:
    text = {
        "app_id": "app1",
        "sender": {"id": "u9"},
        "event_name": "user_send_text",
        "message": {"text": "diem", "msg_id": "m1"},
        "timestamp": "1",
    }
    incoming = zalo_oa.to_incoming(text, school_id="demo")
    assert incoming is not None and incoming.key.chat_id == "u9" and incoming.text == "diem"
    assert zalo_oa.to_incoming({**text, "event_name": "user_send_image"}, school_id="demo") is None
    assert zalo_oa.event_key(text) == "msg|m1"
    follow = {"event_name": "follow", "follower": {"id": "u9"}, "timestamp": "2"}
    channel = _oa_channel()
    assert channel.submit(follow) is False and channel.followers == {"u9": True}
    assert channel.submit({**follow, "event_name": "unfollow", "timestamp": "3"}) is False
    assert channel.followers == {"u9": False}


# --- OTP gateways ----------------------------------------------------------------------------


@pytest.mark.parametrize("phone", ["0912345678", "+84912345678", "84912345678", "+84 912 345 678"])
async def test_esms_gets_the_national_form_and_zns_the_84_form(phone: str) -> None:
    with (
        FakeEsms(api_key="k", secret_key="s") as esms,
        FakeZaloOa(app_id="a", app_secret="b", oa_secret="c") as oa,
    ):
        async with httpx.AsyncClient() as client:
            sms = SmsGatewayOtpSender(
                client, style="esms", base_url=esms.url, api_key="k", secret_key="s", timeout=5
            )
            await sms.send(phone=phone, text="Ma xac nhan 123456, het han sau 5 phut")
            assert esms.sent[-1]["Phone"] == "0912345678"
            assert esms.sent[-1]["SmsType"] == "2"
            refresh = oa.issue_refresh_token()
            tokens = await zalo_oa.oauth_refresher(
                client, oauth_base_url=oa.url, app_id="a", app_secret="b"
            )(refresh)

            async def token() -> str:
                return tokens.access_token

            zns = ZnsOtpSender(client, base_url=oa.url, template_id="t1", token=token, timeout=5)
            await zns.send(phone=phone, text="Mã xác nhận 654321 (5 phút)")
            assert oa.zns_sent[-1]["phone"] == "84912345678"
            assert oa.zns_sent[-1]["template_data"] == {"otp": "654321"}


async def test_gateway_errors_and_timeouts_are_not_sent(caplog: pytest.LogCaptureFixture) -> None:
    with (
        FakeEsms(api_key="k", secret_key="s") as esms,
        FakeZaloOa(app_id="a", app_secret="b", oa_secret="c") as oa,
    ):
        async with httpx.AsyncClient() as client:
            sms = SmsGatewayOtpSender(
                client, style="esms", base_url=esms.url, api_key="k", secret_key="wrong", timeout=1
            )
            with pytest.raises(OtpDeliveryFailed):  # CodeResult 101
                await sms.send(phone="0912345678", text="code 111111")
            good = SmsGatewayOtpSender(
                client, style="esms", base_url=esms.url, api_key="k", secret_key="s", timeout=0.5
            )
            esms.fail_next("100", hang=2)
            with pytest.raises(OtpDeliveryFailed):  # timeout
                await good.send(phone="0912345678", text="code 222222")
            with pytest.raises(OtpDeliveryFailed):  # not a Vietnamese mobile number
                await good.send(phone="12345", text="code 333333")

            async def no_token() -> str:
                return "not-a-token"

            zns = ZnsOtpSender(client, base_url=oa.url, template_id="t", token=no_token, timeout=1)
            with pytest.raises(OtpDeliveryFailed):  # -124
                await zns.send(phone="0912345678", text="code 444444")
            # ZNS -133 (night) falls back to SMS; a ZNS error SMS cannot fix does not.
            both = FallbackOtpSender(zns, good)
            oa.fail_zns(-133)
            await both.send(phone="0912345678", text="code 555555")
            assert esms.sent[-1]["Content"] == "code 555555"
            oa.fail_zns(-131)  # template not approved
            with pytest.raises(OtpDeliveryFailed):
                await both.send(phone="0912345678", text="code 666666")
    for code in ("111111", "222222", "333333", "444444", "555555", "666666", "0912345678"):
        assert code not in caplog.text


class _SpeedSms(LoopbackServer):
    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, Any], str]] = []
        super().__init__(
            Starlette(routes=[Route("/index.php/sms/send", self._send, methods=["POST"])])
        )

    async def _send(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.requests.append((body, request.headers.get("authorization", "")))
        if body["to"] == ["84900000000"]:
            return JSONResponse({"status": "error", "code": "007", "message": "invalid phone"})
        return JSONResponse({"status": "success", "code": "00", "data": {"tranId": 1}})


async def test_speedsms_style() -> None:
    with _SpeedSms() as gateway:
        async with httpx.AsyncClient() as client:
            sms = SmsGatewayOtpSender(
                client,
                style="speedsms",
                base_url=gateway.url,
                api_key="tok",
                brandname="B",
                timeout=5,
            )
            await sms.send(phone="0912345678", text="code 123456")
            body, auth = gateway.requests[-1]
            assert body["to"] == ["84912345678"] and body["sms_type"] == 3
            assert auth.startswith("Basic ")
            with pytest.raises(OtpDeliveryFailed):
                await sms.send(phone="0900000000", text="code 123456")


# --- settings ----------------------------------------------------------------------------------


def test_settings_names_and_one_sentence_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LIENLAC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LIENLAC_ZALO_BOT__TOKEN", TOKEN)
    monkeypatch.setenv("LIENLAC_ZALO_BOT__API_BASE_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("LIENLAC_ZALO_OA__APP_ID", "app1")
    monkeypatch.setenv("LIENLAC_ZALO_OA__APP_SECRET", "s")
    monkeypatch.setenv("LIENLAC_ZALO_OA__OA_SECRET", "o")
    monkeypatch.setenv("LIENLAC_ZALO_OA__REFRESH_TOKEN", "r")
    monkeypatch.setenv("LIENLAC_ZALO_OA__API_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LIENLAC_ZALO_OA__OAUTH_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LIENLAC_OTP__PROVIDER", "zns")
    monkeypatch.setenv("LIENLAC_OTP__ZNS__TEMPLATE_ID", "t1")
    settings = load_settings()
    assert settings.zalo_bot.api_base_url == "http://127.0.0.1:9"
    assert settings.zalo_oa.enabled and settings.otp.zns.template_id == "t1"
    monkeypatch.setenv("LIENLAC_OTP__PROVIDER", "sms")
    with pytest.raises(ConfigError, match="LIENLAC_OTP__SMS__API_KEY"):
        load_settings()
    monkeypatch.setenv("LIENLAC_OTP__PROVIDER", "console")
    monkeypatch.delenv("LIENLAC_ZALO_OA__OA_SECRET")
    with pytest.raises(ConfigError, match="LIENLAC_ZALO_OA__OA_SECRET"):
        load_settings()
    monkeypatch.setenv("LIENLAC_ZALO_OA__SIGNATURE_KEY", "app_secret")
    assert load_settings().zalo_oa.signature_key == "app_secret"


def test_redaction_filter_blanks_the_token(caplog: pytest.LogCaptureFixture) -> None:
    handler = logging.StreamHandler()
    logging.getLogger().addHandler(handler)
    try:
        with redacted(TOKEN):
            record = logging.LogRecord("x", logging.INFO, "", 0, "url /bot%s/getMe", (TOKEN,), None)
            for f in handler.filters:
                f.filter(record)  # type: ignore[union-attr]
            assert TOKEN not in record.getMessage() and "unit-secret" not in record.getMessage()
    finally:
        logging.getLogger().removeHandler(handler)


def test_a_photo_or_file_from_zalo_becomes_an_attachment_by_its_url() -> None:
    """Issue 17: the platform's URL travels as the reference, never in a repr (logs)."""
    fake_bot = FakeZaloBotApi(token="1:x")
    update = fake_bot.update("c" * 20, "", event="message.image.received")
    update["message"] |= {"photo_url": "https://zalo-cdn.example/p.jpg", "caption": "đơn thuốc"}
    got = zalo_bot.normalize(update, school_id="demo")
    assert got is not None and got.text == "đơn thuốc" and got.attachment is not None
    assert got.attachment.kind == "photo"
    assert got.attachment.file_id == "https://zalo-cdn.example/p.jpg"
    assert "zalo-cdn" not in repr(got)
    sticker = fake_bot.update("c" * 20, "", event="message.sticker.received")
    assert (zalo_bot.normalize(sticker, school_id="demo") or got).attachment is None

    oa = FakeZaloOa(app_id="a", app_secret="s", oa_secret="o")
    image = zalo_oa.to_incoming(oa.file_event("812", "image"), school_id="demo")
    assert image is not None and image.attachment is not None and image.text == ""
    assert image.attachment.kind == "photo" and image.attachment.file_id.startswith("https://")
    pdf = zalo_oa.to_incoming(
        oa.file_event("812", "file", text="giấy khám", size=2048), school_id="demo"
    )
    assert pdf is not None and pdf.attachment is not None and pdf.text == "giấy khám"
    assert (pdf.attachment.kind, pdf.attachment.mime, pdf.attachment.size) == (
        "document",
        "application/pdf",
        2048,
    )
    exe = zalo_oa.to_incoming(oa.file_event("812", "file", file_type="exe"), school_id="demo")
    assert exe is not None and exe.attachment is not None
    assert exe.attachment.mime == "application/octet-stream"  # refused by the limits
    empty = oa.file_event("812", "image")
    empty["message"]["attachments"] = []
    assert zalo_oa.to_incoming(empty, school_id="demo") is None
