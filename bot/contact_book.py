"""The printed contact book (sổ liên lạc giấy) for families without a smartphone (issue 16).

One PDF, one A4 page per pupil: the term's scores with the TT22 averages, the month's
absences (with and without permission) and the year's, the fees still due with a VietQR code
the parent can scan at a neighbour's or the bank (when the school's account is known), a
box for the teacher's remarks and a line for the parent's signature.

:func:`gather` reads the school system (any backend, through the port); :func:`render` draws
the pages with fpdf2. The font is DejaVu Sans as matplotlib ships it: it covers Vietnamese,
and matplotlib is already a dependency, so no font file is vendored.

Trap: the school systems give no date per score (only the subject's ``updated_at``), so "the
month's scores" are the term's scores so far, the term being the one the month falls in.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.domain.attendance import sessions_absent
from bot.domain.formatting import format_average, format_date, format_score, format_vnd
from bot.domain.models import (
    AttendanceRecord,
    BankAccount,
    FeeItem,
    GradingForm,
    SchoolInfo,
    Student,
    SubjectScores,
    Term,
)
from bot.domain.payments import fee_memo
from bot.domain.tt22 import comment_result, term_average
from bot.i18n import Catalog
from bot.ports import Capability, SchoolBackend

if TYPE_CHECKING:
    from fpdf import FPDF

__all__ = [
    "Month",
    "PupilPage",
    "font_paths",
    "gather",
    "parse_month",
    "render",
    "term_of_month",
]

Progress = Callable[[int, int], None]  # (done, total)

_MONTH = re.compile(r"\s*(\d{1,2})\s*[/.-]\s*(\d{4})\s*")


@dataclass(frozen=True, slots=True, kw_only=True)
class Month:
    year: int
    month: int

    @property
    def first(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    def contains(self, day: dt.date) -> bool:
        return (day.year, day.month) == (self.year, self.month)

    def label(self) -> str:
        return f"{self.month:02d}/{self.year}"


def parse_month(text: str) -> Month | None:
    """``"11/2026"`` (also ``11-2026``, ``11.2026``) -> Month; None when it is not one."""
    found = _MONTH.fullmatch(text)
    if not found:
        return None
    month, year = int(found.group(1)), int(found.group(2))
    if not 1 <= month <= 12 or not 2000 <= year <= 2100:
        return None
    return Month(year=year, month=month)


def term_of_month(month: Month) -> Term:
    """Học kỳ I runs September to January, học kỳ II February to the summer."""
    return Term.HK1 if month.month >= 8 or month.month == 1 else Term.HK2


@dataclass(frozen=True, slots=True, kw_only=True)
class PupilPage:
    student: Student
    term: Term
    scores: tuple[SubjectScores, ...]
    month_absences: tuple[AttendanceRecord, ...]
    year_excused: int  # sessions
    year_unexcused: int
    fees_due: tuple[FeeItem, ...]
    remarks: str = ""  # the teacher's remarks; no school system offers them yet


async def gather(
    backend: SchoolBackend,
    class_ids: Sequence[str],
    month: Month,
    *,
    progress: Progress | None = None,
) -> list[PupilPage]:
    """One page per pupil of ``class_ids``, in class order then roster order."""
    caps = backend.capabilities
    term = term_of_month(month)
    rosters = [list(await backend.class_students(class_id)) for class_id in class_ids]
    total = sum(len(r) for r in rosters)
    pages: list[PupilPage] = []
    for roster in rosters:
        for student in roster:
            scores = await backend.scores(student.id, term) if Capability.SCORES in caps else ()
            records = (
                list(await backend.attendance(student.id)) if Capability.ATTENDANCE in caps else []
            )
            fees = await backend.fees(student.id) if Capability.FEES in caps else ()
            all_sessions = sessions_absent(records)
            excused = sessions_absent(r for r in records if r.excused)
            pages.append(
                PupilPage(
                    student=student,
                    term=term,
                    scores=tuple(scores),
                    month_absences=tuple(r for r in records if month.contains(r.date)),
                    year_excused=excused,
                    year_unexcused=all_sessions - excused,
                    fees_due=tuple(f for f in fees if not f.paid),
                )
            )
            if progress is not None:
                progress(len(pages), total)
    return pages


def font_paths() -> tuple[Path, Path]:
    """DejaVu Sans (regular, bold) from matplotlib's own data: always installed with it."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"


