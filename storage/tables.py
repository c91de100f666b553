"""SQL tables (SQLAlchemy 2, ``Mapped[...]``). Every school-owned row carries ``school_id``.

Two groups:

- bot state: ``school``, ``conversation_state``, ``chat_link``, ``otp_challenge``,
  ``button_token``, ``audit_event``, ``app_secret``;
- the ``local`` backend's mirror of a school system: ``school_class``, ``student``,
  ``guardian``, ``student_guardian``, ``teacher``, ``teacher_assignment``, ``subject``,
  ``score``, ``timetable_slot``, ``fee_item``, ``attendance``.

Scores are stored as integer tenths (6.8 -> 68): exact on every database, no float and no
SQLite Decimal warning. Every schema change ships as an Alembic migration in
``storage/migrations/versions`` and ``tests/integration/test_migrations.py`` checks that the
migrations and these models agree, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from bot.domain.calendar import DEFAULT_TIMEZONE

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC on every database. SQLite keeps no offset, so naive values read
    back are UTC by construction; naive values written are refused (a bug upstream)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime written to the database; use aware UTC values")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, dt.datetime: UtcDateTime()}  # noqa: RUF012


# --- bot state ----------------------------------------------------------------------


class School(Base):
    __tablename__ = "school"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_TIMEZONE)
    backend: Mapped[str] = mapped_column(String(40), default="local")
    school_year: Mapped[str] = mapped_column(String(20), default="")
    current_term: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime]


class ConversationStateRow(Base):
    __tablename__ = "conversation_state"
    school_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    dialog: Mapped[str | None] = mapped_column(String(40))
    step: Mapped[str | None] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    locale: Mapped[str | None] = mapped_column(String(8))
    # the platform's language (Telegram language_code) at the last turn: for messages pushed
    # to this user (a decision, a reminder) while they have not chosen a language
    platform_locale: Mapped[str | None] = mapped_column(String(8))
    menu: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime]


class ChatLink(Base):
    """A verified chat user: a guardian of one student, or a teacher (role ``staff``)."""

    __tablename__ = "chat_link"
    __table_args__ = (
        UniqueConstraint("school_id", "channel", "user_id", "role", "subject_id"),
        Index("ix_chat_link_lookup", "school_id", "channel", "user_id", "active"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    school_id: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(10))
    subject_id: Mapped[str] = mapped_column(String(64))  # student id or teacher id
    person_id: Mapped[str] = mapped_column(String(64))  # guardian id or teacher id
    consent_version: Mapped[str] = mapped_column(String(20))
    consent_at: Mapped[dt.datetime]
    verified_at: Mapped[dt.datetime]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    unreachable_at: Mapped[dt.datetime | None]


class OtpChallengeRow(Base):
    __tablename__ = "otp_challenge"
    __table_args__ = (
        Index("ix_otp_challenge_key", "school_id", "channel", "chat_id", "user_id"),
        Index("ix_otp_challenge_person", "school_id", "person_id", "last_sent_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    school_id: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(10))
    subject_id: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[str] = mapped_column(String(64))
    code_hash: Mapped[str] = mapped_column(String(128))  # HMAC-SHA256; the code is never stored
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sends: Mapped[int] = mapped_column(Integer, default=1)
    last_sent_at: Mapped[dt.datetime]
    locked_until: Mapped[dt.datetime | None]
    consumed_at: Mapped[dt.datetime | None]


class ButtonToken(Base):
    """Opaque token behind a button; maps back to the action and to whom it was shown."""

    __tablename__ = "button_token"
    __table_args__ = (Index("ix_button_token_created_at", "created_at"),)
    token: Mapped[str] = mapped_column(String(24), primary_key=True)
    school_id: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime]


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_actor", "school_id", "actor", "action", "at"),
        Index("ix_audit_event_subject", "school_id", "action", "subject", "at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    school_id: Mapped[str] = mapped_column(String(40))
    at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(64))  # opaque: a hash of the chat user, or "cli"
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AppSecret(Base):
    """Per-installation secrets shared by every worker (e.g. the OTP HMAC key)."""

    __tablename__ = "app_secret"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


# --- the local backend's mirror of a school system -------------------------------------


def _school_fk(*cols: str, table: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["school_id", *cols],
        [f"{table}.school_id", *(f"{table}.id" for _ in cols)],
        ondelete="CASCADE",
    )


class SchoolClassRow(Base):
    __tablename__ = "school_class"
    school_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    grade: Mapped[int] = mapped_column(Integer)
    homeroom_teacher_id: Mapped[str | None] = mapped_column(String(64))


class StudentRow(Base):
    __tablename__ = "student"
    __table_args__ = (
        UniqueConstraint("school_id", "code_folded"),
        _school_fk("class_id", table="school_class"),
    )
    school_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
    code_folded: Mapped[str] = mapped_column(String(32))  # upper-case, trimmed: the lookup key
    full_name: Mapped[str] = mapped_column(String(120))
    class_id: Mapped[str] = mapped_column(String(64))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)


class GuardianRow(Base):
    __tablename__ = "guardian"
    school_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str] = mapped_column(String(20))
    relation: Mapped[str] = mapped_column(String(20), default="")
    # no smartphone: the digest goes by SMS to ``phone`` (issue 16)
    sms_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class StudentGuardianRow(Base):
    __tablename__ = "student_guardian"
    __table_args__ = (
        _school_fk("student_id", table="student"),
        _school_fk("guardian_id", table="guardian"),
    )
    school_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    student_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    guardian_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class TeacherRow(Base):
    __tablename__ = "teacher"
    __table_args__ = (UniqueConstraint("school_id", "code_folded"),)
    school_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
    code_folded: Mapped[str] = mapped_column(String(32))
    full_name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str] = mapped_column(String(20))


class TeacherAssignmentRow(Base):
    __tablename__ = "teacher_assignment"
    __table_args__ = (
        _school_fk("teacher_id", table="teacher"),
        _school_fk("class_id", table="school_class"),
    )
    school_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    teacher_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    class_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(10), primary_key=True)  # homeroom | subject
    subject_code: Mapped[str] = mapped_column(String(40), primary_key=True, default="")


class SubjectRow(Base):
    __tablename__ = "subject"
    school_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    form: Mapped[str] = mapped_column(String(10))  # scored | comment
    position: Mapped[int] = mapped_column(Integer, default=0)


class ScoreRow(Base):
    """One assessment: a regular (tx, seq 1..n), mid-term (gk), final (ck) or comment score."""

    __tablename__ = "score"
    __table_args__ = (
        _school_fk("student_id", table="student"),
        Index("ix_score_updated", "school_id", "updated_at"),
    )
    school_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    student_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    term: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # tx | gk | ck | cmt
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    tenths: Mapped[int | None] = mapped_column(Integer)  # 68 = 6.8; None for comment scores
    passed: Mapped[bool | None] = mapped_column(Boolean)  # comment scores: Đạt / Chưa đạt
    required_regular: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime]


class TimetableSlotRow(Base):
    __tablename__ = "timetable_slot"
    __table_args__ = (_school_fk("class_id", table="school_class"),)
    school_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    class_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    weekday: Mapped[int] = mapped_column(Integer, primary_key=True)
    session: Mapped[str] = mapped_column(String(10), primary_key=True)
    period: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_name: Mapped[str] = mapped_column(String(120))
    teacher_name: Mapped[str] = mapped_column(String(120), default="")
    room: Mapped[str] = mapped_column(String(20), default="")


class FeeItemRow(Base):
    __tablename__ = "fee_item"
    __table_args__ = (_school_fk("student_id", table="student"),)
    school_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    student_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    amount: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[dt.date | None] = mapped_column(Date)
    mandatory: Mapped[bool] = mapped_column(Boolean)
    paid_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime | None]  # change detection (issue 5); None = before 0005


class AttendanceRow(Base):
    __tablename__ = "attendance"
    __table_args__ = (_school_fk("student_id", table="student"),)
    school_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    student_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    session: Mapped[str] = mapped_column(String(10), primary_key=True)  # morning|afternoon|day
    excused: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[dt.datetime]


# --- workflows: absence requests and the outbox -----------------------------------------


class AbsenceRequestRow(Base):
    """A parent's leave request (xin nghỉ học) and its whole life: decision, backend write,
    reminder and escalation. ``version`` guards against two deciders at once."""

    __tablename__ = "absence_request"
    __table_args__ = (
        Index("ix_absence_request_student", "school_id", "student_id", "start_date"),
        Index("ix_absence_request_status", "school_id", "status", "created_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    school_id: Mapped[str] = mapped_column(String(40))
    student_id: Mapped[str] = mapped_column(String(64))
    class_id: Mapped[str] = mapped_column(String(64))
    requester_channel: Mapped[str] = mapped_column(String(20))
    requester_chat_id: Mapped[str] = mapped_column(String(64))
    requester_user_id: Mapped[str] = mapped_column(String(64))
    guardian_id: Mapped[str] = mapped_column(String(64))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    session: Mapped[str] = mapped_column(String(10))  # day | morning | afternoon
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))  # pending|approved|rejected|cancelled|expired
    decided_by: Mapped[str | None] = mapped_column(String(64))  # teacher id
    decided_at: Mapped[dt.datetime | None]
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    written_at: Mapped[dt.datetime | None]  # recorded in the school system
    write_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_write_at: Mapped[dt.datetime | None]
    write_error: Mapped[str] = mapped_column(String(200), default="")
    reminded_at: Mapped[dt.datetime | None]
    escalated_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    version: Mapped[int] = mapped_column(Integer, default=0)
    # The medical certificate and the like (issue 17): a JSON list of the platform's file
    # references (kind, file_id, name, mime, size); "" = none. Dropped by /forget and, once
    # the request is decided, after the school's message retention.
    attachments: Mapped[str] = mapped_column(Text, default="", server_default="")


class HomeroomSubstitute(Base):
    """A teacher standing in for a class's homeroom teacher over dates the school sets: they
    receive and decide that class's leave requests meanwhile."""

    __tablename__ = "homeroom_substitute"
    __table_args__ = (
        Index("ix_homeroom_substitute_school", "school_id", "class_id", "start_date"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    school_id: Mapped[str] = mapped_column(String(40))
    class_id: Mapped[str] = mapped_column(String(64))
    teacher_id: Mapped[str] = mapped_column(String(64))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime]


class OutboxMessage(Base):
    """One message to someone other than the person who just wrote, written in the same
    transaction as the change that caused it, and delivered by the relay: once, except that a
    row in flight when its worker died may go out a second time, labelled (``bot.outbox``)."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        UniqueConstraint("dedupe_key"),
        Index("ix_outbox_message_due", "status", "next_attempt_at"),
        Index("ix_outbox_message_school", "school_id", "status"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    school_id: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(40))  # absence.request, absence.decision, digest...
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"text", "buttons": [[{label, token}]]}
    dedupe_key: Mapped[str] = mapped_column(String(200))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)  # may be sent in quiet hours
    status: Mapped[str] = mapped_column(
        String(10), default="pending"
    )  # pending|sent|failed|expired
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime]
    lease_until: Mapped[dt.datetime | None]
    leased_by: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime | None]
    last_error: Mapped[str] = mapped_column(String(200), default="")
    # Set (and committed) just before the platform call, cleared with the outcome. A row
    # still marked once its lease lapsed was in flight when its worker died: in doubt.
    sending_at: Mapped[dt.datetime | None]
    # Was in doubt once: its next delivery is labelled as a possible repeat; kept for stats.
    in_doubt: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


# --- outbox relay: one sender per bot across workers ------------------------------------


class SenderLease(Base):
    """Which relay worker currently sends for one bot (a channel at a school), so the bot's
    rate limits hold across processes; and until when the platform told the bot to pause
    (HTTP 429 ``retry_after``). Taken and renewed with conditional UPDATEs; a lapsed lease
    is free for another worker."""

    __tablename__ = "sender_lease"
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    school_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    leased_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[dt.datetime | None]
    paused_until: Mapped[dt.datetime | None]


# The relay claims due rows one bot at a time.
Index(
    "ix_outbox_message_bot_due",
    OutboxMessage.channel,
    OutboxMessage.school_id,
    OutboxMessage.status,
    OutboxMessage.next_attempt_at,
)


# --- digests and notifications (issue 5) ----------------------------------------------

Index("ix_attendance_recorded", AttendanceRow.school_id, AttendanceRow.recorded_at)
Index("ix_fee_item_updated", FeeItemRow.school_id, FeeItemRow.updated_at)


class NotificationPref(Base):
    """One parent's digest preferences: per chat user at a school (all their children).
    No row means the defaults (``bot.domain.digest.DigestPrefs()``)."""

    __tablename__ = "notification_pref"
    school_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    frequency: Mapped[str] = mapped_column(String(10))  # daily | weekly | off
    weekday: Mapped[int] = mapped_column(Integer)  # weekly: 0 = Monday
    minute_of_day: Mapped[int] = mapped_column(Integer)  # local time: 19:00 = 1140
    content: Mapped[str] = mapped_column(String(100))  # "scores,attendance,fees,..."
    instant: Mapped[bool] = mapped_column(Boolean)  # urgent items at once
    # every new score at once (issue 20), outside quiet hours
    score_alerts: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # teachers' remarks and homework at once (issue 17), outside quiet hours
    post_alerts: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    locale: Mapped[str | None] = mapped_column(String(8))
    updated_at: Mapped[dt.datetime]


class ChangeWatermark(Base):
    """How far change detection has read a school's system (``SchoolBackend.changes_since``)."""

    __tablename__ = "change_watermark"
    school_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    watermark: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class Notice(Base):
    """A notice from a teacher (to one of their classes) or school staff (whole school)."""

    __tablename__ = "notice"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    school_id: Mapped[str] = mapped_column(String(40))
    class_id: Mapped[str | None] = mapped_column(String(64))  # None = the whole school
    author: Mapped[str] = mapped_column(String(64))  # teacher id, or "cli"
    text: Mapped[str] = mapped_column(Text)
    urgent: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime]


