"""Fee payments by bank transfer: the memo reference, the VietQR image, and reconciling a bank
statement export against the fee items.

The memo is ``"<prefix> <reference>"`` (``"HP 7K2QX9MA"``). The reference is 8 characters of
Crockford base32 taken from a hash of (school, pupil, fee item): it names exactly one fee item
of one pupil, so a payment matches without a person reading it, and unlike the pupil's code
(vn_school_rules.md §5 suggests ``HP <mã HS> <invoice#>``) it says nothing about the child to
the banks and statement readers it passes through. It is ASCII, fits the 25-character limit of
62.08 with room to spare, and survives banks that upper-case, strip spaces or add prefixes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from bot.domain.models import BankAccount, FeeItem
from bot.domain.text import fold

__all__ = [
    "Match",
    "MatchKind",
    "Reconciliation",
    "StatementError",
    "StatementLine",
    "fee_memo",
    "fee_reference",
    "find_references",
    "parse_statement",
    "qr_payload",
    "qr_png",
    "reconcile",
]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_REF_LEN = 8  # 40 bits: no two fee items of a school collide in practice
# Read back as typed by people and banks: O means 0, I and L mean 1 (Crockford's rule).
_READ_BACK = str.maketrans({"O": "0", "I": "1", "L": "1"})


def fee_reference(school_id: str, student_id: str, fee_id: str) -> str:
    """The 8-character reference of one pupil's fee item (stable, no personal data)."""
    digest = hashlib.sha256(f"lienlac-fee|{school_id}|{student_id}|{fee_id}".encode()).digest()
    number = int.from_bytes(digest[:5], "big")
    return "".join(_CROCKFORD[(number >> (5 * i)) & 31] for i in reversed(range(_REF_LEN)))


def fee_memo(bank: BankAccount, school_id: str, fee: FeeItem) -> str:
    """What the parent's transfer says: ``"HP 7K2QX9MA"``."""
    return f"{bank.memo_prefix} {fee_reference(school_id, fee.student_id, fee.id)}"


def qr_payload(bank: BankAccount, school_id: str, fee: FeeItem) -> str:
    """The dynamic VietQR string for one fee: the school's account, the amount, the memo."""
    from bot.domain.vietqr import build_payload

    return build_payload(
        bank_bin=bank.bank_bin,
        account=bank.account,
        amount=fee.amount,
        purpose=fee_memo(bank, school_id, fee),
    )


def find_references(memo: str, prefix: str) -> list[str]:
    """Every candidate reference in a statement memo: the 8 letters or digits after each
    ``prefix``, whatever banks did to the spacing and case (``"MBVCB.123.HP7K2QX9MA.CT"``)."""
    text = re.sub(r"[^0-9A-Z]", "", fold(memo).upper())
    found: list[str] = []
    start = text.find(prefix)
    while start != -1:
        candidate = text[start + len(prefix) : start + len(prefix) + _REF_LEN]
        if len(candidate) == _REF_LEN:
            found.append(candidate.translate(_READ_BACK))
        start = text.find(prefix, start + 1)
    return found


# --- bank statement exports ----------------------------------------------------------------


class StatementError(ValueError):
    """The statement file cannot be read; the message is one line for the operator."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StatementLine:
    line: int  # 1-based line of the file, for the report
    date: str  # as the bank wrote it: only shown, never compared
    amount: int  # VND credited
    memo: str


# Header names, folded (no diacritics, lower case, single spaces). Earlier names win, so a
# statement with both "Ghi có" and "Số tiền" columns is read from the credit column.
_DATE_NAMES = (
    "ngay giao dich",
    "ngay",
    "ngay gd",
    "ngay hach toan",
    "ngay hieu luc",
    "date",
    "transaction date",
    "posting date",
    "value date",
)
_AMOUNT_NAMES = (
    "ghi co",
    "so tien ghi co",
    "credit",
    "credit amount",
    "so tien",
    "amount",
    "so tien giao dich",
)
_MEMO_NAMES = (
    "noi dung",
    "noi dung chuyen khoan",
    "noi dung giao dich",
    "dien giai",
    "mo ta",
    "memo",
    "description",
    "details",
    "remark",
    "remarks",
    "narrative",
)


def _header_key(name: str) -> str:
    return " ".join(fold(name).lower().replace("_", " ").split())


def _column(headers: list[str], names: tuple[str, ...]) -> int | None:
    keys = [_header_key(h) for h in headers]
    for name in names:
        if name in keys:
            return keys.index(name)
    return None


def _amount(raw: str, line: int) -> int | None:
    """VND from a bank's cell: ``1.250.000``, ``1,250,000``, ``1250000.00``, ``+1.250.000 ₫``.
    ``None`` for an empty cell or a debit (negative); :class:`StatementError` otherwise."""
    text = raw.strip().replace("\u00a0", "").replace(" ", "")
    text = re.sub(r"(?i)(vnd|vnđ|₫|đ)$", "", text).lstrip("+")
    if not text or text == "-":
        return None
    if text.startswith("-") or (text.startswith("(") and text.endswith(")")):
        return None
    # A decimal part (1-2 digits after the last separator) must be zero: VND has no minor unit.
    decimal = re.fullmatch(r"(.*?)[.,](\d{1,2})", text)
    if decimal:
        if decimal.group(2).strip("0"):
            raise StatementError(f"line {line}: amount {raw.strip()!r} has a fraction of a đồng")
        text = decimal.group(1)
    if re.fullmatch(r"\d+", text):
        return int(text)
    grouped = re.fullmatch(r"\d{1,3}(?:([.,])\d{3})(?:\1\d{3})*", text)
    if grouped:
        return int(re.sub(r"[.,]", "", text))
    raise StatementError(f"line {line}: amount {raw.strip()!r} is not a number")


def _header(rows: list[list[str]]) -> tuple[int, int, int, int]:
    """The header row's index and its date, amount and memo columns."""
    for index, row in enumerate(rows):
        date_col = _column(row, _DATE_NAMES)
        amount_col = _column(row, _AMOUNT_NAMES)
        memo_col = _column(row, _MEMO_NAMES)
        if date_col is not None and amount_col is not None and memo_col is not None:
            return index, date_col, amount_col, memo_col
    raise StatementError(
        "no header row with a date, an amount and a memo column "
        "(e.g. 'Ngày giao dịch,Số tiền,Nội dung' or 'Date,Amount,Description')"
    )


