"""Private parent–teacher messages, relayed by the bot (issue 17): the pure rules.

A *thread* joins one parent's chat, one pupil and one teacher. Neither side ever learns the
other's phone number or chat handle: the teacher sees the pupil's name and class and the
guardian's relation ("Mẹ"); the parent sees the teacher's name. Everything here is pure
(``zoneinfo`` only); storage is ``storage/thread_store.py``, the chat side
``handlers/threads.py`` and ``dialogs/teacher_message.py``.

Office hours reuse the quiet-hours arithmetic: "outside 07:00–17:00" is the quiet window
17:00–07:00, so :func:`bot.domain.quiet_hours.next_send_time` says when a held message goes.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.domain.calendar import is_school_day, next_school_day
from bot.domain.quiet_hours import next_send_time
from bot.domain.text import contains_phrase, fold
from bot.messages import ConversationKey

DEFAULT_OFFICE_START = dt.time(7, 0)
DEFAULT_OFFICE_END = dt.time(17, 0)
DEFAULT_URGENT = ("ốm", "sức khỏe", "sức khoẻ", "tai nạn", "an toàn", "cấp cứu", "bệnh viện")
# Zalo OA customer-service messages reach a user up to 7 days after they last wrote
# (shared/reference/zalo.md, "Windows"); an hour of margin against clock skew.
ZALO_WINDOW = dt.timedelta(days=7) - dt.timedelta(hours=1)
WINDOW_CHANNELS = frozenset({"zalo_oa"})
MAX_BODY = 1000
DEDUPE_PREFIX = "thread"  # outbox dedupe keys: thread:<school>:<thread>:<message>:<chat>


class Sender(enum.StrEnum):
    PARENT = "parent"
    TEACHER = "teacher"


class Delivery(enum.StrEnum):
    """What became of one message (``thread_message.status``)."""

    QUEUED = "queued"  # in the outbox now (maybe with a not-before time)
    HELD = "held"  # a reply outside the Zalo window: goes with the parent's next message
    FALLBACK = "fallback"  # outside the Zalo window, sent by the school's SMS/ZNS fallback
    RELEASED = "released"  # was held, queued when the parent wrote again


@dataclass(frozen=True, slots=True, kw_only=True)
class ThreadPolicy:
    """A school's rules for relayed messages (``[messages]`` in the settings)."""

    office_start: dt.time = DEFAULT_OFFICE_START
    office_end: dt.time = DEFAULT_OFFICE_END
    urgent_words: tuple[str, ...] = DEFAULT_URGENT
    per_hour: int = 10  # messages one parent may send in one thread per hour
    retention_days: int = 365
    subject_teachers: bool = False  # parents may also write to the class's subject teachers
    school_days_only: bool = True  # Sundays and public holidays are outside office hours
    zalo_fallback: str = "none"  # what the school's OA does outside the window: none|sms|zns


@dataclass(frozen=True, slots=True, kw_only=True)
class Thread:
    id: int
    school_id: str
    student_id: str
    class_id: str
    teacher_id: str
    guardian_id: str
    parent: ConversationKey
    muted_at: dt.datetime | None
    parent_seen_at: dt.datetime | None
    created_at: dt.datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ThreadMessage:
    id: int
    thread_id: int
    sender: Sender
    body: str
    urgent: bool
    status: Delivery
    deliver_at: dt.datetime | None
    created_at: dt.datetime
    attachment: str = ""  # "", "photo" or "document": what came with it (kept: the kind only)


