"""One-time-code policy: pure decisions, no storage and no sending.

Rules (ARCHITECTURE.md, Security): 6 digits, stored only as an HMAC, valid 5 minutes, 5 wrong
tries then a lock-out, a cooldown between sends, a cap on sends per phone per hour. A resend
keeps the attempt counter, so asking for a new code never buys more guesses.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

_CODE_IN_TEXT = re.compile(r"^\D*(\d[\d\s.-]*\d)\D*$")


@dataclass(frozen=True, slots=True, kw_only=True)
class OtpPolicy:
    length: int = 6
    ttl: dt.timedelta = dt.timedelta(minutes=5)
    max_attempts: int = 5
    lockout: dt.timedelta = dt.timedelta(minutes=15)
    resend_cooldown: dt.timedelta = dt.timedelta(seconds=60)
    max_sends_per_hour: int = 5
    code_lookups_per_hour: int = 10


class CodeCheck(enum.StrEnum):
    OK = "ok"  # the code matches: link the user
    WRONG = "wrong"  # a wrong code: one attempt used
    EXPIRED = "expired"  # past the time limit: ask for a new code
    LOCKED = "locked"  # too many wrong codes: wait for the lock-out to end


def generate_code(length: int = 6) -> str:
    return "".join(str(secrets.randbelow(10)) for _ in range(length))


def hash_code(secret: bytes, scope: str, code: str) -> str:
    """HMAC-SHA256 of the code, bound to its conversation. Without the installation secret a
    stolen table does not give the codes away even though 6 digits are few."""
    return hmac.new(secret, f"{scope}|{code}".encode(), hashlib.sha256).hexdigest()


def extract_code(text: str, length: int = 6) -> str | None:
    """The code in what the user typed: "123456", "123 456", "mã 123-456". None otherwise."""
    match = _CODE_IN_TEXT.match(text.strip())
    if not match:
        return None
    digits = re.sub(r"\D", "", match.group(1))
    return digits if len(digits) == length else None


def check_code(
    *,
    secret: bytes,
    scope: str,
    code: str,
    code_hash: str,
    expires_at: dt.datetime,
    locked_until: dt.datetime | None,
    now: dt.datetime,
) -> CodeCheck:
    if locked_until is not None and now < locked_until:
        return CodeCheck.LOCKED
    if now >= expires_at:
        return CodeCheck.EXPIRED
    if hmac.compare_digest(hash_code(secret, scope, code), code_hash):
        return CodeCheck.OK
    return CodeCheck.WRONG


def lock_after_failure(
    attempts_before: int, *, now: dt.datetime, policy: OtpPolicy
) -> dt.datetime | None:
    """The lock-out end if this wrong code used the last attempt, else None."""
    return now + policy.lockout if attempts_before + 1 >= policy.max_attempts else None


def seconds_until_resend(last_sent_at: dt.datetime, *, now: dt.datetime, policy: OtpPolicy) -> int:
    wait = (last_sent_at + policy.resend_cooldown - now).total_seconds()
    return max(0, int(wait + 0.999))
