"""Generate ``request_schemas.json``: the request messages the emulator checks, from Google's specs.

    python -m golden_path.emulator._schema_gen   # rewrites emulator/request_schemas.json

Sources (test-time dependencies only, see pyproject's ``test`` extra): the Vertex AI discovery
document in google-api-python-client (``aiplatform.v1beta1.json``) and the Gemini API's
proto messages in google-ai-generativelanguage (``v1beta``). A message's fields are the union of
both specs (matched by short name: ``Content``, ``GenerationConfig``, ...), since the SDK sends
the same JSON to both backends and each spec lags the other on some newer fields. The output
is compact (field -> [kind, detail, repeated]) so the emulator needs neither package at run
time; tests/emulator/test_request_schemas.py regenerates it and fails when it is stale.

A third source fills what both published snapshots lag behind: fields that google-genai's own
types (the installed, pinned SDK) define on a message both specs name, which the SDK sends and
Google accepts (``Tool.mcpServers``, ``FileSearch.fileSearchStoreNames``,
``ToolConfig.includeServerSideToolInvocations``, ...), typed from the SDK's annotations, and the
request-level fields of :data:`SDK_REQUEST_FIELDS`, which the SDK builds from its config.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from golden_path.emulator._validate import camel

ROOTS = (
    "GenerateContentRequest", "CountTokensRequest", "EmbedContentRequest",
    "BatchEmbedContentsRequest",
)  # fmt: skip
PER_BACKEND = ("CountTokensRequest", "EmbedContentRequest", "BatchEmbedContentsRequest")
"""Roots whose top-level fields differ by backend (Vertex counts with ``systemInstruction`` and
``tools``, the Gemini API only with ``contents`` or ``generateContentRequest``): each also has
``NAME@gemini`` and ``NAME@vertex`` with one spec's top-level fields (nested messages are the
union, as for every other message)."""
OUTPUT = Path(__file__).with_name("request_schemas.json")
_VERTEX_PREFIX = "GoogleCloudAiplatformV1beta1"
_ANY = ("Struct", "Value", "ListValue", "GoogleProtobufStruct", "GoogleProtobufValue")
_WELL_KNOWN = {"Duration": "string", "Timestamp": "string", "FieldMask": "string"}

Spec = list[Any]

SDK_REQUEST_FIELDS: dict[str, dict[str, Spec]] = {
    "GenerateContentRequest": {
        "serviceTier": ["string", None, False],
        "store": ["bool", None, False],
        "sessionContext": ["any", None, False],
    },
}
"""Request-level fields google-genai 3.x sends (from ``GenerateContentConfig``) that neither
spec snapshot lists yet; no SDK type of the request's name exists to read them from."""


def _vertex() -> dict[str, dict[str, Spec]]:
    import googleapiclient  # type: ignore[import-untyped]

    path = os.path.join(
        os.path.dirname(googleapiclient.__file__), "discovery_cache", "documents",
        "aiplatform.v1beta1.json",
    )  # fmt: skip
    with open(path, encoding="utf-8") as handle:
        schemas = json.load(handle)["schemas"]
    messages: dict[str, dict[str, Spec]] = {}
    for full, schema in schemas.items():
        fields: dict[str, Spec] = {}
        for name, prop in schema.get("properties", {}).items():
            repeated = prop.get("type") == "array"
            item = prop.get("items", {}) if repeated else prop
            fields[name] = [*_vertex_kind(item), repeated]
        messages[full.removeprefix(_VERTEX_PREFIX)] = fields
    return messages


def _vertex_kind(prop: dict[str, Any]) -> tuple[str, Any]:  # noqa: PLR0911 -- one per type
    if "$ref" in prop:
        ref = str(prop["$ref"]).removeprefix(_VERTEX_PREFIX)
        return ("any", None) if ref in _ANY else ("message", ref)
    kind, fmt = prop.get("type"), prop.get("format", "")
    if "enum" in prop:
        return "enum", sorted(prop["enum"])
    if kind == "object":
        return ("map", None) if "additionalProperties" in prop else ("any", None)
    if kind == "integer":
        return ("int32" if fmt in ("int32", "uint32") else "int64"), None
    if kind == "string":
        if fmt in ("int64", "uint64"):
            return "int64", None
        return ("bytes", None) if fmt == "byte" else ("string", None)
    if kind == "number":
        return "number", None
    if kind == "boolean":
        return "bool", None
    return "any", None


