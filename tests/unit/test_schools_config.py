"""Several schools in one process ([[schools]]): effective settings and their checks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lienlac.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_each_school_overrides_only_what_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIENLAC_TELEGRAM__API_BASE_URL", "http://127.0.0.1:9")
    settings = load_settings(
        write(
            tmp_path,
            """
school_timezone = "Asia/Ho_Chi_Minh"
[absence]
max_days = 4
[digest]
quiet_start = "21:30"

[[schools]]
id = "thcs-a"
telegram = { token = "1:aaa" }

[[schools]]
id = "thcs-b"
timezone = "Asia/Bangkok"
telegram = { token = "2:bbb" }
absence = { max_days = 2, deputy_code = "GV009" }
quiet_start = "20:00"
school_staff = ["gv005"]
""",
        )
    )
    a, b = settings.school_configs()
    assert (a.id, a.timezone, a.absence.max_days, a.quiet_start) == (
        "thcs-a",
        "Asia/Ho_Chi_Minh",
        4,
        dt.time(21, 30),
    )
    assert (b.id, b.timezone, b.absence.max_days, b.absence.deputy_code) == (
        "thcs-b",
        "Asia/Bangkok",
        2,
        "GV009",
    )
    assert b.quiet_start == dt.time(20, 0) and b.school_staff == ("GV005",)
    # one Bot API server for every school unless a school names its own
    assert a.telegram.api_base_url == b.telegram.api_base_url == "http://127.0.0.1:9"
    assert settings.school_config("thcs-b") == b


def test_without_schools_it_is_the_one_configured_school() -> None:
    [only] = load_settings().school_configs()
    assert only.id == "demo" and only.backend.kind == "local"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[[schools]]\nid = "a"\n[[schools]]\nid = "a"\n', "same school id twice"),
        (
            '[[schools]]\nid = "a"\ntelegram = { token = "1:x" }\n'
            '[[schools]]\nid = "b"\ntelegram = { token = "1:x" }\n',
            "one bot per school",
        ),
        ('[[schools]]\nid = "Bad Id"\n', "LIENLAC_SCHOOLS"),
        ('[[schools]]\nid = "a"\ntimezone = "Mars/Olympus"\n', "unknown time zone"),
        ('[[schools]]\nid = "a"\ncolour = "red"\n', "Unknown setting"),
    ],
)
def test_a_wrong_schools_table_is_one_sentence(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, toml))
    assert message in str(err.value)
    assert "\n" not in str(err.value)
