"""A small JSONPath-like syntax for mapping files: ``$.data.items[*]``, ``a.b.c``, ``items[0].x``.

Only what a field mapping needs: dotted keys, ``[n]`` indexes (negative allowed) and ``[*]``
fan-out. ``$`` (or an empty path) is the document itself. Pure, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\*|-?\d+)\]")


class PathSyntaxError(ValueError):
    """The path is not in the supported syntax."""


@dataclass(frozen=True, slots=True)
class JsonPath:
    text: str
    steps: tuple[str | int | None, ...]  # key, index, or None for [*]

    @property
    def fans_out(self) -> bool:
        return None in self.steps

    @classmethod
    def parse(cls, text: str) -> JsonPath:
        raw = text.strip()
        body = raw[1:] if raw.startswith("$") else raw
        body = body.removeprefix(".")
        steps: list[str | int | None] = []
        pos = 0
        while pos < len(body):
            if body[pos] == "." and steps:
                pos += 1
            m = _SEGMENT.match(body, pos)
            if m is None:
                raise PathSyntaxError(f"bad path {text!r} at position {pos}")
            if m.group(1) is not None:
                steps.append(m.group(1))
            elif m.group(2) == "*":
                steps.append(None)
            else:
                steps.append(int(m.group(2)))
            pos = m.end()
        return cls(raw, tuple(steps))

    def find(self, document: Any) -> list[Any]:
        """Every value the path reaches (missing keys and indexes reach nothing)."""
        current = [document]
        for step in self.steps:
            nxt: list[Any] = []
            for value in current:
                if step is None:
                    if isinstance(value, list):
                        nxt.extend(value)
                elif isinstance(step, int):
                    if isinstance(value, list) and -len(value) <= step < len(value):
                        nxt.append(value[step])
                elif isinstance(value, dict) and step in value:
                    nxt.append(value[step])
            current = nxt
        return current

    def first(self, document: Any) -> Any:
        """The first value reached, or None."""
        found = self.find(document)
        return found[0] if found else None
