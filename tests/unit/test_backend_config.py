"""Backend configs are validated before anything is built ("test before configure"), and the
registry finds every backend through the ``lienlac.backends`` entry points."""

from __future__ import annotations

import tomllib
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from bot.backends.http import BreakerState, CircuitBreaker
from bot.backends.registry import UnknownBackend, available, load_manifest
from bot.backends.rest_json import load_config
from bot.config import ConfigError, load_settings
from bot.domain.errors import BackendUnavailable
from tests.fakes.ports import FakeClock
from tests.fixtures.qlhs_rest.record import FIXTURE, render

MAPPING = Path(__file__).resolve().parents[1] / "fixtures" / "qlhs_rest" / "mapping.toml"


def test_the_three_backends_are_declared_as_entry_points() -> None:
    declared = {ep.name: ep.value for ep in entry_points(group="lienlac.backends")}
    assert declared == {
        "local": "bot.backends.local:manifest",
        "rest_json": "bot.backends.rest_json:manifest",
        "oneroster": "bot.backends.oneroster:manifest",
    }
    assert set(available()) >= set(declared)
    for name in declared:
        manifest = load_manifest(name)
        assert manifest.name == name and manifest.factory is not None


def test_an_unknown_backend_names_the_installed_ones() -> None:
    with pytest.raises(UnknownBackend, match="installed: local, oneroster, rest_json"):
        load_manifest("sparkle")


def test_the_test_mapping_is_valid() -> None:
    config = load_config(MAPPING)
    assert config.term_values == {"1": "HK1", "2": "HK2"}
    assert "record_absence" in config.endpoints


def _write(tmp_path: Path, raw: str) -> Path:
    path = tmp_path / "mapping.toml"
    path.write_text(raw, encoding="utf-8")
    return path


MINIMAL = """
base_url = "https://qlhs.example/api"
[school]
name = "THCS A"
[endpoints.find_student]
path = "/students?code={code}"
items = "$.data[*]"
fields = { id = "id", code = "code", full_name = "name", class_id = "c.id", class_name = "c.name" }
[endpoints.get_student]
path = "/students/{student_id}"
fields = { id = "id", code = "code", full_name = "name", class_id = "c.id", class_name = "c.name" }
[endpoints.guardians]
path = "/students/{student_id}/parents"
items = "$[*]"
fields = { id = "id", name = "name", phone = "phone" }
"""


def test_a_minimal_mapping_is_accepted(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, MINIMAL))
    assert config.auth.kind == "none"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("[endpoints.guardians]", "[endpoints.guardianz]"), "endpoints.guardians is required"),
        (('path = "/students/{student_id}/parents"', 'path = "/p/{code}"'), "uses {code}"),
        (('phone = "phone" }', 'tel = "phone" }'), "must map phone"),
        (('items = "$[*]"', 'items = "$[x"'), "bad path"),
        (('base_url = "https://', 'base_url = "ftp://'), "base_url must be an http"),
        (('name = "THCS A"', 'nam = "THCS A"'), "Extra inputs are not permitted"),
        (("[school]", "[auth]\nkind = 'bearer'\n[school]"), "needs auth.token"),
    ],
)
def test_a_wrong_mapping_is_refused_in_one_sentence(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    old, new = change
    assert old in MINIMAL
    with pytest.raises(ValueError, match=message) as caught:
        load_config(_write(tmp_path, MINIMAL.replace(old, new, 1)))
    assert "\n" not in str(caught.value)


def test_a_remote_kind_needs_a_mapping_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIENLAC_BACKEND__KIND", "rest_json")
    with pytest.raises(ConfigError, match="LIENLAC_BACKEND__MAPPING must point at"):
        load_settings()


def test_circuit_breaker_opens_fails_fast_and_half_opens_after_the_cooldown() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(clock=clock, failures=3, cooldown_seconds=30)
    for _ in range(2):
        breaker.failed()
    assert breaker.state is BreakerState.CLOSED
    breaker.succeeded()  # a success resets the count
    for _ in range(3):
        breaker.failed()
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(BackendUnavailable):
        breaker.before_call()
    clock.advance(seconds=30)
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_call()  # one trial call goes through
    breaker.failed()  # ... and fails: open again for a whole cool-down
    assert breaker.state is BreakerState.OPEN
    clock.advance(seconds=30)
    breaker.before_call()
    breaker.succeeded()
    assert breaker.state is BreakerState.CLOSED


def test_the_recorded_qlhs_fixture_mirrors_the_demo_data() -> None:
    """Regenerate with ``python -m tests.fixtures.qlhs_rest.record`` after a demo data change."""
    assert FIXTURE.read_text(encoding="utf-8") == render()


def test_the_example_mapping_in_the_readme_is_valid(tmp_path: Path) -> None:
    """The example moved from the README to docs/backends.md; the name stays."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "backends.md").read_text("utf-8")
    start = docs.index("```toml\n# qlhs-mapping.toml")
    block = docs[start + len("```toml\n") : docs.index("```", start + 7)]
    raw: dict[str, Any] = tomllib.loads(block)
    assert raw["base_url"].startswith("https://")
    load_config(_write(tmp_path, block))


def test_a_school_systems_answer_is_cleaned_like_typed_text() -> None:
    """Issue 13.7: a QLHS name with a right-to-left override, a bell or a NUL reaches neither
    a parent nor the database; numbers and structure are untouched."""
    from decimal import Decimal

    from bot.backends.http import cleaned

    raw = {
        "ho_ten": "Nguy\u202eễn\u0007 Văn A\x00",
        "items": [{"ten": "Học phí\u2066", "so_tien": Decimal("1500000")}, 7, None, True],
    }
    assert cleaned(raw) == {
        "ho_ten": "Nguyễn Văn A",
        "items": [{"ten": "Học phí", "so_tien": Decimal("1500000")}, 7, None, True],
    }
