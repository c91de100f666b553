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
