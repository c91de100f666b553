"""Ports: the protocols the core depends on. Adapters implement them; tests use fakes.

Nothing here imports a framework. ``bot/domain``, ``handlers`` and ``dialogs`` see only
these protocols and the values in ``bot.messages`` and ``bot.domain.models``.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from bot.domain.digest import DigestPrefs, Item
from bot.domain.models import (
    AttendanceRecord,
    FeeItem,
    Guardian,
    SchoolClass,
    SchoolInfo,
    Student,
    SubjectScores,
    Teacher,
    Term,
    TimetableSlot,
)
from bot.domain.polls import Ballot, Poll, PollSpec
from bot.domain.posts import PostKind, TeacherPost
from bot.domain.threads import ThreadRepo
from bot.messages import Attachment, Button, ConversationKey


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class Capability(enum.StrEnum):
    """What a school backend can do; handlers check before asking."""

    STUDENTS = "students"
    SCORES = "scores"
    TIMETABLE = "timetable"
    FEES = "fees"
    ATTENDANCE = "attendance"
    ABSENCE_WRITE = "absence_write"
    STAFF = "staff"
    ROSTER = "roster"  # class lists (class_students): teachers' "who is absent" questions
    CHANGES = "changes"  # changes_since: new scores, absences and fees reach the digests


class SchoolBackend(Protocol):
    """One school's management system (QLHS), read through one adapter.

    Contract (checked by ``tests/contract/test_backend_contract.py`` for every backend):

    - Every method is bound to one school; ids are the backend's own stable strings.
    - Lookups by code are case-insensitive and ignore surrounding spaces.
    - Missing data is an empty list or ``None``, never an exception.
    - Failures of the school system raise ``bot.domain.errors.BackendError`` subclasses.
    """

    @property
    def capabilities(self) -> frozenset[Capability]: ...

    async def school_info(self) -> SchoolInfo: ...

    async def find_student(self, code: str) -> Student | None: ...

    async def get_student(self, student_id: str) -> Student | None: ...

    async def guardians(self, student_id: str) -> Sequence[Guardian]: ...

    async def scores(self, student_id: str, term: Term) -> Sequence[SubjectScores]: ...

    async def timetable(self, class_id: str) -> Sequence[TimetableSlot]: ...

    async def fees(self, student_id: str) -> Sequence[FeeItem]: ...

    async def attendance(self, student_id: str) -> Sequence[AttendanceRecord]: ...

    async def classes(self) -> Sequence[SchoolClass]: ...

    async def teachers(self) -> Sequence[Teacher]: ...

    async def find_teacher(self, code: str) -> Teacher | None: ...

    async def class_students(self, class_id: str) -> Sequence[Student]:
        """The class roster, by name. Backends without ``Capability.ROSTER`` raise
        ``BackendUnsupported``."""
        ...

    async def record_absence(
        self, student_id: str, day: dt.date, session: str, *, excused: bool, reason: str
    ) -> None:
        """Write one absence (``session`` = day|morning|afternoon) to the school system.
        Idempotent: writing the same absence twice leaves one record. Backends without
        ``Capability.ABSENCE_WRITE`` raise ``BackendUnsupported``."""
        ...

    async def changes_since(
        self, watermark: dt.datetime | None, *, now: dt.datetime
    ) -> ChangeBatch:
        """New or changed scores, attendance and fee items recorded after ``watermark``.
        Backends without ``Capability.CHANGES`` raise ``BackendUnsupported``.

        ``None`` means "start from now": no changes, and the watermark to keep is ``now`` (a
        new installation must not flood parents with the whole year). The caller may pass a
        watermark a little in the past (overlap against late commits): each change's ``key``
        names one version of one record, so a change reported twice is recognised.
        """
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One new or changed record in a school system, for change detection."""

    kind: str  # a bot.domain.digest.Content value: scores | attendance | fees
    student_id: str
    key: str  # the same for the same version of the same record, different after a change
    occurred_at: dt.datetime
    payload: dict[str, Any]  # what the digest line needs (see bot.domain.digest.format_item)
    urgent: bool = False  # e.g. an absence recorded without leave (không phép)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeBatch:
    changes: tuple[Change, ...]
    watermark: dt.datetime  # pass this (minus an overlap) to the next call


