"""What a pupil still needs under TT22: the final-exam score for a target subject average, the
marks for the next learning level of the term, and the level one subject average points to.

Pure ``Decimal`` arithmetic on the TT22 formulas (``bot.domain.tt22``). The reported average is
rounded half-up to one decimal, so an average reaches ``t`` exactly when the exact value is at
least ``t - 0.05``; every answer below is the smallest mark, in tenths, that does it, and is
checked against :func:`~bot.domain.tt22.term_average` itself.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from bot.domain.tt22 import LearningLevel, learning_level, round1, year_average

__all__ = [
    "LevelPlan",
    "Need",
    "NeedKind",
    "OpenSubject",
    "better_level",
    "needed_final",
    "needed_for_level",
    "needed_midterm_and_final",
    "needed_term2",
    "projected",
    "subject_level",
]

_TENTH = Decimal("0.1")
_HALF_TENTH = Decimal("0.05")
_ZERO = Decimal(0)
_TEN = Decimal(10)

# Điều 9.2, per level: every scored subject at least ``floor``, at least six at ``high`` or
# more, and at most ``comment_fails`` comment-only subjects Chưa đạt.
_RULES: dict[LearningLevel, tuple[Decimal, Decimal, int]] = {
    LearningLevel.TOT: (Decimal("6.5"), Decimal("8.0"), 0),
    LearningLevel.KHA: (Decimal("5.0"), Decimal("6.5"), 0),
    LearningLevel.DAT: (Decimal("3.5"), Decimal("5.0"), 1),
}
_MIN_SUBJECTS = 6
_ORDER = tuple(LearningLevel)  # best first


def subject_level(average: Decimal) -> LearningLevel:
    """The level one subject's average points to: the Điều 9.2 thresholds it clears
    (≥ 8.0 counts towards Tốt, ≥ 6.5 towards Khá, ≥ 5.0 towards Đạt)."""
    value = round1(average)
    for level in (LearningLevel.TOT, LearningLevel.KHA, LearningLevel.DAT):
        if value >= _RULES[level][1]:
            return level
    return LearningLevel.CHUA_DAT


def better_level(level: LearningLevel) -> LearningLevel:
    """The next level up (Tốt stays Tốt)."""
    return _ORDER[max(_ORDER.index(level) - 1, 0)]


def _ceil_tenth(x: Decimal) -> Decimal:
    return x.quantize(_TENTH, rounding=ROUND_CEILING)


class NeedKind(enum.StrEnum):
    REACHABLE = "reachable"  # ``score`` (≤ 10) is the least that reaches the target
    GUARANTEED = "guaranteed"  # reached whatever the remaining marks are (even 0)
    UNREACHABLE = "unreachable"  # not even 10 reaches it; ``best`` is the most possible


@dataclass(frozen=True, slots=True, kw_only=True)
class Need:
    """The least mark that reaches ``target``.

    ``score`` is the final exam (``needed_final``), the mark asked of both the mid-term and the
    final when neither is in yet (``needed_midterm_and_final``; ``weighted`` is then the
    least ``2·GK + 3·CK``), or the semester II average (``needed_term2``).
    """

    kind: NeedKind
    target: Decimal
    score: Decimal | None = None  # REACHABLE only
    best: Decimal | None = None  # UNREACHABLE: the best average still possible
    weighted: Decimal | None = None  # needed_midterm_and_final: least 2·GK + 3·CK


def _least(lowest: Decimal, target: Decimal, best: Decimal) -> Need:
    """``lowest``: the least mark on the continuous scale; ``best``: the average at 10."""
    if lowest <= _ZERO:
        return Need(kind=NeedKind.GUARANTEED, target=target)
    score = _ceil_tenth(lowest)
    if score > _TEN:
        return Need(kind=NeedKind.UNREACHABLE, target=target, best=best)
    return Need(kind=NeedKind.REACHABLE, target=target, score=score)


def needed_final(regular: Sequence[Decimal], midterm: Decimal, target: Decimal) -> Need:
    """The least ĐĐGck for ``round1((ΣTX + 2·GK + 3·CK) / (nTX + 5)) ≥ target``."""
    total = sum(regular, _ZERO) + 2 * midterm
    denominator = len(regular) + 5
    lowest = ((target - _HALF_TENTH) * denominator - total) / 3
    best = round1((total + 3 * _TEN) / denominator)
    return _least(lowest, target, best)


def needed_midterm_and_final(regular: Sequence[Decimal], target: Decimal) -> Need:
    """Neither GK nor CK is in: the least ``2·GK + 3·CK`` (``weighted``) and the least mark that
    does it when both exams get the same mark (``score``)."""
    total = sum(regular, _ZERO)
    denominator = len(regular) + 5
    weighted = (target - _HALF_TENTH) * denominator - total
    best = round1((total + 5 * _TEN) / denominator)
    need = _least(weighted / 5, target, best)
    if need.kind is NeedKind.REACHABLE:
        # the least weighted sum a teacher can give (marks in tenths: 2·GK + 3·CK in tenths)
        least_weighted = _ceil_tenth(weighted)
        return Need(
            kind=need.kind, target=target, score=need.score, weighted=max(least_weighted, _ZERO)
        )
    return need


def needed_term2(hk1: Decimal, target: Decimal) -> Need:
    """The least semester II average for a year average ``(HKI + 2·HKII) / 3 ≥ target``."""
    lowest = ((target - _HALF_TENTH) * 3 - round1(hk1)) / 2
    best = year_average(hk1, _TEN)
    assert best is not None
    return _least(lowest, target, best)


# --- the next level of the term ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenSubject:
    """A scored subject whose term average is not final yet (its CK, maybe its GK, missing)."""

    code: str
    regular: tuple[Decimal, ...]
    midterm: Decimal | None


def _need(subject: OpenSubject, target: Decimal) -> Need:
    if subject.midterm is None:
        return needed_midterm_and_final(subject.regular, target)
    return needed_final(subject.regular, subject.midterm, target)


def _average_with(subject: OpenSubject, mark: Decimal) -> Decimal:
    """The average if the missing exam(s) all get ``mark``."""
    midterm = subject.midterm if subject.midterm is not None else mark
    total = sum(subject.regular, _ZERO) + 2 * midterm + 3 * mark
    return round1(total / (len(subject.regular) + 5))


@dataclass(frozen=True, slots=True, kw_only=True)
class LevelPlan:
    """What the term's open subjects need for ``target``.

    ``needs`` maps each open subject to the least mark (for its CK, or for GK and CK alike when
    GK is missing) in a cheapest plan; subjects absent from it need nothing. ``blockers``: the
    final averages or comment results that rule the level out. ``best``: the best level still
    possible when the target is out of reach.
    """

    target: LearningLevel
    kind: NeedKind
    needs: Mapping[str, Decimal]
    blockers: tuple[str, ...] = ()
    best: LearningLevel | None = None


def needed_for_level(
    target: LearningLevel,
    final: Mapping[str, Decimal],
    open_subjects: Sequence[OpenSubject],
    comments: Mapping[str, bool],
) -> LevelPlan:
    """The least marks for a term learning level of at least ``target`` (Điều 9.2).

    ``final``: the scored subjects whose average is final; ``open_subjects``: those still
    waiting for an exam; ``comments``: the comment-only subjects' results. Each open subject
    must clear the level's floor; then the cheapest open subjects are lifted to the level's
    high mark until six subjects have it. The Điều 9.3 adjustment is not counted on: a plan
    that needs it would be a gamble.
    """
    if target is LearningLevel.CHUA_DAT:
        return LevelPlan(target=target, kind=NeedKind.GUARANTEED, needs={})
    floor, high, comment_fails = _RULES[target]
    blockers = [code for code, avg in final.items() if round1(avg) < floor]
    failed = [code for code, passed in comments.items() if not passed]
    if len(failed) > comment_fails:
        blockers.extend(failed)

    needs: dict[str, Decimal] = {}
    floor_needs: dict[str, Need] = {s.code: _need(s, floor) for s in open_subjects}
    for code, need in floor_needs.items():
        if need.kind is NeedKind.UNREACHABLE:
            blockers.append(code)
        elif need.kind is NeedKind.REACHABLE and need.score is not None:
            needs[code] = need.score

    have_high = sum(1 for avg in final.values() if round1(avg) >= high)
    lifts: list[tuple[Decimal, str]] = []
    for s in open_subjects:
        need = _need(s, high)
        if need.kind is NeedKind.GUARANTEED:
            have_high += 1
        elif need.kind is NeedKind.REACHABLE and need.score is not None:
            lifts.append((need.score, s.code))
    missing = max(_MIN_SUBJECTS - have_high, 0)
    if missing > len(lifts):
        blockers.append("")  # not enough subjects can reach the high mark
    if blockers:
        return LevelPlan(
            target=target,
            kind=NeedKind.UNREACHABLE,
            needs={},
            blockers=tuple(b for b in blockers if b),
            best=_best_level(final, open_subjects, comments),
        )
    for score, code in sorted(lifts)[:missing]:
        needs[code] = max(score, needs.get(code, _ZERO))
    kind = NeedKind.REACHABLE if needs else NeedKind.GUARANTEED
    return LevelPlan(target=target, kind=kind, needs=needs)


def _best_level(
    final: Mapping[str, Decimal],
    open_subjects: Sequence[OpenSubject],
    comments: Mapping[str, bool],
) -> LearningLevel:
    """The level if every missing exam got 10."""
    scored = dict(final)
    for s in open_subjects:
        scored[s.code] = _average_with(s, _TEN)
    return learning_level(scored, comments)


def projected(subject: OpenSubject) -> Decimal:
    """Where an open subject stands on the marks it has: their TT22-weighted mean
    (ΣTX + 2·GK) / (nTX + 2), rounded; used to pick "the next level"."""
    weights = len(subject.regular) + (2 if subject.midterm is not None else 0)
    if weights == 0:
        return _ZERO
    total = sum(subject.regular, _ZERO) + 2 * (subject.midterm or _ZERO)
    return round1(total / weights)
