"""One-time-code policy: pure decisions, no storage and no sending.

Rules (ARCHITECTURE.md, Security; issue 13.2-13.4), with the default numbers. Every counter
is durable (audit events), so restarting the flow, another chat or a restart of the bot
resets nothing:

- A code has 6 digits, is stored only as an HMAC and is valid 5 minutes.
- **Guesses.** One chat gets 5 wrong codes for one pupil (or staff record) per lock period
  (15 minutes), counted over every code it asked for: starting again issues no fresh
  guesses. All chats together get 20 wrong codes per pupil a day; then the pupil is locked
  for everyone until the day has passed or the school runs ``run_bot.py otp unlock``. That
  bounds a guesser with many accounts to 20 in a million a day, and is the one way a
  stranger can block the real parent, for one day at most, which the school can lift.
- **Sends.** 60 s between two codes to one phone, from any chat; 3 codes an hour to one
  phone from one chat; 10 a day to one phone from all chats; one chat may send codes to 3
  different phones a day; the school sends at most 500 a day, with a warning in the log,
  ``stats`` and ``/metrics`` from 80 %. Starting the flow again within the code's life
  re-sends to the same challenge (its wrong tries kept) instead of opening a new one.
- **The real parent.** A lock set off by one chat is that chat's: another chat asking for
  the same pupil waits only the 60 s cooldown (and the daily caps above).
- **Look-ups.** 10 codes per chat an hour; 5 unknown codes per chat an hour and 200 per
  school a day (each logged for the school as an audit event, never the code typed). Until
  the OTP succeeds the chat sees only the relation and the masked phone, never a name.
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
    max_sends_per_hour: int = 3  # to one phone from one chat
    max_sends_per_day: int = 10  # to one phone from all chats
    phones_per_chat_per_day: int = 3
    school_sends_per_day: int = 500
    school_alert_ratio: float = 0.8
    wrong_codes_per_student_per_day: int = 20
    code_lookups_per_hour: int = 10
    unknown_codes_per_hour: int = 5
    unknown_codes_per_school_per_day: int = 200


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
