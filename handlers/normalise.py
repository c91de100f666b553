"""Parent text as the intents read it: folded, with teen-code, abbreviations and common typos
written out (issue 16).

Parents type "hnay con co di hc ko", "hp thang nay bn", "đ toán", "tkb", "hocphi", "diemm".
Matching every such spelling with its own phrase would be a list of sentences; instead each
word is normalised once, on its own, and the intents match cue phrases on the result:

1. a table of abbreviations and teen-code words ("ko" -> "khong", "bn" -> "bao nhieu");
2. for a word the cues do not know: repeated letters squeezed ("diemm" -> "diem"), teen-code
   letters undone ("fi" -> "phi", "kon" -> "con", "wa" -> "qua"), words typed together split
   ("hocphi" -> "hoc phi"), and a one-letter slip in a long English word ("attendence").

Words the cues know are never changed, so a child's name or a subject stays as typed unless it
is itself a cue word.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from bot.domain.text import fold, nfc

__all__ = ["normalise", "normalise_words"]

# Written out wherever they appear (folded spelling -> folded words).
ABBREVIATIONS: dict[str, str] = {
    # không
    "k": "khong",
    "ko": "khong",
    "kh": "khong",
    "kg": "khong",
    "khg": "khong",
    "khog": "khong",
    "hok": "khong",
    "hem": "khong",
    "hk": "khong",
    "kp": "khong phai",
    # được, gì, bao nhiêu, bao giờ, như thế nào
    "dc": "duoc",
    "dk": "duoc",
    "duoc": "duoc",
    "j": "gi",
    "ji": "gi",
    "bn": "bao nhieu",
    "bnh": "bao nhieu",
    "bnhieu": "bao nhieu",
    "bnhiu": "bao nhieu",
    "baonhieu": "bao nhieu",
    "nhiu": "nhieu",
    "bh": "bao gio",
    "bjo": "bao gio",
    "bgio": "bao gio",
    "ntn": "nhu the nao",
    "ssao": "sao",
    # days
    "hnay": "hom nay",
    "hn": "hom nay",
    "homnay": "hom nay",
    "hqua": "hom qua",
    "homqua": "hom qua",
    "hwa": "hom qua",
    "wa": "qua",
    "ngmai": "ngay mai",
    "ngaymai": "ngay mai",
    # people and school
    "hs": "hoc sinh",
    "gv": "giao vien",
    "hc": "hoc",
    "hoj": "hoi",
    "trg": "truong",
    "ng": "nguoi",
    "mk": "minh",
    "mik": "minh",
    "kon": "con",
    "ck": "chuyen khoan",
    "vs": "voi",
    "trc": "truoc",
    "ms": "moi",
    "r": "roi",
    "nghj": "nghi",
    "dj": "di",
    "ik": "di",
    # the bot's subjects
    "tkb": "thoi khoa bieu",
    "tkbieu": "thoi khoa bieu",
    "tgb": "thoi khoa bieu",
    "hp": "hoc phi",
    "ds": "diem so",
    "dtb": "diem trung binh",
    "tbm": "trung binh mon",
    "tbhk": "trung binh hoc ky",
    "kq": "ket qua",
    "hsg": "hoc sinh gioi",
    "hsk": "hoc sinh kha",
    "kqht": "ket qua hoc tap",
    "bhyt": "bao hiem y te",
    "bhtn": "bao hiem than the",
    "clb": "cau lac bo",
    "kt": "kiem tra",
    "ktra": "kiem tra",
    "hki": "hoc ky 1",
    "hkii": "hoc ky 2",
    "hk1": "hoc ky 1",
    "hk2": "hoc ky 2",
}

# Words that mean something only in context: the folded word, what it means there, and when.
_END_ONLY = {"hong": "khong", "hem": "khong"}  # "có đi học hông" / "hem"
_YES_AFTER = frozenset({"a", "ah", "ak", "ok", "oke", "cam", "em", "chi", "anh", "co", "thay"})
_CURRENCY_BEFORE = re.compile(r"^\d[\d.,]*k?$")

# Syllables the cues are made of, for splitting words typed together ("hocphi").
_SYLLABLES = """hoc phi tien an ban tru thoi khoa bieu lich diem danh chuyen can xin nghi bang ba
    bao hiem y te sach vo dong phuc cau lac bo khoan thu nop quy lop nuoc uong xe dua don
    hom nay qua mai ngay tuan sau toi nay co khong di duoc gi nhieu trung binh kiem tra ket
    thi phai con chau be em tro giup cai dat thong lien"""
_SPLIT_SYLLABLES = frozenset(_SYLLABLES.split())

# English words long enough that a one-letter slip still says which one was meant.
_LONG_ENGLISH = (
    "attendance",
    "timetable",
    "schedule",
    "tuition",
    "transcript",
    "absence",
    "absent",
    "insurance",
    "payment",
    "uniform",
    "yesterday",
    "tomorrow",
    "today",
    "school",
    "scores",
    "grades",
)

# Teen-code letters, tried on an unknown word: "fi" -> "phi", "kon" -> "con", "wa" -> "qua".
_LETTER_SWAPS: tuple[tuple[str, str], ...] = (
    ("f", "ph"),
    ("w", "qu"),
    ("k", "c"),
    ("j", "gi"),
    ("z", "d"),
    ("dz", "d"),
)

_WORD = re.compile(r"[^\W_]+")


@functools.lru_cache(maxsize=1)
def _known() -> frozenset[str]:
    """Every word a cue, an abbreviation or the day parser uses (filled in by intents)."""
    words = set(_SPLIT_SYLLABLES) | set(_LONG_ENGLISH)
    for expansion in ABBREVIATIONS.values():
        words.update(expansion.split())
    words.update(_extra_known)
    return frozenset(words)


_extra_known: set[str] = set()


def learn(words: Iterable[str]) -> None:
    """Add the cue words of the intents to the vocabulary (called once by handlers.intents)."""
    for phrase in words:
        _extra_known.update(phrase.split())
    _known.cache_clear()


def _squeeze(word: str) -> str:
    return re.sub(r"(.)\1+", r"\1", word)


def _split(word: str, known: frozenset[str], parts: int = 3) -> list[str] | None:
    """``word`` as up to ``parts`` cue syllables typed together, longest first."""
    if word in _SPLIT_SYLLABLES:
        return [word]
    if parts == 1:
        return None
    for cut in range(len(word) - 1, 1, -1):
        head, tail = word[:cut], word[cut:]
        if head in _SPLIT_SYLLABLES:
            rest = _split(tail, known, parts - 1)
            if rest is not None:
                return [head, *rest]
    return None


def _one_slip(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by one insertion, deletion, substitution or swap."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(diff) == 1:
            return True
        i = diff[0]
        return len(diff) == 2 and diff[1] == i + 1 and a[i] == b[i + 1] and a[i + 1] == b[i]
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def _repair(word: str) -> list[str]:
    """An unknown folded word, repaired if one of the rules turns it into known words."""
    known = _known()
    squeezed = _squeeze(word)
    if squeezed != word and (squeezed in known or squeezed in ABBREVIATIONS):
        return ABBREVIATIONS.get(squeezed, squeezed).split()
    for wrong, right in _LETTER_SWAPS:
        if wrong == "k" and word[1:2] not in ("a", "o", "u"):
            continue  # "kh", "ki", "ke" are Vietnamese ("khuyến", "kiểm"); "kon", "kái" are not
        if word.startswith(wrong):
            swapped = right + word[len(wrong) :]
            if swapped in known:
                return [swapped]
    if len(word) >= 5 and word.isalpha():
        parts = _split(word, known)
        if parts is not None and len(parts) > 1:
            return parts
        if len(word) >= 6:
            close = [w for w in _LONG_ENGLISH if _one_slip(word, w)]
            if len(close) == 1:
                return [close[0]]
    return [word]


def normalise_words(text: str) -> list[tuple[str, str]]:
    """``text`` as ``(original lower-case word, normalised folded word)`` pairs; one typed word
    may give several ("hp" -> "hoc", "phi"), each paired with the word as typed."""
    raw: list[tuple[str, str]] = []
    for chunk in nfc(text).lower().split():
        # "25/11-27/11" and "7:30" stay whole, as fold keeps them; "hp:" is "hp"
        parts = [
            p if any(c.isdigit() for c in p) else p.strip("/:-") or p for p in fold(chunk).split()
        ]
        originals = _WORD.findall(chunk)
        if len(originals) != len(parts):
            originals = parts
        raw.extend(zip(originals, parts, strict=True))
    out: list[tuple[str, str]] = []
    known = _known()
    for i, (original, word) in enumerate(raw):
        last = i == len(raw) - 1
        previous = raw[i - 1][1] if i else ""
        if word in ("d", "đ") or original == "đ":
            # "đ toán" is a score; "500k đ" is money
            if previous and (_CURRENCY_BEFORE.match(previous) or previous == "k"):
                out.append((original, "dong"))
            else:
                out.append((original, "diem"))
            continue
        if word == "k" and previous and _CURRENCY_BEFORE.match(previous):
            out.append((original, word))  # "500 k": thousand dong
            continue
        if original == "vâng" or (word == "vang" and i == 0 and (last or raw[1][1] in _YES_AFTER)):
            out.append((original, "yes"))  # "vâng ạ": yes, not "vắng" (absent)
            continue
        if original == "nó":
            out.append((original, "he"))  # the child, not "nợ" (owe)
            continue
        if word in _END_ONLY and last:
            out.append((original, _END_ONLY[word]))
            continue
        if word == "hk" and not last and raw[i + 1][1] in ("1", "2", "i", "ii"):
            out.append((original, "hoc"))
            out.append((original, "ky"))
            continue
        if word in ABBREVIATIONS:
            out.extend((original, part) for part in ABBREVIATIONS[word].split())
            continue
        if word in known or not word.isalpha():
            out.append((original, word))
            continue
        out.extend((original, part) for part in _repair(word))
    return out


def normalise(text: str) -> str:
    """The folded, normalised text: what the intents and the handlers read."""
    return " ".join(word for _, word in normalise_words(text))
