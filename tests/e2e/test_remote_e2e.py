"""The real ``run_bot.py`` process on a school whose data lives in a REST QLHS (a loopback
fake): ``check-config`` tries every endpoint, and a parent verifies and reads scores."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.process import ROOT, BotProcess
from tests.fakes.qlhs_rest import FakeQlhs

pytestmark = pytest.mark.e2e


@pytest.fixture
def qlhs() -> Iterator[FakeQlhs]:
    with FakeQlhs() as server:
        yield server


def _env(tmp_path: Path, mapping: Path) -> dict[str, str]:
    return {
        "LIENLAC_DATA_DIR": str(tmp_path),
        "LIENLAC_BACKEND__KIND": "rest_json",
        "LIENLAC_BACKEND__MAPPING": str(mapping),
    }


def _check_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("LIENLAC_")}
    return subprocess.run(
        [sys.executable, "run_bot.py", "check-config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, **env},
    )


def test_check_config_tries_every_endpoint(tmp_path: Path, qlhs: FakeQlhs) -> None:
    result = _check_config(_env(tmp_path, qlhs.mapping_file(tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr
    for endpoint in (
        "school_info",
        "classes",
        "teachers",
        "find_student",
        "get_student",
        "guardians",
        "scores",
        "timetable",
        "fees",
        "attendance",
        "changes",
    ):
        assert re.search(rf"ok\s+{endpoint}\b", result.stdout), result.stdout
    assert "answered all 11 checks" in result.stdout
    assert "qlhs-test-token" not in result.stdout + result.stderr


def test_check_config_names_the_failing_endpoint(tmp_path: Path, qlhs: FakeQlhs) -> None:
    mapping = qlhs.mapping_file(tmp_path, retries=0)
    text = mapping.read_text(encoding="utf-8").replace(
        'path = "/lop/{class_id}/tkb"', 'path = "/lop/{class_id}/thoi-khoa-bieu"'
    )
    mapping.write_text(text, encoding="utf-8")
    qlhs.faults.unauthorized(count=1)  # the first question is refused
    result = _check_config(_env(tmp_path, mapping))
    assert result.returncode == 1, result.stdout
    assert re.search(r"FAIL\s+school_info\s+BackendAuthFailed", result.stdout), result.stdout
    # a 404 on the timetable is "nothing found", not an error: the contract's empty answer
    assert re.search(r"ok\s+timetable\s+0 record", result.stdout), result.stdout
    assert "Traceback" not in result.stderr


def test_check_config_rejects_a_wrong_mapping_in_one_sentence(tmp_path: Path) -> None:
    mapping = tmp_path / "bad.toml"
    mapping.write_text(
        'base_url = "http://127.0.0.1:9"\n[school]\nname = "X"\n'
        '[endpoints.find_student]\npath = "/s/{student_id}"\nfields = {}\n',
        encoding="utf-8",
    )
    result = _check_config(_env(tmp_path, mapping))
    assert result.returncode == 2
    assert "endpoints.get_student is required" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_parent_verifies_and_reads_scores_from_the_qlhs(tmp_path: Path, qlhs: FakeQlhs) -> None:
    bot = BotProcess(env=_env(tmp_path, qlhs.mapping_file(tmp_path)))
    try:
        bot.read_until("/quit")
        bot.type("HS8A03")
        bot.read_until("Gõ số để chọn")
        bot.type("1")  # 1. ✅ Đồng ý
        sms = bot.read_until("SMS giả lập")
        code = re.search(r"\b(\d{6})\b", sms.splitlines()[-1])
        assert code, sms
        bot.type(code.group(1))
        bot.read_until("Liên kết thành công")
        bot.type("điểm công nghệ")
        answer = bot.read_until("làm tròn")
        assert "6,6" in answer
        bot.type("/quit")
        bot.read_until("Tạm biệt")
        assert bot.close() == 0
    finally:
        bot.kill()
    assert "Traceback" not in "".join(bot.stderr)
    assert qlhs.hits("/api/v1/hoc-sinh/st-8a-03/diem") >= 1

    # Issue 14: the school office's notice to 8A reaches that parent. The classes and pupils
    # come from the school's own system, not from local tables (which are empty here).
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIENLAC_")}
    notice = subprocess.run(
        [sys.executable, "run_bot.py", "notice", "--class", "8A", "--text", "Họp lớp", "--yes"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, **_env(tmp_path, qlhs.mapping_file(tmp_path))},
    )
    assert notice.returncode == 0, notice.stdout + notice.stderr
    assert "To: 8A" in notice.stdout and "Recorded for 1 linked parent(s)." in notice.stdout


def test_check_config_on_oneroster(tmp_path: Path) -> None:
    from tests.fakes.oneroster import FakeOneRoster

    with FakeOneRoster() as provider:
        config = provider.config()
        lines = [f"{k} = {json.dumps(v)}" for k, v in config.items() if not isinstance(v, dict)]
        lines.append("[terms]")
        lines += [f"{json.dumps(k)} = {json.dumps(v)}" for k, v in config["terms"].items()]
        path = tmp_path / "oneroster.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        env = _env(tmp_path, path) | {"LIENLAC_BACKEND__KIND": "oneroster"}
        result = _check_config(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"ok\s+scores\s+12 record", result.stdout), result.stdout
    assert re.search(r"ok\s+changes\s+0 change", result.stdout), result.stdout
    assert "answered all 8 checks" in result.stdout
    assert "or-secret" not in result.stdout + result.stderr


def test_a_qlhs_down_at_start_still_opens_the_chat_with_a_clear_message(
    tmp_path: Path, qlhs: FakeQlhs
) -> None:
    qlhs.faults.down = True
    bot = BotProcess(env=_env(tmp_path, qlhs.mapping_file(tmp_path, retries=0)))
    try:
        bot.read_until("/quit")
        bot.type("HS8A03")
        assert "không phản hồi" in bot.read_until("không phản hồi")
        qlhs.faults.down = False
        bot.type("HS8A03")
        assert "09x xxx x24" in bot.read_until("09x xxx x24")  # no name before the OTP
        bot.type("/quit")
        bot.read_until("Tạm biệt")
        assert bot.close() == 0
    finally:
        bot.kill()
    assert "Traceback" not in "".join(bot.stderr)
