"""The call path's JSON output: orjson when installed, the stdlib for whatever it refuses."""

from __future__ import annotations

import json
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st

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


def _strict(raw: bytes) -> tuple[str, Any]:
    """What the request's strict parse makes of ``raw``: ("ok", value) or ("refused", None)."""
    from golden_path._model import _STRICT

    try:
        return "ok", _STRICT.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except (ValueError, RecursionError):
        return "refused", None


@pytest.mark.parametrize(
    "raw",
    [
        b'{"model":"a","model":"b"}',
        b'{"a":{"b":1,"b":1}}',
        b'[{"x":1},{"y":2,"y":2}]',
        b'{"a\\u003a":1,"a\\u003a":2}',  # the colon escaped: not visible in the raw bytes
        b'{"a\\u003A":1,"b":"\\u003a","a\\u003A":2}',
        b'{"n":18446744073709551616}',  # orjson reads it as a float
        b'{"n":-9223372036854775809}',
        b'{"n":' + b"9" * 5000 + b"}",
        b'{"n":NaN}',
        b'{"a":1,}',
        b'{"a":"\\ud800"}',  # a lone surrogate: the strict parse reads it, orjson does not
        b'{"a":1e400}',
        b'{"deep":' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"deep":' + b"[" * 250 + b"]" * 250 + b"}",
        b"\xef\xbb\xbf{}",
    ],
)
def test_loads_exact_leaves_what_differs_to_the_strict_parse(raw: bytes) -> None:
    """Repeated keys, big integers, deep nesting: orjson's reading is never the one kept."""
    assert _json.loads_exact(raw) is _json.INEXACT
    assert _strict(raw) != ("ok", _json.loads_exact(raw))


@pytest.mark.parametrize(
    "value",
    [
        {"contents": [{"parts": [{"text": "a: b :: c"}], "role": "user"}]},
        {"text": "key: value\n" * 100, "a": 1, "b": {"c": 2}},  # more colons than one by one
        {"k:1": {"k:2": [":", {"::": 18446744073709551615}]}, "f": 1.5e18, "n": None},
        "a:b",
        [1, -0, -0.0, 2.5e-324, True],
    ],
)
def test_loads_exact_reads_what_the_strict_parse_reads(value: Any) -> None:
    """An ordinary body, colons in its text and keys included, is read by orjson, the same."""
    for raw in (json.dumps(value).encode(), json.dumps(value, indent=2).encode()):
        found = _json.loads_exact(raw)
        assert found is not _json.INEXACT
        assert repr(found) == repr(_strict(raw)[1])


def test_loads_exact_without_orjson(stdlib_only: bool) -> None:
    """Without orjson every body goes to the strict parse."""
    assert (_json.loads_exact(b'{"a":1}') is _json.INEXACT) is stdlib_only


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.sampled_from('ab:"\\\u00e9\ud800 '), max_size=6),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(st.tuples(st.text(alphabet="ab:", max_size=3), inner), max_size=4)
    ),
    max_leaves=20,
)


def _text(value: Any, ascii_only: bool) -> str:
    # Pairs lists are objects whose keys may repeat: the repeats are written, not merged.
    if isinstance(value, list) and value and all(isinstance(v, tuple) for v in value):
        inner = ",".join(f"{json.dumps(k, ensure_ascii=ascii_only)}:{_text(v, ascii_only)}"
                         for k, v in value)  # fmt: skip
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + ",".join(_text(v, ascii_only) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


@hypothesis.settings(max_examples=400, deadline=None)
@hypothesis.given(value=_JSON, ascii_only=st.booleans())
def test_loads_exact_never_differs_from_the_strict_parse(value: Any, ascii_only: bool) -> None:
    """For any body (repeated keys, big integers, escapes), orjson's reading is kept only when
    it is exactly the strict parse's."""
    raw = _text(value, ascii_only).encode("utf-8", "surrogatepass")
    found = _json.loads_exact(raw)
    if found is not _json.INEXACT:
        assert _strict(raw) == ("ok", found)
        assert repr(_strict(raw)[1]) == repr(found)


def test_answers_only_the_audit_reads_parse_the_same() -> None:
    """An answer read only for the audit event is parsed by orjson where it can, by the stdlib
    where orjson refuses (1e400, a lone surrogate), and is None when it is not JSON."""
    from golden_path._transport._decode import parse_json

    answer = b'{"usageMetadata":{"promptTokenCount":4,"totalTokenCount":10},"x":[1.5,"\xc3\xa9"]}'
    assert parse_json(answer, usage_only=True) == parse_json(answer) == json.loads(answer)
    assert parse_json(b'{"a":1e400,"b":"\\ud800"}', usage_only=True) == {
        "a": float("inf"),
        "b": "\ud800",
    }
    assert parse_json(b"<html>bad gateway</html>", usage_only=True) is None
    assert parse_json(b"", usage_only=True) is None
