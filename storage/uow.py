"""SQL implementations of the repository ports, grouped in one unit of work per transaction."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from bot.domain.errors import ConcurrentTurn
from bot.domain.threads import ThreadRepo
from bot.messages import Attachment, ConversationKey
from bot.ports import (
    AbsenceRepo,
    AbsenceRequest,
    AuditRepo,
    ButtonRepo,
    ConversationRepo,
    ConversationState,
    EventRepo,
    Link,
    LinkRepo,
    LinkRole,
    NotificationRepo,
    OtpChallenge,
    OtpRepo,
    OutboxRepo,
    OutgoingMessage,
    PollRepo,
    PostRepo,
    PrivacyRepo,
    Substitute,
    SubstituteRepo,
    UnitOfWork,
    WebSignInGrant,
    WebSignInRepo,
)
from storage.notification_store import SqlNotificationRepo
from storage.poll_store import SqlPollRepo, SqlPostRepo
from storage.privacy import SqlPrivacyRepo
from storage.rows import attachments_json, attachments_of
from storage.rows import key_of as _key_of
from storage.rows import link_of as _link
from storage.tables import (
    AbsenceRequestRow,
    AppSecret,
    AuditEvent,
    ButtonToken,
    ChatLink,
    ConversationStateRow,
    HomeroomSubstitute,
    OtpChallengeRow,
    OutboxMessage,
    SeenEvent,
    WebSignIn,
)
from storage.thread_store import SqlThreadRepo


def _key_filter(model: Any, key: ConversationKey) -> list[Any]:
    return [
        model.school_id == key.school_id,
        model.channel == key.channel,
        model.chat_id == key.chat_id,
        model.user_id == key.user_id,
    ]


# The statements every turn runs, built once (issue 15: building an ORM query per call cost
# more than running it). Core rows, not ORM objects: nothing to track in the session.
_CHUNK = 1000  # keys per statement: well under both engines' limits on bound parameters


def _key_params(key: ConversationKey) -> dict[str, str]:
    return {
        "school_id": key.school_id,
        "channel": key.channel,
        "chat_id": key.chat_id,
        "user_id": key.user_id,
    }


_CS = ConversationStateRow.__table__
_STATE_OF = select(_CS).where(
    _CS.c.school_id == bindparam("school_id"),
    _CS.c.channel == bindparam("channel"),
    _CS.c.chat_id == bindparam("chat_id"),
    _CS.c.user_id == bindparam("user_id"),
)
_CL = ChatLink.__table__
_ACTIVE_LINKS = (
    select(_CL)
    .where(
        _CL.c.school_id == bindparam("school_id"),
        _CL.c.channel == bindparam("channel"),
        _CL.c.user_id == bindparam("user_id"),
        _CL.c.active.is_(True),
    )
    .order_by(_CL.c.id)
)


class SqlConversationRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def load(self, key: ConversationKey) -> ConversationState:
        row = (await self._s.execute(_STATE_OF, _key_params(key))).first()
        if row is None:
            return ConversationState()
        return ConversationState(
            dialog=row.dialog,
            step=row.step,
            data=dict(row.data or {}),
            locale=row.locale,
            platform_locale=row.platform_locale,
            menu={str(k): str(v) for k, v in (row.menu or {}).items()},
            version=row.version,
        )

    async def locales(self, keys: Sequence[ConversationKey]) -> dict[ConversationKey, str | None]:
        wanted = set(keys)
        chats: dict[tuple[str, str], list[str]] = defaultdict(list)
        for key in wanted:
            chats[(key.school_id, key.channel)].append(key.chat_id)
        found: dict[ConversationKey, str | None] = {}
        for (school_id, channel), chat_ids in chats.items():
            for start in range(0, len(chat_ids), _CHUNK):
                rows = await self._s.execute(
                    select(_CS.c.chat_id, _CS.c.user_id, _CS.c.locale).where(
                        _CS.c.school_id == school_id,
                        _CS.c.channel == channel,
                        _CS.c.chat_id.in_(chat_ids[start : start + _CHUNK]),
                    )
                )
                for chat_id, user_id, locale in rows:
                    key = ConversationKey(
                        school_id=school_id, channel=channel, chat_id=chat_id, user_id=user_id
                    )
                    if key in wanted:
                        found[key] = locale
        return found

    async def save(self, key: ConversationKey, state: ConversationState) -> None:
        now = dt.datetime.now(dt.UTC)
        values = {
            "dialog": state.dialog,
            "step": state.step,
            "data": state.data,
            "locale": state.locale,
            "platform_locale": state.platform_locale,
            "menu": state.menu,
            "version": state.version + 1,
            "updated_at": now,
        }
        if state.version == 0:
            self._s.add(
                ConversationStateRow(
                    school_id=key.school_id,
                    channel=key.channel,
                    chat_id=key.chat_id,
                    user_id=key.user_id,
                    **values,
                )
            )
            try:
                await self._s.flush()
            except IntegrityError as err:
                raise ConcurrentTurn(str(key)) from err
        else:
            result = await self._s.execute(
                update(ConversationStateRow)
                .where(
                    *_key_filter(ConversationStateRow, key),
                    ConversationStateRow.version == state.version,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) != 1:
                raise ConcurrentTurn(str(key))
        state.version += 1

    async def delete(self, key: ConversationKey) -> None:
        await self._s.execute(
            delete(ConversationStateRow).where(*_key_filter(ConversationStateRow, key))
        )


class SqlLinkRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def active_links(self, key: ConversationKey) -> Sequence[Link]:
        rows = await self._s.execute(_ACTIVE_LINKS, _key_params(key))
        return [_link(r) for r in rows]

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
        row = await self._s.scalar(
            select(ChatLink).where(
                ChatLink.school_id == key.school_id,
                ChatLink.channel == key.channel,
                ChatLink.user_id == key.user_id,
                ChatLink.role == role.value,
                ChatLink.subject_id == subject_id,
            )
        )
        if row is None:
            row = ChatLink(
                school_id=key.school_id,
                channel=key.channel,
                user_id=key.user_id,
                role=role.value,
                subject_id=subject_id,
            )
            self._s.add(row)
        row.chat_id = key.chat_id
        row.person_id = person_id
        row.consent_version = consent_version
        row.consent_at = consent_at
        row.verified_at = verified_at
        row.active = True
        row.unreachable_at = None
        await self._s.flush()
        return _link(row)

    async def for_subject(
        self, *, school_id: str, role: LinkRole, subject_id: str
    ) -> Sequence[Link]:
        rows = await self._s.scalars(
            select(ChatLink)
            .where(
                ChatLink.school_id == school_id,
                ChatLink.role == role.value,
                ChatLink.subject_id == subject_id,
                ChatLink.active.is_(True),
            )
            .order_by(ChatLink.id)
        )
        return [_link(r) for r in rows]

    async def delete_all(self, key: ConversationKey) -> int:
        result = await self._s.execute(
            delete(ChatLink).where(
                ChatLink.school_id == key.school_id,
                ChatLink.channel == key.channel,
                ChatLink.user_id == key.user_id,
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)


def _challenge(row: OtpChallengeRow) -> OtpChallenge:
    return OtpChallenge(
        id=row.id,
        key=_key_of(row),
        role=LinkRole(row.role),
        subject_id=row.subject_id,
        person_id=row.person_id,
        code_hash=row.code_hash,
        created_at=row.created_at,
        expires_at=row.expires_at,
        attempts=row.attempts,
        sends=row.sends,
        last_sent_at=row.last_sent_at,
        locked_until=row.locked_until,
        consumed_at=row.consumed_at,
    )


class SqlOtpRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def latest(self, key: ConversationKey) -> OtpChallenge | None:
        row = await self._s.scalar(
            select(OtpChallengeRow)
            .where(*_key_filter(OtpChallengeRow, key), OtpChallengeRow.consumed_at.is_(None))
            .order_by(OtpChallengeRow.id.desc())
            .limit(1)
        )
        return None if row is None else _challenge(row)

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
    ) -> OtpChallenge:
        # A new challenge retires the old ones of this conversation.
        await self._s.execute(
            update(OtpChallengeRow)
            .where(*_key_filter(OtpChallengeRow, key), OtpChallengeRow.consumed_at.is_(None))
            .values(consumed_at=now)
            .execution_options(synchronize_session=False)
        )
        row = OtpChallengeRow(
            school_id=key.school_id,
            channel=key.channel,
            chat_id=key.chat_id,
            user_id=key.user_id,
            role=role.value,
            subject_id=subject_id,
            person_id=person_id,
            code_hash=code_hash,
            created_at=now,
            expires_at=expires_at,
            attempts=0,
            sends=1,
            last_sent_at=now,
        )
        self._s.add(row)
        await self._s.flush()
        return _challenge(row)

    async def record_resend(
        self, challenge_id: int, *, code_hash: str, now: dt.datetime, expires_at: dt.datetime
    ) -> None:
        row = await self._s.get(OtpChallengeRow, challenge_id)
        if row is None:
            return
        row.code_hash = code_hash
        row.expires_at = expires_at
        row.last_sent_at = now
        row.sends += 1
        if row.locked_until is not None and row.locked_until <= now:
            row.locked_until = None  # a lock-out that ran out starts a fresh round of attempts
            row.attempts = 0
        await self._s.flush()

    async def record_failure(self, challenge_id: int, *, locked_until: dt.datetime | None) -> None:
        await self._s.execute(
            update(OtpChallengeRow)
            .where(OtpChallengeRow.id == challenge_id)
            .values(attempts=OtpChallengeRow.attempts + 1, locked_until=locked_until)
            .execution_options(synchronize_session=False)
        )

    async def consume(self, challenge_id: int, *, now: dt.datetime) -> None:
        await self._s.execute(
            update(OtpChallengeRow)
            .where(OtpChallengeRow.id == challenge_id)
            .values(consumed_at=now)
            .execution_options(synchronize_session=False)
        )

    async def sends_since(self, *, school_id: str, person_id: str, since: dt.datetime) -> int:
        # Each row counts its sends; rows created before `since` may still have resent after it.
        total = await self._s.scalar(
            select(func.coalesce(func.sum(OtpChallengeRow.sends), 0)).where(
                OtpChallengeRow.school_id == school_id,
                OtpChallengeRow.person_id == person_id,
                OtpChallengeRow.last_sent_at >= since,
            )
        )
        return int(total or 0)

    async def delete_for(self, key: ConversationKey) -> None:
        await self._s.execute(delete(OtpChallengeRow).where(*_key_filter(OtpChallengeRow, key)))


class SqlButtonRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def issue(
        self, key: ConversationKey, actions: Sequence[str], *, now: dt.datetime
    ) -> list[str]:
        if not actions:
            return []
        # 12 characters, 72 bits: unguessable, tiny
        tokens = [secrets.token_urlsafe(9) for _ in actions]
        await self._s.execute(
            insert(ButtonToken),
            [
                {
                    "token": token,
                    "action": action[:255],
                    "created_at": now,
                    **_key_params(key),
                }
                for token, action in zip(tokens, actions, strict=True)
            ],
        )
        return tokens

    async def resolve(self, token: str) -> tuple[ConversationKey, str, dt.datetime] | None:
        if not token or len(token) > 24:
            return None
        row = await self._s.get(ButtonToken, token)
        if row is None:
            return None
        return _key_of(row), row.action, row.created_at

    async def delete_for(self, key: ConversationKey) -> None:
        await self._s.execute(delete(ButtonToken).where(*_key_filter(ButtonToken, key)))


class SqlAuditRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

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
        await self._s.execute(
            insert(AuditEvent),
            [
                {
                    "school_id": school_id,
                    "at": at,
                    "actor": actor[:64],
                    "action": action[:64],
                    "subject": subject[:64],
                    "detail": detail or {},
                }
            ],
        )

    async def count(
        self,
        *,
        school_id: str,
        action: str,
        since: dt.datetime,
        actor: str | None = None,
        subject: str | None = None,
    ) -> int:
        await self._s.flush()
        n = await self._s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(*self._where(school_id, action, actor, subject), AuditEvent.at >= since)
        )
        return int(n or 0)

    async def distinct_subjects(
        self, *, school_id: str, actor: str, action: str, since: dt.datetime
    ) -> set[str]:
        await self._s.flush()
        rows = await self._s.scalars(
            select(AuditEvent.subject)
            .distinct()
            .where(*self._where(school_id, action, actor, None), AuditEvent.at >= since)
        )
        return set(rows)

    async def last_at(
        self, *, school_id: str, action: str, subject: str, actor: str | None = None
    ) -> dt.datetime | None:
        await self._s.flush()
        at = await self._s.scalar(
            select(func.max(AuditEvent.at)).where(*self._where(school_id, action, actor, subject))
        )
        if at is not None and at.tzinfo is None:  # SQLite keeps no zone
            at = at.replace(tzinfo=dt.UTC)
        return at

    @staticmethod
    def _where(
        school_id: str, action: str, actor: str | None, subject: str | None
    ) -> list[ColumnElement[bool]]:
        where = [AuditEvent.school_id == school_id, AuditEvent.action == action]
        if actor is not None:
            where.append(AuditEvent.actor == actor)
        if subject is not None:
            where.append(AuditEvent.subject == subject)
        return where


class SqlOutboxRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def enqueue(self, message: OutgoingMessage, *, now: dt.datetime) -> bool:
        # ON CONFLICT DO NOTHING, not a SAVEPOINT: the SQLite driver starts no transaction
        # before a SAVEPOINT, so releasing it would commit the row even if the turn rolls back.
        result = await self._s.execute(
            self._insert()
            .values(**_outbox_values(message, now))
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
        )
        return bool(getattr(result, "rowcount", 0))

    async def enqueue_many(self, messages: Sequence[OutgoingMessage], *, now: dt.datetime) -> None:
        if not messages:
            return
        rows = [_outbox_values(m, now) for m in messages]
        stmt = self._insert().on_conflict_do_nothing(index_elements=["dedupe_key"])
        conn = await self._s.connection()  # Core executemany, not the ORM's bulk insert
        for start in range(0, len(rows), _CHUNK):
            await conn.execute(stmt, rows[start : start + _CHUNK])

    def _insert(self) -> Any:
        dialect = self._s.get_bind().dialect.name
        return (sqlite_insert if dialect == "sqlite" else pg_insert)(OutboxMessage)


def _outbox_values(message: OutgoingMessage, now: dt.datetime) -> dict[str, Any]:
    values = {
        "school_id": message.recipient.school_id,
        "channel": message.recipient.channel,
        "chat_id": message.recipient.chat_id,
        "user_id": message.recipient.user_id,
        "kind": message.kind,
        "payload": {
            "text": message.text,
            "buttons": [
                [{"label": b.label, "token": b.token} for b in row] for row in message.buttons
            ],
            "locale": message.locale,
            **(
                {"attachment": dataclasses.asdict(message.attachment)}
                if message.attachment is not None
                else {}
            ),
        },
        "dedupe_key": message.dedupe_key[:200],
        "urgent": message.urgent,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": message.not_before or now,
        "expires_at": message.expires_at,
        "created_at": now,
        "last_error": "",
    }
    return values


SEEN_EVENT_DAYS = 7  # platforms redeliver for hours at most


def _digest(event_id: str) -> str:
    """Event ids may name a user (a Zalo event without a message id): keep only a hash."""
    return hashlib.sha256(event_id.encode()).hexdigest()


_SE = SeenEvent.__table__
_SEEN = select(_SE.c.event_id).where(
    _SE.c.school_id == bindparam("school_id"),
    _SE.c.channel == bindparam("channel"),
    _SE.c.event_id == bindparam("event_id"),
)


class SqlEventRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def seen(self, *, school_id: str, channel: str, event_id: str) -> bool:
        params = {"school_id": school_id, "channel": channel, "event_id": _digest(event_id)}
        return (await self._s.execute(_SEEN, params)).first() is not None

    async def record(
        self, *, school_id: str, channel: str, event_id: str, now: dt.datetime
    ) -> bool:
        dialect = self._s.get_bind().dialect.name
        insert = sqlite_insert if dialect == "sqlite" else pg_insert
        result = await self._s.execute(
            insert(SeenEvent)
            .values(school_id=school_id, channel=channel, event_id=_digest(event_id), seen_at=now)
            .on_conflict_do_nothing(index_elements=["school_id", "channel", "event_id"])
        )
        if secrets.randbelow(500) == 0:  # now and then, forget events nobody redelivers
            cutoff = now - dt.timedelta(days=SEEN_EVENT_DAYS)
            await self._s.execute(delete(SeenEvent).where(SeenEvent.seen_at < cutoff))
        return bool(getattr(result, "rowcount", 0))


class SqlWebSignInRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def issue(
        self,
        *,
        token_hash: str,
        key: ConversationKey,
        teacher_id: str,
        expires_at: dt.datetime,
        now: dt.datetime,
    ) -> None:
        # links nobody used are forgotten the next time one is issued
        await self._s.execute(delete(WebSignIn).where(WebSignIn.expires_at < now))
        self._s.add(
            WebSignIn(
                token_hash=token_hash,
                school_id=key.school_id,
                teacher_id=teacher_id,
                channel=key.channel,
                user_id=key.user_id,
                created_at=now,
                expires_at=expires_at,
                used_at=None,
            )
        )
        await self._s.flush()

    async def redeem(self, token_hash: str, *, now: dt.datetime) -> WebSignInGrant | None:
        # one conditional UPDATE: of two redeems at once, only one changes the row
        result = await self._s.execute(
            update(WebSignIn)
            .where(
                WebSignIn.token_hash == token_hash,
                WebSignIn.used_at.is_(None),
                WebSignIn.expires_at > now,
            )
            .values(used_at=now)
        )
        if not getattr(result, "rowcount", 0):
            return None
        row = await self._s.get(WebSignIn, token_hash)
        if row is None:
            return None
        return WebSignInGrant(school_id=row.school_id, teacher_id=row.teacher_id)


def _absence(row: AbsenceRequestRow) -> AbsenceRequest:
    return AbsenceRequest(
        id=row.id,
        school_id=row.school_id,
        student_id=row.student_id,
        class_id=row.class_id,
        requester=ConversationKey(
            school_id=row.school_id,
            channel=row.requester_channel,
            chat_id=row.requester_chat_id,
            user_id=row.requester_user_id,
        ),
        guardian_id=row.guardian_id,
        start_date=row.start_date,
        end_date=row.end_date,
        session=row.session,
        reason=row.reason,
        status=row.status,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        decision_reason=row.decision_reason,
        written_at=row.written_at,
        write_attempts=row.write_attempts,
        reminded_at=row.reminded_at,
        created_at=row.created_at,
        version=row.version,
        escalated_at=row.escalated_at,
        write_error=row.write_error or "",
        attachments=attachments_of(row.attachments),
    )


class SqlAbsenceRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

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
    ) -> AbsenceRequest:
        row = AbsenceRequestRow(
            attachments=attachments_json(attachments),
            school_id=school_id,
            student_id=student_id,
            class_id=class_id,
            requester_channel=requester.channel,
            requester_chat_id=requester.chat_id,
            requester_user_id=requester.user_id,
            guardian_id=guardian_id,
            start_date=start_date,
            end_date=end_date,
            session=session,
            reason=reason,
            status="pending",
            decision_reason="",
            write_attempts=0,
            write_error="",
            created_at=now,
            updated_at=now,
            version=0,
        )
        self._s.add(row)
        await self._s.flush()
        return _absence(row)

    async def get(self, school_id: str, request_id: int) -> AbsenceRequest | None:
        row = await self._s.scalar(
            select(AbsenceRequestRow).where(
                AbsenceRequestRow.school_id == school_id, AbsenceRequestRow.id == request_id
            )
        )
        return None if row is None else _absence(row)

    async def _list(self, *conditions: Any) -> list[AbsenceRequest]:
        rows = await self._s.scalars(
            select(AbsenceRequestRow)
            .where(*conditions)
            .order_by(AbsenceRequestRow.start_date, AbsenceRequestRow.id)
        )
        return [_absence(r) for r in rows]

    async def live_for_student(self, school_id: str, student_id: str) -> Sequence[AbsenceRequest]:
        return await self._list(
            AbsenceRequestRow.school_id == school_id,
            AbsenceRequestRow.student_id == student_id,
            AbsenceRequestRow.status.in_(["pending", "approved"]),
        )

    async def pending_for_classes(
        self, school_id: str, class_ids: Sequence[str]
    ) -> Sequence[AbsenceRequest]:
        return await self._list(
            AbsenceRequestRow.school_id == school_id,
            AbsenceRequestRow.class_id.in_(list(class_ids)),
            AbsenceRequestRow.status == "pending",
        )

    async def pending_for_requester(self, key: ConversationKey) -> Sequence[AbsenceRequest]:
        return await self._list(
            AbsenceRequestRow.school_id == key.school_id,
            AbsenceRequestRow.requester_channel == key.channel,
            AbsenceRequestRow.requester_user_id == key.user_id,
            AbsenceRequestRow.status == "pending",
        )

    async def transition(
        self,
        request: AbsenceRequest,
        status: str,
        *,
        now: dt.datetime,
        decided_by: str | None = None,
        reason: str = "",
    ) -> bool:
        values: dict[str, Any] = {
            "status": status,
            "updated_at": now,
            "version": request.version + 1,
        }
        if decided_by is not None:
            values.update(decided_by=decided_by, decided_at=now, decision_reason=reason)
        if status == "approved":
            values["next_write_at"] = now
        result = await self._s.execute(
            update(AbsenceRequestRow)
            .where(
                AbsenceRequestRow.id == request.id,
                AbsenceRequestRow.status == request.status,
                AbsenceRequestRow.version == request.version,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return getattr(result, "rowcount", 0) == 1

    async def record_write(
        self,
        request_id: int,
        *,
        now: dt.datetime,
        error: str = "",
        retry_at: dt.datetime | None = None,
    ) -> None:
        values: dict[str, Any] = {"write_attempts": AbsenceRequestRow.write_attempts + 1}
        if error:
            values.update(write_error=error[:200], next_write_at=retry_at)
        else:
            values.update(written_at=now, write_error="", next_write_at=None)
        await self._s.execute(
            update(AbsenceRequestRow)
            .where(AbsenceRequestRow.id == request_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )

    async def due_writes(self, school_id: str, now: dt.datetime) -> Sequence[AbsenceRequest]:
        return await self._list(
            AbsenceRequestRow.school_id == school_id,
            AbsenceRequestRow.status == "approved",
            AbsenceRequestRow.written_at.is_(None),
            AbsenceRequestRow.next_write_at <= now,
        )

    async def stale_pending(
        self, school_id: str, created_before: dt.datetime
    ) -> Sequence[AbsenceRequest]:
        return await self._list(
            AbsenceRequestRow.school_id == school_id,
            AbsenceRequestRow.status == "pending",
            AbsenceRequestRow.created_at <= created_before,
            AbsenceRequestRow.reminded_at.is_(None),
        )

    async def mark_reminded(self, request_id: int, *, now: dt.datetime) -> None:
        await self._s.execute(
            update(AbsenceRequestRow)
            .where(AbsenceRequestRow.id == request_id)
            .values(reminded_at=now)
            .execution_options(synchronize_session=False)
        )

    async def pending_started_by(self, school_id: str, day: dt.date) -> Sequence[AbsenceRequest]:
        return await self._list(
            AbsenceRequestRow.school_id == school_id,
            AbsenceRequestRow.status == "pending",
            AbsenceRequestRow.start_date <= day,
        )

    async def mark_escalated(self, request_id: int, *, now: dt.datetime) -> None:
        await self._s.execute(
            update(AbsenceRequestRow)
            .where(AbsenceRequestRow.id == request_id)
            .values(escalated_at=now)
            .execution_options(synchronize_session=False)
        )

    async def covering(
        self, school_id: str, class_ids: Sequence[str], day: dt.date
    ) -> Sequence[AbsenceRequest]:
        return await self._list(
            AbsenceRequestRow.school_id == school_id,
            AbsenceRequestRow.class_id.in_(list(class_ids)),
            AbsenceRequestRow.status.in_(["pending", "approved"]),
            AbsenceRequestRow.start_date <= day,
            AbsenceRequestRow.end_date >= day,
        )

    async def schools_with_work(self) -> Sequence[str]:
        rows = await self._s.scalars(
            select(AbsenceRequestRow.school_id)
            .where(
                or_(
                    AbsenceRequestRow.status == "pending",
                    and_(
                        AbsenceRequestRow.status == "approved",
                        AbsenceRequestRow.written_at.is_(None),
                    ),
                )
            )
            .distinct()
        )
        return sorted(rows)


class SqlSubstituteRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(
        self,
        *,
        school_id: str,
        class_id: str,
        teacher_id: str,
        start_date: dt.date,
        end_date: dt.date,
        now: dt.datetime,
    ) -> Substitute:
        row = HomeroomSubstitute(
            school_id=school_id,
            class_id=class_id,
            teacher_id=teacher_id,
            start_date=start_date,
            end_date=end_date,
            created_at=now,
        )
        self._s.add(row)
        await self._s.flush()
        return _substitute(row)

    async def on(self, school_id: str, day: dt.date) -> Sequence[Substitute]:
        rows = await self._s.scalars(
            select(HomeroomSubstitute)
            .where(
                HomeroomSubstitute.school_id == school_id,
                HomeroomSubstitute.start_date <= day,
                HomeroomSubstitute.end_date >= day,
            )
            .order_by(HomeroomSubstitute.id)
        )
        return [_substitute(r) for r in rows]

    async def all(self, school_id: str) -> Sequence[Substitute]:
        rows = await self._s.scalars(
            select(HomeroomSubstitute)
            .where(HomeroomSubstitute.school_id == school_id)
            .order_by(HomeroomSubstitute.start_date, HomeroomSubstitute.id)
        )
        return [_substitute(r) for r in rows]

    async def remove(self, school_id: str, substitute_id: int) -> bool:
        result = await self._s.execute(
            delete(HomeroomSubstitute).where(
                HomeroomSubstitute.school_id == school_id, HomeroomSubstitute.id == substitute_id
            )
        )
        return getattr(result, "rowcount", 0) == 1


def _substitute(row: HomeroomSubstitute) -> Substitute:
    return Substitute(
        id=row.id,
        school_id=row.school_id,
        class_id=row.class_id,
        teacher_id=row.teacher_id,
        start_date=row.start_date,
        end_date=row.end_date,
    )


class SqlUnitOfWork:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.conversations: ConversationRepo = SqlConversationRepo(session)
        self.links: LinkRepo = SqlLinkRepo(session)
        self.otps: OtpRepo = SqlOtpRepo(session)
        self.buttons: ButtonRepo = SqlButtonRepo(session)
        self.audit: AuditRepo = SqlAuditRepo(session)
        self.outbox: OutboxRepo = SqlOutboxRepo(session)
        self.absences: AbsenceRepo = SqlAbsenceRepo(session)
        self.substitutes: SubstituteRepo = SqlSubstituteRepo(session)
        self.notifications: NotificationRepo = SqlNotificationRepo(session)
        self.privacy: PrivacyRepo = SqlPrivacyRepo(session)
        self.events: EventRepo = SqlEventRepo(session)
        self.polls: PollRepo = SqlPollRepo(session)
        self.posts: PostRepo = SqlPostRepo(session)
        self.threads: ThreadRepo = SqlThreadRepo(session)
        self.web_sign_ins: WebSignInRepo = SqlWebSignInRepo(session)

    async def commit(self) -> None:
        await self.session.commit()


class SqlUnitOfWorkFactory:
    """Call it to open one transaction: ``async with uow_factory() as uow: ...``."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[UnitOfWork]:
        async with self._sessions() as session:
            try:
                yield SqlUnitOfWork(session)
            finally:
                await session.rollback()  # a no-op after commit(); undoes anything left over


async def get_or_create_secret(sessions: async_sessionmaker[AsyncSession], name: str) -> bytes:
    """A per-installation random secret shared by every worker through the database."""
    async with sessions() as session:
        row = await session.get(AppSecret, name)
        if row is not None:
            return bytes.fromhex(row.value)
        session.add(AppSecret(name=name, value=secrets.token_hex(32)))
        try:
            await session.commit()
        except IntegrityError:  # another worker created it first: use theirs
            await session.rollback()
        row = await session.get(AppSecret, name)
        assert row is not None
        return bytes.fromhex(row.value)
