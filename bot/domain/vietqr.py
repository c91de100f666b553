"""VietQR payloads (NAPAS IBFT on EMVCo merchant-presented QR), built and checked by hand.

Format: ``ID(2) + LEN(2, decimal) + VALUE`` fields; IDs 38 (beneficiary) and 62 (additional
data) hold nested fields, and 38.01 nests once more (BIN, account). The payload ends with
``6304`` + CRC-16/CCITT-FALSE over everything before the CRC value, ``6304`` included.

Fee invoices use a *dynamic* QR (amount set) with a short reference in 62.08 (purpose/memo), and
bank statements are reconciled on that memo, so the memo must survive banks' apps: ASCII, no
diacritics (with UTF-8 the LEN field is ambiguous), at most 25 characters.

Trap: some published samples have a valid CRC but a nested length that swallows the next field
(38.01 declaring 39 eats ``0208QRIBFTTA``); other decoders accept them. :func:`parse_payload`
checks every nested length and which sub-fields may appear where, not only the CRC.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "NAPAS_GUID",
    "VietQR",
    "build_payload",
    "crc16_ccitt_false",
    "decode",
    "parse_payload",
]

NAPAS_GUID = "A000000727"
_SERVICE_ACCOUNT = "QRIBFTTA"  # transfer to a bank account
_SERVICE_CARD = "QRIBFTTC"  # transfer to a card number
_MAX_TEXT = 25  # bill number and purpose, each
_MAX_AMOUNT_LEN = 13
_NESTED = frozenset({"38", "62"})
_ID = re.compile(r"[0-9]{2}")
_LEN = re.compile(r"[0-9]{2}")
_BIN = re.compile(r"[0-9]{6}")
_ACCOUNT = re.compile(r"[0-9A-Za-z]{1,19}")
_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_CRC = re.compile(r"[0-9A-F]{4}")  # uppercase only (vn_school_rules.md §5)
_MCC = re.compile(r"[0-9]{4}")
# Top-level IDs EMVCo defines: 00-01, merchant accounts 02-51, 52-64, unreserved 80-99.
# 65-79 are reserved for future use: a payload carrying one was not made to this spec.
_TOP_IDS = frozenset(f"{n:02d}" for n in (*range(0, 65), *range(80, 100)))
# 62 sub-fields: 01-09 defined (01 bill, 05 reference, 07 terminal, 08 purpose), 10-49
# reserved, 50-99 payment-system / unreserved templates.
_ADDITIONAL_IDS = frozenset(f"{n:02d}" for n in (*range(1, 10), *range(50, 100)))


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def _tlv(tag: str, value: str) -> str:
    if len(value) > 99:
        raise ValueError(f"field {tag} is longer than 99 characters")
    return f"{tag}{len(value):02d}{value}"


def _ascii_text(value: str, what: str) -> str:
    """Fold Vietnamese to plain ASCII ("Học phí" -> "Hoc phi"); keep the case, reject the rest."""
    decomposed = unicodedata.normalize("NFD", unicodedata.normalize("NFC", value))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    bare = bare.replace("đ", "d").replace("Đ", "D")
    if not all(" " <= ch <= "~" for ch in bare):
        raise ValueError(f"{what} must be printable ASCII once diacritics are removed")
    if len(bare) > _MAX_TEXT:
        raise ValueError(f"{what} is {len(bare)} characters; at most {_MAX_TEXT} are allowed")
    return bare


def build_payload(
    *,
    bank_bin: str,
    account: str,
    amount: int | None = None,
    purpose: str = "",
    bill_number: str = "",
    card: bool = False,
) -> str:
    """The VietQR string: dynamic (``010212``) when ``amount`` is given, else static (``010211``).

    ``account`` is a card number when ``card`` is true (service ``QRIBFTTC``). ``purpose`` and
    ``bill_number`` are folded to ASCII and limited to 25 characters (``ValueError`` beyond).
    """
    if not _BIN.fullmatch(bank_bin):
        raise ValueError("bank BIN must be 6 digits")
    if not _ACCOUNT.fullmatch(account):
        raise ValueError("account must be 1-19 ASCII letters or digits")
    beneficiary = _tlv("00", bank_bin) + _tlv("01", account)
    merchant = (
        _tlv("00", NAPAS_GUID)
        + _tlv("01", beneficiary)
        + _tlv("02", _SERVICE_CARD if card else _SERVICE_ACCOUNT)
    )
    parts = [_tlv("00", "01"), _tlv("01", "11" if amount is None else "12"), _tlv("38", merchant)]
    parts.append(_tlv("53", "704"))
    if amount is not None:
        if amount <= 0:
            raise ValueError("amount must be a positive number of đồng")
        amount_text = str(amount)
        if len(amount_text) > _MAX_AMOUNT_LEN:
            raise ValueError(f"amount is longer than {_MAX_AMOUNT_LEN} digits")
        parts.append(_tlv("54", amount_text))
    parts.append(_tlv("58", "VN"))
    additional = ""
    if bill_number:
        additional += _tlv("01", _ascii_text(bill_number, "bill number"))
    if purpose:
        additional += _tlv("08", _ascii_text(purpose, "purpose"))
    if additional:
        parts.append(_tlv("62", additional))
    body = "".join(parts) + "6304"
    return f"{body}{crc16_ccitt_false(body.encode('ascii')):04X}"


def _split(data: str, where: str) -> dict[str, str]:
    """One level of TLV. Every length must land exactly on the end of ``data``."""
    fields: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        tag, length = data[pos : pos + 2], data[pos + 2 : pos + 4]
        if not _ID.fullmatch(tag) or not _LEN.fullmatch(length):
            raise ValueError(f"malformed field header at {where} offset {pos}")
        if length == "00":
            raise ValueError(f"field {where}{tag} is empty (a present field has a value)")
        end = pos + 4 + int(length)
        if end > len(data):
            raise ValueError(f"field {where}{tag} declares {length} characters but overruns")
        if tag in fields:
            raise ValueError(f"field {where}{tag} appears twice")
        fields[tag] = data[pos + 4 : end]
        pos = end
    return fields


def _only(fields: dict[str, str], allowed: set[str], where: str) -> None:
    extra = sorted(set(fields) - allowed)
    if extra:
        raise ValueError(f"unexpected field(s) {', '.join(where + t for t in extra)}")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Fields:
    top: dict[str, str]
    merchant: dict[str, str]  # 38
    beneficiary: dict[str, str]  # 38.01
    additional: dict[str, str]  # 62, empty when absent


def _parse(payload: str) -> _Fields:
    """Check the CRC, then every level of TLV; the two public decoders share this."""
    if not payload.isascii():
        raise ValueError("payload must be ASCII (lengths are ambiguous otherwise)")
    if len(payload) < 8 or payload[-8:-4] != "6304":
        raise ValueError("payload must end with the CRC field 6304XXXX")
    crc_text = payload[-4:]
    if not _CRC.fullmatch(crc_text):
        raise ValueError("CRC must be 4 uppercase hex digits")
    expected = crc16_ccitt_false(payload[:-4].encode("ascii"))
    if int(crc_text, 16) != expected:
        raise ValueError(f"CRC mismatch: payload says {crc_text}, computed {expected:04X}")

    top = _split(payload, "")
    order = list(top)
    if order[-1] != "63":
        raise ValueError("the CRC field 63 must come last")
    if order[0] != "00":
        raise ValueError("field 00 (payload format) must come first")
    _only(top, set(_TOP_IDS), "")
    if top.get("00") != "01":
        raise ValueError("field 00 (payload format) must be 01")
    if top.get("01") not in {"11", "12"}:
        raise ValueError("field 01 must be 11 (static) or 12 (dynamic)")
    if top.get("53") != "704":
        raise ValueError("field 53 (currency) must be 704")
    if top.get("58") != "VN":
        raise ValueError("field 58 (country) must be VN")
    if "54" in top and (len(top["54"]) > _MAX_AMOUNT_LEN or not _AMOUNT.fullmatch(top["54"])):
        raise ValueError("field 54 (amount) must be a number of at most 13 characters")
    if "54" in top and not top["54"].strip("0."):
        raise ValueError("field 54 (amount) must be more than zero")
    if "52" in top and not _MCC.fullmatch(top["52"]):
        raise ValueError("field 52 (merchant category) must be 4 digits")
    if "38" not in top:
        raise ValueError("field 38 (NAPAS beneficiary) is missing")

    merchant = _split(top["38"], "38.")
    _only(merchant, {"00", "01", "02"}, "38.")
    if next(iter(merchant)) != "00":
        raise ValueError("field 38.00 (GUID) must come first in 38")
    if merchant.get("00") != NAPAS_GUID:
        raise ValueError(f"field 38.00 must be the NAPAS GUID {NAPAS_GUID}")
    if "01" not in merchant:
        raise ValueError("field 38.01 (beneficiary) is missing")
    beneficiary = _split(merchant["01"], "38.01.")
    # Checked before 38.02: a 38.01 that swallowed 38.02 shows up here, with the real cause.
    _only(beneficiary, {"00", "01"}, "38.01.")
    if merchant.get("02") not in {_SERVICE_ACCOUNT, _SERVICE_CARD}:
        raise ValueError("field 38.02 must be QRIBFTTA or QRIBFTTC")
    if not _BIN.fullmatch(beneficiary.get("00", "")):
        raise ValueError("field 38.01.00 (bank BIN) must be 6 digits")
    if not beneficiary.get("01"):
        raise ValueError("field 38.01.01 (account) is missing")
    if not _ACCOUNT.fullmatch(beneficiary["01"]):
        raise ValueError("field 38.01.01 (account) must be 1-19 ASCII letters or digits")

    additional = _split(top["62"], "62.") if "62" in top else {}
    _only(additional, set(_ADDITIONAL_IDS), "62.")
    for tag in sorted(set(additional) & {f"{n:02d}" for n in range(1, 10)}):
        if len(additional[tag]) > _MAX_TEXT:
            raise ValueError(f"field 62.{tag} is longer than {_MAX_TEXT} characters")
    return _Fields(top=top, merchant=merchant, beneficiary=beneficiary, additional=additional)


def parse_payload(payload: str) -> dict[str, object]:
    """Decode and validate a VietQR string into its TLV tree.

    Keys are the two-digit IDs; ``"38"``, ``"38"["01"]`` and ``"62"`` are nested dicts, every
    other value is the field's string. Raises ``ValueError`` saying what is wrong: non-ASCII,
    bad CRC, any length that does not add up, a missing or unexpected field.
    """
    fields = _parse(payload)
    tree: dict[str, object] = dict(fields.top)
    tree["38"] = {**fields.merchant, "01": fields.beneficiary}
    if "62" in fields.top:
        tree["62"] = fields.additional
    return tree


@dataclass(frozen=True, slots=True, kw_only=True)
class VietQR:
    """The parts of a VietQR payload that reconciliation and display need."""

    bank_bin: str
    account: str
    card: bool
    dynamic: bool
    amount: int | None
    bill_number: str = ""
    purpose: str = ""


def decode(payload: str) -> VietQR:
    """:func:`parse_payload`, flattened into the fields the fees feature uses."""
    fields = _parse(payload)
    amount_text = fields.top.get("54")
    amount: int | None = None
    if amount_text is not None:
        whole, _, fraction = amount_text.partition(".")
        if fraction.strip("0"):
            raise ValueError("VND amounts have no minor unit")
        amount = int(whole)
    return VietQR(
        bank_bin=fields.beneficiary["00"],
        account=fields.beneficiary["01"],
        card=fields.merchant["02"] == _SERVICE_CARD,
        dynamic=fields.top["01"] == "12",
        amount=amount,
        bill_number=fields.additional.get("01", ""),
        purpose=fields.additional.get("08", ""),
    )
