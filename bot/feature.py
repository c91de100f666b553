"""How a feature plugs into the router (issue 14): each feature module declares a
:class:`Feature`, and the router merges them once into a :class:`Registry`. The router itself
only locks, loads, dispatches and commits; it holds no workflow.

A feature declares

* ``commands``: typed commands answered anywhere, even in the middle of a dialog ("/start",
  "duyet 12"): ``(turn, intent) -> replies``, or None when the text is not theirs;
* ``intents``: the questions it answers when no dialog is active;
* ``actions``: its buttons, by prefix. One action format everywhere: ``<prefix>:<rest>``,
  built with :func:`action`; the rest is the feature's own business;
* ``menu``: its entries of the main menu (the buttons ``menu:<name>``);
* ``dialog``: for a dialog, its state name and module. Its buttons are then only valid while
  that dialog is active (a press from an old message is stale), and the text typed meanwhile
  goes to the dialog.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from bot.messages import Reply
from bot.turn import Turn
from handlers.intents import Intent, IntentName

Handler = Callable[[Turn], Awaitable[list[Reply]]]
ActionHandler = Callable[[Turn, str], Awaitable[list[Reply]]]  # (turn, the action's rest)
IntentHandler = Callable[[Turn, Intent], Awaitable[list[Reply]]]
Command = Callable[[Turn, Intent], Awaitable[list[Reply] | None]]

K = TypeVar("K")
V = TypeVar("V")

MENU = "menu"  # the prefix of the main menu's buttons


class Dialog(Protocol):
    """A dialog is a module (or object) with these two functions."""

    async def handle(self, turn: Turn) -> list[Reply]: ...

    def reminder(self, turn: Turn) -> list[Reply]:
        """What to say when a command is typed in the middle of the dialog."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Feature:
    name: str
    commands: Sequence[Command] = ()
    intents: Mapping[IntentName, IntentHandler] = field(default_factory=dict)
    actions: Mapping[str, ActionHandler] = field(default_factory=dict)
    menu: Mapping[str, Handler] = field(default_factory=dict)
    dialog: tuple[str, Dialog] | None = None


@dataclass(frozen=True, slots=True)
class DialogFns:
    """A dialog made of a module's two functions."""

    handle_fn: Handler
    reminder_fn: Callable[[Turn], list[Reply]]

    async def handle(self, turn: Turn) -> list[Reply]:
        return await self.handle_fn(turn)

    def reminder(self, turn: Turn) -> list[Reply]:
        return self.reminder_fn(turn)


def dialog_feature(
    name: str,
    prefix: str,
    handle: Handler,
    reminder: Callable[[Turn], list[Reply]],
    *,
    intents: Mapping[IntentName, IntentHandler] | None = None,
    menu: Mapping[str, Handler] | None = None,
) -> Feature:
    """A dialog's feature: its state ``name``, its buttons ``<prefix>:…`` (all to ``handle``,
    valid only while it is active), the intents and menu entries that start it."""
    dialog = DialogFns(handle, reminder)
    return Feature(
        name=name,
        intents=intents or {},
        actions={prefix: dialog_actions(dialog)},
        menu=menu or {},
        dialog=(name, dialog),
    )


def action(prefix: str, *parts: object) -> str:
    """``action("ab", "ok", 12)`` -> ``"ab:ok:12"``."""
    return ":".join([prefix, *(str(p) for p in parts)])


def dialog_actions(module: Dialog) -> ActionHandler:
    """A dialog's buttons all go to its ``handle`` (it reads ``turn.action``)."""

    async def handle(turn: Turn, rest: str) -> list[Reply]:
        return await module.handle(turn)

    return handle


@dataclass(frozen=True, slots=True)
class Route:
    handle: ActionHandler
    dialog: str | None  # the dialog that must be active, if any


class Registry:
    """Every feature's declarations, merged; a name declared twice is a programming error."""

    def __init__(self, features: Sequence[Feature]) -> None:
        self.commands: list[Command] = []
        self.intents: dict[IntentName, IntentHandler] = {}
        self.actions: dict[str, Route] = {}
        self.menu: dict[str, Handler] = {}
        self.dialogs: dict[str, Dialog] = {}
        for feature in features:
            self.commands.extend(feature.commands)
            owner = feature.dialog[0] if feature.dialog else None
            if feature.dialog is not None:
                _add(self.dialogs, owner, feature.dialog[1], feature)
            for name, intent in feature.intents.items():
                _add(self.intents, name, intent, feature)
            for prefix, handle in feature.actions.items():
                if prefix == MENU or ":" in prefix:
                    raise ValueError(f"{feature.name}: bad action prefix {prefix!r}")
                _add(self.actions, prefix, Route(handle, owner), feature)
            for entry, handle_menu in feature.menu.items():
                _add(self.menu, entry, handle_menu, feature)


def _add(table: dict[K, V], key: K | None, value: V, feature: Feature) -> None:
    if key is None or key in table:
        raise ValueError(f"{feature.name}: {key!r} is declared twice")
    table[key] = value
