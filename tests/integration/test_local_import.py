"""Spreadsheet import into the ``local`` tables, on SQLite and PostgreSQL: template round trip,
idempotency, score timestamps, dry run, all-or-nothing, and a 5,000-student workbook."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.backends.local import LocalBackend
from bot.backends.local_import import ImportReport, import_school
from bot.backends.spreadsheet import Kind, read_file, write_template
from bot.domain.models import Session, Term
from storage.engine import create_engine, session_factory
from storage.migrate import upgrade
from storage.tables import AuditEvent, ChatLink, School, ScoreRow, StudentRow
from tests.workbooks import fill, write

T0 = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(days=3)
SCHOOL = "thcs-le-loi"

SMALL: dict[str, list[list[Any]]] = {
    "Trường": [["Tên trường", "Trường THCS Lê Lợi"], ["Năm học", "2026-2027"]],
    "Lớp": [["6A", 6, "GV01"], ["8B", "8", ""]],
    "Giáo viên": [
        ["GV01", "Nguyễn Thị Hoa", "0912 000 001", "", "Toán: 6A, 8B; Tin học: 6A"],
        ["GV02", "Trần Văn Hải", "+84 912000002", "8B", "Ngữ văn: 8B"],
    ],
    "Học sinh": [
        ["HS001", "Nguyễn Minh An", "6A", "15/03/2014"],
        ["HS002", "Nguyễn Thu Hà", "8B", dt.datetime(2012, 7, 1)],
        ["HS003", "Lê Văn Khoa", "8B", ""],
    ],
    "Phụ huynh": [
        ["HS001", "Trần Thị Mai", "Mẹ", "0912.345.678"],
        ["HS001", "Nguyễn Văn Bình", "Bố", "0987654321"],
        ["HS002", "Trần Thị Mai", "Mẹ", "+84 912 345 678"],  # one guardian, two children
        ["HS003", "Lê Thị Lụa", "Bà", 912000111],
    ],
    "Điểm": [
        ["HS001", "Toán", 1, 8, "7,5", "9", 8, "7,8", "8.5"],
        ["HS001", "Giáo dục thể chất", "HK1", "Đ", "Đ", "", "", "", ""],
        ["HS002", "Công nghệ", "I", 6, 7, 6, "", "6,8", "6,6"],
        ["HS003", "Toán", 1, 5, "", "", "", "", ""],
    ],
    "Thời khóa biểu": [
        ["6A", 2, "Sáng", 1, "Chào cờ", "Nguyễn Thị Hoa", "Sân trường"],
        ["6A", "Thứ Hai", "Sáng", 2, "Toán", "Nguyễn Thị Hoa", "P.101"],
        ["6A", 3, "Chiều", 1, "Tin học", "Nguyễn Thị Hoa", "Phòng Tin học"],
    ],
    "Khoản thu": [
        ["HS001", "Bảo hiểm y tế học sinh", "631.800", "15/10/2026", "Có", "10/10/2026"],
        ["HS001", "Quỹ Ban đại diện CMHS", 200000, "01/12/2026", "Không", ""],
    ],
    "Điểm danh": [
        ["HS001", "18/11/2026", "Sáng", "Có", "ốm"],
        ["HS003", "19/11/2026", "", "Không", ""],
    ],
}


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    await upgrade(engine)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


def small_workbook(path: Path, **changes: list[list[Any]]) -> Path:
    write_template(path)
    fill(path, {**SMALL, **changes})
    return path


async def run(
    sessions: async_sessionmaker[AsyncSession], path: Path, *, now: dt.datetime = T0, **kw: Any
) -> ImportReport:
    return await import_school(sessions, read_file(path), school_id=SCHOOL, now=now, **kw)


def counts(report: ImportReport) -> dict[Kind, tuple[int, int, int]]:
    return {k: (s.added, s.changed, s.unchanged) for k, s in report.sheets.items()}


async def test_template_round_trip_is_served_by_the_local_backend(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    report = await run(sessions, small_workbook(tmp_path / "school.xlsx"))
    assert report.ok, report.errors
    assert report.school_created and report.written
    assert counts(report)[Kind.STUDENTS] == (3, 0, 0)
    assert counts(report)[Kind.GUARDIANS] == (4, 0, 0)

    backend = LocalBackend(sessions, SCHOOL)
    info = await backend.school_info()
    assert (info.name, info.school_year, info.current_term) == (
        "Trường THCS Lê Lợi",
        "2026-2027",
        Term.HK1,
    )
    an = await backend.find_student(" hs001 ")
    assert an is not None
    assert (an.full_name, an.class_name, an.birth_date) == (
        "Nguyễn Minh An",
        "6A",
        dt.date(2014, 3, 15),
    )
    ha = await backend.find_student("HS002")
    assert ha is not None and ha.birth_date == dt.date(2012, 7, 1)
    guardians = await backend.guardians(an.id)
    assert [(g.name, g.relation, g.phone) for g in guardians] == [
        ("Trần Thị Mai", "Mẹ", "0912345678"),
        ("Nguyễn Văn Bình", "Bố", "0987654321"),
    ]
    assert [g.id for g in await backend.guardians(ha.id)] == [guardians[0].id]  # shared
    khoa = await backend.find_student("HS003")
    assert khoa is not None
    assert [g.phone for g in await backend.guardians(khoa.id)] == ["0912000111"]

    scores = {s.subject_code: s for s in await backend.scores(an.id, Term.HK1)}
    toan = scores["toan"]
    assert toan.regular == (Decimal(8), Decimal("7.5"), Decimal(9), Decimal(8))
    assert (toan.midterm, toan.final, toan.required_regular) == (
        Decimal("7.8"),
        Decimal("8.5"),
        4,
    )
    assert toan.updated_at == T0
    assert scores["gdtc"].comment_results == (True, True)
    [cong_nghe] = await backend.scores(ha.id, Term.HK1)
    assert cong_nghe.required_regular == 3  # grade 8: 52 periods a year
    assert await backend.scores(an.id, Term.HK2) == []

    slots = await backend.timetable(an.class_id)
    assert [(s.weekday, s.session, s.period, s.subject_name) for s in slots] == [
        (0, Session.MORNING, 1, "Chào cờ"),
        (0, Session.MORNING, 2, "Toán"),
        (1, Session.AFTERNOON, 1, "Tin học"),
    ]
    fees = await backend.fees(an.id)
    assert [(f.name, f.amount, f.mandatory, f.paid) for f in fees] == [
        ("Bảo hiểm y tế học sinh", 631_800, True, True),
        ("Quỹ Ban đại diện CMHS", 200_000, False, False),
    ]
    assert fees[0].paid_at is not None and fees[0].paid_at.date() == dt.date(2026, 10, 10)
    absences = await backend.attendance(khoa.id)
    assert [(a.date, a.session, a.excused) for a in absences] == [
        (dt.date(2026, 11, 19), None, False)
    ]

    teachers = {t.code: t for t in await backend.teachers()}
    classes = {c.name: c for c in await backend.classes()}
    assert classes["6A"].homeroom_teacher_id == teachers["GV01"].id
    assert classes["8B"].homeroom_teacher_id == teachers["GV02"].id
    assert teachers["GV01"].homeroom_class_ids == (classes["6A"].id,)
    assert set(teachers["GV01"].subject_class_ids) == {classes["6A"].id, classes["8B"].id}
    assert teachers["GV02"].phone == "0912000002"
    found = await backend.find_teacher("gv02")
    assert found is not None and found.homeroom_class_ids == (classes["8B"].id,)


async def test_reimporting_the_same_file_changes_nothing(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    path = small_workbook(tmp_path / "school.xlsx")
    assert (await run(sessions, path)).ok
    again = await run(sessions, path, now=T1)
    assert again.ok and not again.school_created
    assert all(added == changed == 0 for added, changed, _ in counts(again).values())
    assert counts(again)[Kind.SCORES] == (0, 0, 4)
    assert again.scores_touched == 0
    async with sessions() as s:
        stamps = set(await s.scalars(select(ScoreRow.updated_at)))
        audit = list(await s.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    assert stamps == {T0}
    assert [(a.actor, a.action, a.at) for a in audit] == [
        ("cli", "import", T0),
        ("cli", "import", T1),
    ]
    assert audit[0].detail["students"] == [3, 0, 0]
    assert audit[1].detail["scores"] == [0, 0, 4]


async def test_one_changed_score_is_one_change_and_only_its_timestamp_moves(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    assert (await run(sessions, small_workbook(tmp_path / "v1.xlsx"))).ok
    scores = [list(r) for r in SMALL["Điểm"]]
    scores[0][4] = "6,5"  # HS001 Toán TX2: 7.5 -> 6.5
    changed = await run(sessions, small_workbook(tmp_path / "v2.xlsx", **{"Điểm": scores}), now=T1)
    assert changed.ok
    assert counts(changed)[Kind.SCORES] == (0, 1, 3)
    assert list(map(str, changed.sheets[Kind.SCORES].changes)) == ["dòng 3: TX2"]
    assert changed.scores_touched == 1
    async with sessions() as s:
        moved = (
            await s.execute(
                select(ScoreRow.subject_code, ScoreRow.kind, ScoreRow.seq, ScoreRow.tenths).where(
                    ScoreRow.updated_at == T1
                )
            )
        ).all()
        unchanged = await s.scalar(
            select(func.count()).select_from(ScoreRow).where(ScoreRow.updated_at == T0)
        )
    assert [tuple(r) for r in moved] == [("toan", "tx", 2, 65)]
    assert unchanged == 13  # 14 score cells in the file, one changed
    backend = LocalBackend(sessions, SCHOOL)
    an = await backend.find_student("HS001")
    assert an is not None
    toan = next(s for s in await backend.scores(an.id, Term.HK1) if s.subject_code == "toan")
    assert toan.regular[1] == Decimal("6.5") and toan.updated_at == T1


async def test_an_updated_file_changes_only_what_differs(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    assert (await run(sessions, small_workbook(tmp_path / "v1.xlsx"))).ok
    backend = LocalBackend(sessions, SCHOOL)
    an = await backend.find_student("HS001")
    assert an is not None
    mother, father = await backend.guardians(an.id)
    async with sessions() as s:  # both parents have linked a chat
        for user, person in (("father", father.id), ("mother", mother.id)):
            s.add(
                ChatLink(
                    school_id=SCHOOL,
                    channel="telegram",
                    chat_id=user,
                    user_id=user,
                    role="guardian",
                    subject_id=an.id,
                    person_id=person,
                    consent_version="1",
                    consent_at=T0,
                    verified_at=T0,
                )
            )
        await s.commit()
    students = [list(r) for r in SMALL["Học sinh"]] + [["HS004", "Phạm Quang Huy", "8B", ""]]
    students[2][1] = "Lê Văn Khoa Nam"
    guardians = [r for r in SMALL["Phụ huynh"] if r[1] != "Nguyễn Văn Bình"]
    scores = [list(r) for r in SMALL["Điểm"]]
    scores[3][4] = "6"  # HS003 Toán gets a TX2
    scores[0][8] = ""  # HS001 Toán: the CK is cleared
    report = await run(
        sessions,
        small_workbook(
            tmp_path / "v2.xlsx",
            **{"Học sinh": students, "Phụ huynh": guardians, "Điểm": scores},
        ),
        now=T1,
    )
    assert report.ok, report.errors
    assert counts(report)[Kind.STUDENTS] == (1, 1, 2)
    assert list(map(str, report.sheets[Kind.STUDENTS].changes)) == ["dòng 5: Họ và tên"]
    assert counts(report)[Kind.SCORES] == (0, 2, 2)
    assert sorted(map(str, report.sheets[Kind.SCORES].changes)) == [
        "dòng 3: CK (xóa)",
        "dòng 6: TX2",
    ]
    assert counts(report)[Kind.CLASSES] == (0, 0, 2)
    assert [g.name for g in await backend.guardians(an.id)] == ["Trần Thị Mai"]
    async with sessions() as s:  # the father's chat is no longer linked to the child
        active = dict((await s.execute(select(ChatLink.user_id, ChatLink.active))).all())
    assert active == {"father": False, "mother": True}
    toan = next(s for s in await backend.scores(an.id, Term.HK1) if s.subject_code == "toan")
    assert toan.final is None and toan.midterm == Decimal("7.8")


async def test_dry_run_writes_nothing(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    path = small_workbook(tmp_path / "school.xlsx")
    preview = await run(sessions, path, dry_run=True)
    assert preview.ok and preview.school_created and not preview.written
    assert counts(preview)[Kind.STUDENTS] == (3, 0, 0)
    async with sessions() as s:
        assert await s.get(School, SCHOOL) is None
        assert await s.scalar(select(func.count()).select_from(StudentRow)) == 0

    assert (await run(sessions, path)).ok
    scores = [list(r) for r in SMALL["Điểm"]]
    scores[0][3] = 10
    preview = await run(
        sessions, small_workbook(tmp_path / "v2.xlsx", **{"Điểm": scores}), now=T1, dry_run=True
    )
    assert list(map(str, preview.sheets[Kind.SCORES].changes)) == ["dòng 3: TX1"]
    async with sessions() as s:
        assert set(await s.scalars(select(ScoreRow.updated_at))) == {T0}
        assert 80 in set(await s.scalars(select(ScoreRow.tenths).where(ScoreRow.seq == 1)))


async def test_one_bad_row_rejects_the_whole_import(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    scores = [*SMALL["Điểm"], ["HS002", "Toán", 1, 11, "", "", "", "", ""]]
    guardians = [*SMALL["Phụ huynh"], ["HS009", "Ai đó", "Mẹ", "0912345000"]]
    report = await run(
        sessions,
        small_workbook(tmp_path / "bad.xlsx", **{"Điểm": scores, "Phụ huynh": guardians}),
    )
    assert [str(e) for e in report.errors] == [
        "trang 'Điểm', dòng 7, cột 'TX1': điểm 11 ngoài thang 0–10",
        "trang 'Phụ huynh', dòng 7, cột 'Mã HS': mã học sinh không có trong danh sách học sinh",
    ]
    assert not report.written
    async with sessions() as s:
        assert await s.get(School, SCHOOL) is None
        assert await s.scalar(select(func.count()).select_from(StudentRow)) == 0


async def test_a_new_school_needs_a_name_and_later_files_may_hold_one_kind(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    students = tmp_path / "hoc-sinh.xlsx"
    write(students, {"DS": [["Mã HS", "Họ tên", "Lớp"], ["HS001", "An", "6A"]]})
    classes = tmp_path / "lop.csv"
    classes.write_text("Lớp,Khối\n6A,6\n", encoding="utf-8")
    refused = await run(sessions, classes)
    assert any("--name" in str(e) for e in refused.errors)
    assert (await run(sessions, classes, name="Trường Tiểu học Hòa Bình")).ok
    report = await run(sessions, students)  # the class now comes from the database
    assert report.ok, report.errors
    assert counts(report) == {Kind.STUDENTS: (1, 0, 0)}


async def test_five_thousand_students(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, database_url: str
) -> None:
    path = tmp_path / "big.xlsx"
    classes = [[f"{g}A{k}", g, ""] for g in range(6, 10) for k in range(1, 26)]
    students, guardians, scores = [], [], []
    for i in range(5000):
        code, cls = f"HS{i:05d}", classes[i % len(classes)][0]
        students.append([code, f"Học Sinh Số {i}", cls, "01/09/2013"])
        guardians.append([code, f"Phụ Huynh {i}", "Mẹ", f"09{i:08d}"])
        if i % 2 == 0:  # siblings share the father
            guardians.append([code, f"Bố {i // 2}", "Bố", f"08{i // 2:08d}"])
        scores.append([code, "Toán", 1, 8, "7,5", 9, 6, "7,8", "8,5"])
        scores.append([code, "Ngữ văn", 1, 7, 6, "6,5", 8, 7, "7,5"])
    write_template(path)
    wb = openpyxl.load_workbook(path)
    for title, rows in (
        ("Lớp", classes),
        ("Học sinh", students),
        ("Phụ huynh", guardians),
        ("Điểm", scores),
    ):
        for row in rows:
            wb[title].append(row)
    wb.save(path)

    started = time.monotonic()
    report = await run(sessions, path, name="Trường lớn")
    first = time.monotonic() - started
    assert report.ok, report.errors[:5]
    assert counts(report)[Kind.STUDENTS] == (5000, 0, 0)
    assert counts(report)[Kind.GUARDIANS] == (7500, 0, 0)
    assert report.scores_touched == 10000 * 6
    started = time.monotonic()
    again = await run(sessions, path, now=T1)
    second = time.monotonic() - started
    assert counts(again)[Kind.SCORES] == (0, 0, 10000)
    if database_url.startswith("sqlite"):
        assert first + second < 60, (first, second)
    backend = LocalBackend(sessions, SCHOOL)
    st = await backend.find_student("HS04999")
    assert st is not None and st.class_name == classes[4999 % 100][0]
    assert len(await backend.guardians(st.id)) == 1
