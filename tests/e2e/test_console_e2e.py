"""The README's first promise: `python run_bot.py`, a code, an OTP, and the term average."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from storage.migrate import head_revision
from tests.e2e.process import ROOT, BotProcess, link_in_terminal


def test_a_new_user_links_and_reads_the_term_average(tmp_path: Path) -> None:
    bot = BotProcess(env={"LIENLAC_DATA_DIR": str(tmp_path)})
    try:
        bot.read_until("/quit")
        bot.type("/start")
        bot.read_until("Gõ số để chọn")  # 1. parent, 2. teacher
        bot.type("")  # Enter on an empty line, then spaces: nothing said, nothing answered
        bot.type("   ")
        bot.type("HS8A03")
        consent = bot.read_until("Gõ số để chọn")
        assert "chỉ đọc được tin nhắn chữ" not in consent  # not the reply meant for stickers
        # /start offered 1. parent, 2. teacher: the consent's choices take new numbers
        assert "3. ✅ Đồng ý" in consent
        bot.type("1")  # not a choice any more: the consent is asked again, nothing happens
        bot.read_until("Anh/chị bấm Đồng ý")
        bot.type("3")
        sms = bot.read_until("SMS giả lập")
        assert "09x xxx x24" in sms and "0900000024" not in sms
        code = re.search(r"\b(\d{6})\b", sms.splitlines()[-1])
        assert code, sms
        bot.type(code.group(1))
        bot.read_until("Liên kết thành công")
        bot.type("điểm công nghệ")
        answer = bot.read_until("làm tròn")
        assert "6,6" in answer
        bot.type("diem")  # without diacritics
        summary = bot.read_until("Kết quả học tập")
        assert "Toán" in summary and "Giáo dục thể chất" in summary
        bot.type("tkb thứ 2")
        assert "Chào cờ" in bot.read_until("Chào cờ")
        bot.type("học phí")
        assert "631.800 ₫" in bot.read_until("631.800")
        bot.type("/quit")
        bot.read_until("Tạm biệt")
        assert bot.close() == 0
    finally:
        bot.kill()
    assert "Traceback" not in "".join(bot.stderr)
    assert (tmp_path / "lienlac.sqlite3").exists()


def test_demo_info_json_lists_what_to_type() -> None:
    out = subprocess.run(
        [sys.executable, "run_bot.py", "demo", "info", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    info = json.loads(out)
    assert info["school"]["id"] == "demo"
    assert len(info["classes"]) >= 3 and len(info["students"]) >= 30
    first = next(s for s in info["students"] if s["code"] == "HS6A01")
    assert {g["phone"] for g in first["guardians"]} == {"0900000001", "0900000002"}
    assert any(t["homeroom"] == ["6A"] for t in info["teachers"])


def test_a_wrong_setting_is_one_sentence_not_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "run_bot.py", "check-config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", "LIENLAC_OTP__PROVIDER": "http_json"},
    )
    assert result.returncode == 2
    assert "LIENLAC_OTP__URL must be set" in result.stderr
    assert "Traceback" not in result.stderr
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("school_id = [", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "run_bot.py", "--config", str(bad_toml), "check-config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2 and "not valid TOML" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_finds_what_run_would_refuse(tmp_path: Path) -> None:
    """Issue 19: a list written as plain text, a school with no data and a malformed token
    each get one sentence and a failing exit code, never "Settings are valid"."""

    def check(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "run_bot.py", "check-config"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": "/usr/bin:/bin", "LIENLAC_DATA_DIR": str(tmp_path), **env},
        )

    plain = check(LIENLAC_DIGEST__SCHOOL_STAFF="GV005")
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert "LIENLAC_DIGEST__" in plain.stderr and '["GV005"' in plain.stderr
    nowhere = check(LIENLAC_SCHOOL_ID="nonexistent")
    assert nowhere.returncode == 1 and "Settings are valid" not in nowhere.stdout
    assert "'nonexistent' has no data" in nowhere.stdout
    token = check(LIENLAC_TELEGRAM__TOKEN="not-a-token")
    assert token.returncode == 1 and "does not look like a bot token" in token.stdout
    assert "not-a-token" not in token.stdout + token.stderr  # a secret is never echoed
    fine = check()
    assert fine.returncode == 0 and "Settings are valid" in fine.stdout
    assert "Context impl" not in fine.stderr  # no alembic chatter


def test_check_config_and_db_upgrade_on_a_fresh_database(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "LIENLAC_DATA_DIR": str(tmp_path)}
    up = subprocess.run(
        [sys.executable, "run_bot.py", "db", "upgrade"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    )
    assert f"revision {head_revision()}" in up.stdout
    check = subprocess.run(
        [sys.executable, "run_bot.py", "check-config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert check.returncode == 0 and "Settings are valid" in check.stdout


def test_help_is_fast_and_helpful() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "run_bot.py", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "demo info" in result.stdout and "check-config" in result.stdout
    # --help must not import the heavy stack (database, Telegram, HTTP)
    for heavy in ("sqlalchemy", "telegram", "httpx"):
        assert f" {heavy}\n" not in result.stderr and f"| {heavy}\n" not in result.stderr, heavy


def test_leave_request_between_two_terminals(tmp_path: Path) -> None:
    """The README's two-terminal demo: a parent and the homeroom teacher, two real processes
    on one SQLite file; the outbox carries the request and the decision between them."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from bot.domain.absence import school_days

    day = dt.datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date() + dt.timedelta(days=2)
    while not school_days(day, day):
        day += dt.timedelta(days=1)
    env = {"LIENLAC_DATA_DIR": str(tmp_path)}
    parent = BotProcess("run", "--user", "me", env=env)
    teacher: BotProcess | None = None
    try:
        parent.read_until("/quit")
        teacher = BotProcess("run", "--user", "co-hoa", env=env)
        teacher.read_until("/quit")
        link_in_terminal(parent, "HS6A01", ("Mẹ", "Đồng ý"))
        link_in_terminal(teacher, "GV001", ("Đồng ý",))
        parent.type(f"xin nghỉ cho cháu {day:%d/%m} cả ngày vì ốm")
        parent.read_until("Gửi đơn")
        parent.type("gửi")
        parent.read_until("Đã gửi đơn #1")
        card = teacher.read_until("Lý do: ốm", timeout=30)
        assert "📬" in card and "Nguyễn Minh An (6A)" in card
        teacher.type("duyet 1")
        teacher.read_until("Đã duyệt đơn #1")
        assert "📬" in parent.read_until("đã được Nguyễn Thị Thanh Hoa duyệt", timeout=30)
        parent.type("chuyên cần")
        assert f"{day:%d/%m/%Y}" in parent.read_until(f"{day:%d/%m/%Y}")
        for bot in (parent, teacher):
            bot.type("/quit")
            assert bot.close() == 0
    finally:
        parent.close()
        if teacher is not None:
            teacher.close()


