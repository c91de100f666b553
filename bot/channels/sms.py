"""The SMS channel of the outbox: the digest of guardians marked "SMS only" (issue 16).

It only sends; nobody writes to the bot by SMS. The outbox row's recipient carries the
guardian's id, never a phone number (``bot.notifications.sms_key``): the phone is read from
the school data at the moment of sending, so a number changed by an import is used at once,
and a guardian no longer marked SMS only gets nothing.

The text goes through the school's configured SMS provider, the one that sends the OTPs
(``LIENLAC_OTP__PROVIDER``: ``http_json``, ``sms`` eSMS/SpeedSMS, ``zns`` with the SMS keys,
or ``console`` in the demo, where it is printed as a simulated SMS). It is folded to ASCII and
cut to the configured number of segments once more here, whatever queued it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from bot.domain.errors import DeliveryFailedPermanently, DeliveryRetryLater, OtpDeliveryFailed
from bot.domain.sms import OFFICE_SMS, fit_segments
from bot.messages import Button, ConversationKey
from bot.ports import BackendRegistry, FamilyRoster, OtpSender

log = logging.getLogger(__name__)

CHANNEL = "sms"

PhoneOf = Callable[[ConversationKey], Awaitable[str | None]]


def sms_phone_lookup(backends: BackendRegistry) -> PhoneOf:
    """The phone on file of the SMS-only guardian a recipient names; ``None`` when the
    school no longer lists them as SMS only (or has no phone for them). A notice texted from
    the office's web page (``bot.notifications.sms_notice_key``) names a pupil too: the phone
    of that guardian of the pupil, SMS only or not; ``None`` when no longer on file."""

    async def phone_of(recipient: ConversationKey) -> str | None:
        backend = backends.for_school(recipient.school_id)
        if recipient.user_id.startswith(OFFICE_SMS):
            student_id = recipient.user_id.removeprefix(OFFICE_SMS)
            for guardian in await backend.guardians(student_id):
                if guardian.id == recipient.chat_id:
                    return guardian.phone or None
            return None
        if not isinstance(backend, FamilyRoster):
            return None
        for guardian, _pupils in await backend.sms_only_guardians():
            if guardian.id == recipient.chat_id:
                return guardian.phone or None
        return None

    return phone_of


class SmsSender:
    """:class:`bot.ports.OutboundSender` for ``sms``: one text to the guardian's phone through
    the school's SMS provider. Never logs the phone or the text."""

    def __init__(
        self, providers: Mapping[str, OtpSender], phone_of: PhoneOf, *, max_segments: int
    ) -> None:
        self._providers = dict(providers)
        self._phone_of = phone_of
        self._max_segments = max_segments

    async def deliver(
        self, recipient: ConversationKey, text: str, buttons: tuple[tuple[Button, ...], ...]
    ) -> None:
        del buttons  # an SMS has none; a digest offers none
        provider = self._providers.get(recipient.school_id)
        if provider is None:
            raise DeliveryFailedPermanently("no SMS provider configured", unreachable=False)
        phone = await self._phone_of(recipient)
        if phone is None:
            raise DeliveryFailedPermanently("no SMS-only guardian with a phone", unreachable=False)
        body = fit_segments(
            text.split("\n"), max_segments=self._max_segments, more=lambda n: f"+{n}"
        )
        try:
            await provider.send(phone=phone, text=body)
        except OtpDeliveryFailed:
            raise DeliveryRetryLater("the SMS gateway did not accept the message") from None
        log.info("SMS sent for school %s", recipient.school_id)