def _qr_png(bank: BankAccount, school_id: str, fee: FeeItem) -> bytes | None:
    """The fee's VietQR, as the chat shows it (bot.domain.payments): the same memo."""
    from bot.domain.payments import qr_payload, qr_png

    try:
        return qr_png(qr_payload(bank, school_id, fee))
    except ValueError:
        return None  # a misconfigured account prints no code rather than a wrong one


def _score_cells(
    s: SubjectScores, locale: str, t: Callable[..., str]
) -> tuple[str, str, str, str, str]:
    if s.form is GradingForm.COMMENT:
        result = comment_result(s.comment_results, s.required_regular)
        marks = " · ".join(t("pass_short") if r else t("fail_short") for r in s.comment_results)
        final = "" if result is None else (t("pass") if result else t("fail"))
        return s.subject_name, marks, "", "", final
    regular = " · ".join(format_score(x, locale) for x in s.regular)
    mid = format_score(s.midterm, locale) if s.midterm is not None else ""
    fin = format_score(s.final, locale) if s.final is not None else ""
    avg = term_average(s.regular, s.midterm, s.final)
    return s.subject_name, regular, mid, fin, format_average(avg.rounded, locale) if avg else ""


def render(
    pages: Sequence[PupilPage],
    *,
    school: SchoolInfo,
    month: Month,
    catalog: Catalog,
    locale: str = "vi",
    bank: BankAccount | None = None,
    compress: bool = True,
) -> bytes:
    """The PDF: one A4 page per pupil (at least one page: an empty class says so)."""
    from fpdf import FPDF

    def t(key: str, /, **values: object) -> str:
        return catalog.t(locale, f"contact_book.{key}", **values)

    # fpdf2 subsets the font with fontTools, which logs every table it prunes at INFO
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    regular_font, bold_font = font_paths()
    pdf = FPDF(format="A4")
    pdf.set_compression(compress)
    pdf.set_auto_page_break(auto=False)
    pdf.set_margins(15, 12, 15)
    pdf.add_font("DejaVu", "", str(regular_font))
    pdf.add_font("DejaVu", "B", str(bold_font))
    pdf.set_title(t("title", month=month.label()))
    width = pdf.w - pdf.l_margin - pdf.r_margin
    if not pages:
        pdf.add_page()
        pdf.set_font("DejaVu", "", 12)
        pdf.multi_cell(width, 7, t("empty"), new_x="LMARGIN", new_y="NEXT")
    for page in pages:
        _page(pdf, page, school=school, month=month, t=t, locale=locale, bank=bank, width=width)
    return bytes(pdf.output())


