from __future__ import annotations

import pytest

from bot.backends.jsonpath import JsonPath, PathSyntaxError

DOC = {
    "data": {"items": [{"x": 1, "tags": ["a", "b"]}, {"x": 2, "tags": []}], "total": 2},
    "lop": {"ten": "6A"},
}


@pytest.mark.parametrize(
    ("path", "found"),
    [
        ("$", [DOC]),
        ("", [DOC]),
        ("$.data.total", [2]),
        ("data.total", [2]),
        ("lop.ten", ["6A"]),
        ("$.data.items[*].x", [1, 2]),
        ("data.items[0].x", [1]),
        ("data.items[-1].x", [2]),
        ("data.items[5].x", []),
        ("data.items[*].tags[*]", ["a", "b"]),
        ("missing.key", []),
        ("lop.ten.deeper", []),
        ("data.items.x", []),  # a list needs [*] or [n]
    ],
)
def test_paths_find_what_they_say(path: str, found: list[object]) -> None:
    assert JsonPath.parse(path).find(DOC) == found


def test_first_is_none_when_nothing_is_found() -> None:
    assert JsonPath.parse("lop.si_so").first(DOC) is None
    assert JsonPath.parse("lop.ten").first(DOC) == "6A"
    assert JsonPath.parse("data.items[*]").fans_out
    assert not JsonPath.parse("data.items[0]").fans_out


@pytest.mark.parametrize("bad", ["data..x", "data[abc]", "data[", "a.b]"])
def test_bad_syntax_is_refused(bad: str) -> None:
    with pytest.raises(PathSyntaxError):
        JsonPath.parse(bad)
