"""Issue 17's "done": in the demo, a teacher runs a poll to class 6A and reads the results.
Two real terminals on one SQLite file; the outbox carries the poll to the parent."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from tests.e2e.process import BotProcess, link_in_terminal


def test_a_teacher_polls_class_6a_and_reads_the_results_in_the_demo(tmp_path: Path) -> None:
    # no quiet hours, so the test passes at any hour (they are covered by the conversations)
    env = {
        "LIENLAC_DATA_DIR": str(tmp_path),
        "LIENLAC_DIGEST__QUIET_START": "00:00",
        "LIENLAC_DIGEST__QUIET_END": "00:00",
    }
    parent = BotProcess("run", "--user", "me", env=env)
    teacher: BotProcess | None = None
    try:
        parent.read_until("/quit")
        teacher = BotProcess("run", "--user", "co-hoa", env=env)
        teacher.read_until("/quit")
        link_in_terminal(parent, "HS6A01", ("Mẹ", "Đồng ý"))
        link_in_terminal(teacher, "GV001", ("Đồng ý",))

        teacher.type("tạo khảo sát")
        teacher.read_until("Gõ số để chọn")
        teacher.type("6A")
        teacher.read_until("câu hỏi")
        teacher.type("Họp phụ huynh vào buổi nào?")
        teacher.read_until("lựa chọn")
        teacher.type("Sáng thứ Bảy; Tối thứ Sáu")
        teacher.read_until("Gõ số để chọn")
        teacher.type("một lựa chọn")
        teacher.read_until("Hạn trả lời")
        teacher.type("3 ngày")
        teacher.read_until("Gõ số để chọn")
        teacher.type("ghi tên")
        teacher.read_until("Xem trước khảo sát")
        teacher.type("gửi")
        teacher.read_until("Đã gửi khảo sát #1")

        poll = parent.read_until("ks ", timeout=30)
        assert "Họp phụ huynh vào buổi nào?" in poll and "Nguyễn Minh An" in poll
        ballot = re.findall(r"ks (\d+) <", poll)
        assert ballot, poll
        parent.type(f"ks {ballot[-1]} 2")
        parent.read_until("Đã ghi câu trả lời cho cháu Nguyễn Minh An: Tối thứ Sáu")

        teacher.type("kết quả khảo sát")
        results = teacher.read_until("Đã trả lời")
        assert "2. Tối thứ Sáu: 1 (100%) — Nguyễn Minh An" in results

        # managing the sent poll: a later deadline, then closed early; the parent is told
        later = (dt.date.today() + dt.timedelta(days=10)).strftime("%d/%m")
        teacher.type(f"gia hạn khảo sát 1 đến {later} 17:00")
        teacher.read_until("Đã gia hạn khảo sát #1 đến")
        teacher.type("đóng khảo sát 1")
        teacher.read_until("Đã đóng khảo sát #1")
        parent.type(f"ks {ballot[-1]} 1")
        parent.read_until("đã đóng lúc")
        for bot in (parent, teacher):
            bot.type("/quit")
            assert bot.close() == 0
    finally:
        parent.close()
        if teacher is not None:
            teacher.close()
    assert "Traceback" not in "".join(parent.stderr)