# Called with the moment a cached answer was fetched, when it stood in for a live one.
StaleNote = Callable[[dt.datetime], None]


@runtime_checkable
class ObservableBackend(Protocol):
    """A backend that may answer from a cache (``bot.backends.cached``). ``observed(note)``
    returns a view for one turn; ``note`` hears the fetch time of every cached answer served
    instead of a live one, so the reply can show its age."""

    def observed(self, note: StaleNote) -> SchoolBackend: ...


@runtime_checkable
class Prefetching(Protocol):
    """A backend that can read many pupils at once. The digest tick calls it before asking
    for each pupil (and its class's timetable) one by one, so those calls are answered from
    the backend's memory instead of one query each (issue 15). Best effort: a pupil it could
    not read is asked for again, one at a time."""

    async def prefetch(self, student_ids: Collection[str], *, timetables: bool) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Family:
    """One pupil and the guardians the school has on file for them (issue 16)."""

    student: Student
    guardians: tuple[Guardian, ...]


@runtime_checkable
class FamilyRoster(Protocol):
    """A backend that can list its families in one go (the ``local`` backend: the school's
    import). The digest finds the guardians marked "SMS only" here, and ``run_bot.py stats``
    counts how each family can be reached. Backends without it have no SMS digest."""

    async def families(self) -> Sequence[Family]:
        """Every pupil with its guardians, by class then name."""
        ...

    async def sms_only_guardians(self) -> Sequence[tuple[Guardian, tuple[str, ...]]]:
        """The guardians marked "SMS only" who have a phone on file, each with the ids of
        their pupils. Cheap: the digest tick asks every minute."""
        ...


class BackendRegistry(Protocol):
    def for_school(self, school_id: str) -> SchoolBackend:
        """The backend of a configured school. Raises ``KeyError`` for an unknown school."""
        ...


class OtpSender(Protocol):
    async def send(self, *, phone: str, text: str) -> None:
        """Deliver ``text`` (which holds the code) to ``phone``.

        Raises ``OtpDeliveryFailed`` when the gateway did not accept it, so the caller
        can tell the user and let them retry without burning an attempt. Must never log
        the phone or the text.
        """
        ...


# --- stored state -------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class ConversationState:
    """What the bot remembers about one conversation between turns (mutable by the turn)."""

    dialog: str | None = None  # active dialog name, e.g. "verify"
    step: str | None = None  # that dialog's state enum value
    data: dict[str, Any] = field(default_factory=dict)  # the dialog's JSON-safe slots
    locale: str | None = None  # language the user chose; None = follow the platform hint
    platform_locale: str | None = None  # the platform hint at the last turn (for pushes)
    menu: dict[str, str] = field(
        default_factory=dict
    )  # "1" -> action, for channels without buttons
    version: int = 0  # optimistic concurrency across processes

    def clear_dialog(self) -> None:
        self.dialog = None
        self.step = None
        self.data = {}


class LinkRole(enum.StrEnum):
    GUARDIAN = "guardian"  # parent linked to one student
    STAFF = "staff"  # teacher linked to their staff record


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    """A verified binding of a chat user to a student (as guardian) or to a teacher."""

    id: int
    key: ConversationKey
    role: LinkRole
    subject_id: str  # student id (guardian) or teacher id (staff)
    person_id: str  # guardian id or teacher id, as the school has them on file
    consent_version: str
    consent_at: dt.datetime
    verified_at: dt.datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class OtpChallenge:
    id: int
    key: ConversationKey
    role: LinkRole
    subject_id: str
    person_id: str
    code_hash: str
    created_at: dt.datetime
    expires_at: dt.datetime
    attempts: int
    sends: int
    last_sent_at: dt.datetime
    locked_until: dt.datetime | None
    consumed_at: dt.datetime | None


