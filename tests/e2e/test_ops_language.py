"""Issue 19: the operator's commands speak one language, as ``import`` does: English unless
``--lang vi`` or a ``vi_*`` locale, and every line of ``stats``, ``check-config`` and
``db upgrade`` follows it."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.process import cli_runner

ROOT = Path(__file__).resolve().parents[2]


def test_stats_check_config_and_db_follow_lang_or_the_locale(tmp_path: Path) -> None:
    run = cli_runner(tmp_path)
    upgraded = run("db", "upgrade", LANG="C.UTF-8")
    assert upgraded.returncode == 0 and "Database is at revision" in upgraded.stdout
    vi_db = run("--lang", "vi", "db", "upgrade")
    assert "Cơ sở dữ liệu đang ở phiên bản" in vi_db.stdout, vi_db.stdout + vi_db.stderr

    english = run("check-config")
    assert english.returncode == 0 and "Settings are valid." in english.stdout
    assert "  school demo (" in english.stdout
    vietnamese = run("check-config", LANG="vi_VN.UTF-8")
    assert vietnamese.returncode == 0, vietnamese.stdout + vietnamese.stderr
    assert "Cấu hình hợp lệ." in vietnamese.stdout and "  trường demo (" in vietnamese.stdout
    assert "Settings" not in vietnamese.stdout and "school " not in vietnamese.stdout

    stats_en = run("stats", "--lang", "en", LANG="vi_VN.UTF-8")  # --lang wins
    assert "Outbox (messages to parents and teachers):" in stats_en.stdout
    assert "oldest pending" in stats_en.stdout
    stats_vi = run("stats", "--lang", "vi")
    assert stats_vi.returncode == 0, stats_vi.stderr
    for line in ("Hàng đợi gửi", "chờ lâu nhất", "Đơn xin nghỉ:", "Mã xác nhận, 24 giờ qua:"):
        assert line in stats_vi.stdout, stats_vi.stdout
    assert "Outbox" not in stats_vi.stdout and "pending" not in stats_vi.stdout


def test_every_other_operator_command_follows_lang(tmp_path: Path) -> None:
    """demo info/reset, substitute, otp unlock, forget, db backup and notice: the same line in
    English by default and in Vietnamese with ``--lang vi`` (or a vi_* locale), never mixed."""
    run = cli_runner(tmp_path)
    assert run("db", "upgrade").returncode == 0

    info_en, info_vi = run("demo", "info"), run("demo", "info", LANG="vi_VN.UTF-8")
    assert "Students (code" in info_en.stdout and "Học sinh" not in info_en.stdout
    assert "Học sinh (mã" in info_vi.stdout and "Students" not in info_vi.stdout

    unlock, nobody = ("otp", "unlock", "--student", "HS6A01"), ("otp", "unlock", "--student", "X9")
    notice = ("notice", "--yes", "--class")
    pairs = [
        (("demo", "reset"), "The demo school was reset", "Đã đặt lại trường demo"),
        (("substitute", "list"), "No substitute homeroom teachers.", "Không có giáo viên"),
        (unlock, "Unlocked: the family of", "Đã mở khóa: gia đình"),
        (nobody, "No student with that code", "không có học sinh"),
        (("forget", "--student", "HS6A02"), "Forgotten: 0 chat(s)", "Đã xóa: 0 cuộc chat"),
        ((*notice, "6A", "--text", "Họp phụ huynh"), "Recorded for", "Đã ghi cho"),
        ((*notice, "9Z", "--text", "x"), "Unknown class: 9Z.", "Không có lớp: 9Z."),
        (("db", "backup", str(tmp_path / "b1.db")), "Backed up", "Đã sao lưu"),
    ]
    for args, english, vietnamese in pairs:
        en = run(*args)
        assert english in en.stdout + en.stderr, (args, en.stdout, en.stderr)
        if args[0] == "db":
            args = (*args[:-1], str(tmp_path / "b2.db"))
        vi = run("--lang", "vi", *args)
        said = vi.stdout + vi.stderr
        assert vietnamese in said and english not in said, (args, said)
        assert "Traceback" not in said
