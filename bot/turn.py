"""Everything one turn of a conversation may use, handed to dialogs and handlers.

A ``Turn`` lives only while the router holds the conversation's lock. Dialogs and handlers
read ``turn.text`` / ``turn.action``, change ``turn.state`` and write through ``turn.uow``;
they return ``Reply`` objects and never send anything.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from bot.domain.otp import OtpPolicy
from bot.i18n import Catalog
from bot.messages import ConversationKey, Incoming
from bot.ports import (
    BackendRegistry,
    Clock,
    ConversationState,
    Link,
    LinkRole,
    ObservableBackend,
    OtpSender,
    SchoolBackend,
    UnitOfWork,
)

CONSENT_VERSION = "2026-11"  # bump when the personal-data terms text changes


@dataclass(frozen=True, slots=True, kw_only=True)
class CoreServices:
    """Long-lived collaborators shared by every turn (built once in ``bot.bootstrap``)."""

    clock: Clock
    catalog: Catalog
    backends: BackendRegistry
    otp_sender: OtpSender
    otp_policy: OtpPolicy
    secret: bytes  # per-installation key: OTP HMACs and opaque audit actor ids
    timezone: str = "Asia/Ho_Chi_Minh"


@dataclass(slots=True, kw_only=True)
class Turn:
    incoming: Incoming
    state: ConversationState
    uow: UnitOfWork
    services: CoreServices
    locale: str
    text: str = ""  # NFC-normalised, trimmed, capped; "" for a button press
    action: str = ""  # the action behind a pressed button or a typed menu number
    # When a cached answer stood in for a live one (the school system was down): the oldest
    # fetch time among them, shown under the reply ("cập nhật lúc 14:05").
    data_as_of: dt.datetime | None = None
    _links: list[Link] | None = field(default=None, repr=False)

    @property
    def key(self) -> ConversationKey:
        return self.incoming.key

    @property
    def backend(self) -> SchoolBackend:
        backend = self.services.backends.for_school(self.key.school_id)
        if isinstance(backend, ObservableBackend):
            return backend.observed(self._note_cached)
        return backend

    def _note_cached(self, fetched_at: dt.datetime) -> None:
        if self.data_as_of is None or fetched_at < self.data_as_of:
            self.data_as_of = fetched_at

    def t(self, key: str, /, **values: object) -> str:
        return self.services.catalog.t(self.locale, key, **values)

    def now(self) -> dt.datetime:
        return self.services.clock.now()

    def today(self) -> dt.date:
        return self.now().astimezone(ZoneInfo(self.services.timezone)).date()

    @property
    def actor(self) -> str:
        """An opaque, stable id for this chat user in the audit log (no personal data)."""
        raw = f"{self.key.school_id}|{self.key.channel}|{self.key.user_id}".encode()
        return hashlib.blake2s(raw, key=self.services.secret[:32], digest_size=12).hexdigest()

    async def links(self) -> Sequence[Link]:
        if self._links is None:
            self._links = list(await self.uow.links.active_links(self.key))
        return self._links

    async def guardian_links(self) -> list[Link]:
        return [link for link in await self.links() if link.role is LinkRole.GUARDIAN]

    def forget_cached_links(self) -> None:
        self._links = None

    async def audit(self, action: str, subject: str = "", **detail: object) -> None:
        await self.uow.audit.record(
            school_id=self.key.school_id,
            actor=self.actor,
            action=action,
            subject=subject,
            detail=dict(detail),
            at=self.now(),
        )
