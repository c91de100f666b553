"""Workbooks for the import tests, written with openpyxl the way a school would fill them in:
the demo school exported into the template's sheets, and a generated large school."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl

from bot.backends.demo_data import DemoSchool, subject_by_code
from bot.domain.models import GradingForm, Session

WEEKDAY = {0: 2, 1: 3, 2: 4, 3: 5, 4: 6, 5: 7}
SESSION = {Session.MORNING: "Sáng", Session.AFTERNOON: "Chiều"}


def fill(path: Path, sheets: dict[str, Sequence[Sequence[Any]]]) -> None:
    """Append rows (from row 3, after the template's note and header rows) to a template."""
    wb = openpyxl.load_workbook(path)
    for title, rows in sheets.items():
        ws = wb[title]
        for row in rows:
            ws.append(list(row))
    wb.save(path)


def write(path: Path, sheets: dict[str, Sequence[Sequence[Any]]]) -> None:
    """A workbook from scratch: each sheet's first row is its header row."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(list(row))
    wb.save(path)


def dmy(d: Any) -> str:
    return d.strftime("%d/%m/%Y")


def demo_rows(demo: DemoSchool) -> dict[str, list[list[Any]]]:
    """The demo school as rows for the template's sheets (no header rows)."""
    class_name = {c.id: c.name for c in demo.classes}
    teacher_code = {t.id: t.code for t in demo.teachers}
    student_code = {s.id: s.code for s in demo.students}
    guardian = {g.id: g for g in demo.guardians}
    teaches: dict[str, dict[str, list[str]]] = {}
    for a in demo.teaching:
        name = subject_by_code(a.subject_code).name
        teaches.setdefault(a.teacher_id, {}).setdefault(name, []).append(class_name[a.class_id])
    scores = []
    for sid, sc in demo.scores:
        if sc.form is GradingForm.COMMENT:
            cells: list[Any] = ["Đ" if ok else "CĐ" for ok in sc.comment_results]
            cells += [""] * (4 - len(cells)) + ["", ""]
        else:
            cells = [str(x).replace(".", ",") for x in sc.regular]
            cells += [""] * (4 - len(cells))
            cells += [float(sc.midterm) if sc.midterm is not None else "", str(sc.final or "")]
        scores.append([student_code[sid], sc.subject_name, f"HK{int(sc.term)}", *cells])
    return {
        "Trường": [["Tên trường", demo.info.name], ["Năm học", demo.info.school_year]],
        "Lớp": [[c.name, c.grade, teacher_code[c.homeroom_teacher_id or ""]] for c in demo.classes],
        "Giáo viên": [
            [
                t.code,
                t.full_name,
                t.phone,
                ", ".join(class_name[c] for c in t.homeroom_class_ids),
                "; ".join(f"{s}: {', '.join(cs)}" for s, cs in teaches.get(t.id, {}).items()),
            ]
            for t in demo.teachers
        ],
        "Học sinh": [[s.code, s.full_name, s.class_name, s.birth_date] for s in demo.students],
        "Phụ huynh": [
            [
                student_code[link.student_id],
                guardian[link.guardian_id].name,
                guardian[link.guardian_id].relation,
                guardian[link.guardian_id].phone,
            ]
            for link in demo.guardian_links
        ],
        "Điểm": scores,
        "Thời khóa biểu": [
            [
                class_name[t.class_id],
                WEEKDAY[t.weekday],
                SESSION[t.session],
                t.period,
                t.subject_name,
                t.teacher_name,
                t.room,
            ]
            for t in demo.timetable
        ],
        "Khoản thu": [
            [
                student_code[f.student_id],
                f.name,
                f.amount,
                dmy(f.due_date) if f.due_date else "",
                "Có" if f.mandatory else "Không",
                dmy(f.paid_at) if f.paid_at else "",
            ]
            for f in demo.fees
        ],
        "Điểm danh": [
            [
                student_code[a.student_id],
                dmy(a.date),
                SESSION[a.session] if a.session else "",
                "Có" if a.excused else "Không",
                a.reason,
            ]
            for a in demo.attendance
        ],
    }
