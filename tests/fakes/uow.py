"""An in-memory unit of work and the demo school as an in-memory backend (issue 14): handler
and dialog tests run the real router without a database.

:class:`FakeUnitOfWorkFactory` keeps what was committed; a unit of work works on a copy and
publishes it on ``commit()`` (leaving without it rolls back), like the SQL one. It implements
the repositories a question, the greeting and the settings need (conversations, links,
buttons, audit, events, outbox); the others raise ``NotImplementedError`` when used, so a
test that needs them says so instead of passing by accident.
"""

from __future__ import annotations

import copy
import datetime as dt
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from bot.backends.demo_data import DemoSchool, build_demo_school
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
from bot.domain.text import fold
from bot.messages import ConversationKey
from bot.ports import (
    Capability,
    ConversationState,
    Link,
    LinkRole,
    OutgoingMessage,
)


@dataclass
class _Data:
    states: dict[ConversationKey, ConversationState] = field(default_factory=dict)
    links: list[Link] = field(default_factory=list)
    buttons: dict[str, tuple[ConversationKey, str, dt.datetime]] = field(default_factory=dict)
    audit: list[dict[str, Any]] = field(default_factory=list)
    events: set[tuple[str, str, str]] = field(default_factory=set)
    outbox: dict[str, OutgoingMessage] = field(default_factory=dict)


class _Conversations:
    def __init__(self, data: _Data) -> None:
        self._d = data

    async def load(self, key: ConversationKey) -> ConversationState:
        return copy.deepcopy(self._d.states.get(key, ConversationState()))

    async def save(self, key: ConversationKey, state: ConversationState) -> None:
        state.version += 1
        self._d.states[key] = copy.deepcopy(state)

    async def delete(self, key: ConversationKey) -> None:
        self._d.states.pop(key, None)

    async def locales(self, keys: Sequence[ConversationKey]) -> dict[ConversationKey, str | None]:
        return {k: self._d.states[k].locale for k in keys if k in self._d.states}


class _Links:
    def __init__(self, data: _Data) -> None:
        self._d = data

    async def active_links(self, key: ConversationKey) -> Sequence[Link]:
        return [
            link
            for link in self._d.links
            if (link.key.school_id, link.key.channel, link.key.user_id)
            == (key.school_id, key.channel, key.user_id)
        ]

    async def add(self, *, key: ConversationKey, **values: Any) -> Link:
        link = Link(id=len(self._d.links) + 1, key=key, **values)
        self._d.links.append(link)
        return link

    async def delete_all(self, key: ConversationKey) -> int:
        before = len(self._d.links)
        self._d.links = [link for link in self._d.links if link.key.user_id != key.user_id]
        return before - len(self._d.links)

    async def for_subject(
        self, *, school_id: str, role: LinkRole, subject_id: str
    ) -> Sequence[Link]:
        return [
            link
            for link in self._d.links
            if (link.key.school_id, link.role, link.subject_id) == (school_id, role, subject_id)
        ]


class _Buttons:
    def __init__(self, data: _Data) -> None:
        self._d = data

    async def issue(
        self, key: ConversationKey, actions: Sequence[str], *, now: dt.datetime
    ) -> list[str]:
        tokens = [secrets.token_urlsafe(9) for _ in actions]
        for token, action in zip(tokens, actions, strict=True):
            self._d.buttons[token] = (key, action, now)
        return tokens

    async def resolve(self, token: str) -> tuple[ConversationKey, str, dt.datetime] | None:
        return self._d.buttons.get(token)

    async def delete_for(self, key: ConversationKey) -> None:
        for token in [t for t, (k, _, _) in self._d.buttons.items() if k == key]:
            del self._d.buttons[token]


class _Audit:
    def __init__(self, data: _Data) -> None:
        self._d = data

    async def record(self, **event: Any) -> None:
        self._d.audit.append(event)

    def _matching(self, school_id: str, action: str, since: dt.datetime, **who: Any) -> list[Any]:
        return [
            e
            for e in self._d.audit
            if e["school_id"] == school_id
            and e["action"] == action
            and e["at"] >= since
            and all(v is None or e.get(k, "") == v for k, v in who.items())
        ]

    async def count(
        self,
        *,
        school_id: str,
        action: str,
        since: dt.datetime,
        actor: str | None = None,
        subject: str | None = None,
    ) -> int:
        return len(self._matching(school_id, action, since, actor=actor, subject=subject))

    async def distinct_subjects(
        self, *, school_id: str, actor: str, action: str, since: dt.datetime
    ) -> set[str]:
        return {e.get("subject", "") for e in self._matching(school_id, action, since, actor=actor)}

    async def last_at(self, **query: Any) -> dt.datetime | None:
        since = query.pop("since", dt.datetime.min.replace(tzinfo=dt.UTC))
        found = self._matching(query.pop("school_id"), query.pop("action"), since, **query)
        return max((e["at"] for e in found), default=None)