def test_private_message_between_two_terminals(tmp_path: Path) -> None:
    """The demo of issue 17: the parent writes to the homeroom teacher in one terminal, the
    teacher answers with a typed /traloi in the other; no phone number is shown either way.
    Office and quiet hours are opened to the whole day (the demo runs at any hour)."""
    env = {
        "LIENLAC_DATA_DIR": str(tmp_path),
        "LIENLAC_MESSAGES__OFFICE_START": "00:00",
        "LIENLAC_MESSAGES__OFFICE_END": "23:59",
        "LIENLAC_MESSAGES__SCHOOL_DAYS_ONLY": "false",
        "LIENLAC_DIGEST__QUIET_START": "00:00",
        "LIENLAC_DIGEST__QUIET_END": "00:00",
    }
    parent = BotProcess("run", "--user", "me", env=env)
    teacher: BotProcess | None = None
    try:
        parent.read_until("/quit")
        teacher = BotProcess("run", "--user", "co-hoa", env=env)
        teacher.read_until("/quit")
        link_in_terminal(parent, "HS6A01", ("Mẹ", "Đồng ý"))
        link_in_terminal(teacher, "GV001", ("Đồng ý",))
        parent.type("nhắn cô chủ nhiệm: mai cháu đi khám răng, xin về sớm ạ")
        parent.read_until("Đã chuyển tin nhắn")
        card = teacher.read_until("/traloi 1", timeout=30)
        assert "Mẹ của Nguyễn Minh An (6A)" in card and "khám răng" in card
        assert "0900000001" not in card
        teacher.type("/traloi 1 Cô đã biết, chị cứ đón cháu lúc 10 giờ.")
        teacher.read_until("Đã gửi câu trả lời")
        answer = parent.read_until("đón cháu lúc 10 giờ", timeout=30)
        assert "Nguyễn Thị Thanh Hoa trả lời về An" in answer and "0900001001" not in answer
        for bot in (parent, teacher):
            bot.type("/quit")
            assert bot.close() == 0
    finally:
        parent.close()
        if teacher is not None:
            teacher.close()


