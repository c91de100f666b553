"""Score trend charts: a PNG for channels that show images, a text sparkline for the others.

matplotlib is imported only when a chart is drawn (it costs ~0.3 s), so the bot still starts
fast (``bench startup``). The Agg backend draws without a display; DejaVu Sans, shipped with
matplotlib, has every Vietnamese glyph ("Tiến bộ", "Ngữ văn").
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["Series", "sparkline", "trend_png"]

_BARS = "▁▂▃▄▅▆▇█"
WIDTH_PX, HEIGHT_PX = 800, 500
_DPI = 100
# pyplot keeps global state: one drawing at a time in this process
_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True, kw_only=True)
class Series:
    """One line of the chart: a subject's averages per term, or one subject's marks in order."""

    name: str
    points: tuple[tuple[str, Decimal], ...]  # (x label, value on the 10-point scale)


def sparkline(values: Sequence[Decimal]) -> str:
    """``▁▃▆``: one bar per value, from the lowest (▁) to the highest (█) of them."""
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return _BARS[len(_BARS) // 2] * len(values)
    steps = len(_BARS) - 1
    return "".join(_BARS[int((v - low) * steps / (high - low) + Decimal("0.5"))] for v in values)


def trend_png(series: Sequence[Series], *, title: str, x_label: str, y_label: str) -> bytes:
    """A line chart of ``series`` on the 0–10 scale, 800×500 px, as PNG bytes.

    With one point per series (a single term) each series is a bar instead: a line needs two.
    """
    import matplotlib  # deferred: keeps the bot start-up fast

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    with _LOCK, plt.rc_context({"font.family": "DejaVu Sans", "font.size": 11}):
        fig, ax = plt.subplots(figsize=(WIDTH_PX / _DPI, HEIGHT_PX / _DPI), dpi=_DPI)
        try:
            single = all(len(s.points) <= 1 for s in series)
            if single:
                names = [s.name for s in series if s.points]
                values = [float(s.points[0][1]) for s in series if s.points]
                bars = ax.bar(names, values, color="#3b7dd8")
                ax.bar_label(bars, labels=[f"{v:.1f}".replace(".", ",") for v in values])
                ax.tick_params(axis="x", labelrotation=30)
                for label in ax.get_xticklabels():
                    label.set_horizontalalignment("right")
            else:
                for s in series:
                    xs = [p[0] for p in s.points]
                    ys = [float(p[1]) for p in s.points]
                    ax.plot(xs, ys, marker="o", label=s.name)
                if len(series) > 1:
                    ax.legend(loc="lower left", fontsize=9, ncols=2)
            ax.set_ylim(0, 10.5)
            # DejaVu Sans has Vietnamese but no emoji: a title's "📈" would be a warning and a box
            ax.set_title("".join(ch for ch in title if ord(ch) <= 0xFFFF).strip())
            ax.set_xlabel(x_label)
            ax.set_ylabel(y_label)
            for level in (5.0, 6.5, 8.0):  # the TT22 thresholds: Đạt, Khá, Tốt
                ax.axhline(level, color="#bbbbbb", linewidth=0.8, linestyle="--")
            ax.grid(axis="y", alpha=0.2)
            fig.tight_layout()
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=_DPI)
            return buffer.getvalue()
        finally:
            plt.close(fig)
