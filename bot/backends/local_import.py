"""Spreadsheet import, the database half: diff parsed records against the ``local`` tables
and write only what differs, in one transaction.

Rules (documented in the README):

* rows are matched on natural keys: class name, student code, teacher code, a guardian's
  phone number, (student, subject, term) for scores, (class, day, session, period) for the
  timetable, (student, fee name) for fees, (student, date, session) for attendance;
* importing the same file twice changes nothing; nothing is deleted except what a sheet
  replaces as a whole: a student's guardian list, a score row's cells (a cleared cell
  deletes that score), a class's timetable, a teacher's "Môn dạy" assignments;
* scores that are added or changed get ``updated_at = now``; unchanged scores keep theirs,
  which is how the notification layer finds new scores (``ix_score_updated``). Attendance
  rows get ``recorded_at = now`` when added or changed;
* a guardian dropped from a student's list loses the chats linked as that guardian;
* any error rejects the whole import: nothing is written. ``dry_run`` computes the same
  diff and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.backends.local import fold_code
from bot.backends.spreadsheet import (
    SPECS,
    Kind,
    Known,
    ParsedImport,
    Progress,
    Record,
    RowError,
    Said,
    check_references,
    fold_key,
)
from bot.domain.phone import normalize_phone
from bot.domain.subjects import SUBJECTS, required_regular_for, subject_by_code
from bot.domain.text import fold
from storage.tables import (
    AttendanceRow,
    AuditEvent,
    Base,
    ChatLink,
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

__all__ = ["ImportReport", "SheetSummary", "import_school"]

# Rows are written parents first (foreign keys point from later tables to earlier ones).
_WRITE_ORDER: tuple[type[Base], ...] = (
    School,
    SchoolClassRow,
    TeacherRow,
    SubjectRow,
    StudentRow,
    GuardianRow,
    StudentGuardianRow,
    TeacherAssignmentRow,
    ScoreRow,
    TimetableSlotRow,
    FeeItemRow,
    AttendanceRow,
    AuditEvent,
)
_CHUNK = 2000
_PAID_TIME = dt.time(5, 0)  # a paid date is stored as noon in Hà Nội (05:00 UTC)


@dataclass(slots=True)
class SheetSummary:
    title: str
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    changes: list[Said] = field(default_factory=list)  # "row 12: TX2, CK" (no codes, no phones)

    def note(self, row: int, fields: Sequence[str]) -> None:
        if fields:
            self.changed += 1
            self.changes.append(Said("row_changes", (("row", row), ("fields", ", ".join(fields)))))
        else:
            self.unchanged += 1


@dataclass(slots=True)
class ImportReport:
    school_id: str
    dry_run: bool
    errors: list[RowError] = field(default_factory=list)
    sheets: dict[Kind, SheetSummary] = field(default_factory=dict)
    school_created: bool = False
    school_changes: list[str] = field(default_factory=list)
    scores_touched: int = 0  # score cells added or changed: their updated_at is now
    written: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(slots=True)
class _Ops:
    inserts: dict[type[Base], list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    updates: dict[type[Base], list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    deletes: dict[type[Base], list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )


def _new_id(prefix: str, school_id: str, key: str) -> str:
    """A stable opaque id: the same school and key always give the same id, and the id does
    not reveal the student code or phone it was made from (ids do reach logs)."""
    digest = hashlib.sha256(f"{school_id}\x1f{key}".encode()).hexdigest()[:16]
    return f"{prefix}-{digest}"


async def import_school(
    sessions: async_sessionmaker[AsyncSession],
    parsed: ParsedImport,
    *,
    school_id: str,
    now: dt.datetime,
    name: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Diff ``parsed`` against the school's tables and, unless ``dry_run``, apply it."""
    report = ImportReport(school_id=school_id, dry_run=dry_run)
    async with sessions() as s:
        planner = _Planner(school_id, parsed, now, report)
        await planner.load(s)
        report.errors = list(parsed.errors) + check_references(parsed, planner.known())
        planner.plan_school(name)
        if report.errors:
            return report
        planner.plan()
        if dry_run:
            return report
        planner.ops.inserts[AuditEvent].append(
            {
                "school_id": school_id,
                "at": now,
                "actor": "cli",
                "action": "import",
                "detail": {
                    k.value: [v.added, v.changed, v.unchanged] for k, v in report.sheets.items()
                },
            }
        )
        try:
            await _apply(s, planner.ops, progress)
            await s.commit()
        except BaseException:
            await s.rollback()
            raise
        report.written = True
    return report