@dataclass(frozen=True, slots=True, kw_only=True)
class OfficeHours:
    start: dt.time
    end: dt.time

    def __str__(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


class ThreadRepo(Protocol):
    """Stored threads and their messages (``storage/thread_store.py``)."""

    async def open(
        self,
        *,
        school_id: str,
        student_id: str,
        class_id: str,
        teacher_id: str,
        guardian_id: str,
        parent: ConversationKey,
        now: dt.datetime,
    ) -> Thread:
        """The thread of this parent chat, pupil and teacher, created if new."""
        ...

    async def get(self, school_id: str, thread_id: int) -> Thread | None: ...

    async def add_message(
        self,
        thread: Thread,
        *,
        sender: Sender,
        body: str,
        urgent: bool,
        status: Delivery,
        deliver_at: dt.datetime | None,
        now: dt.datetime,
        attachment: str = "",
    ) -> ThreadMessage: ...

    async def count_since(self, thread_id: int, *, sender: Sender, since: dt.datetime) -> int: ...

    async def set_muted(self, thread_id: int, *, muted: bool, now: dt.datetime) -> None: ...

    async def parent_wrote(self, parent: ConversationKey, *, now: dt.datetime) -> None:
        """Note when this parent chat last wrote (the Zalo OA window starts again)."""
        ...

    async def held_for(self, parent: ConversationKey) -> Sequence[tuple[Thread, ThreadMessage]]:
        """Replies held for this parent chat (outside the window), oldest first."""
        ...

    async def mark(self, message_id: int, status: Delivery) -> None: ...

    async def office_hours(self, school_id: str, teacher_id: str) -> OfficeHours | None: ...

    async def set_office_hours(
        self, school_id: str, teacher_id: str, hours: OfficeHours, *, now: dt.datetime
    ) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Hold:
    """When a parent's message may reach the teacher."""

    at: dt.datetime | None  # None: now
    urgent: bool


def is_urgent(body: str, words: Sequence[str]) -> bool:
    folded = fold(body)
    return any(contains_phrase(folded, fold(w)) for w in words if w.strip())


def hold_for(
    body: str, *, now: dt.datetime, tz: str, hours: OfficeHours, policy: ThreadPolicy
) -> Hold:
    """Urgent topics go now; others wait for the teacher's office hours to begin."""
    if is_urgent(body, policy.urgent_words):
        return Hold(at=None, urgent=True)
    at = next_send_time(now, tz=tz, quiet_start=hours.end, quiet_end=hours.start)
    if policy.school_days_only:
        zone = ZoneInfo(tz)
        day = at.astimezone(zone).date()
        if not is_school_day(day):
            start = dt.datetime.combine(next_school_day(day), hours.start, tzinfo=zone)
            at = start.astimezone(dt.UTC)
    return Hold(at=None if at <= now else at, urgent=False)


def window_open(thread: Thread, now: dt.datetime) -> bool:
    """Whether a reply can reach the parent's chat now (only Zalo OA has a window)."""
    if thread.parent.channel not in WINDOW_CHANNELS:
        return True
    seen = thread.parent_seen_at
    return seen is not None and now - seen < ZALO_WINDOW


_HOURS = re.compile(r"^\s*(\d{1,2})(?:[:h.](\d{2}))?\s*[-–]\s*(\d{1,2})(?:[:h.](\d{2}))?\s*$")


def parse_office_hours(text: str) -> OfficeHours | None:
    """ "7:00-17:00", "7h-17h30", "7-17" -> office hours; None if not that or empty."""
    m = _HOURS.match(text.replace("h ", "h").rstrip("h").replace("h-", "-"))
    if m is None:
        return None
    sh, sm, eh, em = (int(g) if g else 0 for g in m.groups())
    if sh > 23 or eh > 23 or sm > 59 or em > 59:
        return None
    start, end = dt.time(sh, sm), dt.time(eh, em)
    if start >= end:
        return None
    return OfficeHours(start=start, end=end)


# What a parent may attach (a medical certificate, a photo of a note): Telegram's own limit
# for a bot is 20 MB; schools asked for less.
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
ATTACHMENT_TYPES = frozenset(
    {"application/pdf", "image/jpeg", "image/png", "image/heic", "image/webp"}
)


def attachment_problem(kind: str, mime: str, size: int) -> str | None:
    """Why this file cannot be passed on ("too_big", "type"), or None."""
    if size > MAX_ATTACHMENT_BYTES:
        return "too_big"
    if kind == "document" and mime.lower() not in ATTACHMENT_TYPES:
        return "type"
    return None


_ADDRESS = re.compile(r"^[^:\n]{1,40}:\s*")


def message_body(text: str) -> str:
    """The message itself: "nhắn cô chủ nhiệm: cháu đau bụng" -> "cháu đau bụng"."""
    stripped = text.strip()
    m = _ADDRESS.match(stripped)
    body = stripped[m.end() :] if m else stripped
    return body.strip()[:MAX_BODY]


@dataclass(frozen=True, slots=True, kw_only=True)
class ThreadCommand:
    """A typed command of this feature: ``/reply 12 …``, ``/mute 12``, ``/message …``."""

    verb: str  # message | reply | mute | unmute | hours
    thread_id: int | None = None
    text: str = ""
    ids: tuple[int, ...] = field(default=())


_VERBS = {
    "message": "message",
    "nhantin": "message",
    "nhan": "message",
    "reply": "reply",
    "traloi": "reply",
    "tl": "reply",
    "mute": "mute",
    "tatthongbao": "mute",
    "chan": "mute",
    "unmute": "unmute",
    "mothongbao": "unmute",
    "bochan": "unmute",
    "officehours": "hours",
    "giolamviec": "hours",
}


def parse_command(text: str) -> ThreadCommand | None:
    """This feature's typed commands (diacritics and case ignored); None for other text."""
    stripped = text.strip()
    if not stripped.startswith("/"):
        return None
    head, _, rest = stripped[1:].partition(" ")
    verb = _VERBS.get(fold(head.split("@", 1)[0]).replace(" ", ""))
    if verb is None:
        return None
    rest = rest.strip()
    if verb in ("reply", "mute", "unmute"):
        first, _, after = rest.partition(" ")
        number = first.lstrip("#")
        thread_id = int(number) if number.isdigit() and len(number) <= 9 else None
        return ThreadCommand(verb=verb, thread_id=thread_id, text=after.strip()[:MAX_BODY])
    return ThreadCommand(verb=verb, text=rest[:MAX_BODY])
