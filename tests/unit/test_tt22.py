"""TT22 averages against the worked examples in docs/reference (vn_school_rules.md §1)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.tt22 import (
    LearningLevel,
    comment_result,
    learning_level,
    parse_score,
    regular_count_for_periods,
    round1,
    term_average,
    validate_score,
    year_average,
)


def d(*values: str) -> tuple[Decimal, ...]:
    return tuple(Decimal(v) for v in values)


def test_toan_grade6_average_is_7_6_with_its_working() -> None:
    working = term_average(d("8", "7", "9", "6"), Decimal("7"), Decimal("8"))
    assert working is not None
    assert working.regular == d("8", "7", "9", "6")
    assert (working.midterm, working.final) == (Decimal("7"), Decimal("8"))
    assert working.numerator == Decimal("68")  # 30 + 2·7 + 3·8
    assert working.denominator == 9  # 4 TX + 5
    assert Decimal("7.555") < working.exact < Decimal("7.556")
    assert working.rounded == Decimal("7.6")
    assert str(working.rounded) == "7.6"


def test_gdcd_average_is_7_4() -> None:
    working = term_average(d("9", "8"), Decimal("7.5"), Decimal("6.5"))
    assert working is not None
    assert working.numerator == Decimal("51.5")
    assert working.denominator == 7
    assert working.rounded == Decimal("7.4")


def test_rounding_trap_gives_6_6_where_float_round_gives_6_5() -> None:
    working = term_average(d("6", "7", "6"), Decimal("6.8"), Decimal("6.6"))
    assert working is not None
    assert working.numerator == Decimal("52.4")
    assert working.denominator == 8
    assert working.exact == Decimal("6.55")
    assert working.rounded == Decimal("6.6")
    # The trap this module exists to avoid: the float is 6.5499… and rounds down.
    assert round(52.4 / 8, 1) == 6.5
    # And round() on a Decimal is half-even, also wrong for the school.
    assert round(Decimal("6.45"), 1) == Decimal("6.4")
    assert round1(Decimal("6.45")) == Decimal("6.5")


def test_year_average_uses_rounded_terms() -> None:
    assert year_average(Decimal("7.6"), Decimal("8.2")) == Decimal("8.0")
    assert str(year_average(Decimal("7.6"), Decimal("8.2"))) == "8.0"
    # The rounded terms are used, not their exact values: 7.55 -> 7.6 first.
    assert year_average(Decimal("7.55"), Decimal("8.2")) == Decimal("8.0")


def test_year_average_is_none_until_both_terms_exist() -> None:
    assert year_average(None, Decimal("8.2")) is None
    assert year_average(Decimal("7.6"), None) is None


@pytest.mark.parametrize(
    ("regular", "midterm", "final"),
    [
        ((), Decimal("7"), Decimal("8")),
        (d("8"), None, Decimal("8")),
        (d("8"), Decimal("7"), None),
    ],
)
def test_incomplete_term_has_no_average(
    regular: tuple[Decimal, ...], midterm: Decimal | None, final: Decimal | None
) -> None:
    assert term_average(regular, midterm, final) is None


def test_term_average_rejects_impossible_scores() -> None:
    with pytest.raises(ValueError, match="between 0 and 10"):
        term_average(d("11"), Decimal("7"), Decimal("8"))
    with pytest.raises(ValueError, match="one decimal"):
        term_average(d("7.25"), Decimal("7"), Decimal("8"))


def test_comment_subject_results() -> None:
    assert comment_result([True, True], required=2) is True
    assert comment_result([True, False], required=2) is False
    assert comment_result([False], required=2) is None
    assert comment_result([], required=2) is None
    assert comment_result([], required=0) is None
    assert comment_result([True, True, True], required=2) is True


@pytest.mark.parametrize(
    ("periods", "count"),
    [(35, 2), (1, 2), (36, 3), (52, 3), (70, 3), (71, 4), (105, 4), (140, 4)],
)
def test_regular_count_for_periods(periods: int, count: int) -> None:
    assert regular_count_for_periods(periods) == count


def test_regular_count_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="positive"):
        regular_count_for_periods(0)


TOT_SCORES = {
    "toan": "8.2",
    "van": "7.0",
    "anh": "8.5",
    "khtn": "8.0",
    "lsdl": "8.1",
    "tin": "8.4",
    "cn": "8.0",
    "gdcd": "6.8",
}
COMMENTS_ALL_DAT = {"gdtc": True, "nt": True, "hdtn": True, "gddp": True}


def scores(**overrides: str) -> dict[str, Decimal]:
    merged = {**TOT_SCORES, **overrides}
    return {k: Decimal(v) for k, v in merged.items()}


def test_level_tot() -> None:
    assert learning_level(scores(), COMMENTS_ALL_DAT) is LearningLevel.TOT


def test_level_kha_when_one_subject_drops_below_6_5() -> None:
    assert learning_level(scores(gdcd="6.4"), COMMENTS_ALL_DAT) is LearningLevel.KHA


def test_level_dieu_9_3_raises_chua_dat_caused_by_one_subject_to_dat() -> None:
    # 3.4 < 3.5 makes it Chưa đạt; without that subject it would be Tốt: 3 levels, one subject.
    assert learning_level(scores(gdcd="3.4"), COMMENTS_ALL_DAT) is LearningLevel.DAT


def test_level_dieu_9_3_one_comment_chua_dat_from_tot_becomes_kha() -> None:
    comments = {**COMMENTS_ALL_DAT, "gdtc": False}
    # Table: Đạt (one Chưa đạt comment); without it Tốt -> two levels -> adjusted to Khá.
    assert learning_level(scores(), comments) is LearningLevel.KHA


def test_level_dieu_9_3_does_not_apply_to_a_one_level_drop() -> None:
    # 4.8 < 5.0: Đạt by the table; without it Khá only (five ≥ 8.0 left), one level.
    assert learning_level(scores(toan="4.8"), COMMENTS_ALL_DAT) is LearningLevel.DAT


def test_level_dieu_9_3_does_not_apply_when_two_subjects_cause_the_drop() -> None:
    result = learning_level(scores(gdcd="3.4", van="3.0"), COMMENTS_ALL_DAT)
    assert result is LearningLevel.CHUA_DAT


def test_level_dat_and_chua_dat_rows() -> None:
    middling = {f"s{i}": Decimal("5.5") for i in range(8)}
    assert learning_level(middling, COMMENTS_ALL_DAT) is LearningLevel.DAT
    weak = {f"s{i}": Decimal("4.0") for i in range(8)}
    assert learning_level(weak, COMMENTS_ALL_DAT) is LearningLevel.CHUA_DAT
    assert learning_level({}, {}) is LearningLevel.CHUA_DAT


def test_level_values_are_stable_keys() -> None:
    assert [level.value for level in LearningLevel] == ["tot", "kha", "dat", "chua_dat"]


@pytest.mark.parametrize(
    ("text", "value"),
    [("7", "7"), ("7.5", "7.5"), ("7,5", "7.5"), (" 8 ", "8"), ("10", "10"), ("0", "0")],
)
def test_parse_score_accepts_point_and_comma(text: str, value: str) -> None:
    assert parse_score(text) == Decimal(value)


@pytest.mark.parametrize("text", ["", "abc", "7.25", "11", "-1", "7..5", "7,", "1e1", "NaN"])
def test_parse_score_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="score"):
        parse_score(text)


def test_validate_score() -> None:
    validate_score(Decimal("7.50"))  # same value as 7.5
    for bad in ("10.1", "-0.1", "7.05", "Infinity", "NaN"):
        with pytest.raises(ValueError, match="score"):
            validate_score(Decimal(bad))


score_strategy = st.integers(min_value=0, max_value=100).map(lambda n: Decimal(n) / 10)


@given(
    regular=st.lists(score_strategy, min_size=1, max_size=4),
    midterm=score_strategy,
    final=score_strategy,
)
def test_average_within_inputs_and_one_decimal(
    regular: list[Decimal], midterm: Decimal, final: Decimal
) -> None:
    working = term_average(regular, midterm, final)
    assert working is not None
    inputs = [*regular, midterm, final]
    assert min(inputs) <= working.exact <= max(inputs)
    assert min(inputs) <= working.rounded <= max(inputs)
    assert working.rounded.as_tuple().exponent == -1
    assert abs(working.rounded - working.exact) <= Decimal("0.05")


@given(
    hk1=score_strategy,
    hk2=score_strategy,
)
def test_year_average_has_one_decimal(hk1: Decimal, hk2: Decimal) -> None:
    year = year_average(hk1, hk2)
    assert year is not None
    assert year.as_tuple().exponent == -1
    assert min(hk1, hk2) <= year <= max(hk1, hk2)


@given(tenths=st.integers(min_value=0, max_value=99))
def test_round1_rounds_half_up(tenths: int) -> None:
    x = Decimal(tenths) / 10 + Decimal("0.05")  # x.x5
    assert round1(x) == Decimal(tenths + 1) / 10
    assert round1(x - Decimal("0.0001")) == Decimal(tenths) / 10


@given(x=st.decimals(min_value=0, max_value=10, allow_nan=False, allow_infinity=False, places=4))
def test_round1_always_one_decimal(x: Decimal) -> None:
    assert round1(x).as_tuple().exponent == -1
