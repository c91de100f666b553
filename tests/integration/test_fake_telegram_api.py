"""Tests of the fake Telegram Bot API server itself (tests/fakes/telegram_api.py).

Driven with the real python-telegram-bot 22.8 ``telegram.Bot`` pointed at the fake through its
``base_url`` and with raw httpx, all on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import telegram
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import (
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyKeyboardMarkup,
)

from tests.fakes.telegram_api import FakeTelegramApi, LoopbackServer
from tests.fakes.telegram_spec import SPEC_PATH, SPEC_VERSION, TelegramSpec, plain_text

pytestmark = pytest.mark.integration

TOKEN = "123456789:AAF-fake_token-for-tests"
CHAT = 424242
DIEM_BYTES = len("điểm".encode())  # 7: đ and ể take 2 and 3 bytes


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22.8 warns (PTBDeprecationWarning) inside RetryAfter() unless this is set; with
    # filterwarnings=error that warning would replace the RetryAfter exception.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@pytest.fixture
def api() -> Iterator[FakeTelegramApi]:
    with FakeTelegramApi(token=TOKEN, username="lienlac_test_bot") as fake:
        yield fake


@pytest.fixture
async def bot(api: FakeTelegramApi) -> AsyncIterator[telegram.Bot]:
    async with telegram.Bot(TOKEN, base_url=api.base_url) as ptb_bot:
        yield ptb_bot


@pytest.fixture
async def client(api: FakeTelegramApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{api.base_url}{TOKEN}/", trust_env=False) as http:
        yield http


def keyboard(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data) for text, data in row] for row in rows]
    )


# -- basics ------------------------------------------------------------------------------------


def test_spec_fixture_is_the_pinned_version() -> None:
    data = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    assert data["version"] == SPEC_VERSION == "Bot API 10.1"
    assert (SPEC_PATH.parent / "telegram-bot-api.LICENSE").read_text().startswith("MIT License")
    spec = TelegramSpec.load()
    assert len(spec.methods) == 180
    assert spec.canonical_method("SENDMESSAGE") == "sendMessage"


def test_listens_on_loopback_with_a_free_port(api: FakeTelegramApi) -> None:
    assert api.url == f"http://127.0.0.1:{api.port}"
    assert api.base_url == f"http://127.0.0.1:{api.port}/bot"
    assert api.port > 0
    assert api.spec_version == SPEC_VERSION


async def test_get_me_through_ptb(api: FakeTelegramApi, bot: telegram.Bot) -> None:
    me = await bot.get_me()
    assert me.id == 123456789
    assert me.is_bot
    assert me.username == bot.username == "lienlac_test_bot"
    assert [c.method for c in api.calls] == ["getMe", "getMe"]  # initialize() called it too
    assert TelegramSpec.load().validate_object(api.requests[0].response["result"], "User") == []
    assert api.violations == []


async def test_send_message_with_inline_keyboard_is_valid(
    api: FakeTelegramApi, bot: telegram.Bot
) -> None:
    markup = keyboard([("Duyệt", "ab:7f3k2"), ("Từ chối", "ab:7f3k3")], [("Xem", "v:1")])
    first = await bot.send_message(
        CHAT, "Đơn xin nghỉ của em <b>Lan</b>", "HTML", reply_markup=markup
    )
    second = await bot.send_message(CHAT, "Tin thứ hai")

    assert api.violations == []
    assert second.message_id == first.message_id + 1
    assert first.text == "Đơn xin nghỉ của em Lan"  # markup removed, as Telegram does
    assert first.chat.id == CHAT
    assert first.reply_markup == markup
    sent = api.sent(CHAT)
    assert [r["method"] for r in sent] == ["sendMessage", "sendMessage"]
    assert sent[0]["text"] == "Đơn xin nghỉ của em <b>Lan</b>"
    assert sent[0]["plain_text"] == "Đơn xin nghỉ của em Lan"
    assert sent[0]["reply_markup"]["inline_keyboard"][0][0] == {
        "text": "Duyệt",
        "callback_data": "ab:7f3k2",
    }
    assert sent[0]["time"] <= sent[1]["time"] <= time.monotonic()
    message = api.requests[-2].response["result"]
    assert TelegramSpec.load().validate_object(message, "Message") == []


async def test_reply_keyboard_and_vietnamese_text_at_the_limit(
    api: FakeTelegramApi, bot: telegram.Bot
) -> None:
    await bot.send_message(CHAT, "ệ" * 4096)  # 4096 characters, 12288 bytes: fine
    await bot.send_message(
        CHAT, "Chọn lớp", reply_markup=ReplyKeyboardMarkup([["6A", "6B"]], resize_keyboard=True)
    )
    assert api.violations == []


async def test_text_over_4096_characters_is_a_violation(
    api: FakeTelegramApi, bot: telegram.Bot
) -> None:
    with pytest.raises(telegram.error.BadRequest, match="too long"):
        await bot.send_message(CHAT, "a" * 4097)
    assert len(api.violations) == 1
    assert "4097" in api.violations[0]
    assert api.violations[0].startswith("sendMessage: Bad Request: message is too long")
    assert api.sent(CHAT) == []


async def test_callback_data_is_counted_in_utf8_bytes(
    api: FakeTelegramApi, bot: telegram.Bot
) -> None:
    fits = "điểm" * 9 + "a"  # 9 * 7 + 1 = 64 bytes, only 37 characters
    too_long = "điểm" * 9 + "ab"  # 65 bytes
    assert len(fits.encode()) == 64 == 9 * DIEM_BYTES + 1
    await bot.send_message(CHAT, "Điểm", reply_markup=keyboard([("Xem", fits)]))
    assert api.violations == []

    with pytest.raises(telegram.error.BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(CHAT, "Điểm", reply_markup=keyboard([("Xem", too_long)]))
    assert len(api.violations) == 1
    assert "callback_data must be 1-64 bytes, got 65" in api.violations[0]


async def test_keyboard_limits(api: FakeTelegramApi, bot: telegram.Bot) -> None:
    nine = [(str(i), f"d{i}") for i in range(9)]
    with pytest.raises(telegram.error.BadRequest):
        await bot.send_message(CHAT, "x", reply_markup=keyboard(nine))
    rows = [[(f"{r}.{c}", f"d{r}.{c}") for c in range(8)] for r in range(13)]  # 104 buttons
    with pytest.raises(telegram.error.BadRequest):
        await bot.send_message(CHAT, "x", reply_markup=keyboard(*rows))
    assert "at most 8 per row" in api.violations[0]
    assert "104 buttons, at most 100" in api.violations[1]


async def test_answer_callback_query_text_limit(api: FakeTelegramApi, bot: telegram.Bot) -> None:
    sent = await bot.send_message(CHAT, "Duyệt?", reply_markup=keyboard([("Duyệt", "ok:1")]))
    api.inject_callback(CHAT, "ok:1", sent.message_id)
    (update,) = await bot.get_updates()
    with pytest.raises(telegram.error.BadRequest):
        await bot.answer_callback_query(update.callback_query.id, "x" * 201)
    await bot.answer_callback_query(update.callback_query.id, "Đã duyệt " + "✓" * 191)
    assert len(api.violations) == 1
    assert "answerCallbackQuery" in api.violations[0]
    (answer,) = api.callback_answers
    assert answer["data"] == "ok:1"
    assert answer["message_id"] == sent.message_id


async def test_markup_that_telegram_cannot_parse(api: FakeTelegramApi, bot: telegram.Bot) -> None:
    with pytest.raises(telegram.error.BadRequest, match="can't parse entities"):
        await bot.send_message(CHAT, "Lớp 6A<br>Điểm", parse_mode="HTML")
    with pytest.raises(telegram.error.BadRequest, match="reserved"):
        await bot.send_message(CHAT, "Điểm trung bình: 8.5", parse_mode="MarkdownV2")
    await bot.send_message(CHAT, "*Điểm* trung bình: 8\\.5", parse_mode="MarkdownV2")
    assert len(api.violations) == 2
    assert api.sent(CHAT)[0]["plain_text"] == "Điểm trung bình: 8.5"
    assert plain_text("a &lt;b&gt; <i>c</i>", "HTML") == "a <b> c"


# -- raw HTTP ----------------------------------------------------------------------------------


async def test_unknown_field_is_a_violation(
    api: FakeTelegramApi, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        "sendMessage", data={"chat_id": "1", "text": "hi", "colour": "red"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["ok"] is False
    assert body["error_code"] == 400
    assert body["description"].startswith("Bad Request: ")
    assert api.violations == [
        'sendMessage: Bad Request: unknown parameter "colour" for method sendMessage'
    ]


async def test_missing_chat_id_is_a_violation(
    api: FakeTelegramApi, client: httpx.AsyncClient
) -> None:
    response = await client.post("sendMessage", data={"text": "hi"})
    assert response.status_code == 400
    assert 'parameter "chat_id" is required' in response.json()["description"]
    assert len(api.violations) == 1


async def test_wrong_nested_type_is_a_violation(
    api: FakeTelegramApi, client: httpx.AsyncClient
) -> None:
    markup = json.dumps({"inline_keyboard": [[{"text": "a", "callback_data": 5}]]})
    response = await client.post(
        "sendMessage", data={"chat_id": "1", "text": "x", "reply_markup": markup}
    )
    assert response.status_code == 400
    assert "callback_data must be of type String" in api.violations[0]


async def test_routing_tokens_and_method_names(
    api: FakeTelegramApi, client: httpx.AsyncClient
) -> None:
    ok = await client.post("SENDMESSAGE", data={"chat_id": "1", "text": "hoa thường"})
    assert ok.json()["ok"] is True
    assert api.calls[-1].method == "sendMessage"

    missing = await client.post("sendTelepathy", data={"chat_id": "1"})
    assert missing.status_code == 404
    assert missing.json() == {
        "ok": False,
        "error_code": 404,
        "description": "Not Found: method not found",
    }

    async with httpx.AsyncClient(trust_env=False) as other:
        unauthorized = await other.post(f"{api.base_url}999:WRONG/getMe")
    assert unauthorized.status_code == 401
    assert unauthorized.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}


async def test_json_and_multipart_bodies(api: FakeTelegramApi, client: httpx.AsyncClient) -> None:
    as_json = await client.post(
        "sendMessage",
        json={"chat_id": 7, "text": "json", "reply_markup": {"inline_keyboard": []}},
    )
    assert as_json.json()["result"]["text"] == "json"
    upload = await client.post(
        "sendDocument",
        data={"chat_id": "7", "caption": "Bảng điểm"},
        files={"document": ("bang-diem.csv", "Họ tên;Điểm\n".encode(), "text/csv")},
    )
    document = upload.json()["result"]["document"]
    assert document["file_name"] == "bang-diem.csv"
    assert upload.json()["result"]["caption"] == "Bảng điểm"
    assert api.violations == []
    params = api.calls_to("sendDocument")[0].params
    assert params["chat_id"] == 7
    assert params["document"].data == "Họ tên;Điểm\n".encode()

    got = await client.post("getFile", data={"file_id": document["file_id"]})
    async with httpx.AsyncClient(trust_env=False) as files:
        content = await files.get(f"{api.base_file_url}{TOKEN}/{got.json()['result']['file_path']}")
    assert content.content == "Họ tên;Điểm\n".encode()


async def test_send_photo_via_ptb_multipart(api: FakeTelegramApi, bot: telegram.Bot) -> None:
    message = await bot.send_photo(CHAT, b"\x89PNG\r\n\x1a\n fake", caption="Ảnh lớp")
    again = await bot.send_photo(CHAT, message.photo[-1].file_id)
    assert message.caption == "Ảnh lớp"
    assert again.photo[-1].file_id == message.photo[-1].file_id
    assert api.violations == []


async def test_media_group_uploads_use_attach_references(
    api: FakeTelegramApi, bot: telegram.Bot
) -> None:
    media = [
        telegram.InputMediaPhoto(b"\x89PNG one", caption="Trang 1"),
        telegram.InputMediaPhoto(b"\x89PNG two", caption="Trang 2"),
    ]
    messages = await bot.send_media_group(CHAT, media)
    assert [m.caption for m in messages] == ["Trang 1", "Trang 2"]
    assert api.violations == []


# -- getUpdates --------------------------------------------------------------------------------


async def test_long_poll_returns_an_injected_message(
    api: FakeTelegramApi, bot: telegram.Bot
) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await api.await_call("getUpdates")
    await asyncio.sleep(0.1)
    assert not poll.done()  # really waiting
    update_id = api.inject_message(CHAT, "Xin chào cô", first_name="Bình")
    (update,) = await poll
    assert time.monotonic() - started < 3
    assert isinstance(update, telegram.Update)
    assert update.update_id == update_id
    assert update.message.text == "Xin chào cô"
    assert update.message.from_user.first_name == "Bình"
    assert update.message.from_user.language_code == "vi"
    assert update.effective_chat.type == "private"


async def test_long_poll_times_out_empty(bot: telegram.Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert 0.9 <= time.monotonic() - started < 3


async def test_offset_confirms_updates(api: FakeTelegramApi, bot: telegram.Bot) -> None:
    first = api.inject_message(CHAT, "/start")
    second = api.inject_message(CHAT, "một")
    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == [first, second]
    assert updates[0].message.entities[0].type == "bot_command"
    # Not confirmed yet: delivered again.
    assert [u.update_id for u in await bot.get_updates()] == [first, second]
    assert [u.update_id for u in await bot.get_updates(offset=second)] == [second]
    assert await bot.get_updates(offset=second + 1) == ()
    assert api.pending_updates() == []
    third = api.inject_message(CHAT, "hai")
    assert [u.update_id for u in await bot.get_updates(offset=second + 1)] == [third]


async def test_a_newer_get_updates_terminates_the_older(
    api: FakeTelegramApi, client: httpx.AsyncClient
) -> None:
    older = asyncio.create_task(client.post("getUpdates", data={"timeout": "5"}))
    await api.await_call("getUpdates")
    newer = await client.post("getUpdates", data={"timeout": "0"})
    assert newer.json() == {"ok": True, "result": []}
    assert (await older).status_code == 409


async def test_callback_update_and_edits(api: FakeTelegramApi, bot: telegram.Bot) -> None:
    sent = await bot.send_message(CHAT, "Đơn nghỉ học", reply_markup=keyboard([("Duyệt", "a:1")]))
    update_id = api.press_button(CHAT, "Duyệt", user_id=777)
    (update,) = await bot.get_updates()
    query = update.callback_query
    assert update.update_id == update_id
    assert query.data == "a:1"
    assert query.from_user.id == 777
    assert query.message.message_id == sent.message_id
    assert query.message.reply_markup == sent.reply_markup
    await query.answer("Đã duyệt")

    edited = await bot.edit_message_text("Đơn nghỉ học: đã duyệt", CHAT, sent.message_id)
    assert edited.reply_markup is None  # editing text without reply_markup drops the keyboard
    with pytest.raises(telegram.error.BadRequest, match="not modified"):
        await bot.edit_message_text("Đơn nghỉ học: đã duyệt", CHAT, sent.message_id)
    with pytest.raises(telegram.error.BadRequest, match="not found"):
        await bot.edit_message_reply_markup(CHAT, 999, reply_markup=keyboard([("x", "y")]))
    assert await bot.delete_message(CHAT, sent.message_id)
    assert api.violations == []  # state errors are rejections, not spec violations
    assert len(api.rejections) == 2
    assert [r["method"] for r in api.sent(CHAT)] == [
        "sendMessage",
        "editMessageText",
        "deleteMessage",
    ]
    assert api.chat_messages(CHAT) == []
    assert api.callback_answers[0]["text"] == "Đã duyệt"


async def test_forged_and_duplicate_updates(api: FakeTelegramApi, bot: telegram.Bot) -> None:
    raw = {
        "update_id": 5000,
        "message": {
            "message_id": 1,
            "date": 1_700_000_000,
            "chat": {"id": CHAT, "type": "private", "first_name": "Giả"},
            "from": {"id": CHAT, "is_bot": False, "first_name": "Giả"},
            "text": "giả mạo",
        },
    }
    assert api.inject_update(raw) == 5000
    assert api.inject_update(raw) == 5000
    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == [5000, 5000]
    assert api.inject_message(CHAT, "sau") > 5000


# -- faults ------------------------------------------------------------------------------------


async def test_429_makes_ptb_raise_retry_after(api: FakeTelegramApi, bot: telegram.Bot) -> None:
    api.fail_next("sendMessage", 429, retry_after=7)
    with pytest.raises(telegram.error.RetryAfter) as caught:
        await bot.send_message(CHAT, "một")
    assert caught.value.retry_after == dt.timedelta(seconds=7)
    response = api.requests[-1]
    assert response.status == 429
    assert response.response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    await bot.send_message(CHAT, "gửi lại quá sớm")
    assert len(api.retry_after_violations) == 1
    assert "retry_after=7" in api.retry_after_violations[0]
    assert api.violations == []


async def test_waiting_out_retry_after_is_no_violation(
    api: FakeTelegramApi, bot: telegram.Bot
) -> None:
    api.fail_next("*", 429, retry_after=1)
    with pytest.raises(telegram.error.RetryAfter):
        await bot.send_message(CHAT, "một")
    await bot.get_updates()  # polling is exempt
    await asyncio.sleep(1.05)
    await bot.send_message(CHAT, "một")
    assert api.retry_after_violations == []
    assert [r["retry_after"] for r in api.rate_limits] == [1]


async def test_server_errors_and_counts(api: FakeTelegramApi, bot: telegram.Bot) -> None:
    api.fail_next("sendMessage", 502, count=2)
    for _ in range(2):
        with pytest.raises(telegram.error.NetworkError, match="Bad Gateway"):
            await bot.send_message(CHAT, "x")
    await bot.send_message(CHAT, "x")
    api.fail_next("sendMessage", 502, body="<html>502 Bad Gateway</html>")
    with pytest.raises(telegram.error.NetworkError, match="Parsing the server response"):
        await bot.send_message(CHAT, "x")
    assert len(api.sent(CHAT)) == 1
    assert api.rejections == []  # injected errors are not rejections


async def test_blocked_chat_raises_forbidden(api: FakeTelegramApi, bot: telegram.Bot) -> None:
    api.block_chat(CHAT)
    with pytest.raises(telegram.error.Forbidden, match="bot was blocked by the user"):
        await bot.send_message(CHAT, "Thông báo")
    await bot.send_message(CHAT + 1, "Người khác vẫn nhận được")
    api.unblock_chat(CHAT)
    await bot.send_message(CHAT, "Thông báo")
    assert len(api.sent(CHAT)) == 1


async def test_slow_answers_make_ptb_time_out(api: FakeTelegramApi, bot: telegram.Bot) -> None:
    api.delay("sendMessage", 2.0, count=1)
    with pytest.raises(telegram.error.TimedOut):
        await bot.send_message(CHAT, "chậm", read_timeout=0.3)
    await bot.send_message(CHAT, "nhanh", read_timeout=2)


# -- webhook -----------------------------------------------------------------------------------


class Receiver:
    """A tiny webhook endpoint that checks the secret header like the real bot must."""

    def __init__(self, secret: str, statuses: list[int] | None = None) -> None:
        self.secret = secret
        self.statuses = list(statuses or [])
        self.received: list[tuple[str | None, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.server = LoopbackServer(
            Starlette(routes=[Route("/tg/webhook", self.handle, methods=["POST"])]),
            name="webhook-receiver",
        )

    async def handle(self, request: Request) -> Response:
        header = request.headers.get("x-telegram-bot-api-secret-token")
        with self.lock:
            self.received.append((header, await request.json()))
            if not hmac.compare_digest((header or "").encode(), self.secret.encode()):
                return Response(status_code=403)
            status = self.statuses.pop(0) if self.statuses else 200
        return Response(status_code=status)


async def test_webhook_delivery_with_secret(api: FakeTelegramApi, bot: telegram.Bot) -> None:
    receiver = Receiver("s3cr3t_Token-1", statuses=[500])
    async with receiver.server:
        url = f"{receiver.server.url}/tg/webhook"
        assert await bot.set_webhook(
            url, secret_token="s3cr3t_Token-1", allowed_updates=["message"]
        )
        assert api.webhook()["secret_token"] == "s3cr3t_Token-1"
        info = await bot.get_webhook_info()
        assert info.url == url
        with pytest.raises(telegram.error.Conflict):
            await bot.get_updates()

        update_id = api.inject_message(CHAT, "qua webhook")
        # the fake records a delivery once its answer is back, after the receiver saw it
        await api.await_until(
            lambda: len(receiver.received) >= 2 and len(api.webhook_deliveries) >= 2,
            what="a retried delivery",
        )
        assert [status for status in (d["status"] for d in api.webhook_deliveries)] == [500, 200]
        for header, update in receiver.received:
            assert header == "s3cr3t_Token-1"
            assert update["update_id"] == update_id
            assert update["message"]["text"] == "qua webhook"
        assert api.pending_updates() == []

        forged = {"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": {"id": 1}}}
        assert await api.apost_update_to_webhook(forged, secret="wrong") == 403
        assert await api.apost_update_to_webhook(forged, secret=None) == 403
        assert await api.apost_update_to_webhook(forged) == 200

        assert await bot.delete_webhook(drop_pending_updates=True)
        assert await bot.get_updates() == ()
    assert api.violations == []
    assert any("can't use getUpdates" in r for r in api.rejections)


async def test_webhook_outside_loopback_only_holds_updates(
    api: FakeTelegramApi, bot: telegram.Bot
) -> None:
    await bot.set_webhook("https://bot.example.org/tg", secret_token="abc")
    api.inject_message(CHAT, "giữ lại")
    await asyncio.sleep(0.1)
    assert api.webhook_deliveries == []
    assert (await bot.get_webhook_info()).pending_update_count == 1
    assert await bot.set_webhook("https://bot.example.org/tg", drop_pending_updates=True)
    assert (await bot.get_webhook_info()).pending_update_count == 0


# -- commands, chats, several bots ---------------------------------------------------------------


async def test_my_commands_per_language_and_scope(api: FakeTelegramApi, bot: telegram.Bot) -> None:
    await bot.set_my_commands(
        [BotCommand("diem", "Xem điểm"), BotCommand("nghi", "Xin nghỉ")], language_code="vi"
    )
    await bot.set_my_commands([BotCommand("grades", "Show grades")], language_code="en")
    await bot.set_my_commands([BotCommand("duyet", "Duyệt đơn")], scope=BotCommandScopeChat(CHAT))
    assert api.commands("vi") == [
        {"command": "diem", "description": "Xem điểm"},
        {"command": "nghi", "description": "Xin nghỉ"},
    ]
    assert api.commands("en") == [{"command": "grades", "description": "Show grades"}]
    assert api.commands() is None
    assert api.commands(scope={"type": "chat", "chat_id": CHAT}) == [
        {"command": "duyet", "description": "Duyệt đơn"}
    ]
    assert [c.command for c in await bot.get_my_commands(language_code="vi")] == ["diem", "nghi"]
    assert await bot.delete_my_commands(language_code="en")
    assert api.commands("en") is None
    with pytest.raises(telegram.error.BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Điểm", "x")])
    assert len(api.violations) == 1


async def test_get_chat_and_chat_action(api: FakeTelegramApi, bot: telegram.Bot) -> None:
    api.inject_message(-1001234, "chào cả lớp", user_id=55, chat_type="supergroup", chat_title="6A")
    chat = await bot.get_chat(-1001234)
    assert chat.title == "6A"
    assert chat.type == "supergroup"
    assert await bot.send_chat_action(CHAT, "typing")
    with pytest.raises(telegram.error.BadRequest):
        await bot.send_chat_action(CHAT, "dancing")
    assert await bot.close()
    assert api.violations == [
        "sendChatAction: Bad Request: parameter \"action\" has unsupported value 'dancing'"
    ]


async def test_several_bots_on_one_server(api: FakeTelegramApi, bot: telegram.Bot) -> None:
    other_token = "987654321:other-bot_token"
    api.add_bot(other_token, username="lienlac_zalo_bridge_bot")
    async with telegram.Bot(other_token, base_url=api.base_url) as other:
        assert other.id == 987654321
        await other.send_message(CHAT, "từ bot thứ hai")
        api.inject_message(CHAT, "cho bot hai", token=other_token)
        assert [u.message.text for u in await other.get_updates()] == ["cho bot hai"]
    await bot.send_message(CHAT, "từ bot thứ nhất")
    assert await bot.get_updates() == ()
    assert [r["text"] for r in api.sent(CHAT, token=other_token)] == ["từ bot thứ hai"]
    assert len(api.sent(CHAT)) == 2


# -- sync use (as from a test that runs the bot as a subprocess) ----------------------------------


def test_sync_use_and_waiting() -> None:
    with FakeTelegramApi(token=TOKEN) as api, httpx.Client(trust_env=False) as http:
        base = f"{api.base_url}{TOKEN}"

        def reply_later() -> None:
            time.sleep(0.2)
            http.post(f"{base}/sendMessage", data={"chat_id": str(CHAT), "text": "Chào phụ huynh"})

        worker = threading.Thread(target=reply_later)
        worker.start()
        record = api.wait_for(CHAT, "phụ huynh", timeout=5)
        worker.join()
        assert record["method"] == "sendMessage"
        assert api.wait_for_call("sendMessage").params["chat_id"] == CHAT

        started = time.monotonic()
        with pytest.raises(TimeoutError, match="Chào phụ huynh"):
            api.wait_for(CHAT, "không bao giờ", timeout=0.3)
        assert time.monotonic() - started < 2
        with pytest.raises(TimeoutError):
            api.wait_for(CHAT, after=1, timeout=0.1)
        assert api.violations == []


def test_restart_gets_a_new_port_and_keeps_state() -> None:
    api = FakeTelegramApi(token=TOKEN)
    with api:
        first_port = api.port
        api.inject_message(CHAT, "trước khi khởi động lại")
    with api, httpx.Client(trust_env=False) as http:
        assert api.port != 0
        got = http.post(f"{api.base_url}{TOKEN}/getUpdates", data={"timeout": "1"}).json()
        assert [u["message"]["text"] for u in got["result"]] == ["trước khi khởi động lại"]
    assert first_port > 0
