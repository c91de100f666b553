"""The main menu buttons, shared by the greeting, help and the end of linking."""

from __future__ import annotations

from bot.messages import Button
from bot.turn import Turn


def main_menu(turn: Turn) -> tuple[tuple[Button, ...], ...]:
    return (
        (
            Button(label=turn.t("button.scores"), action="menu:scores"),
            Button(label=turn.t("button.timetable"), action="menu:timetable"),
        ),
        (
            Button(label=turn.t("button.fees"), action="menu:fees"),
            Button(label=turn.t("button.attendance"), action="menu:attendance"),
        ),
        (
            Button(label=turn.t("button.add_child"), action="menu:add_child"),
            Button(label=turn.t("button.language"), action="menu:lang"),
        ),
    )