def _page(
    pdf: FPDF,
    page: PupilPage,
    *,
    school: SchoolInfo,
    month: Month,
    t: Callable[..., str],
    locale: str,
    bank: BankAccount | None,
    width: float,
) -> None:
    student = page.student
    pdf.add_page()
    pdf.set_font("DejaVu", "", 9)
    pdf.cell(width, 5, school.name, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "B", 15)
    pdf.cell(width, 9, t("title", month=month.label()), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 11)
    term = t("term_1") if page.term is Term.HK1 else t("term_2")
    pdf.cell(
        width,
        6,
        t("pupil", name=student.full_name, class_name=student.class_name),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    year = f" — {school.school_year}" if school.school_year else ""
    pdf.cell(width, 6, f"{term}{year}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)

    # scores
    pdf.set_font("DejaVu", "B", 11)
    pdf.cell(width, 7, t("scores"), new_x="LMARGIN", new_y="NEXT")
    cols = (0.30, 0.34, 0.11, 0.11, 0.14)
    heads = (t("col_subject"), t("col_regular"), t("col_mid"), t("col_final"), t("col_avg"))
    pdf.set_font("DejaVu", "B", 8)
    for share, head in zip(cols, heads, strict=True):
        pdf.cell(width * share, 6, head, border=1, align="C")
    pdf.ln()
    pdf.set_font("DejaVu", "", 8)
    if not page.scores:
        pdf.cell(width, 6, t("no_scores"), border=1, new_x="LMARGIN", new_y="NEXT")
    for subject in page.scores:
        cells = _score_cells(subject, locale, t)
        for index, (share, text) in enumerate(zip(cols, cells, strict=True)):
            pdf.cell(width * share, 5.2, text, border=1, align="L" if index < 2 else "C")
        pdf.ln()
    pdf.ln(2)

    # absences
    pdf.set_font("DejaVu", "B", 11)
    pdf.cell(width, 7, t("absences"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    month_total = sessions_absent(page.month_absences)
    month_excused = sessions_absent(r for r in page.month_absences if r.excused)
    pdf.cell(
        width,
        5,
        t(
            "absences_month",
            month=month.label(),
            excused=month_excused,
            unexcused=month_total - month_excused,
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.cell(
        width,
        5,
        t("absences_year", excused=page.year_excused, unexcused=page.year_unexcused),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    days = ", ".join(
        f"{format_date(r.date)} ({t('excused') if r.excused else t('unexcused')})"
        for r in page.month_absences
    )
    if days:
        pdf.multi_cell(width, 5, days, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)

    # fees
    pdf.set_font("DejaVu", "B", 11)
    pdf.cell(width, 7, t("fees"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    if not page.fees_due:
        pdf.cell(width, 5, t("fees_none"), new_x="LMARGIN", new_y="NEXT")
    qr_size = 24.0
    qr_x = pdf.l_margin + width - qr_size
    for fee in page.fees_due:
        due = format_date(fee.due_date) if fee.due_date else "—"
        line = t("fee_line", name=fee.name, amount=format_vnd(fee.amount), date=due)
        png = _qr_png(bank, school.id, fee) if bank is not None else None
        if png is not None and pdf.get_y() + qr_size + 70 < pdf.h:
            top = pdf.get_y()
            pdf.multi_cell(width - qr_size - 4, 5, line, new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("DejaVu", "", 7)
            assert bank is not None  # a code is only drawn for a configured account
            pdf.multi_cell(
                width - qr_size - 4,
                4,
                t("fee_memo", memo=fee_memo(bank, school.id, fee)),
                new_x="LMARGIN",
                new_y="NEXT",
            )
            pdf.set_font("DejaVu", "", 9)
            pdf.image(io.BytesIO(png), x=qr_x, y=top, w=qr_size, h=qr_size)
            pdf.set_y(max(pdf.get_y(), top + qr_size + 1))
        else:
            pdf.multi_cell(width, 5, line, new_x="LMARGIN", new_y="NEXT")
    if page.fees_due and bank is not None:
        pdf.set_font("DejaVu", "", 7)
        pdf.multi_cell(
            width,
            4,
            t(
                "bank",
                bank=bank.bank_name or bank.bank_bin,
                account=bank.account,
                holder=bank.account_name,
            ),
            new_x="LMARGIN",
            new_y="NEXT",
        )
    pdf.ln(2)

    # remarks and signature, kept at the bottom of the page
    bottom = pdf.h - 12
    box_top = max(pdf.get_y(), bottom - 62)
    pdf.set_y(box_top)
    pdf.set_font("DejaVu", "B", 11)
    pdf.cell(width, 7, t("remarks"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    box_h = max(18.0, bottom - 28 - pdf.get_y())
    pdf.rect(pdf.l_margin, pdf.get_y(), width, box_h)
    if page.remarks:
        pdf.multi_cell(width, 5, page.remarks)
    pdf.set_y(bottom - 24)
    half = width / 2
    pdf.cell(half, 6, t("teacher_signature"), align="C")
    pdf.cell(half, 6, t("parent_signature"), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 7)
    pdf.cell(half, 4, t("sign_hint"), align="C")
    pdf.cell(half, 4, t("sign_hint"), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(bottom - 4)
    pdf.cell(half, 4, "")
    pdf.cell(half, 4, "." * 60, align="C")