class ConversationRepo(Protocol):
    async def load(self, key: ConversationKey) -> ConversationState: ...

    async def save(self, key: ConversationKey, state: ConversationState) -> None:
        """Store the state; raise ``ConcurrentTurn`` if another writer saved first."""
        ...

    async def delete(self, key: ConversationKey) -> None: ...

    async def locales(self, keys: Sequence[ConversationKey]) -> dict[ConversationKey, str | None]:
        """The language each of these chats chose (``/ngonngu``); chats never saved are
        left out. One query for many chats (a digest tick asks for thousands)."""
        ...


class LinkRepo(Protocol):
    async def active_links(self, key: ConversationKey) -> Sequence[Link]:
        """Links of this chat user at this school (across channels is not merged)."""
        ...

    async def add(
        self,
        *,
        key: ConversationKey,
        role: LinkRole,
        subject_id: str,
        person_id: str,
        consent_version: str,
        consent_at: dt.datetime,
        verified_at: dt.datetime,
    ) -> Link:
        """Create or re-activate the link (idempotent per key, role and subject)."""
        ...

    async def delete_all(self, key: ConversationKey) -> int: ...

    async def for_subject(
        self, *, school_id: str, role: LinkRole, subject_id: str
    ) -> Sequence[Link]:
        """Every active link to one student or teacher (e.g. all chats of a homeroom teacher)."""
        ...


class OtpRepo(Protocol):
    async def latest(self, key: ConversationKey) -> OtpChallenge | None:
        """The newest unconsumed challenge of this conversation, if any."""
        ...

    async def create(
        self,
        *,
        key: ConversationKey,
        role: LinkRole,
        subject_id: str,
        person_id: str,
        code_hash: str,
        now: dt.datetime,
        expires_at: dt.datetime,
    ) -> OtpChallenge: ...

    async def record_resend(
        self, challenge_id: int, *, code_hash: str, now: dt.datetime, expires_at: dt.datetime
    ) -> None: ...

    async def record_failure(
        self, challenge_id: int, *, locked_until: dt.datetime | None
    ) -> None: ...

    async def consume(self, challenge_id: int, *, now: dt.datetime) -> None: ...

    async def sends_since(self, *, school_id: str, person_id: str, since: dt.datetime) -> int:
        """How many codes went to this person's phone since ``since`` (any chat)."""
        ...

    async def delete_for(self, key: ConversationKey) -> None: ...


class ButtonRepo(Protocol):
    async def issue(
        self, key: ConversationKey, actions: Sequence[str], *, now: dt.datetime
    ) -> list[str]:
        """Store each action and return one short opaque token per action."""
        ...

    async def resolve(self, token: str) -> tuple[ConversationKey, str, dt.datetime] | None:
        """The key the token was issued to, its action and when; None if unknown."""
        ...

    async def delete_for(self, key: ConversationKey) -> None: ...


