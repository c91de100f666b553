"""Fee references, transfer memos as banks mangle them, statement exports and matching."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.config import PaymentSettings
from bot.domain.models import BankAccount, FeeItem
from bot.domain.payments import (
    MatchKind,
    StatementError,
    StatementLine,
    fee_memo,
    fee_reference,
    find_references,
    parse_statement,
    qr_payload,
    qr_png,
    reconcile,
)
from bot.domain.vietqr import decode

BANK = BankAccount(
    bank_name="Vietcombank", bank_bin="970436", account="0011004455667", account_name="TRUONG"
)


def fee(fid: str, student: str = "st-1", amount: int = 631_800, paid: bool = False) -> FeeItem:
    return FeeItem(
        id=fid,
        student_id=student,
        name="Bảo hiểm y tế",
        amount=amount,
        due_date=None,
        paid=paid,
        mandatory=True,
    )


def test_reference_is_stable_short_ascii_and_per_pupil_and_fee() -> None:
    ref = fee_reference("demo", "st-1", "f-1")
    assert ref == fee_reference("demo", "st-1", "f-1")
    assert re.fullmatch(r"[0-9A-Z]{8}", ref)
    assert not set(ref) & set("ILOU")  # Crockford: nothing to misread
    others = {
        fee_reference("demo", "st-2", "f-1"),  # same fee id, another pupil
        fee_reference("demo", "st-1", "f-2"),
        fee_reference("other", "st-1", "f-1"),
    }
    assert ref not in others and len(others) == 3


def test_memo_and_payload_fit_the_bank_limits() -> None:
    item = fee("f-st-7a-02-1", "st-7a-02")
    memo = fee_memo(BANK, "demo", item)
    assert memo == f"HP {fee_reference('demo', 'st-7a-02', 'f-st-7a-02-1')}"
    assert len(memo) <= 25
    read = decode(qr_payload(BANK, "demo", item))
    assert (read.amount, read.purpose, read.account) == (631_800, memo, "0011004455667")
    assert qr_png(qr_payload(BANK, "demo", item)).startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize(
    "memo",
    [
        "HP {ref}",
        "hp {ref} nop bhyt",
        "MBVCB.12345.HP{ref}.CT tu 0011 NGUYEN VAN A",
        "THPT LE LOI HP-{ref}",  # an earlier "HP" inside a word is skipped
        "Học phí HP {ref} cho con",
        "{spaced}",
    ],
)
def test_references_are_found_whatever_the_bank_did(memo: str) -> None:
    ref = fee_reference("demo", "st-1", "f-1")
    spaced = "H P " + " ".join(ref)
    assert ref in find_references(memo.format(ref=ref, spaced=spaced), "HP")


def test_misread_letters_are_read_back() -> None:
    assert find_references("HP 0O1IL234", "HP") == ["00111234"]


@given(st.text(max_size=60))
def test_any_memo_is_searched_without_error(memo: str) -> None:
    for ref in find_references(memo, "HP"):
        assert len(ref) == 8


def test_statement_with_title_lines_semicolons_and_vietnamese_headers() -> None:
    data = (
        "\ufeffSAO KÊ;;\nNgày giao dịch;Số tiền ghi có;Nội dung chuyển khoản\n"
        "01/12/2026;1.250.000;HP AAAA\n02/12/2026;;phi\n03/12/2026;-5.000;rut\n\n"
        "04/12/2026;631.800 ₫;x\n"
    ).encode()
    lines = parse_statement(data)
    assert [(x.line, x.amount, x.memo) for x in lines] == [
        (3, 1_250_000, "HP AAAA"),
        (7, 631_800, "x"),
    ]


@pytest.mark.parametrize(
    ("cell", "amount"),
    [
        ("1250000", 1_250_000),
        ("1.250.000", 1_250_000),
        ("1,250,000", 1_250_000),
        ("1,250,000.00", 1_250_000),
        ("1.250.000,00", 1_250_000),
        ("1250000.0", 1_250_000),
        ("+1.250.000 VND", 1_250_000),
        ("631 800", 631_800),
    ],
)
def test_amount_cells(cell: str, amount: int) -> None:
    data = f'Date\tAmount\tDescription\n2026-12-01\t"{cell}"\tHP\n'.encode()
    assert parse_statement(data)[0].amount == amount


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"a,b,c\n", "no header row"),
        ("Ngày,Số tiền,Nội dung\n1,12abc,x\n".encode(), "not a number"),
        ("Ngày,Số tiền,Nội dung\n1,12.5,x\n".encode(), "fraction"),
        ("Ngày,Số tiền,Nội dung\n1,1.25.0,x\n".encode(), "not a number"),
        ("Ngày,Số tiền,Nội dung\n1\n".encode(), "columns"),
        (b"\xff\xfeN\x00", "UTF-8"),
    ],
)
def test_unreadable_statements_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(StatementError, match=reason):
        parse_statement(data)


def test_reconcile_sorts_every_line() -> None:
    fees = [fee("f-1"), fee("f-2", amount=200_000), fee("f-3", paid=True)]
    ref = {f.id: fee_reference("demo", f.student_id, f.id) for f in fees}

    def line(n: int, amount: int, memo: str) -> StatementLine:
        return StatementLine(line=n, date="01/12/2026", amount=amount, memo=memo)

    result = reconcile(
        [
            line(1, 631_800, f"HP {ref['f-1']}"),
            line(2, 631_800, f"HP {ref['f-1']}"),  # paid twice
            line(3, 100_000, f"HP {ref['f-2']}"),  # short
            line(4, 500_000, f"HP {ref['f-3']}"),  # already paid in the backend
            line(5, 631_800, "HP ZZZZZZZZ"),
            line(6, 631_800, "chuyen tien"),
        ],
        fees,
        school_id="demo",
        prefix="HP",
    )
    kinds = [m.kind for m in result.matches]
    assert kinds == [
        MatchKind.MATCHED,
        MatchKind.ALREADY_PAID,
        MatchKind.AMOUNT_MISMATCH,
        MatchKind.ALREADY_PAID,
        MatchKind.UNKNOWN,
        MatchKind.UNKNOWN,
    ]
    assert result.of(MatchKind.MATCHED)[0].fee == fees[0]


def test_payment_settings_need_the_whole_account() -> None:
    assert not PaymentSettings().enabled
    with pytest.raises(ValidationError, match="bank_bin"):
        PaymentSettings(account="0011004455667")
    with pytest.raises(ValidationError):
        PaymentSettings(bank_bin="97043", account="1", bank_name="x", account_name="y")
    with pytest.raises(ValidationError):
        PaymentSettings(memo_prefix="hp nop")