async def _apply(s: AsyncSession, ops: _Ops, progress: Progress | None) -> None:
    total = sum(len(v) for d in (ops.inserts, ops.updates, ops.deletes) for v in d.values())
    done = 0
    for table in _WRITE_ORDER:
        for kind, rows in (("insert", ops.inserts[table]), ("update", ops.updates[table])):
            for i in range(0, len(rows), _CHUNK):
                chunk = rows[i : i + _CHUNK]
                if kind == "insert":
                    # Core executemany, not the ORM's bulk insert: a third of the CPU, and on
                    # PostgreSQL a third of the time, for the 250,000 score cells of a 5,000-pupil
                    # school (bench/README.md, ``import``). Core takes one set of columns per
                    # statement, so rows are grouped by theirs.
                    for same in _by_columns(chunk):
                        await s.execute(insert(cast(Table, table.__table__)), same)
                else:
                    await s.execute(update(table), chunk)
                done += len(chunk)
                if progress is not None:
                    progress(Said("writing"), done, total)
    for table in reversed(_WRITE_ORDER):
        for key in ops.deletes[table]:
            conditions = [getattr(table, col) == value for col, value in key.items()]
            await s.execute(delete(table).where(*conditions))
            if table is StudentGuardianRow:
                await _revoke_chat_links(s, key)
            done += 1
        if progress is not None and ops.deletes[table]:
            progress(Said("writing"), done, total)


