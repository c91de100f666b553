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
        ("leave tomorrow because sick", IntentName.ABSENCE),  # issue 19: not the timetable
        ("day off on Monday", IntentName.ABSENCE),
        ("timetable tomorrow", IntentName.TIMETABLE),
        ("who is on leave today", IntentName.CLASS_ABSENT),
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


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        # issue 20: a message meant for a teacher wins over the intent its words would match
        ("nhắn cô giáo chủ nhiệm: cháu hôm nay đau bụng", IntentName.TO_TEACHER),
        ("nhan co giao chu nhiem chau hom nay dau bung", IntentName.TO_TEACHER),
        ("gửi cô: mai cháu mang sách", IntentName.TO_TEACHER),
        ("báo thầy cháu đi muộn", IntentName.TO_TEACHER),
        ("nhờ nhắn giúp GVCN là học phí nộp mai", IntentName.TO_TEACHER),
        ("gửi nhà trường: cháu chuyển lớp", IntentName.TO_TEACHER),
        ("tell the teacher he is sick", IntentName.TO_TEACHER),
        # ... but not "có" (have), "thấy" (see), "bao giờ" (when), a notice or a leave request
        ("báo có điểm chưa", IntentName.SCORES),
        ("bao giờ cô trả bài", IntentName.UNKNOWN),
        ("gửi thông báo", IntentName.NOTICE),
        ("nhắn cô cho cháu xin nghỉ mai vì ốm", IntentName.ABSENCE),
        ("báo cô giúp: xin phép cho cháu nghỉ thứ 4", IntentName.ABSENCE),
        # next week's timetable, with or without diacritics
        ("tkb tuần sau", IntentName.TIMETABLE),
        ("tuần sau học gì", IntentName.TIMETABLE),
        ("tuan toi", IntentName.TIMETABLE),
        ("học bạ", IntentName.SCORES),
        ("hoc ba", IntentName.SCORES),
    ],
)
def test_everyday_questions(text: str, intent: IntentName) -> None:
    assert match(text).name is intent
