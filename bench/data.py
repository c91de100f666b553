"""Seeded, fictitious data sets for the benchmarks: schools, classes, pupils with Vietnamese
names, their guardians with phone numbers in the unallocated-looking ``0900`` block, and TT22
scores. The same seed gives the same data, so two runs compare like with like.

Nothing here is real: names are common family, middle and given names put together at random,
pupil codes are ``B<school><nnnnn>``, phones are ``0900`` followed by six digits.
:func:`write_workbook` puts one school into the spreadsheet that ``run_bot.py import`` reads."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from bot.domain.models import GradingForm
from bot.domain.subjects import SUBJECTS, Subject, required_regular_for

SEED = 2026
FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Ngô")
MIDDLE_F = ("Thị", "Ngọc", "Thu", "Thanh", "Minh", "Khánh", "Bảo", "Mai")
MIDDLE_M = ("Văn", "Đức", "Minh", "Quang", "Hữu", "Xuân", "Gia", "Anh")
GIVEN_F = (
    "An", "Anh", "Chi", "Dung", "Giang", "Hà", "Hằng", "Hương", "Lan", "Linh", "Mai", "My",
    "Ngân", "Ngọc", "Nhung", "Phương", "Thảo", "Trang", "Vân", "Yến",
)  # fmt: skip
GIVEN_M = (
    "Bảo", "Cường", "Dũng", "Duy", "Hiếu", "Hoàng", "Huy", "Khánh", "Khoa", "Long", "Minh",
    "Nam", "Phong", "Phúc", "Quân", "Sơn", "Thắng", "Trung", "Tuấn", "Việt",
)  # fmt: skip
GRADES = (6, 7, 8, 9)  # THCS


@dataclass(frozen=True, slots=True)
class Pupil:
    id: str
    code: str  # what a parent types
    full_name: str
    school_id: str
    class_id: str
    class_name: str
    grade: int
    guardian_id: str
    guardian_name: str
    guardian_phone: str


def name(rng: random.Random, *, female: bool) -> str:
    middle, given = (MIDDLE_F, GIVEN_F) if female else (MIDDLE_M, GIVEN_M)
    return f"{rng.choice(FAMILY)} {rng.choice(middle)} {rng.choice(given)}"


def phone(n: int) -> str:
    """The n-th fictitious phone number (0 ≤ n < 1,000,000)."""
    return f"0900{n:06d}"


def school_id(n: int) -> str:
    return f"thcs-{n:04d}"


def pupils(
    schools: int, per_school: int, *, per_class: int = 40, seed: int = SEED
) -> Iterator[Pupil]:
    """``schools × per_school`` pupils, classes of ``per_class`` across grades 6–9, one guardian
    each (the mother), every phone distinct."""
    rng = random.Random(seed)
    n = 0
    for s in range(schools):
        sid = school_id(s)
        for i in range(per_school):
            grade = GRADES[(i // per_class) % len(GRADES)]
            section = i // (per_class * len(GRADES)) + 1
            class_name = f"{grade}A{section}"
            female = rng.random() < 0.5
            child = name(rng, female=female)
            family = child.split()[0]
            mother = (
                f"{rng.choice(FAMILY) if rng.random() < 0.5 else family} Thị {rng.choice(GIVEN_F)}"
            )
            yield Pupil(
                id=f"{sid}-st-{i:05d}",
                code=f"B{s:04d}{i:05d}",
                full_name=child,
                school_id=sid,
                class_id=f"{sid}-c-{class_name.lower()}",
                class_name=class_name,
                grade=grade,
                guardian_id=f"{sid}-g-{i:05d}",
                guardian_name=mother,
                guardian_phone=phone(n),
            )
            n += 1


def _score(rng: random.Random, mean: float, step: int) -> Decimal:
    """A score 0–10 near ``mean`` in steps of ``step`` tenths (5: half points)."""
    tenths = max(0, min(100, round(rng.gauss(mean, 1.0) * 10 / step) * step))
    whole, frac = divmod(tenths, 10)
    return Decimal(f"{whole}.{frac}" if frac else f"{whole}")


@dataclass(frozen=True, slots=True)
class TermScores:
    """One pupil's scores in one scored subject for one term: TX (regular), GK, CK."""

    subject: Subject
    regular: tuple[Decimal, ...]
    midterm: Decimal
    final: Decimal


def scores(pupil: Pupil, *, seed: int = SEED) -> list[TermScores]:
    """The pupil's HKI scores in every subject graded by score (TT22), seeded by pupil."""
    rng = random.Random(f"{seed}:{pupil.id}")
    ability = rng.gauss(6.8, 1.1)
    out = []
    for subject in SUBJECTS:
        if subject.form is not GradingForm.SCORED:
            continue
        count = required_regular_for(subject, pupil.grade)
        out.append(
            TermScores(
                subject=subject,
                regular=tuple(_score(rng, ability, 5) for _ in range(count)),
                midterm=_score(rng, ability, 1),
                final=_score(rng, ability, 1),
            )
        )
    return out


# The workbook of ``run_bot.py import`` (docs/backends.md): one sheet per kind of data, the
# header row first. Scores go in as number cells, dates as date cells, as a QLHS export has them.
SCORE_HEADER = ("Mã HS", "Môn", "Học kỳ", "TX1", "TX2", "TX3", "TX4", "GK", "CK")
FEES = (  # name, amount (₫), due date, mandatory
    ("Bảo hiểm y tế học sinh", 631_800, dt.date(2026, 10, 15), "Có"),
    ("Tiền ăn bán trú tháng 11", 700_000, dt.date(2026, 11, 5), "Không"),
    ("Quỹ khuyến học", 100_000, None, "Không"),
)
_MORNING = ("Toán", "Ngữ văn", "Tiếng Anh", "Khoa học tự nhiên", "Lịch sử và Địa lí", "Tin học")
_AFTERNOON = ("Giáo dục thể chất", "Nghệ thuật", "Công nghệ", "Giáo dục công dân")


