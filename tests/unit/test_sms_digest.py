"""The SMS digest (issue 16): ASCII only, at most 160 characters a segment, at most the set
number of segments, whole lines, and a count of what did not fit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import partial

import pytest

from bot.domain.digest import ChildSection, Item, fee_payload, score_payload
from bot.domain.sms import (
    MULTI_SEGMENT,
    SINGLE_SEGMENT,
    compose_sms_digest,
    fit_segments,
    segment_count,
    sms_ascii,
)
from bot.i18n import Catalog

AT = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def test_ascii_folds_vietnamese_and_keeps_case() -> None:
    assert sms_ascii("Điểm mới: Toán — 8,5 ✅") == "Diem moi: Toan - 8,5"
    assert sms_ascii("Khoản thu: Bảo hiểm y tế — 1.250.000 ₫") == (
        "Khoan thu: Bao hiem y te - 1.250.000 d"
    )
    assert sms_ascii("a [b] {c} ~d^ |e| `f`") == "a (b) (c) -d- /e/ 'f'"
    assert sms_ascii("📬  Bản   tin\n👤 An") == "Ban tin\nAn"
    assert sms_ascii("Nguyễn Thị Ngọc Ánh").isascii()


def test_segments() -> None:
    assert segment_count("x" * SINGLE_SEGMENT) == 1
    assert segment_count("x" * (SINGLE_SEGMENT + 1)) == 2
    assert segment_count("x" * (MULTI_SEGMENT * 3)) == 3
    assert segment_count("x" * (MULTI_SEGMENT * 3 + 1)) == 4


@pytest.mark.parametrize("max_segments", [1, 2, 3])
def test_long_digest_fits_the_segments_and_says_how_many_were_left_out(max_segments: int) -> None:
    lines = ["LienLac 23/11/2026:"] + [f"Điểm mới: môn số {i} thường xuyên: 8,5" for i in range(40)]
    text = fit_segments(lines, max_segments=max_segments, more=lambda n: f"+{n} tin khác")
    assert text.isascii()
    assert segment_count(text) <= max_segments
    shown = text.count("Diem moi")
    assert text.endswith(f"+{40 - shown} tin khac") and shown >= 1


def test_short_digest_is_left_whole() -> None:
    text = fit_segments(["Tin:", "Toán 8"], max_segments=1, more=lambda n: f"+{n}")
    assert text == "Tin:\nToan 8"
    with pytest.raises(ValueError, match="at least 1"):
        fit_segments(["x"], max_segments=0, more=str)


def test_compose_sms_digest_from_items() -> None:
    catalog = Catalog.load()
    t = partial(catalog.t, "vi")
    score = Item(
        kind="scores",
        payload=score_payload(
            subject="Toán", score_kind="tx", term=1, value=Decimal("8.5"), passed=None
        ),
        occurred_at=AT,
    )
    fee = Item(
        kind="fees",
        payload=fee_payload(name="Bảo hiểm y tế", amount=680_400, due_date=dt.date(2026, 12, 1)),
        occurred_at=AT,
    )
    children = [
        ChildSection(name="Nguyễn Minh An", class_name="6A", items=[score]),
        ChildSection(name="Nguyễn Thị Bình", class_name="8A", items=[fee]),
    ]
    text = compose_sms_digest(
        t, "vi", local_date=dt.date(2026, 11, 23), children=children, max_segments=2
    )
    assert text is not None and text.isascii() and segment_count(text) <= 2
    assert text.startswith("LienLac 23/11/2026:")
    assert "An: Diem moi: Toan" in text and "Binh: Khoan thu: Bao hiem y te" in text
    assert "680.400 d" in text
    empty = [ChildSection(name="An", class_name="6A")]
    assert (
        compose_sms_digest(
            t, "vi", local_date=dt.date(2026, 11, 23), children=empty, max_segments=1
        )
        is None
    )
