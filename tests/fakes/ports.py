"""Hand-written fakes of the core's ports (clock, OTP sender) for tests: no patches."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from bot.domain.errors import OtpDeliveryFailed


class FakeClock:
    """A clock that only moves when the test says so."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        # Monday 23/11/2026, 09:00 in Hà Nội: a school day, well inside the HKI.
        self._now = start or dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)

    def now(self) -> dt.datetime:
        return self._now

    def advance(self, **delta: float) -> None:
        self._now += dt.timedelta(**delta)


@dataclass
class SentSms:
    phone: str
    text: str

    @property
    def code(self) -> str:
        match = re.search(r"\b(\d{6})\b", self.text)
        assert match, f"no 6-digit code in {self.text!r}"
        return match.group(1)


@dataclass
class RecordingOtpSender:
    """Keeps every "SMS"; ``fail_next`` makes the next sends fail like a gateway outage."""

    sent: list[SentSms] = field(default_factory=list)
    fail_next: int = 0

    async def send(self, *, phone: str, text: str) -> None:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise OtpDeliveryFailed()
        self.sent.append(SentSms(phone=phone, text=text))

    def last_code(self, phone: str | None = None) -> str:
        for sms in reversed(self.sent):
            if phone is None or sms.phone == phone:
                return sms.code
        raise AssertionError(f"no SMS sent to {phone}")
