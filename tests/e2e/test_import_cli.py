"""`python run_bot.py import` as a real process: exit codes, the summary, no traceback ever,
and the README path: import a school, then serve it with LIENLAC_SCHOOL_ID."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from bot.backends.demo_data import build_demo_school
from tests.e2e.process import ROOT, BotProcess, cli_runner
from tests.workbooks import demo_rows, fill

SCHOOL = "thcs-nhap"


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIENLAC_")}
    env["LIENLAC_DATA_DIR"] = str(tmp_path / "data")
    env.update(LC_ALL="", LC_MESSAGES="", LANG="vi_VN.UTF-8")  # the locale picks Vietnamese
    done = subprocess.run(
        [sys.executable, str(ROOT / "run_bot.py"), "import", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def test_template_import_dry_run_reimport_and_serve(tmp_path: Path) -> None:
    made = cli(tmp_path, "--template")
    assert made.returncode == 0, made.stdout + made.stderr
    template = tmp_path / "lienlac-mau-nhap-du-lieu.xlsx"
    assert template.exists()
    assert cli(tmp_path, "--template", "mau.xlsx").returncode == 0
    assert (tmp_path / "mau.xlsx").exists()

    fill(template, demo_rows(build_demo_school()))
    preview = cli(tmp_path, str(template), "--school", SCHOOL, "--dry-run")
    assert preview.returncode == 0, preview.stdout
    assert "Chạy thử: chưa ghi gì" in preview.stdout
    assert re.search(r"Học sinh\s+38\s+0\s+0", preview.stdout), preview.stdout

    first = cli(tmp_path, str(template), "--school", SCHOOL, "--name", "Trường THCS Nhập Thử")
    assert first.returncode == 0, first.stdout
    assert "Trường 'thcs-nhap': tạo mới." in first.stdout
    assert re.search(r"Điểm\s+456\s+0\s+0", first.stdout), first.stdout
    assert "Đã nhập xong" in first.stdout
    assert "0900000" not in first.stdout + first.stderr  # no phone number printed

    again = cli(tmp_path, str(template), "--school", SCHOOL)
    assert again.returncode == 0
    # without --name, the name in the sheet "Trường" is the school's name
    assert "Trường 'thcs-nhap': cập nhật name." in again.stdout
    assert re.search(r"Điểm\s+0\s+0\s+456", again.stdout), again.stdout
    assert "(0 điểm mới hoặc đã sửa)" in again.stdout

    wb = openpyxl.load_workbook(template)
    ws = wb["Điểm"]
    ws.cell(row=3, column=4).value = 11
    ws.cell(row=4, column=2).value = "Bơi lội"
    wb.save(template)
    bad = cli(tmp_path, str(template), "--school", SCHOOL)
    assert bad.returncode == 1
    assert "Tệp có 2 lỗi; không nhập gì cả:" in bad.stdout
    assert "trang 'Điểm', dòng 3, cột 'TX1': điểm 11 ngoài thang 0–10" in bad.stdout
    assert "trang 'Điểm', dòng 4, cột 'Môn': môn 'Bơi lội' không có" in bad.stdout

    # The README path: serve the imported school, a parent links and reads a score.
    bot = BotProcess(
        "run",
        env={
            "LIENLAC_DATA_DIR": str(tmp_path / "data"),
            "LIENLAC_SCHOOL_ID": SCHOOL,
            "LIENLAC_SEED_DEMO": "false",
        },
    )
    try:
        assert "Trường THCS Nguyễn Du (demo)" in bot.read_until("/quit")
        bot.type("HS8A03")
        bot.read_until("Gõ số để chọn")
        bot.type("1")
        sms = bot.read_until("SMS giả lập")
        code = re.search(r"\b(\d{6})\b", sms.splitlines()[-1])
        assert code, sms
        bot.type(code.group(1))
        bot.read_until("Liên kết thành công")
        bot.type("diem cong nghe")
        assert "6,6" in bot.read_until("làm tròn")
        bot.type("/quit")
        bot.read_until("Tạm biệt")
        assert bot.close() == 0
    finally:
        bot.kill()
    assert "Traceback" not in "".join(bot.stderr)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.xlsx", None, "không tồn tại"),
        ("not-excel.xlsx", b"<html>hello</html>", ".xlsx hợp lệ"),
        ("empty.xlsx", "workbook", "không tìm thấy dữ liệu"),
        ("junk.bin", "junk", "không phải là bảng tính"),
    ],
)
def test_unreadable_files_exit_2_with_a_message(
    tmp_path: Path, name: str, content: bytes | str | None, expected: str
) -> None:
    path = tmp_path / name
    if content == "workbook":
        openpyxl.Workbook().save(path)
    elif content == "junk":
        with path.open("wb") as f:  # 50 MB of noise
            for i in range(50):
                f.write(bytes((i * 7 + j * 13) % 256 for j in range(256)) * 4096)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    done = cli(tmp_path, str(path), "--school", SCHOOL, "--name", "X")
    assert done.returncode == 2, done.stdout + done.stderr
    assert expected in done.stdout


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert cli(tmp_path, "x.xlsx").returncode == 2  # no --school
    assert cli(tmp_path, "x.xlsx", "--school", "Bad Id!").returncode == 2


def test_a_csv_of_one_kind(tmp_path: Path) -> None:
    classes = tmp_path / "lop.csv"
    classes.write_text("Lớp;Khối\n6A;6\n7A;7\n", encoding="utf-8-sig")
    done = cli(tmp_path, str(classes), "--school", SCHOOL, "--name", "Trường Tiểu học A")
    assert done.returncode == 0, done.stdout
    assert re.search(r"Lớp\s+2\s+0\s+0", done.stdout), done.stdout
    unknown = tmp_path / "x.csv"
    unknown.write_text("Lớp học,Sĩ số\n6A,40\n", encoding="utf-8")
    refused = cli(tmp_path, str(unknown), "--school", SCHOOL)
    assert refused.returncode == 1 and "--kind" in refused.stdout
    forced = cli(tmp_path, str(unknown), "--school", SCHOOL, "--kind", "classes")
    assert forced.returncode == 1  # the headers still have to name the columns
    assert "trang 'x.csv': không tìm thấy dòng tiêu đề: thiếu cột Lớp, Khối" in forced.stdout


def test_import_speaks_the_language_of_lang_or_the_locale(tmp_path: Path) -> None:
    """Issue 19: like every other command, English unless --lang vi or a vi_* locale."""
    run = cli_runner(tmp_path)
    plain = run("import", "--template", "a.xlsx", LANG="C.UTF-8")
    assert plain.returncode == 0 and "Wrote the import template: a.xlsx" in plain.stdout
    english = run("import", "--template", "b.xlsx", LANG="en_GB.UTF-8")
    assert "Wrote the import template" in english.stdout
    vietnamese = run("import", "--template", "c.xlsx", LANG="vi_VN.UTF-8")
    assert "Đã ghi mẫu nhập dữ liệu: c.xlsx" in vietnamese.stdout
    chosen = run("--lang", "vi", "import", "--template", "d.xlsx", LC_ALL="en_US.UTF-8")
    assert "Đã ghi mẫu nhập dữ liệu" in chosen.stdout  # --lang wins over the locale
    missing = run("import", "--lang", "en", "a.xlsx", LANG="vi_VN.UTF-8")
    assert missing.returncode == 2 and "Give a file and --school" in missing.stderr
    empty = run("import", "a.xlsx", "--school", "thcs-en", "--dry-run", "--lang", "en")
    assert empty.returncode == 2 and "Could not import a.xlsx:" in empty.stdout
    # (what is wrong inside the workbook is named as its Vietnamese sheets and columns are)
    empty_en = empty.stdout.split("Could not import a.xlsx:", 1)[1]
    assert "no data found" in empty_en and "không" not in empty_en, empty.stdout


def test_row_errors_follow_the_language_and_keep_the_files_own_titles(tmp_path: Path) -> None:
    """Issue 19: a row-level problem is said in the operator's language; the sheet and column
    are named as the file names them, so the operator finds the cell."""
    pupils = tmp_path / "hs.csv"
    pupils.write_text(
        "Mã HS;Họ và tên;Lớp;Ngày sinh\nHS1;Lê An;6A;\nHS1;Lê Bình;6A;\nHS2;Lê Chi;6A;31/02/2014\n",
        encoding="utf-8-sig",
    )
    run = cli_runner(tmp_path)
    english = run("import", str(pupils), "--school", "thcs-en", "--name", "A", "--lang", "en")
    assert english.returncode == 1, english.stdout + english.stderr
    said = english.stdout
    assert "sheet 'hs.csv', row 4, column 'Ngày sinh': the date '31/02/2014' is not valid" in said
    assert "the student code appears twice (see hs.csv, row 2)" in said
    assert "no class '6A'" in said
    assert "dòng" not in said and "không" not in said and "Traceback" not in english.stderr
    vietnamese = run("import", str(pupils), "--school", "x", "--name", "A", LANG="vi_VN.UTF-8")
    assert "trang 'hs.csv', dòng 4, cột 'Ngày sinh': ngày '31/02/2014' không hợp lệ" in (
        vietnamese.stdout
    )
    assert "mã học sinh bị trùng (xem hs.csv, dòng 2)" in vietnamese.stdout
