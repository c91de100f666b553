"""Vietnamese text as parents type it: with or without diacritics, in NFC or NFD.

Parents type "thứ 3", "thu 3", "T3" or "tuesday" for the same thing, and phones send either
Unicode normal form. Everything is matched on the :func:`fold` form; words that are ambiguous once
the diacritics are gone ("tư"/"từ", "năm" the year, "sau" after, "một" one, "môn" subject) are only
read as days in a context that makes them unambiguous.
"""

from __future__ import annotations

import functools
import re
import unicodedata

__all__ = [
    "contains_phrase",
    "fold",
    "nfc",
    "parse_relative_day",
    "parse_week",
    "parse_weekday",
    "truncate",
]

# What fold turns into a space: neither alphanumeric (``\w`` is ``str.isalnum()`` or "_") nor
# "/-:", kept for dates "25/11", ranges "25/11-27/11", times "7:30".
_NOT_KEPT = re.compile(r"[^\w/:\-]|_")
_SPACES = re.compile(r"\s+")
_TOKEN = re.compile(r"[^\W_]+")
_ELLIPSIS = "…"


def nfc(s: str) -> str:
    """Compose to NFC: macOS/iOS keyboards may send NFD, and NFD never equals NFC in ``==``."""
    return unicodedata.normalize("NFC", s)


# Kept although they are "format" characters: the zero-width joiner and variation selectors
# hold emoji sequences together (👨‍👩‍👧, ❤️).
_KEEP_FORMAT = frozenset({"\u200d", "\ufe0e", "\ufe0f"})


def clean(s: str) -> str:
    """User text as it may reach a person or the database: NFC, with control characters
    (NUL, bell, escape …), bidirectional overrides and isolates (U+202A–U+202E,
    U+2066–U+2069) and other invisible format characters removed. Line breaks and tabs stay;
    a carriage return becomes a line break. PostgreSQL refuses NUL in text, and a right-to-left
    override lets a message show something other than what it says (issue 13.7)."""
    s = nfc(s.replace("\r\n", "\n").replace("\r", "\n"))
    if s.isprintable():  # no Cc, Cf or Cs character ("Other" is never printable): nothing to drop
        return s
    return "".join(
        ch
        for ch in s
        if ch in "\n\t" or ch in _KEEP_FORMAT or unicodedata.category(ch) not in ("Cc", "Cf", "Cs")
    )


def _strip_marks(s: str) -> str:
    """Drop every combining mark, and map đ (which has no decomposition) to d."""
    if s.isascii():
        return s
    decomposed = unicodedata.normalize("NFD", s)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return bare.replace("đ", "d").replace("Đ", "D").replace("ð", "d").replace("Ð", "D")


def fold(s: str) -> str:
    """The matching form: lower case, no diacritics, đ -> d, punctuation -> space, one space.

    ``/ - :`` survive so dates and times stay readable: ``fold("25/11-27/11") == "25/11-27/11"``.
    """
    bare = _strip_marks(nfc(s).lower())
    return _SPACES.sub(" ", _NOT_KEPT.sub(" ", bare)).strip()


def _tokens(text: str) -> list[tuple[str, str]]:
    """Words as ``(original lower-case NFC, folded)`` pairs.

    The original is kept because some words are only ambiguous without their diacritics: "một"
    (one) and "mốt" (the day after tomorrow) both fold to "mot".
    """
    return [(word, fold(word)) for word in _TOKEN.findall(nfc(text).lower())]


# Words after "thứ": the Vietnamese week counts Monday as the second day.
_AFTER_THU: dict[str, int] = {
    "2": 0,
    "hai": 0,
    "3": 1,
    "ba": 1,
    "4": 2,
    "tu": 2,
    "5": 3,
    "nam": 3,
    "6": 4,
    "sau": 4,
    "7": 5,
    "bay": 5,
}
# Tokens that name a day on their own.
_STANDALONE_DAY: dict[str, int] = {
    "t2": 0,
    "t3": 1,
    "t4": 2,
    "t5": 3,
    "t6": 4,
    "t7": 5,
    "cn": 6,
    "chunhat": 6,
    "thu2": 0,
    "thu3": 1,
    "thu4": 2,
    "thu5": 3,
    "thu6": 4,
    "thu7": 5,
}
# English. "thu" is not Thursday ("thứ", "thu tiền"), and "mon" needs care ("môn" = subject).
_ENGLISH_DAY: dict[str, int] = {
    "monday": 0,
    "mon": 0,
    "tuesday": 1,
    "tue": 1,
    "tues": 1,
    "wednesday": 2,
    "wed": 2,
    "thursday": 3,
    "thur": 3,
    "thurs": 3,
    "friday": 4,
    "fri": 4,
    "saturday": 5,
    "sat": 5,
    "sunday": 6,
    "sun": 6,
}


def _is_word(token: str) -> bool:
    return token.isalpha()


