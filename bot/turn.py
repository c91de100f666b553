"""Everything one turn of a conversation may use, handed to dialogs and handlers.

A ``Turn`` lives only while the router holds the conversation's lock. Dialogs and handlers
read ``turn.text`` / ``turn.action``, change ``turn.state`` and write through ``turn.uow``;
they return ``Reply`` objects and never send anything.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from bot.domain.absence import AbsencePolicy
from bot.domain.calendar import DEFAULT_TIMEZONE
from bot.domain.models import BankAccount, SchoolContact
from bot.domain.otp import OtpPolicy
from bot.domain.quiet_hours import DEFAULT_QUIET_END, DEFAULT_QUIET_START
from bot.domain.threads import ThreadPolicy
from bot.i18n import Catalog
from bot.messages import Button, ChannelCapabilities, ConversationKey, Incoming
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
    UnitOfWorkFactory,
)

Deferred = Callable[[UnitOfWorkFactory], Awaitable[None]]

# A dialog's data key: the dialog is a teacher's (a rejection's reason, a notice), so its
# lines, its reminder and its /huy address the reader "thầy/cô" even when they are also a parent.
AS_TEACHER = "as_teacher"
CONSENT_VERSION = "2026-11"  # bump when the personal-data terms text changes


@dataclass(frozen=True, slots=True, kw_only=True)
class SchoolProfile:
    """What differs between the schools one process serves (``[[schools]]``)."""

    timezone: str
    absence_policy: AbsencePolicy
    quiet_start: dt.time
    quiet_end: dt.time
    school_staff: frozenset[str]
    otp_sender: OtpSender | None = None  # None: the process-wide one
    contact: SchoolContact = field(default_factory=SchoolContact)
    bank: BankAccount | None = None  # None: no transfer details configured
    threads: ThreadPolicy = field(default_factory=ThreadPolicy)  # relayed messages (issue 17)


@dataclass(frozen=True, slots=True, kw_only=True)
class CoreServices:
    """Long-lived collaborators shared by every turn (built once in ``bot.bootstrap``)."""

    clock: Clock
    catalog: Catalog
    backends: BackendRegistry
    otp_sender: OtpSender
    otp_policy: OtpPolicy
    secret: bytes  # per-installation key: OTP HMACs and opaque audit actor ids
    timezone: str = DEFAULT_TIMEZONE
    absence_policy: AbsencePolicy = field(default_factory=AbsencePolicy)
    capabilities: Mapping[str, ChannelCapabilities] = field(default_factory=dict)

    profiles: Mapping[str, SchoolProfile] = field(default_factory=dict)

    def for_school(self, school_id: str) -> CoreServices:
        """These services as seen from one school: its time zone, leave rules, quiet hours,
        OTP provider."""
        profile = self.profiles.get(school_id)
        if profile is None:
            return self
        return dataclasses.replace(
            self,
            timezone=profile.timezone,
            absence_policy=profile.absence_policy,
            quiet_start=profile.quiet_start,
            quiet_end=profile.quiet_end,
            school_staff=profile.school_staff,
            otp_sender=profile.otp_sender or self.otp_sender,
            contact=profile.contact,
            bank=profile.bank,
            threads=profile.threads,
        )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def can_show_buttons(self, channel: str) -> bool:
        caps = self.capabilities.get(channel)
        return caps is not None and caps.buttons

    quiet_start: dt.time = DEFAULT_QUIET_START  # no non-urgent messages from here (local time)
    quiet_end: dt.time = DEFAULT_QUIET_END  # ... until here
    school_staff: frozenset[str] = frozenset()  # staff codes allowed whole-school notices
    contact: SchoolContact = field(default_factory=SchoolContact)  # this school's phone, bots
    bank: BankAccount | None = None  # where parents pay fees (VietQR); None: not configured
    threads: ThreadPolicy = field(default_factory=ThreadPolicy)  # relayed messages (issue 17)
    # the office's web page (…/admin) that /web links to; None: no public address configured
    web_url: str | None = None


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
    deferred: list[Deferred] = field(default_factory=list, repr=False)
    forgotten: bool = False  # /forget ran: keep no conversation row for this user
    # The active dialog did not understand the text: if it is clearly another question or
    # task, the router leaves the dialog and answers that instead (issue 19)
    not_understood: bool = False
    # The reader is a teacher (linked as staff only, or linking as one): addressed "thầy/cô",
    # not "anh/chị" (issue 19). Set by the router at the start of the turn.
    to_teacher: bool = False

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
        data = self.state.data
        teacher = self.to_teacher or data.get("role") == LinkRole.STAFF.value or AS_TEACHER in data
        return self.services.catalog.text(self.locale, key, values, to_teacher=teacher)

    async def note_reader(self) -> None:
        """Whether this reader is a teacher: linking as one, or linked as staff only."""
        if self.state.data.get("role") == LinkRole.STAFF.value:
            self.to_teacher = True
            return
        roles = {link.role for link in await self.links()}
        self.to_teacher = roles == {LinkRole.STAFF}

    def now(self) -> dt.datetime:
        return self.services.clock.now()

    def local_now(self) -> dt.datetime:
        return self.now().astimezone(self.services.tz)

    def today(self) -> dt.date:
        return self.local_now().date()

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

    def after_commit(self, work: Deferred) -> None:
        """Run ``work`` once this turn's transaction is committed, in a transaction of its
        own (e.g. writing an approved absence to the school system: it must not hold the
        turn's locks, and it must only happen if the decision was really stored)."""
        self.deferred.append(work)

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


Buttons = tuple[tuple[Button, ...], ...]


async def with_tokens(
    uow: UnitOfWork, key: ConversationKey, rows: Buttons, *, now: dt.datetime
) -> Buttons:
    """The one way buttons get their tokens: each action stored for the person who will see
    it (``key``), the button carrying only an opaque token (replies and outbox messages)."""
    actions = [b.action for row in rows for b in row]
    tokens = iter(await uow.buttons.issue(key, actions, now=now))
    return tuple(tuple(dataclasses.replace(b, token=next(tokens)) for b in row) for row in rows)
