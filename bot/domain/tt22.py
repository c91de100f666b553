"""Circular 22/2021/TT-BGDĐT ("TT22"): term and year averages and the learning level.

Everything is ``Decimal`` built from strings and rounded once, HALF-UP, to one decimal (Điều 5.3.b,
Điều 9.1). Floats are never used: ``round(52.4 / 8, 1)`` gives 6.5 because the float is 6.5499…,
while the school's answer is 6.6. ``round()`` on a ``Decimal`` is half-even, so it is wrong too.

The working of an average is kept (:class:`AverageWorking`) because parents are shown *how* the
number was reached, not only the number.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation

__all__ = [
    "AverageWorking",
    "LearningLevel",
    "comment_result",
    "learning_level",
    "parse_score",
    "regular_count_for_periods",
    "round1",
    "term_average",
    "validate_score",
    "year_average",
]

_TENTH = Decimal("0.1")
_ZERO = Decimal(0)
_TEN = Decimal(10)
# A private context: the averages must not depend on whatever the process set as the global one.
_CTX = Context(prec=28, rounding=ROUND_HALF_UP)


def round1(x: Decimal) -> Decimal:
    """Round to one decimal, half-up, as the school software prints it (6.55 -> 6.6)."""
    return x.quantize(_TENTH, rounding=ROUND_HALF_UP, context=_CTX)


@dataclass(frozen=True, slots=True, kw_only=True)
class AverageWorking:
    """The working of one ĐTBmhk, kept so the bot can explain the average step by step.

    ``exact = numerator / denominator``; ``rounded`` is what the school reports.
    """

    regular: tuple[Decimal, ...]  # ĐĐGtx, in order
    midterm: Decimal  # ĐĐGgk, weighted ×2
    final: Decimal  # ĐĐGck, weighted ×3
    numerator: Decimal  # ΣĐĐGtx + 2·ĐĐGgk + 3·ĐĐGck
    denominator: int  # số ĐĐGtx + 5
    exact: Decimal
    rounded: Decimal


def validate_score(x: Decimal) -> None:
    """Reject anything a teacher could not have entered: outside 0–10 or finer than 0.1.

    TT22 (Điều 5.3.b) allows an integer or a decimal with one decimal place; ``7.50`` is the same
    value as ``7.5`` and is accepted.
    """
    if not x.is_finite():
        raise ValueError(f"score must be a finite number, got {x}")
    if x < _ZERO or x > _TEN:
        raise ValueError(f"score must be between 0 and 10, got {x}")
    if x != round1(x):
        raise ValueError(f"score must have at most one decimal place, got {x}")


_SCORE_TEXT = re.compile(r"[0-9]+(?:[.,][0-9]+)?")


def parse_score(text: str) -> Decimal:
    """Read a score typed by a teacher: ``"7"``, ``"7.5"``, ``"7,5"``, ``" 8 "``.

    Vietnamese keyboards and spreadsheets write the decimal comma, so both separators are taken.
    """
    cleaned = text.strip()
    if not _SCORE_TEXT.fullmatch(cleaned):
        raise ValueError(f"not a score: {text!r} (expected a number such as 7, 7.5 or 7,5)")
    try:
        value = Decimal(cleaned.replace(",", "."))
    except InvalidOperation as err:  # pragma: no cover - the pattern already guarantees a number
        raise ValueError(f"not a score: {text!r}") from err
    validate_score(value)
    return value


def term_average(
    regular: Sequence[Decimal], midterm: Decimal | None, final: Decimal | None
) -> AverageWorking | None:
    """ĐTBmhk = (ΣĐĐGtx + 2·ĐĐGgk + 3·ĐĐGck) / (số ĐĐGtx + 5), Điều 9.1.

    Returns ``None`` while the term is incomplete (no regular score, or no mid-term or final):
    a partial average would mislead a parent. Raises ``ValueError`` for an impossible score.
    """
    if midterm is None or final is None or not regular:
        return None
    for score in (*regular, midterm, final):
        validate_score(score)
    regular_t = tuple(regular)
    numerator = _CTX.add(_CTX.add(sum(regular_t, _ZERO), 2 * midterm), 3 * final)
    denominator = len(regular_t) + 5
    exact = _CTX.divide(numerator, Decimal(denominator))
    return AverageWorking(
        regular=regular_t,
        midterm=midterm,
        final=final,
        numerator=numerator,
        denominator=denominator,
        exact=exact,
        rounded=round1(exact),
    )


def year_average(hk1: Decimal | None, hk2: Decimal | None) -> Decimal | None:
    """ĐTBmcn = (ĐTBmhkI + 2·ĐTBmhkII) / 3, Điều 9.1, on the *rounded* term averages.

    The school computes the year from the term averages as printed, so they are rounded first.
    ``None`` until both terms have an average.
    """
    if hk1 is None or hk2 is None:
        return None
    total = _CTX.add(round1(hk1), 2 * round1(hk2))
    return round1(_CTX.divide(total, Decimal(3)))


def comment_result(results: Sequence[bool], required: int) -> bool | None:
    """Semester result of a comment-only subject: Đạt (True) / Chưa đạt (False), Điều 9.1.

    Đạt needs every required assessment taken and graded Đạt. Until ``required`` assessments
    (at least one) exist the result is ``None``: "not yet", not "failed".
    """
    if len(results) < max(required, 1):
        return None
    return all(results)


def regular_count_for_periods(periods_per_year: int) -> int:
    """How many ĐĐGtx a scored subject needs per term, from its periods per year (Điều 7.1)."""
    if periods_per_year <= 0:
        raise ValueError(f"periods per year must be positive, got {periods_per_year}")
    if periods_per_year <= 35:
        return 2
    if periods_per_year <= 70:
        return 3
    return 4


class LearningLevel(enum.StrEnum):
    """Kết quả học tập of a term or a year (Điều 9.2). Declared from best to worst."""

    TOT = "tot"  # Tốt
    KHA = "kha"  # Khá
    DAT = "dat"  # Đạt
    CHUA_DAT = "chua_dat"  # Chưa đạt


_RANK: dict[LearningLevel, int] = {level: rank for rank, level in enumerate(LearningLevel)}
_BY_RANK: tuple[LearningLevel, ...] = tuple(LearningLevel)
_MIN_SUBJECTS = 6  # "ít nhất 06 môn học" in every row of the Điều 9.2 table


def _at_least(scores: Sequence[Decimal], threshold: str) -> int:
    limit = Decimal(threshold)
    return sum(1 for s in scores if s >= limit)


def _table_level(scores: Sequence[Decimal], comments: Sequence[bool]) -> LearningLevel:
    """The Điều 9.2 table, read literally, before any Điều 9.3 adjustment."""
    failed_comments = sum(1 for passed in comments if not passed)
    lowest = min(scores, default=None)
    if (
        failed_comments == 0
        and lowest is not None
        and lowest >= Decimal("6.5")
        and _at_least(scores, "8.0") >= _MIN_SUBJECTS
    ):
        return LearningLevel.TOT
    if (
        failed_comments == 0
        and lowest is not None
        and lowest >= Decimal("5.0")
        and _at_least(scores, "6.5") >= _MIN_SUBJECTS
    ):
        return LearningLevel.KHA
    if (
        failed_comments <= 1
        and lowest is not None
        and lowest >= Decimal("3.5")
        and _at_least(scores, "5.0") >= _MIN_SUBJECTS
    ):
        return LearningLevel.DAT
    return LearningLevel.CHUA_DAT


def learning_level(scored: Mapping[str, Decimal], comment: Mapping[str, bool]) -> LearningLevel:
    """Kết quả học tập from the subject averages (``scored``) and Đạt results (``comment``).

    Điều 9.2 gives the level. Điều 9.3: if the level is two or more levels lower than it would be
    *because of exactly one subject*, it is raised to the adjacent level. "Because of one subject"
    is read as: leave that one subject out and the table gives a level at least two higher. Leaving
    the subject out (rather than pretending it scored 10) is the cautious reading: the subject
    cannot also count towards the "six subjects ≥ 8.0" of a higher level. Worked example in the
    reference: seven subjects good enough for Tốt plus one at 3.4 is Chưa đạt, adjusted to Đạt.
    """
    scores = [round1(v) for v in scored.values()]
    comments = list(comment.values())
    actual = _table_level(scores, comments)
    if actual is LearningLevel.TOT:
        return actual

    best_without_one = _RANK[actual]
    for i in range(len(scores)):
        without = _table_level(scores[:i] + scores[i + 1 :], comments)
        best_without_one = min(best_without_one, _RANK[without])
    for i in range(len(comments)):
        without = _table_level(scores, comments[:i] + comments[i + 1 :])
        best_without_one = min(best_without_one, _RANK[without])

    if _RANK[actual] - best_without_one >= 2:
        return _BY_RANK[_RANK[actual] - 1]
    return actual