class AuditRepo(Protocol):
    async def record(
        self,
        *,
        school_id: str,
        actor: str,
        action: str,
        subject: str = "",
        detail: dict[str, Any] | None = None,
        at: dt.datetime,
    ) -> None:
        """Append one audit event. ``actor``/``subject`` are opaque ids, never personal data."""
        ...

    async def count(
        self,
        *,
        school_id: str,
        action: str,
        since: dt.datetime,
        actor: str | None = None,
        subject: str | None = None,
    ) -> int:
        """Events of ``action`` since ``since``, of one actor and/or about one subject (None:
        any). The OTP guard counts sends, wrong codes and look-ups with it (durable, so a
        restart or another worker does not reset a limit)."""
        ...

    async def distinct_subjects(
        self, *, school_id: str, actor: str, action: str, since: dt.datetime
    ) -> set[str]: ...

    async def last_at(
        self, *, school_id: str, action: str, subject: str, actor: str | None = None
    ) -> dt.datetime | None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class OutgoingMessage:
    """A message to someone other than the person who just wrote (a teacher, a parent after
    a decision, a digest). Buttons already carry tokens issued to the recipient."""

    recipient: ConversationKey
    kind: str  # "absence.request", "absence.decision", "digest", "notice", ...
    text: str
    dedupe_key: str  # unique: the same message can never be queued twice
    buttons: tuple[tuple[Button, ...], ...] = ()
    urgent: bool = False  # may go out in quiet hours
    not_before: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    locale: str = "vi"  # the recipient's language (for the relay's own words, if any)
    attachment: Attachment | None = None  # a photo/document relayed by reference (issue 17)


class OutboxRepo(Protocol):
    async def enqueue(self, message: OutgoingMessage, *, now: dt.datetime) -> bool:
        """Queue ``message`` in this transaction; False if its dedupe key is already queued."""
        ...

    async def enqueue_many(self, messages: Sequence[OutgoingMessage], *, now: dt.datetime) -> None:
        """Queue each message as :meth:`enqueue` would (a dedupe key already queued is
        skipped), in a few statements."""
        ...


class OutboundSender(Protocol):
    """How the outbox relay reaches one channel (Telegram, Zalo, the console...)."""

    async def deliver(
        self, recipient: ConversationKey, text: str, buttons: tuple[tuple[Button, ...], ...]
    ) -> None:
        """Send now. Raise ``DeliveryRetryLater`` (rate limit, 5xx, network) or
        ``DeliveryFailedPermanently`` (blocked by the user, chat gone)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class AbsenceRequest:
    id: int
    school_id: str
    student_id: str
    class_id: str
    requester: ConversationKey
    guardian_id: str
    start_date: dt.date
    end_date: dt.date
    session: str  # day | morning | afternoon
    reason: str
    status: str  # bot.domain.absence.AbsenceStatus values
    decided_by: str | None
    decided_at: dt.datetime | None
    decision_reason: str
    written_at: dt.datetime | None
    write_attempts: int
    reminded_at: dt.datetime | None
    created_at: dt.datetime
    version: int
    escalated_at: dt.datetime | None = None
    write_error: str = ""
    # a medical certificate and the like (issue 17): the platform's references, at most
    # MAX_LEAVE_ATTACHMENTS; a file_id is never logged (Attachment hides it from repr)
    attachments: tuple[Attachment, ...] = ()


class AbsenceRepo(Protocol):
    async def create(
        self,
        *,
        school_id: str,
        student_id: str,
        class_id: str,
        requester: ConversationKey,
        guardian_id: str,
        start_date: dt.date,
        end_date: dt.date,
        session: str,
        reason: str,
        now: dt.datetime,
        attachments: Sequence[Attachment] = (),
    ) -> AbsenceRequest: ...

    async def get(self, school_id: str, request_id: int) -> AbsenceRequest | None: ...

    async def live_for_student(self, school_id: str, student_id: str) -> Sequence[AbsenceRequest]:
        """Pending and approved requests of one student (for overlap checks)."""
        ...

    async def pending_for_classes(
        self, school_id: str, class_ids: Sequence[str]
    ) -> Sequence[AbsenceRequest]: ...

    async def pending_for_requester(self, key: ConversationKey) -> Sequence[AbsenceRequest]: ...

    async def transition(
        self,
        request: AbsenceRequest,
        status: str,
        *,
        now: dt.datetime,
        decided_by: str | None = None,
        reason: str = "",
    ) -> bool:
        """Move ``request`` from its current status to ``status`` if nobody changed it since
        it was read (compare-and-set on its version). False means someone else won."""
        ...

    async def record_write(
        self,
        request_id: int,
        *,
        now: dt.datetime,
        error: str = "",
        retry_at: dt.datetime | None = None,
    ) -> None:
        """After trying to record the absence in the school system: success (no error) or
        the error and when to retry."""
        ...

    async def due_writes(self, school_id: str, now: dt.datetime) -> Sequence[AbsenceRequest]: ...

    async def stale_pending(
        self, school_id: str, created_before: dt.datetime
    ) -> Sequence[AbsenceRequest]:
        """Pending requests older than ``created_before`` not yet reminded about."""
        ...

    async def mark_reminded(self, request_id: int, *, now: dt.datetime) -> None: ...

    async def pending_started_by(self, school_id: str, day: dt.date) -> Sequence[AbsenceRequest]:
        """Pending requests whose first day is ``day`` or earlier (deadline candidates)."""
        ...

    async def mark_escalated(self, request_id: int, *, now: dt.datetime) -> None: ...

    async def covering(
        self, school_id: str, class_ids: Sequence[str], day: dt.date
    ) -> Sequence[AbsenceRequest]:
        """Pending and approved requests of these classes that include ``day``."""
        ...

    async def schools_with_work(self) -> Sequence[str]:
        """Schools with pending requests or approved ones not yet written to the backend."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Substitute:
    id: int
    school_id: str
    class_id: str
    teacher_id: str
    start_date: dt.date
    end_date: dt.date