def parse_statement(data: bytes) -> list[StatementLine]:
    """The credit lines of a bank statement export (CSV, comma, semicolon or tab separated,
    UTF-8 with or without BOM). The first row that names a date, an amount and a memo column
    is the header (bank exports often start with a few title lines); rows after it with no
    amount, or a debit, are skipped."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise StatementError(f"the file is not UTF-8 text (byte {err.start})") from err
    if not text.strip():
        raise StatementError("the file is empty")
    sample = "\n".join(text.splitlines()[:20])
    delimiter = max((",", ";", "\t"), key=sample.count)
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    index, date_col, amount_col, memo_col = _header(rows)
    out: list[StatementLine] = []
    width = max(date_col, amount_col, memo_col) + 1
    for number, row in enumerate(rows[index + 1 :], start=index + 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < width:
            raise StatementError(f"line {number}: {len(row)} columns, the header has {width}+")
        amount = _amount(row[amount_col], number)
        if amount is None or amount == 0:
            continue
        out.append(
            StatementLine(
                line=number, date=row[date_col].strip(), amount=amount, memo=row[memo_col].strip()
            )
        )
    return out


# --- matching ------------------------------------------------------------------------------


class MatchKind(Enum):
    MATCHED = "matched"  # the reference names an unpaid fee, for its exact amount
    ALREADY_PAID = "already_paid"  # the reference names a fee the backend has as paid
    AMOUNT_MISMATCH = "amount_mismatch"  # a known reference, a different amount
    UNKNOWN = "unknown"  # no known reference in the memo


@dataclass(frozen=True, slots=True, kw_only=True)
class Match:
    kind: MatchKind
    line: StatementLine
    fee: FeeItem | None = None
    reference: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Reconciliation:
    matches: list[Match] = field(default_factory=list)

    def of(self, kind: MatchKind) -> list[Match]:
        return [m for m in self.matches if m.kind is kind]


def reconcile(
    lines: Iterable[StatementLine], fees: Sequence[FeeItem], *, school_id: str, prefix: str
) -> Reconciliation:
    """Match each credit line to a fee item by the memo reference, then the amount. A fee is
    matched once: a second payment for it is reported as already paid."""
    by_ref = {fee_reference(school_id, f.student_id, f.id): f for f in fees}
    settled: set[tuple[str, str]] = set()
    result: list[Match] = []
    for line in lines:
        known = [r for r in find_references(line.memo, prefix) if r in by_ref]
        if not known:
            result.append(Match(kind=MatchKind.UNKNOWN, line=line))
            continue
        ref = known[0]
        fee = by_ref[ref]
        if fee.paid or (fee.student_id, fee.id) in settled:
            kind = MatchKind.ALREADY_PAID
        elif line.amount != fee.amount:
            kind = MatchKind.AMOUNT_MISMATCH
        else:
            kind = MatchKind.MATCHED
            settled.add((fee.student_id, fee.id))
        result.append(Match(kind=kind, line=line, fee=fee, reference=ref))
    return Reconciliation(matches=result)


def qr_png(payload: str) -> bytes:
    """The VietQR as a PNG: error correction M (banking apps scan it off a phone screen), a
    4-module quiet zone, 8 pixels a module (about 400 px for a VietQR string)."""
    import segno

    out = io.BytesIO()
    segno.make_qr(payload, error="m", boost_error=False).save(out, kind="png", scale=8, border=4)
    return out.getvalue()
