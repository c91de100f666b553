"""The ``local`` backend: a school's data mirrored in LienLac's own SQL tables.

Filled by the demo seed (``bot.backends.local_seed``) or, later, by spreadsheet import.
This is the default backend and what the demo school uses.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Collection, Hashable, Sequence
from decimal import Decimal
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, bindparam, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.backends.base import BackendDeps, BackendManifest
from bot.domain.digest import absence_payload, fee_payload, score_payload
from bot.domain.errors import BackendUnavailable
from bot.domain.models import (
    AttendanceRecord,
    FeeItem,
    GradingForm,
    Guardian,
    SchoolClass,
    SchoolInfo,
    Session,
    Student,
    SubjectScores,
    Teacher,
    Term,
    TimetableSlot,
)
from bot.domain.text import fold
from bot.ports import Capability, Change, ChangeBatch, Family
from storage.tables import (
    AttendanceRow,
    FeeItemRow,
    GuardianRow,
    School,
    SchoolClassRow,
    ScoreRow,
    StudentGuardianRow,
    StudentRow,
    SubjectRow,
    TeacherAssignmentRow,
    TeacherRow,
    TimetableSlotRow,
)


def _factory(config: object, deps: BackendDeps) -> LocalBackend:
    if deps.sessions is None:
        raise ValueError("the local backend needs LienLac's database")
    return LocalBackend(deps.sessions, deps.school_id)


manifest = BackendManifest(
    name="local",
    title="LienLac's own tables (demo seed or spreadsheet import)",
    capabilities=frozenset(
        {
            Capability.STUDENTS,
            Capability.SCORES,
            Capability.TIMETABLE,
            Capability.FEES,
            Capability.ATTENDANCE,
            Capability.STAFF,
            Capability.ABSENCE_WRITE,
            Capability.ROSTER,
            Capability.CHANGES,
        }
    ),
    factory=lambda config, deps: _factory(config, deps),
)


def _guardian(row: GuardianRow) -> Guardian:
    return Guardian(
        id=row.id, name=row.name, phone=row.phone, relation=row.relation, sms_only=row.sms_only
    )


def fold_code(code: str) -> str:
    """The lookup form of a student or staff code: trimmed, upper-case, no inner spaces."""
    return "".join(code.split()).upper()


def tenths_to_decimal(tenths: int) -> Decimal:
    return Decimal(tenths) / 10


T = TypeVar("T")

_SCORE = ScoreRow.__table__
_TERM_SCORES = (
    select(_SCORE)
    .where(
        _SCORE.c.school_id == bindparam("school_id"),
        _SCORE.c.student_id == bindparam("student_id"),
        _SCORE.c.term == bindparam("term"),
    )
    .order_by(_SCORE.c.subject_code, _SCORE.c.kind, _SCORE.c.seq)
)

SETTLED_FOR = 30.0  # seconds the slow-changing data (school, pupils, subjects, timetable) is kept
SETTLED_ENTRIES = 20_000
PREFETCH_CHUNK = 1000  # pupils or classes per query


class LocalBackend:
    """Reads one school's mirror tables. Database errors become ``BackendUnavailable``.

    The data that changes only with an import (the school, a pupil's class and name, the
    subject list, a class's timetable) is kept in process memory for :data:`SETTLED_FOR`
    seconds: every question used to read it again (issue 15). Scores, fees, attendance and
    guardians are always read fresh: an approval or an import shows at once.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        school_id: str,
        *,
        settled_for: float = SETTLED_FOR,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._school_id = school_id
        self._settled_for = settled_for
        self._monotonic = monotonic
        self._settled: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()

    async def _kept(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        now = self._monotonic()
        found = self._settled.get(key)
        if found is not None and now - found[0] < self._settled_for:
            self._settled.move_to_end(key)
            return cast(T, found[1])
        value = await load()
        self._keep(key, value, now)
        return value

    def _keep(self, key: Hashable, value: object, now: float) -> None:
        self._settled[key] = (now, value)
        self._settled.move_to_end(key)
        while len(self._settled) > SETTLED_ENTRIES:
            self._settled.popitem(last=False)

    def _is_kept(self, key: Hashable, now: float) -> bool:
        found = self._settled.get(key)
        return found is not None and now - found[0] < self._settled_for

    async def prefetch(self, student_ids: Collection[str], *, timetables: bool) -> None:
        """Read these pupils (and, with ``timetables``, their classes' timetables) in a few
        queries and keep them as :meth:`get_student` and :meth:`timetable` would: the digest
        tick asks for thousands, and one query each was most of its time (issue 15)."""
        now = self._monotonic()
        wanted = [i for i in dict.fromkeys(student_ids) if not self._is_kept(("student", i), now)]
        for start in range(0, len(wanted), PREFETCH_CHUNK):
            chunk = wanted[start : start + PREFETCH_CHUNK]
            found = {st.id: st for st in await self._students_where(StudentRow.id.in_(chunk))}
            for student_id in chunk:
                self._keep(("student", student_id), found.get(student_id), now)
        if not timetables:
            return
        classes: set[str] = set()
        for student_id in student_ids:
            kept = self._settled.get(("student", student_id))
            if kept is not None and kept[1] is not None:
                classes.add(kept[1].class_id)
        missing = sorted(c for c in classes if not self._is_kept(("timetable", c), now))
        for start in range(0, len(missing), PREFETCH_CHUNK):
            chunk = missing[start : start + PREFETCH_CHUNK]
            slots: dict[str, list[TimetableSlot]] = {c: [] for c in chunk}
            for slot in await self._timetable_where(TimetableSlotRow.class_id.in_(chunk)):
                slots[slot.class_id].append(slot)
            for class_id, found_slots in slots.items():
                self._keep(("timetable", class_id), found_slots, now)

    @property
    def capabilities(self) -> frozenset[Capability]:
        return manifest.capabilities

    async def school_info(self) -> SchoolInfo:
        return await self._kept("school", self._school_info)

    async def _school_info(self) -> SchoolInfo:
        async with self._read() as s:
            row = await s.get(School, self._school_id)
        if row is None:
            return SchoolInfo(id=self._school_id, name=self._school_id)
        return SchoolInfo(
            id=row.id,
            name=row.name,
            timezone=row.timezone,
            school_year=row.school_year,
            current_term=Term(row.current_term),
        )

    async def find_student(self, code: str) -> Student | None:
        folded = fold_code(code)
        if not folded:
            return None
        return await self._student_where(StudentRow.code_folded == folded)

    async def get_student(self, student_id: str) -> Student | None:
        return await self._kept(
            ("student", student_id), lambda: self._student_where(StudentRow.id == student_id)
        )

    async def _student_where(self, condition: object) -> Student | None:
        found = await self._students_where(condition)
        return found[0] if found else None

    async def class_students(self, class_id: str) -> Sequence[Student]:
        students = await self._students_where(StudentRow.class_id == class_id)
        return sorted(students, key=lambda st: (st.given_name, st.full_name))

    async def _students_where(self, condition: object) -> list[Student]:
        async with self._read() as s:
            found = (
                await s.execute(
                    select(  # columns, not ORM objects: the digest tick reads thousands
                        StudentRow.id,
                        StudentRow.school_id,
                        StudentRow.code,
                        StudentRow.full_name,
                        StudentRow.class_id,
                        SchoolClassRow.name,
                        StudentRow.birth_date,
                    )
                    .join(
                        SchoolClassRow,
                        (SchoolClassRow.school_id == StudentRow.school_id)
                        & (SchoolClassRow.id == StudentRow.class_id),
                    )
                    .where(StudentRow.school_id == self._school_id, condition)  # type: ignore[arg-type]
                )
            ).all()
        return [
            Student(
                id=student_id,
                school_id=school_id,
                code=code,
                full_name=full_name,
                class_id=class_id,
                class_name=class_name,
                birth_date=birth_date,
            )
            for student_id, school_id, code, full_name, class_id, class_name, birth_date in found
        ]

    async def guardians(self, student_id: str) -> Sequence[Guardian]:
        async with self._read() as s:
            rows = await s.scalars(
                select(GuardianRow)
                .join(
                    StudentGuardianRow,
                    (StudentGuardianRow.school_id == GuardianRow.school_id)
                    & (StudentGuardianRow.guardian_id == GuardianRow.id),
                )
                .where(
                    StudentGuardianRow.school_id == self._school_id,
                    StudentGuardianRow.student_id == student_id,
                )
                .order_by(StudentGuardianRow.position, GuardianRow.id)
            )
            return [_guardian(g) for g in rows]

    async def families(self) -> Sequence[Family]:
        """Every pupil with its guardians (``FamilyRoster``), by class then name."""
        students = await self._students_where(StudentRow.id.is_not(None))
        async with self._read() as s:
            found = (
                await s.execute(
                    select(StudentGuardianRow.student_id, GuardianRow)
                    .join(
                        GuardianRow,
                        (StudentGuardianRow.school_id == GuardianRow.school_id)
                        & (StudentGuardianRow.guardian_id == GuardianRow.id),
                    )
                    .where(StudentGuardianRow.school_id == self._school_id)
                    .order_by(StudentGuardianRow.position, GuardianRow.id)
                )
            ).all()
        of: dict[str, list[Guardian]] = defaultdict(list)
        for student_id, row in found:
            of[student_id].append(_guardian(row))
        students.sort(key=lambda st: (st.class_name, fold(st.given_name), fold(st.full_name)))
        return [Family(student=st, guardians=tuple(of.get(st.id, ()))) for st in students]

    async def sms_only_guardians(self) -> Sequence[tuple[Guardian, tuple[str, ...]]]:
        """The guardians marked "SMS only" with a phone, each with their pupils' ids."""
        async with self._read() as s:
            found = (
                await s.execute(
                    select(GuardianRow, StudentGuardianRow.student_id)
                    .join(
                        StudentGuardianRow,
                        (StudentGuardianRow.school_id == GuardianRow.school_id)
                        & (StudentGuardianRow.guardian_id == GuardianRow.id),
                    )
                    .where(
                        GuardianRow.school_id == self._school_id,
                        GuardianRow.sms_only.is_(True),
                        GuardianRow.phone != "",
                    )
                    .order_by(GuardianRow.id, StudentGuardianRow.student_id)
                )
            ).all()
        guardians: dict[str, Guardian] = {}
        pupils: dict[str, list[str]] = defaultdict(list)
        for row, student_id in found:
            guardians.setdefault(row.id, _guardian(row))
            pupils[row.id].append(student_id)
        return [(g, tuple(pupils[gid])) for gid, g in guardians.items()]

    async def _subjects(self) -> list[tuple[str, str, str]]:
        async with self._read() as s:
            return [
                (r.code, r.name, r.form)
                for r in await s.scalars(
                    select(SubjectRow)
                    .where(SubjectRow.school_id == self._school_id)
                    .order_by(SubjectRow.position, SubjectRow.code)
                )
            ]

    async def scores(self, student_id: str, term: Term) -> Sequence[SubjectScores]:
        subjects = await self._kept("subjects", self._subjects)
        async with self._read() as s:
            # Core rows, not ORM objects: a pupil has some 70 score rows a term, and building
            # tracked objects for them cost more than the query (issue 15)
            rows = list(
                await s.execute(
                    _TERM_SCORES,
                    {"school_id": self._school_id, "student_id": student_id, "term": int(term)},
                )
            )
        by_subject: dict[str, list[Any]] = defaultdict(list)
        for r in rows:
            by_subject[r.subject_code].append(r)
        result = []
        for code, name, form in subjects:
            subject_rows = by_subject.get(code, [])
            if not subject_rows:
                continue
            regular = tuple(
                tenths_to_decimal(r.tenths)
                for r in subject_rows
                if r.kind == "tx" and r.tenths is not None
            )
            mid = [
                tenths_to_decimal(r.tenths)
                for r in subject_rows
                if r.kind == "gk" and r.tenths is not None
            ]
            fin = [
                tenths_to_decimal(r.tenths)
                for r in subject_rows
                if r.kind == "ck" and r.tenths is not None
            ]
            comments = tuple(bool(r.passed) for r in subject_rows if r.kind == "cmt")
            result.append(
                SubjectScores(
                    subject_code=code,
                    subject_name=name,
                    form=GradingForm(form),
                    term=term,
                    regular=regular,
                    midterm=mid[0] if mid else None,
                    final=fin[0] if fin else None,
                    required_regular=max(r.required_regular for r in subject_rows),
                    comment_results=comments,
                    updated_at=max(r.updated_at for r in subject_rows),
                )
            )
        return result

    async def timetable(self, class_id: str) -> Sequence[TimetableSlot]:
        return await self._kept(("timetable", class_id), lambda: self._timetable(class_id))

    async def _timetable(self, class_id: str) -> list[TimetableSlot]:
        return await self._timetable_where(TimetableSlotRow.class_id == class_id)

    async def _timetable_where(self, condition: object) -> list[TimetableSlot]:
        async with self._read() as s:
            rows = await s.scalars(
                select(TimetableSlotRow)
                .where(
                    TimetableSlotRow.school_id == self._school_id,
                    condition,  # type: ignore[arg-type]
                )
                .order_by(
                    TimetableSlotRow.class_id,
                    TimetableSlotRow.weekday,
                    TimetableSlotRow.session.desc(),
                    TimetableSlotRow.period,
                )
            )
            return [
                TimetableSlot(
                    class_id=r.class_id,
                    weekday=r.weekday,
                    session=Session(r.session),
                    period=r.period,
                    subject_name=r.subject_name,
                    teacher_name=r.teacher_name,
                    room=r.room,
                )
                for r in rows
            ]

    async def fees(self, student_id: str) -> Sequence[FeeItem]:
        async with self._read() as s:
            rows = await s.scalars(
                select(FeeItemRow)
                .where(FeeItemRow.school_id == self._school_id, FeeItemRow.student_id == student_id)
                .order_by(FeeItemRow.due_date, FeeItemRow.id)
            )
            return [
                FeeItem(
                    id=r.id,
                    student_id=r.student_id,
                    name=r.name,
                    amount=r.amount,
                    due_date=r.due_date,
                    paid=r.paid_at is not None,
                    mandatory=r.mandatory,
                    paid_at=r.paid_at,
                )
                for r in rows
            ]

    async def attendance(self, student_id: str) -> Sequence[AttendanceRecord]:
        async with self._read() as s:
            rows = await s.scalars(
                select(AttendanceRow)
                .where(
                    AttendanceRow.school_id == self._school_id,
                    AttendanceRow.student_id == student_id,
                )
                .order_by(AttendanceRow.date, AttendanceRow.session)
            )
            return [
                AttendanceRecord(
                    student_id=r.student_id,
                    date=r.date,
                    session=None if r.session == "day" else Session(r.session),
                    excused=r.excused,
                    reason=r.reason,
                )
                for r in rows
            ]

    async def classes(self) -> Sequence[SchoolClass]:
        async with self._read() as s:
            rows = await s.scalars(
                select(SchoolClassRow)
                .where(SchoolClassRow.school_id == self._school_id)
                .order_by(SchoolClassRow.grade, SchoolClassRow.name)
            )
            return [
                SchoolClass(
                    id=r.id,
                    school_id=r.school_id,
                    name=r.name,
                    grade=r.grade,
                    homeroom_teacher_id=r.homeroom_teacher_id,
                )
                for r in rows
            ]

    async def teachers(self) -> Sequence[Teacher]:
        return await self._teachers_where(None)

    async def find_teacher(self, code: str) -> Teacher | None:
        folded = fold_code(code)
        if not folded:
            return None
        found = await self._teachers_where(folded)
        return found[0] if found else None

    async def _teachers_where(self, code_folded: str | None) -> list[Teacher]:
        async with self._read() as s:
            query = select(TeacherRow).where(TeacherRow.school_id == self._school_id)
            if code_folded is not None:
                query = query.where(TeacherRow.code_folded == code_folded)
            teachers = list(await s.scalars(query.order_by(TeacherRow.code)))
            assignments = list(
                await s.scalars(
                    select(TeacherAssignmentRow).where(
                        TeacherAssignmentRow.school_id == self._school_id,
                        TeacherAssignmentRow.teacher_id.in_([t.id for t in teachers]),
                    )
                )
            )
        homeroom: dict[str, set[str]] = defaultdict(set)
        subject: dict[str, set[str]] = defaultdict(set)
        for a in assignments:
            (homeroom if a.role == "homeroom" else subject)[a.teacher_id].add(a.class_id)
        return [
            Teacher(
                id=t.id,
                school_id=t.school_id,
                code=t.code,
                full_name=t.full_name,
                phone=t.phone,
                homeroom_class_ids=tuple(sorted(homeroom[t.id])),
                subject_class_ids=tuple(sorted(subject[t.id])),
            )
            for t in teachers
        ]

    async def record_absence(
        self, student_id: str, day: dt.date, session: str, *, excused: bool, reason: str
    ) -> None:
        try:
            async with self._sessions() as s:
                row = await s.get(AttendanceRow, (self._school_id, student_id, day, session))
                if row is None:
                    s.add(
                        AttendanceRow(
                            school_id=self._school_id,
                            student_id=student_id,
                            date=day,
                            session=session,
                            excused=excused,
                            reason=reason[:300],
                            recorded_at=dt.datetime.now(dt.UTC),
                        )
                    )
                elif row.excused != excused or row.reason != reason[:300]:
                    row.excused = excused
                    row.reason = reason[:300]
                    row.recorded_at = dt.datetime.now(dt.UTC)  # change detection sees it
                await s.commit()
        except SQLAlchemyError as err:
            raise BackendUnavailable("attendance could not be written") from err

    async def changes_since(
        self, watermark: dt.datetime | None, *, now: dt.datetime
    ) -> ChangeBatch:
        """Scores by ``updated_at``, absences by ``recorded_at``, unpaid fees by ``updated_at``
        (each indexed with ``school_id``)."""
        if watermark is None:
            return ChangeBatch(changes=(), watermark=now)
        sid = self._school_id
        async with self._read() as s:
            scores = (
                await s.execute(
                    select(ScoreRow, SubjectRow.name)
                    .join(
                        SubjectRow,
                        (SubjectRow.school_id == ScoreRow.school_id)
                        & (SubjectRow.code == ScoreRow.subject_code),
                    )
                    .where(ScoreRow.school_id == sid, ScoreRow.updated_at > watermark)
                    .order_by(ScoreRow.updated_at)
                )
            ).all()
            absences = list(
                await s.scalars(
                    select(AttendanceRow)
                    .where(AttendanceRow.school_id == sid, AttendanceRow.recorded_at > watermark)
                    .order_by(AttendanceRow.recorded_at)
                )
            )
            fees = list(
                await s.scalars(
                    select(FeeItemRow)
                    .where(
                        FeeItemRow.school_id == sid,
                        FeeItemRow.updated_at > watermark,
                        FeeItemRow.paid_at.is_(None),
                    )
                    .order_by(FeeItemRow.updated_at)
                )
            )
        changes: list[Change] = []
        newest = watermark
        for score, subject_name in scores:
            newest = max(newest, score.updated_at)
            payload = score_payload(
                subject=subject_name,
                score_kind=score.kind,
                term=score.term,
                value=tenths_to_decimal(score.tenths) if score.tenths is not None else None,
                passed=bool(score.passed) if score.tenths is None else None,
            )
            changes.append(
                Change(
                    kind="scores",
                    student_id=score.student_id,
                    key=(
                        f"score:{score.student_id}:{score.subject_code}:{score.term}:"
                        f"{score.kind}:{score.seq}:{score.updated_at.isoformat()}"
                    ),
                    occurred_at=score.updated_at,
                    payload=payload,
                )
            )
        for absence in absences:
            newest = max(newest, absence.recorded_at)
            changes.append(
                Change(
                    kind="attendance",
                    student_id=absence.student_id,
                    key=(
                        f"absence:{absence.student_id}:{absence.date.isoformat()}:"
                        f"{absence.session}:{'e' if absence.excused else 'u'}"
                    ),
                    occurred_at=absence.recorded_at,
                    payload=absence_payload(
                        date=absence.date, session=absence.session, excused=absence.excused
                    ),
                    urgent=not absence.excused,  # absent without leave: the family should know now
                )
            )
        for fee in fees:
            assert fee.updated_at is not None
            newest = max(newest, fee.updated_at)
            changes.append(
                Change(
                    kind="fees",
                    student_id=fee.student_id,
                    key=f"fee:{fee.id}:{fee.updated_at.isoformat()}",
                    occurred_at=fee.updated_at,
                    payload=fee_payload(name=fee.name, amount=fee.amount, due_date=fee.due_date),
                )
            )
        return ChangeBatch(changes=tuple(changes), watermark=newest)

    def _read(self) -> _ReadSession:
        return _ReadSession(self._sessions)


class _ReadSession:
    """A short read-only session whose database errors surface as ``BackendUnavailable``."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> AsyncSession:
        self._session = self._sessions()
        return self._session

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        assert self._session is not None
        await self._session.close()
        if isinstance(exc, SQLAlchemyError):
            raise BackendUnavailable("local tables could not be read") from exc


async def mark_fees_paid(
    sessions: async_sessionmaker[AsyncSession],
    school_id: str,
    fees: Sequence[tuple[str, str]],
    *,
    paid_at: dt.datetime,
) -> int:
    """Mark ``(student_id, fee_id)`` items paid (``fees reconcile``); an item already paid is
    left as it is. Returns how many were marked, in one transaction."""
    marked = 0
    async with sessions.begin() as s:
        for student_id, fee_id in fees:
            result = await s.execute(
                update(FeeItemRow)
                .where(
                    FeeItemRow.school_id == school_id,
                    FeeItemRow.id == fee_id,
                    FeeItemRow.student_id == student_id,
                    FeeItemRow.paid_at.is_(None),
                )
                .values(paid_at=paid_at, updated_at=paid_at)
            )
            marked += cast("CursorResult[Any]", result).rowcount or 0
    return marked