class NotificationItem(Base):
    """One thing one parent should hear about (a new score, an absence, a fee, a notice),
    created once per recipient and change (unique), then sent at once (urgent) or taken
    into exactly one digest: ``digest_key`` is that digest's outbox dedupe key."""

    __tablename__ = "notification_item"
    __table_args__ = (
        UniqueConstraint("school_id", "channel", "user_id", "change_key"),
        Index("ix_notification_item_pending", "channel", "user_id", "digest_key"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    school_id: Mapped[str] = mapped_column(String(40))  # the student's and the link's school
    channel: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    student_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))  # scores | attendance | fees | notices
    change_key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    occurred_at: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime]
    digest_key: Mapped[str | None] = mapped_column(String(200))  # None = not yet delivered


class DigestRun(Base):
    """One parent's digest for one period was made (sent or, with nothing to say, not):
    ``key`` is the outbox dedupe key ``digest:{school}:{period}:{channel}:{user}``. Inserted in
    the same transaction as the outbox row, so two schedulers can never both make it."""

    __tablename__ = "digest_run"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    school_id: Mapped[str] = mapped_column(String(40))
    period: Mapped[str] = mapped_column(String(20))
    item_count: Mapped[int] = mapped_column(Integer)
    queued: Mapped[bool] = mapped_column(Boolean)  # False: nothing to say, no message
    created_at: Mapped[dt.datetime]


