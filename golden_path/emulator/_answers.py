"""Deterministic answers derived from the request, so tests can assert on exact values.

Nothing here is clever on purpose. The rules, in order (docs/testing.md repeats them):

1. After function responses: ``The function NAME(ARG=VALUE) returned {...}.`` for each.
2. Functions declared and calling mode AUTO / ANY / VALIDATED: function calls, by the tool
   rule of ``_calls`` (the functions the prompt names, else per sentence the one sharing most
   words with it, arguments read from the text by the parameter schema). Mode ANY calls again
   after function responses. Mode NONE, or ``allowedFunctionNames`` excluding all, never calls.
3. ``responseMimeType: application/json`` (or OpenAI ``response_format``): the smallest JSON
   fitting the schema, or ``{"answer": <echo>}`` without one.
4. Prompted JSON (on unless ``Emulator.prompted_json`` is False): when the system instruction
   or the prompt says ``JSON`` (upper case), the answer is JSON too: the smallest value fitting
   the first JSON schema written in those texts, or ``{"answer": <echo>}``.
5. Otherwise ``Echo: <last user text>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import random
import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from golden_path.emulator import _validate

ECHO_PREFIX = "Echo: "
MAX_ECHO_CHARS = 200
"""Long prompts are echoed up to this many characters, then ``...``."""


def estimate_tokens(text: str) -> int:
    """Token count as Gemini roughly counts English: one token per four characters."""
    return math.ceil(len(text) / 4)


def part_texts(parts: Any) -> list[str]:
    """Return the text of each part that has text (function calls and blobs carry none)."""
    if not isinstance(parts, list):
        return []
    return [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]


def content_texts(content: Any) -> list[str]:
    """Return the texts of one ``Content`` (or of a bare string, which some callers send)."""
    if isinstance(content, str):
        return [content]
    if isinstance(content, dict):
        return part_texts(content.get("parts"))
    return []


def request_texts(body: Mapping[str, Any]) -> list[str]:
    """Every text a generate or count request sends: system instruction, then contents."""
    texts = content_texts(body.get("systemInstruction"))
    contents = body.get("contents")
    if isinstance(contents, list):
        for content in contents:
            texts += content_texts(content)
    return texts


def prompt_tokens(body: Mapping[str, Any]) -> int:
    """``promptTokenCount`` for a request; countTokens answers the same number."""
    return sum(prompt_modalities(body).values())


MEDIA_PART_TOKENS = 258
"""Tokens for each media part (inline or file), what Google counts for one image."""


def _modality(mime: Any) -> str:
    kind = str(mime or "").split("/", 1)[0].upper()
    return kind if kind in ("IMAGE", "VIDEO", "AUDIO") else "DOCUMENT"


def media_keys(content: Any) -> list[str]:
    """One key per media part of ``content``: its MIME type and a digest of its bytes or URI."""
    keys = []
    for part in as_list(as_dict(content).get("parts")):
        blob = as_dict(part).get("inlineData") or as_dict(part).get("fileData")
        if isinstance(blob, dict):
            source = str(blob.get("data") or blob.get("fileUri") or "")
            digest = hashlib.sha256(source.encode()).hexdigest()[:16]
            keys.append(f"{blob.get('mimeType')}:{digest}")
    return keys


def prompt_modalities(body: Mapping[str, Any]) -> dict[str, int]:
    """Prompt tokens per modality (``promptTokensDetails``).

    Text counts by :func:`estimate_tokens`; each media part adds :data:`MEDIA_PART_TOKENS` to
    the modality of its MIME type.
    """
    counts = {"TEXT": estimate_tokens("".join(request_texts(body)))}
    contents = [body.get("systemInstruction"), *as_list(body.get("contents"))]
    for content in contents:
        for part in as_list(as_dict(content).get("parts")):
            blob = as_dict(part).get("inlineData") or as_dict(part).get("fileData")
            if isinstance(blob, dict):
                modality = _modality(blob.get("mimeType"))
                counts[modality] = counts.get(modality, 0) + MEDIA_PART_TOKENS
    return counts


def last_user_text(contents: Any) -> str:
    """Return the text of the last user turn, or "" when there is none."""
    if not isinstance(contents, list):
        return ""
    for content in reversed(contents):
        if isinstance(content, dict) and content.get("role", "user") == "user":
            texts = content_texts(content)
            if texts:
                return " ".join(texts)
    return ""


def echo(text: str) -> str:
    """Answer a prompt the default way: echo it, shortened when long."""
    text = " ".join(text.split())
    if len(text) > MAX_ECHO_CHARS:
        text = text[:MAX_ECHO_CHARS] + "..."
    return ECHO_PREFIX + text


def prompted_json(texts: list[str]) -> Any:
    """Rule 4: the JSON value asked for in ``texts``, ``{}`` when no schema is given, or None."""
    if not any(re.search(r"\bJSON\b", t) for t in texts):
        return None
    decoder = json.JSONDecoder()
    for text in texts:
        for start in (m.start() for m in re.finditer(r"\{", text)):
            try:
                candidate, _ = decoder.raw_decode(text, start)
            except (json.JSONDecodeError, RecursionError):
                continue
            if isinstance(candidate, dict) and ("properties" in candidate or "type" in candidate):
                return value_for_schema(candidate)
    return {}


SPEECH_RATE = 24000
"""Sample rate of spoken answers (Live and ``responseModalities: AUDIO``), as Google's."""


