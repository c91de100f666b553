"""The TT22 subject catalogue of lower-secondary school (THCS, grades 6–9): names, grading
form, periods per year and the number of regular assessments (ĐĐGtx) per term that Circular
22/2021/TT-BGDĐT asks for. Pure data and rules: the demo school, the spreadsheet import and
the score answers all read it from here.

Công nghệ is grade-dependent: 35 periods/year in grades 6–7 (2 ĐĐGtx) but 52 in grades 8–9
(3 ĐĐGtx). :data:`SUBJECTS` carries the grade 6–7 values; use :func:`required_regular_for` /
:func:`periods_per_year_for` with the class grade.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.models import GradingForm


@dataclass(frozen=True, slots=True, kw_only=True)
class Subject:
    """One subject of the TT22 grade 6–9 catalogue."""

    code: str  # ascii slug: "toan", "ngu_van", ...
    name: str  # "Toán", "Ngữ văn", ...
    form: GradingForm
    periods_per_year: int  # grades 6–7 value for Công nghệ (see periods_per_year_for)
    required_regular: int  # ĐĐGtx per term, grades 6–7 value for Công nghệ
    aliases: tuple[str, ...]  # folded (lower-case, no diacritics) names parents type


_S = GradingForm.SCORED
_C = GradingForm.COMMENT

SUBJECTS: tuple[Subject, ...] = (
    Subject(
        code="toan",
        name="Toán",
        form=_S,
        periods_per_year=140,
        required_regular=4,
        aliases=("toan", "math"),
    ),
    Subject(
        code="ngu_van",
        name="Ngữ văn",
        form=_S,
        periods_per_year=140,
        required_regular=4,
        aliases=("van", "ngu van"),
    ),
    Subject(
        code="tieng_anh",
        name="Tiếng Anh",
        form=_S,
        periods_per_year=105,
        required_regular=4,
        aliases=("anh", "tieng anh", "english", "ngoai ngu", "ngoai ngu 1"),
    ),
    Subject(
        code="khtn",
        name="Khoa học tự nhiên",
        form=_S,
        periods_per_year=140,
        required_regular=4,
        aliases=(
            "khtn",
            "khoa hoc tu nhien",
            "ly",
            "li",
            "vat ly",
            "vat li",
            "hoa",
            "hoa hoc",
            "sinh",
            "sinh hoc",
        ),
    ),
    Subject(
        code="ls_dl",
        name="Lịch sử và Địa lí",
        form=_S,
        periods_per_year=105,
        required_regular=4,
        aliases=(
            "ls dl",
            "lsdl",
            "lich su va dia li",
            "lich su va dia ly",
            "lich su dia ly",
            "lich su",
            "su",
            "dia ly",
            "dia li",
            "dia",
        ),
    ),
    Subject(
        code="gdcd",
        name="Giáo dục công dân",
        form=_S,
        periods_per_year=35,
        required_regular=2,
        aliases=("gdcd", "giao duc cong dan", "cong dan"),
    ),
    Subject(
        code="tin_hoc",
        name="Tin học",
        form=_S,
        periods_per_year=35,
        required_regular=2,
        aliases=("tin", "tin hoc"),
    ),
    Subject(
        code="cong_nghe",
        name="Công nghệ",
        form=_S,
        periods_per_year=35,  # grades 6–7; 52 in grades 8–9
        required_regular=2,  # grades 6–7; 3 in grades 8–9
        aliases=("cong nghe", "cn"),
    ),
    Subject(
        code="gdtc",
        name="Giáo dục thể chất",
        form=_C,
        periods_per_year=70,
        required_regular=2,
        aliases=("gdtc", "giao duc the chat", "the duc", "the chat"),
    ),
    Subject(
        code="nghe_thuat",
        name="Nghệ thuật",
        form=_C,
        periods_per_year=70,
        required_regular=2,
        aliases=("nghe thuat", "am nhac", "nhac", "mi thuat", "my thuat"),
    ),
    Subject(
        code="hdtn_hn",
        name="Hoạt động trải nghiệm, hướng nghiệp",
        form=_C,
        periods_per_year=105,
        required_regular=2,
        aliases=(
            "hdtn",
            "hdtn hn",
            "hoat dong trai nghiem huong nghiep",
            "hoat dong trai nghiem",
            "trai nghiem",
            "huong nghiep",
        ),
    ),
    Subject(
        code="gd_dia_phuong",
        name="Nội dung giáo dục của địa phương",
        form=_C,
        periods_per_year=35,
        required_regular=2,
        aliases=(
            "noi dung giao duc cua dia phuong",
            "giao duc dia phuong",
            "gd dia phuong",
            "gddp",
            "dia phuong",
        ),
    ),
)

_BY_CODE: dict[str, Subject] = {s.code: s for s in SUBJECTS}


def subject_by_code(code: str) -> Subject:
    """The catalogue entry for ``code``; ``KeyError`` if unknown."""
    try:
        return _BY_CODE[code]
    except KeyError:
        raise KeyError(f"unknown subject code: {code!r}") from None


def periods_per_year_for(subject: Subject, grade: int) -> int:
    """Periods/year for ``subject`` in ``grade`` (Công nghệ: 35 in grades 6–7, 52 in 8–9)."""
    if subject.code == "cong_nghe" and grade >= 8:
        return 52
    return subject.periods_per_year


def required_regular_for(subject: Subject, grade: int) -> int:
    """ĐĐGtx per term under TT22: 35 periods → 2, >35–70 → 3, >70 → 4; comment-only → 2."""
    if subject.form is GradingForm.COMMENT:
        return 2
    periods = periods_per_year_for(subject, grade)
    if periods <= 35:
        return 2
    if periods <= 70:
        return 3
    return 4