# --- Zalo Official Account: OAuth tokens ----------------------------------------------


class OaToken(Base):
    """The OA's current OAuth pair (one OA per school). The refresh token is single-use and
    rotates at every refresh, so the new pair is stored before it is used, and a refresh is
    taken with a conditional UPDATE (``refresh_lease_until``) so that two workers never spend
    the same refresh token. ``refresh_failures``/``last_error``/``last_failed_at`` are the
    operator's stats entry. ``seed_hash`` identifies the configured first refresh token: a new
    one (after the admin consents again) replaces the stored pair."""

    __tablename__ = "oa_token"
    school_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(64))
    access_token: Mapped[str] = mapped_column(Text, default="")
    refresh_token: Mapped[str] = mapped_column(Text, default="")
    expires_at: Mapped[dt.datetime | None]
    refreshed_at: Mapped[dt.datetime | None]
    seed_hash: Mapped[str] = mapped_column(String(64), default="")
    version: Mapped[int] = mapped_column(Integer, default=0)
    refresh_by: Mapped[str | None] = mapped_column(String(64))
    refresh_lease_until: Mapped[dt.datetime | None]
    refresh_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(200), default="")
    last_failed_at: Mapped[dt.datetime | None]


class SeenEvent(Base):
    """Platform events already handled (Telegram update ids, Zalo message ids), written in
    the turn's transaction: a redelivery, even after a restart, runs once. Pruned after
    ``storage.uow.SEEN_EVENT_DAYS``."""

    __tablename__ = "seen_event"
    __table_args__ = (Index("ix_seen_event_at", "seen_at"),)
    school_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    seen_at: Mapped[dt.datetime]


