"""The newcomer's documents (issue 19): the example config loads, every link in them leads
somewhere in the repository, and nothing points outside it."""

from __future__ import annotations

import re
from pathlib import Path

from bot.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ["README.md", "CONTRIBUTING.md", "CHANGELOG.md", "docs/troubleshooting.md", "docs/usage.md"]


def test_the_example_toml_is_valid_settings() -> None:
    settings = load_settings(ROOT / "lienlac.example.toml")
    [school] = settings.school_configs()
    assert school.id == "thcs-le-loi" and school.telegram.token is not None
    assert settings.database_url.startswith("postgresql+asyncpg://")
    # a copied example never shows parents an account to pay into until the school sets one
    assert not school.payment.enabled


def test_every_relative_link_exists_and_no_file_outside_the_repository_is_named() -> None:
    for name in DOCS:
        text = (ROOT / name).read_text("utf-8")
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
            assert (ROOT / name).parent.joinpath(target).exists(), (name, target)
        assert "ARCHITECTURE.md" not in text and "shared folder" not in text, name
    readme = (ROOT / "README.md").read_text("utf-8")
    assert "./scripts/demo " in readme and "./scripts/test " in readme
    assert "CHANGELOG.md" in readme and "troubleshooting.md" in readme
    assert "about 20 minutes" in (ROOT / "CONTRIBUTING.md").read_text("utf-8")


def test_every_command_has_a_description_and_import_says_school_is_required() -> None:
    import argparse
    import sys

    sys.path.insert(0, str(ROOT))
    from run_bot import _parser

    parser = _parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, command in sub.choices.items():
        assert command.description, name
    assert "required" in sub.choices["import"].format_help().split("--school", 2)[2][:200]
    assert "--lang" in sub.choices["import"].format_help()
    assert "--online" in sub.choices["check-config"].format_help()
