"""Issue 17 on Telegram, the real bot process on the fake Bot API: a teacher creates a poll
for 6A with buttons, the parent answers with an inline button on the pushed message and
changes it, the teacher reads the results and gets them as a CSV document."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.e2e.test_telegram_e2e import (
    MOM_6A01,
    TOKEN,
    WAIT,
    BotProcess,
    link,
    link_teacher,
    press,
    say,
)
from tests.fakes.sms_gateway import FakeSmsGateway
from tests.fakes.telegram_api import FakeTelegramApi

pytestmark = pytest.mark.e2e


def test_a_poll_with_buttons_from_teacher_to_parent_and_back(
    bot: BotProcess, api: FakeTelegramApi, sms: FakeSmsGateway
) -> None:
    parent, teacher = 1701, 1702
    # no quiet hours, so the test passes at any hour (they are covered by the conversations)
    bot.start(LIENLAC_DIGEST__QUIET_START="00:00", LIENLAC_DIGEST__QUIET_END="00:00")
    link(api, sms, parent, "HS6A01", MOM_6A01, who="Mẹ")
    link_teacher(api, sms, teacher)

    say(api, teacher, "/khaosat", "hỏi phụ huynh lớp nào")
    press(api, teacher, "6A", "câu hỏi")
    say(api, teacher, "Họp phụ huynh vào buổi nào?", "lựa chọn")
    say(api, teacher, "Sáng thứ Bảy\nTối thứ Sáu", "một hay nhiều")
    press(api, teacher, "Một lựa chọn", "Hạn trả lời")
    say(api, teacher, "3 ngày", "ghi tên")
    press(api, teacher, "Ghi tên", "Xem trước khảo sát")
    press(api, teacher, "Gửi khảo sát", "Đã gửi khảo sát #1")

    poll = api.wait_for(parent, "Họp phụ huynh vào buổi nào?", WAIT)  # pushed by the relay
    assert "Nguyễn Minh An" in poll["text"] and "ks " not in poll["text"]  # buttons, no typing
    press(api, parent, "Sáng thứ Bảy", "Đã ghi câu trả lời")
    changed = press(api, parent, "Tối thứ Sáu", "Nguyễn Minh An: Tối thứ Sáu")
    assert "Tối thứ Sáu" in changed["text"]

    results = press(api, teacher, "Kết quả khảo sát", "Đã trả lời: 1/10")
    assert "2. Tối thứ Sáu: 1 (100%) — Nguyễn Minh An" in results["text"]
    press(api, teacher, "Tải CSV", "CSV")
    deadline = time.monotonic() + WAIT
    documents: list[dict[str, Any]] = []
    while not documents and time.monotonic() < deadline:
        documents = [r for r in api.sent(teacher) if r["method"] == "sendDocument"]
        time.sleep(0.05)
    assert len(documents) == 1
    document = documents[0]["message"]["document"]
    assert document["file_name"] == "khao-sat-1.csv"
    path = httpx.post(f"{api.base_url}{TOKEN}/getFile", json={"file_id": document["file_id"]})
    file_path = path.json()["result"]["file_path"]
    data = httpx.get(f"{api.url}/file/bot{TOKEN}/{file_path}").content.decode("utf-8-sig")
    assert "Nguyễn Minh An" in data and "Tối thứ Sáu" in data
    assert bot.stop() < 10
    bot.assert_clean()
