"""Two schools on Zalo in one ``python run_bot.py --config`` process ([[schools]]): each has
its own Zalo bot, its own OA (one webhook server, ``/zalo-oa/<school>``) and its own SMS
gateway for the OTP, all loopback fakes. Each answers with its own school's data, a link made
on one does not exist on the other, each school's OTP and notices go its own way."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_zalo_e2e import (
    APP_ID,
    APP_SECRET,
    ESMS_KEY,
    ESMS_SECRET,
    MOM_8A03,
    OA_SECRET,
    REPO,
    TOKEN,
    WAIT,
    Bot,
    BotChat,
    EsmsOtp,
    OaChat,
    _run,
    free_port,
    listening,
    step_verify,
)
from tests.fakes.esms_gateway import FakeEsms
from tests.fakes.zalo_bot_api import FakeZaloBotApi
from tests.fakes.zalo_oa_api import FakeZaloOa

pytestmark = pytest.mark.e2e

B_TOKEN = "9876543210:school-B-bot-token"
B_APP_ID, B_APP_SECRET, B_OA_SECRET = "2718281828", "app-B-SECRET", "oa-B-SECRET"
B_KEY, B_SECRET = "esms-B-key", "esms-B-SECRET"


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Bot]:
    process = Bot(tmp_path)
    try:
        yield process
    finally:
        process.kill()


def import_school_b(tmp_path: Path) -> None:
    """School ``thcs-b`` = the demo school's rows under another name, in the same database."""
    from bot.backends.demo_data import build_demo_school
    from tests.workbooks import demo_rows, fill

    workbook = tmp_path / "b.xlsx"
    subprocess.run(
        [sys.executable, "run_bot.py", "import", "--template", str(workbook)],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    fill(workbook, demo_rows(build_demo_school()))
    name = ("--name", "Trường THCS Bình Minh")
    done = _run(tmp_path, {}, "import", str(workbook), "--school", "thcs-b", *name)
    assert done.returncode == 0, done.stdout + done.stderr


def school_toml(
    school: str,
    *,
    token: str,
    bot_api: FakeZaloBotApi,
    oa: FakeZaloOa,
    oa_keys: tuple[str, str, str],
    esms: FakeEsms,
    esms_keys: tuple[str, str],
    brand: str,
) -> str:
    app_id, app_secret, oa_secret = oa_keys
    return f"""
[[schools]]
id = "{school}"
zalo_bot = {{ token = "{token}", api_base_url = "{bot_api.url}" }}
[schools.zalo_oa]
app_id = "{app_id}"
app_secret = "{app_secret}"
oa_secret = "{oa_secret}"
refresh_token = "{oa.issue_refresh_token()}"
api_base_url = "{oa.url}"
oauth_base_url = "{oa.url}"
[schools.otp]
provider = "sms"
sms = {{ url = "{esms.url}", api_key = "{esms_keys[0]}", secret_key = "{esms_keys[1]}", brandname = "{brand}" }}
"""  # noqa: E501 - one TOML line


def test_two_schools_two_zalo_bots_and_two_oas_in_one_process(bot: Bot, tmp_path: Path) -> None:
    import_school_b(tmp_path)
    port = free_port()
    with (
        FakeZaloBotApi(token=TOKEN) as zalo_a,
        FakeZaloBotApi(token=B_TOKEN) as zalo_b,
        FakeZaloOa(app_id=APP_ID, app_secret=APP_SECRET, oa_secret=OA_SECRET) as oa_a,
        FakeZaloOa(app_id=B_APP_ID, app_secret=B_APP_SECRET, oa_secret=B_OA_SECRET) as oa_b,
        FakeEsms(api_key=ESMS_KEY, secret_key=ESMS_SECRET) as esms_a,
        FakeEsms(api_key=B_KEY, secret_key=B_SECRET) as esms_b,
    ):
        config = tmp_path / "schools.toml"
        config.write_text(
            f"""
[zalo_bot]
poll_timeout_seconds = 2
[zalo_oa]
webhook_listen = "127.0.0.1:{port}"
"""
            + school_toml(
                "demo",
                token=TOKEN,
                bot_api=zalo_a,
                oa=oa_a,
                oa_keys=(APP_ID, APP_SECRET, OA_SECRET),
                esms=esms_a,
                esms_keys=(ESMS_KEY, ESMS_SECRET),
                brand="NGUYENDU",
            )
            + school_toml(
                "thcs-b",
                token=B_TOKEN,
                bot_api=zalo_b,
                oa=oa_b,
                oa_keys=(B_APP_ID, B_APP_SECRET, B_OA_SECRET),
                esms=esms_b,
                esms_keys=(B_KEY, B_SECRET),
                brand="BINHMINH",
            ),
            encoding="utf-8",
        )
        bot.start(
            {},
            lambda: (
                bool(zalo_a.calls_to("getUpdates"))
                and bool(zalo_b.calls_to("getUpdates"))
                and oa_a.refreshes > 0
                and oa_b.refreshes > 0
                and listening(port)
            ),
            args=("--config", str(config)),
        )
        # Each bot answers with its own school; the same chat id on both is two chats.
        chat = "c0ffee0c0ffee0c0ffee"
        on_a, on_b = BotChat(zalo_a, chat), BotChat(zalo_b, chat)
        assert "Nguyễn Du" in on_a.say("/start", "Xin chào")
        assert "Bình Minh" in on_b.say("/start", "Xin chào")
        # Linked on school A's bot, with the code from school A's gateway only.
        step_verify(on_a, EsmsOtp(esms_a, MOM_8A03))
        assert esms_b.sent == []
        assert all(sms["Brandname"] == "NGUYENDU" for sms in esms_a.sent)
        # ... which does not exist on school B's bot.
        on_b.say("/huy", "Đã hủy")  # leave B's "type the student code" step
        assert "chưa liên kết" in on_b.say("điểm", "chưa liên kết")
        # School B's OTP goes through school B's gateway.
        a_sent = len(esms_a.sent)
        step_verify(on_b, EsmsOtp(esms_b, MOM_8A03))
        assert len(esms_a.sent) == a_sent and len(esms_b.sent) == 1
        assert esms_b.sent[0]["Brandname"] == "BINHMINH"

        # An urgent notice of school B reaches the chat on B's bot, never A's.
        before_a, before_b = len(zalo_a.sent_to(chat)), len(zalo_b.sent_to(chat))
        notice = _run(
            tmp_path,
            {},
            *("notice", "--config", str(config), "--school", "thcs-b", "--class", "8A"),
            *("--text", "Trường Bình Minh nghỉ học chiều nay", "--urgent", "--yes"),
        )
        assert notice.returncode == 0, notice.stdout + notice.stderr
        zalo_b.wait_for(chat, "nghỉ học chiều nay", WAIT, after=before_b)
        time.sleep(1.5)  # a relay tick or two: nothing goes out on A's bot
        assert all("nghỉ học chiều nay" not in m["text"] for m in zalo_a.sent_to(chat)[before_a:])

        # Each OA on the one webhook server, signed with its own keys.
        user = "8999999999999999999"
        hook_a = f"http://127.0.0.1:{port}/zalo-oa/demo"
        hook_b = f"http://127.0.0.1:{port}/zalo-oa/thcs-b"
        assert "Nguyễn Du" in OaChat(oa_a, hook_a, user).say("/start", "Xin chào")
        assert "Bình Minh" in OaChat(oa_b, hook_b, user).say("/start", "Xin chào")
        assert oa_a.send_event(hook_b, oa_a.text_event(user, "/start")) == 401  # A's keys
        assert oa_b.send_event(hook_a, oa_b.text_event(user, "/help")) == 401
        assert oa_b.send_event(f"http://127.0.0.1:{port}/zalo-oa/other", {"x": 1}) == 404
        bot.stop()
        for fake in (zalo_a, zalo_b):
            assert fake.violations == []
        assert oa_a.spent_reuses == 0 and oa_b.spent_reuses == 0

        # check-config lists each school's Zalo lines, with each OA's own token row.
        check = _run(tmp_path, {}, "check-config", "--config", str(config))
        assert check.returncode == 0, check.stdout + check.stderr
        for line in (
            "Zalo Bot (demo): token set",
            "Zalo Bot (thcs-b): token set",
            f"Zalo OA (demo): app {APP_ID}",
            f"Zalo OA (thcs-b): app {B_APP_ID}",
            "OTP provider (thcs-b): sms",
            "Zalo OA token (thcs-b): expires",
        ):
            assert line in check.stdout, check.stdout
    bot.assert_clean(
        TOKEN,
        B_TOKEN,
        B_TOKEN.split(":", 1)[1],
        APP_SECRET,
        B_APP_SECRET,
        OA_SECRET,
        B_OA_SECRET,
        ESMS_SECRET,
        B_SECRET,
        *oa_a.issued,
        *oa_b.issued,
    )


def test_two_schools_zalo_bots_share_one_webhook_server(bot: Bot, tmp_path: Path) -> None:
    import_school_b(tmp_path)
    port = free_port()
    with (
        FakeZaloBotApi(token=TOKEN) as zalo_a,
        FakeZaloBotApi(token=B_TOKEN) as zalo_b,
    ):
        config = tmp_path / "schools.toml"
        config.write_text(
            f"""
[webhook]
public_url = "http://127.0.0.1:{port}"
listen = "127.0.0.1:{port}"

[[schools]]
id = "demo"
zalo_bot = {{ token = "{TOKEN}", api_base_url = "{zalo_a.url}" }}

[[schools]]
id = "thcs-b"
zalo_bot = {{ token = "{B_TOKEN}", api_base_url = "{zalo_b.url}" }}
""",
            encoding="utf-8",
        )
        bot.start(
            {},
            lambda: bool(zalo_a.webhook_url) and bool(zalo_b.webhook_url),
            args=("--config", str(config)),
        )
        assert zalo_a.webhook_url == f"http://127.0.0.1:{port}/zalo-bot/demo"
        assert zalo_b.webhook_url == f"http://127.0.0.1:{port}/zalo-bot/thcs-b"
        assert zalo_a.webhook_secret != zalo_b.webhook_secret  # one secret per bot
        chat = "f00df00df00df00df00d"
        assert zalo_a.post_webhook(zalo_a.update(chat, "/start")) == 200
        assert "Nguyễn Du" in zalo_a.wait_for(chat, "Xin chào", WAIT)["text"]
        assert zalo_b.post_webhook(zalo_b.update(chat, "/start")) == 200
        assert "Bình Minh" in zalo_b.wait_for(chat, "Xin chào", WAIT)["text"]
        # School A's secret on school B's path is refused.
        b_update = zalo_b.update(chat, "/help")
        assert zalo_b.post_webhook(b_update, secret=zalo_a.webhook_secret) == 401
        assert zalo_b.post_webhook(b_update, secret="") == 401
        time.sleep(0.3)
        assert len(zalo_b.sent_to(chat)) == 1
        bot.stop()
        assert zalo_a.violations == [] and zalo_b.violations == []
        secrets_ = (zalo_a.webhook_secret, zalo_b.webhook_secret)
    bot.assert_clean(TOKEN, B_TOKEN, B_TOKEN.split(":", 1)[1], *secrets_)