def write_workbook(path: Path, students: int, *, seed: int = SEED) -> dict[str, int]:
    """One school of ``students`` pupils (classes of 40, so 5,000 pupils make 125 classes) as
    the import workbook: school info, classes, teachers (a homeroom teacher per class), pupils,
    guardians (every mother, every other father), HKI scores of every subject (scored and
    Đ/CĐ), a timetable of 36 periods a week per class and three fees per pupil.

    Written with openpyxl's write-only mode (quick, little memory). Returns rows per sheet."""
    import openpyxl

    rng = random.Random(f"{seed}:workbook")
    everyone = list(pupils(1, students, seed=seed))
    classes: dict[str, Pupil] = {}
    for p in everyone:
        classes.setdefault(p.class_name, p)
    teacher = {c: f"GV{i + 1:03d}" for i, c in enumerate(classes)}
    sheets: dict[str, list[tuple[object, ...]]] = {
        "Trường": [
            ("Thông tin", "Giá trị"),
            ("Tên trường", "Trường THCS Thử Nghiệm"),
            ("Năm học", "2026-2027"),
            ("Học kỳ hiện tại", 1),
        ],
        "Lớp": [("Lớp", "Khối", "GVCN (mã GV)")]
        + [(c, p.grade, teacher[c]) for c, p in classes.items()],
        "Giáo viên": [("Mã GV", "Họ và tên", "SĐT", "Lớp chủ nhiệm", "Môn dạy")],
        "Học sinh": [("Mã HS", "Họ và tên", "Lớp", "Ngày sinh")],
        "Phụ huynh": [("Mã HS", "Họ tên phụ huynh", "Quan hệ", "SĐT phụ huynh")],
        "Điểm": [SCORE_HEADER],
        "Thời khóa biểu": [("Lớp", "Thứ", "Buổi", "Tiết", "Môn", "Giáo viên", "Phòng")],
        "Khoản thu": [("Mã HS", "Khoản thu", "Số tiền", "Hạn nộp", "Bắt buộc", "Ngày nộp")],
    }
    for i, c in enumerate(classes):  # each class's homeroom teacher teaches it one subject
        female = rng.random() < 0.7
        teaches = f"{_MORNING[i % len(_MORNING)]}: {c}"
        sheets["Giáo viên"].append(
            (teacher[c], name(rng, female=female), phone(900_000 + i), c, teaches)
        )
    comment_subjects = [s for s in SUBJECTS if s.form is GradingForm.COMMENT]
    for i, p in enumerate(everyone):
        born = dt.date(2020 - p.grade, 1 + rng.randrange(12), 1 + rng.randrange(28))
        sheets["Học sinh"].append((p.code, p.full_name, p.class_name, born))
        sheets["Phụ huynh"].append((p.code, p.guardian_name, "Mẹ", p.guardian_phone))
        if i % 2 == 0:
            father = f"{p.full_name.split()[0]} {name(rng, female=False).split(maxsplit=1)[1]}"
            sheets["Phụ huynh"].append((p.code, father, "Bố", phone(500_000 + i)))
        for ts in scores(p, seed=seed):
            regular = [float(x) for x in ts.regular] + [None] * (4 - len(ts.regular))
            sheets["Điểm"].append(
                (p.code, ts.subject.name, "HK1", *regular, float(ts.midterm), float(ts.final))
            )
        for subject in comment_subjects:
            results = ["Đ" if rng.random() < 0.95 else "CĐ" for _ in range(2)]
            sheets["Điểm"].append((p.code, subject.name, "HK1", *results, None, None, None, None))
        for fee, amount, due, mandatory in FEES:
            paid = (
                due - dt.timedelta(days=rng.randrange(20)) if due and rng.random() < 0.6 else None
            )
            sheets["Khoản thu"].append((p.code, fee, amount, due, mandatory, paid))
    for c in classes:
        for day in range(2, 8):  # Thứ Hai … Thứ Bảy
            for period in range(1, 6):
                lesson = (
                    "Chào cờ"
                    if (day, period) == (2, 1)
                    else "Sinh hoạt lớp"
                    if (day, period) == (7, 5)
                    else _MORNING[(day * 5 + period) % len(_MORNING)]
                )
                sheets["Thời khóa biểu"].append(
                    (c, day, "Sáng", period, lesson, name(rng, female=True), f"P{c}")
                )
            if day in (3, 5):
                for period in range(1, 4):
                    lesson = _AFTERNOON[(day + period) % len(_AFTERNOON)]
                    sheets["Thời khóa biểu"].append(
                        (c, day, "Chiều", period, lesson, name(rng, female=False), "Sân trường")
                    )
    wb = openpyxl.Workbook(write_only=True)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        # Excel writes each sheet's size (<dimension>); write-only mode does not, and without
        # it openpyxl's reader parses every sheet twice, which would flatter the import.
        last = openpyxl.utils.get_column_letter(max(len(row) for row in rows))
        ws.calculate_dimension = lambda last=last, rows=rows: f"A1:{last}{len(rows)}"
        for row in rows:
            ws.append(row)
    wb.save(path)
    return {title: len(rows) - 1 for title, rows in sheets.items()}
