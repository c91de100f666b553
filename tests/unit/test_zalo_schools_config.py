"""Zalo and OTP settings per school ([[schools]]): effective blocks and their checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lienlac.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_each_school_has_its_own_zalo_and_otp_blocks_else_the_top_level_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIENLAC_ZALO_BOT__API_BASE_URL", "http://127.0.0.1:9/zbot")
    settings = load_settings(
        write(
            tmp_path,
            """
[zalo_bot]
webhook_public_url = "https://bot.example.vn"
webhook_listen = "127.0.0.1:9081"
[zalo_oa]
api_base_url = "http://127.0.0.1:9/oa"
oauth_base_url = "http://127.0.0.1:9/oauth"
webhook_listen = "127.0.0.1:9082"
[otp]
provider = "http_json"
url = "http://127.0.0.1:9/otp"
ttl_seconds = 600
[otp.zns]
url = "http://127.0.0.1:9/zns"

[[schools]]
id = "thcs-a"
zalo_bot = { token = "11:aaa" }
zalo_oa = { app_id = "111", app_secret = "s-a", oa_secret = "o-a" }
otp = { provider = "sms", sms = { api_key = "k-a", secret_key = "x-a", brandname = "A" } }

[[schools]]
id = "thcs-b"
zalo_bot = { token = "22:bbb", api_base_url = "http://127.0.0.1:8/own" }
otp = { provider = "zns", zns = { template_id = "tpl-b" } }

[[schools]]
id = "thcs-c"
""",
        )
    )
    a, b, c = settings.school_configs()
    # A school giving only its token keeps the top-level API address and webhook server.
    assert a.zalo_bot.token is not None and a.zalo_bot.token.get_secret_value() == "11:aaa"
    assert a.zalo_bot.api_base_url == "http://127.0.0.1:9/zbot"
    assert a.zalo_bot.webhook_public_url == "https://bot.example.vn"
    assert a.zalo_bot.webhook_listen == "127.0.0.1:9081"
    assert b.zalo_bot.api_base_url == "http://127.0.0.1:8/own"  # its own when it names one
    assert (a.zalo_oa.app_id, a.zalo_oa.api_base_url, a.zalo_oa.oauth_base_url) == (
        "111",
        "http://127.0.0.1:9/oa",
        "http://127.0.0.1:9/oauth",
    )
    assert a.zalo_oa.webhook_listen == "127.0.0.1:9082"
    assert not b.zalo_oa.enabled and not c.zalo_oa.enabled
    # OTP: the school's own provider; the code policy stays the top-level one.
    assert (a.otp.provider, a.otp.sms.brandname, a.otp.ttl_seconds) == ("sms", "A", 600)
    assert (b.otp.provider, b.otp.zns.template_id) == ("zns", "tpl-b")
    assert b.otp.zns.url == "http://127.0.0.1:9/zns"  # the top-level ZNS address
    assert (c.otp.provider, c.otp.url) == ("http_json", "http://127.0.0.1:9/otp")
    assert c.zalo_bot.token is None  # no bot of its own, none at the top level


def test_without_schools_the_top_level_blocks_are_the_one_schools(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIENLAC_ZALO_BOT__TOKEN", "33:ccc")
    monkeypatch.setenv("LIENLAC_OTP__PROVIDER", "http_json")
    monkeypatch.setenv("LIENLAC_OTP__URL", "http://127.0.0.1:9/otp")
    settings = load_settings()
    (only,) = settings.school_configs()
    assert only.zalo_bot is settings.zalo_bot and only.otp is settings.otp
    assert only.zalo_oa is settings.zalo_oa


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            """
[[schools]]
id = "a"
zalo_bot = { token = "1:same" }
[[schools]]
id = "b"
zalo_bot = { token = "1:same" }
""",
            "LIENLAC_SCHOOLS gives two schools the same Zalo bot token: one Zalo bot per school.",
        ),
        (
            """
[zalo_bot]
token = "1:top"
[[schools]]
id = "a"
[[schools]]
id = "b"
zalo_bot = { token = "2:own" }
[[schools]]
id = "c"
""",
            "LIENLAC_SCHOOLS gives two schools the same Zalo bot token: one Zalo bot per school.",
        ),
        (
            """
[[schools]]
id = "a"
zalo_oa = { app_id = "42", app_secret = "s1", oa_secret = "o1" }
[[schools]]
id = "b"
zalo_oa = { app_id = "42", app_secret = "s2", oa_secret = "o2" }
""",
            "LIENLAC_SCHOOLS gives two schools the same Zalo OA app id: "
            "one Official Account per school.",
        ),
    ],
)
def test_two_schools_may_not_share_a_zalo_bot_or_an_oa(
    tmp_path: Path, toml: str, message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, toml))
    assert str(err.value) == message


def test_a_schools_incomplete_otp_block_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, '[[schools]]\nid = "a"\notp = { provider = "sms" }\n'))
    assert str(err.value).startswith("LIENLAC_OTP__SMS__API_KEY")
    assert str(err.value).count(".") == 1 and "\n" not in str(err.value)