class SubstituteRepo(Protocol):
    """Substitute homeroom teachers over dates the school sets (kept by LienLac: school
    systems rarely hold them)."""

    async def add(
        self,
        *,
        school_id: str,
        class_id: str,
        teacher_id: str,
        start_date: dt.date,
        end_date: dt.date,
        now: dt.datetime,
    ) -> Substitute: ...

    async def on(self, school_id: str, day: dt.date) -> Sequence[Substitute]:
        """Substitutions in force on ``day``."""
        ...

    async def all(self, school_id: str) -> Sequence[Substitute]: ...

    async def remove(self, school_id: str, substitute_id: int) -> bool: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredItem:
    """A notification item waiting for one parent's next digest."""

    id: int
    school_id: str
    student_id: str
    item: Item


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestStart:
    """One parent's digest for one period, as :meth:`NotificationRepo.start_digests` claims it."""

    key: str
    school_id: str
    period: str
    item_count: int
    queued: bool


class NotificationRepo(Protocol):
    """Digest preferences, change watermarks, notices and notification items (issue 5)."""

    async def prefs(self, school_id: str, channel: str, user_id: str) -> DigestPrefs | None:
        """This parent's stored choices; ``None`` = never changed (use the defaults)."""
        ...

    async def save_prefs(
        self, key: ConversationKey, prefs: DigestPrefs, *, now: dt.datetime
    ) -> None: ...

    async def all_prefs(self, school_ids: Sequence[str]) -> dict[tuple[str, str, str], DigestPrefs]:
        """Every stored preference, by (school, channel, user)."""
        ...

    async def guardian_links(self, school_ids: Sequence[str]) -> Sequence[Link]:
        """Every active guardian link at these schools."""
        ...

    async def watermark(self, school_id: str) -> dt.datetime | None: ...

    async def set_watermark(
        self, school_id: str, watermark: dt.datetime, *, now: dt.datetime
    ) -> None:
        """Move the watermark forward (never back)."""
        ...

    async def add_item(
        self,
        *,
        recipient: ConversationKey,
        student_id: str,
        kind: str,
        change_key: str,
        payload: dict[str, Any],
        urgent: bool,
        occurred_at: dt.datetime,
        now: dt.datetime,
    ) -> int | None:
        """Create the item in this transaction; ``None`` if this recipient already has an
        item with this ``change_key`` (a change becomes an item once per parent)."""
        ...

    async def pending_items(
        self, *, channel: str, user_id: str, school_ids: Sequence[str]
    ) -> Sequence[StoredItem]:
        """Items of this chat user not yet sent or put in a digest, oldest first."""
        ...

    async def pending_items_of(
        self, users: Sequence[tuple[str, str]], *, school_ids: Sequence[str]
    ) -> dict[tuple[str, str], list[StoredItem]]:
        """:meth:`pending_items` of many (channel, user) at once; users with none are left out."""
        ...

    async def mark_items(self, item_ids: Sequence[int], *, digest_key: str) -> int:
        """Record where the items went (a digest or an alert); only items still pending."""
        ...

    async def mark_digest_items(self, marks: Mapping[str, Sequence[int]]) -> None:
        """:meth:`mark_items` for many digests at once: digest key -> its items."""
        ...

    async def start_digest(
        self,
        *,
        key: str,
        school_id: str,
        period: str,
        item_count: int,
        queued: bool,
        now: dt.datetime,
    ) -> bool:
        """Claim one parent's digest for one period in this transaction; False if it was
        already made (by an earlier tick or another worker)."""
        ...

    async def start_digests(self, runs: Sequence[DigestStart], *, now: dt.datetime) -> set[str]:
        """:meth:`start_digest` for many parents at once; returns the keys claimed here."""
        ...

    async def digests_made(self, keys: Sequence[str]) -> set[str]:
        """Which of these digest keys were already made."""
        ...

    async def delete_for(self, key: ConversationKey) -> None:
        """``/forget``: this chat user's preferences and undelivered items."""
        ...

    async def add_notice(
        self,
        *,
        school_id: str,
        class_id: str | None,
        author: str,
        text: str,
        urgent: bool,
        now: dt.datetime,
    ) -> int: ...