class InboxEvent(Base):
    """A webhook event stored before the platform got its 200 (``bot.inbox``): deleted once its
    turn ran. ``hook`` is ``platform/school``; ``lane`` one chat's user, whose rows run in
    ``id`` order."""

    __tablename__ = "inbox_event"
    __table_args__ = (
        UniqueConstraint("hook", "event_id"),
        Index("ix_inbox_event_lane", "hook", "lane", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hook: Mapped[str] = mapped_column(String(80))
    lane: Mapped[str] = mapped_column(String(128))
    event_id: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[dt.datetime]


class InboxLease(Base):
    """Which process runs one lane's turns now (``bot.inbox``); a lapsed lease is free."""

    __tablename__ = "inbox_lease"
    hook: Mapped[str] = mapped_column(String(80), primary_key=True)
    lane: Mapped[str] = mapped_column(String(128), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    until: Mapped[dt.datetime]


class MediaFile(Base):
    """An image a platform fetches by URL (Zalo Bot ``sendPhoto`` takes a URL, issue 16),
    served at ``GET /media/{token}.png`` until ``expires_at``; the token is long and random
    (the picture may show a pupil's scores or a fee). Stored in the database so any process
    behind the load balancer can serve it; expired rows are deleted as new ones come."""

    __tablename__ = "media_file"
    __table_args__ = (Index("ix_media_file_expires", "expires_at"),)
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    school_id: Mapped[str] = mapped_column(String(40))
    content_type: Mapped[str] = mapped_column(String(40))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]


class PollRow(Base):
    """A class poll or sign-up (issue 17): a question, its options (JSON list), until a
    deadline. ``reminded_at`` and ``closed_told_at`` are set once each, by the job that
    queues the one reminder and the final results for the author (or by an early close).
    ``closed_at`` / ``cancelled_at``: closed early, cancelled (each set once)."""

    __tablename__ = "poll"
    __table_args__ = (
        Index("ix_poll_author", "school_id", "author_id", "created_at"),
        Index("ix_poll_remind", "reminded_at", "remind_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    school_id: Mapped[str] = mapped_column(String(40))
    class_id: Mapped[str] = mapped_column(String(64))  # "*" = the whole school
    class_name: Mapped[str] = mapped_column(String(100))
    author_id: Mapped[str] = mapped_column(String(64))  # teacher id, or "cli"
    question: Mapped[str] = mapped_column(Text)
    options: Mapped[list[str]] = mapped_column(JSON)
    multiple: Mapped[bool] = mapped_column(Boolean)
    anonymous: Mapped[bool] = mapped_column(Boolean)
    deadline_at: Mapped[dt.datetime]
    remind_at: Mapped[dt.datetime]
    reminded_at: Mapped[dt.datetime | None]
    closed_told_at: Mapped[dt.datetime | None]  # the author was sent the final results
    created_at: Mapped[dt.datetime]
    closed_at: Mapped[dt.datetime | None]  # closed early by its author or school staff (0018)
    cancelled_at: Mapped[dt.datetime | None]  # cancelled: ballots kept, marked cancelled (0018)


class PollBallot(Base):
    """One pupil's answer to one poll; the pupil's guardians share it (the latest counts).
    ``choices`` is a JSON list of 0-based option indexes, empty until answered."""

    __tablename__ = "poll_ballot"
    __table_args__ = (
        UniqueConstraint("poll_id", "student_id"),
        Index("ix_poll_ballot_student", "school_id", "student_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    poll_id: Mapped[int] = mapped_column(Integer)
    school_id: Mapped[str] = mapped_column(String(40))
    student_id: Mapped[str] = mapped_column(String(64))
    student_name: Mapped[str] = mapped_column(String(200))
    class_name: Mapped[str] = mapped_column(String(100))
    choices: Mapped[list[int]] = mapped_column(JSON)
    answered_at: Mapped[dt.datetime | None]
    # the guardian who answered last, as the audit log's keyed hash (Turn.actor), never an id
    answered_by: Mapped[str | None] = mapped_column(String(100))


class TeacherPostRow(Base):
    """A teacher's remark on one pupil, or homework / a notice for a class (issue 17)."""

    __tablename__ = "teacher_post"
    __table_args__ = (Index("ix_teacher_post_class", "school_id", "class_id", "created_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    school_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(12))  # remark | homework
    class_id: Mapped[str] = mapped_column(String(64))
    student_id: Mapped[str | None] = mapped_column(String(64))  # a remark's pupil
    author_id: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime]


# --- private parent–teacher messages (issue 17) -------------------------------------------


class MessageThread(Base):
    """One parent chat, one pupil, one teacher: the bot relays between them, so neither sees
    the other's phone or chat handle (``bot.domain.threads``)."""

    __tablename__ = "message_thread"
    __table_args__ = (
        UniqueConstraint(
            "school_id", "student_id", "teacher_id", "parent_channel", "parent_user_id"
        ),
        Index("ix_message_thread_parent", "school_id", "parent_channel", "parent_user_id"),
        Index("ix_message_thread_class", "school_id", "class_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    school_id: Mapped[str] = mapped_column(String(40))
    student_id: Mapped[str] = mapped_column(String(64))
    class_id: Mapped[str] = mapped_column(String(64))
    teacher_id: Mapped[str] = mapped_column(String(64))
    guardian_id: Mapped[str] = mapped_column(String(64))
    parent_channel: Mapped[str] = mapped_column(String(20))
    parent_chat_id: Mapped[str] = mapped_column(String(128))
    parent_user_id: Mapped[str] = mapped_column(String(128))
    muted_at: Mapped[dt.datetime | None]
    parent_seen_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]


class ThreadMessageRow(Base):
    """One relayed message; deleted after the school's retention days and by ``/forget``."""

    __tablename__ = "thread_message"
    __table_args__ = (
        ForeignKeyConstraint(["thread_id"], ["message_thread.id"], ondelete="CASCADE"),
        Index("ix_thread_message_thread", "thread_id", "created_at"),
        Index("ix_thread_message_school", "school_id", "created_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    school_id: Mapped[str] = mapped_column(String(40))
    thread_id: Mapped[int] = mapped_column(Integer)
    sender: Mapped[str] = mapped_column(String(10))  # parent | teacher
    body: Mapped[str] = mapped_column(Text)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(10))  # bot.domain.threads.Delivery
    attachment: Mapped[str] = mapped_column(String(20), default="")  # "", photo, document
    deliver_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]


class TeacherOfficeHours(Base):
    """When a teacher takes parents' messages (local time); none: the school's hours."""

    __tablename__ = "teacher_office_hours"
    school_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    teacher_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    start_minute: Mapped[int] = mapped_column(Integer)
    end_minute: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime]


class WebSignIn(Base):
    """A single-use sign-in link to the office's web page (issue 18), asked for with ``/web``
    by a linked teacher. Only the token's SHA-256 is stored; ``used_at`` makes it single-use."""

    __tablename__ = "web_sign_in"
    __table_args__ = (Index("ix_web_sign_in_expires_at", "expires_at"),)
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    school_id: Mapped[str] = mapped_column(String(40))
    teacher_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(20))  # where it was asked for
    user_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]


class WebSessionEnded(Base):
    """A signed-out session of the office's web page (issue 18): its cookie is refused even if
    copied. Only the session id's SHA-256; the row goes once the cookie would be idle anyway."""

    __tablename__ = "web_session_ended"
    __table_args__ = (Index("ix_web_session_ended_expires_at", "expires_at"),)
    sid_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    ended_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
