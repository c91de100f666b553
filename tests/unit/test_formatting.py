from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from bot.domain.formatting import (
    format_average,
    format_date,
    format_score,
    format_vnd,
    weekday_name,
)


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (1_250_000, "1.250.000 ₫"),
        (0, "0 ₫"),
        (-50_000, "-50.000 ₫"),
        (999, "999 ₫"),
        (1_000, "1.000 ₫"),
        (1_263_600, "1.263.600 ₫"),
    ],
)
def test_format_vnd(amount: int, text: str) -> None:
    assert format_vnd(amount) == text
    assert "\u00a0" not in format_vnd(amount)


def test_format_date() -> None:
    assert format_date(dt.date(2026, 11, 25)) == "25/11/2026"
    assert format_date(dt.date(2026, 1, 5)) == "05/01/2026"


def test_weekday_names() -> None:
    assert [weekday_name(i, "vi") for i in range(7)] == [
        "Thứ Hai",
        "Thứ Ba",
        "Thứ Tư",
        "Thứ Năm",
        "Thứ Sáu",
        "Thứ Bảy",
        "Chủ Nhật",
    ]
    assert [weekday_name(i, "en") for i in range(7)] == [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ]
    assert weekday_name(0, "vi_VN") == "Thứ Hai"
    with pytest.raises(ValueError, match="weekday"):
        weekday_name(7, "vi")


@pytest.mark.parametrize(
    ("score", "vi", "en"),
    [
        ("8", "8", "8"),
        ("8.0", "8", "8"),
        ("10", "10", "10"),
        ("10.0", "10", "10"),
        ("0", "0", "0"),
        ("7.5", "7,5", "7.5"),
        ("7.50", "7,5", "7.5"),
        ("6.8", "6,8", "6.8"),
    ],
)
def test_format_score(score: str, vi: str, en: str) -> None:
    assert format_score(Decimal(score)) == vi
    assert format_score(Decimal(score), "vi") == vi
    assert format_score(Decimal(score), "en") == en


@pytest.mark.parametrize(
    ("average", "vi", "en"),
    [
        ("7.6", "7,6", "7.6"),
        ("8", "8,0", "8.0"),
        ("8.0", "8,0", "8.0"),
        ("10", "10,0", "10.0"),
        ("6.55", "6,6", "6.6"),
    ],
)
def test_format_average_always_one_decimal(average: str, vi: str, en: str) -> None:
    assert format_average(Decimal(average)) == vi
    assert format_average(Decimal(average), "en") == en