class EventRepo(Protocol):
    """Platform events already handled. The router asks ``seen`` before the turn (a read)
    and calls ``record`` just before its commit: no write lock is held while the turn waits
    on the network (SQLite has one writer)."""

    async def seen(self, *, school_id: str, channel: str, event_id: str) -> bool: ...

    async def record(
        self, *, school_id: str, channel: str, event_id: str, now: dt.datetime
    ) -> bool:
        """False if another worker recorded it meanwhile: the turn must not commit."""
        ...


class PrivacyRepo(Protocol):
    """Erasure (Decree 13/2023 Art. 16): see ``storage/privacy.py`` for what goes."""

    async def users_of_student(self, school_id: str, student_id: str) -> list[ConversationKey]: ...

    async def forget_user(self, key: ConversationKey, *, now: dt.datetime) -> Any: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class WebSignInGrant:
    """What a redeemed sign-in link to the office's web page stood for (issue 18)."""

    school_id: str
    teacher_id: str


class WebSignInRepo(Protocol):
    """Single-use sign-in links to the office's web page: only a hash of each token is kept."""

    async def issue(
        self,
        *,
        token_hash: str,
        key: ConversationKey,
        teacher_id: str,
        expires_at: dt.datetime,
        now: dt.datetime,
    ) -> None: ...

    async def redeem(self, token_hash: str, *, now: dt.datetime) -> WebSignInGrant | None:
        """Mark the link used and return what it grants; None when unknown, used or expired
        (a second redeem of the same token always gets None, even from another worker)."""
        ...


class UnitOfWork(Protocol):
    """One transaction. Leaving the context without ``commit()`` rolls back."""

    conversations: ConversationRepo
    links: LinkRepo
    otps: OtpRepo
    buttons: ButtonRepo
    audit: AuditRepo
    outbox: OutboxRepo
    absences: AbsenceRepo
    substitutes: SubstituteRepo
    notifications: NotificationRepo
    privacy: PrivacyRepo
    events: EventRepo
    polls: PollRepo
    posts: PostRepo
    threads: ThreadRepo  # relayed parent–teacher messages (bot.domain.threads)
    web_sign_ins: WebSignInRepo

    async def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> AbstractAsyncContextManager[UnitOfWork]: ...


