"""JSON out on the call path: orjson when it is installed (``golden-path[fast]``), else the stdlib.

A governed call may serialise a rewritten body (the shipped ``generation`` policy adds
``maxOutputTokens`` to most requests) and renders one audit event; with the stdlib these were
a sizeable part of golden-path's own time (an audit line took about 9 µs to encode, orjson
about 1.5 µs; a 10 KB body 22 µs, orjson 1.3 µs). orjson refuses what the stdlib writes
(integers beyond 64 bits, lone surrogates, non-string keys): those go to the stdlib, so every
value is written as it always was, only faster when orjson can take it.

Parsing stays with the stdlib: orjson reads an integer beyond 64 bits as a float, silently,
and a policy must see the number Google will read.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["FAST", "dumps"]

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