def parse_weekday(text: str) -> int | None:
    """The first weekday named in ``text``: 0 = Thứ Hai (Monday) … 5 = Thứ Bảy, 6 = Chủ Nhật.

    "tư"/"tu", "năm", "sáu", "bảy" and the digits only count right after "thứ"/"thu": alone they
    mean "from", "year", "after"/"six", "fly"/"seven". "mon" counts only when typed without
    diacritics and not followed by another word, so "điểm môn toán" / "diem mon toan" is no Monday.
    """
    tokens = _tokens(text)
    for i, (original, word) in enumerate(tokens):
        following = tokens[i + 1][1] if i + 1 < len(tokens) else None
        if word == "thu" and following is not None and following in _AFTER_THU:
            return _AFTER_THU[following]
        if word == "chu" and following == "nhat":
            return 6
        if word in _STANDALONE_DAY:
            return _STANDALONE_DAY[word]
        if word in _ENGLISH_DAY and original == word:
            if word == "mon" and following is not None and _is_word(following):
                continue
            return _ENGLISH_DAY[word]
    return None


# Words before a teacher's name: "cô Mai" is a person, not tomorrow.
_TITLES = frozenset({"co", "thay"})


def parse_relative_day(text: str) -> int | None:
    """The first relative day in ``text`` as an offset from today (-1 … 2), else ``None``.

    Whole words only. "mai" alone is tomorrow ("sáng mai") unless it follows "cô"/"thầy" (a
    teacher called Mai). "mốt" is the day after tomorrow; without diacritics "mot" is also "một"
    (one), so it only counts after "ngày" or as the last word.
    """
    tokens = _tokens(text)
    for i, (original, word) in enumerate(tokens):
        following = tokens[i + 1][1] if i + 1 < len(tokens) else None
        previous = tokens[i - 1][1] if i > 0 else None
        pair = (word, following)
        if pair in {("hom", "nay"), ("bua", "nay")} or word == "today":
            return 0
        if pair in {("ngay", "mai")} or word == "tomorrow":
            return 1
        if pair == ("ngay", "kia"):
            return 2
        if pair in {("hom", "qua")} or word == "yesterday":
            return -1
        if pair == ("hom", "kia"):
            return -2
        if word == "mai" and original == "mai" and previous not in _TITLES:
            return 1
        if word == "mot":
            if original == "mốt":
                return 2
            if original == "mot" and (previous == "ngay" or following is None):
                return 2
    return None


# Words after "tuần" (week) that move it: "tuần sau", "tuần tới", "tuần kế" (next), "tuần
# trước", "tuần qua", "tuần vừa rồi" (last). "tuần sau nữa" is the week after next.
_WEEK_AFTER_TUAN: dict[str, int] = {
    "sau": 1,
    "toi": 1,
    "ke": 1,
    "truoc": -1,
    "qua": -1,
    "vua": -1,
    "nay": 0,
}
_ENGLISH_WEEK: dict[str, int] = {"next": 1, "last": -1, "previous": -1, "this": 0}


def parse_week(text: str) -> int | None:
    """Which week ``text`` names, as an offset from this week (0 = this week, 1 = next,
    -1 = last), or ``None`` when it names no week.

    "tuần" alone ("tkb cả tuần") is this week; "tuần sau" / "tuan sau" / "tuần tới" next
    week, "tuần trước" last week, "tuần sau nữa" the week after; "next week", "last week".
    "thứ sáu" is Friday, not "after": only a word right after "tuần" moves the week. A
    child called Tuấn is no week: typed with diacritics, only "tuần" counts.
    """
    pairs = _tokens(text)
    tokens = [word for _, word in pairs]
    for i, word in enumerate(tokens):
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        previous = tokens[i - 1] if i > 0 else None
        if word == "tuan" and pairs[i][0] in ("tuần", "tuan"):  # not a child called Tuấn
            if following in _WEEK_AFTER_TUAN:
                offset = _WEEK_AFTER_TUAN[following]
                after = tokens[i + 2] if i + 2 < len(tokens) else None
                return 2 if offset == 1 and after == "nua" else offset
            return 0
        if word == "week":
            return _ENGLISH_WEEK.get(previous or "", 0)
    return None


def contains_phrase(folded_text: str, folded_phrase: str) -> bool:
    """Whether ``folded_phrase`` occurs in ``folded_text`` as whole words.

    Both sides must already be :func:`fold`-ed. "toan" matches "diem toan" but not "toan2" or
    "khoan"; punctuation that fold keeps (``/ - :``) separates words, so "tkb" matches "tkb:".
    """
    pattern = _whole_words(folded_phrase)
    return pattern is not None and pattern.search(folded_text) is not None


@functools.lru_cache(maxsize=4096)
def _whole_words(folded_phrase: str) -> re.Pattern[str] | None:
    """The compiled pattern of one phrase (the intents ask about the same few hundred)."""
    phrase = _SPACES.sub(" ", folded_phrase).strip()
    if not phrase:
        return None
    return re.compile(rf"(?<![^\W_]){re.escape(phrase)}(?![^\W_])")


def truncate(s: str, limit: int) -> str:
    """Cut ``s`` to at most ``limit`` characters, ending with "…" when something was cut.

    Works on NFC so a cut never separates a letter from its diacritic.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    text = nfc(s)
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + _ELLIPSIS
