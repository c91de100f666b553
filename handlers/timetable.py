"""The class timetable: today, tomorrow, a named weekday ("thứ 3", "thu ba", "T3") or the week.

Slots are (weekday, session, period): no clock times, because bells and shifts vary.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from bot.domain.calendar import holiday_name
from bot.domain.formatting import format_date, weekday_name
from bot.domain.models import Session, Student, TimetableSlot
from bot.domain.text import contains_phrase, parse_relative_day, parse_weekday
from bot.messages import Button, Reply
from bot.ports import Capability
from bot.turn import Turn
from handlers.common import child_label, query, query_action, query_feature
from handlers.intents import IntentName

INTENT = "timetable"
WEEK_PHRASES = ("ca tuan", "tuan nay", "tuan", "week", "whole week", "all week")


def wanted_day(folded: str, today: dt.date) -> dt.date | None:
    """The day asked for; None means the whole week. Default: today."""
    if folded.startswith("day:"):  # from a button: "day:2026-11-25" / "day:week"
        value = folded.removeprefix("day:")
        return None if value == "week" else dt.date.fromisoformat(value)
    offset = parse_relative_day(folded)
    if offset is not None:
        return today + dt.timedelta(days=offset)
    weekday = parse_weekday(folded)
    if weekday is not None:
        return today + dt.timedelta(days=(weekday - today.weekday()) % 7)
    if any(contains_phrase(folded, p) for p in WEEK_PHRASES):
        return None
    return today


async def _answer(turn: Turn, child: Student, folded: str) -> list[Reply]:
    slots = list(await turn.backend.timetable(child.class_id))
    today = turn.today()
    try:
        day = wanted_day(folded, today)
    except ValueError:
        day = today
    who = child_label(child)
    buttons = (
        (
            Button(
                label=turn.t("button.today"), action=query_action(INTENT, child.id, f"day:{today}")
            ),
            Button(
                label=turn.t("button.tomorrow"),
                action=query_action(INTENT, child.id, f"day:{today + dt.timedelta(days=1)}"),
            ),
            Button(label=turn.t("button.week"), action=query_action(INTENT, child.id, "day:week")),
        ),
    )
    if not slots:
        return [Reply(text=turn.t("timetable.none", child=who))]
    text = _week(turn, slots, who, today) if day is None else _day(turn, slots, who, day)
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


def _week(turn: Turn, slots: Sequence[TimetableSlot], who: str, today: dt.date) -> str:
    monday = today - dt.timedelta(days=today.weekday())
    lines = [turn.t("timetable.week_title", start=format_date(monday), child=who)]
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
