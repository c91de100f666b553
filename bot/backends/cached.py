"""A read cache in front of a remote school backend: answers survive a slow or down QLHS.

Every read goes to the school system with an overall time limit (retries included), unless
the same answer was fetched less than ``fresh_for`` ago. When the school system fails
(``BackendUnavailable``/``BackendAuthFailed`` or the time limit), the last good answer is
served if it is at most ``max_age`` old, and the moment it was fetched is reported to the
``note`` callback of the view that asked, so the reply can say "cập nhật lúc 14:05".
Otherwise the error goes up and the parent reads ``error.backend_unavailable``.

Writes (``record_absence``) are never cached or hidden: they go straight through.
The cache is per process and bounded (least recently used entries are dropped).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from bot.domain.errors import BackendAuthFailed, BackendUnavailable
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
from bot.ports import Capability, ChangeBatch, Clock, SchoolBackend, StaleNote

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Entry:
    value: Any
    fetched_at: dt.datetime


def _ignore(fetched_at: dt.datetime) -> None:
    return None


class CachedBackend:
    """Wraps any :class:`SchoolBackend`; is one too. ``observed(note)`` gives a per-turn view."""

    def __init__(
        self,
        inner: SchoolBackend,
        *,
        clock: Clock,
        max_age: dt.timedelta,
        fresh_for: dt.timedelta = dt.timedelta(seconds=30),
        timeout_seconds: float = 10.0,
        max_entries: int = 20_000,
        changes_timeout_seconds: float | None = None,
    ) -> None:
        self.inner = inner
        self._clock = clock
        self._max_age = max_age
        self._fresh_for = fresh_for
        self._timeout = timeout_seconds
        # A change poll reads page after page (a day of marks after an outage): it gets longer
        # than one read, or a backlog would time out on every tick and never be read.
        self._changes_timeout = changes_timeout_seconds or timeout_seconds * 6
        self._max_entries = max_entries
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()

    @property
    def capabilities(self) -> frozenset[Capability]:
        return self.inner.capabilities

    def observed(self, note: StaleNote) -> SchoolBackend:
        """A view whose reads report, through ``note``, when a cached answer was served."""
        return _View(self, note)

    async def read(self, key: Hashable, call: Callable[[], Awaitable[T]], note: StaleNote) -> T:
        now = self._clock.now()
        entry = self._entries.get(key)
        if entry is not None and now - entry.fetched_at < self._fresh_for:
            self._entries.move_to_end(key)
            return entry.value  # type: ignore[no-any-return]
        try:
            value = await asyncio.wait_for(call(), self._timeout)
        except (BackendUnavailable, BackendAuthFailed, TimeoutError) as err:
            if entry is not None and now - entry.fetched_at <= self._max_age:
                log.warning(
                    "school system failed (%s); serving %s from cache",
                    type(err).__name__,
                    key[0] if isinstance(key, tuple) else "a read",
                )
                note(entry.fetched_at)
                return entry.value  # type: ignore[no-any-return]
            if isinstance(err, TimeoutError):
                raise BackendUnavailable(f"no answer within {self._timeout} s") from err
            raise
        self._entries[key] = _Entry(value, now)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return value

    # The plain SchoolBackend methods (a turn that is not observed ignores the age).
    def _plain(self) -> _View:
        return _View(self, _ignore)

    async def school_info(self) -> SchoolInfo:
        return await self._plain().school_info()

    async def find_student(self, code: str) -> Student | None:
        return await self._plain().find_student(code)

    async def get_student(self, student_id: str) -> Student | None:
        return await self._plain().get_student(student_id)

    async def guardians(self, student_id: str) -> Sequence[Guardian]:
        return await self._plain().guardians(student_id)

    async def scores(self, student_id: str, term: Term) -> Sequence[SubjectScores]:
        return await self._plain().scores(student_id, term)

    async def timetable(self, class_id: str) -> Sequence[TimetableSlot]:
        return await self._plain().timetable(class_id)

    async def fees(self, student_id: str) -> Sequence[FeeItem]:
        return await self._plain().fees(student_id)

    async def attendance(self, student_id: str) -> Sequence[AttendanceRecord]:
        return await self._plain().attendance(student_id)

    async def classes(self) -> Sequence[SchoolClass]:
        return await self._plain().classes()

    async def teachers(self) -> Sequence[Teacher]:
        return await self._plain().teachers()

    async def find_teacher(self, code: str) -> Teacher | None:
        return await self._plain().find_teacher(code)

    async def class_students(self, class_id: str) -> Sequence[Student]:
        return await self._plain().class_students(class_id)

    async def changes_since(
        self, watermark: dt.datetime | None, *, now: dt.datetime
    ) -> ChangeBatch:
        """Never cached: a change must not be reported from a stale answer. A poll that hangs
        is ``BackendUnavailable`` (the scheduler tries again next tick)."""
        try:
            return await asyncio.wait_for(
                self.inner.changes_since(watermark, now=now), self._changes_timeout
            )
        except TimeoutError as err:
            raise BackendUnavailable(f"no answer within {self._changes_timeout} s") from err

    async def record_absence(
        self, student_id: str, day: dt.date, session: str, *, excused: bool, reason: str
    ) -> None:
        try:
            await asyncio.wait_for(
                self.inner.record_absence(student_id, day, session, excused=excused, reason=reason),
                self._timeout,
            )
        except TimeoutError as err:
            raise BackendUnavailable(f"no answer within {self._timeout} s") from err


class _View:
    def __init__(self, cache: CachedBackend, note: StaleNote) -> None:
        self._cache = cache
        self._inner = cache.inner
        self._note = note

    @property
    def capabilities(self) -> frozenset[Capability]:
        return self._inner.capabilities

    async def school_info(self) -> SchoolInfo:
        return await self._cache.read(("school_info",), self._inner.school_info, self._note)

    async def find_student(self, code: str) -> Student | None:
        folded = "".join(code.split()).upper()
        return await self._cache.read(
            ("find_student", folded), lambda: self._inner.find_student(code), self._note
        )

    async def get_student(self, student_id: str) -> Student | None:
        return await self._cache.read(
            ("get_student", student_id), lambda: self._inner.get_student(student_id), self._note
        )

    async def guardians(self, student_id: str) -> Sequence[Guardian]:
        return await self._cache.read(
            ("guardians", student_id), lambda: self._inner.guardians(student_id), self._note
        )

    async def scores(self, student_id: str, term: Term) -> Sequence[SubjectScores]:
        return await self._cache.read(
            ("scores", student_id, int(term)),
            lambda: self._inner.scores(student_id, term),
            self._note,
        )

    async def timetable(self, class_id: str) -> Sequence[TimetableSlot]:
        return await self._cache.read(
            ("timetable", class_id), lambda: self._inner.timetable(class_id), self._note
        )

    async def fees(self, student_id: str) -> Sequence[FeeItem]:
        return await self._cache.read(
            ("fees", student_id), lambda: self._inner.fees(student_id), self._note
        )

    async def attendance(self, student_id: str) -> Sequence[AttendanceRecord]:
        return await self._cache.read(
            ("attendance", student_id), lambda: self._inner.attendance(student_id), self._note
        )

    async def classes(self) -> Sequence[SchoolClass]:
        return await self._cache.read(("classes",), self._inner.classes, self._note)

    async def teachers(self) -> Sequence[Teacher]:
        return await self._cache.read(("teachers",), self._inner.teachers, self._note)

    async def find_teacher(self, code: str) -> Teacher | None:
        folded = "".join(code.split()).upper()
        return await self._cache.read(
            ("find_teacher", folded), lambda: self._inner.find_teacher(code), self._note
        )

    async def class_students(self, class_id: str) -> Sequence[Student]:
        return await self._cache.read(
            ("class_students", class_id), lambda: self._inner.class_students(class_id), self._note
        )

    async def changes_since(
        self, watermark: dt.datetime | None, *, now: dt.datetime
    ) -> ChangeBatch:
        return await self._cache.changes_since(watermark, now=now)

    async def record_absence(
        self, student_id: str, day: dt.date, session: str, *, excused: bool, reason: str
    ) -> None:
        await self._cache.record_absence(student_id, day, session, excused=excused, reason=reason)
