"""The call path's JSON output: orjson when installed, the stdlib for whatever it refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from golden_path import _json


@pytest.fixture(name="stdlib_only", params=[False, True], ids=["orjson", "stdlib"])
def _stdlib_only(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Run a test with orjson, and again as if it were not installed."""
    if request.param:
        monkeypatch.setattr(_json, "_orjson", None)
    return bool(request.param)


def test_orjson_is_installed_for_the_tests() -> None:
    """The test extra installs golden-path[fast], so the suite exercises the fast path."""
    assert _json.FAST


@pytest.mark.parametrize(
    "value",
    [
        {"contents": [{"parts": [{"text": "hello"}]}], "generationConfig": {"maxOutputTokens": 8}},
        {"text": "café 😀", "n": 2**70, "f": 0.1},
        {"lone": "\ud800"},
        [1, 2.5, None, True, "x"],
    ],
)
def test_dumps_round_trips(value: Any, stdlib_only: bool) -> None:
    """Compact JSON that reads back as the value (big ints and lone surrogates included)."""
    del stdlib_only
    if value == {"lone": "\ud800"}:
        out = _json.dumps(value, ascii_only=True)
        assert out.isascii()
    else:
        out = _json.dumps(value)
        assert b", " not in out
        assert b": " not in out
    assert json.loads(out) == value


def test_ascii_only_escapes_non_ascii(stdlib_only: bool) -> None:
    """A body that was ASCII is sent ASCII; non-ASCII text is escaped, not UTF-8."""
    del stdlib_only
    out = _json.dumps({"text": "café"}, ascii_only=True)
    assert out.isascii()
    assert json.loads(out) == {"text": "café"}
    assert _json.dumps({"text": "cafe"}, ascii_only=True) == b'{"text":"cafe"}'


def test_strict_dumps_refuses_what_json_has_no_type_for(stdlib_only: bool) -> None:
    """A request body holding a non-JSON value is an error, never silently text."""
    del stdlib_only
    with pytest.raises(TypeError):
        _json.dumps({"when": object()})


def test_lenient_dumps_writes_odd_values_as_text(stdlib_only: bool) -> None:
    """An audit field a processor set to an odd value is written as its str(), not dropped."""
    del stdlib_only

    class Odd:
        def __str__(self) -> str:
            return "odd-value"

    assert json.loads(_json.dumps({"x": Odd()}, lenient=True)) == {"x": "odd-value"}