def speech_pcm(text: str) -> bytes:
    """Silence of a length proportional to the text: 16-bit mono PCM, 10 ms per character."""
    return b"\x00\x00" * (SPEECH_RATE // 100) * max(len(text), 1)


def thought_summary(prompt: str) -> str:
    """The thought part of an answer when thoughts are included."""
    return f"**Thinking** The user wrote: {echo(prompt).removeprefix(ECHO_PREFIX)}"


_SIGNING_KEY = secrets.token_bytes(32)
_SIGNATURE_PREFIX = b"gp-thought:"
SKIP_SIGNATURE = "skip_thought_signature_validator"
"""The value Google documents for history a client built itself; accepted as is."""


def _part_digest(part: dict[str, Any]) -> bytes:
    unsigned = {k: v for k, v in part.items() if k not in ("thoughtSignature", "thought_signature")}
    canonical = json.dumps(unsigned, sort_keys=True, separators=(",", ":"))
    return hmac.new(_SIGNING_KEY, canonical.encode(), hashlib.sha256).digest()[:16]


def sign_part(part: dict[str, Any]) -> str:
    """The opaque ``thoughtSignature`` of a model part, bound to its content."""
    return base64.b64encode(_SIGNATURE_PREFIX + _part_digest(part)).decode()


def signature_problem(contents: Any) -> str | None:
    """Why a thought signature in the history is not one this emulator issued, if it is not."""
    for i, content in enumerate(as_list(contents)):
        for j, part in enumerate(as_list(as_dict(content).get("parts"))):
            signature = as_dict(part).get("thoughtSignature")
            if signature is None or signature == SKIP_SIGNATURE:
                continue
            # Clients re-encode bytes fields, some in the URL-safe alphabet.
            text = str(signature).replace("-", "+").replace("_", "/")
            try:
                raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
            except ValueError:
                raw = b""
            expected = _SIGNATURE_PREFIX + _part_digest(part)
            # The documented dummy also arrives base64-encoded (an SDK given it as bytes).
            if raw == SKIP_SIGNATURE.encode():
                continue
            if not hmac.compare_digest(raw, expected):
                return f"contents[{i}].parts[{j}].thought_signature"
    return None


# -- JSON for a schema ---------------------------------------------------------------------------


def value_for_schema(schema: Any, root: Any = None, depth: int = 0) -> Any:
    """Return the smallest value that satisfies ``schema``.

    Accepts both Google's OpenAPI-style ``Schema`` (upper-case ``type``, ``nullable``, keys in
    either spelling: the SDK sends ``any_of`` and ``property_ordering``, which Google's parser
    reads as ``anyOf``) and JSON Schema (``$ref``/``$defs``, type lists, ``const``), since the
    SDK sends either.
    """
    if not isinstance(schema, dict) or depth > 12:
        return None
    if root is None:
        schema = root = schema_keys(schema)
    if "$ref" in schema:
        return value_for_schema(resolve_ref(root, schema["$ref"]), root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches:
            usable = [b for b in branches if type_of(b) != "null"] or branches
            return value_for_schema(usable[0], root, depth + 1)
    return _value_for_type(type_of(schema), schema, root, depth)


def _value_for_type(  # noqa: PLR0911 -- one return per JSON type reads best
    kind: str | None, schema: dict[str, Any], root: Any, depth: int
) -> Any:
    if kind == "object" or (kind is None and isinstance(schema.get("properties"), dict)):
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            return {}
        return {k: value_for_schema(v, root, depth + 1) for k, v in properties.items()}
    if kind == "array":
        count = max(int(schema.get("minItems", 1) or 0), 1)
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        return [value_for_schema(schema.get("items", {}), root, depth + 1) for _ in range(count)]
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return float(schema.get("minimum", 0))
    if kind == "boolean":
        return True
    if kind == "string":
        return _string_for(schema)
    return None


def _string_for(schema: Mapping[str, Any]) -> str:
    formats = {
        "date-time": "2025-01-01T00:00:00Z",
        "date": "2025-01-01",
        "time": "00:00:00",
        "email": "user@example.com",
        "uri": "https://example.com/",
        "uuid": "00000000-0000-4000-8000-000000000000",
    }
    value = formats.get(str(schema.get("format", "")), "emulated")
    min_length = int(schema.get("minLength", 0) or 0)
    return value.ljust(min_length, "x")


def schema_keys(schema: Any) -> Any:
    """A ``Schema`` with its keys in camelCase (``any_of`` -> ``anyOf``); property names kept."""
    if isinstance(schema, list):
        return [schema_keys(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        name = _validate.camel(str(key))
        if name in ("properties", "$defs", "definitions", "defs") and isinstance(value, dict):
            out[name] = {k: schema_keys(v) for k, v in value.items()}
        elif name in ("enum", "required", "propertyOrdering", "example", "default", "const"):
            out[name] = value
        else:
            out[name] = schema_keys(value)
    return out


def type_of(schema: Any) -> str | None:
    if not isinstance(schema, dict):
        return None
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [str(k).lower() for k in kind if str(k).lower() != "null"]
        return kinds[0] if kinds else "null"
    return str(kind).lower() if kind else None


def resolve_ref(root: Any, ref: Any) -> Any:
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return {}
    node = root
    for piece in ref[2:].split("/"):
        if not isinstance(node, dict):
            return {}
        node = node.get(piece, {})
    return node


# -- embeddings ----------------------------------------------------------------------------------


def default_dimensions(model: str) -> int:
    """Return the native size of a model's vectors (gemini-embedding-* 3072, older 768)."""
    return 3072 if "gemini-embedding" in model else 768


def embedding(text: str, model: str, dimensions: int) -> list[float]:
    """Return a unit vector seeded by model and text: equal inputs embed equally."""
    seed = int.from_bytes(hashlib.sha256(f"{model}\0{text}".encode()).digest()[:8], "big")
    rng = random.Random(seed)  # noqa: S311 -- reproducible test vectors, not secrets
    values = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def split_text(text: str, pieces: int = 3) -> list[str]:
    """Split ``text`` into ``pieces`` near-equal, non-empty parts (fewer if it is shorter)."""
    pieces = max(min(pieces, len(text)), 1)
    bounds = [len(text) * i // pieces for i in range(pieces + 1)]
    return [text[bounds[i] : bounds[i + 1]] for i in range(pieces)]


def joined(values: Iterable[str]) -> str:
    """Concatenate texts the way a streaming client does."""
    return "".join(values)


def as_dict(value: Any) -> dict[str, Any]:
    """Return ``value`` if it is a JSON object, else {}.

    Optional fields of the wrong type are ignored rather than allowed to crash an answer.
    """
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """Return ``value`` if it is a JSON array, else []."""
    return value if isinstance(value, list) else []
