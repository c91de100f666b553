"""What a pupil still needs under TT22 (bot/domain/score_goals.py): the final-exam score for a
target average, the marks for the next level, and the level one average points to."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.score_goals import (
    NeedKind,
    OpenSubject,
    better_level,
    needed_final,
    needed_for_level,
    needed_midterm_and_final,
    needed_term2,
    subject_level,
)
from bot.domain.tt22 import LearningLevel, learning_level, term_average, year_average

D = Decimal
TENTH = D("0.1")

scores = st.integers(min_value=0, max_value=100).map(lambda n: D(n) / 10)
targets = st.integers(min_value=0, max_value=100).map(lambda n: D(n) / 10)


def _avg(regular: list[Decimal], gk: Decimal, ck: Decimal) -> Decimal:
    working = term_average(regular, gk, ck)
    assert working is not None
    return working.rounded


def test_reference_example_needs_9_2_for_an_8() -> None:
    # Toán: TX 8, 7, 9, 6; GK 7 -> CK 9.2 gives 7.96 -> 8.0; CK 9.1 gives 7.92 -> 7.9
    need = needed_final([D(8), D(7), D(9), D(6)], D(7), D(8))
    assert need.kind is NeedKind.REACHABLE
    assert need.score == D("9.2")
    assert _avg([D(8), D(7), D(9), D(6)], D(7), D("9.2")) == D("8.0")
    assert _avg([D(8), D(7), D(9), D(6)], D(7), D("9.1")) == D("7.9")


def test_boundary_x_x5_rounds_up_so_less_is_needed() -> None:
    # the reference's rounding trap: 52.4 / 8 = 6.55 is reported 6.6, so CK 6.6 is enough
    need = needed_final([D(6), D(7), D(6)], D("6.8"), D("6.6"))
    assert need.score == D("6.6")
    assert _avg([D(6), D(7), D(6)], D("6.8"), D("6.6")) == D("6.6")
    assert _avg([D(6), D(7), D(6)], D("6.8"), D("6.5")) == D("6.5")


def test_unreachable_target_gives_the_best_possible_average() -> None:
    need = needed_final([D(2), D(2)], D(2), D(8))
    assert need.kind is NeedKind.UNREACHABLE
    assert need.score is None
    assert need.best == _avg([D(2), D(2)], D(2), D(10)) == D("5.4")


def test_already_guaranteed_when_even_zero_reaches_it() -> None:
    need = needed_final([D(10)] * 4, D(10), D("5.0"))
    assert need.kind is NeedKind.GUARANTEED
    assert _avg([D(10)] * 4, D(10), D(0)) >= D("5.0")


def test_exactly_ten_needed_is_still_reachable() -> None:
    # (0·4 + 2·10 + 30) / 9 = 5.555… -> 5.6 needs CK 10; 5.7 cannot be reached
    assert needed_final([D(0)] * 4, D(10), D("5.6")).score == D(10)
    assert needed_final([D(0)] * 4, D(10), D("5.7")).kind is NeedKind.UNREACHABLE


def test_missing_midterm_gives_the_combination() -> None:
    need = needed_midterm_and_final([D(8), D(7)], D(8))
    assert need.kind is NeedKind.REACHABLE
    assert need.score == D("8.2") and need.weighted == D("40.7")
    assert _avg([D(8), D(7)], D("8.2"), D("8.2")) == D("8.0")
    assert _avg([D(8), D(7)], D("8.1"), D("8.1")) == D("7.9")


def test_year_target_needs_a_semester_two_average() -> None:
    need = needed_term2(D("7.6"), D(8))
    assert need.score == D("8.2")
    assert year_average(D("7.6"), D("8.2")) == D("8.0")
    assert year_average(D("7.6"), D("8.1")) == D("7.9")
    assert needed_term2(D(2), D(9)).kind is NeedKind.UNREACHABLE


@given(st.lists(scores, min_size=1, max_size=4), scores, targets)
def test_needed_final_reaches_the_target_and_a_tenth_less_does_not(
    regular: list[Decimal], gk: Decimal, target: Decimal
) -> None:
    need = needed_final(regular, gk, target)
    if need.kind is NeedKind.REACHABLE:
        assert need.score is not None and D(0) < need.score <= D(10)
        assert _avg(regular, gk, need.score) >= target
        assert _avg(regular, gk, need.score - TENTH) < target
    elif need.kind is NeedKind.GUARANTEED:
        assert _avg(regular, gk, D(0)) >= target
    else:
        assert _avg(regular, gk, D(10)) < target
        assert need.best == _avg(regular, gk, D(10))


@given(st.lists(scores, min_size=1, max_size=4), targets)
def test_needed_midterm_and_final_reaches_the_target(
    regular: list[Decimal], target: Decimal
) -> None:
    need = needed_midterm_and_final(regular, target)
    if need.kind is NeedKind.REACHABLE:
        assert need.score is not None
        assert _avg(regular, need.score, need.score) >= target
        assert _avg(regular, need.score - TENTH, need.score - TENTH) < target
    elif need.kind is NeedKind.UNREACHABLE:
        assert _avg(regular, D(10), D(10)) < target


@given(scores, targets)
def test_needed_term2_reaches_the_year_target(hk1: Decimal, target: Decimal) -> None:
    need = needed_term2(hk1, target)
    if need.kind is NeedKind.REACHABLE:
        assert need.score is not None
        assert year_average(hk1, need.score) >= target  # type: ignore[operator]
        assert year_average(hk1, need.score - TENTH) < target  # type: ignore[operator]


def test_subject_level_thresholds() -> None:
    assert subject_level(D("8.0")) is LearningLevel.TOT
    assert subject_level(D("7.95")) is LearningLevel.TOT  # reported 8.0
    assert subject_level(D("7.9")) is LearningLevel.KHA
    assert subject_level(D("6.5")) is LearningLevel.KHA
    assert subject_level(D("5.0")) is LearningLevel.DAT
    assert subject_level(D("4.9")) is LearningLevel.CHUA_DAT
    assert better_level(LearningLevel.KHA) is LearningLevel.TOT
    assert better_level(LearningLevel.TOT) is LearningLevel.TOT


def _open(code: str) -> OpenSubject:
    return OpenSubject(code=code, regular=(D(8), D(7), D(8), D(7)), midterm=D(7))


def test_level_plan_lifts_the_cheapest_subjects_to_eight() -> None:
    final = {"a": D("8.1"), "b": D("8.4"), "c": D("7.0"), "d": D("8.0"), "e": D("8.5")}
    open_subjects = [_open("toan"), _open("van"), _open("anh")]
    plan = needed_for_level(LearningLevel.TOT, final, open_subjects, {"gdtc": True})
    assert plan.kind is NeedKind.REACHABLE
    # four subjects ≥ 8.0 already: two of the three open ones must reach 8.0, the third 6.5
    lifted = [code for code, score in plan.needs.items() if score >= D(8)]
    assert len(lifted) == 2
    scored = dict(final)
    for s in open_subjects:
        scored[s.code] = _avg(list(s.regular), D(7), plan.needs.get(s.code, D(0)))
    assert learning_level(scored, {"gdtc": True}) is LearningLevel.TOT


def test_level_plan_unreachable_names_the_blocker_and_the_best_level() -> None:
    final = {"a": D("6.0"), "b": D("9"), "c": D("9"), "d": D("9"), "e": D("9"), "f": D("9")}
    plan = needed_for_level(LearningLevel.TOT, final, [_open("toan")], {})
    assert plan.kind is NeedKind.UNREACHABLE
    assert plan.blockers == ("a",)
    assert plan.best is LearningLevel.KHA


def test_level_plan_guaranteed_and_failed_comment() -> None:
    final = {c: D(9) for c in "abcdefg"}
    assert needed_for_level(LearningLevel.TOT, final, [], {"x": True}).kind is NeedKind.GUARANTEED
    plan = needed_for_level(LearningLevel.TOT, final, [], {"x": False})
    assert plan.kind is NeedKind.UNREACHABLE and plan.blockers == ("x",)


@given(
    st.dictionaries(st.sampled_from("abcdefgh"), scores, max_size=8),
    st.lists(st.tuples(st.lists(scores, min_size=1, max_size=4), scores), max_size=4),
    st.sampled_from([LearningLevel.TOT, LearningLevel.KHA, LearningLevel.DAT]),
)
def test_level_plan_when_followed_gives_the_level(
    final: dict[str, Decimal], opened: list[tuple[list[Decimal], Decimal]], target: LearningLevel
) -> None:
    open_subjects = [
        OpenSubject(code=f"o{i}", regular=tuple(r), midterm=gk) for i, (r, gk) in enumerate(opened)
    ]
    plan = needed_for_level(target, final, open_subjects, {})
    order = list(LearningLevel)
    if plan.kind is NeedKind.UNREACHABLE:
        assert plan.best is not None
        assert order.index(plan.best) > order.index(target) or plan.blockers
        return
    scored = dict(final)
    for s in open_subjects:
        scored[s.code] = _avg(list(s.regular), s.midterm or D(0), plan.needs.get(s.code, D(0)))
    assert order.index(learning_level(scored, {})) <= order.index(target)
