"""Intent matching: commands and free Vietnamese text, with or without diacritics."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.intents import IntentName, looks_like_code, match


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("điểm toán", IntentName.SCORES),
        ("diem toan", IntentName.SCORES),
        ("ĐIỂM", IntentName.SCORES),
        ("/diem", IntentName.SCORES),
        ("/scores", IntentName.SCORES),
        ("bảng điểm của con", IntentName.SCORES),
        ("tkb thứ 3", IntentName.TIMETABLE),
        ("thoi khoa bieu", IntentName.TIMETABLE),
        ("/tkb@LienLacBot", IntentName.TIMETABLE),
        ("lịch học ngày mai", IntentName.TIMETABLE),
        ("thứ 2 học gì", IntentName.TIMETABLE),
        ("mai", IntentName.TIMETABLE),
        ("học phí", IntentName.FEES),
        ("hoc phi", IntentName.FEES),
        ("/hocphi", IntentName.FEES),
        ("khoản thu", IntentName.FEES),
        ("điểm danh", IntentName.ATTENDANCE),  # not "điểm" (scores)
        ("chuyên cần", IntentName.ATTENDANCE),
        ("/help", IntentName.HELP),
        ("xin chào", IntentName.HELP),
        ("/huy", IntentName.CANCEL),
        ("/cancel", IntentName.CANCEL),
        ("/xoa", IntentName.FORGET),
        ("/forget", IntentName.FORGET),
        ("/ngonngu", IntentName.LANG),
        ("/lang", IntentName.LANG),
        ("thêm con", IntentName.LINK),
        ("/start", IntentName.START),
        ("HS6A01", IntentName.CODE),
        ("hs6a01", IntentName.CODE),
        ("GV001", IntentName.CODE),
        ("con mèo", IntentName.UNKNOWN),
        ("", IntentName.UNKNOWN),
        ("/khonghieu", IntentName.UNKNOWN),
    ],
)
def test_match(text: str, intent: IntentName) -> None:
    assert match(text).name is intent


def test_code_keeps_what_was_typed() -> None:
    assert match("HS6A01").code == "HS6A01"
    assert match(" hs6a01 ").code == "hs6a01"


def test_codes_need_a_digit_and_no_spaces() -> None:
    assert looks_like_code("HS6A01")
    assert not looks_like_code("hello")
    assert not looks_like_code("12")
    assert not looks_like_code("x" * 40 + "1")


@given(st.text(max_size=300))
def test_match_never_crashes(text: str) -> None:
    assert match(text).name in set(IntentName)
