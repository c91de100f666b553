"""Issue 17 on Telegram, through the real ``run_bot.py`` process and the fake Bot API: a parent
writes to the homeroom teacher, the teacher answers with the Reply button, and neither side's
phone number, name on Telegram or @username reaches the other."""

from __future__ import annotations

import csv
import subprocess
import sys
from typing import Any

import pytest

from tests.e2e.test_telegram_e2e import MOM_6A01, REPO, WAIT, BotProcess, labels, link, press, say
from tests.fakes.sms_gateway import FakeSmsGateway
from tests.fakes.telegram_api import FakeTelegramApi

pytestmark = pytest.mark.e2e

# Any time of day: no office-hours hold, no quiet hours (those have conversation tests under
# a fake clock); here the real clock runs.
ANY_TIME = {
    "LIENLAC_MESSAGES__OFFICE_START": "00:00",
    "LIENLAC_MESSAGES__OFFICE_END": "23:59",
    "LIENLAC_MESSAGES__SCHOOL_DAYS_ONLY": "false",
    "LIENLAC_DIGEST__QUIET_START": "00:00",
    "LIENLAC_DIGEST__QUIET_END": "00:00",
}


def _text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{m.get('text') or ''} {m.get('caption') or ''} {' '.join(labels(m))}" for m in messages
    )


def test_parent_and_teacher_talk_through_the_bot_without_seeing_each_other(
    bot: BotProcess, api: FakeTelegramApi, sms: FakeSmsGateway, tmp_path: Any
) -> None:
    parent, teacher = 4701, 4702
    bot.start(**ANY_TIME)
    mum = {"first_name": "Hương", "last_name": "Trần", "username": "huong_private"}
    gv = {"first_name": "Hoa", "last_name": "Nguyễn", "username": "co_hoa_private"}
    link(api, sms, parent, "HS6A01", MOM_6A01, who="Mẹ")
    say(api, teacher, "GV001", "Điều khoản", **gv)
    sent_before = len(sms.sent)
    press(api, teacher, "Đồng ý", "Đã gửi mã")
    otp = sms.wait_for_code("0900001001", after=sent_before, timeout=WAIT)
    say(api, teacher, otp, "giáo viên", **gv)

    say(api, parent, "nhắn cô chủ nhiệm: mai cháu xin về sớm 15 phút ạ", "Đã chuyển", **mum)
    card = api.wait_for(teacher, "Tin nhắn #1", WAIT)
    assert "Mẹ của Nguyễn Minh An (6A)" in card["text"]
    assert "mai cháu xin về sớm 15 phút ạ" in card["text"]
    assert {"↩️ Trả lời", "🔕 Tạm dừng nhận tin"} <= set(labels(card))

    press(api, teacher, "Trả lời", "gõ câu trả lời")
    say(api, teacher, "Cô đồng ý, chị nhớ đón cháu ở cổng chính.", "Đã gửi câu trả lời", **gv)
    answer = api.wait_for(parent, "trả lời về An", WAIT)
    assert "Cô đồng ý, chị nhớ đón cháu ở cổng chính." in answer["text"]

    # a medical certificate (a PDF) goes with a message, by Telegram's own file reference
    pdf = b"%PDF-1.4 giay kham benh"
    after = len(api.sent(parent))
    api.inject_file(parent, "document", pdf, caption="nhắn cô: giấy khám bệnh", filename="g.pdf")
    api.wait_for(parent, "Đã chuyển", WAIT, after=after)
    sent = api.wait_for(teacher, "giấy khám bệnh", WAIT)
    assert sent["method"] == "sendDocument" and "Tin nhắn #1" in str(sent["caption"])
    assert {"↩️ Trả lời", "🔕 Tạm dừng nhận tin"} <= set(labels(sent))
    after = len(api.sent(parent))
    api.inject_file(parent, "document", b"MZ", filename="x.exe", mime_type="application/x-msdos")
    api.wait_for(parent, "CHƯA được gửi", WAIT, after=after)

    # the teacher answers with a photo (its caption is the answer), the same way back
    press(api, teacher, "Trả lời", "gõ câu trả lời")
    after = len(api.sent(teacher))
    api.inject_file(
        teacher, "photo", b"\x89PNG bai tap", caption="Cô gửi ảnh bài tập", mime_type="image/png"
    )
    api.wait_for(teacher, "Đã gửi câu trả lời", WAIT, after=after)
    photo = api.wait_for(parent, "Cô gửi ảnh bài tập", WAIT)
    assert photo["method"] == "sendPhoto" and "trả lời về An" in str(photo["caption"])

    bot.stop()
    to_teacher, to_parent = _text(api.sent(teacher)), _text(api.sent(parent))
    for secret in (MOM_6A01, "huong_private", "Hương", str(parent)):
        assert secret not in to_teacher, secret
    for secret in ("0900001001", "co_hoa_private", str(teacher)):
        assert secret not in to_parent, secret
    bot.assert_clean()

    out = tmp_path / "threads.csv"
    export = subprocess.run(
        [sys.executable, "run_bot.py", "threads", "export", "--out", str(out)],
        cwd=REPO,
        env=bot.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert export.returncode == 0, export.stderr
    rows = list(csv.DictReader(out.read_text(encoding="utf-8").splitlines()))
    assert [(r["sender"], r["class_id"], r["attachment"]) for r in rows] == [
        ("parent", "c-6a", ""),
        ("teacher", "c-6a", ""),
        ("parent", "c-6a", "document"),
        ("teacher", "c-6a", "photo"),
    ]
    assert str(parent) not in out.read_text(encoding="utf-8")
