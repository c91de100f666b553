"""The terminal demo serves the office's web page too (issue 18): ``/web`` typed by a linked
teacher prints a loopback sign-in link that works, once."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.e2e.process import BotProcess, link_in_terminal
from tests.e2e.test_telegram_e2e import free_port


def test_web_in_the_terminal_demo_prints_a_loopback_link_that_signs_in(tmp_path: Path) -> None:
    port = free_port()
    bot = BotProcess(
        env={"LIENLAC_DATA_DIR": str(tmp_path), "LIENLAC_WEBHOOK__LISTEN": f"127.0.0.1:{port}"}
    )
    try:
        bot.read_until("Gõ")
        link_in_terminal(bot, "GV001", ("Đồng ý",))
        bot.type("/web")
        printed = bot.read_until("/admin/signin/")
        found = re.search(rf"http://127\.0\.0\.1:{port}/admin/signin/(\S+)", printed)
        assert found, printed
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False) as web:
            assert 'id="signin"' in web.get(found.group(0)).text
            signed = web.post("/admin/signin", data={"token": found.group(1)})
            assert signed.status_code == 303
            dashboard = web.get("/admin/")
            assert dashboard.status_code == 200 and ">6A<" in dashboard.text
            web.cookies.clear()
            assert web.post("/admin/signin", data={"token": found.group(1)}).status_code == 400
        bot.type("/quit")
        bot.read_until("Tạm biệt")
        assert bot.close() == 0
    finally:
        bot.kill()
    stderr = "".join(bot.stderr)
    assert "Traceback" not in stderr
    assert found.group(1) not in stderr  # the token is never logged
