"""The main menu buttons, shared by the greeting, help and the end of linking."""

from __future__ import annotations

from bot.messages import Button
from bot.ports import LinkRole
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
            Button(label=turn.t("button.absence"), action="menu:absence"),
            Button(label=turn.t("button.my_requests"), action="menu:my_requests"),
        ),
        (
            Button(label=turn.t("button.add_child"), action="menu:add_child"),
            Button(label=turn.t("button.notifications"), action="menu:settings"),
        ),
        (
            Button(label=turn.t("button.message_teacher"), action="menu:message"),
            Button(label=turn.t("button.language"), action="menu:lang"),
        ),
    )


async def menu_for(turn: Turn) -> tuple[tuple[Button, ...], ...]:
    """The parent menu, the teacher menu, or both for a parent who also teaches."""
    links = await turn.links()
    roles = {link.role for link in links}
    rows: tuple[tuple[Button, ...], ...] = ()
    if LinkRole.GUARDIAN in roles or not roles:
        rows += main_menu(turn)
    if LinkRole.STAFF in roles:
        rows += teacher_menu(turn)[:1] if rows else teacher_menu(turn)
    return rows


def teacher_menu(turn: Turn) -> tuple[tuple[Button, ...], ...]:
    return (
        (
            Button(label=turn.t("button.pending"), action="menu:pending"),
            Button(label=turn.t("button.class_absent"), action="menu:class_absent"),
        ),
        (
            Button(label=turn.t("button.send_notice"), action="menu:notice"),
            Button(label=turn.t("button.language"), action="menu:lang"),
        ),
    )
