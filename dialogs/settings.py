"""Notification settings (cài đặt thông báo): digest daily / weekly / off, its time, what it
contains, instant alerts for urgent items, an alert at each new score (off by default, never
in quiet hours), and the language.

See ``settings.mmd`` for the diagram. Opened by ``/caidat``, ``/settings`` or free text
("cài đặt thông báo", "cai dat"). Every choice is saved at once (``uow.notifications``), so
leaving half-way loses nothing. Works with buttons and, on channels without buttons, with
the router's numbered menus; the time of day and the weekday can also be typed.

Warning:
    Run only inside the router's per-conversation lock: the steps read and write
    ``turn.state`` and the preference row without further locking.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import replace

from bot.domain.digest import (
    Content,
    DigestPrefs,
    Frequency,
    format_minute,
    in_quiet_hours,
    parse_time_of_day,
)
from bot.domain.formatting import weekday_name
from bot.domain.text import fold, parse_weekday
from bot.feature import dialog_feature
from bot.i18n import LOCALES
from bot.messages import Button, Reply
from bot.turn import Turn
from handlers.intents import Intent, IntentName

NAME = "settings"

HOUR_CHOICES = (18 * 60, 19 * 60, 20 * 60)  # quick picks; any other time can be typed
FREQUENCY_WORDS = {
    Frequency.DAILY: ("hang ngay", "moi ngay", "daily", "every day", "ngay"),
    Frequency.WEEKLY: ("hang tuan", "moi tuan", "weekly", "every week", "tuan"),
    Frequency.OFF: ("tat", "khong", "off", "none", "never", "khong nhan"),
}
DONE_WORDS = frozenset({"xong", "done", "ok", "thoi", "finish"})


class Step(enum.StrEnum):
    MENU = "menu"  # the summary of the current settings and what to change
    FREQUENCY = "frequency"  # daily / weekly / off
    WEEKDAY = "weekday"  # weekly: which day of the week
    HOUR = "hour"  # the time of day: quick picks or typed ("20h", "8 giờ tối")
    CONTENT = "content"  # toggle what the digest contains, then back to the menu


Handler = Callable[[Turn], Awaitable[list[Reply]]]


async def start(turn: Turn) -> list[Reply]:
    """Open the settings (guardians only: the digest is about their children)."""
    turn.state.clear_dialog()
    if not await turn.guardian_links():
        return [Reply(text=turn.t("settings.need_link"))]
    turn.state.dialog = NAME
    return await _menu(turn)


async def handle(turn: Turn) -> list[Reply]:
    if turn.action == "s:done" or (not turn.action and fold(turn.text) in DONE_WORDS):
        turn.state.clear_dialog()
        prefs = await _load(turn)
        return [Reply(text=turn.t("settings.saved") + "\n" + _summary(turn, prefs), edit=True)]
    if turn.action == "s:menu":
        return await _menu(turn)
    if not await turn.guardian_links():  # unlinked meanwhile (/xoa in another turn)
        turn.state.clear_dialog()
        return [Reply(text=turn.t("settings.need_link"))]
    step = Step(turn.state.step or Step.MENU)
    return await TRANSITIONS[step](turn)


def reminder(turn: Turn) -> list[Reply]:
    """A command typed in the middle of the settings: say how to leave."""
    return [
        Reply(
            text=turn.t("settings.remind"),
            buttons=((Button(label=turn.t("settings.button_done"), action="s:done"),),),
        )
    ]


# --- storage ---------------------------------------------------------------------------


async def _load(turn: Turn) -> DigestPrefs:
    k = turn.key
    found = await turn.uow.notifications.prefs(k.school_id, k.channel, k.user_id)
    return found or DigestPrefs()


async def _save(turn: Turn, prefs: DigestPrefs) -> None:
    await turn.uow.notifications.save_prefs(turn.key, prefs, now=turn.now())
    await turn.audit("settings.changed")


# --- the menu --------------------------------------------------------------------------


def _on_off(turn: Turn, value: bool) -> str:
    return turn.t("settings.on" if value else "settings.off")


def _when(turn: Turn, prefs: DigestPrefs) -> str:
    time = format_minute(prefs.minute_of_day)
    if prefs.frequency is Frequency.DAILY:
        return turn.t("settings.when_daily", time=time)
    if prefs.frequency is Frequency.WEEKLY:
        return turn.t(
            "settings.when_weekly", day=weekday_name(prefs.weekday, turn.locale), time=time
        )
    return turn.t("settings.when_off")


def _content_names(turn: Turn, prefs: DigestPrefs) -> str:
    names = [turn.t(f"settings.content_{c.value}") for c in Content if c in prefs.content]
    return ", ".join(names) if names else turn.t("settings.content_none")


def _summary(turn: Turn, prefs: DigestPrefs) -> str:
    return turn.t(
        "settings.summary",
        when=_when(turn, prefs),
        content=_content_names(turn, prefs),
        instant=_on_off(turn, prefs.instant),
        score_alerts=_on_off(turn, prefs.score_alerts),
        post_alerts=_on_off(turn, prefs.post_alerts),
        language=turn.t(f"lang.name_{turn.locale}"),
        quiet=_quiet(turn),
    )


def _quiet(turn: Turn) -> str:
    s = turn.services
    return f"{s.quiet_start.strftime('%H:%M')}–{s.quiet_end.strftime('%H:%M')}"


async def _menu(turn: Turn, *, note: str = "") -> list[Reply]:
    turn.state.step = Step.MENU
    prefs = await _load(turn)
    other = "en" if turn.locale == "vi" else "vi"
    rows = (
        (
            Button(label=turn.t("settings.button_frequency"), action="s:freq"),
            Button(label=turn.t("settings.button_hour"), action="s:hour"),
        ),
        (Button(label=turn.t("settings.button_content"), action="s:content"),),
        (
            Button(
                label=turn.t(
                    "settings.button_instant_off" if prefs.instant else "settings.button_instant_on"
                ),
                action="s:instant",
            ),
            Button(label=turn.t(f"lang.name_{other}"), action=f"s:lang:{other}"),
        ),
        (
            Button(
                label=turn.t(
                    "settings.button_score_alerts_off"
                    if prefs.score_alerts
                    else "settings.button_score_alerts_on"
                ),
                action="s:scores",
            ),
            Button(
                label=turn.t(
                    "settings.button_post_alerts_off"
                    if prefs.post_alerts
                    else "settings.button_post_alerts_on"
                ),
                action="s:posts",
            ),
        ),
        (Button(label=turn.t("settings.button_done"), action="s:done"),),
    )
    head = (note + "\n\n") if note else ""
    text = head + turn.t("settings.title") + "\n" + _summary(turn, prefs)
    return [Reply(text=text, buttons=rows, private_only=True)]


async def _on_menu(turn: Turn) -> list[Reply]:
    action = turn.action
    if action == "s:freq":
        return _ask_frequency(turn)
    if action == "s:hour":
        return _ask_hour(turn)
    if action == "s:content":
        return await _ask_content(turn)
    prefs = await _load(turn)
    if action == "s:instant":
        prefs = replace(prefs, instant=not prefs.instant)
        await _save(turn, prefs)
        return await _menu(
            turn, note=turn.t("settings.instant_set", state=_on_off(turn, prefs.instant))
        )
    if action == "s:scores":
        prefs = replace(prefs, score_alerts=not prefs.score_alerts)
        await _save(turn, prefs)
        state = _on_off(turn, prefs.score_alerts)
        return await _menu(turn, note=turn.t("settings.score_alerts_set", state=state))
    if action == "s:posts":  # teachers' remarks and homework at once (issue 17)
        prefs = replace(prefs, post_alerts=not prefs.post_alerts)
        await _save(turn, prefs)
        state = _on_off(turn, prefs.post_alerts)
        return await _menu(turn, note=turn.t("settings.post_alerts_set", state=state))
    if action.startswith("s:lang:"):
        locale = action.removeprefix("s:lang:")
        if locale not in LOCALES:
            return await _menu(turn)
        turn.state.locale = locale
        turn.locale = locale
        await _save(turn, replace(prefs, locale=locale))
        return await _menu(turn, note=turn.t("lang.set"))
    if not action and turn.text:
        # Shortcuts typed at the menu: a time ("20h") or a frequency ("hàng tuần").
        minute = parse_time_of_day(turn.text)
        if minute is not None:
            return await _set_hour(turn, minute)
        frequency = _frequency_in(turn.text)
        if frequency is not None:
            return await _set_frequency(turn, frequency)
        return await _menu(turn, note=_not_understood(turn))
    return await _menu(turn)


# --- frequency and weekday ---------------------------------------------------------------


def _frequency_in(text: str) -> Frequency | None:
    folded = fold(text)
    for frequency, words in FREQUENCY_WORDS.items():
        if folded in words:
            return frequency
    return None


def _ask_frequency(turn: Turn) -> list[Reply]:
    turn.state.step = Step.FREQUENCY
    return [
        Reply(
            text=turn.t("settings.ask_frequency"),
            buttons=(
                (
                    Button(label=turn.t("settings.daily"), action="s:freq:daily"),
                    Button(label=turn.t("settings.weekly"), action="s:freq:weekly"),
                ),
                (
                    Button(label=turn.t("settings.never"), action="s:freq:off"),
                    Button(label=turn.t("settings.button_back"), action="s:menu"),
                ),
            ),
        )
    ]


async def _on_frequency(turn: Turn) -> list[Reply]:
    chosen: Frequency | None = None
    if turn.action.startswith("s:freq:"):
        value = turn.action.removeprefix("s:freq:")
        chosen = Frequency(value) if value in Frequency.__members__.values() else None
    elif turn.text:
        chosen = _frequency_in(turn.text)
    if chosen is None:
        reply = _ask_frequency(turn)
        return [
            Reply(
                text=_not_understood(turn) + "\n" + reply[0].text,
                buttons=reply[0].buttons,
            )
        ]
    return await _set_frequency(turn, chosen)


async def _set_frequency(turn: Turn, frequency: Frequency) -> list[Reply]:
    prefs = replace(await _load(turn), frequency=frequency)
    await _save(turn, prefs)
    if frequency is Frequency.WEEKLY:
        return _ask_weekday(turn)
    return await _menu(turn, note=turn.t("settings.frequency_set", when=_when(turn, prefs)))


def _ask_weekday(turn: Turn) -> list[Reply]:
    turn.state.step = Step.WEEKDAY
    days = [Button(label=weekday_name(d, turn.locale), action=f"s:day:{d}") for d in range(7)]
    return [
        Reply(
            text=turn.t("settings.ask_weekday"),
            buttons=(tuple(days[0:3]), tuple(days[3:6]), (days[6],)),
        )
    ]


async def _on_weekday(turn: Turn) -> list[Reply]:
    day: int | None = None
    if turn.action.startswith("s:day:"):
        raw = turn.action.removeprefix("s:day:")
        day = int(raw) if raw.isdigit() and int(raw) <= 6 else None
    elif turn.text:
        day = parse_weekday(fold(turn.text))
    if day is None:
        reply = _ask_weekday(turn)
        return [
            Reply(
                text=_not_understood(turn) + "\n" + reply[0].text,
                buttons=reply[0].buttons,
            )
        ]
    prefs = replace(await _load(turn), frequency=Frequency.WEEKLY, weekday=day)
    await _save(turn, prefs)
    return await _menu(turn, note=turn.t("settings.frequency_set", when=_when(turn, prefs)))


# --- the hour ----------------------------------------------------------------------------


def _ask_hour(turn: Turn, *, note: str = "") -> list[Reply]:
    turn.state.step = Step.HOUR
    picks = tuple(Button(label=format_minute(m), action=f"s:hour:{m}") for m in HOUR_CHOICES)
    text = (note + "\n") if note else ""
    return [
        Reply(
            text=text + turn.t("settings.ask_hour", quiet=_quiet(turn)),
            buttons=(picks, (Button(label=turn.t("settings.button_back"), action="s:menu"),)),
        )
    ]


async def _on_hour(turn: Turn) -> list[Reply]:
    minute: int | None = None
    if turn.action.startswith("s:hour:"):
        raw = turn.action.removeprefix("s:hour:")
        minute = int(raw) if raw.isdigit() and int(raw) < 24 * 60 else None
    elif turn.text:
        minute = parse_time_of_day(turn.text)
    if minute is None:
        return _ask_hour(turn, note=turn.t("settings.hour_invalid"))
    return await _set_hour(turn, minute)


async def _set_hour(turn: Turn, minute: int) -> list[Reply]:
    s = turn.services
    if in_quiet_hours(minute, quiet_start=s.quiet_start, quiet_end=s.quiet_end):
        return _ask_hour(
            turn, note=turn.t("settings.hour_quiet", time=format_minute(minute), quiet=_quiet(turn))
        )
    prefs = await _load(turn)
    if prefs.frequency is Frequency.OFF:
        prefs = replace(prefs, frequency=Frequency.DAILY)  # choosing a time means "send it"
    prefs = replace(prefs, minute_of_day=minute)
    await _save(turn, prefs)
    return await _menu(turn, note=turn.t("settings.frequency_set", when=_when(turn, prefs)))


# --- content -----------------------------------------------------------------------------


async def _ask_content(turn: Turn, *, note: str = "") -> list[Reply]:
    turn.state.step = Step.CONTENT
    prefs = await _load(turn)
    rows = tuple(
        (
            Button(
                label=("✅ " if c in prefs.content else "⬜ ")
                + turn.t(f"settings.content_{c.value}"),
                action=f"s:toggle:{c.value}",
            ),
        )
        for c in Content
    )
    text = (note + "\n") if note else ""
    return [
        Reply(
            text=text + turn.t("settings.ask_content"),
            buttons=(*rows, (Button(label=turn.t("settings.button_back"), action="s:menu"),)),
        )
    ]


CONTENT_WORDS = {
    Content.SCORES: ("diem", "scores", "score"),
    Content.ATTENDANCE: ("chuyen can", "diem danh", "attendance", "nghi hoc"),
    Content.FEES: ("hoc phi", "khoan thu", "fees", "fee"),
    Content.TIMETABLE: ("tkb", "thoi khoa bieu", "timetable", "lich hoc"),
    Content.NOTICES: ("thong bao", "notices", "notice"),
}


async def _on_content(turn: Turn) -> list[Reply]:
    chosen: Content | None = None
    if turn.action.startswith("s:toggle:"):
        value = turn.action.removeprefix("s:toggle:")
        chosen = Content(value) if value in Content.__members__.values() else None
    elif turn.text:
        folded = fold(turn.text)
        chosen = next((c for c, words in CONTENT_WORDS.items() if folded in words), None)
    if chosen is None:
        return await _ask_content(turn, note=_not_understood(turn))
    prefs = await _load(turn)
    content = prefs.content ^ {chosen}
    await _save(turn, replace(prefs, content=frozenset(content)))
    return await _ask_content(turn)


TRANSITIONS: dict[Step, Handler] = {
    Step.MENU: _on_menu,
    Step.FREQUENCY: _on_frequency,
    Step.WEEKDAY: _on_weekday,
    Step.HOUR: _on_hour,
    Step.CONTENT: _on_content,
}


async def _start(turn: Turn, intent: Intent | None = None) -> list[Reply]:
    return await start(turn)


FEATURE = dialog_feature(
    NAME,
    "s",
    handle,
    reminder,
    intents={IntentName.SETTINGS: _start},
    menu={"settings": _start},
)


def _not_understood(turn: Turn) -> str:
    turn.not_understood = True
    return turn.t("settings.not_understood")
