"""vi and en catalogues have the same keys and placeholders, and every key the code uses exists."""

from __future__ import annotations

import re
import string
from pathlib import Path

from bot.i18n import Catalog

ROOT = Path(__file__).resolve().parents[2]


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_same_keys_and_placeholders() -> None:
    catalog = Catalog.load()
    assert catalog.keys("vi") == catalog.keys("en")
    for key in catalog.keys("vi"):
        assert _fields(catalog.raw("vi", key)) == _fields(catalog.raw("en", key)), key


def test_every_key_used_in_code_exists() -> None:
    catalog = Catalog.load()
    pattern = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z_0-9]+)["']""")
    used: set[str] = set()
    for folder in ("bot", "handlers", "dialogs"):
        for path in (ROOT / folder).rglob("*.py"):
            used.update(pattern.findall(path.read_text("utf-8")))
    assert used, "the scan found no keys"
    assert sorted(k for k in used if not catalog.has(k)) == []


def test_dynamic_keys_exist() -> None:
    catalog = Catalog.load()
    for key in [
        "scores.term_1",
        "scores.term_2",
        "scores.level_tot",
        "scores.level_kha",
        "scores.level_dat",
        "scores.level_chua_dat",
        "timetable.morning",
        "timetable.afternoon",
        "attendance.session_day",
        "attendance.session_morning",
        "attendance.session_afternoon",
        "lang.name_vi",
        "lang.name_en",
        "error.generic",
        "error.backend_unavailable",
        "error.not_found",
        "error.unsupported",
    ]:
        assert catalog.has(key), key
