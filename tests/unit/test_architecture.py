"""The core stays pure: bot/domain, handlers and dialogs never import a framework."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PURE = ["bot/domain", "handlers", "dialogs"]
FORBIDDEN = {"telegram", "httpx", "sqlalchemy", "aiosqlite", "asyncpg", "starlette", "uvicorn"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_core_never_imports_frameworks() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & FORBIDDEN)
        for folder in PURE
        for path in (ROOT / folder).rglob("*.py")
        if _imports(path) & FORBIDDEN
    }
    assert offenders == {}


def test_only_the_telegram_channel_imports_telegram() -> None:
    users = sorted(
        str(p.relative_to(ROOT))
        for folder in ("bot", "handlers", "dialogs", "storage")
        for p in (ROOT / folder).rglob("*.py")
        if "telegram" in _imports(p)
    )
    assert users in ([], ["bot/channels/telegram.py"])


def test_the_checker_sees_imports() -> None:
    assert "httpx" in _imports(ROOT / "bot/otp_senders.py")  # the test would catch a violation


# --- the internal rules (issue 14) -------------------------------------------------------

PACKAGES = ("bot", "handlers", "dialogs", "storage")
# What a channel may use: the wire types, the ports, pure rules and text. Never the wiring
# (bootstrap, serve, config), the router, the turn, a handler, a dialog or storage.
CHANNEL_MAY_IMPORT = (
    "bot.channels",
    "bot.messages",
    "bot.ports",
    "bot.domain",
    "bot.i18n",
    "bot.oa_tokens",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _internal_imports(path: Path) -> set[str]:
    """Our modules ``path`` imports, at any depth of the file (lazy imports count too),
    except under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text("utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        found.update(n for n in names if n.split(".")[0] in PACKAGES)
    return found


def _modules() -> dict[str, Path]:
    return {
        _module_name(p): p
        for package in PACKAGES
        for p in (ROOT / package).rglob("*.py")
        if "migrations" not in p.parts
    }


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in _internal_imports(path):
            # "from bot.channels import telegram" names a module; "from bot.ports import X"
            # names a symbol of bot.ports
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def test_channels_import_nothing_above_the_wire_types() -> None:
    offenders = {
        name: sorted(t for t in targets if not t.startswith(CHANNEL_MAY_IMPORT))
        for name, targets in _graph().items()
        if name.startswith("bot.channels")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_core_never_imports_a_channel() -> None:
    """The turn, the router, handlers, dialogs and the rules know capabilities (in
    ``bot.messages``), never a channel module."""
    core = ("bot.turn", "bot.router", "bot.domain", "handlers", "dialogs")
    offenders = {
        name: sorted(t for t in targets if t.startswith("bot.channels"))
        for name, targets in _graph().items()
        if name.startswith(core)
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_checker_sees_internal_imports() -> None:
    graph = _graph()
    assert "dialogs.verify_parent" in graph["dialogs.welcome"]
    assert "bot.channels.webhook" in graph["bot.channels.telegram"]  # a module via "from"
    assert "bot.ports" in graph["bot.channels.per_school"]  # a symbol of a module


def test_handlers_never_import_dialogs() -> None:
    offenders = {
        name: sorted(t for t in targets if t.startswith("dialogs"))
        for name, targets in _graph().items()
        if name.startswith("handlers")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_import_cycles() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == []
