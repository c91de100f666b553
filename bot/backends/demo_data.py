"""A deterministic, believable demo lower-secondary school (THCS), as pure data.

Everything here is fictitious: names are common Vietnamese names put together by hand, and every
phone number sits in the unallocated-looking ``0900000NNN`` (guardians) / ``0900001NNN`` (teachers)
blocks. No I/O and no database: the ``local`` backend's seed and the tests build on
:func:`build_demo_school`, which is seeded with ``random.Random(2026)`` so two builds are equal.

Things other code and tests rely on:

* **Rounding trap** (TT22, reference section 1): student ``st-8a-03`` (code ``HS8A03``, Phạm Quang
  Huy, 8A) has Công nghệ HKI = TX 6, 7, 6; GK 6.8; CK 6.6, so ĐTBmhk = 52.4 / 8 = 6.55 → **6.6**
  (float ``round`` gives 6.5). See :data:`ROUNDING_TRAP_STUDENT_ID`.
* **Two children, one guardian**: guardian ``g-01`` (Mẹ, phone ``0900000001``) and ``g-02`` (Bố)
  have Nguyễn Minh An (6A, ``HS6A01``) and Nguyễn Thu Hà (8A, ``HS8A02``); ``g-03`` / ``g-04``
  have Lê Ngọc Ánh (7A, ``HS7A01``) and Lê Văn Khoa (9A, ``HS9A01``).
* **Công nghệ is grade-dependent** (see :mod:`bot.domain.subjects`, the TT22 catalogue):
  every ``SubjectScores.required_regular`` produced here already reflects the student's grade.
* **SMS only** (issue 16): the two grandparents on file (Bà of Đặng Quốc Bảo, 6A, ``HS6A07``;
  Ông of Bùi Thị Lan, 8A, ``HS8A08``) have no smartphone: their digest comes by SMS.
* Only HKI scores exist: ``today`` defaults to 24 Nov 2026, HKII has not started.
* Public school, 2026-2027: tuition (học phí) is free since 2025-26, so there is no học phí item.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal

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
from bot.domain.subjects import (
    SUBJECTS,
    Subject,
    periods_per_year_for,
    required_regular_for,
    subject_by_code,
)

__all__ = [
    "DEFAULT_TODAY",
    "ROUNDING_TRAP_STUDENT_ID",
    "ROUNDING_TRAP_SUBJECT_CODE",
    "SCHOOL_ID",
    "SUBJECTS",
    "DemoSchool",
    "GuardianLink",
    "Subject",
    "TeachingAssignment",
    "build_demo_school",
    "periods_per_year_for",
    "required_regular_for",
    "subject_by_code",
]

SCHOOL_ID = "demo"
DEFAULT_TODAY = dt.date(2026, 11, 24)
ROUNDING_TRAP_STUDENT_ID = "st-8a-03"
ROUNDING_TRAP_SUBJECT_CODE = "cong_nghe"

_SEED = 2026
_UPDATED_AT = dt.datetime(2026, 11, 20, 2, 30, tzinfo=dt.UTC)  # 09:30 in Hà Nội


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardianLink:
    """Which guardian belongs to which student."""

    student_id: str
    guardian_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TeachingAssignment:
    """Who teaches which subject in which class (HĐTN-HN is taught by the homeroom teacher)."""

    teacher_id: str
    class_id: str
    subject_code: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoSchool:
    info: SchoolInfo
    subjects: tuple[Subject, ...]
    classes: tuple[SchoolClass, ...]
    teachers: tuple[Teacher, ...]
    students: tuple[Student, ...]
    guardians: tuple[Guardian, ...]
    guardian_links: tuple[GuardianLink, ...]
    scores: tuple[tuple[str, SubjectScores], ...]  # (student_id, scores); HKI complete
    timetable: tuple[TimetableSlot, ...]
    fees: tuple[FeeItem, ...]
    attendance: tuple[AttendanceRecord, ...]
    teaching: tuple[TeachingAssignment, ...] = ()


# ---------------------------------------------------------------------------------------------
# Classes and teachers

_CLASSES: tuple[tuple[str, int, str, str], ...] = (
    # (class id, grade, homeroom teacher id, home room)
    ("c-6a", 6, "t-01", "P.101"),
    ("c-7a", 7, "t-03", "P.102"),
    ("c-8a", 8, "t-07", "P.201"),
    ("c-9a", 9, "t-02", "P.202"),
)
_ALL = ("c-6a", "c-7a", "c-8a", "c-9a")
_LOWER = ("c-6a", "c-7a")
_UPPER = ("c-8a", "c-9a")

_TEACHERS: tuple[tuple[str, str, tuple[tuple[str, tuple[str, ...]], ...]], ...] = (
    # (teacher id, full name, ((subject code, class ids), ...)); HĐTN-HN goes to the GVCN
    ("t-01", "Nguyễn Thị Thanh Hoa", (("toan", _LOWER),)),
    ("t-02", "Trần Văn Hải", (("toan", _UPPER),)),
    ("t-03", "Lê Thị Minh Nguyệt", (("ngu_van", _LOWER),)),
    ("t-04", "Phạm Thị Hồng Vân", (("ngu_van", _UPPER),)),
    ("t-05", "Hoàng Thị Mỹ Linh", (("tieng_anh", _ALL),)),
    ("t-06", "Vũ Đức Thành", (("khtn", _LOWER),)),
    ("t-07", "Đỗ Thị Kim Oanh", (("khtn", _UPPER),)),
    ("t-08", "Bùi Văn Sơn", (("ls_dl", _ALL),)),
    ("t-09", "Ngô Thị Thủy", (("gdcd", _ALL), ("gd_dia_phuong", _ALL))),
    ("t-10", "Đặng Quang Tùng", (("tin_hoc", _ALL), ("cong_nghe", _ALL))),
    ("t-11", "Lê Văn Cường", (("gdtc", _ALL),)),
    ("t-12", "Trần Thị Ngọc Bích", (("nghe_thuat", _ALL),)),
)

# ---------------------------------------------------------------------------------------------
# Students: (class id, full name, ability, guardians on file)
# ability: "strong" ~8–9.5, "good" ~7.5, "avg" ~6–7, "weak" ~4–5.5
# guardians: "M" mẹ, "B" bố, "MB" both, "Ba" bà, "Ong" ông, "F1"/"F2" shared families (Mẹ + Bố)

_STUDENTS: tuple[tuple[str, str, str, str], ...] = (
    ("c-6a", "Nguyễn Minh An", "good", "F1"),
    ("c-6a", "Trần Bảo Ngọc", "strong", "M"),
    ("c-6a", "Lê Hoàng Nam", "avg", "M"),
    ("c-6a", "Phạm Khánh Linh", "strong", "MB"),
    ("c-6a", "Hoàng Đức Minh", "avg", "B"),
    ("c-6a", "Vũ Thị Mai", "avg", "M"),
    ("c-6a", "Đặng Quốc Bảo", "avg", "Ba"),
    ("c-6a", "Bùi Phương Thảo", "good", "M"),
    ("c-6a", "Đỗ Gia Huy", "strong", "M"),
    ("c-6a", "Ngô Thanh Trúc", "avg", "M"),
    ("c-7a", "Lê Ngọc Ánh", "strong", "F2"),
    ("c-7a", "Nguyễn Đức Duy", "avg", "M"),
    ("c-7a", "Trần Quang Vinh", "avg", "B"),
    ("c-7a", "Phạm Thu Trang", "strong", "M"),
    ("c-7a", "Hoàng Minh Khôi", "weak", "M"),
    ("c-7a", "Vũ Hải Yến", "good", "M"),
    ("c-7a", "Đặng Tiến Dũng", "avg", "M"),
    ("c-7a", "Bùi Ngọc Hân", "avg", "M"),
    ("c-7a", "Đỗ Thị Hồng Nhung", "good", "M"),
    ("c-8a", "Trần Gia Bảo", "avg", "M"),
    ("c-8a", "Nguyễn Thu Hà", "strong", "F1"),
    ("c-8a", "Phạm Quang Huy", "avg", "M"),  # rounding trap in Công nghệ
    ("c-8a", "Lê Thị Thanh Hương", "good", "M"),
    ("c-8a", "Hoàng Văn Long", "avg", "B"),
    ("c-8a", "Vũ Ngọc Diệp", "strong", "MB"),
    ("c-8a", "Đặng Minh Quân", "avg", "M"),
    ("c-8a", "Bùi Thị Lan", "avg", "Ong"),
    ("c-8a", "Ngô Đức Thắng", "good", "M"),
    ("c-8a", "Đỗ Khánh Vy", "strong", "M"),
    ("c-9a", "Lê Văn Khoa", "avg", "F2"),
    ("c-9a", "Nguyễn Phương Anh", "strong", "M"),
    ("c-9a", "Trần Đức Hiếu", "avg", "B"),
    ("c-9a", "Phạm Thị Ngọc Mai", "good", "M"),
    ("c-9a", "Hoàng Tuấn Kiệt", "weak", "M"),
    ("c-9a", "Vũ Minh Châu", "strong", "MB"),
    ("c-9a", "Đặng Thị Thu Hằng", "avg", "M"),
    ("c-9a", "Bùi Quốc Việt", "avg", "B"),
    ("c-9a", "Ngô Hoàng Phúc", "good", "M"),
)

_FAMILIES: dict[str, tuple[str, str]] = {
    # shared families: (mother, father); the first one is guardian g-01 / phone 0900000001
    "F1": ("Trần Thị Thu Hương", "Nguyễn Văn Hùng"),
    "F2": ("Phạm Thị Hạnh", "Lê Văn Tuấn"),
}

_FAMILY_NAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Ngô")
_MOTHER_GIVEN = (
    "Lan", "Thủy", "Nga", "Hằng", "Huyền", "Loan", "Dung", "Phượng", "Liên", "Thắm",
    "Vân", "Ngân", "Hòa", "Yến", "Tuyết", "Hiền", "Nhung", "Quyên", "Tâm", "Giang",
    "Thanh", "Hồng", "Mến", "Thúy", "Xuân", "Hà", "Duyên", "Phương", "Thảo", "Hải",
)  # fmt: skip
_FATHER_MIDDLE = ("Văn", "Đức", "Minh", "Quang", "Hữu", "Xuân", "Thanh", "Ngọc")
_FATHER_GIVEN = (
    "Dũng", "Thắng", "Cường", "Hiếu", "Hoàng", "Trung", "Phong", "Khánh", "Lâm", "Toàn",
    "Quý", "Hòa", "Nghĩa", "Tài",
)  # fmt: skip
_ELDER_GIVEN = ("Lụa", "Nhàn", "Tư", "Bình", "Thìn", "Sửu")

_ABILITY_MEAN = {"strong": 8.7, "good": 7.6, "avg": 6.5, "weak": 4.9}

# comment-only subjects graded Chưa đạt somewhere: (student id, subject code) -> results
_COMMENT_OVERRIDES: dict[tuple[str, str], tuple[bool, bool]] = {
    ("st-7a-05", "gdtc"): (True, False),
    ("st-9a-05", "nghe_thuat"): (False, True),
}

# ---------------------------------------------------------------------------------------------
# Timetable: one buổi a day, mornings Mon–Sat (grades 6–7 have 4 periods on Saturday: 29 periods a
# week; grades 8–9 have 5 because Công nghệ is 52 periods/year there), plus reinforcement lessons on
# Tuesday and Thursday afternoons, tiết 1–2. Periods/week ≈ periods/year ÷ 35.

_WEEKLY: dict[str, int] = {
    "toan": 4,
    "ngu_van": 4,
    "khtn": 4,
    "tieng_anh": 3,
    "ls_dl": 3,
    "hdtn_hn": 1,  # + Chào cờ (Mon tiết 1) + Sinh hoạt lớp (last Sat period) = 3
    "gdtc": 2,
    "nghe_thuat": 2,
    "gdcd": 1,
    "tin_hoc": 1,
    "cong_nghe": 1,  # 2 in grades 8–9
    "gd_dia_phuong": 1,
}
_EXTRAS: tuple[tuple[str, str], ...] = (  # afternoon reinforcement lessons (tăng cường)
    ("toan", "Tăng cường Toán"),
    ("toan", "Tăng cường Toán"),
    ("ngu_van", "Tăng cường Ngữ văn"),
    ("tieng_anh", "Tăng cường Tiếng Anh"),
)
_AFTERNOON_DAYS = (1, 3)  # Thứ Ba, Thứ Năm
_AFTERNOON_PERIODS = (1, 2)
_SPECIAL_ROOMS = {"tin_hoc": "Phòng Tin học", "gdtc": "Sân trường"}

_Slot = tuple[int, Session, int]


def build_demo_school(today: dt.date | None = None) -> DemoSchool:
    """The demo school. Deterministic; ``today`` only shifts fee due dates and absence dates."""
    today = DEFAULT_TODAY if today is None else today
    rng = random.Random(_SEED)

    info = SchoolInfo(
        id=SCHOOL_ID,
        name="Trường THCS Nguyễn Du (demo)",
        school_year="2026-2027",
        current_term=Term.HK1,
        extra={"level": "THCS", "address": "Số 1 phố Mẫu, phường Mẫu, Hà Nội (địa chỉ hư cấu)"},
    )

    classes = tuple(
        SchoolClass(
            id=cid,
            school_id=SCHOOL_ID,
            name=cid.removeprefix("c-").upper(),
            grade=grade,
            homeroom_teacher_id=tid,
        )
        for cid, grade, tid, _room in _CLASSES
    )
    grade_of = {c.id: c.grade for c in classes}

    teaching = _teaching_assignments()
    teachers = _teachers(teaching)
    students = _students(rng)
    guardians, links = _guardians(rng)
    scores = _scores(rng, students, grade_of)
    timetable = _timetable(rng, teachers, teaching)
    fees = _fees(rng, students, today)
    attendance = _attendance(today)

    return DemoSchool(
        info=info,
        subjects=SUBJECTS,
        classes=classes,
        teachers=teachers,
        students=students,
        guardians=guardians,
        guardian_links=links,
        scores=scores,
        timetable=timetable,
        fees=fees,
        attendance=attendance,
        teaching=teaching,
    )


def _teaching_assignments() -> tuple[TeachingAssignment, ...]:
    out: list[TeachingAssignment] = []
    for tid, _name, subjects in _TEACHERS:
        for code, class_ids in subjects:
            out.extend(
                TeachingAssignment(teacher_id=tid, class_id=cid, subject_code=code)
                for cid in class_ids
            )
    out.extend(
        TeachingAssignment(teacher_id=tid, class_id=cid, subject_code="hdtn_hn")
        for cid, _grade, tid, _room in _CLASSES
    )
    return tuple(out)


def _teachers(teaching: tuple[TeachingAssignment, ...]) -> tuple[Teacher, ...]:
    out: list[Teacher] = []
    for n, (tid, name, _subjects) in enumerate(_TEACHERS, start=1):
        homeroom = tuple(cid for cid, _g, t, _r in _CLASSES if t == tid)
        taught = tuple(
            cid for cid in _ALL if any(a.teacher_id == tid and a.class_id == cid for a in teaching)
        )
        out.append(
            Teacher(
                id=tid,
                school_id=SCHOOL_ID,
                code=f"GV{n:03d}",
                full_name=name,
                phone=f"0900001{n:03d}",
                homeroom_class_ids=homeroom,
                subject_class_ids=taught,
            )
        )
    return tuple(out)


def _students(rng: random.Random) -> tuple[Student, ...]:
    out: list[Student] = []
    counters: dict[str, int] = {}
    for cid, name, _ability, _guardians in _STUDENTS:
        n = counters[cid] = counters.get(cid, 0) + 1
        cname = cid.removeprefix("c-").upper()
        grade = int(cname[:-1])
        born = dt.date(2021 - grade, 1, 1) + dt.timedelta(days=rng.randrange(365))
        out.append(
            Student(
                id=f"st-{cname.lower()}-{n:02d}",
                school_id=SCHOOL_ID,
                code=f"HS{cname}{n:02d}",
                full_name=name,
                class_id=cid,
                class_name=cname,
                birth_date=born,
            )
        )
    return tuple(out)


def _student_ids() -> list[str]:
    ids: list[str] = []
    counters: dict[str, int] = {}
    for cid, *_rest in _STUDENTS:
        n = counters[cid] = counters.get(cid, 0) + 1
        ids.append(f"st-{cid.removeprefix('c-')}-{n:02d}")
    return ids


def _guardians(rng: random.Random) -> tuple[tuple[Guardian, ...], tuple[GuardianLink, ...]]:
    mothers = rng.sample(_MOTHER_GIVEN, len(_MOTHER_GIVEN))
    fathers = rng.sample(_FATHER_GIVEN, len(_FATHER_GIVEN))
    elders = rng.sample(_ELDER_GIVEN, len(_ELDER_GIVEN))
    guardians: list[Guardian] = []
    links: list[GuardianLink] = []

    def add(name: str, relation: str) -> str:
        n = len(guardians) + 1
        gid = f"g-{n:02d}"
        # the grandparents have no smartphone: their digest comes by SMS (issue 16)
        guardians.append(
            Guardian(
                id=gid,
                name=name,
                phone=f"0900000{n:03d}",
                relation=relation,
                sms_only=relation in ("Bà", "Ông"),
            )
        )
        return gid

    family_ids: dict[str, tuple[str, str]] = {}
    for key, (mother, father) in _FAMILIES.items():
        family_ids[key] = (add(mother, "Mẹ"), add(father, "Bố"))

    def other_family(child_family: str) -> str:
        choices = [f for f in _FAMILY_NAMES if f != child_family]
        return rng.choice(choices)

    for sid, (_cid, name, _ability, spec) in zip(_student_ids(), _STUDENTS, strict=True):
        family = name.split()[0]
        gids: list[str] = []
        if spec in family_ids:
            gids.extend(family_ids[spec])
        else:
            if "M" in spec:
                gids.append(add(f"{other_family(family)} Thị {mothers.pop()}", "Mẹ"))
            if "B" in spec and spec != "Ba":
                middle = rng.choice(_FATHER_MIDDLE)
                gids.append(add(f"{family} {middle} {fathers.pop()}", "Bố"))
            if spec == "Ba":
                gids.append(add(f"{other_family(family)} Thị {elders.pop()}", "Bà"))
            if spec == "Ong":
                gids.append(add(f"{family} Văn {elders.pop()}", "Ông"))
        links.extend(GuardianLink(student_id=sid, guardian_id=gid) for gid in gids)
    return tuple(guardians), tuple(links)


def _dec(tenths: int) -> Decimal:
    """A score from a whole number of tenths, built from a string ("7", "6.8")."""
    tenths = max(0, min(100, tenths))
    whole, frac = divmod(tenths, 10)
    return Decimal(f"{whole}.{frac}" if frac else f"{whole}")


def _regular_score(rng: random.Random, mean: float) -> Decimal:
    halves = round(rng.gauss(mean, 0.9) * 2)  # TX are usually whole or half points
    return _dec(halves * 5)


def _exam_score(rng: random.Random, mean: float) -> Decimal:
    quarters = round(rng.gauss(mean, 0.8) * 4)  # tests marked in quarters, kept to one decimal
    return _dec((quarters * 25 + 5) // 10)  # half-up to tenths


def _scores(
    rng: random.Random, students: tuple[Student, ...], grade_of: dict[str, int]
) -> tuple[tuple[str, SubjectScores], ...]:
    ability = {sid: row[2] for sid, row in zip(_student_ids(), _STUDENTS, strict=True)}
    out: list[tuple[str, SubjectScores]] = []
    for st in students:
        base = _ABILITY_MEAN[ability[st.id]]
        grade = grade_of[st.class_id]
        for subj in SUBJECTS:
            required = required_regular_for(subj, grade)
            if subj.form is GradingForm.COMMENT:
                results = _COMMENT_OVERRIDES.get((st.id, subj.code), (True,) * required)
                scores = SubjectScores(
                    subject_code=subj.code,
                    subject_name=subj.name,
                    form=subj.form,
                    term=Term.HK1,
                    required_regular=required,
                    comment_results=results,
                    updated_at=_UPDATED_AT,
                )
            else:
                mean = base + rng.gauss(0.0, 0.6)
                if subj.code == "toan" and ability[st.id] == "weak":
                    mean -= 0.6  # the weak students struggle most in Toán
                regular = tuple(_regular_score(rng, mean) for _ in range(required))
                midterm = _exam_score(rng, mean)
                final = _exam_score(rng, mean)
                if (st.id, subj.code) == (ROUNDING_TRAP_STUDENT_ID, ROUNDING_TRAP_SUBJECT_CODE):
                    regular = (Decimal("6"), Decimal("7"), Decimal("6"))
                    midterm, final = Decimal("6.8"), Decimal("6.6")
                scores = SubjectScores(
                    subject_code=subj.code,
                    subject_name=subj.name,
                    form=subj.form,
                    term=Term.HK1,
                    regular=regular,
                    midterm=midterm,
                    final=final,
                    required_regular=required,
                    updated_at=_UPDATED_AT,
                )
            out.append((st.id, scores))
    return tuple(out)


def _timetable(
    rng: random.Random,
    teachers: tuple[Teacher, ...],
    teaching: tuple[TeachingAssignment, ...],
) -> tuple[TimetableSlot, ...]:
    name_of = {t.id: t.full_name for t in teachers}
    teacher_for = {(a.class_id, a.subject_code): a.teacher_id for a in teaching}
    busy: set[tuple[str, _Slot]] = set()  # (teacher id, slot): no teacher in two rooms at once
    out: list[TimetableSlot] = []

    for cid, grade, _homeroom, room in _CLASSES:
        saturday = 5 if grade >= 8 else 4
        fixed: dict[_Slot, str] = {
            (0, Session.MORNING, 1): "Chào cờ",
            (5, Session.MORNING, saturday): "Sinh hoạt lớp",
        }
        morning = [
            (wd, Session.MORNING, p)
            for wd in range(6)
            for p in range(1, (saturday if wd == 5 else 5) + 1)
            if (wd, Session.MORNING, p) not in fixed
        ]
        afternoon = [
            (wd, Session.AFTERNOON, p) for wd in _AFTERNOON_DAYS for p in _AFTERNOON_PERIODS
        ]
        # lessons: (subject code, name shown in the timetable)
        weekly = dict(_WEEKLY, cong_nghe=2) if grade >= 8 else _WEEKLY
        regular = [
            (code, subject_by_code(code).name) for code, n in weekly.items() for _ in range(n)
        ]
        extras = list(_EXTRAS)
        if (len(regular), len(extras)) != (len(morning), len(afternoon)):  # pragma: no cover
            raise RuntimeError(f"demo timetable for {cid}: lessons do not match the grid")

        for _attempt in range(500):
            placed = _place(rng, cid, teacher_for, busy, morning, afternoon, extras, regular)
            if placed is not None:
                break
        else:  # pragma: no cover - the data above always fits
            raise RuntimeError(f"demo timetable for {cid} does not fit")

        for slot, label in fixed.items():
            placed[slot] = (label, "hdtn_hn")
        for slot, (label, code) in placed.items():
            tid = teacher_for[(cid, code)]
            busy.add((tid, slot))
            wd, session, period = slot
            out.append(
                TimetableSlot(
                    class_id=cid,
                    weekday=wd,
                    session=session,
                    period=period,
                    subject_name=label,
                    teacher_name=name_of[tid],
                    room=_SPECIAL_ROOMS.get(code, "Sân trường" if label == "Chào cờ" else room),
                )
            )
    out.sort(key=lambda s: (s.class_id, s.weekday, s.session != Session.MORNING, s.period))
    return tuple(out)


def _place(
    rng: random.Random,
    cid: str,
    teacher_for: dict[tuple[str, str], str],
    busy: set[tuple[str, _Slot]],
    morning: list[_Slot],
    afternoon: list[_Slot],
    extras: list[tuple[str, str]],
    regular: list[tuple[str, str]],
) -> dict[_Slot, tuple[str, str]] | None:
    """One randomised greedy try: every slot filled, ≤ 1 lesson of a subject a day, no clashes."""
    placed: dict[_Slot, tuple[str, str]] = {}
    per_day: set[tuple[int, str]] = set()  # (weekday, shown name)
    lessons = list(regular)
    rng.shuffle(lessons)
    lessons.sort(key=lambda lesson: -_WEEKLY[lesson[0]])  # the most frequent first (stable)
    free_morning, free_afternoon = list(morning), list(afternoon)
    todo = [(x, free_afternoon) for x in extras] + [(x, free_morning) for x in lessons]
    for (code, label), pool in todo:
        tid = teacher_for[(cid, code)]
        options = [s for s in pool if (tid, s) not in busy and (s[0], label) not in per_day]
        if not options:
            return None
        slot = rng.choice(options)
        pool.remove(slot)
        placed[slot] = (label, code)
        per_day.add((slot[0], label))
    return placed


def _fees(rng: random.Random, students: tuple[Student, ...], today: dt.date) -> tuple[FeeItem, ...]:
    month = today.month
    out: list[FeeItem] = []

    def paid_at(due: dt.date) -> dt.datetime:
        day = min(due, today - dt.timedelta(days=1)) - dt.timedelta(days=rng.randrange(7))
        return dt.datetime.combine(
            day, dt.time(2 + rng.randrange(10), rng.randrange(60)), tzinfo=dt.UTC
        )

    for i, st in enumerate(students):
        items: list[tuple[int, str, int, dt.date, bool, float]] = [
            # (n, name, amount, due date, mandatory, chance it is already paid)
            (
                1,
                "Bảo hiểm y tế học sinh (12 tháng)",
                631_800,
                today - dt.timedelta(days=39),
                True,
                0.85,
            ),
            (
                3,
                "Quỹ Ban đại diện cha mẹ học sinh",
                200_000,
                today + dt.timedelta(days=7),
                False,
                0.45,
            ),
            (4, f"Nước uống tháng {month}", 20_000, today + dt.timedelta(days=3), False, 0.5),
        ]
        if (st.class_name in ("6A", "7A") and i % 5 != 4) or (st.class_name == "8A" and i % 4 == 0):
            items.insert(
                1,
                (
                    2,
                    f"Tiền ăn bán trú tháng {month}",
                    650_000,
                    today - dt.timedelta(days=14),
                    False,
                    0.7,
                ),
            )
        for n, name, amount, due, mandatory, chance in items:
            paid = rng.random() < chance
            if st.id == "st-6a-01" and n in (2, 3):
                paid = False  # the two-children family has something to pay in the demo
            out.append(
                FeeItem(
                    id=f"f-{st.id}-{n}",
                    student_id=st.id,
                    name=name,
                    amount=amount,
                    due_date=due,
                    paid=paid,
                    mandatory=mandatory,
                    paid_at=paid_at(due) if paid else None,
                )
            )
    return tuple(out)


def _school_day_before(today: dt.date, n: int) -> dt.date:
    """The ``n``-th school day (Monday–Saturday) strictly before ``today``."""
    day = today
    while n > 0:
        day -= dt.timedelta(days=1)
        if day.weekday() != 6:
            n -= 1
    return day


_ABSENCES: tuple[tuple[str, int, Session | None, bool, str], ...] = (
    # (student id, school days before today, session, excused, reason)
    ("st-9a-05", 2, None, False, ""),
    ("st-9a-05", 7, Session.MORNING, True, "ốm"),
    ("st-9a-05", 11, None, False, ""),
    ("st-9a-05", 16, None, True, "việc gia đình"),
    ("st-6a-07", 5, None, True, "ốm"),
    ("st-6a-07", 6, None, True, "ốm"),
    ("st-7a-05", 3, Session.MORNING, False, ""),
    ("st-8a-09", 9, None, True, "việc gia đình"),
    ("st-6a-03", 13, Session.MORNING, True, "đi khám bệnh"),
    ("st-9a-08", 1, None, False, ""),
)


def _attendance(today: dt.date) -> tuple[AttendanceRecord, ...]:
    return tuple(
        AttendanceRecord(
            student_id=sid,
            date=_school_day_before(today, n),
            session=session,
            excused=excused,
            reason=reason,
        )
        for sid, n, session, excused, reason in _ABSENCES
    )