def _gemini() -> dict[str, dict[str, Spec]]:
    from google.ai.generativelanguage_v1beta import types

    messages: dict[str, dict[str, Spec]] = {}
    pending = [getattr(types, root).pb().DESCRIPTOR for root in ROOTS if hasattr(types, root)]
    while pending:
        descriptor = pending.pop()
        if descriptor.name in messages:
            continue
        fields: dict[str, Spec] = {}
        messages[descriptor.name] = fields
        for field in descriptor.fields:
            kind, detail = _proto_kind(field)
            if kind == "message":
                pending.append(field.message_type)
            repeated = field.is_repeated and kind != "map"
            fields[field.json_name] = [kind, detail, repeated]
    return messages


def _proto_kind(field: Any) -> tuple[str, Any]:  # noqa: PLR0911 -- one per type
    t = field.type
    if t == field.TYPE_MESSAGE:
        message = field.message_type
        if message.GetOptions().map_entry:
            return "map", None
        if message.name in _ANY:
            return "any", None
        if message.name in _WELL_KNOWN:
            return _WELL_KNOWN[message.name], None
        return "message", message.name
    if t == field.TYPE_ENUM:
        return "enum", sorted(v.name for v in field.enum_type.values)
    if t in (field.TYPE_INT32, field.TYPE_SINT32, field.TYPE_SFIXED32, field.TYPE_UINT32):
        return "int32", None
    if t in (field.TYPE_INT64, field.TYPE_SINT64, field.TYPE_SFIXED64, field.TYPE_UINT64):
        return "int64", None
    if t in (field.TYPE_FLOAT, field.TYPE_DOUBLE):
        return "number", None
    if t == field.TYPE_BOOL:
        return "bool", None
    if t == field.TYPE_BYTES:
        return "bytes", None
    return "string", None


def _sdk_messages(names: set[str]) -> dict[str, dict[str, Spec]]:
    """Fields of google-genai's types named like a spec message (and of the types they reach)."""
    from google.genai import types

    out: dict[str, dict[str, Spec]] = {}
    pending = sorted(names)
    while pending:
        name = pending.pop()
        model = getattr(types, name, None)
        if name in out or not isinstance(model, type) or not hasattr(model, "model_fields"):
            continue
        fields: dict[str, Spec] = {}
        for field, info in model.model_fields.items():
            spec = _sdk_kind(info.annotation)
            if spec[0] == "message":
                pending.append(spec[1])
            fields[camel(field)] = spec
        out[name] = fields
    return out


def _sdk_kind(annotation: Any) -> Spec:
    import enum
    import typing

    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        return _sdk_kind(args[0]) if len(args) == 1 else ["any", None, False]
    if origin is list:
        inner = _sdk_kind(args[0]) if args else ["any", None, False]
        return ["any", None, False] if inner[2] else [inner[0], inner[1], True]
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            # A name, not checked against the SDK's enum: the service knows values the SDK's
            # enum lags behind (ToolCall.toolType "GOOGLE_SEARCH" is not in types.ToolType).
            return ["string", None, False]
        if hasattr(annotation, "model_fields"):
            return ["message", annotation.__name__, False]
        simple = {bool: "bool", int: "int64", float: "number", str: "string", bytes: "bytes"}
        if annotation in simple:
            return [simple[annotation], None, False]
    return ["any", None, False]


def generate() -> dict[str, Any]:
    """The compact schema: every message reachable from :data:`ROOTS`, fields from both specs."""
    vertex, gemini = _vertex(), _gemini()
    sdk = _sdk_messages(set(vertex) | set(gemini))
    out: dict[str, dict[str, Spec]] = {}
    pending = list(ROOTS)
    while pending:
        name = pending.pop()
        if name in out:
            continue
        fields: dict[str, Spec] = {}
        only_sdk = name not in gemini and name not in vertex
        extra = {**sdk.get(name, {}), **SDK_REQUEST_FIELDS.get(name, {})}
        # The SDK's own types fill only what neither spec has: the specs' types win.
        sources = (gemini.get(name, {}), vertex.get(name, {}), extra) if not only_sdk else (extra,)
        for source in sources:
            for field, spec in source.items():
                both = field in fields and spec[0] == "enum" and fields[field][0] == "enum"
                if both and source is not extra:
                    fields[field] = ["enum", sorted(set(fields[field][1]) | set(spec[1])), spec[2]]
                else:
                    fields.setdefault(field, spec)
        out[name] = dict(sorted(fields.items()))
        pending += [s[1] for s in fields.values() if s[0] == "message"]
    for root in PER_BACKEND:
        for backend, fields_of in (("gemini", gemini), ("vertex", vertex)):
            out[f"{root}@{backend}"] = dict(sorted(fields_of.get(root, {}).items()))
    return {"roots": list(ROOTS), "messages": dict(sorted(out.items()))}


def render() -> str:
    """The file's exact text."""
    return json.dumps(generate(), separators=(",", ":"), sort_keys=True) + "\n"


if __name__ == "__main__":
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT}")
