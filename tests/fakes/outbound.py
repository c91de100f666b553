"""An outbound sender that keeps what the outbox relay delivers, for conversation tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.domain.errors import DeliveryFailedPermanently, DeliveryRetryLater
from bot.messages import Attachment, Button, ConversationKey


@dataclass(frozen=True)
class Delivered:
    recipient: ConversationKey
    text: str
    buttons: tuple[tuple[Button, ...], ...]
    attachment: Attachment | None = None

    def token(self, label: str) -> str:
        for row in self.buttons:
            for button in row:
                if label.lower() in button.label.lower():
                    return button.token
        raise AssertionError(f"no button {label!r} in {self.buttons!r}")


@dataclass
class RecordingSender:
    """``fail_with`` makes every delivery raise it (a blocked user, a 429)."""

    delivered: list[Delivered] = field(default_factory=list)
    fail_with: DeliveryRetryLater | DeliveryFailedPermanently | None = None

    async def deliver(
        self, recipient: ConversationKey, text: str, buttons: tuple[tuple[Button, ...], ...]
    ) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.delivered.append(Delivered(recipient, text, buttons))

    async def deliver_attachment(
        self,
        recipient: ConversationKey,
        attachment: Attachment,
        text: str,
        buttons: tuple[tuple[Button, ...], ...],
    ) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.delivered.append(Delivered(recipient, text, buttons, attachment))

    def to(self, user: str) -> list[Delivered]:
        return [d for d in self.delivered if d.recipient.user_id == user]
