"""Invariants of the demo school (bot.backends.demo_data): pure data, no I/O."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from decimal import ROUND_HALF_UP, Decimal

import pytest

from bot.backends.demo_data import (
    DEFAULT_TODAY,
    ROUNDING_TRAP_STUDENT_ID,
    ROUNDING_TRAP_SUBJECT_CODE,
    SUBJECTS,
    DemoSchool,
    build_demo_school,
    periods_per_year_for,
    required_regular_for,
    subject_by_code,
)
from bot.domain.models import GradingForm, Session, SubjectScores, Term

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def school() -> DemoSchool:
    return build_demo_school()


def _term_average(s: SubjectScores) -> Decimal:
    assert s.midterm is not None
    assert s.final is not None
    raw = (sum(s.regular, Decimal(0)) + 2 * s.midterm + 3 * s.final) / (len(s.regular) + 5)
    return raw.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


# --- subjects ------------------------------------------------------------------------------------


def test_subject_catalogue_follows_tt22() -> None:
    codes = [s.code for s in SUBJECTS]
    assert len(codes) == len(set(codes)) == 12
    expected_tx = {
        "toan": 4,
        "ngu_van": 4,
        "tieng_anh": 4,
        "khtn": 4,
        "ls_dl": 4,
        "gdcd": 2,
        "tin_hoc": 2,
        "cong_nghe": 2,
    }
    for code, n in expected_tx.items():
        assert subject_by_code(code).required_regular == n
        assert subject_by_code(code).form is GradingForm.SCORED
    for code in ("gdtc", "nghe_thuat", "hdtn_hn", "gd_dia_phuong"):
        assert subject_by_code(code).form is GradingForm.COMMENT
        assert subject_by_code(code).required_regular == 2
    assert subject_by_code("toan").name == "Toán"
    assert subject_by_code("ls_dl").name == "Lịch sử và Địa lí"


def test_cong_nghe_depends_on_grade() -> None:
    cn = subject_by_code("cong_nghe")
    assert [periods_per_year_for(cn, g) for g in (6, 7, 8, 9)] == [35, 35, 52, 52]
    assert [required_regular_for(cn, g) for g in (6, 7, 8, 9)] == [2, 2, 3, 3]
    assert required_regular_for(subject_by_code("toan"), 8) == 4


def test_aliases_are_folded_ascii() -> None:
    seen: dict[str, str] = {}
    for s in SUBJECTS:
        assert s.aliases
        for alias in s.aliases:
            assert alias == alias.lower().strip()
            assert alias.isascii()
            assert seen.setdefault(alias, s.code) == s.code, f"alias {alias!r} used twice"
    assert seen["van"] == "ngu_van"
    assert seen["anh"] == "tieng_anh"
    assert seen["ly"] == seen["hoa"] == seen["sinh"] == "khtn"


def test_subject_by_code_unknown() -> None:
    with pytest.raises(KeyError):
        subject_by_code("hoa_hoc")


# --- people --------------------------------------------------------------------------------------


def test_school_info(school: DemoSchool) -> None:
    assert school.info.id == "demo"
    assert school.info.name == "Trường THCS Nguyễn Du (demo)"
    assert school.info.school_year == "2026-2027"
    assert school.info.current_term is Term.HK1
    assert school.subjects == SUBJECTS


def test_classes_and_students(school: DemoSchool) -> None:
    assert len(school.classes) >= 3
    assert {c.name: c.grade for c in school.classes} == {"6A": 6, "7A": 7, "8A": 8, "9A": 9}
    assert len(school.students) >= 30
    ids = [s.id for s in school.students]
    codes = [s.code.casefold() for s in school.students]
    assert len(set(ids)) == len(ids)
    assert len(set(codes)) == len(codes)
    class_by_id = {c.id: c for c in school.classes}
    per_class: dict[str, list[str]] = defaultdict(list)
    for st in school.students:
        assert re.fullmatch(r"[A-Z0-9]{4,10}", st.code)
        assert st.school_id == "demo"
        cls = class_by_id[st.class_id]
        assert st.class_name == cls.name
        assert len(st.full_name.split()) >= 3
        assert st.birth_date is not None
        assert st.birth_date.year == 2021 - cls.grade
        per_class[st.class_id].append(st.given_name.casefold())
    for given in per_class.values():
        assert 9 <= len(given) <= 10
        assert len(set(given)) == len(given), "two students share a given name in one class"


def test_guardians(school: DemoSchool) -> None:
    phones = [g.phone for g in school.guardians]
    assert all(re.fullmatch(r"0900000\d{3}", p) for p in phones)
    assert len(set(phones)) == len(phones)
    assert {g.relation for g in school.guardians} <= {"Mẹ", "Bố", "Bà", "Ông"}
    student_ids = {s.id for s in school.students}
    guardian_ids = {g.id for g in school.guardians}
    links = {(link.student_id, link.guardian_id) for link in school.guardian_links}
    assert len(links) == len(school.guardian_links)
    assert all(s in student_ids and g in guardian_ids for s, g in links)
    per_student = Counter(s for s, _ in links)
    assert set(per_student) == student_ids, "every student has a guardian on file"
    assert sum(1 for n in per_student.values() if n == 2) >= 5
    assert {g for _, g in links} == guardian_ids, "no orphan guardian"


def test_first_guardian_has_two_children_in_different_classes(school: DemoSchool) -> None:
    first = school.guardians[0]
    assert (first.relation, first.phone) == ("Mẹ", "0900000001")
    children = [
        st
        for st in school.students
        for link in school.guardian_links
        if link.guardian_id == first.id and link.student_id == st.id
    ]
    assert len(children) == 2
    assert children[0].class_id != children[1].class_id
    assert children[0].full_name.split()[0] == children[1].full_name.split()[0]


def test_homeroom_and_teachers_agree(school: DemoSchool) -> None:
    teachers = {t.id: t for t in school.teachers}
    codes = [t.code for t in school.teachers]
    assert len(set(codes)) == len(codes)
    phones = [t.phone for t in school.teachers]
    assert all(re.fullmatch(r"0900001\d{3}", p) for p in phones)
    assert len(set(phones)) == len(phones)
    for cls in school.classes:
        assert cls.homeroom_teacher_id is not None
        gvcn = teachers[cls.homeroom_teacher_id]
        assert cls.id in gvcn.homeroom_class_ids
        assert cls.id in gvcn.subject_class_ids
    for t in school.teachers:
        for cid in t.homeroom_class_ids:
            assert next(c for c in school.classes if c.id == cid).homeroom_teacher_id == t.id
        taught = {a.class_id for a in school.teaching if a.teacher_id == t.id}
        assert set(t.subject_class_ids) == taught
    # every class has exactly one teacher per subject
    pairs = Counter((a.class_id, a.subject_code) for a in school.teaching)
    assert set(pairs) == {(c.id, s.code) for c in school.classes for s in SUBJECTS}
    assert set(pairs.values()) == {1}


# --- scores --------------------------------------------------------------------------------------


def test_complete_hki_for_every_student_and_subject(school: DemoSchool) -> None:
    grade = {c.id: c.grade for c in school.classes}
    by_student: dict[str, dict[str, SubjectScores]] = defaultdict(dict)
    for sid, sc in school.scores:
        assert sc.term is Term.HK1
        assert sc.subject_code not in by_student[sid], "duplicate HKI subject"
        by_student[sid][sc.subject_code] = sc
    for st in school.students:
        subjects = by_student[st.id]
        assert set(subjects) == {s.code for s in SUBJECTS}
        for code, sc in subjects.items():
            subj = subject_by_code(code)
            assert sc.subject_name == subj.name
            assert sc.form is subj.form
            assert sc.required_regular == required_regular_for(subj, grade[st.class_id])
            assert sc.updated_at is not None
            assert sc.updated_at.utcoffset() == dt.timedelta(0)
            if subj.form is GradingForm.SCORED:
                assert len(sc.regular) == sc.required_regular
                assert sc.midterm is not None
                assert sc.final is not None
                assert sc.comment_results == ()
            else:
                assert len(sc.comment_results) == sc.required_regular == 2
                assert sc.regular == ()
                assert sc.midterm is None
                assert sc.final is None


def test_cong_nghe_regular_count_by_grade(school: DemoSchool) -> None:
    grade = {s.id: c.grade for s in school.students for c in school.classes if c.id == s.class_id}
    counts = {
        grade[sid]: len(sc.regular) for sid, sc in school.scores if sc.subject_code == "cong_nghe"
    }
    assert counts == {6: 2, 7: 2, 8: 3, 9: 3}


def test_scores_in_range_with_one_decimal(school: DemoSchool) -> None:
    for _sid, sc in school.scores:
        values = [*sc.regular]
        values += [v for v in (sc.midterm, sc.final) if v is not None]
        for v in values:
            assert isinstance(v, Decimal)
            assert Decimal(0) <= v <= Decimal(10)
            exponent = v.as_tuple().exponent
            assert isinstance(exponent, int)
            assert exponent >= -1


def test_rounding_trap(school: DemoSchool) -> None:
    assert (ROUNDING_TRAP_STUDENT_ID, ROUNDING_TRAP_SUBJECT_CODE) == ("st-8a-03", "cong_nghe")
    student = next(s for s in school.students if s.id == ROUNDING_TRAP_STUDENT_ID)
    assert student.code == "HS8A03"
    sc = next(
        sc
        for sid, sc in school.scores
        if sid == ROUNDING_TRAP_STUDENT_ID and sc.subject_code == ROUNDING_TRAP_SUBJECT_CODE
    )
    assert sc.regular == (Decimal("6"), Decimal("7"), Decimal("6"))
    assert (sc.midterm, sc.final) == (Decimal("6.8"), Decimal("6.6"))
    assert sc.required_regular == 3
    assert _term_average(sc) == Decimal("6.6")


def test_score_distribution_is_believable(school: DemoSchool) -> None:
    averages: dict[str, list[Decimal]] = defaultdict(list)
    for sid, sc in school.scores:
        if sc.form is GradingForm.SCORED:
            averages[sid].append(_term_average(sc))
    means = {sid: sum(v, Decimal(0)) / len(v) for sid, v in averages.items()}
    assert any(m >= Decimal("8.3") for m in means.values()), "no strong student"
    assert any(Decimal("6") <= m <= Decimal("7") for m in means.values()), "no average student"
    assert any(m < Decimal("5.5") for m in means.values()), "no weak student"
    assert any(a < Decimal("5.0") for v in averages.values() for a in v), "nothing under 5.0"
    results = [r for _sid, sc in school.scores for r in sc.comment_results]
    assert 1 <= results.count(False) <= 3
    assert results.count(True) > 0.9 * len(results)


# --- timetable -----------------------------------------------------------------------------------


def test_timetable_grid(school: DemoSchool) -> None:
    teachers = {t.full_name for t in school.teachers}
    keys = [(t.class_id, t.weekday, t.session, t.period) for t in school.timetable]
    assert len(set(keys)) == len(keys), "two slots of one class at the same time"
    for cls in school.classes:
        slots = [t for t in school.timetable if t.class_id == cls.id]
        assert {t.weekday for t in slots if t.session is Session.MORNING} == set(range(6))
        assert len({t.weekday for t in slots if t.session is Session.AFTERNOON}) == 2
        assert all(1 <= t.period <= 5 for t in slots)
        assert all(t.teacher_name in teachers and t.room for t in slots)
        monday = [t for t in slots if t.weekday == 0 and t.session is Session.MORNING]
        assert min(monday, key=lambda t: t.period).subject_name == "Chào cờ"
        saturday = [t for t in slots if t.weekday == 5 and t.session is Session.MORNING]
        assert max(saturday, key=lambda t: t.period).subject_name == "Sinh hoạt lớp"
        # mornings are contiguous tiết 1..n (no hole in the day)
        for wd in range(6):
            periods = sorted(
                t.period for t in slots if t.weekday == wd and t.session is Session.MORNING
            )
            assert periods == list(range(1, len(periods) + 1))
        names = Counter(t.subject_name for t in slots)
        for code, weekly in (("toan", 4), ("ngu_van", 4), ("khtn", 4), ("tieng_anh", 3)):
            assert names[subject_by_code(code).name] == weekly
        assert names["Công nghệ"] == (2 if cls.grade >= 8 else 1)
        assert names["Giáo dục công dân"] == 1


def test_no_teacher_in_two_rooms_at_once(school: DemoSchool) -> None:
    keys = [(t.teacher_name, t.weekday, t.session, t.period) for t in school.timetable]
    assert len(set(keys)) == len(keys)


# --- fees and attendance -------------------------------------------------------------------------


def test_fees(school: DemoSchool) -> None:
    student_ids = {s.id for s in school.students}
    ids = [f.id for f in school.fees]
    assert len(set(ids)) == len(ids)
    assert not any("học phí" in f.name.lower() for f in school.fees), "public school: no tuition"
    for f in school.fees:
        assert f.student_id in student_ids
        assert f.id.startswith(f"f-{f.student_id}-")
        assert isinstance(f.mandatory, bool)
        assert isinstance(f.amount, int)
        assert f.amount > 0
        assert f.due_date is not None
        assert (f.paid_at is not None) == f.paid
        if f.paid_at is not None:
            assert f.paid_at.utcoffset() == dt.timedelta(0)
            assert f.paid_at.date() < DEFAULT_TODAY
    bhyt = [f for f in school.fees if f.name.startswith("Bảo hiểm y tế")]
    assert {f.student_id for f in bhyt} == student_ids
    assert all(f.amount == 631_800 and f.mandatory for f in bhyt)
    assert all(not f.mandatory for f in school.fees if f not in bhyt)
    boarding = {f.student_id for f in school.fees if "bán trú" in f.name}
    assert 0.3 * len(student_ids) <= len(boarding) <= 0.7 * len(student_ids)
    assert any(f.paid for f in school.fees)
    assert any(not f.paid and f.due_date < DEFAULT_TODAY for f in school.fees if f.due_date)
    assert any(not f.paid and f.due_date > DEFAULT_TODAY for f in school.fees if f.due_date)


def test_attendance(school: DemoSchool) -> None:
    student_ids = {s.id for s in school.students}
    assert school.attendance
    for a in school.attendance:
        assert a.student_id in student_ids
        assert a.date.weekday() != 6, "absence on a Sunday"
        assert DEFAULT_TODAY - dt.timedelta(days=42) <= a.date < DEFAULT_TODAY
        assert a.session in (None, Session.MORNING)
        if a.excused:
            assert a.reason
    assert any(a.excused for a in school.attendance)
    assert any(not a.excused for a in school.attendance)
    assert max(Counter(a.student_id for a in school.attendance).values()) >= 3
    keys = [(a.student_id, a.date) for a in school.attendance]
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize(
    "today", [dt.date(2026, 12, 7), dt.date(2027, 3, 1), dt.date(2026, 11, 29)]
)
def test_today_shifts_dates_only(school: DemoSchool, today: dt.date) -> None:
    other = build_demo_school(today)
    assert all(a.date.weekday() != 6 and a.date < today for a in other.attendance)
    assert other.students == school.students
    assert other.scores == school.scores
    assert other.timetable == school.timetable
    assert [f.paid for f in other.fees] == [f.paid for f in school.fees]
    assert [f.amount for f in other.fees] == [f.amount for f in school.fees]


def test_deterministic(school: DemoSchool) -> None:
    assert build_demo_school() == school
    assert build_demo_school(DEFAULT_TODAY) == school
