"""The import's progress output: a bar on a terminal, plain lines in a log or a pipe."""

from __future__ import annotations

import io

from bot.backends.import_cli import ProgressLine


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_one_redrawn_bar() -> None:
    out = Terminal()
    progress = ProgressLine(out)
    progress("ghi vào cơ sở dữ liệu", 50, 200)
    progress("ghi vào cơ sở dữ liệu", 200, 200)
    text = out.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n")
    assert "[#######.......................] 50/200" in text
    assert "[" + "#" * 30 + "] 200/200" in text


def test_a_pipe_gets_plain_lines_not_one_per_row() -> None:
    out = io.StringIO()
    progress = ProgressLine(out)
    for done in range(1, 1001):
        progress("đọc Điểm", done, 1000)
    lines = out.getvalue().splitlines()
    assert lines == ["... đọc Điểm: 1/1000", "... đọc Điểm: 1000/1000"]
    assert "\r" not in out.getvalue()
