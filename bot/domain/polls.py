"""Class polls and sign-ups (issue 17): the rules, with no I/O.

A poll asks the guardians of one class (or, from school staff, the whole school) one question
with 2–6 options, single or multiple choice, until a deadline. The answer is kept **per
pupil** (a *ballot*, one for every pupil on the class list, linked or not, so the teacher
sees the whole class and a parent who links later can still answer): a parent of two
children in the class answers twice, once for each, and the child's guardians share the
child's ballot (the latest answer counts). Until the deadline an answer can be changed;
afterwards the poll is closed. One reminder goes out before the deadline to the guardians
of the pupils whose ballot is still empty.

Once sent, the author (or school staff) can close a poll early, extend its deadline, cancel
it (the answers are kept, marked cancelled) and, while nobody has answered yet, fix a typo in
the question or an option label (``bot.polls``: close_poll, extend_poll, cancel_poll).

Anonymous polls: the teacher sees the counts and how many have not answered, never who
answered what nor who has not answered.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.domain.digest import parse_time_of_day
from bot.domain.text import fold, parse_relative_day

MIN_OPTIONS = 2
MAX_OPTIONS = 6
MAX_QUESTION = 300  # characters: the question must read well on a small phone
MAX_OPTION = 80
MAX_DAYS = 60  # a deadline further away than this is a typo
DEFAULT_DEADLINE_MINUTE = 20 * 60  # "20/12" alone means 20:00 that day (before quiet hours)
REMIND_BEFORE = dt.timedelta(hours=24)
REMIND_AGAIN_AFTER = dt.timedelta(days=2)  # an extension longer than this may remind again
EXTEND_STEP = dt.timedelta(days=1)  # the "+1 ngày" button
WHOLE_SCHOOL = "*"  # the class id of a poll to the whole school


@dataclass(frozen=True, slots=True, kw_only=True)
class PollSpec:
    """What the author chose."""

    question: str
    options: tuple[str, ...]
    multiple: bool
    anonymous: bool
    deadline_at: dt.datetime  # aware UTC


@dataclass(frozen=True, slots=True, kw_only=True)
class Poll:
    id: int
    school_id: str
    class_id: str  # WHOLE_SCHOOL for the whole school
    class_name: str
    author_id: str  # teacher id, or "cli"
    question: str
    options: tuple[str, ...]
    multiple: bool
    anonymous: bool
    deadline_at: dt.datetime
    remind_at: dt.datetime
    reminded_at: dt.datetime | None
    created_at: dt.datetime
    closed_at: dt.datetime | None = None  # closed early by its author (or school staff)
    cancelled_at: dt.datetime | None = None  # cancelled: answers kept, marked cancelled

    def is_open(self, now: dt.datetime) -> bool:
        return self.closed_at is None and self.cancelled_at is None and now < self.deadline_at

    @property
    def ended_at(self) -> dt.datetime:
        """When answers stopped (or will stop): closed early, cancelled, or the deadline."""
        return min(t for t in (self.closed_at, self.cancelled_at, self.deadline_at) if t)


@dataclass(frozen=True, slots=True, kw_only=True)
class Ballot:
    """One pupil's answer to one poll (empty ``choices``: not answered yet)."""

    id: int
    poll_id: int
    school_id: str
    student_id: str
    student_name: str
    class_name: str
    choices: tuple[int, ...] = ()  # 0-based option indexes, sorted
    answered_at: dt.datetime | None = None

    @property
    def answered(self) -> bool:
        return bool(self.choices)


@dataclass(frozen=True, slots=True, kw_only=True)
class Tally:
    counts: tuple[int, ...]  # per option
    answered: int
    total: int
    voters: tuple[tuple[str, ...], ...]  # per option, pupils' names (empty when anonymous)
    missing: tuple[str, ...]  # pupils not answered, "name (class)" (empty when anonymous);
    # "*" marks a pupil no guardian of whom is linked: the teacher asks them another way
    unlinked: int = 0  # of the pupils not answered, how many have no linked guardian

    @property
    def not_answered(self) -> int:
        return self.total - self.answered


def tally(poll: Poll, ballots: Sequence[Ballot], unlinked: Collection[str] = ()) -> Tally:
    """Counts per option; names unless the poll is anonymous. ``unlinked``: the pupils
    (student ids) none of whose guardians is linked, so nobody could be asked."""
    counts = [0] * len(poll.options)
    voters: list[list[str]] = [[] for _ in poll.options]
    missing: list[str] = []
    answered = not_reached = 0
    for ballot in sorted(ballots, key=lambda b: (b.class_name, b.student_name)):
        if not ballot.answered:
            mark = "*" if ballot.student_id in unlinked else ""
            not_reached += bool(mark)
            missing.append(f"{ballot.student_name} ({ballot.class_name}){mark}")
            continue
        answered += 1
        for choice in ballot.choices:
            if 0 <= choice < len(counts):
                counts[choice] += 1
                voters[choice].append(ballot.student_name)
    hidden = poll.anonymous
    return Tally(
        counts=tuple(counts),
        answered=answered,
        total=len(ballots),
        voters=tuple(() if hidden else tuple(v) for v in voters),
        missing=() if hidden else tuple(missing),
        unlinked=not_reached,
    )


