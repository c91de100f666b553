"""User-facing text, looked up by key in the ``vi`` (default) and ``en`` catalogues.

The catalogues are TOML files in ``bot/locales``; nested tables give dotted keys
(``[verify] ask_code = "..."`` is ``verify.ask_code``). Text is ``str.format`` templates.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Any

DEFAULT_LOCALE = "vi"
LOCALES = ("vi", "en")


def _flatten(prefix: str, table: Mapping[str, Any], out: dict[str, str]) -> None:
    for name, value in table.items():
        key = f"{prefix}.{name}" if prefix else name
        if isinstance(value, Mapping):
            _flatten(key, value, out)
        else:
            out[key] = str(value)


def normalise_locale(hint: str | None) -> str:
    """ "en-US" -> "en"; anything we do not translate -> Vietnamese."""
    lang = (hint or "").split("-")[0].split("_")[0].lower()
    return lang if lang in LOCALES else DEFAULT_LOCALE


class Catalog:
    def __init__(self, messages: Mapping[str, Mapping[str, str]]) -> None:
        self._messages = messages

    @classmethod
    def load(cls) -> Catalog:
        messages: dict[str, dict[str, str]] = {}
        folder = resources.files("bot") / "locales"
        for locale in LOCALES:
            flat: dict[str, str] = {}
            _flatten("", tomllib.loads((folder / f"{locale}.toml").read_text("utf-8")), flat)
            messages[locale] = flat
        return cls(messages)

    def keys(self, locale: str) -> frozenset[str]:
        return frozenset(self._messages.get(locale, {}))

    def raw(self, locale: str, key: str) -> str:
        """The template itself, placeholders unfilled."""
        return self._messages[locale][key]

    def has(self, key: str) -> bool:
        return key in self._messages[DEFAULT_LOCALE]

    def t(self, locale: str, key: str, /, **values: object) -> str:
        return self.text(locale, key, values)

    def text(
        self, locale: str, key: str, values: Mapping[str, object], *, to_teacher: bool = False
    ) -> str:
        """The text for ``key``. ``to_teacher``: the reader is a teacher, so the form of
        address changes (Vietnamese: "anh/chị" -> "thầy/cô"; catalogue table ``address``)."""
        template = self._messages.get(locale, {}).get(key) or self._messages[DEFAULT_LOCALE].get(
            key
        )
        if template is None:
            raise KeyError(f"no text for message key {key!r}")
        if to_teacher:
            template = self._to_teacher(locale, template)
        return template.format(**values) if values else template

    def _to_teacher(self, locale: str, template: str) -> str:
        table = self._messages.get(locale) or self._messages[DEFAULT_LOCALE]
        parent, teacher = table["address.parent"], table["address.teacher"]
        if parent == teacher:
            return template
        template = template.replace(parent, teacher)
        return template.replace(parent[:1].upper() + parent[1:], teacher[:1].upper() + teacher[1:])
