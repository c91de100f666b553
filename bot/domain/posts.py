"""Teacher remarks (nhận xét) on one pupil and homework or notices for a class (issue 17).

A post is stored once; every guardian of the pupil (a remark) or of the class's pupils
(homework) gets a notification item, read in the digest or at once when the parent asked
for it (``DigestPrefs.post_alerts``). Parents look them up later: "bài tập hôm nay",
"nhận xét tuần này".
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass

from bot.domain.text import fold

MAX_POST = 500  # characters, like a notice


class PostKind(enum.StrEnum):
    REMARK = "remark"  # about one pupil, only their guardians read it
    HOMEWORK = "homework"  # for the whole class


@dataclass(frozen=True, slots=True, kw_only=True)
class TeacherPost:
    id: int
    school_id: str
    kind: PostKind
    class_id: str
    student_id: str | None  # a remark's pupil; None for homework
    author_id: str
    text: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PostCommand:
    """ "nhận xét HS6A01: Con chăm chỉ" -> (REMARK, "HS6A01", "Con chăm chỉ")."""

    kind: PostKind
    target: str  # a student code, or a class name
    text: str


_HEADS = {
    PostKind.REMARK: re.compile(r"^(?:nhan xet|nx|remark)\s+(?P<target>[a-z0-9]{2,32})$"),
    PostKind.HOMEWORK: re.compile(
        r"^(?:bai tap|btvn|homework)\s+(?:lop\s+|class\s+)?(?P<target>[a-z0-9]{1,12})$"
    ),
}


def parse_post(text: str) -> PostCommand | None:
    """A teacher's typed remark or homework, if ``text`` is one: a head naming the kind and
    the pupil's code or the class, a colon, the text."""
    head, colon, body = text.partition(":")
    if not colon or not body.strip():
        return None
    folded = " ".join(fold(head).split())
    for kind, pattern in _HEADS.items():
        m = pattern.match(folded)
        if m:
            target = "".join(head.split()[-1:]).strip()
            return PostCommand(kind=kind, target=target, text=body.strip())
    return None


def week_start(today: dt.date) -> dt.date:
    """The Monday of ``today``'s week."""
    return today - dt.timedelta(days=today.weekday())
