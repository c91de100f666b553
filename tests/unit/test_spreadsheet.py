"""The pure half of the import: rows -> records and row errors, no database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bot.backends.spreadsheet import (
    ImportFileError,
    Kind,
    Known,
    ParsedImport,
    check_references,
    parse_rows,
    read_file,
    write_template,
)


def parse(title: str, rows: Sequence[Sequence[Any]], kind: Kind | None = None) -> ParsedImport:
    numbered = ((n, list(r)) for n, r in enumerate(rows, start=1))
    return parse_rows([(title, numbered)], kind=kind)


def messages(parsed: ParsedImport, known: Known | None = None) -> list[str]:
    errors = parsed.errors + check_references(parsed, known or Known())
    return [str(e) for e in errors]


# --- headers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        ["Mã HS", "Họ và tên", "Lớp", "Ngày sinh"],
        ["Mã học sinh", "Họ tên", "lớp", "ngày sinh"],
        ["MA HOC SINH", "HO VA TEN", "LOP", "NGAY SINH"],  # no diacritics, upper case
        ["  mã  hs ", "Họ và tên học sinh", "Tên lớp", "Ngày tháng năm sinh"],
        ["Ma HS", "Ho ten", "Lop", "Ngay sinh"],
    ],
)
def test_student_header_variants_are_recognised(headers: list[str]) -> None:
    parsed = parse("Sheet1", [headers, ["HS6A01", "Nguyễn Minh An", "6A", "15/03/2014"]])
    assert parsed.errors == []
    [record] = parsed.of(Kind.STUDENTS)
    assert record["code"] == "HS6A01"
    assert record["name"] == "Nguyễn Minh An"
    assert record["birth_date"] == dt.date(2014, 3, 15)


def test_nfd_headers_and_values_are_composed() -> None:
    import unicodedata

    nfd = [unicodedata.normalize("NFD", h) for h in ("Mã HS", "Họ và tên", "Lớp")]
    parsed = parse("Học sinh", [nfd, ["HS1", unicodedata.normalize("NFD", "Lê Ngọc Ánh"), "7A"]])
    assert parsed.of(Kind.STUDENTS)[0]["name"] == "Lê Ngọc Ánh"


def test_title_rows_above_the_header_are_skipped_and_rows_keep_their_numbers() -> None:
    parsed = parse(
        "DS",
        [
            ["SỞ GD&ĐT HÀ NỘI"],
            ["DANH SÁCH HỌC SINH LỚP 6A — NĂM HỌC 2026-2027"],
            [],
            ["STT", "Mã HS", "Họ và tên", "Lớp"],
            [1, "HS6A01", "Nguyễn Minh An", "6A"],
            [],
            [2, "HS6A02", "Trần Bảo Ngọc", "6A"],
        ],
    )
    assert [r.row for r in parsed.of(Kind.STUDENTS)] == [5, 7]


@pytest.mark.parametrize(
    ("headers", "kind"),
    [
        (["Lớp", "Khối", "GVCN"], Kind.CLASSES),
        (["Mã GV", "Họ và tên", "SĐT", "Lớp chủ nhiệm", "Môn dạy"], Kind.TEACHERS),
        (["Mã HS", "Họ tên phụ huynh", "Quan hệ", "SĐT phụ huynh"], Kind.GUARDIANS),
        (["Mã HS", "Điện thoại"], Kind.GUARDIANS),
        (["Mã HS", "Môn", "Học kỳ", "TX1", "TX2", "GK", "CK"], Kind.SCORES),
        (["Mã HS", "Môn học", "HK", "ĐĐGtx1", "ĐĐGgk", "ĐĐGck"], Kind.SCORES),
        (["Lớp", "Thứ", "Buổi", "Tiết", "Môn", "Giáo viên", "Phòng"], Kind.TIMETABLE),
        (["Mã HS", "Khoản thu", "Số tiền", "Hạn nộp"], Kind.FEES),
        (["Mã HS", "Ngày", "Buổi", "Có phép", "Lý do"], Kind.ATTENDANCE),
    ],
)
def test_kind_is_detected_from_headers(headers: list[str], kind: Kind) -> None:
    parsed = parse("export", [headers, ["?"] * len(headers)])
    assert parsed.sheets == {kind: ["export"]}


def test_scores_with_comma_and_point_decimals_and_gaps() -> None:
    parsed = parse(
        "Điểm",
        [
            ["Mã HS", "Môn", "Học kỳ", "TX1", "TX 2", "tx3", "TX4", "GK", "CK"],
            ["HS1", "Toán", "HK I", 8, "7,5", None, 9.0, "6.8", 7.25 - 0.05],
            ["HS1", "the duc", "2", "Đ", "CĐ", "", "", "", ""],
        ],
    )
    assert parsed.errors == []
    toan, gdtc = parsed.of(Kind.SCORES)
    assert toan["subject"] == "toan" and toan["term"] == 1
    assert toan["regular"] == ((1, 80), (2, 75), (4, 90))
    assert (toan["gk"], toan["ck"]) == (68, 72)
    assert gdtc["subject"] == "gdtc" and gdtc["term"] == 2
    assert gdtc["comments"] == ((1, True), (2, False))


def test_phone_numbers_are_normalised() -> None:
    parsed = parse(
        "Phụ huynh",
        [
            ["Mã HS", "SĐT phụ huynh"],
            ["HS1", "+84 912 345 678"],
            ["HS2", "0912.345.679"],
            ["HS3", 912345670],  # typed as a number: Excel dropped the leading zero
        ],
    )
    assert [r["phone"] for r in parsed.of(Kind.GUARDIANS)] == [
        "0912345678",
        "0912345679",
        "0912345670",
    ]


def test_teacher_assignments_are_read() -> None:
    parsed = parse(
        "Giáo viên",
        [
            ["Mã GV", "Họ tên", "Lớp chủ nhiệm", "Môn dạy"],
            [
                "GV1",
                "Nguyễn Thị Hoa",
                "6A",
                "Toán: 6A, 7A; Hoạt động trải nghiệm, hướng nghiệp: 6A",
            ],
        ],
    )
    [t] = parsed.of(Kind.TEACHERS)
    assert t["homeroom"] == ("6A",)
    assert t["teaches"] == (("toan", "6A"), ("toan", "7A"), ("hdtn_hn", "6A"))


# --- row errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (["HS1", "Toán", 1, 11], "trang 'Điểm', dòng 2, cột 'TX1': điểm 11 ngoài thang 0–10"),
        (["HS1", "Toán", 1, "-1"], "cột 'TX1': điểm -1 ngoài thang 0–10"),
        (["HS1", "Toán", 1, "abc"], "cột 'TX1': 'abc' không phải là điểm số"),
        (["HS1", "Toán", 1, "7,25"], "cột 'TX1': điểm 7,25 có quá một chữ số thập phân"),
        (["HS1", "Toán", 1, "Đ"], "cột 'TX1': môn này chấm điểm số, không ghi Đ/CĐ"),
        (["HS1", "Thể dục", 1, 8], "cột 'TX1': '8': môn chỉ nhận xét, cần ghi Đ hoặc CĐ"),
        (["HS1", "Bơi lội", 1, 8], "cột 'Môn': môn 'Bơi lội' không có trong danh mục"),
        (["HS1", "Toán", 3, 8], "cột 'Học kỳ': học kỳ phải là 1 hoặc 2"),
        (["", "Toán", 1, 8], "cột 'Mã HS': bắt buộc, không được để trống"),
    ],
)
def test_score_row_errors_name_sheet_row_and_column(row: list[Any], expected: str) -> None:
    parsed = parse("Điểm", [["Mã HS", "Môn", "Học kỳ", "TX1"], row])
    assert any(expected in m for m in messages(parsed)), messages(parsed)
    assert parsed.of(Kind.SCORES) == []


def test_invalid_phone_is_reported_without_echoing_it() -> None:
    parsed = parse("Phụ huynh", [["Mã HS", "SĐT phụ huynh"], ["HS1", "0123 45"]])
    [message] = messages(parsed)
    assert "dòng 2, cột 'SĐT phụ huynh': số điện thoại không hợp lệ" in message
    assert "0123" not in message


@pytest.mark.parametrize(
    ("sheet", "rows", "expected"),
    [
        (
            "Học sinh",
            [["Mã HS", "Họ tên", "Lớp", "Ngày sinh"], ["HS1", "An", "6A", "31/02/2014"]],
            "cột 'Ngày sinh': ngày '31/02/2014' không hợp lệ (dạng dd/mm/yyyy)",
        ),
        (
            "Học sinh",
            [["Mã HS", "Họ tên", "Lớp", "Ngày sinh"], ["HS1", "An", "6A", "2014-03-15"]],
            "không hợp lệ (dạng dd/mm/yyyy)",
        ),
        (
            "Học sinh",
            [["Mã HS", "Họ tên", "Lớp"], ["HS 1!", "An", "6A"]],
            "cột 'Mã HS': mã chỉ được gồm",
        ),
        (
            "Lớp",
            [["Lớp", "Khối"], ["6A", "sáu"]],
            "cột 'Khối': cần một số nguyên từ 1 đến 12",
        ),
        (
            "Thời khóa biểu",
            [["Lớp", "Thứ", "Buổi", "Tiết", "Môn"], ["6A", 8, "Tối", 11, "Toán"]],
            "cột 'Thứ': thứ phải từ 2 đến 7",
        ),
        (
            "Thời khóa biểu",
            [["Lớp", "Thứ", "Buổi", "Tiết", "Môn"], ["6A", 2, "Tối", 1, "Toán"]],
            "cột 'Buổi': buổi phải là Sáng hoặc Chiều",
        ),
        (
            "Khoản thu",
            [["Mã HS", "Khoản thu", "Số tiền"], ["HS1", "BHYT", "sáu trăm"]],
            "cột 'Số tiền': số tiền không hợp lệ",
        ),
        (
            "Khoản thu",
            [["Mã HS", "Khoản thu", "Số tiền", "Bắt buộc"], ["HS1", "BHYT", 1000, "có lẽ"]],
            "cột 'Bắt buộc': cần ghi Có hoặc Không",
        ),
        (
            "Điểm danh",
            [["Mã HS", "Ngày"], ["HS1", ""]],
            "cột 'Ngày': thiếu ngày (dạng dd/mm/yyyy)",
        ),
        (
            "Học sinh",
            [["Mã HS", "Họ tên"], ["HS1", "An"]],
            "trang 'Học sinh': không tìm thấy dòng tiêu đề: thiếu cột Lớp",
        ),
    ],
)
def test_each_kind_of_row_error(sheet: str, rows: list[list[Any]], expected: str) -> None:
    found = messages(parse(sheet, rows))
    assert any(expected in m for m in found), found


def test_duplicates_and_unknown_references_are_errors() -> None:
    sheets = [
        ("Lớp", [["Lớp", "Khối", "GVCN"], ["6A", 6, "GV9"]]),
        (
            "Học sinh",
            [
                ["Mã HS", "Họ tên", "Lớp"],
                ["HS1", "An", "6A"],
                ["hs1", "Bình", "6A"],
                ["HS2", "Chi", "6Z"],
            ],
        ),
        ("Phụ huynh", [["Mã HS", "SĐT phụ huynh"], ["HS7", "0912345678"]]),
    ]
    parsed = parse_rows([(t, ((n, r) for n, r in enumerate(rows, 1))) for t, rows in sheets])
    found = messages(parsed)
    assert "trang 'Lớp', dòng 2, cột 'GVCN (mã GV)': mã giáo viên không có" in found
    assert (
        "trang 'Học sinh', dòng 3, cột 'Mã HS': mã học sinh bị trùng (xem Học sinh, dòng 2)"
        in found
    )
    assert "trang 'Học sinh', dòng 4, cột 'Lớp': lớp '6Z' không có" in found
    assert (
        "trang 'Phụ huynh', dòng 2, cột 'Mã HS': mã học sinh không có trong danh sách học sinh"
        in found
    )
    # what the database already has counts as known
    assert messages(parsed, Known(teachers=frozenset({"GV9"}), students=frozenset({"HS7"}))) == [
        m for m in found if "GVCN" not in m and "Phụ huynh" not in m
    ]


def test_conflicting_homeroom_teachers_are_an_error() -> None:
    sheets = [
        ("Lớp", [["Lớp", "Khối", "GVCN"], ["6A", 6, "GV1"]]),
        ("Giáo viên", [["Mã GV", "Họ tên", "Lớp chủ nhiệm"], ["GV1", "A", ""], ["GV2", "B", "6A"]]),
    ]
    parsed = parse_rows([(t, ((n, r) for n, r in enumerate(rows, 1))) for t, rows in sheets])
    assert any("lớp 6A đã có GVCN khác (xem Lớp, dòng 2)" in m for m in messages(parsed))


# --- files ---------------------------------------------------------------------------------


def test_template_has_a_sheet_per_kind_with_vietnamese_headers(tmp_path: Path) -> None:
    path = tmp_path / "mau.xlsx"
    write_template(path)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == [
        "Hướng dẫn",
        "Trường",
        "Lớp",
        "Giáo viên",
        "Học sinh",
        "Phụ huynh",
        "Điểm",
        "Thời khóa biểu",
        "Khoản thu",
        "Điểm danh",
    ]
    headers = [c.value for c in wb["Điểm"][2]]
    assert headers == ["Mã HS", "Môn", "Học kỳ", "TX1", "TX2", "TX3", "TX4", "GK", "CK"]
    assert "Ví dụ" in wb["Học sinh"]["A1"].value
    with pytest.raises(ImportFileError, match="không tìm thấy dữ liệu"):
        read_file(path)  # a blank template has nothing to import


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.xlsx", None, "không tồn tại"),
        ("empty.xlsx", b"", "tệp rỗng"),
        ("junk.xlsx", b"PK\x03\x04 this is not a zip at all", ".xlsx hợp lệ"),
        ("text.xlsx", b"hello, world\n", ".xlsx hợp lệ"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "Excel cũ"),
        ("binary.csv", bytes(range(256)) * 10, "không phải là bảng tính"),
    ],
)
def test_unreadable_files_raise_a_clear_error(
    tmp_path: Path, name: str, content: bytes | None, expected: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImportFileError, match=expected):
        read_file(path)


def test_csv_of_unknown_headers_asks_for_the_kind(tmp_path: Path) -> None:
    path = tmp_path / "unknown.csv"
    path.write_bytes(b"a,b,c\n1,2,3\n")
    [error] = read_file(path).errors
    assert "không nhận ra loại dữ liệu" in str(error) and "--kind" in str(error)


def test_csv_with_bom_semicolons_and_a_forced_kind(tmp_path: Path) -> None:
    path = tmp_path / "diem.csv"
    path.write_bytes("\ufeffMã HS;Môn;Học kỳ;TX1;GK;CK\nHS1;Toán;1;8,5;7;6,8\n".encode())
    parsed = read_file(path)
    assert parsed.errors == []
    [r] = parsed.of(Kind.SCORES)
    assert r["regular"] == ((1, 85),) and r["ck"] == 68

    odd = tmp_path / "lop.csv"
    odd.write_text("Lớp,Khối\n6A,6\n", encoding="utf-8")
    assert read_file(odd, kind=Kind.CLASSES).of(Kind.CLASSES)[0]["grade"] == 6


def test_workbook_with_no_recognisable_sheet_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["Tên", "Tuổi"])
    wb.active.append(["An", 12])
    wb.save(path)
    with pytest.raises(ImportFileError, match="không tìm thấy dữ liệu"):
        read_file(path)


def test_a_rejected_student_is_not_reported_again_as_unknown() -> None:
    sheets = [
        ("Học sinh", [["Mã HS", "Họ tên", "Lớp", "Ngày sinh"], ["HS1", "An", "6A", "99/99/2014"]]),
        ("Điểm", [["Mã HS", "Môn", "Học kỳ", "TX1"], ["HS1", "Toán", 1, 8]]),
    ]
    parsed = parse_rows([(t, ((n, r) for n, r in enumerate(rows, 1))) for t, rows in sheets])
    assert messages(parsed, Known(classes=frozenset({"6A"}))) == [
        "trang 'Học sinh', dòng 2, cột 'Ngày sinh': "
        "ngày '99/99/2014' không hợp lệ (dạng dd/mm/yyyy)"
    ]


def test_an_amount_too_large_for_the_database_is_an_error() -> None:
    parsed = parse("Khoản thu", [["Mã HS", "Khoản thu", "Số tiền"], ["HS1", "X", "3.000.000.000"]])
    assert any("số tiền quá lớn" in m for m in messages(parsed))


def test_the_reader_needs_no_database() -> None:
    from tests.unit.test_architecture import ROOT, _imports

    assert _imports(ROOT / "bot/backends/spreadsheet.py") & {"sqlalchemy", "storage"} == set()
