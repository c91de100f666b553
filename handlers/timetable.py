"""The class timetable: today, tomorrow, a named weekday ("thứ 3", "thu ba", "T3"), this week,
next week ("tuần sau", "tuần tới", "next week"), last week, or a weekday of one of them
("thứ 2 tuần sau").

Slots are (weekday, session, period): no clock times, because bells and shifts vary.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.calendar import holiday_name
from bot.domain.formatting import format_date, weekday_name
from bot.domain.models import Session, Student, TimetableSlot
from bot.domain.text import contains_phrase, parse_relative_day, parse_week, parse_weekday
from bot.messages import Button, Reply
from bot.ports import Capability
from bot.turn import Turn
from handlers.common import child_label, query, query_action, query_feature
from handlers.intents import IntentName

INTENT = "timetable"
WEEK_PHRASES = ("ca tuan", "whole week", "all week")  # besides what parse_week reads


@dataclass(frozen=True, slots=True, kw_only=True)
class Wanted:
    """What was asked: one ``day``, or (``day`` None) the week starting ``monday``."""

    day: dt.date | None
    monday: dt.date


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def wanted(folded: str, today: dt.date) -> Wanted:
    """The day or the week asked for. Default: today.

    "tuần sau" / "next week" is the whole of next week; "thứ 2 tuần sau" that weekday of next
    week; a weekday alone is its next occurrence (today included); "mai" is tomorrow.
    """
    if folded.startswith("day:"):  # from a button: "day:2026-11-25" / "day:week[:2026-11-30]"
        value = folded.removeprefix("day:")
        if value == "week":
            return Wanted(day=None, monday=_monday(today))
        if value.startswith("week:"):
            return Wanted(day=None, monday=_monday(dt.date.fromisoformat(value[5:])))
        day = dt.date.fromisoformat(value)
        return Wanted(day=day, monday=_monday(day))
    week = parse_week(folded)
    monday = _monday(today) + dt.timedelta(weeks=week or 0)
    offset = parse_relative_day(folded)
    if offset is not None:
        day = today + dt.timedelta(days=offset)
        return Wanted(day=day, monday=_monday(day))
    weekday = parse_weekday(folded)
    if weekday is not None:
        if week:  # "thứ 2 tuần sau": that week's day
            day = monday + dt.timedelta(days=weekday)
        else:
            day = today + dt.timedelta(days=(weekday - today.weekday()) % 7)
        return Wanted(day=day, monday=_monday(day))
    if week is not None or any(contains_phrase(folded, p) for p in WEEK_PHRASES):
        return Wanted(day=None, monday=monday)
    return Wanted(day=today, monday=_monday(today))


async def _answer(turn: Turn, child: Student, folded: str) -> list[Reply]:
    slots = list(await turn.backend.timetable(child.class_id))
    today = turn.today()
    try:
        asked = wanted(folded, today)
    except ValueError:
        asked = Wanted(day=today, monday=_monday(today))
    who = child_label(child)
    next_monday = _monday(today) + dt.timedelta(weeks=1)
    buttons = (
        (
            Button(
                label=turn.t("button.today"), action=query_action(INTENT, child.id, f"day:{today}")
            ),
            Button(
                label=turn.t("button.tomorrow"),
                action=query_action(INTENT, child.id, f"day:{today + dt.timedelta(days=1)}"),
            ),
        ),
        (
            Button(label=turn.t("button.week"), action=query_action(INTENT, child.id, "day:week")),
            Button(
                label=turn.t("button.next_week"),
                action=query_action(INTENT, child.id, f"day:week:{next_monday}"),
            ),
        ),
    )
    if not slots:
        return [Reply(text=turn.t("timetable.none", child=who))]
    if asked.day is None:
        text = _week(turn, slots, who, asked.monday)
    else:
        text = _day(turn, slots, who, asked.day)
    pressed = turn.action.startswith(f"{INTENT}:")  # a child or day button: edit that message
    return [Reply(text=text, buttons=buttons, edit=pressed)]


def _slot_line(turn: Turn, slot: TimetableSlot) -> str:
    teacher = f" — {slot.teacher_name}" if slot.teacher_name else ""
    return turn.t("timetable.slot", period=slot.period, subject=slot.subject_name) + teacher


def _day(turn: Turn, slots: Sequence[TimetableSlot], who: str, day: dt.date) -> str:
    title = turn.t(
        "timetable.day_title",
        weekday=weekday_name(day.weekday(), turn.locale),
        date=format_date(day),
        child=who,
    )
    holiday = holiday_name(day)
    if day.weekday() == 6:
        return f"{title}\n{turn.t('timetable.sunday')}"
    if holiday:
        return f"{title}\n{turn.t('timetable.holiday', name=holiday)}"
    lines = [title]
    todays = [s for s in slots if s.weekday == day.weekday()]
    if not todays:
        lines.append(turn.t("timetable.free_day"))
    for session in (Session.MORNING, Session.AFTERNOON):
        part = [s for s in todays if s.session is session]
        if part:
            lines.append(turn.t(f"timetable.{session.value}"))
            lines.extend("  " + _slot_line(turn, s) for s in part)
    return "\n".join(lines)


def _week(turn: Turn, slots: Sequence[TimetableSlot], who: str, monday: dt.date) -> str:
    end = monday + dt.timedelta(days=5)  # Saturday: the last school day
    lines = [
        turn.t("timetable.week_title", start=format_date(monday), end=format_date(end), child=who)
    ]
    for weekday in range(6):
        day = monday + dt.timedelta(days=weekday)
        lines.append(f"{weekday_name(weekday, turn.locale)} {format_date(day)}")
        holiday = holiday_name(day)
        if holiday:
            lines.append("  " + turn.t("timetable.holiday", name=holiday))
            continue
        for session in (Session.MORNING, Session.AFTERNOON):
            part = [s.subject_name for s in slots if s.weekday == weekday and s.session is session]
            if part:
                lines.append(f"  {turn.t(f'timetable.{session.value}')} {', '.join(part)}")
    return "\n".join(lines)


handle = query(INTENT, Capability.TIMETABLE, _answer)
FEATURE = query_feature(INTENT, handle, intent=IntentName.TIMETABLE)