class _Events:
    def __init__(self, data: _Data) -> None:
        self._d = data

    async def seen(self, *, school_id: str, channel: str, event_id: str) -> bool:
        return (school_id, channel, event_id) in self._d.events

    async def record(
        self, *, school_id: str, channel: str, event_id: str, now: dt.datetime
    ) -> bool:
        key = (school_id, channel, event_id)
        if key in self._d.events:
            return False
        self._d.events.add(key)
        return True


class _Outbox:
    def __init__(self, data: _Data) -> None:
        self._d = data

    async def enqueue(self, message: OutgoingMessage, *, now: dt.datetime) -> bool:
        if message.dedupe_key in self._d.outbox:
            return False
        self._d.outbox[message.dedupe_key] = message
        return True

    async def enqueue_many(self, messages: Sequence[OutgoingMessage], *, now: dt.datetime) -> None:
        for message in messages:
            await self.enqueue(message, now=now)


class _Missing:
    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, method: str) -> Any:
        raise NotImplementedError(f"FakeUnitOfWork has no {self._name}.{method}: use a database")


class FakeUnitOfWork:
    def __init__(self, data: _Data, publish: Any) -> None:
        self._data = data
        self._publish = publish
        self.conversations = _Conversations(data)
        self.links = _Links(data)
        self.buttons = _Buttons(data)
        self.audit = _Audit(data)
        self.events = _Events(data)
        self.outbox = _Outbox(data)
        for name in (
            "otps",
            "absences",
            "substitutes",
            "notifications",
            "privacy",
            "polls",
            "posts",
            "threads",
            "web_sign_ins",
        ):
            setattr(self, name, _Missing(name))

    async def commit(self) -> None:
        self._publish(self._data)


class FakeUnitOfWorkFactory:
    """:class:`bot.ports.UnitOfWorkFactory` over one in-memory store."""

    def __init__(self) -> None:
        self.committed = _Data()
        self.commits = 0

    def _publish(self, data: _Data) -> None:
        self.committed = copy.deepcopy(data)
        self.commits += 1

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[FakeUnitOfWork]:
        yield FakeUnitOfWork(copy.deepcopy(self.committed), self._publish)


class DemoBackend:
    """The demo school (:func:`bot.backends.demo_data.build_demo_school`) answered from
    memory: the :class:`bot.ports.SchoolBackend` reads, no writes."""

    def __init__(self, school: DemoSchool | None = None) -> None:
        self._s = school or build_demo_school()
        self.capabilities = frozenset(
            {Capability.SCORES, Capability.TIMETABLE, Capability.FEES, Capability.ATTENDANCE}
        )

    async def school_info(self) -> SchoolInfo:
        return self._s.info

    async def find_student(self, code: str) -> Student | None:
        wanted = fold(code).replace(" ", "").upper()
        return next((s for s in self._s.students if s.code.upper() == wanted), None)

    async def get_student(self, student_id: str) -> Student | None:
        return next((s for s in self._s.students if s.id == student_id), None)

    async def guardians(self, student_id: str) -> Sequence[Guardian]:
        ids = [g.guardian_id for g in self._s.guardian_links if g.student_id == student_id]
        return [g for i in ids for g in self._s.guardians if g.id == i]

    async def scores(self, student_id: str, term: Term) -> Sequence[SubjectScores]:
        return [s for sid, s in self._s.scores if sid == student_id and s.term == term]

    async def timetable(self, class_id: str) -> Sequence[TimetableSlot]:
        return [t for t in self._s.timetable if t.class_id == class_id]

    async def fees(self, student_id: str) -> Sequence[FeeItem]:
        return [f for f in self._s.fees if f.student_id == student_id]

    async def attendance(self, student_id: str) -> Sequence[AttendanceRecord]:
        return [a for a in self._s.attendance if a.student_id == student_id]

    async def classes(self) -> Sequence[SchoolClass]:
        return self._s.classes

    async def teachers(self) -> Sequence[Teacher]:
        return self._s.teachers

    async def find_teacher(self, code: str) -> Teacher | None:
        return next((t for t in self._s.teachers if t.code.upper() == code.upper()), None)

    async def class_students(self, class_id: str) -> Sequence[Student]:
        return [s for s in self._s.students if s.class_id == class_id]


def guardian_link(
    key: ConversationKey, student: Student, guardian: Guardian, at: dt.datetime
) -> Link:
    return Link(
        id=0,
        key=key,
        role=LinkRole.GUARDIAN,
        subject_id=student.id,
        person_id=guardian.id,
        consent_version="test",
        consent_at=at,
        verified_at=at,
    )


__all__ = ["DemoBackend", "FakeUnitOfWork", "FakeUnitOfWorkFactory", "guardian_link"]