def _by_columns(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(frozenset(row), []).append(row)
    return list(groups.values())


async def _revoke_chat_links(s: AsyncSession, link: dict[str, Any]) -> None:
    """A guardian the school no longer lists for a student loses the chats linked as them:
    a verified chat must not outlive the school's record (custody changes, a wrong number)."""
    await s.execute(
        update(ChatLink)
        .where(
            ChatLink.school_id == link["school_id"],
            ChatLink.role == "guardian",
            ChatLink.subject_id == link["student_id"],
            ChatLink.person_id == link["guardian_id"],
            ChatLink.active.is_(True),
        )
        .values(active=False)
    )


class _Planner:
    """Loads the school's rows once, then turns every sheet into inserts/updates/deletes."""

    def __init__(
        self, school_id: str, parsed: ParsedImport, now: dt.datetime, report: ImportReport
    ) -> None:
        self.sid = school_id
        self.parsed = parsed
        self.now = now
        self.report = report
        self.ops = _Ops()

    # --- loading -----------------------------------------------------------------------

    async def load(self, s: AsyncSession) -> None:
        sid = self.sid
        self.school = await s.get(School, sid)

        async def rows(*cols: Any, where: Any) -> list[Any]:
            return list((await s.execute(select(*cols).where(where))).all())

        c = SchoolClassRow
        self.classes = {
            fold_key(r.name): r
            for r in await rows(
                c.id, c.name, c.grade, c.homeroom_teacher_id, where=c.school_id == sid
            )
        }
        t = TeacherRow
        self.teachers = {
            r.code_folded: r
            for r in await rows(
                t.id, t.code, t.code_folded, t.full_name, t.phone, where=t.school_id == sid
            )
        }
        a = TeacherAssignmentRow
        self.assignments = await rows(
            a.teacher_id, a.class_id, a.role, a.subject_code, where=a.school_id == sid
        )
        st = StudentRow
        self.students = {
            r.code_folded: r
            for r in await rows(
                st.id,
                st.code,
                st.code_folded,
                st.full_name,
                st.class_id,
                st.birth_date,
                where=st.school_id == sid,
            )
        }
        g = GuardianRow
        self.guardians: dict[str, Any] = {}
        for r in await rows(g.id, g.name, g.phone, g.relation, where=g.school_id == sid):
            phone = normalize_phone(r.phone) or r.phone
            self.guardians.setdefault(phone, r)
        sg = StudentGuardianRow
        self.links: dict[str, dict[str, int]] = defaultdict(dict)
        for r in await rows(sg.student_id, sg.guardian_id, sg.position, where=sg.school_id == sid):
            self.links[r.student_id][r.guardian_id] = r.position
        self.subjects = {
            r.code for r in await rows(SubjectRow.code, where=SubjectRow.school_id == sid)
        }
        self.scores: dict[tuple[str, str, int], dict[tuple[str, int], Any]] = defaultdict(dict)
        if self.parsed.of(Kind.SCORES):
            sc = ScoreRow
            for r in await rows(
                sc.student_id,
                sc.subject_code,
                sc.term,
                sc.kind,
                sc.seq,
                sc.tenths,
                sc.passed,
                sc.required_regular,
                where=sc.school_id == sid,
            ):
                self.scores[(r.student_id, r.subject_code, r.term)][(r.kind, r.seq)] = r
        tt = TimetableSlotRow
        self.slots: dict[str, dict[tuple[int, str, int], Any]] = defaultdict(dict)
        if self.parsed.of(Kind.TIMETABLE):
            for r in await rows(
                tt.class_id,
                tt.weekday,
                tt.session,
                tt.period,
                tt.subject_name,
                tt.teacher_name,
                tt.room,
                where=tt.school_id == sid,
            ):
                self.slots[r.class_id][(r.weekday, r.session, r.period)] = r
        f = FeeItemRow
        self.fees: dict[tuple[str, str], Any] = {}
        if self.parsed.of(Kind.FEES):
            for r in await rows(
                f.id,
                f.student_id,
                f.name,
                f.amount,
                f.due_date,
                f.mandatory,
                f.paid_at,
                where=f.school_id == sid,
            ):
                self.fees.setdefault((r.student_id, fold(r.name)), r)
        at = AttendanceRow
        self.attendance: dict[tuple[str, dt.date, str], Any] = {}
        if self.parsed.of(Kind.ATTENDANCE):
            for r in await rows(
                at.student_id, at.date, at.session, at.excused, at.reason, where=at.school_id == sid
            ):
                self.attendance[(r.student_id, r.date, r.session)] = r

    def known(self) -> Known:
        return Known(
            classes=frozenset(self.classes),
            students=frozenset(self.students),
            teachers=frozenset(self.teachers),
        )

    # --- planning ----------------------------------------------------------------------

    def _summary(self, kind: Kind) -> SheetSummary:
        if kind not in self.report.sheets:
            self.report.sheets[kind] = SheetSummary(self.parsed.sheet_title(kind))
        return self.report.sheets[kind]

    def plan_school(self, name: str | None) -> None:
        info = dict(self.parsed.info)
        if name:
            info["name"] = name.strip()
        if len(info.get("name", "")) > 200:
            self.report.errors.append(
                RowError(
                    SPECS[Kind.INFO].title, 0, "Tên trường", Said("too_long", (("limit", 200),))
                )
            )
            return
        if self.school is None:
            if not info.get("name"):
                self.report.errors.append(
                    RowError(
                        SPECS[Kind.INFO].title,
                        0,
                        "Tên trường",
                        Said("school_needs_name", (("school", self.sid),)),
                    )
                )
                return
            self.report.school_created = True
            self.ops.inserts[School].append(
                {
                    "id": self.sid,
                    "name": info["name"],
                    "backend": "local",
                    "school_year": info.get("school_year", ""),
                    "current_term": info.get("current_term", 1),
                    "created_at": self.now,
                }
            )
            return
        changes = {
            key: value
            for key, value in info.items()
            if key in ("name", "school_year", "current_term") and getattr(self.school, key) != value
        }
        if changes:
            self.report.school_changes = sorted(changes)
            self.ops.updates[School].append({"id": self.sid, **changes})

    def plan(self) -> None:
        missing = [subj for subj in SUBJECTS if subj.code not in self.subjects]
        for subj in missing:
            self.ops.inserts[SubjectRow].append(
                {
                    "school_id": self.sid,
                    "code": subj.code,
                    "name": subj.name,
                    "form": subj.form.value,
                    "position": SUBJECTS.index(subj),
                }
            )
        self._ids()
        self._classes_and_teachers()
        self._students()
        self._guardians()
        self._scores()
        self._timetable()
        self._fees()
        self._attendance()

    def _ids(self) -> None:
        """Ids for every class, teacher and student named in the file or the database."""
        self.class_id: dict[str, str] = {k: r.id for k, r in self.classes.items()}
        self.class_grade: dict[str, int] = {r.id: r.grade for r in self.classes.values()}
        taken = set(self.class_id.values())
        for r in self.parsed.of(Kind.CLASSES):
            key = fold_key(r["name"])
            if key not in self.class_id:
                readable = f"c-{key.lower()}"  # "6A" -> "c-6a", as in the demo school
                self.class_id[key] = (
                    readable if readable not in taken else _new_id("c", self.sid, key)
                )
                taken.add(self.class_id[key])
            self.class_grade[self.class_id[key]] = r["grade"]
        self.teacher_id: dict[str, str] = {k: r.id for k, r in self.teachers.items()}
        for r in self.parsed.of(Kind.TEACHERS):
            key = fold_key(r["code"])
            self.teacher_id.setdefault(key, _new_id("t", self.sid, key))
        self.student_id: dict[str, str] = {k: r.id for k, r in self.students.items()}
        self.student_class: dict[str, str] = {r.id: r.class_id for r in self.students.values()}
        for r in self.parsed.of(Kind.STUDENTS):
            key = fold_key(r["code"])
            stid = self.student_id.setdefault(key, _new_id("st", self.sid, key))
            self.student_class[stid] = self.class_id[fold_key(r["class_name"])]

    def _classes_and_teachers(self) -> None:
        # Who is homeroom teacher (GVCN) of which class: the class sheet, then the teachers'
        # "Lớp chủ nhiệm" (check_references refused contradictions).
        homeroom: dict[str, str | None] = {}
        for r in self.parsed.of(Kind.CLASSES):
            if "homeroom" in r.given:
                code = r["homeroom"]
                homeroom[fold_key(r["name"])] = self.teacher_id[fold_key(code)] if code else None
        for r in self.parsed.of(Kind.TEACHERS):
            for cls in r["homeroom"]:
                homeroom[fold_key(cls)] = self.teacher_id[fold_key(r["code"])]

        summary = self._summary(Kind.CLASSES) if self.parsed.of(Kind.CLASSES) else None
        in_sheet = set()
        for r in self.parsed.of(Kind.CLASSES):
            key = fold_key(r["name"])
            in_sheet.add(key)
            desired = {
                "name": r["name"],
                "grade": r["grade"],
                "homeroom_teacher_id": homeroom.get(key),
            }
            if key not in homeroom:
                old = self.classes.get(key)
                desired["homeroom_teacher_id"] = old.homeroom_teacher_id if old else None
            assert summary is not None
            self._upsert(
                SchoolClassRow,
                summary,
                r,
                self.classes.get(key),
                {"school_id": self.sid, "id": self.class_id[key]},
                desired,
                {"name": "Lớp", "grade": "Khối", "homeroom_teacher_id": "GVCN"},
            )
        for key, tid in homeroom.items():  # classes named only by a teacher's row
            old = self.classes.get(key)
            if key not in in_sheet and old is not None and old.homeroom_teacher_id != tid:
                self.ops.updates[SchoolClassRow].append(
                    {"school_id": self.sid, "id": old.id, "homeroom_teacher_id": tid}
                )

        # Teacher assignments: homeroom rows follow ``homeroom``; subject rows are replaced
        # for every teacher whose row has a "Môn dạy" column.
        existing = {(x.teacher_id, x.class_id, x.role, x.subject_code) for x in self.assignments}
        wanted: set[tuple[str, str, str, str]] = set()
        scope_homeroom = {self.class_id[k] for k in homeroom}
        for key, tid in homeroom.items():
            if tid is not None:
                wanted.add((tid, self.class_id[key], "homeroom", ""))
        scope_subject: set[str] = set()
        for r in self.parsed.of(Kind.TEACHERS):
            if "teaches" not in r.given:
                continue
            tid = self.teacher_id[fold_key(r["code"])]
            scope_subject.add(tid)
            for code, cls in r["teaches"]:
                wanted.add((tid, self.class_id[fold_key(cls)], "subject", code))
        in_scope = {
            x
            for x in existing
            if (x[2] == "homeroom" and x[1] in scope_homeroom)
            or (x[2] == "subject" and x[0] in scope_subject)
        }
        changed_teachers: set[str] = set()
        for tid, cid, role, subj in wanted - existing:
            changed_teachers.add(tid)
            self.ops.inserts[TeacherAssignmentRow].append(
                {
                    "school_id": self.sid,
                    "teacher_id": tid,
                    "class_id": cid,
                    "role": role,
                    "subject_code": subj,
                }
            )
        for tid, cid, role, subj in in_scope - wanted:
            changed_teachers.add(tid)
            self.ops.deletes[TeacherAssignmentRow].append(
                {
                    "school_id": self.sid,
                    "teacher_id": tid,
                    "class_id": cid,
                    "role": role,
                    "subject_code": subj,
                }
            )

        if not self.parsed.of(Kind.TEACHERS):
            return
        summary = self._summary(Kind.TEACHERS)
        for r in self.parsed.of(Kind.TEACHERS):
            key = fold_key(r["code"])
            tid = self.teacher_id[key]
            desired_row = {"code": r["code"], "full_name": r["name"]}
            if "phone" in r.given:
                desired_row["phone"] = r["phone"]
            elif key not in self.teachers:
                desired_row["phone"] = ""
            extra = ["Lớp chủ nhiệm / Môn dạy"] if tid in changed_teachers else []
            self._upsert(
                TeacherRow,
                summary,
                r,
                self.teachers.get(key),
                {"school_id": self.sid, "id": tid, "code_folded": fold_code(r["code"])},
                desired_row,
                {"code": "Mã GV", "full_name": "Họ và tên", "phone": "SĐT"},
                extra=extra,
            )

    def _upsert(
        self,
        table: type[Base],
        summary: SheetSummary,
        r: Record,
        old: Any,
        key: dict[str, Any],
        desired: dict[str, Any],
        titles: dict[str, str],
        *,
        extra: Sequence[str] = (),
        stamp: dict[str, Any] | None = None,
    ) -> list[str]:
        """Insert ``key | desired`` if ``old`` is None, else update the fields that differ.
        ``stamp`` (e.g. ``updated_at``) is written with any insert or change, never compared:
        it is how change detection finds what an import changed."""
        if old is None:
            self.ops.inserts[table].append({**key, **desired, **(stamp or {})})
            summary.added += 1
            return []
        fields = [f for f, value in desired.items() if getattr(old, f) != value]
        if fields:
            pk = {k: key[k] for k in _primary_key(table)}
            changed = {f: desired[f] for f in fields}
            self.ops.updates[table].append({**pk, **changed, **(stamp or {})})
        summary.note(r.row, [titles.get(f, f) for f in fields] + list(extra))
        return fields

    def _students(self) -> None:
        if not self.parsed.of(Kind.STUDENTS):
            return
        summary = self._summary(Kind.STUDENTS)
        for r in self.parsed.of(Kind.STUDENTS):
            key = fold_key(r["code"])
            old = self.students.get(key)
            desired: dict[str, Any] = {
                "code": r["code"],
                "full_name": r["name"],
                "class_id": self.class_id[fold_key(r["class_name"])],
            }
            if "birth_date" in r.given or old is None:
                desired["birth_date"] = r["birth_date"]
            self._upsert(
                StudentRow,
                summary,
                r,
                old,
                {"school_id": self.sid, "id": self.student_id[key], "code_folded": fold_code(key)},
                desired,
                {
                    "code": "Mã HS",
                    "full_name": "Họ và tên",
                    "class_id": "Lớp",
                    "birth_date": "Ngày sinh",
                },
            )

    def _guardians(self) -> None:
        records = self.parsed.of(Kind.GUARDIANS)
        if not records:
            return
        summary = self._summary(Kind.GUARDIANS)
        guardian_of: dict[str, str] = {}  # phone -> guardian id
        touched: dict[str, list[str]] = {}  # phone -> fields changed (first row of the phone)
        for r in records:
            phone = r["phone"]
            if phone in guardian_of:
                continue
            old = self.guardians.get(phone)
            gid = old.id if old is not None else _new_id("g", self.sid, phone)
            guardian_of[phone] = gid
            desired = {"phone": phone}
            for f in ("name", "relation"):
                if f in r.given or old is None:
                    desired[f] = r[f]
            if old is None:
                self.ops.inserts[GuardianRow].append({"school_id": self.sid, "id": gid, **desired})
                touched[phone] = []
                continue
            fields = [f for f, v in desired.items() if getattr(old, f) != v]
            if fields:
                self.ops.updates[GuardianRow].append(
                    {"school_id": self.sid, "id": gid, **{f: desired[f] for f in fields}}
                )
            titles = {"name": "Họ tên phụ huynh", "relation": "Quan hệ", "phone": "SĐT phụ huynh"}
            touched[phone] = [titles[f] for f in fields]

        by_student: dict[str, list[Record]] = defaultdict(list)
        for r in records:
            by_student[self.student_id[fold_key(r["code"])]].append(r)
        for stid, rows in by_student.items():
            existing = self.links.get(stid, {})
            wanted: set[str] = set()
            for position, r in enumerate(rows):
                gid = guardian_of[r["phone"]]
                wanted.add(gid)
                fields = touched.pop(r["phone"], [])
                if gid not in existing:
                    self.ops.inserts[StudentGuardianRow].append(
                        {
                            "school_id": self.sid,
                            "student_id": stid,
                            "guardian_id": gid,
                            "position": position,
                        }
                    )
                    summary.added += 1
                    continue
                if existing[gid] != position:
                    self.ops.updates[StudentGuardianRow].append(
                        {
                            "school_id": self.sid,
                            "student_id": stid,
                            "guardian_id": gid,
                            "position": position,
                        }
                    )
                    fields = [*fields, "thứ tự"]
                summary.note(r.row, fields)
            for gid in set(existing) - wanted:
                self.ops.deletes[StudentGuardianRow].append(
                    {"school_id": self.sid, "student_id": stid, "guardian_id": gid}
                )
                summary.changes.append(Said("guardian_dropped"))

    def _scores(self) -> None:
        records = self.parsed.of(Kind.SCORES)
        if not records:
            return
        summary = self._summary(Kind.SCORES)
        for r in records:
            stid = self.student_id[fold_key(r["code"])]
            subject = subject_by_code(r["subject"])
            grade = self.class_grade.get(self.student_class.get(stid, ""), 6)
            required = required_regular_for(subject, grade)
            desired: dict[tuple[str, int], tuple[int | None, bool | None]] = {}
            for seq, tenths in r["regular"]:
                desired[("tx", seq)] = (tenths, None)
            for seq, passed in r["comments"]:
                desired[("cmt", seq)] = (None, passed)
            for kind in ("gk", "ck"):
                if r[kind] is not None:
                    desired[(kind, 1)] = (r[kind], None)
            group = (stid, subject.code, r["term"])
            existing = self.scores.get(group, {})
            base = {
                "school_id": self.sid,
                "student_id": stid,
                "subject_code": subject.code,
                "term": r["term"],
            }
            fields: list[str] = []
            for (kind, seq), (tenths, passed) in desired.items():
                old = existing.get((kind, seq))
                values = {
                    "tenths": tenths,
                    "passed": passed,
                    "required_regular": required,
                    "updated_at": self.now,
                }
                if old is None:
                    self.ops.inserts[ScoreRow].append({**base, "kind": kind, "seq": seq, **values})
                    self.report.scores_touched += 1
                    fields.append(_score_title(kind, seq))
                elif (old.tenths, old.passed) != (tenths, passed):
                    self.ops.updates[ScoreRow].append({**base, "kind": kind, "seq": seq, **values})
                    self.report.scores_touched += 1
                    fields.append(_score_title(kind, seq))
                elif old.required_regular != required:
                    self.ops.updates[ScoreRow].append(
                        {**base, "kind": kind, "seq": seq, "required_regular": required}
                    )
                    fields.append(f"{_score_title(kind, seq)} (số ĐĐGtx)")
            for kind, seq in set(existing) - set(desired):
                self.ops.deletes[ScoreRow].append({**base, "kind": kind, "seq": seq})
                fields.append(f"{_score_title(kind, seq)} (xóa)")
            if not existing:
                summary.added += 1
            else:
                summary.note(r.row, fields)

    def _timetable(self) -> None:
        records = self.parsed.of(Kind.TIMETABLE)
        if not records:
            return
        summary = self._summary(Kind.TIMETABLE)
        seen: dict[str, set[tuple[int, str, int]]] = defaultdict(set)
        for r in records:
            cid = self.class_id[fold_key(r["class_name"])]
            slot = (r["weekday"], r["session"], r["period"])
            seen[cid].add(slot)
            old = self.slots.get(cid, {}).get(slot)
            desired = {"subject_name": r["subject"]}
            for f, col in (("teacher_name", "teacher"), ("room", "room")):
                if col in r.given or old is None:
                    desired[f] = r[col]
            self._upsert(
                TimetableSlotRow,
                summary,
                r,
                old,
                {
                    "school_id": self.sid,
                    "class_id": cid,
                    "weekday": slot[0],
                    "session": slot[1],
                    "period": slot[2],
                },
                desired,
                {"subject_name": "Môn", "teacher_name": "Giáo viên", "room": "Phòng"},
            )
        for cid, slots in seen.items():
            for wd, session, period in set(self.slots.get(cid, {})) - slots:
                self.ops.deletes[TimetableSlotRow].append(
                    {
                        "school_id": self.sid,
                        "class_id": cid,
                        "weekday": wd,
                        "session": session,
                        "period": period,
                    }
                )
                summary.changes.append(Said("period_dropped"))

    def _fees(self) -> None:
        records = self.parsed.of(Kind.FEES)
        if not records:
            return
        summary = self._summary(Kind.FEES)
        for r in records:
            stid = self.student_id[fold_key(r["code"])]
            old = self.fees.get((stid, fold(r["name"])))
            desired: dict[str, Any] = {"name": r["name"], "amount": r["amount"]}
            for f in ("due_date", "mandatory"):
                if f in r.given or old is None:
                    desired[f] = r[f]
            if "paid_on" in r.given or old is None:
                paid_on: dt.date | None = r["paid_on"]
                if paid_on is None:
                    desired["paid_at"] = None
                elif old is not None and old.paid_at is not None and old.paid_at.date() == paid_on:
                    desired["paid_at"] = old.paid_at
                else:
                    desired["paid_at"] = dt.datetime.combine(paid_on, _PAID_TIME, tzinfo=dt.UTC)
            fid = old.id if old is not None else _new_id("f", self.sid, f"{stid}|{fold(r['name'])}")
            self._upsert(
                FeeItemRow,
                summary,
                r,
                old,
                {"school_id": self.sid, "id": fid, "student_id": stid},
                desired,
                {
                    "name": "Khoản thu",
                    "amount": "Số tiền",
                    "due_date": "Hạn nộp",
                    "mandatory": "Bắt buộc",
                    "paid_at": "Ngày nộp",
                },
                stamp={"updated_at": self.now},  # new or changed fees reach the digests
            )

    def _attendance(self) -> None:
        records = self.parsed.of(Kind.ATTENDANCE)
        if not records:
            return
        summary = self._summary(Kind.ATTENDANCE)
        for r in records:
            stid = self.student_id[fold_key(r["code"])]
            key = {
                "school_id": self.sid,
                "student_id": stid,
                "date": r["date"],
                "session": r["session"],
            }
            old = self.attendance.get((stid, r["date"], r["session"]))
            desired: dict[str, Any] = {}
            for f in ("excused", "reason"):
                if f in r.given or old is None:
                    desired[f] = r[f]
            if old is None:
                self.ops.inserts[AttendanceRow].append({**key, **desired, "recorded_at": self.now})
                summary.added += 1
                continue
            fields = [f for f, v in desired.items() if getattr(old, f) != v]
            if fields:
                self.ops.updates[AttendanceRow].append(
                    {**key, **{f: desired[f] for f in fields}, "recorded_at": self.now}
                )
            titles = {"excused": "Có phép", "reason": "Lý do"}
            summary.note(r.row, [titles[f] for f in fields])


def _primary_key(table: type[Base]) -> list[str]:
    from sqlalchemy import inspect

    return [str(c.key) for c in inspect(table).primary_key]


def _score_title(kind: str, seq: int) -> str:
    return {"tx": f"TX{seq}", "cmt": f"TX{seq}", "gk": "GK", "ck": "CK"}[kind]
