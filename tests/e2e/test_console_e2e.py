"""The README's first promise: `python run_bot.py`, a code, an OTP, and the term average."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.e2e.process import ROOT, BotProcess


def test_a_new_user_links_and_reads_the_term_average(tmp_path: Path) -> None:
    bot = BotProcess(env={"LIENLAC_DATA_DIR": str(tmp_path)})
    try:
        bot.read_until("/quit")
        bot.type("/start")
        bot.read_until("mã học sinh")
        bot.type("HS8A03")
        bot.read_until("Gõ số để chọn")
        bot.type("1")  # 1. ✅ Đồng ý
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
    assert "revision 0006" in up.stdout
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
