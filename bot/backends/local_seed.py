"""Write a school's data into the ``local`` backend's tables: the demo seed and ``demo reset``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.backends.demo_data import DemoSchool
from bot.backends.local import fold_code
from bot.domain.models import GradingForm
from storage.tables import (
    AttendanceRow,
    AuditEvent,
    Base,
    ButtonToken,
    ChatLink,
    ConversationStateRow,
    FeeItemRow,
    GuardianRow,
    OtpChallengeRow,
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

# Deleted child tables first (foreign keys point from them to the parents below them).
SCHOOL_TABLES: tuple[type[Base], ...] = (
    ButtonToken,
    OtpChallengeRow,
    ChatLink,
    ConversationStateRow,
    AuditEvent,
    AttendanceRow,
    FeeItemRow,
    ScoreRow,
    TimetableSlotRow,
    StudentGuardianRow,
    TeacherAssignmentRow,
    StudentRow,
    GuardianRow,
    TeacherRow,
    SubjectRow,
    SchoolClassRow,
    School,
)


def _tenths(x: Decimal) -> int:
    return int((x * 10).to_integral_value())


async def school_exists(sessions: async_sessionmaker[AsyncSession], school_id: str) -> bool:
    async with sessions() as s:
        return await s.scalar(select(School.id).where(School.id == school_id)) is not None


async def seed_school(
    sessions: async_sessionmaker[AsyncSession], demo: DemoSchool, *, now: dt.datetime
) -> bool:
    """Insert the school if it is not there yet. Returns True if it seeded."""
    sid = demo.info.id
    async with sessions() as s:
        if await s.scalar(select(School.id).where(School.id == sid)) is not None:
            return False
        s.add(
            School(
                id=sid,
                name=demo.info.name,
                timezone=demo.info.timezone,
                backend="local",
                school_year=demo.info.school_year,
                current_term=int(demo.info.current_term),
                created_at=now,
            )
        )
        s.add_all(
            SchoolClassRow(
                school_id=sid,
                id=c.id,
                name=c.name,
                grade=c.grade,
                homeroom_teacher_id=c.homeroom_teacher_id,
            )
            for c in demo.classes
        )
        s.add_all(
            SubjectRow(
                school_id=sid, code=subj.code, name=subj.name, form=subj.form.value, position=i
            )
            for i, subj in enumerate(demo.subjects)
        )
        s.add_all(
            TeacherRow(
                school_id=sid,
                id=t.id,
                code=t.code,
                code_folded=fold_code(t.code),
                full_name=t.full_name,
                phone=t.phone,
            )
            for t in demo.teachers
        )
        await s.flush()
        assignments: set[tuple[str, str, str, str]] = set()
        for t in demo.teachers:
            for cid in t.homeroom_class_ids:
                assignments.add((t.id, cid, "homeroom", ""))
        for a in demo.teaching:
            assignments.add((a.teacher_id, a.class_id, "subject", a.subject_code))
        for t in demo.teachers:
            for cid in t.subject_class_ids:
                if not any(x[0] == t.id and x[1] == cid and x[2] == "subject" for x in assignments):
                    assignments.add((t.id, cid, "subject", ""))
        s.add_all(
            TeacherAssignmentRow(
                school_id=sid, teacher_id=tid, class_id=cid, role=role, subject_code=subj
            )
            for tid, cid, role, subj in sorted(assignments)
        )
        s.add_all(
            StudentRow(
                school_id=sid,
                id=st.id,
                code=st.code,
                code_folded=fold_code(st.code),
                full_name=st.full_name,
                class_id=st.class_id,
                birth_date=st.birth_date,
            )
            for st in demo.students
        )
        s.add_all(
            GuardianRow(
                school_id=sid,
                id=g.id,
                name=g.name,
                phone=g.phone,
                relation=g.relation,
                sms_only=g.sms_only,
            )
            for g in demo.guardians
        )
        await s.flush()
        s.add_all(
            StudentGuardianRow(
                school_id=sid, student_id=link.student_id, guardian_id=link.guardian_id, position=i
            )
            for i, link in enumerate(demo.guardian_links)
        )
        for student_id, sc in demo.scores:
            updated = sc.updated_at or now
            term = int(sc.term)
            base = {
                "school_id": sid,
                "student_id": student_id,
                "subject_code": sc.subject_code,
                "term": term,
                "required_regular": sc.required_regular,
                "updated_at": updated,
            }
            if sc.form is GradingForm.COMMENT:
                for i, passed in enumerate(sc.comment_results, start=1):
                    s.add(ScoreRow(**base, kind="cmt", seq=i, tenths=None, passed=passed))
                continue
            for i, value in enumerate(sc.regular, start=1):
                s.add(ScoreRow(**base, kind="tx", seq=i, tenths=_tenths(value), passed=None))
            if sc.midterm is not None:
                s.add(ScoreRow(**base, kind="gk", seq=1, tenths=_tenths(sc.midterm), passed=None))
            if sc.final is not None:
                s.add(ScoreRow(**base, kind="ck", seq=1, tenths=_tenths(sc.final), passed=None))
        s.add_all(
            TimetableSlotRow(
                school_id=sid,
                class_id=slot.class_id,
                weekday=slot.weekday,
                session=slot.session.value,
                period=slot.period,
                subject_name=slot.subject_name,
                teacher_name=slot.teacher_name,
                room=slot.room,
            )
            for slot in demo.timetable
        )
        s.add_all(
            FeeItemRow(
                school_id=sid,
                id=f.id,
                student_id=f.student_id,
                name=f.name,
                amount=f.amount,
                due_date=f.due_date,
                mandatory=f.mandatory,
                paid_at=f.paid_at if f.paid else None,
                updated_at=now,
            )
            for f in demo.fees
        )
        s.add_all(
            AttendanceRow(
                school_id=sid,
                student_id=a.student_id,
                date=a.date,
                session=a.session.value if a.session else "day",
                excused=a.excused,
                reason=a.reason,
                recorded_at=now,
            )
            for a in demo.attendance
        )
        await s.commit()
        return True


async def delete_school(sessions: async_sessionmaker[AsyncSession], school_id: str) -> None:
    """Remove every row of one school: its data and every chat's links and state."""
    async with sessions() as s:
        for table in SCHOOL_TABLES:
            column = table.id if table is School else table.school_id  # type: ignore[attr-defined]
            await s.execute(delete(table).where(column == school_id))
        await s.commit()
