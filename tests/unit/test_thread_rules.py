"""The pure rules of relayed parent–teacher messages (bot/domain/threads.py, issue 17)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.domain.threads import (
    OfficeHours,
    Thread,
    ThreadPolicy,
    attachment_problem,
    hold_for,
    is_urgent,
    message_body,
    parse_command,
    parse_office_hours,
    window_open,
)
from bot.messages import ConversationKey

TZ = "Asia/Ho_Chi_Minh"
HOURS = OfficeHours(start=dt.time(7, 0), end=dt.time(17, 0))


def hanoi(day: int, hour: int, minute: int = 0) -> dt.datetime:
    local = dt.datetime(2026, 11, day, hour, minute, tzinfo=ZoneInfo(TZ))
    return local.astimezone(dt.UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7:00-17:00", (dt.time(7), dt.time(17))),
        ("7h-17h30", (dt.time(7), dt.time(17, 30))),
        ("07.30 – 16.00", (dt.time(7, 30), dt.time(16))),
        ("7-17", (dt.time(7), dt.time(17))),
        ("0:00-23:59", (dt.time(0), dt.time(23, 59))),
        ("17:00-7:00", None),  # the start must come first
        ("25:00-26:00", None),
        ("sáng", None),
        ("", None),
    ],
)
def test_office_hours_as_teachers_type_them(
    text: str, expected: tuple[dt.time, dt.time] | None
) -> None:
    parsed = parse_office_hours(text)
    assert (None if parsed is None else (parsed.start, parsed.end)) == expected


def test_a_message_outside_office_hours_waits_for_them_to_begin() -> None:
    policy = ThreadPolicy()
    inside = hold_for("họp phụ huynh", now=hanoi(23, 9), tz=TZ, hours=HOURS, policy=policy)
    assert inside.at is None and not inside.urgent
    evening = hold_for("họp phụ huynh", now=hanoi(25, 20), tz=TZ, hours=HOURS, policy=policy)
    assert evening.at == hanoi(26, 7)
    early = hold_for("họp phụ huynh", now=hanoi(26, 6, 59), tz=TZ, hours=HOURS, policy=policy)
    assert early.at == hanoi(26, 7)
    assert hold_for("x", now=hanoi(25, 17), tz=TZ, hours=HOURS, policy=policy).at == hanoi(26, 7)


def test_sundays_and_public_holidays_are_outside_office_hours_unless_the_school_says() -> None:
    policy = ThreadPolicy()
    # Tuesday 24/11/2026 is a public holiday (Ngày Văn hóa Việt Nam): Monday evening waits
    # for Wednesday; Saturday evening and Sunday noon for Monday
    assert hold_for("x", now=hanoi(23, 20), tz=TZ, hours=HOURS, policy=policy).at == hanoi(25, 7)
    assert hold_for("x", now=hanoi(28, 20), tz=TZ, hours=HOURS, policy=policy).at == hanoi(30, 7)
    assert hold_for("x", now=hanoi(29, 12), tz=TZ, hours=HOURS, policy=policy).at == hanoi(30, 7)
    every_day = ThreadPolicy(school_days_only=False)
    assert hold_for("x", now=hanoi(29, 12), tz=TZ, hours=HOURS, policy=every_day).at is None
    evening = hold_for("x", now=hanoi(23, 20), tz=TZ, hours=HOURS, policy=every_day)
    assert evening.at == hanoi(24, 7)


@pytest.mark.parametrize(
    "text", ["cháu bị ốm", "chau bi om sot", "về sức khoẻ của cháu", "cháu gặp TAI NẠN"]
)
def test_urgent_words_with_or_without_diacritics_go_at_once(text: str) -> None:
    hold = hold_for(text, now=hanoi(23, 22), tz=TZ, hours=HOURS, policy=ThreadPolicy())
    assert hold.urgent and hold.at is None


def test_ordinary_words_are_not_urgent() -> None:
    assert not is_urgent("cô cho cháu xin bài tập", ThreadPolicy().urgent_words)
    assert not is_urgent("cháu thích toán", ("",))  # an empty word matches nothing


def test_the_address_is_not_the_message() -> None:
    assert message_body("nhắn cô chủ nhiệm: cháu đau bụng") == "cháu đau bụng"
    assert message_body("nhan co chu nhiem chau dau bung") == "nhan co chu nhiem chau dau bung"
    assert message_body("  giờ họp: 8:00 nhé ") == "8:00 nhé"
    assert len(message_body("a" * 5000)) == 1000


@pytest.mark.parametrize(
    ("text", "verb", "thread_id", "rest"),
    [
        ("/traloi 12 Cô đã nhận", "reply", 12, "Cô đã nhận"),
        ("/reply #7 ok", "reply", 7, "ok"),
        ("/TRẢLỜI 3 được", "reply", 3, "được"),
        ("/traloi abc", "reply", None, ""),
        ("/mute 4", "mute", 4, ""),
        ("/mothongbao 4", "unmute", 4, ""),
        ("/nhantin cháu ốm", "message", None, "cháu ốm"),
        ("/message@LienLacBot hi", "message", None, "hi"),
        ("/giolamviec 7-17", "hours", None, "7-17"),
    ],
)
def test_typed_commands(text: str, verb: str, thread_id: int | None, rest: str) -> None:
    parsed = parse_command(text)
    assert parsed is not None
    assert (parsed.verb, parsed.thread_id, parsed.text) == (verb, thread_id, rest)


@pytest.mark.parametrize("text", ["traloi 12 ok", "/diem", "/traloi12", ""])
def test_other_text_is_not_a_command_of_this_feature(text: str) -> None:
    assert parse_command(text) is None


def test_attachment_limits() -> None:
    assert attachment_problem("photo", "", 2_000_000) is None
    assert attachment_problem("document", "application/pdf", 9 << 20) is None
    assert attachment_problem("document", "APPLICATION/PDF", 1) is None
    assert attachment_problem("document", "application/zip", 1) == "type"
    assert attachment_problem("photo", "", 11 << 20) == "too_big"


def test_only_zalo_oa_has_a_messaging_window() -> None:
    def thread(channel: str, seen: dt.datetime | None) -> Thread:
        key = ConversationKey(school_id="s", channel=channel, chat_id="c", user_id="u")
        return Thread(
            id=1,
            school_id="s",
            student_id="st",
            class_id="c",
            teacher_id="t",
            guardian_id="g",
            parent=key,
            muted_at=None,
            parent_seen_at=seen,
            created_at=hanoi(1, 9),
        )

    now = hanoi(23, 9)
    assert window_open(thread("telegram", None), now)
    assert window_open(thread("zalo_oa", now - dt.timedelta(days=6)), now)
    assert not window_open(thread("zalo_oa", now - dt.timedelta(days=7)), now)
    assert not window_open(thread("zalo_oa", None), now)
