"""JSON out on the call path: orjson when it is installed (``golden-path[fast]``), else the stdlib.

A governed call may serialise a rewritten body (the shipped ``generation`` policy adds
``maxOutputTokens`` to most requests) and renders one audit event; with the stdlib these were
a sizeable part of golden-path's own time (an audit line took about 9 µs to encode, orjson
about 1.5 µs; a 10 KB body 22 µs, orjson 1.3 µs). orjson refuses what the stdlib writes
(integers beyond 64 bits, lone surrogates, non-string keys): those go to the stdlib, so every
value is written as it always was, only faster when orjson can take it.

Parsing a request body strictly (:func:`loads_exact`) tries orjson first and keeps its result
only when it is provably what the stdlib's strict parse gives: orjson keeps the last of a
repeated key and reads an integer beyond 64 bits as a float, silently, and a policy must see
what Google will read. Anything in doubt goes to the stdlib, which decides as it always did.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["FAST", "INEXACT", "dumps", "loads_exact"]

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - the test extra installs it; tests cover both paths
    _orjson = None  # type: ignore[assignment]

FAST = _orjson is not None
"""Whether orjson is in use."""

# Built once: json.dumps() with options builds a new encoder on every call.
_ENCODERS = {
    (ascii_only, lenient): json.JSONEncoder(
        separators=(",", ":"), ensure_ascii=ascii_only, default=str if lenient else None
    )
    for ascii_only in (False, True)
    for lenient in (False, True)
}


def dumps(value: Any, *, ascii_only: bool = False, lenient: bool = False) -> bytes:
    """Compact JSON as UTF-8 bytes (TypeError on a value JSON has no type for).

    ``lenient`` writes such values as ``str(value)`` instead (audit events: an odd value a
    processor added must not lose the event). ``ascii_only`` asks for escaped non-ASCII (the
    stdlib's ``ensure_ascii``); orjson writes UTF-8, the same bytes for ASCII text, so its
    result is used only when it is ASCII.
    """
    if _orjson is not None:
        try:
            out = _orjson.dumps(value, default=str if lenient else None)
        except TypeError:
            pass  # a 65-bit integer, a lone surrogate, a non-string key: the stdlib's way
        else:
            if not ascii_only or out.isascii():
                return out
    encoder = _ENCODERS[ascii_only, lenient]
    return encoder.encode(value).encode()


INEXACT: Any = object()
"""What :func:`loads_exact` returns when the stdlib's strict parse must decide."""
# orjson reads an integer outside [-2**63, 2**64) as a float; a float this large may be one.
_BIG = 2.0**63
# Deeper bodies go to the stdlib, whose recursion limit refuses what it cannot nest.
_MAX_DEPTH = 200
# Bodies shorter than this are proved by counting bytes, not by a walk (see loads_exact).
_SHORT = 2048


def loads_exact(raw: bytes) -> Any:
    """``raw`` parsed by orjson, or :data:`INEXACT` unless that is exactly the strict parse's.

    The strict parse (``golden_path._model``) refuses a key repeated in one object, reads
    big integers exactly and refuses what its recursion limit cannot nest. orjson refuses
    everything else it would (NaN, trailing commas, bad escapes, invalid UTF-8), so a body
    orjson reads differs only in those three ways, checked here without a second parse:

    - a repeated key: outside strings, a colon only follows a key, so the body's colons minus
      those inside its strings count its keys; a repeat leaves fewer keys in the result.
      A colon written as a six-character escape is not in the raw bytes: a body whose text
      has colons and such an escape is left to the stdlib;
    - a float at or beyond 2**63 may have been an integer literal;
    - nesting deeper than 200.

    About three times faster than the strict parse on a 10 KB prompt, twice on a short one
    (under 2 KB the colons are counted in orjson's own rewrite of the value, not by a walk).
    """
    if _orjson is None:
        return INEXACT
    try:
        value = _orjson.loads(raw)
    except _orjson.JSONDecodeError:
        return INEXACT  # the stdlib gives the error (or reads it: 1e400, lone surrogates)
    if len(raw) < _SHORT and (b"\\" not in raw or b"\\u003" not in raw):
        # A short body: the same three proofs without a walk in Python. orjson writes the value
        # back with one colon per key plus those in its strings, which the raw bytes show as
        # they are (no escaped colon): a repeated key leaves fewer. orjson writes every float
        # from 1e16 up with "e+", so a body without one has no float that was a big integer;
        # fewer brackets than the depth limit cannot nest deeper. In doubt: the walk.
        # (Single bytes are searched first: memchr, where a longer needle is a slower search;
        # over a short body bytes.count beats a Python loop of finds.)
        written = _orjson.dumps(value)
        if (b"+" not in written or b"e+" not in written) and (
            raw.count(b"[") + raw.count(b"{") <= _MAX_DEPTH
        ):
            return value if written.count(b":") == raw.count(b":") else INEXACT
    counted = _walk(value)
    if counted is None:
        return INEXACT
    keys, colons = counted
    if colons and b"\\u003" in raw:
        return INEXACT
    return value if _count_colons(raw) - colons == keys else INEXACT


def _walk(value: Any) -> tuple[int, int] | None:
    """``(keys, colons inside strings)`` of a parsed body.

    None when a float may have been a big integer, or the body nests too deep.
    """
    keys = colons = 0
    level = [value]
    for _ in range(_MAX_DEPTH):
        below: list[Any] = []
        for node in level:
            if type(node) is dict:
                keys += len(node)
                colons += _colons(node)
                items: Any = node.values()
            else:
                items = node if type(node) is list else (node,)
            for item in items:
                kind = type(item)
                if kind is str:
                    if ":" in item:  # `in` finds a character with memchr; count walks it all
                        colons += item.count(":")
                elif kind is dict or kind is list:
                    below.append(item)
                elif kind is float and not -_BIG < item < _BIG:
                    return None
        if not below:
            return keys, colons
        level = below
    return None


def _colons(node: dict[str, Any]) -> int:
    keys = "".join(node)  # one C call for all of an object's keys
    return keys.count(":") if ":" in keys else 0


def _count_colons(raw: bytes) -> int:
    # A body has about one colon per key: found one by one with memchr, that is much faster
    # than bytes.count's byte-by-byte walk over a long prompt. Text full of colons is counted.
    found = 0
    at = raw.find(b":")
    while at >= 0:
        found += 1
        if found == 64:
            return found + raw.count(b":", at + 1)
        at = raw.find(b":", at + 1)
    return found
