"""What the user is asking for, from a command or free Vietnamese text (with or without
diacritics). Pure: no I/O, no knowledge of the school's data."""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.domain.text import (
    contains_phrase,
    fold,
    nfc,
    parse_relative_day,
    parse_week,
    parse_weekday,
)
from handlers.normalise import learn, normalise


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
    POLL = "poll"  # a teacher creates a class poll; a parent sees the polls to answer
    POLL_RESULTS = "poll_results"  # a teacher's live poll results (handlers/polls.py)
    HOMEWORK = "homework"  # homework the teachers posted (handlers/remarks.py)
    REMARKS = "remarks"  # teachers' remarks on the child (handlers/remarks.py)
    WEB = "web"  # a teacher asks for a sign-in link to the office's web page (issue 18)
    TO_TEACHER = "to_teacher"  # a message meant for a teacher or the school, not a question
    CODE = "code"  # a bare student/staff code typed straight away
    UNSURE = "unsure"  # a question about a child, but which one is not clear: ask back
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class Intent:
    name: IntentName
    folded: str = ""  # the folded text, for handlers that look for more (subject, child name)
    code: str = ""
    # for UNSURE: the likely intents, most likely first
    candidates: tuple[IntentName, ...] = ()


COMMANDS: dict[str, IntentName] = {
    "start": IntentName.START,
    "help": IntentName.HELP,
    "trogiup": IntentName.HELP,
    "menu": IntentName.HELP,
    "cancel": IntentName.CANCEL,
    "huy": IntentName.CANCEL,
    "forget": IntentName.FORGET,
    "web": IntentName.WEB,
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
    "khaosat": IntentName.POLL,
    "poll": IntentName.POLL,
    "ketquakhaosat": IntentName.POLL_RESULTS,
    "kqks": IntentName.POLL_RESULTS,
    "pollresults": IntentName.POLL_RESULTS,
    "baitap": IntentName.HOMEWORK,
    "homework": IntentName.HOMEWORK,
    "nhanxet": IntentName.REMARKS,
    "remarks": IntentName.REMARKS,
    "nhantin": IntentName.TO_TEACHER,  # handlers/threads.py answers the command itself
    "message": IntentName.TO_TEACHER,
}

