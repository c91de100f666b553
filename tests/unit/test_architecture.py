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
