"""The score trend chart renders (a real PNG of the expected size, not blank, Vietnamese glyphs
found: a missing glyph is a warning, and warnings fail the tests) and the sparkline."""

from __future__ import annotations

import io
import subprocess
import sys
from decimal import Decimal

from matplotlib import image as mpimg

from bot.charts import HEIGHT_PX, WIDTH_PX, Series, sparkline, trend_png

D = Decimal


def _ink(png: bytes) -> float:
    """The share of pixels that are not white."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    pixels = mpimg.imread(io.BytesIO(png), format="png")
    assert pixels.shape[:2] == (HEIGHT_PX, WIDTH_PX)
    rgb = pixels[..., :3]
    return float((rgb.min(axis=2) < 0.95).mean())


def test_one_term_draws_a_bar_per_subject() -> None:
    png = trend_png(
        [
            Series(name="Toán", points=(("HK1", D("7.6")),)),
            Series(name="Ngữ văn", points=(("HK1", D("6.8")),)),
            Series(name="Khoa học tự nhiên", points=(("HK1", D("8.1")),)),
        ],
        title="📈 Điểm trung bình các môn — Nguyễn Văn An (6A)",
        x_label="Môn học",
        y_label="Điểm",
    )
    assert 0.05 < _ink(png) < 0.9


def test_several_terms_draw_lines() -> None:
    png = trend_png(
        [
            Series(name="Toán", points=(("HK1", D("6.8")), ("HK2", D("8.1")))),
            Series(name="Tiếng Anh", points=(("HK1", D("7")), ("HK2", D("6.5")))),
        ],
        title="Tiến bộ",
        x_label="Học kỳ",
        y_label="Điểm",
    )
    assert 0.01 < _ink(png) < 0.9


def test_sparkline_runs_from_lowest_to_highest() -> None:
    assert sparkline([D("6.8"), D("7.5"), D("8.1")]) == "▁▅█"
    assert sparkline([D(7), D(7)]) == "▅▅"
    assert sparkline([]) == ""


def test_the_bot_does_not_load_matplotlib_at_start() -> None:
    code = "import sys, run_bot, bot.charts, handlers.scores; print('matplotlib' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"
