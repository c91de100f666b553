from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.text import (
    contains_phrase,
    fold,
    nfc,
    parse_relative_day,
    parse_week,
    parse_weekday,
    truncate,
)


def test_nfc_composes_what_ios_sends() -> None:
    decomposed = unicodedata.normalize("NFD", "Điểm Toán")
    assert decomposed != "Điểm Toán"
    assert nfc(decomposed) == "Điểm Toán"


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("Điểm  TOÁN!", "diem toan"),
        ("tkb thứ 3", "tkb thu 3"),
        ("25/11-27/11", "25/11-27/11"),
        ("  Xin   nghỉ học, ngày mai.  ", "xin nghi hoc ngay mai"),
        ("Ưu tiên: Ơn", "uu tien: on"),
        ("học_phí?!", "hoc phi"),
        ("7:30", "7:30"),
        ("", ""),
    ],
)
def test_fold(raw: str, folded: str) -> None:
    assert fold(raw) == folded


def test_fold_is_the_same_for_nfd_input_and_idempotent() -> None:
    text = "Thứ Bảy đi dã ngoại"
    assert fold(unicodedata.normalize("NFD", text)) == fold(text) == "thu bay di da ngoai"
    assert fold(fold(text)) == fold(text)


@pytest.mark.parametrize(
    ("text", "weekday"),
    [
        ("thứ 2", 0),
        ("thu 2", 0),
        ("thứ hai", 0),
        ("thu hai", 0),
        ("T2", 0),
        ("t2", 0),
        ("tkb thứ2", 0),
        ("thứ ba", 1),
        ("thu 3", 1),
        ("T3", 1),
        ("tkb thứ tư", 2),
        ("thu tu", 2),
        ("thứ 4", 2),
        ("thứ năm", 3),
        ("thu nam", 3),
        ("T5", 3),
        ("thứ sáu", 4),
        ("thu sau", 4),
        ("T6", 4),
        ("thứ bảy", 5),
        ("thu bay", 5),
        ("T7", 5),
        ("chủ nhật", 6),
        ("chu nhat", 6),
        ("CN", 6),
        ("Lịch học thứ 3 tuần này?", 1),
        ("monday", 0),
        ("Timetable for Tuesday", 1),
        ("wed", 2),
        ("thursday", 3),
        ("fri", 4),
        ("sat", 5),
        ("sun", 6),
        ("mon", 0),
        ("timetable mon?", 0),
        ("mon 25/11", 0),
    ],
)
def test_parse_weekday(text: str, weekday: int) -> None:
    assert parse_weekday(text) == weekday


@pytest.mark.parametrize(
    "text",
    [
        "từ hôm qua",  # từ = from
        "tu hom qua",
        "năm học 2026",  # năm = year
        "nam hoc 2026",
        "sau giờ học",  # sau = after
        "máy bay",  # bay = fly
        "điểm môn toán",  # môn = subject
        "diem mon toan",
        "thu tiền quỹ lớp",  # thu = collect
        "thứ",
        "t8",
        "lớp 6A2",
        "ct2",
        "",
    ],
)
def test_parse_weekday_does_not_misfire(text: str) -> None:
    assert parse_weekday(text) is None


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("hôm nay", 0),
        ("hom nay co bai tap gi", 0),
        ("today", 0),
        ("TKB Hôm Nay", 0),
        ("mai", 1),
        ("ngày mai", 1),
        ("ngay mai", 1),
        ("sáng mai con nghỉ", 1),
        ("tomorrow", 1),
        ("ngày kia", 2),
        ("ngay kia", 2),
        ("mốt", 2),
        ("ngày mốt", 2),
        ("ngay mot", 2),
        ("tkb mot", 2),
        ("hôm qua", -1),
        ("hom qua", -1),
        ("yesterday", -1),
    ],
)
def test_parse_relative_day(text: str, offset: int) -> None:
    assert parse_relative_day(text) == offset


@pytest.mark.parametrize(
    "text",
    [
        "một môn",  # một = one
        "mot mon",  # "mot" not after ngày and not last
        "mái nhà",  # mái = roof
        "nhắn cô Mai",  # a teacher called Mai
        "thầy mai",
        "hôm",
        "nay",
        "maiphuong",
        "todays",
        "tuần này",
        "",
    ],
)
def test_parse_relative_day_does_not_misfire(text: str) -> None:
    assert parse_relative_day(text) is None


def test_parse_relative_day_takes_the_first_mention() -> None:
    assert parse_relative_day("hôm qua con nghỉ, mai đi học lại") == -1


@pytest.mark.parametrize(
    ("text", "phrase", "expected"),
    [
        ("diem toan", "toan", True),
        ("xem diem toan hk1", "diem toan", True),
        ("khoan thu", "thu", True),
        ("khoan thu", "oan", False),
        ("toan2", "toan", False),
        ("tkb: thu 2", "tkb", True),
        ("diem  toan", "diem toan", False),  # text must be folded (single spaces)
        ("diem toan", "diem  toan", True),
        ("diem toan", "", False),
        ("a.b", "a.b", True),
        ("axb", "a.b", False),  # the phrase is literal, not a regex
    ],
)
def test_contains_phrase(text: str, phrase: str, expected: bool) -> None:
    assert contains_phrase(text, phrase) is expected


def test_truncate() -> None:
    assert truncate("Xin chào", 20) == "Xin chào"
    assert truncate("Xin chào", 8) == "Xin chào"
    assert truncate("Xin chào các bạn", 9) == "Xin chào…"
    assert len(truncate("Xin chào các bạn", 9)) == 9
    assert truncate("abc", 1) == "…"
    nfd = unicodedata.normalize("NFD", "Điểm")
    assert truncate(nfd, 4) == "Điểm"
    with pytest.raises(ValueError, match="limit"):
        truncate("abc", 0)


@given(st.text())
def test_clean_leaves_no_control_or_bidi_character(raw: str) -> None:
    import unicodedata

    from bot.domain.text import clean

    out = clean(raw)
    assert "\x00" not in out and "\r" not in out
    for ch in out:
        category = unicodedata.category(ch)
        assert ch in "\n\t\u200d\ufe0e\ufe0f" or category not in ("Cc", "Cf", "Cs")
    assert clean(out) == out  # once is enough


def test_clean_keeps_vietnamese_and_emoji_sequences() -> None:
    from bot.domain.text import clean

    text = "Cháu bị sốt 👨‍👩‍👧 ❤️\nđi khám\tngay"
    assert clean(text) == text
    assert clean("a\u202eb\x07c\x00d\u2066e\r\nf") == "abcde\nf"


@pytest.mark.parametrize(
    ("text", "week"),
    [
        ("tkb tuần sau", 1),
        ("tkb tuan sau", 1),
        ("tuần tới", 1),
        ("thứ 2 tuần sau", 1),
        ("thứ sáu tuần sau", 1),
        ("tuần sau nữa", 2),
        ("tkb tuần trước", -1),
        ("tuần vừa rồi", -1),
        ("tkb tuần này", 0),
        ("tkb cả tuần", 0),
        ("timetable next week", 1),
        ("last week", -1),
        ("week", 0),
        ("tkb thứ sáu", None),  # "sáu" after "thứ" is Friday, no week
        ("tkb Tuấn", None),  # a child called Tuấn
        ("tkb", None),
    ],
)
def test_parse_week(text: str, week: int | None) -> None:
    assert parse_week(text) == week
