"""The OTP policy: codes, hashing, expiry, attempts, lock-out and resend cooldown."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.otp import (
    CodeCheck,
    OtpPolicy,
    check_code,
    extract_code,
    generate_code,
    hash_code,
    lock_after_failure,
    seconds_until_resend,
)

SECRET = b"k" * 32
NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)
POLICY = OtpPolicy()


def _check(
    code: str, stored: str, *, now: dt.datetime = NOW, locked: dt.datetime | None = None
) -> CodeCheck:
    return check_code(
        secret=SECRET,
        scope="chat-1|g-01",
        code=code,
        code_hash=hash_code(SECRET, "chat-1|g-01", stored),
        expires_at=NOW + POLICY.ttl,
        locked_until=locked,
        now=now,
    )


def test_codes_are_six_digits_and_vary() -> None:
    codes = {generate_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) > 190


def test_hash_is_keyed_and_bound_to_the_conversation() -> None:
    h = hash_code(SECRET, "chat-1|g-01", "123456")
    assert "123456" not in h and len(h) == 64
    assert h != hash_code(b"other" * 8, "chat-1|g-01", "123456")
    assert h != hash_code(SECRET, "chat-2|g-01", "123456")


def test_right_wrong_expired_locked() -> None:
    assert _check("123456", "123456") is CodeCheck.OK
    assert _check("123457", "123456") is CodeCheck.WRONG
    assert _check("123456", "123456", now=NOW + POLICY.ttl) is CodeCheck.EXPIRED
    assert _check("123456", "123456", locked=NOW + dt.timedelta(minutes=1)) is CodeCheck.LOCKED
    assert _check("123456", "123456", locked=NOW - dt.timedelta(seconds=1)) is CodeCheck.OK


def test_the_fifth_wrong_code_locks() -> None:
    assert lock_after_failure(3, now=NOW, policy=POLICY) is None
    assert lock_after_failure(4, now=NOW, policy=POLICY) == NOW + POLICY.lockout


def test_resend_cooldown() -> None:
    assert seconds_until_resend(NOW, now=NOW, policy=POLICY) == 60
    assert seconds_until_resend(NOW, now=NOW + dt.timedelta(seconds=59.5), policy=POLICY) == 1
    assert seconds_until_resend(NOW, now=NOW + dt.timedelta(seconds=60), policy=POLICY) == 0


def test_code_is_found_in_what_people_type() -> None:
    assert extract_code("123456") == "123456"
    assert extract_code(" 123 456 ") == "123456"
    assert extract_code("mã 123-456") == "123456"
    assert extract_code("12345") is None
    assert extract_code("1234567") is None
    assert extract_code("HS6A01") is None
    assert extract_code("") is None
    assert extract_code("12 34 56 78") is None


@given(st.text(max_size=50))
def test_extract_code_never_crashes(text: str) -> None:
    code = extract_code(text)
    assert code is None or (len(code) == 6 and code.isdigit())
