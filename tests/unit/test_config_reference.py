"""docs/configuration.md is generated from the settings model and never shows a secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.config_reference import REGENERATE, leaf_settings, render

PAGE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def _secret(annotation: object) -> bool:
    return annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ())


def test_the_page_is_up_to_date() -> None:
    assert PAGE.read_text(encoding="utf-8") == render(), (
        f"docs/configuration.md is out of date: run `{REGENERATE}`"
    )


def test_every_leaf_setting_is_on_the_page() -> None:
    page = PAGE.read_text(encoding="utf-8")
    names = [name for name, _ in leaf_settings()]
    assert "LIENLAC_OTP__MAX_SENDS_PER_HOUR" in names
    assert "LIENLAC_OTP__SMS__API_KEY" in names
    assert [name for name in names if f"`{name}`" not in page] == []


def test_no_secret_default_ever_appears(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = [(name, field) for name, field in leaf_settings() if _secret(field.annotation)]
    assert "LIENLAC_TELEGRAM__TOKEN" in [name for name, _ in secrets]
    for name, _ in secrets:
        monkeypatch.setenv(name, f"sentinel-{name.lower()}-value")
    page = render()
    lines = {line.split(" | ")[0]: line for line in page.splitlines() if line.startswith("| `")}
    for name, field in secrets:
        assert f"sentinel-{name.lower()}" not in page
        assert lines[f"| `{name}`"].split(" | ")[1] == "—", name
        default = field.get_default(call_default_factory=True)
        if isinstance(default, SecretStr):
            assert default.get_secret_value() not in page
