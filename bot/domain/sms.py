"""The SMS digest for families without a smartphone (issue 16): plain ASCII, in segments.

Vietnamese SMS with diacritics go out as UCS-2, 70 characters a segment, and many cheap
phones show them badly; so the text is folded to ASCII ("Điểm Toán" -> "Diem Toan"). A
single SMS holds 160 GSM-7 characters; a longer one is sent as concatenated segments of 153
(7 go to the header that joins them). ASCII characters outside GSM-7's basic table
(``[ ] { } \\ ^ ~ |`` and the backtick) would cost two septets or be lost, so they are
replaced too.

The digest keeps whole lines: lines that do not fit in ``max_segments`` are dropped and
counted in a last "+N more" line.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable, Sequence

from bot.domain.digest import ChildSection, Translate, format_item
from bot.domain.formatting import format_date

__all__ = [
    "MULTI_SEGMENT",
    "OFFICE_SMS",
    "SINGLE_SEGMENT",
    "compose_sms_digest",
    "fit_segments",
    "segment_count",
    "sms_ascii",
]

OFFICE_SMS = "office:"  # outbox user id prefix of a notice texted from the office's web page
SINGLE_SEGMENT = 160  # GSM-7 characters in one SMS
MULTI_SEGMENT = 153  # per segment of a concatenated SMS

_REPLACE = {
    "đ": "d",
    "Đ": "D",
    "₫": "d",
    "–": "-",
    "—": "-",
    "…": "...",
    "•": "-",
    "“": '"',
    "”": '"',
    "‘": "'",
    "’": "'",
    "×": "x",
    "[": "(",
    "]": ")",
    "{": "(",
    "}": ")",
    "\\": "/",
    "^": "-",
    "~": "-",
    "|": "/",
    "`": "'",
}


def sms_ascii(text: str) -> str:
    """Printable GSM-7-safe ASCII: diacritics folded (case kept), emoji and the rest dropped,
    runs of spaces collapsed on each line."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFD", unicodedata.normalize("NFC", text)):
        if unicodedata.combining(ch):
            continue
        ch = _REPLACE.get(ch, ch)
        if ch == "\n" or all(" " <= c <= "~" for c in ch):
            out.append(ch)
    lines = (" ".join(line.split()) for line in "".join(out).split("\n"))
    return "\n".join(lines).strip()


def segment_count(text: str) -> int:
    """How many SMS segments ``text`` (already :func:`sms_ascii`) takes."""
    if len(text) <= SINGLE_SEGMENT:
        return 1
    return -(-len(text) // MULTI_SEGMENT)


def _budget(max_segments: int) -> int:
    return SINGLE_SEGMENT if max_segments <= 1 else MULTI_SEGMENT * max_segments


def fit_segments(lines: Sequence[str], *, max_segments: int, more: Callable[[int], str]) -> str:
    """Join ``lines`` (folded to ASCII) into at most ``max_segments`` segments. The first
    line is always kept (cut if it alone is too long); later lines that do not fit are
    dropped and announced by ``more(n)``."""
    if max_segments < 1:
        raise ValueError("max_segments must be at least 1")
    budget = _budget(max_segments)
    folded = [line for line in (sms_ascii(x) for x in lines) if line]
    if not folded:
        return ""
    kept = [folded[0][:budget]]
    for index, line in enumerate(folded[1:], start=1):
        candidate = "\n".join([*kept, line])
        left = len(folded) - index - 1
        tail = "\n" + sms_ascii(more(left)) if left else ""
        if len(candidate) + len(tail) <= budget:
            kept.append(line)
            continue
        dropped = len(folded) - index
        note = sms_ascii(more(dropped))
        while kept[1:] and len("\n".join([*kept, note])) > budget:
            kept.pop()
            dropped += 1
            note = sms_ascii(more(dropped))
        if len("\n".join([*kept, note])) <= budget:
            kept.append(note)
        break
    return "\n".join(kept)


def compose_sms_digest(
    t: Translate,
    locale: str,
    *,
    local_date: dt.date,
    children: Sequence[ChildSection],
    max_segments: int,
) -> str | None:
    """The digest of one SMS-only guardian: a short title, then one line per item, each
    starting with the child's given name when there are several children; ``None`` when
    there is nothing to say."""
    several = len(children) > 1
    lines = [t("sms_digest.title", date=format_date(local_date))]
    for child in children:
        given = child.name.split()[-1] if child.name.split() else child.name
        for item in child.items:
            line = format_item(t, locale, item)
            if line:
                lines.append(f"{given}: {line}" if several else line)
    if len(lines) == 1:
        return None
    return fit_segments(lines, max_segments=max_segments, more=lambda n: t("sms_digest.more", n=n))