# Checked in order, before the weighted questions: the first phrase found wins.
KEYWORDS: tuple[tuple[IntentName, tuple[str, ...]], ...] = (
    (
        IntentName.POLL_RESULTS,
        ("ket qua khao sat", "ket qua binh chon", "poll results", "survey results"),
    ),
    (
        IntentName.POLL,
        (
            "tao khao sat",
            "lam khao sat",
            "khao sat",
            "binh chon",
            "create a poll",
            "new poll",
            "poll",
            "polls",
            "survey",
        ),
    ),
    (IntentName.NOTICE, ("gui thong bao", "soan thong bao", "send a notice", "send notice")),
    (
        IntentName.SETTINGS,
        (
            "cai dat",
            "settings",
            "tuy chon thong bao",
            "notification settings",
            "tat thong bao",
            "bat thong bao",
            "tat tin nhan",
            "turn off notifications",
            "mute notifications",
        ),
    ),
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
)
# After the weighted questions (below): greetings and "thôi" only when nothing else is asked.
LAST_KEYWORDS: tuple[tuple[IntentName, tuple[str, ...]], ...] = (
    (
        IntentName.HELP,
        (
            "help",
            "tro giup",
            "huong dan",
            "giup",
            "menu",
            "xin chao",
            "chao",
            "hello",
            "hi",
            "alo",
            "lam duoc gi",
            "dung the nao",
            "su dung",
            "what can you do",
            "how does this work",
            "how to use",
            "cam on",
            "thank you",
            "thanks",
        ),
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


# --- the questions about a child, weighed (issue 16) -----------------------------------------
#
# Parents rarely use the menu's words: "con còn nợ bao nhiêu", "tiền bán trú tháng này",
# "hnay chau co di hoc ko". Each question intent has cue phrases with weights, matched on the
# normalised text (handlers.normalise) longest first, and a word used by a longer phrase is not
# counted again ("điểm danh" is attendance, not "điểm"). The best intent wins when it is clear
# enough; a weak or close call is answered with a question and buttons (IntentName.UNSURE).
#
# Weights: 3 names the subject outright, 2 nearly does, 1 leans towards it.
_NEUTRAL = "-"  # phrases that only stop their words counting elsewhere ("chi tiết", "bao giờ")

FEE_ITEM_WORDS: tuple[str, ...] = (
    # what Vietnamese schools collect (Circular 55/2011, Decree 81/2021), and the demo's items
    "ban tru",
    "tien ban tru",
    "an ban tru",
    "tien an",
    "an trua",
    "suat an",
    "com trua",
    "sach vo",
    "tien sach",
    "sach giao khoa",
    "vo viet",
    "bao hiem",
    "bao hiem y te",
    "bao hiem than the",
    "bao hiem hoc sinh",
    "cau lac bo",
    "dong phuc",
    "quan ao dong phuc",
    "quy lop",
    "quy phu huynh",
    "quy ban dai dien",
    "ban dai dien cha me",
    "hoi phu huynh",
    "nuoc uong",
    "tien nuoc",
    "xe dua don",
    "dua don",
    "xe bus",
    "xe buyt",
    "hoc them",
    "day them",
    "ngoai khoa",
    "tien ve sinh",
    "ve sinh",
    "tien dien",
    "tien ky tuc",
    "noi tru",
    "meals",
    "lunch",
    "boarding",
    "books",
    "insurance",
    "uniform",
    "club",
    "school bus",
)

CUES: dict[IntentName | str, dict[str, float]] = {
    IntentName.SCORES: {
        "diem": 3,
        "diem so": 3,
        "bang diem": 3,
        "hoc ba": 3,
        "so diem": 3,
        "may diem": 3,
        "bao nhieu diem": 3,
        "diem trung binh": 3,
        "trung binh": 2,
        "trung binh mon": 3,
        "ket qua hoc tap": 3,
        "ket qua thi": 3,
        "ket qua": 2,
        "hoc luc": 3,
        "xep loai": 3,
        "hoc sinh gioi": 3,
        "kiem tra": 2,
        "thi": 2,
        "thi cu": 2,
        "giua ky": 1,
        "cuoi ky": 1,
        "tien bo": 2,
        "bieu do": 3,  # the trend chart (handlers/score_insights.py)
        "bieu do diem": 3,
        "xem tien bo": 3,
        "do thi": 3,
        "xu huong": 2,
        "chart": 3,
        "graph": 3,
        "trend": 2,
        "progress": 2,
        "hoc hanh": 2,
        "hoc tap": 2,
        "hoc the nao": 2,
        "hoc ra sao": 2,
        "hoc co tot": 2,
        "hoc tot": 2,
        "hoc kem": 2,
        "transcript": 3,
        "report card": 3,
        "score": 3,
        "scores": 3,
        "grade": 3,
        "grades": 3,
        "mark": 3,
        "marks": 3,
        "results": 2,
        "test": 2,
        "exam": 2,
        "gpa": 3,
        "doing": 2,
        "duoc bao nhieu": 2,
        "duoc may": 2,
        "thu may": 2,
        "xep hang": 3,
        "rank": 2,
        # subjects: a lean, not a question on their own
        "toan": 1,
        "ngu van": 1,
        "tieng anh": 1,
        "vat ly": 1,
        "hoa hoc": 1,
        "sinh hoc": 1,
        "lich su": 1,
        "dia ly": 1,
        "gdcd": 1,
        "tin hoc": 1,
        "khtn": 1,
        "the duc": 1,
        "am nhac": 1,
        "my thuat": 1,
        "cong nghe": 1,
        "math": 1,
        "maths": 1,
        "english": 1,
        "literature": 1,
        "physics": 1,
    },
    IntentName.TIMETABLE: {
        "thoi khoa bieu": 3,
        "lich hoc": 3,
        "lich hoc them": 3,
        "timetable": 3,
        "schedule": 3,
        "hoc gi": 3,
        "hoc mon gi": 3,
        "hoc nhung mon gi": 3,
        "hoc nhung mon nao": 3,
        "hoc nhung gi": 3,
        "may gio": 2,
        "vao lop": 2,
        "what time": 2,
        "school start": 3,
        "school starts": 3,
        "mon gi": 3,
        "may tiet": 3,
        "hoc may tiet": 3,
        "tiet": 2,
        "tiet hoc": 3,
        "may gio vao hoc": 3,
        "vao hoc": 2,
        "tan hoc": 3,
        "may gio tan": 3,
        "gio hoc": 3,
        "hoc buoi": 2,
        "hoc ca ngay": 3,
        "co hoc khong": 3,
        "phai hoc khong": 3,
        "mang sach gi": 3,
        "mang gi": 2,
        "soan sach": 3,
        "lich": 2,
        "what classes": 3,
        "which classes": 3,
        "what subjects": 3,
        "which subjects": 3,
        "lessons": 3,
        "classes": 2,
    },
    IntentName.FEES: {
        "hoc phi": 3,
        "tien hoc": 3,
        "khoan thu": 3,
        "khoan phi": 3,
        "khoan nop": 3,
        "khoan dong": 3,
        "cac khoan": 3,
        "nhung khoan": 3,
        "khoan nao": 3,
        "khoan": 2,
        "le phi": 3,
        "phi": 3,
        "dong tien": 3,
        "nop tien": 3,
        "tra tien": 3,
        "chuyen khoan": 3,
        "thanh toan": 3,
        "bao nhieu tien": 3,
        "may tien": 3,
        "het bao nhieu": 3,
        "tien": 1.5,
        "tien truong": 3,
        "tien lop": 3,
        "bao nhieu": 1,
        "con no": 3,
        "dang no": 3,
        "van no": 3,
        "no bao nhieu": 3,
        "no tien": 3,
        "no gi": 3,
        "no khoan": 3,
        "con thieu": 2,
        "thieu tien": 3,
        "thieu khoan": 3,
        "phai nop": 3,
        "phai dong": 3,
        "phai tra": 3,
        "can nop": 3,
        "can dong": 3,
        "nop gi": 3,
        "dong gi": 3,
        "chua nop": 2,
        "chua dong": 2,
        "da nop": 2,
        "da dong": 2,
        "dong bao nhieu": 3,
        "nop bao nhieu": 3,
        "nop": 1.5,
        "dong": 1,
        "hoa don": 3,
        "bien lai": 3,
        "fee": 3,
        "fees": 3,
        "tuition": 3,
        "pay": 3,
        "payment": 3,
        "owe": 3,
        "how much": 2,
        "invoice": 3,
        "bill": 3,
        "due": 1,
        **{item: 2.5 for item in FEE_ITEM_WORDS},
    },
    IntentName.ATTENDANCE: {
        "chuyen can": 3,
        "diem danh": 3,
        "so buoi nghi": 3,
        "buoi nghi": 3,
        "nghi may buoi": 3,
        "nghi bao nhieu": 3,
        "vang may buoi": 3,
        "vang bao nhieu": 3,
        "ngay nghi": 2,
        "may buoi": 2,
        "may hom": 2,
        "may ngay": 2,
        "bao nhieu buoi": 2,
        "bao nhieu ngay": 2,
        "vang mat": 3,
        "vang": 2,
        "nghi hoc": 3,
        "nghi": 1.5,
        "di hoc day du": 3,
        "day du khong": 2,
        "di muon": 3,
        "di tre": 3,
        "bo hoc": 3,
        "tron hoc": 3,
        "cup tiet": 3,
        "co mat": 2,
        "attendance": 3,
        "absent": 3,
        "absence": 3,
        "absences": 3,
        "days off": 2,
        "missed": 2,
    },
    IntentName.ABSENCE: {  # a parent telling the school the child is ill: the leave request
        "om": 1.5,
        "bi om": 2,
        "sot": 1.5,
        "bi sot": 2,
        "bi benh": 2,
        "dau bung": 1.5,
        "bi dau": 1.5,
        "co viec gia dinh": 2,
        "ve que": 1.5,
        "sick": 2,
        "ill": 2,
    },
    IntentName.HOMEWORK: {  # issue 17
        "bai tap": 3,
        "bai tap ve nha": 3,
        "bai ve nha": 3,
        "btvn": 3,
        "giao bai": 2.5,
        "bai gi": 2.5,
        "lam bai gi": 3,
        "homework": 3,
        "assignment": 3,
        "assignments": 3,
    },
    IntentName.REMARKS: {  # issue 17
        "nhan xet": 3,
        "loi nhan xet": 3,
        "loi phe": 3,
        "phe binh": 2.5,
        "co khen": 2,
        "thay khen": 2,
        "remark": 3,
        "remarks": 3,
        "teacher comments": 3,
        "teacher's comments": 3,
        "comments": 2,
    },
    _NEUTRAL: {
        "chi tiet": 0,
        "bao gio": 0,
        "nop bai": 0,
        "nop don": 0,
        "tra bai": 0,
        "dong cua": 0,
        "dong y": 0,
        "thong bao": 0,
        "tien do": 0,
    },
}

# The yes/no question about being at school on a day: "hôm nay cháu có đi học không", "hom qua
# chau co nghi khong", "did my child go to school today". Today or a past day is attendance;
# a coming day is the timetable ("mai có phải đi học không") or, for "nghỉ", a leave request.
_PRESENCE = (
    "di hoc",
    "den lop",
    "den truong",
    "len lop",
    "vao lop",
    "o lop",
    "o truong",
    "co mat",
    "nghi",
    "nghi hoc",
    "vang",
    "vang mat",
    "di tre",
    "di muon",
    "bo hoc",
    "tron hoc",
    "cup hoc",
    "go to school",
    "went to school",
    "gone to school",
    "get to school",
    "at school",
    "in school",
    "in class",
    "attend",
    "attended",
    "absent",
    "miss school",
    "missed school",
    "skip school",
    "skipped school",
    "late",
    "present",
)
_QUESTION_WORDS = ("khong", "chua", "hay khong", "phai khong", "co phai", "the nao", "sao")
_ENGLISH_QUESTION_START = frozenset({"did", "was", "is", "has", "were", "does", "do"})
_CHILD = frozenset({"con", "chau", "be", "em", "he", "she", "nha", "my", "son", "daughter", "kid"})
_FUTURE_WEEK_WORDS = ("sap toi", "tuan sau", "tuan toi", "next week")

_DAY_ALONE = 4  # words: a day named with no question cue is the timetable up to this long
CONFIDENT = 2.0  # the least score of a clear answer
MARGIN = 1.0  # ... and how far ahead of the next intent
QUESTIONS = (IntentName.SCORES, IntentName.TIMETABLE, IntentName.FEES, IntentName.ATTENDANCE)


@dataclass(frozen=True, slots=True)
class _Cue:
    words: tuple[str, ...]
    intent: IntentName | str
    weight: float


@functools.lru_cache(maxsize=1)
def _cues() -> dict[int, dict[tuple[str, ...], _Cue]]:
    """Every cue phrase by its length in words, then by its words."""
    return _index(
        _Cue(tuple(phrase.split()), intent, weight)
        for intent, phrases in CUES.items()
        for phrase, weight in phrases.items()
    )


def _index(cues: Iterable[_Cue]) -> dict[int, dict[tuple[str, ...], _Cue]]:
    table: dict[int, dict[tuple[str, ...], _Cue]] = {}
    for cue in cues:
        table.setdefault(len(cue.words), {}).setdefault(cue.words, cue)
    return table


def _all_phrases() -> list[str]:
    phrases = [p for table in CUES.values() for p in table]
    phrases += [p for _, group in (*KEYWORDS, *LAST_KEYWORDS) for p in group]
    phrases += [*_PRESENCE, *_QUESTION_WORDS, *_CHILD, *_FUTURE_WEEK_WORDS]
    phrases += ["hom nay", "hom qua", "ngay mai", "mai", "tuan", "thu", "co", "gi", "duoc"]
    return phrases


learn(_all_phrases())


def fee_item_phrases(names: Iterable[str]) -> tuple[str, ...]:
    """The phrases that name a school's own fee items, from the backend's item names:
    "Tiền ăn bán trú tháng 11" -> "tien an ban tru", "an ban tru", "ban tru"; "Bảo hiểm y tế
    học sinh (12 tháng)" -> "bao hiem y te", "bao hiem". Months, numbers and the generic words
    ("tiền", "học sinh", "tháng") are no item on their own."""
    generic = {"tien", "thang", "nam", "hoc", "sinh", "khoan", "phi", "cua", "cho", "va", "cac"}
    out: set[str] = set()
    for name in names:
        words = [w for w in fold(name).split() if w.isalpha()]
        while words and words[-1] in generic:
            words.pop()
        if "thang" in words:
            words = words[: words.index("thang")]
        for start in range(len(words)):
            for end in range(start + 2, min(len(words), start + 4) + 1):
                phrase = words[start:end]
                if phrase[0] in generic or phrase[-1] in generic:
                    continue
                out.add(" ".join(phrase))
    return tuple(sorted(out))


def _score(words: list[str], extra_fee_items: Sequence[str] = ()) -> dict[IntentName, float]:
    """Each intent's score on the normalised ``words``."""
    taken = [False] * len(words)
    best: dict[IntentName, list[float]] = {}
    cues = _cues()
    if extra_fee_items:
        extra = _index(_Cue(tuple(p.split()), IntentName.FEES, 2.5) for p in extra_fee_items)
        cues = {n: {**extra.get(n, {}), **cues.get(n, {})} for n in {*cues, *extra}}
    for n in sorted(cues, reverse=True):  # a longer phrase claims its words first
        for i in range(len(words) - n + 1):
            cue = cues[n].get(tuple(words[i : i + n]))
            if cue is None or any(taken[i : i + n]):
                continue
            for k in range(i, i + n):
                taken[k] = True
            if isinstance(cue.intent, IntentName):
                best.setdefault(cue.intent, []).append(cue.weight)
    # the strongest cue counts whole, each further one a little: "điểm toán" > "toán"
    return {name: max(ws) + 0.25 * (sum(ws) - max(ws)) for name, ws in best.items() if max(ws) > 0}


def _has(text: str, phrases: Iterable[str]) -> bool:
    return any(contains_phrase(text, p) for p in phrases)


def _day_question(normalised: str, words: list[str], original: str) -> IntentName | None:
    """The intent of a yes/no question about being at school on a day, if it is one."""
    if not _has(normalised, _PRESENCE):
        return None
    english = words[0] in _ENGLISH_QUESTION_START if words else False
    question = english or original.rstrip().endswith("?") or _has(normalised, _QUESTION_WORDS)
    if not question:
        return None
    # about a child ("cháu có …", "my son"), or "có … không" ("hôm nay có đi học không")
    if not (_CHILD & set(words)) and not ("co" in words and "khong" in words):
        return None
    if "ai" in words or "who" in words or "anyone" in words:
        return None  # "lớp có ai nghỉ không": a teacher's question about the class
    offset = parse_relative_day(normalised)
    future = (offset is not None and offset > 0) or _has(normalised, _FUTURE_WEEK_WORDS)
    if future:
        return IntentName.ABSENCE if _has(normalised, ("nghi",)) else IntentName.TIMETABLE
    if _has(normalised, ("thoi khoa bieu", "hoc gi", "mon gi", "tiet")):
        return None  # "hôm nay con có tiết gì": the timetable cues decide
    return IntentName.ATTENDANCE


def _names_a_day(normalised: str) -> bool:
    return parse_weekday(normalised) is not None or parse_relative_day(normalised) is not None


def _ill_today(normalised: str, scores: dict[IntentName, float]) -> bool:
    """ "hôm nay cháu nghỉ ốm", "cháu bị sốt nên nghỉ": told, not asked."""
    return (
        IntentName.ABSENCE in scores
        and _has(normalised, ("nghi", "o nha", "stay home", "off"))
        and not _has(normalised, _QUESTION_WORDS)
    )


def match(text: str, *, fee_items: Sequence[str] = ()) -> Intent:
    """What ``text`` asks. ``fee_items`` are extra phrases naming the school's own fee items
    (:func:`fee_item_phrases` of the backend's fee list), for a second look at a message the
    built-in words did not place."""
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
    normalised = normalise(stripped)
    words = normalised.split()
    if "nghi" in words and ("xin" in words or "phep" in words):  # "xin cho Hà nghỉ học 25/11"
        return Intent(name=IntentName.ABSENCE, folded=normalised)
    if is_message_for_teacher(stripped) and not any(
        contains_phrase(normalised, p) for p in dict(KEYWORDS)[IntentName.ABSENCE]
    ):
        return Intent(name=IntentName.TO_TEACHER, folded=normalised)
    asked = _day_question(normalised, words, stripped)
    if asked is not None:
        return Intent(name=asked, folded=normalised)
    for name, phrases in KEYWORDS:
        if any(contains_phrase(normalised, phrase) for phrase in phrases):
            return Intent(name=name, folded=normalised)
    scores = _score(words, fee_items)
    if _ill_today(normalised, scores):
        return Intent(name=IntentName.ABSENCE, folded=normalised)
    if scores:
        ranked = sorted(
            scores.items(),
            key=lambda kv: (-kv[1], QUESTIONS.index(kv[0]) if kv[0] in QUESTIONS else 9),
        )
        top, top_score = ranked[0]
        if top is IntentName.SCORES and top_score < CONFIDENT and _names_a_day(normalised):
            return Intent(name=IntentName.TIMETABLE, folded=normalised)  # "mai có thể dục không"
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        if top_score >= CONFIDENT and top_score - runner_up >= MARGIN:
            return Intent(name=top, folded=normalised)
        candidates = tuple(name for name, _ in ranked)
        return Intent(name=IntentName.UNSURE, folded=normalised, candidates=candidates)
    for name, phrases in LAST_KEYWORDS:
        if any(contains_phrase(normalised, phrase) for phrase in phrases):
            return Intent(name=name, folded=normalised)
    if looks_like_code(stripped):
        return Intent(name=IntentName.CODE, folded=folded, code="".join(stripped.split()))
    if (
        parse_weekday(normalised) is not None
        or parse_relative_day(normalised) is not None
        or parse_week(stripped) is not None
    ):
        if len(words) <= _DAY_ALONE:  # "mai", "thứ 2 tuần sau": the timetable of that day
            return Intent(name=IntentName.TIMETABLE, folded=normalised)
        # "trời hôm nay đẹp quá": a day, but nothing asked about it
        candidates = (IntentName.TIMETABLE, IntentName.ATTENDANCE)
        return Intent(name=IntentName.UNSURE, folded=normalised, candidates=candidates)
    return Intent(name=IntentName.UNKNOWN, folded=normalised)
