"""Request bodies checked the way Google's JSON parser checks them: unknown fields, wrong types.

The message shapes come from Google's published specs, compacted into ``request_schemas.json``
by ``_schema_gen`` (see there). Field names are accepted in both spellings (``generationConfig``
and ``generation_config``), as Google's parser does; ``null`` is accepted anywhere (the
default). The first problem is reported, naming the field path in proto (snake_case) spelling,
with Google's wording.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

_INT32 = 2**31
_INT64 = 2**63
_TYPE_NAMES = {
    "string": "TYPE_STRING", "bytes": "TYPE_BYTES", "bool": "TYPE_BOOL", "int32": "TYPE_INT32",
    "int64": "TYPE_INT64", "number": "TYPE_FLOAT", "enum": "TYPE_ENUM",
}  # fmt: skip


@functools.cache
def _messages() -> dict[str, dict[str, list[Any]]]:
    # Fields google-genai sends that neither spec revision lists yet are in the file too
    # (``_schema_gen`` reads them from the SDK's own types).
    path = Path(__file__).with_name("request_schemas.json")
    messages: dict[str, dict[str, list[Any]]] = json.loads(path.read_text("utf-8"))["messages"]
    return messages


def camel(name: str) -> str:
    """``max_output_tokens`` -> ``maxOutputTokens`` (Google's parser reads both spellings)."""
    head, *rest = name.split("_")
    if not head or not rest:
        return name
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def snake(name: str) -> str:
    """``maxOutputTokens`` -> ``max_output_tokens`` (how Google's errors name fields)."""
    return re.sub(r"([A-Z])", lambda m: "_" + m[1].lower(), name)


def problem(body: Any, root: str) -> tuple[str, str] | None:
    """``(message, field path)`` for the first way ``body`` is not a valid ``root``, or None."""
    return _message(body, root, "")


def _message(value: Any, name: str, path: str) -> tuple[str, str] | None:
    if not isinstance(value, dict):
        return _invalid(
            path, f"type.googleapis.com/google.ai.generativelanguage.v1beta.{name}", value
        )
    fields = _messages().get(name, {})
    for key, item in value.items():
        spec = fields.get(camel(str(key)))
        if spec is None:
            where = f" at '{path}'" if path else ""
            return (
                f'Invalid JSON payload received. Unknown name "{key}"{where}: Cannot find field.',
                f"{path}.{key}" if path else str(key),
            )
        found = _field(item, spec, f"{path}.{snake(camel(str(key)))}".lstrip("."))
        if found is not None:
            return found
    return None


def _field(value: Any, spec: list[Any], path: str) -> tuple[str, str] | None:
    kind, detail, repeated = spec
    if value is None:
        return None
    if repeated:
        if not isinstance(value, list):
            return _invalid(path, _TYPE_NAMES.get(kind, "TYPE_MESSAGE"), value)
        for i, item in enumerate(value):
            found = _single(item, kind, detail, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    if isinstance(value, list) and kind != "any":
        return (
            f"Invalid JSON payload received. Proto field is not repeating, cannot start list "
            f"at '{path}'.",
            path,
        )
    return _single(value, kind, detail, path)


def _single(value: Any, kind: str, detail: Any, path: str) -> tuple[str, str] | None:  # noqa: PLR0911
    if value is None or kind == "any":
        return None
    if kind == "message":
        return _message(value, str(detail), path)
    if kind == "map":
        return None if isinstance(value, dict) else _invalid(path, "TYPE_MESSAGE", value)
    if kind in ("string", "bytes"):
        return None if isinstance(value, str) else _invalid(path, _TYPE_NAMES[kind], value)
    if kind == "bool":
        return None if isinstance(value, bool) else _invalid(path, "TYPE_BOOL", value)
    if kind in ("int32", "int64"):
        return _integer(value, kind, path)
    if kind == "number":
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)) or value in (
            "NaN", "Infinity", "-Infinity",
        )  # fmt: skip
        return None if ok else _invalid(path, "TYPE_FLOAT", value)
    if kind == "enum":
        if isinstance(value, int) and not isinstance(value, bool):
            return None
        # Google's parser matches enum names without regard to case (``"audio"`` is AUDIO).
        known = isinstance(value, str) and (value in detail or value.upper() in detail)
        return None if known else _invalid(path, "TYPE_ENUM", value)
    return None


def _integer(value: Any, kind: str, path: str) -> tuple[str, str] | None:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, str) and re.fullmatch(r"-?\d{1,20}", value)
    ):
        number = int(value)
    limit = _INT32 if kind == "int32" else _INT64
    if number is None or not -limit <= number < limit:
        return _invalid(path, _TYPE_NAMES[kind], value)
    return None


def _invalid(path: str, type_name: str, value: Any) -> tuple[str, str]:
    shown = json.dumps(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return f"Invalid value at '{path}' ({type_name}), {shown}", path
