"""The settings reference, docs/configuration.md, generated from :class:`bot.config.Settings`.

``python -m bot.config_reference > docs/configuration.md`` regenerates the page; a unit test
keeps the page and the model in step. Secrets (``SecretStr``) never show a value.
"""

from __future__ import annotations

import datetime as dt
import json
import types
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from bot.config import ENV_PREFIX, SchoolSettings, Settings

REGENERATE = "python -m bot.config_reference > docs/configuration.md"
NONE = "—"

INTRO = f"""\
<!-- Generated from bot/config.py: {REGENERATE} -->
# Configuration

Every setting is an environment variable that starts with `{ENV_PREFIX}`; `__` nests
(`{ENV_PREFIX}OTP__MAX_SENDS_PER_HOUR`). The same keys work in a TOML file given with
`--config FILE` (before or after the command): a section per block (`[database]`,
`url = "…"`, `[otp.sms]`). Environment variables win over the file, the file over the
defaults. A wrong setting stops the bot with one sentence saying what to fix
(`.venv/bin/python run_bot.py check-config` checks them). Secrets are never logged and never shown
here. Several schools in one process are `[[schools]]` tables of the TOML file (last section).
This page is generated from `bot/config.py`; do not edit it by hand.
"""


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The BaseModel classes in an annotation (``X``, ``X | None``)."""
    candidates = get_args(annotation) if _is_union(annotation) else (annotation,)
    return [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType)


def _is_secret(annotation: Any) -> bool:
    candidates = get_args(annotation) if _is_union(annotation) else (annotation,)
    return SecretStr in candidates


def _choices(annotation: Any) -> list[str]:
    candidates = get_args(annotation) if _is_union(annotation) else (annotation,)
    found: list[str] = []
    for candidate in candidates:
        if get_origin(candidate) is Literal:
            found.extend(str(value) for value in get_args(candidate))
    return found


def _value(value: object) -> str:
    if value is None or value == "" or value is PydanticUndefined:
        return NONE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, list | tuple):
        return json.dumps([_plain(v) for v in value], ensure_ascii=False)
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _plain(value: object) -> object:
    return value if isinstance(value, str | int | float | bool) else str(value)


def _default(field: FieldInfo) -> str:
    if _is_secret(field.annotation):
        return NONE
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    text = _value(value)
    return text if text == NONE else f"`{text}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _description(field: FieldInfo) -> str:
    text = field.description or ""
    choices = _choices(field.annotation)
    if choices:
        listed = ", ".join(f"`{c}`" for c in choices)
        text = f"{text} (one of {listed})" if text else f"one of {listed}"
    return _cell(text)


def _row(name: str, field: FieldInfo) -> str:
    return f"| `{name}` | {_default(field)} | {_description(field)} |"


def _table(header: str) -> list[str]:
    return [f"| {header} | default | description |", "|---|---|---|"]


def leaf_settings(
    model: type[BaseModel] = Settings, prefix: str = ENV_PREFIX
) -> Iterator[tuple[str, FieldInfo]]:
    """Every leaf setting's environment variable and field, in model order (not ``schools``)."""
    for name, field in model.model_fields.items():
        if model is Settings and name == "schools":
            continue
        nested = _models(field.annotation)
        if nested:
            yield from leaf_settings(nested[0], f"{prefix}{name.upper()}__")
        else:
            yield f"{prefix}{name.upper()}", field


def _sections(model: type[BaseModel], prefix: str, title: str, intro: str) -> Iterator[list[str]]:
    rows: list[str] = []
    children: list[tuple[str, FieldInfo, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        if model is Settings and name == "schools":
            continue
        nested = _models(field.annotation)
        if nested:
            children.append((name, field, nested[0]))
        else:
            rows.append(_row(f"{prefix}{name.upper()}", field))
    if rows:
        lines = [f"## {title}", ""]
        if intro:
            lines += [intro, ""]
        yield lines + _table("variable") + rows
    for name, field, child in children:
        child_prefix = f"{prefix}{name.upper()}__"
        yield from _sections(
            child,
            child_prefix,
            f"`{child_prefix}…` (`[{title_key(child_prefix)}]`)",
            _cell(field.description or ""),
        )


def title_key(prefix: str) -> str:
    """``LIENLAC_OTP__SMS__`` -> ``otp.sms`` (the TOML section)."""
    return ".".join(p.lower() for p in prefix.removeprefix(ENV_PREFIX).split("__") if p)


def _school_section() -> list[str]:
    blocks = {
        _models(field.annotation)[0]: name
        for name, field in Settings.model_fields.items()
        if _models(field.annotation) and name != "schools"
    }
    lines = [
        "## Per-school tables ([[schools]] in TOML)",
        "",
        "One process (and one database) may serve many schools: each `[[schools]]` table of the "
        "`--config` file is one school. A key or block a school does not give comes from the "
        "top level. A block (`backend`, `telegram`, `absence`, `zalo_bot`, `zalo_oa`, `otp`) "
        "takes the same keys as the top-level section of that name; in `zalo_bot`, `zalo_oa` "
        "and `otp`, where the platforms are, the webhook servers, the polling timeout and the "
        "OTP policy come from the top level unless the school gives them, and so does "
        "`telegram.api_base_url`. There are no environment variables for these tables.",
        "",
        *_table("key"),
    ]
    for name, field in SchoolSettings.model_fields.items():
        nested = _models(field.annotation)
        if nested:
            section = blocks.get(nested[0], name)
            same = f"same keys as `[{section}]` (`{ENV_PREFIX}{section.upper()}__…`)"
            text = f"{field.description}: {same}" if field.description else same
            lines.append(f"| `{name}` | {NONE} | {_cell(text)}; else the top-level one |")
        else:
            lines.append(_row(name, field))
    return lines


def render() -> str:
    """The Markdown page, docs/configuration.md."""
    parts = [INTRO.rstrip("\n")]
    for section in _sections(Settings, ENV_PREFIX, "General", ""):
        parts.append("\n".join(section))
    parts.append("\n".join(_school_section()))
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    print(render(), end="")
