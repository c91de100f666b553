"""VietQR against the payloads checked in vn_school_rules.md §5."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.vietqr import (
    VietQR,
    build_payload,
    crc16_ccitt_false,
    decode,
    parse_payload,
)

STATIC_ACB = (
    "00020101021138530010A0000007270123000697041601092576788590208QRIBFTTA53037045802VN6304AE9F"
)
DYNAMIC_ACB = (
    "00020101021238530010A0000007270123000697041601092576788590208QRIBFTTA"
    "53037045405100005802VN62150811Chuyen tien630453E6"
)
NAPAS_SACOMBANK = (
    "00020101021238570010A00000072701270006970403011300110123456780208QRIBFTTA"
    "530370454061800005802VN62340107NPS68690819thanh toan don hang63042E2E"
)
CARD = (
    "00020101021238600010A00000072701300006970403011697040311012345670208QRIBFTTC"
    "530370454061800005802VN62340107NPS68690819thanh toan don hang6304A203"
)


def with_crc(body_without_crc: str) -> str:
    """Re-sign a tampered payload so only the structural check can catch it."""
    body = body_without_crc + "6304"
    return f"{body}{crc16_ccitt_false(body.encode('ascii')):04X}"


def test_crc16_check_value() -> None:
    assert crc16_ccitt_false(b"123456789") == 0x29B1
    assert crc16_ccitt_false(b"") == 0xFFFF


def test_build_static_acb_matches_reference() -> None:
    assert build_payload(bank_bin="970416", account="257678859") == STATIC_ACB


def test_build_dynamic_acb_matches_reference() -> None:
    payload = build_payload(
        bank_bin="970416", account="257678859", amount=10_000, purpose="Chuyen tien"
    )
    assert payload == DYNAMIC_ACB


def test_build_napas_example_matches_reference() -> None:
    payload = build_payload(
        bank_bin="970403",
        account="0011012345678",
        amount=180_000,
        bill_number="NPS6869",
        purpose="thanh toan don hang",
    )
    assert payload == NAPAS_SACOMBANK


def test_build_card_payload_matches_reference() -> None:
    payload = build_payload(
        bank_bin="970403",
        account="9704031101234567",
        amount=180_000,
        bill_number="NPS6869",
        purpose="thanh toan don hang",
        card=True,
    )
    assert payload == CARD


def test_parse_static() -> None:
    assert parse_payload(STATIC_ACB) == {
        "00": "01",
        "01": "11",
        "38": {
            "00": "A000000727",
            "01": {"00": "970416", "01": "257678859"},
            "02": "QRIBFTTA",
        },
        "53": "704",
        "58": "VN",
        "63": "AE9F",
    }


def test_parse_dynamic_with_memo() -> None:
    tree = parse_payload(DYNAMIC_ACB)
    assert tree["01"] == "12"
    assert tree["54"] == "10000"
    assert tree["62"] == {"08": "Chuyen tien"}


def test_parse_napas_and_card() -> None:
    tree = parse_payload(NAPAS_SACOMBANK)
    assert tree["38"] == {
        "00": "A000000727",
        "01": {"00": "970403", "01": "0011012345678"},
        "02": "QRIBFTTA",
    }
    assert tree["62"] == {"01": "NPS6869", "08": "thanh toan don hang"}
    card = parse_payload(CARD)
    assert card["38"] == {
        "00": "A000000727",
        "01": {"00": "970403", "01": "9704031101234567"},
        "02": "QRIBFTTC",
    }


def test_decode_gives_the_fields_fees_need() -> None:
    assert decode(NAPAS_SACOMBANK) == VietQR(
        bank_bin="970403",
        account="0011012345678",
        card=False,
        dynamic=True,
        amount=180_000,
        bill_number="NPS6869",
        purpose="thanh toan don hang",
    )
    assert decode(STATIC_ACB) == VietQR(
        bank_bin="970416", account="257678859", card=False, dynamic=False, amount=None
    )
    assert decode(CARD).card is True


def test_corrupted_crc_is_rejected() -> None:
    with pytest.raises(ValueError, match="CRC mismatch"):
        parse_payload(STATIC_ACB[:-4] + "AE9E")


def test_tampered_amount_is_caught_by_crc() -> None:
    with pytest.raises(ValueError, match="CRC mismatch"):
        parse_payload(DYNAMIC_ACB.replace("5405100005802", "5405900005802"))


def test_nested_length_that_swallows_the_next_field_is_rejected_despite_valid_crc() -> None:
    # The published-sample trap: 38.01 declares 35 and eats 0208QRIBFTTA; 38 still adds up.
    body = "00020101021138530010A0000007270135000697041601092576788590208QRIBFTTA53037045802VN"
    payload = with_crc(body)
    with pytest.raises(ValueError, match=r"38\.01\.02"):
        parse_payload(payload)


def test_nested_length_that_overruns_is_rejected_despite_valid_crc() -> None:
    # 38.01.01 declares 10 characters but the account has 9.
    body = "00020101021138530010A0000007270123000697041601102576788590208QRIBFTTA53037045802VN"
    with pytest.raises(ValueError, match=r"38\.01\.01 declares 10"):
        parse_payload(with_crc(body))


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("", "6304"),
        (STATIC_ACB[:-4] + "ZZZZ", "hex"),
        ("ĐĐ" + STATIC_ACB, "ASCII"),
        (with_crc("000201010211" + "53037045802VN"), "38"),
        (with_crc("000202010211"), "field 00"),
        (with_crc(STATIC_ACB[:-8].replace("5802VN", "5802US")), "58"),
        (with_crc(STATIC_ACB[:-8].replace("0010A000000727", "0010A000000728")), "GUID"),
        (with_crc(STATIC_ACB[:-8].replace("QRIBFTTA", "QRIBFTTX")), "38.02"),
        (with_crc(STATIC_ACB[:-8] + "5802VN"), "twice"),
        (with_crc(STATIC_ACB[:-8] + "AB"), "malformed"),
        (with_crc(STATIC_ACB[:-8] + "9"), "overruns"),
    ],
)
def test_invalid_payloads_say_why(payload: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_payload(payload)


def test_purpose_is_folded_to_ascii() -> None:
    payload = build_payload(
        bank_bin="970436", account="0123456789", amount=1_263_600, purpose="Đóng BHYT Nguyễn An"
    )
    assert payload.isascii()
    assert decode(payload).purpose == "Dong BHYT Nguyen An"


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"purpose": "x" * 26}, "at most 25"),
        ({"bill_number": "HP-2026-000000000000000001"}, "at most 25"),
        ({"purpose": "học phí 😀"}, "ASCII"),
        ({"amount": 0}, "positive"),
        ({"amount": -5}, "positive"),
        ({"amount": 10**13}, "13"),
        ({"bank_bin": "97041"}, "BIN"),
        ({"account": "0123 456"}, "account"),
        ({"account": ""}, "account"),
    ],
)
def test_build_rejects(kwargs: dict[str, object], reason: str) -> None:
    args: dict[str, object] = {"bank_bin": "970436", "account": "0123456789", **kwargs}
    with pytest.raises(ValueError, match=reason):
        build_payload(**args)  # type: ignore[arg-type]


def test_purpose_of_exactly_25_characters_is_allowed() -> None:
    payload = build_payload(bank_bin="970436", account="0123456789", purpose="x" * 25)
    assert decode(payload).purpose == "x" * 25


@given(
    bank_bin=st.from_regex(r"[0-9]{6}", fullmatch=True),
    account=st.from_regex(r"[0-9A-Z]{1,19}", fullmatch=True),
    amount=st.one_of(st.none(), st.integers(min_value=1, max_value=10**12)),
    purpose=st.from_regex(r"[A-Za-z0-9 ]{0,25}", fullmatch=True),
    bill=st.from_regex(r"[A-Z0-9]{0,25}", fullmatch=True),
    card=st.booleans(),
)
def test_build_then_decode_round_trips(
    bank_bin: str, account: str, amount: int | None, purpose: str, bill: str, card: bool
) -> None:
    payload = build_payload(
        bank_bin=bank_bin,
        account=account,
        amount=amount,
        purpose=purpose,
        bill_number=bill,
        card=card,
    )
    assert decode(payload) == VietQR(
        bank_bin=bank_bin,
        account=account,
        card=card,
        dynamic=amount is not None,
        amount=amount,
        bill_number=bill,
        purpose=purpose,
    )


# --- stricter than the common decoders (issue 16) -------------------------------------------


def _body(payload: str) -> str:
    return payload[:-8]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        # truncated anywhere: the CRC no longer sits at the end
        (NAPAS_SACOMBANK[:-1], "6304|CRC"),
        (NAPAS_SACOMBANK[:40], "6304|CRC"),
        # a length that is not two digits, re-signed so only the structure is wrong
        (with_crc(_body(STATIC_ACB).replace("5802VN", "58x2VN")), "malformed"),
        (with_crc(_body(STATIC_ACB).replace("5303704", "53 3704")), "malformed"),
        # nested 62 length one too long / too short
        (with_crc(_body(DYNAMIC_ACB).replace("62150811", "62160811")), "overruns"),
        (with_crc(_body(DYNAMIC_ACB).replace("0811Chuyen tien", "0810Chuyen tien")), "62"),
        # 38 declares fewer characters than its nested fields use
        (with_crc(_body(STATIC_ACB).replace("3853", "3852")), r"38\.|malformed"),
        # a duplicate nested tag
        (
            with_crc(_body(DYNAMIC_ACB).replace("62150811Chuyen tien", "62160804abcd0804efgh")),
            "twice",
        ),
        # lower-case CRC digits, an empty field, a reserved top-level id
        (STATIC_ACB[:-4] + "ae9f", "uppercase"),
        (with_crc(_body(STATIC_ACB) + "6000"), "empty"),
        (with_crc(_body(STATIC_ACB) + "7003abc"), "unexpected field"),
        # the payload-format field must open the payload
        (with_crc("010211" + _body(STATIC_ACB)[12:] + "000201"), "first"),
        # amount zero, MCC not 4 digits, account with a symbol, 62.08 over 25 characters
        (with_crc(_body(STATIC_ACB).replace("5802VN", "54010" + "5802VN")), "more than zero"),
        (with_crc(_body(STATIC_ACB).replace("5303704", "52035815303704")), "52"),
        (
            with_crc(
                _body(STATIC_ACB).replace(
                    "0123000697041601092576788590208", "0123000697041601092576-88590208"
                )
            ),
            "account",
        ),
        (with_crc(_body(STATIC_ACB) + "62300826" + "x" * 26), "longer than 25"),
    ],
)
def test_malformed_payloads_are_rejected(payload: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_payload(payload)


def test_optional_fields_the_spec_allows_are_accepted() -> None:
    body = _body(NAPAS_SACOMBANK).replace("5303704", "520458125303704")
    tree = parse_payload(with_crc(body))
    assert tree["52"] == "5812"


@given(st.data())
def test_any_single_character_change_is_rejected(data: st.DataObject) -> None:
    # Every one-character corruption of a valid payload is caught (CRC-16 detects all
    # single-symbol errors); whatever the change, the decoder never returns garbage.
    payload = NAPAS_SACOMBANK
    pos = data.draw(st.integers(min_value=0, max_value=len(payload) - 1))
    char = data.draw(st.sampled_from("0123456789ABCDEFQRTVNxyz "))
    if payload[pos] == char:
        return
    with pytest.raises(ValueError, match=r"CRC|field|payload"):
        parse_payload(payload[:pos] + char + payload[pos + 1 :])
