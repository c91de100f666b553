"""Seeded, fictitious data sets for the benchmarks: schools, classes, pupils with Vietnamese
names, their guardians with phone numbers in the unallocated-looking ``0900`` block, and TT22
scores. The same seed gives the same data, so two runs compare like with like.

Nothing here is real: names are common family, middle and given names put together at random,
pupil codes are ``B<school><nnnnn>``, phones are ``0900`` followed by six digits."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

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
