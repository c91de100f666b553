"""Each channel's update parser on arbitrary JSON (issue 13, "the proof"): it returns an
Incoming or None and never raises, whatever a platform (or an attacker past the secret)
sends. The webhook endpoints are fuzzed over HTTP in tests/e2e/test_webhook_hostile.py."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from telegram import Bot, Update

from bot.channels import telegram, zalo_bot, zalo_oa
from bot.messages import Incoming

SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=25,
)
KEYS = st.sampled_from(
    [
        "message",
        "chat",
        "from",
        "sender",
        "id",
        "text",
        "event_name",
        "chat_type",
        "result",
        "callback_query",
        "data",
        "message_id",
        "update_id",
        "is_bot",
        "type",
        "timestamp",
        "user_send_text",
        "msg_id",
        "date",
        "language_code",
        "first_name",
        "event",
    ]
)
# Objects shaped like the platforms' (their keys), with arbitrary values anywhere.
SHAPED = st.recursive(
    SCALARS,
    lambda inner: st.dictionaries(KEYS, inner, max_size=6) | st.lists(inner, max_size=2),
    max_leaves=30,
)
EVENTS = st.dictionaries(KEYS | st.text(max_size=6), SHAPED | JSON, max_size=8)


def _ok(result: object) -> None:
    assert result is None or isinstance(result, Incoming)


@settings(max_examples=300, deadline=None)
@given(EVENTS)
def test_zalo_bot_parser_never_raises(event: dict[str, Any]) -> None:
    _ok(zalo_bot.normalize(event, school_id="demo"))
    zalo_bot.event_key(event)


@settings(max_examples=300, deadline=None)
@given(EVENTS)
def test_zalo_oa_parser_never_raises(event: dict[str, Any]) -> None:
    _ok(zalo_oa.to_incoming(event, school_id="demo"))
    zalo_oa.event_key(event)


@settings(max_examples=300, deadline=None)
@given(EVENTS, st.integers(min_value=0, max_value=2**31))
def test_telegram_parser_never_raises(event: dict[str, Any], update_id: int) -> None:
    bot = Bot("123456:TEST-token")
    try:
        update = Update.de_json({**event, "update_id": update_id}, bot)
    except Exception:  # PTB refuses it: the webhook answers 400 before our parser runs
        return
    _ok(telegram.to_incoming(update, school_id="demo", bot_username="lienlac_bot"))