def test_metrics_and_healthz_while_chatting(tmp_path: Path) -> None:
    """LIENLAC_METRICS__LISTEN: Prometheus gauges for the outbox and the leave requests."""
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"LIENLAC_DATA_DIR": str(tmp_path), "LIENLAC_METRICS__LISTEN": f"127.0.0.1:{port}"}
    bot = BotProcess("run", env=env)
    try:
        bot.read_until("/quit")
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    body = r.read().decode()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert "lienlac_outbox_pending" in body and "lienlac_absence_unwritten" in body
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            assert json.loads(r.read()) == {"status": "ok"}
        bot.type("/quit")
        assert bot.close() == 0
    finally:
        bot.close()


def test_control_and_bidi_characters_never_reach_a_person_or_the_database(
    tmp_path: Path, database_url: str
) -> None:
    """Issue 13.7, on SQLite and PostgreSQL: a NUL and a bell in a leave reason (PostgreSQL
    refused the NUL, so "Gửi" failed) and a right-to-left override in a notice are cleaned at
    the edge; the teacher's card and the parent's notice arrive without them."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from bot.domain.absence import school_days

    day = dt.datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date() + dt.timedelta(days=2)
    while not school_days(day, day):
        day += dt.timedelta(days=1)
    env = {"LIENLAC_DATA_DIR": str(tmp_path), "LIENLAC_DATABASE__URL": database_url}
    parent = BotProcess("run", "--user", "me", env=env)
    teacher: BotProcess | None = None
    try:
        parent.read_until("/quit")
        teacher = BotProcess("run", "--user", "co-hoa", env=env)
        teacher.read_until("/quit")
        link_in_terminal(parent, "HS6A01", ("Mẹ", "Đồng ý"))
        link_in_terminal(teacher, "GV001", ("Đồng ý",))
        parent.type(f"xin nghỉ cho cháu {day:%d/%m} cả ngày vì ốm\x00\x07 sốt\u202e cao")
        parent.read_until("Gửi đơn")
        parent.type("gửi")
        parent.read_until("Đã gửi đơn #1")
        card = teacher.read_until("Lý do: ốm", timeout=30)
        assert "Nguyễn Minh An (6A)" in card
        for bad in ("\x00", "\x07", "\u202e"):
            assert bad not in card

        notice = "\u202eHọp phụ huynh\x07 19h thứ Sáu\u2066"
        done = subprocess.run(
            [*NOTICE_CLI, "--text", notice, "--urgent", "--yes"],
            cwd=ROOT,
            env={**_clean_env(), **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        got = parent.read_until("19h thứ Sáu", timeout=30)
        assert "Họp phụ huynh 19h thứ Sáu" in got
        for bad in ("\x07", "\u202e", "\u2066"):
            assert bad not in got
        for bot in (parent, teacher):
            bot.type("/quit")
            assert bot.close() == 0
    finally:
        parent.close()
        if teacher is not None:
            teacher.close()


NOTICE_CLI = (sys.executable, "run_bot.py", "notice", "--class", "6A")


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("LIENLAC_")}


def test_a_teacher_asking_about_a_pupil_gets_that_pupil_not_a_namesake(tmp_path: Path) -> None:
    """Issue 13.9 through the real process: Phạm Quang Huy (8A) is not Đỗ Gia Huy (6A)."""
    teacher = BotProcess("run", "--user", "co-hoa", env={"LIENLAC_DATA_DIR": str(tmp_path)})
    try:
        teacher.read_until("/quit")
        link_in_terminal(teacher, "GV001", ("Đồng ý",))
        teacher.type("số buổi nghỉ của Phạm Quang Huy")
        answer = teacher.read_until("gõ tên học sinh")
        assert "Đỗ Gia Huy" not in answer
        teacher.type("số buổi nghỉ của Đỗ Gia Huy")
        teacher.read_until("Đỗ Gia Huy (6A): đã nghỉ")
        teacher.type("/quit")
        assert teacher.close() == 0
    finally:
        teacher.close()


def test_an_unreachable_database_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """Issue 13.11: `run` (and the other commands) with a wrong database port."""
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+asyncpg://postgres:hunter2@127.0.0.1:{port}/test"
    for command in (["run"], ["db", "upgrade"], ["stats"]):
        done = subprocess.run(
            [sys.executable, "run_bot.py", *command],
            cwd=ROOT,
            env={**_clean_env(), "LIENLAC_DATABASE__URL": url, "LIENLAC_DATA_DIR": str(tmp_path)},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 3, (command, done.stderr)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert "Traceback" not in done.stderr and len(lines) <= 3, done.stderr
        assert f"Cannot reach the database at 127.0.0.1:{port}" in done.stderr
        assert "hunter2" not in done.stderr + done.stdout


def test_the_terminal_chat_in_english_greets_and_says_goodbye_in_english(
    tmp_path: Path,
) -> None:
    """Issue 19: with --lang en (or an en_* locale) the banner, the answers and the goodbye
    are English; "leave tomorrow because sick" starts a leave request."""
    bot = BotProcess(
        "run", "--user", "mum", env={"LIENLAC_DATA_DIR": str(tmp_path), "LANG": "en_US.UTF-8"}
    )
    try:
        banner = bot.read_until("/quit")
        assert "Type /start to begin" in banner and "Gõ /start" not in banner
        bot.type("HS8A03")
        bot.read_until("Type a number")
        bot.type("1")  # 1. ✅ Agree
        sms = bot.read_until("SMS")
        code = re.search(r"\b(\d{6})\b", sms.splitlines()[-1])
        assert code, sms
        bot.type(code.group(1))
        bot.read_until("Linked with")
        bot.type("leave tomorrow because sick")
        asked = bot.read_until("Which session?")  # a leave request, not the timetable
        assert "Timetable —" not in asked
        bot.type("/quit")
        assert "Goodbye!" in bot.read_until("Goodbye")
        assert bot.close() == 0
    finally:
        bot.kill()
    assert "Traceback" not in "".join(bot.stderr)


def test_check_config_online_asks_telegram_whether_the_token_works(tmp_path: Path) -> None:
    """Issue 19: --online calls getMe on the (loopback, fake) Bot API; a token Telegram
    refuses is one sentence and exit 1, never echoing the token."""
    from tests.fakes.telegram_api import FakeTelegramApi

    good, revoked = "123456789:" + "A" * 35, "123456789:" + "B" * 35
    with FakeTelegramApi(token=good) as api:

        def check(token: str, *more: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "run_bot.py", "check-config", *more],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=60,
                env={
                    "PATH": "/usr/bin:/bin",
                    "LIENLAC_DATA_DIR": str(tmp_path),
                    "LIENLAC_TELEGRAM__TOKEN": token,
                    "LIENLAC_TELEGRAM__API_BASE_URL": api.url,
                    "NO_PROXY": "127.0.0.1",
                },
            )

        works = check(good, "--online")
        assert works.returncode == 0 and "Settings are valid" in works.stdout, works.stdout
        assert any(call.method == "getMe" for call in api.calls)
        refused = check(revoked, "--online")
        assert refused.returncode == 1 and "Telegram refused the token" in refused.stdout
        assert "B" * 35 not in refused.stdout + refused.stderr
        assert check(revoked).returncode == 0  # offline, only the format is checked
    down = check(good, "--online")  # the fake has stopped: nobody answers
    assert down.returncode == 1 and "did not answer" in down.stdout
