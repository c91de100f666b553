"""Which fee items a question names (issue 16): from the school's own item names, accents and
one keyboard slip tolerated, the longest naming phrase winning; none for a general question."""

from __future__ import annotations

import datetime as dt

from bot.domain.models import FeeItem
from handlers.fees import named_items
from handlers.normalise import normalise


def _fee(name: str, n: int) -> FeeItem:
    return FeeItem(
        id=f"f{n}",
        student_id="s",
        name=name,
        amount=100_000 * n,
        due_date=dt.date(2026, 12, 1),
        paid=False,
        mandatory=False,
    )


ITEMS = [
    _fee("Tiền điều hòa tháng 12", 1),
    _fee("Quỹ khuyến học", 2),
    _fee("Tiền ăn bán trú tháng 11", 3),
    _fee("Bảo hiểm y tế học sinh (12 tháng)", 4),
]


def _named(text: str) -> list[str]:
    return [item.name for item in named_items(normalise(text), ITEMS)]


def test_items_are_named_by_their_own_words() -> None:
    assert _named("tiền điều hòa đã đóng chưa") == ["Tiền điều hòa tháng 12"]
    assert _named("quy khuyen hoc bao nhieu") == ["Quỹ khuyến học"]
    assert _named("an ban tru con no ko") == ["Tiền ăn bán trú tháng 11"]
    assert _named("bhyt") == ["Bảo hiểm y tế học sinh (12 tháng)"]
    assert _named("bảo hiẻm y tế") == ["Bảo hiểm y tế học sinh (12 tháng)"]  # a misplaced mark
    assert _named("tien dieu hoaa") == ["Tiền điều hòa tháng 12"]  # a doubled letter


def test_a_general_question_names_no_item() -> None:
    for text in ("học phí", "còn nợ bao nhiêu tiền", "tháng 12 phải nộp gì", ""):
        assert _named(text) == [], text
