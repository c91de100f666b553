"""School data as the core sees it: plain, immutable values with no I/O.

Every backend (the ``local`` SQL mirror, ``rest_json``, ``oneroster``) translates its own
records into these types, so handlers and dialogs never learn where the data came from.
Scores are ``Decimal`` built from strings: TT22 rounding is decided on exact values.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from decimal import Decimal

from bot.domain.calendar import DEFAULT_TIMEZONE


class Term(enum.IntEnum):
    """Học kỳ: the two semesters of a Vietnamese school year."""

    HK1 = 1  # học kỳ I, September to January
    HK2 = 2  # học kỳ II, January to May


class Session(enum.StrEnum):
    """Buổi: half of a school day."""

    MORNING = "morning"  # buổi sáng
    AFTERNOON = "afternoon"  # buổi chiều


class GradingForm(enum.StrEnum):
    """How a subject is assessed under TT22 (Điều 5)."""

    SCORED = "scored"  # comment + 10-point score: Toán, Ngữ văn, ...
    COMMENT = "comment"  # comment only, Đạt / Chưa đạt: GDTC, Nghệ thuật, HĐTN-HN, ...


class StaffRole(enum.StrEnum):
    HOMEROOM = "homeroom"  # giáo viên chủ nhiệm (GVCN) of a class
    SUBJECT = "subject"  # teaches one subject in a class


@dataclass(frozen=True, slots=True, kw_only=True)
class Guardian:
    """A parent or guardian as the school has them on file."""

    id: str
    name: str
    phone: str  # normalised 0xxxxxxxxx; never logged
    relation: str = ""  # "Mẹ", "Bố", "Ông", ...
    sms_only: bool = False  # no smartphone: the digest comes by SMS (issue 16)


@dataclass(frozen=True, slots=True, kw_only=True)
class Student:
    id: str  # backend's own stable id
    school_id: str
    code: str  # mã học sinh, what the parent types; never logged
    full_name: str
    class_id: str
    class_name: str
    birth_date: dt.date | None = None

    @property
    def given_name(self) -> str:
        """What a Vietnamese parent calls the child: the last word ("Nguyễn Văn An" -> "An")."""
        return self.full_name.split()[-1] if self.full_name.strip() else self.full_name


@dataclass(frozen=True, slots=True, kw_only=True)
class SchoolClass:
    id: str
    school_id: str
    name: str  # "6A"
    grade: int
    homeroom_teacher_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Teacher:
    id: str
    school_id: str
    code: str  # mã giáo viên, what the teacher types to link
    full_name: str
    phone: str
    homeroom_class_ids: tuple[str, ...] = ()
    subject_class_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SubjectScores:
    """One subject's assessments for one student in one term."""

    subject_code: str  # "toan"
    subject_name: str  # "Toán"
    form: GradingForm
    term: Term
    regular: tuple[Decimal, ...] = ()  # ĐĐGtx, in order
    midterm: Decimal | None = None  # ĐĐGgk
    final: Decimal | None = None  # ĐĐGck
    required_regular: int = 0  # how many ĐĐGtx this subject needs per term (2, 3 or 4)
    # comment-only subjects: one Đạt (True) / Chưa đạt (False) per assessment
    comment_results: tuple[bool, ...] = ()
    updated_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TimetableSlot:
    class_id: str
    weekday: int  # 0 = Thứ Hai (Monday) ... 5 = Thứ Bảy (Saturday)
    session: Session
    period: int  # tiết 1..5 within the session; no clock times (bells vary)
    subject_name: str
    teacher_name: str = ""
    room: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class FeeItem:
    id: str
    student_id: str
    name: str  # "Bảo hiểm y tế", "Tiền bán trú tháng 11"
    amount: int  # VND, integer
    due_date: dt.date | None
    paid: bool
    mandatory: bool  # bắt buộc / tự nguyện: every item is labelled (Circular 55/2011)
    paid_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AttendanceRecord:
    student_id: str
    date: dt.date
    session: Session | None  # None = the whole day
    excused: bool  # có phép / không phép
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SchoolContact:
    """How parents reach a school outside this chat (from the configuration): its office
    phone and its own bots. Empty strings where unknown."""

    phone: str = ""
    telegram_username: str = ""  # t.me/<username>
    zalo_link: str = ""  # https://zalo.me/…


@dataclass(frozen=True, slots=True, kw_only=True)
class BankAccount:
    """Where parents pay the school (from the configuration): shown as text and as a VietQR."""

    bank_name: str  # "Vietcombank"
    bank_bin: str  # NAPAS BIN, 6 digits ("970436")
    account: str
    account_name: str  # as the bank shows it ("TRUONG THCS LE LOI")
    memo_prefix: str = "HP"  # transfer memo: "<prefix> <fee reference>"


@dataclass(frozen=True, slots=True, kw_only=True)
class SchoolInfo:
    id: str
    name: str
    timezone: str = DEFAULT_TIMEZONE
    school_year: str = ""  # "2026-2027"
    current_term: Term = Term.HK1
    extra: dict[str, str] = field(default_factory=dict)