def reminder_time(created_at: dt.datetime, deadline_at: dt.datetime) -> dt.datetime:
    """24 hours before the deadline; halfway for a poll shorter than two days."""
    span = deadline_at - created_at
    if span > 2 * REMIND_BEFORE:
        return deadline_at - REMIND_BEFORE
    return created_at + span / 2


def extended_reminder(poll: Poll, deadline_at: dt.datetime, now: dt.datetime) -> dt.datetime | None:
    """The reminder time after the deadline moves to ``deadline_at``; ``None``: no new reminder.

    Not reminded yet: the reminder moves with the deadline (24 hours before it, or halfway for
    a short poll). Reminded already: one more reminder only when the deadline moves by more
    than two days (:data:`REMIND_AGAIN_AFTER`); a shorter extension does not remind the parents
    again, they were reminded lately."""
    if poll.reminded_at is None:
        return max(reminder_time(poll.created_at, deadline_at), now)
    if deadline_at - poll.deadline_at > REMIND_AGAIN_AFTER:
        return reminder_time(now, deadline_at)
    return None


def toggle(choices: Sequence[int], option: int, *, multiple: bool) -> tuple[int, ...]:
    """The ballot after pressing ``option``: single choice replaces, multiple toggles."""
    if not multiple:
        return (option,)
    chosen = set(choices)
    chosen.symmetric_difference_update({option})
    return tuple(sorted(chosen))


_SPLIT = re.compile(r"[\s,;.+]+")


def parse_choices(text: str, count: int, *, multiple: bool) -> tuple[int, ...] | None:
    """The 0-based options in "2", "1, 3", "1 3"; ``None`` if not a valid answer (out of
    range, or several numbers for a single-choice poll)."""
    parts = [p for p in _SPLIT.split(text.strip()) if p]
    if not parts or not all(p.isdigit() and len(p) <= 2 for p in parts):
        return None
    chosen = sorted({int(p) - 1 for p in parts})
    if any(not 0 <= c < count for c in chosen):
        return None
    if not multiple and len(chosen) != 1:
        return None
    return tuple(chosen)


def parse_options(text: str) -> list[str]:
    """Options typed one a line, or separated by ";" (a Zalo user may not type new lines).
    A leading "1." / "-" / "•" is dropped."""
    raw = text.splitlines() if "\n" in text else text.split(";")
    options = []
    for line in raw:
        cleaned = re.sub(r"^\s*(?:\d{1,2}[.)]|[-•*])\s*", "", line).strip()
        if cleaned:
            options.append(cleaned)
    return options


_DATE = re.compile(r"(?P<d>\d{1,2})\s*[/-]\s*(?P<m>\d{1,2})(?:\s*[/-]\s*(?P<y>\d{2,4}))?")


def parse_deadline(text: str, now: dt.datetime, tz: str) -> dt.datetime | None:
    """The deadline in what the author typed, as aware UTC; ``None`` if not understood.

    "20/12", "20/12/2026", "20/12 17h", "20/12/2026 17:30", "mai", "ngày mai 8h", "3 ngày"
    (three days from now, same hour). A date alone means 20:00 that day. It must be in the
    future and at most :data:`MAX_DAYS` away (checked by :func:`deadline_problem`).
    """
    zone = ZoneInfo(tz)
    local_now = now.astimezone(zone)
    folded = fold(text).strip().rstrip(".")
    if not folded or len(folded) > 40:
        return None
    days = re.fullmatch(r"(\d{1,2})\s*(?:ngay|days?)", folded)
    if days:
        return (local_now + dt.timedelta(days=int(days.group(1)))).astimezone(dt.UTC)
    match = _DATE.search(folded)
    rest = folded
    day: dt.date | None = None
    if match:
        year = int(match["y"]) if match["y"] else local_now.year
        if year < 100:
            year += 2000
        try:
            day = dt.date(year, int(match["m"]), int(match["d"]))
        except ValueError:
            return None
        if not match["y"] and day < local_now.date():
            day = day.replace(year=year + 1)  # "05/01" typed in December
        rest = (folded[: match.start()] + " " + folded[match.end() :]).strip()
    else:
        offset = parse_relative_day(folded)
        if offset is None or offset < 0:
            return None
        day = local_now.date() + dt.timedelta(days=offset)
        rest = re.sub(r"\b(ngay mai|hom nay|ngay kia|mai|tomorrow|today)\b", " ", folded).strip()
    rest = re.sub(r"^(luc|at|truoc|before)\s+", "", rest).strip()
    minute = DEFAULT_DEADLINE_MINUTE if not rest else parse_time_of_day(rest)
    if minute is None:
        return None
    wall = dt.datetime.combine(day, dt.time(minute // 60, minute % 60), tzinfo=zone)
    return wall.astimezone(dt.UTC)


def deadline_problem(deadline_at: dt.datetime, now: dt.datetime) -> str | None:
    """Why this deadline cannot be: ``"past"``, ``"too_far"``, or ``None`` when fine."""
    if deadline_at <= now + dt.timedelta(minutes=10):
        return "past"
    if deadline_at - now > dt.timedelta(days=MAX_DAYS):
        return "too_far"
    return None
