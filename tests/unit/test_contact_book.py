"""The printed contact book (issue 16): one page per pupil with the right text, read back
from the PDF itself; the VietQR code only when the school's account is known."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pypdf

from bot.channels.console import ConsoleChannel
from bot.contact_book import (
    Month,
    PupilPage,
    font_paths,
    parse_month,
    render,
    term_of_month,
)
from bot.domain.models import (
    AttendanceRecord,
    BankAccount,
    FeeItem,
    GradingForm,
    SchoolInfo,
    Session,
    Student,
    SubjectScores,
    Term,
)
from bot.domain.payments import fee_memo
from bot.domain.text import fold
from bot.i18n import Catalog
from bot.messages import Incoming, Reply
from handlers.contact_book import asks_contact_book, wanted_month

SCHOOL = SchoolInfo(id="s1", name="Trường THCS Lê Lợi", school_year="2026-2027")
NOVEMBER = Month(year=2026, month=11)
BANK = BankAccount(
    bank_name="Vietcombank",
    bank_bin="970436",
    account="0011001234567",
    account_name="TRUONG THCS LE LOI",
)


def _pupil(number: int, name: str) -> Student:
    return Student(
        id=f"st-{number}",
        school_id="s1",
        code=f"HS6A0{number}",
        full_name=name,
        class_id="c-6a",
        class_name="6A",
    )


def _page(student: Student, *, final: str) -> PupilPage:
    math = SubjectScores(
        subject_code="toan",
        subject_name="Toán",
        form=GradingForm.SCORED,
        term=Term.HK1,
        regular=(Decimal("7.5"), Decimal("9")),
        midterm=Decimal("8"),
        final=Decimal(final),
    )
    sport = SubjectScores(
        subject_code="gdtc",
        subject_name="Giáo dục thể chất",
        form=GradingForm.COMMENT,
        term=Term.HK1,
        comment_results=(True, True),
        required_regular=2,
    )
    return PupilPage(
        student=student,
        term=Term.HK1,
        scores=(math, sport),
        month_absences=(
            AttendanceRecord(
                student_id=student.id, date=dt.date(2026, 11, 3), session=None, excused=True
            ),
            AttendanceRecord(
                student_id=student.id,
                date=dt.date(2026, 11, 5),
                session=Session.MORNING,
                excused=False,
            ),
        ),
        year_excused=4,
        year_unexcused=1,
        fees_due=(
            FeeItem(
                id="f1",
                student_id=student.id,
                name="Tiền ăn bán trú tháng 11",
                amount=650_000,
                due_date=dt.date(2026, 11, 10),
                paid=False,
                mandatory=True,
            ),
        ),
    )


def _texts(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages]


def test_one_page_per_pupil_with_name_scores_absences_fees_and_signature() -> None:
    pages = [
        _page(_pupil(1, "Nguyễn Minh An"), final="8.5"),
        _page(_pupil(2, "Trần Thị Bích Ngọc"), final="6"),
    ]
    pdf = render(pages, school=SCHOOL, month=NOVEMBER, catalog=Catalog.load(), bank=BANK)
    texts = _texts(pdf)
    assert len(texts) == 2
    first, second = texts
    assert "SỔ LIÊN LẠC THÁNG 11/2026" in first
    assert "Nguyễn Minh An" in first and "Trần Thị Bích Ngọc" not in first
    assert "Trần Thị Bích Ngọc" in second and "Nguyễn Minh An" not in second
    # Toán: (7,5 + 9 + 2×8 + 3×8,5) / 7 = 8,29 -> 8,3 ; with a final of 6: 7,2
    assert "8,3" in first and "7,2" in second
    assert "Giáo dục thể chất" in first and "Đạt" in first
    assert "nghỉ có phép 1 buổi, không phép 1 buổi" in first
    assert "có phép 4 buổi, không phép 1 buổi" in first
    assert "Tiền ăn bán trú tháng 11: 650.000 ₫ — hạn 10/11/2026" in first
    # the transfer memo: the same reference as the chat's VietQR, never the pupil's code
    assert fee_memo(BANK, "s1", _page(_pupil(1, "An"), final="8").fees_due[0]) in first
    assert "HS6A01" not in first
    assert "Nhận xét của giáo viên chủ nhiệm" in first
    assert "Chữ ký của cha mẹ học sinh" in first


def test_the_qr_code_is_printed_only_with_the_school_account() -> None:
    pages = [_page(_pupil(1, "Nguyễn Minh An"), final="8")]
    catalog = Catalog.load()
    with_bank = pypdf.PdfReader(
        io.BytesIO(render(pages, school=SCHOOL, month=NOVEMBER, catalog=catalog, bank=BANK))
    )
    without = pypdf.PdfReader(
        io.BytesIO(render(pages, school=SCHOOL, month=NOVEMBER, catalog=catalog))
    )
    assert len(with_bank.pages[0].images) == 1
    assert len(without.pages[0].images) == 0
    assert "650.000 ₫" in without.pages[0].extract_text()  # the fees, without a code


def test_english_and_an_empty_class() -> None:
    pdf = render([], school=SCHOOL, month=NOVEMBER, catalog=Catalog.load(), locale="en")
    texts = _texts(pdf)
    assert len(texts) == 1 and "no pupils" in texts[0]


def test_the_font_comes_with_matplotlib() -> None:
    regular, bold = font_paths()
    assert regular.is_file() and bold.is_file()


def test_months_terms_and_memos() -> None:
    assert parse_month("11/2026") == NOVEMBER
    assert parse_month(" 1-2027 ") == Month(year=2027, month=1)
    assert parse_month("13/2026") is None and parse_month("11/26") is None
    assert parse_month("tháng 11") is None
    assert term_of_month(NOVEMBER) is Term.HK1
    assert term_of_month(Month(year=2027, month=1)) is Term.HK1
    assert term_of_month(Month(year=2027, month=3)) is Term.HK2
    memo = fee_memo(BANK, "s1", _page(_pupil(1, "An"), final="8").fees_due[0])
    assert memo.startswith("HP ") and len(memo) <= 25 and memo.isascii()


def test_what_a_teacher_types() -> None:
    for text in (
        "in so lien lac lop 6a",
        "so lien lac in",
        fold("/soliênlạc"),
        "/solienlac 11/2026",
    ):
        assert asks_contact_book(text), text
    for text in ("so lien lac", "diem toan", "in", "/start"):
        assert not asks_contact_book(text), text


def test_the_month_asked_across_the_year_boundary() -> None:
    assert wanted_month("in so lien lac 11/2026", 2027, 3) == NOVEMBER
    assert wanted_month("in so lien lac thang 11", 2027, 1) == NOVEMBER  # last autumn
    assert wanted_month("in so lien lac thang 2", 2026, 11) == Month(year=2027, month=2)
    assert wanted_month("in so lien lac", 2026, 12) == Month(year=2026, month=12)


def test_the_console_saves_a_document_and_says_where(tmp_path: Path) -> None:
    async def handle(incoming: Incoming) -> list[Reply]:
        return []

    console = ConsoleChannel(handle, school_id="s1", stdout=io.StringIO(), documents_dir=tmp_path)
    shown = console.render(Reply(text="📄 Sổ liên lạc", document=("../so.pdf", b"%PDF-1.4")))
    saved = tmp_path / "so.pdf"  # the name only: a path in it cannot leave the directory
    assert saved.read_bytes() == b"%PDF-1.4"
    assert str(saved.resolve()) in shown
