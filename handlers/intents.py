"""What the user is asking for, from a command or free Vietnamese text (with or without
diacritics). Pure: no I/O, no knowledge of the school's data."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from bot.domain.text import (
    contains_phrase,
    fold,
    nfc,
    parse_relative_day,
    parse_week,
    parse_weekday,
)


class IntentName(enum.StrEnum):
    START = "start"
    HELP = "help"
    CANCEL = "cancel"
    FORGET = "forget"
    LANG = "lang"
    LINK = "link"  # link (another) child or a staff record
    SCORES = "scores"
    TIMETABLE = "timetable"
    FEES = "fees"
    ATTENDANCE = "attendance"
    ABSENCE = "absence"  # a parent asks for leave (xin nghỉ học)
    MY_REQUESTS = "my_requests"  # a parent's pending leave requests
    PENDING = "pending"  # a teacher's requests waiting for a decision
    CLASS_ABSENT = "class_absent"  # a teacher: who is absent today / on a day
    SETTINGS = "settings"  # notification settings (dialogs/settings.py)
    NOTICE = "notice"  # a teacher's notice to a class (dialogs/notice.py)
    TO_TEACHER = "to_teacher"  # a message meant for a teacher or the school, not a question
    CODE = "code"  # a bare student/staff code typed straight away
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class Intent:
    name: IntentName
    folded: str = ""  # the folded text, for handlers that look for more (subject, child name)
    code: str = ""


COMMANDS: dict[str, IntentName] = {
    "start": IntentName.START,
    "help": IntentName.HELP,
    "trogiup": IntentName.HELP,
    "menu": IntentName.HELP,
    "cancel": IntentName.CANCEL,
    "huy": IntentName.CANCEL,
    "forget": IntentName.FORGET,
    "xoa": IntentName.FORGET,
    "xoa_du_lieu": IntentName.FORGET,
    "lang": IntentName.LANG,
    "ngonngu": IntentName.LANG,
    "language": IntentName.LANG,
    "lienket": IntentName.LINK,
    "link": IntentName.LINK,
    "them": IntentName.LINK,
    "themcon": IntentName.LINK,
    "addchild": IntentName.LINK,
    "diem": IntentName.SCORES,
    "scores": IntentName.SCORES,
    "score": IntentName.SCORES,
    "grades": IntentName.SCORES,
    "tkb": IntentName.TIMETABLE,
    "timetable": IntentName.TIMETABLE,
    "lichhoc": IntentName.TIMETABLE,
    "hocphi": IntentName.FEES,
    "khoanthu": IntentName.FEES,
    "fees": IntentName.FEES,
    "nghiphep": IntentName.ABSENCE,
    "xinnghi": IntentName.ABSENCE,
    "absence": IntentName.ABSENCE,
    "leave": IntentName.ABSENCE,
    "donnghi": IntentName.MY_REQUESTS,
    "myrequests": IntentName.MY_REQUESTS,
    "choduyet": IntentName.PENDING,
    "duyet": IntentName.PENDING,
    "pending": IntentName.PENDING,
    "vang": IntentName.CLASS_ABSENT,
    "absent": IntentName.CLASS_ABSENT,
    "chuyencan": IntentName.ATTENDANCE,
    "diemdanh": IntentName.ATTENDANCE,
    "attendance": IntentName.ATTENDANCE,
    "caidat": IntentName.SETTINGS,
    "settings": IntentName.SETTINGS,
    "thongbao": IntentName.NOTICE,
    "notice": IntentName.NOTICE,
}

# Checked in order: the first phrase found wins ("diem danh" before "diem").
KEYWORDS: tuple[tuple[IntentName, tuple[str, ...]], ...] = (
    (IntentName.NOTICE, ("gui thong bao", "soan thong bao", "send a notice", "send notice")),
    (IntentName.SETTINGS, ("cai dat", "settings", "tuy chon thong bao", "notification settings")),
    (IntentName.FORGET, ("xoa du lieu", "huy lien ket", "forget me", "delete my data")),
    (IntentName.LINK, ("them con", "them hoc sinh", "lien ket", "add child", "add a child")),
    (
        IntentName.PENDING,
        ("don cho duyet", "cho duyet", "don xin nghi cua lop", "pending requests", "to approve"),
    ),
    (
        IntentName.MY_REQUESTS,
        ("don da gui", "don cua toi", "don xin nghi da gui", "my requests", "huy don"),
    ),
    (
        IntentName.ABSENCE,
        (
            "xin nghi",
            "xin phep nghi",
            "xin phep cho chau nghi",
            "cho chau nghi",
            "cho con nghi",
            "cho em nghi",
            "chau xin nghi",
            "nghi phep",
            "don nghi",
            "viet don",
            "leave request",
            "request leave",
            "ask for leave",
        ),
    ),
    (
        IntentName.CLASS_ABSENT,
        (
            "ai nghi",
            "ai vang",
            "lop nghi",
            "hoc sinh nghi",
            "hs nghi",
            "vang hom nay",
            "who is absent",
            "who is on leave",
            "absent today",
        ),
    ),
    # English: "leave tomorrow because sick", "day off on Monday" (issue 19)
    (IntentName.ABSENCE, ("leave", "day off", "off sick", "sick leave", "stay home")),
    (
        IntentName.ATTENDANCE,
        (
            "chuyen can",
            "diem danh",
            "so buoi nghi",
            "vang mat",
            "nghi hoc",
            "attendance",
            "absent",
            "absence",
        ),
    ),
    (
        IntentName.TIMETABLE,
        ("thoi khoa bieu", "tkb", "lich hoc", "timetable", "schedule", "hoc mon gi", "hoc gi"),
    ),
    (
        IntentName.FEES,
        (
            "hoc phi",
            "khoan thu",
            "khoan phi",
            "dong tien",
            "nop tien",
            "tien an",
            "bao hiem",
            "bhyt",
            "fee",
            "fees",
            "tuition",
            "phi",
        ),
    ),
    (
        IntentName.SCORES,
        (
            "diem",
            "bang diem",
            "hoc ba",
            "transcript",
            "report card",
            "ket qua hoc tap",
            "trung binh",
            "dtb",
            "score",
            "scores",
            "grade",
            "grades",
            "marks",
            "mark",
            "bieu do",  # the trend chart (handlers/score_insights.py)
            "tien bo",
        ),
    ),
    (
        IntentName.HELP,
        ("help", "tro giup", "huong dan", "giup", "menu", "xin chao", "chao", "hello", "hi", "alo"),
    ),
    (IntentName.CANCEL, ("huy", "cancel", "thoi")),
)

# A message meant for someone else (issue 20): "nhắn cô giáo chủ nhiệm: cháu hôm nay đau bụng",
# "gửi cô …", "báo thầy …", "nhờ nhắn giúp cô …", "nhan co …". Such words win over any intent
# the rest of the message would match ("hôm nay" is no timetable question here): the parent
# must never believe the teacher was told. A leave request ("báo cô cho cháu xin nghỉ …") is
# still a leave request: it reaches the teacher through its own workflow.
_SEND_VERBS = frozenset({"nhan", "gui", "bao", "chuyen", "noi", "hoi", "nho"})
_FILLERS = frozenset({"giup", "ho", "voi", "cho", "toi", "den", "loi", "tin", "lai", "gium", "nhe"})
# The teacher or the school: "cô", "thầy", "GVCN", "giáo viên", "nhà trường", "ban giám hiệu".
# "co"/"thay" only as "cô"/"thầy" or typed bare: "có"
# (have) and "thấy" (see) are no teacher ("báo có điểm chưa").
_TEACHER_ORIGINALS = {"co": ("cô", "co"), "thay": ("thầy", "thay")}
_ENGLISH_TO_TEACHER = (
    "tell the teacher",
    "tell teacher",
    "message the teacher",
    "message to the teacher",
    "message to teacher",
    "send to the teacher",
    "send the teacher",
    "pass on to the teacher",
)
_WORD = re.compile(r"[^\W_]+")


def is_message_for_teacher(text: str) -> bool:
    """Whether ``text`` asks the bot to pass something on to a teacher or the school."""
    words = [(w, fold(w)) for w in _WORD.findall(nfc(text).lower())]
    for i, (_, word) in enumerate(words[:4]):  # the verb opens the message ("cho mình nhắn cô")
        if word not in _SEND_VERBS:
            continue
        j = i + 1
        while j < len(words) and words[j][1] in _FILLERS | _SEND_VERBS:
            j += 1
        if j >= len(words):
            return False
        original, target = words[j]
        if target in _TEACHER_ORIGINALS:
            if original in _TEACHER_ORIGINALS[target]:
                return True
            continue
        following = words[j + 1][1] if j + 1 < len(words) else ""
        if target in ("gvcn", "gv", "bgh") or (target, following) in {
            ("giao", "vien"),
            ("nha", "truong"),
            ("ban", "giam"),
            ("hieu", "truong"),
        }:
            return True
    folded = fold(text)
    return any(contains_phrase(folded, phrase) for phrase in _ENGLISH_TO_TEACHER)


_CODE = re.compile(r"^[A-Za-z]{0,6}\d[A-Za-z0-9]{1,25}$")


_CANCEL_REQUEST = re.compile(r"^(?:huy|cancel|rut)\s+(?:don|request|yeu cau)?\s*#?(\d{1,9})$")


def parse_cancel_request(folded: str) -> int | None:
    """ "huỷ đơn 12", "huy 12", "cancel request #12" -> 12."""
    m = _CANCEL_REQUEST.match(folded.strip(" .!"))
    return int(m.group(1)) if m else None


def looks_like_code(text: str) -> bool:
    """A single token with letters and at least one digit: a student or staff code."""
    token = "".join(text.split())
    return bool(_CODE.match(token)) and 3 <= len(token) <= 32


def match(text: str) -> Intent:
    stripped = text.strip()
    if stripped.startswith("/"):
        head = stripped[1:].split(maxsplit=1)[0] if len(stripped) > 1 else ""
        # "/diem@LienLacBot" in Telegram groups; "/xoa_du_lieu" keeps its underscores
        word = fold(head.split("@", 1)[0].replace("_", "UNDERSCORE")).replace("underscore", "_")
        word = word.replace(" ", "")
        rest = stripped.split(maxsplit=1)[1] if " " in stripped else ""
        name = COMMANDS.get(word, IntentName.UNKNOWN)
        return Intent(name=name, folded=fold(rest))
    folded = fold(stripped)
    if not folded:
        return Intent(name=IntentName.UNKNOWN)
    words = folded.split()
    if "nghi" in words and ("xin" in words or "phep" in words):  # "xin cho Hà nghỉ học 25/11"
        return Intent(name=IntentName.ABSENCE, folded=folded)
    if is_message_for_teacher(stripped) and not any(
        contains_phrase(folded, p) for p in dict(KEYWORDS)[IntentName.ABSENCE]
    ):
        return Intent(name=IntentName.TO_TEACHER, folded=folded)
    for name, phrases in KEYWORDS:
        if any(contains_phrase(folded, phrase) for phrase in phrases):
            return Intent(name=name, folded=folded)
    if looks_like_code(stripped):
        return Intent(name=IntentName.CODE, folded=folded, code="".join(stripped.split()))
    if (
        parse_weekday(folded) is not None
        or parse_relative_day(folded) is not None
        or parse_week(stripped) is not None
    ):
        return Intent(name=IntentName.TIMETABLE, folded=folded)  # "thu 3 hoc gi", "tuần sau"
    return Intent(name=IntentName.UNKNOWN, folded=folded)
