"""Vietnamese mobile numbers: one canonical form, an international form, and a mask.

Parents type numbers every way ("+84 912…", "0912.345.678", "(+84) 912-345-678"); the school's
file has them as "0912345678". Both sides are normalised before comparing. Phone numbers are
personal data (Decree 13/2023): never log one; show :func:`mask_phone` when a hint is needed.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["mask_phone", "normalize_phone", "to_international"]

_SEPARATORS = re.compile(r"[\s.\-()]")
# 10 digits; mobile prefixes since the 2018 renumbering are 03x, 05x, 07x, 08x, 09x.
_NATIONAL = re.compile(r"0[35789][0-9]{8}")


def normalize_phone(raw: str) -> str | None:
    """``"0912345678"`` for any usual spelling of a Vietnamese mobile number, else ``None``.

    Also accepts the common slip "+84 0912…" (country code *and* trunk 0). NFKC first so
    full-width digits from some IMEs count.
    """
    cleaned = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw))
    if cleaned.startswith("+84"):
        rest = cleaned[3:]
        national = rest if rest.startswith("0") else "0" + rest
    elif cleaned.startswith("84") and len(cleaned) in (11, 12):
        rest = cleaned[2:]
        national = rest if rest.startswith("0") else "0" + rest
    else:
        national = cleaned
    return national if _NATIONAL.fullmatch(national) else None


def to_international(phone: str) -> str:
    """``"84912345678"``: the form Zalo ZNS wants (no "+", no trunk 0)."""
    national = normalize_phone(phone)
    if national is None:
        raise ValueError("not a Vietnamese mobile number")  # the number itself is not echoed
    return "84" + national[1:]


def mask_phone(phone: str) -> str:
    """``"09x xxx x12"``: enough for a parent to recognise their number, nothing more.

    Anything that is not a valid number is masked completely rather than shown.
    """
    national = normalize_phone(phone)
    if national is None:
        return "xxx xxx xxxx"
    return f"{national[:2]}x xxx x{national[-2:]}"