class PollRepo(Protocol):
    """Class polls and their ballots, one per pupil (issue 17, ``bot.domain.polls``)."""

    async def create(
        self,
        *,
        school_id: str,
        class_id: str,
        class_name: str,
        author_id: str,
        spec: PollSpec,
        remind_at: dt.datetime,
        pupils: Sequence[tuple[str, str, str]],
        now: dt.datetime,
    ) -> Poll:
        """Store a poll and an empty ballot per pupil ``(student_id, name, class name)``."""
        ...

    async def get(self, school_id: str, poll_id: int) -> Poll | None: ...

    async def ballot(self, school_id: str, ballot_id: int) -> Ballot | None: ...

    async def ballots(self, school_id: str, poll_id: int) -> Sequence[Ballot]: ...

    async def answer(
        self, ballot_id: int, choices: Sequence[int], *, by: str, now: dt.datetime
    ) -> None:
        """Set the ballot's choices (the caller checked the guardian, the poll and options)."""
        ...

    async def recent(
        self, school_id: str, *, author_id: str | None, class_ids: Sequence[str] | None, limit: int
    ) -> Sequence[Poll]:
        """The newest polls by ``author_id`` or to one of ``class_ids`` (both None: any)."""
        ...

    async def open_ballots(
        self, school_id: str, student_ids: Sequence[str], now: dt.datetime
    ) -> Sequence[tuple[Poll, Ballot]]:
        """The ballots of these pupils in polls still open at ``now``."""
        ...

    async def due_reminders(self, now: dt.datetime) -> Sequence[Poll]:
        """Open polls whose reminder time has come and that were not reminded yet."""
        ...

    async def mark_reminded(self, poll_id: int, *, now: dt.datetime) -> bool:
        """Set ``reminded_at`` if still empty; False when another worker did it first."""
        ...

    async def due_closings(self, now: dt.datetime, *, since: dt.datetime) -> Sequence[Poll]:
        """Polls closed between ``since`` and ``now`` whose author was not told yet."""
        ...

    async def mark_closed_told(self, poll_id: int, *, now: dt.datetime) -> bool:
        """Set ``closed_told_at`` if still empty; False when another worker did it first."""
        ...

    async def close(self, poll_id: int, *, now: dt.datetime) -> bool:
        """Close an open poll now; False if it was closed, cancelled or past its deadline."""
        ...

    async def extend(
        self,
        poll_id: int,
        *,
        deadline_at: dt.datetime,
        remind_at: dt.datetime | None,
        was: dt.datetime,
        now: dt.datetime,
    ) -> bool:
        """Move an open poll's deadline from ``was`` to ``deadline_at``; ``remind_at`` (not
        None) re-arms the one reminder. False if no longer open or moved meanwhile."""
        ...

    async def cancel(self, poll_id: int, *, now: dt.datetime) -> bool:
        """Mark the poll cancelled (ballots kept); False if it was cancelled already."""
        ...

    async def edit(
        self, poll_id: int, *, question: str, options: Sequence[str], now: dt.datetime
    ) -> bool:
        """Fix the question or option labels of an open poll nobody has answered; False
        otherwise (an answer came first, or the poll is no longer open)."""
        ...


class PostRepo(Protocol):
    """Teachers' remarks and homework (issue 17, ``bot.domain.posts``)."""

    async def add(
        self,
        *,
        school_id: str,
        kind: PostKind,
        class_id: str,
        student_id: str | None,
        author_id: str,
        text: str,
        now: dt.datetime,
    ) -> int: ...

    async def since(
        self,
        school_id: str,
        *,
        kind: PostKind,
        class_ids: Sequence[str],
        student_ids: Sequence[str] | None,
        since: dt.datetime,
    ) -> Sequence[TeacherPost]:
        """Posts of ``kind`` to these classes (remarks: on these pupils) since ``since``."""
        ...
