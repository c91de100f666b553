"""The router's registry (issue 14): each feature declares its commands, intents, buttons and
menu entries; nothing is declared twice, every menu button and every intent has an owner."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from bot.feature import Feature, Registry, action
from bot.messages import Reply
from bot.router import FEATURES
from bot.turn import Turn
from handlers.intents import IntentName

ROOT = Path(__file__).resolve().parents[2]


async def _nothing(turn: Turn) -> list[Reply]:
    return []


def test_a_name_declared_twice_is_refused() -> None:
    one = Feature(name="one", menu={"scores": _nothing})
    two = Feature(name="two", menu={"scores": _nothing})
    with pytest.raises(ValueError, match="declared twice"):
        Registry([one, two])
    with pytest.raises(ValueError, match="bad action prefix"):
        Registry([Feature(name="bad", actions={"menu": lambda t, r: _nothing(t)})])


def test_every_intent_has_an_owner() -> None:
    # /start, /forget and /lang are commands (answered even inside a dialog); "cancel" is
    # the router's own (it ends the active dialog)
    commands = {IntentName.START, IntentName.FORGET, IntentName.LANG, IntentName.CANCEL}
    assert set(FEATURES.intents) == set(IntentName) - commands


def test_every_menu_button_and_action_prefix_has_an_owner() -> None:
    menus = (ROOT / "handlers/menus.py").read_text("utf-8")
    for entry in re.findall(r'action="menu:([a-z_]+)"', menus):
        assert entry in FEATURES.menu, entry
    # every literal action prefix in the code ("ab", "v", "s:…", f"{ACTION}…") is registered
    prefixes: set[str] = set()
    for folder in ("handlers", "dialogs"):
        for path in (ROOT / folder).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if not (isinstance(node, ast.Call) and ast.unparse(node.func) == "Button"):
                    continue
                for keyword in node.keywords:
                    value = keyword.value
                    if (
                        keyword.arg == "action"
                        and isinstance(value, ast.Constant)
                        and isinstance(value.value, str)
                    ):
                        prefixes.add(value.value.partition(":")[0])
    assert prefixes - {"menu"} <= set(FEATURES.actions), prefixes - set(FEATURES.actions)
    assert {"v", "s", "n", "ar", "ab", "lang", "forget", "scores"} <= set(FEATURES.actions)


def test_one_action_format() -> None:
    assert action("ab", "ok", 12) == "ab:ok:12"
    assert action("timetable", "st-1", "day:week") == "timetable:st-1:day:week"
