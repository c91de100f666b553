from __future__ import annotations

import pytest

from bot.domain.phone import mask_phone, normalize_phone, to_international


@pytest.mark.parametrize(
    "raw",
    [
        "0912345678",
        "+84912345678",
        "84912345678",
        "0912 345 678",
        "0912.345.678",
        "(+84) 912-345-678",
        " 0912-345-678 ",
        "+84 0912 345 678",
        "０９１２３４５６７８",  # full-width digits
    ],
)
def test_normalize_phone_accepts_usual_spellings(raw: str) -> None:
    assert normalize_phone(raw) == "0912345678"


@pytest.mark.parametrize("prefix", ["03", "05", "07", "08", "09"])
def test_normalize_phone_accepts_mobile_prefixes(prefix: str) -> None:
    assert normalize_phone(prefix + "12345678") == prefix + "12345678"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "091234567",  # 9 digits
        "09123456789",  # 11 digits
        "0212345678",  # landline-style prefix
        "0612345678",
        "912345678",  # no trunk 0 or country code
        "+85912345678",
        "+1 912 345 678",
        "0912abc678",
        "0912/345/678",
        "84 12345678",
    ],
)
def test_normalize_phone_rejects(raw: str) -> None:
    assert normalize_phone(raw) is None


def test_to_international() -> None:
    assert to_international("0912345678") == "84912345678"
    assert to_international("+84 912 345 678") == "84912345678"
    with pytest.raises(ValueError, match="not a Vietnamese mobile") as info:
        to_international("12345")
    assert "12345" not in str(info.value)


def test_mask_phone() -> None:
    assert mask_phone("0912345612") == "09x xxx x12"
    assert mask_phone("+84 912 345 612") == "09x xxx x12"
    assert mask_phone("garbage 123") == "xxx xxx xxxx"
