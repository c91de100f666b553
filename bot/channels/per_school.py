"""One outbox sender per school for a channel (each school has its own Zalo bot or OA): the
relay's message goes through the sender of ``recipient.school_id``."""

from __future__ import annotations

from collections.abc import Mapping

from bot.domain.errors import DeliveryFailedPermanently
from bot.messages import Attachment, Button, ConversationKey
from bot.ports import OutboundSender


class PerSchoolSender:
    """:class:`bot.ports.OutboundSender` routing by school, like ``TelegramSender``."""

    def __init__(self, channel: str, senders: Mapping[str, OutboundSender]) -> None:
        self._channel = channel
        self._senders = dict(senders)  # school id -> that school's sender

    @property
    def schools(self) -> tuple[str, ...]:
        return tuple(self._senders)

    def _sender(self, recipient: ConversationKey) -> OutboundSender:
        sender = self._senders.get(recipient.school_id)
        if sender is None:  # the school's bot or OA was removed from the configuration
            raise DeliveryFailedPermanently(
                f"no {self._channel} for this school", unreachable=False
            )
        return sender

    async def deliver(
        self, recipient: ConversationKey, text: str, buttons: tuple[tuple[Button, ...], ...]
    ) -> None:
        await self._sender(recipient).deliver(recipient, text, buttons)

    async def deliver_attachment(
        self,
        recipient: ConversationKey,
        attachment: Attachment,
        text: str,
        buttons: tuple[tuple[Button, ...], ...],
    ) -> None:
        """The school's sender passes the file on if it can; else the text goes alone."""
        sender = self._sender(recipient)
        passes_on = getattr(sender, "deliver_attachment", None)
        if passes_on is None:
            await sender.deliver(recipient, text, buttons)
        else:
            await passes_on(recipient, attachment, text, buttons)
