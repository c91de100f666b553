"""Nothing personal in the logs (issue 13, "the proof"): the real process at DEBUG runs the
journeys of a parent and a teacher on Telegram, and no log line (nor any reply meant for an
error) holds a phone number, an OTP, a student or staff code, a pupil's name, a score, the
bot token or the SMS gateway's secret."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.test_telegram_e2e import (
    MOM_6A01,
    TOKEN,
    BotProcess,
    labels,
    link,
    press,
    say,
)
from tests.fakes.sms_gateway import FakeSmsGateway
from tests.fakes.telegram_api import FakeTelegramApi

pytestmark = pytest.mark.e2e

PHONE = re.compile(r"(?<!\d)(?:\+?84|0)\d{9}(?!\d)")
CODE = re.compile(r"\b(?:HS\d[A-Z]\d{2}|GV\d{3})\b")
NAMES = ("Nguyễn Minh An", "Nguyễn Thị Thanh Hoa", "Minh An")


def personal_lines(replies: list[dict[str, Any]]) -> set[str]:
    """Lines of what the bot told people that would be personal in a log: names with
    classes, scores, timetable rows, amounts."""
    found = set()
    for reply in replies:
        for line in str(reply.get("text") or "").splitlines():
            line = line.strip()
            if len(line) >= 12 and re.search(r"\d", line):
                found.add(line)
    return found


def test_every_journey_at_debug_logs_nothing_personal(
    bot: BotProcess, api: FakeTelegramApi, sms: FakeSmsGateway
) -> None:
    parent, teacher = 4101, 4102
    bot.start()
    say(api, parent, "/start", "Xin chào")
    link(api, sms, parent, "HS6A01", MOM_6A01, who="Mẹ")
    say(api, parent, "điểm toán", "Toán")
    say(api, parent, "diem", "Điểm")
    say(api, parent, "tkb thứ 3", "Thứ Ba")
    say(api, parent, "học phí", "₫")
    say(api, parent, "chuyên cần", "Nguyễn Minh An")
    say(api, parent, "mã sai HS9Z99", "")
    say(api, parent, "xin nghỉ cho cháu thứ 4 cả ngày vì ốm", "Gửi đơn")
    press(api, parent, "Gửi đơn", "đơn #")

    say(api, teacher, "GV001", "Điều khoản")
    sent_before = len(sms.sent)
    press(api, teacher, "Đồng ý", "Đã gửi mã")
    teacher_otp = sms.wait_for_code("0900001001", after=sent_before, timeout=10)
    say(api, teacher, "123456", "")  # a wrong code first
    say(api, teacher, teacher_otp, "Liên kết thành công")
    say(api, teacher, "đơn chờ duyệt", "#")
    card = next(m for m in reversed(api.chat_messages(teacher)) if "Duyệt" in " ".join(labels(m)))
    assert card
    press(api, teacher, "Duyệt", "Đã duyệt")
    api.wait_for(parent, "duyệt", 10)
    say(api, teacher, "ai nghỉ thứ 4", "Nguyễn Minh An")
    say(api, teacher, "số buổi nghỉ của Nguyễn Minh An", "Nguyễn Minh An")

    say(api, parent, "/caidat", "")
    say(api, parent, "/xoa", "xóa")
    press(api, parent, "Xóa dữ liệu", "Đã hủy liên kết")
    assert bot.stop() < 10

    output = bot.output()
    logs = [line for line in output.splitlines() if line.strip()]
    assert any("DEBUG" in line for line in logs)  # the logs really were at DEBUG
    otps = {m.code for m in sms.sent}
    replies = api.sent(parent) + api.sent(teacher)
    personal = personal_lines(replies)
    assert personal  # the journeys did show personal data, to the right people
    for line in logs:
        assert not PHONE.search(line), f"phone number in a log line: {line}"
        assert not CODE.search(line), f"student or staff code in a log line: {line}"
        assert not any(otp in line for otp in otps), f"OTP in a log line: {line}"
        assert TOKEN.split(":", 1)[1] not in line, f"bot token in a log line: {line}"
        assert not any(name in line for name in NAMES), f"a name in a log line: {line}"
        assert not any(text in line for text in personal), f"a reply in a log line: {line}"
        assert "Traceback" not in line, output
    for reply in replies:
        text = str(reply.get("text") or "")
        assert "Traceback" not in text and "Error" not in text, text
