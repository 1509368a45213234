"""Where things are in a request: models, tools, generation settings, text.

The built-in policies share these readers so that every one of them looks in the same places,
on both spellings Google's JSON parser accepts (``generationConfig`` and ``generation_config``),
on both backends, on the OpenAI-compatible surface and in the Live API's setup.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from golden_path._model import INTERACTION, GenAIRequest
from golden_path._routes import normalize_model

__all__ = [
    "GENERATE_METHODS",
    "ModelRef",
    "canonical_model",
    "generate_requests",
    "get_either",
    "interaction_events",
    "model_refs",
    "structure",
    "url_locations",
]

# Methods whose body is one GenerateContentRequest (Live's setup has the same fields; an
# Interactions create has generation_config, safety_settings and tools in snake_case).
GENERATE_METHODS = frozenset({
    "generateContent", "streamGenerateContent", "live.connect", "interactions.create",
})  # fmt: skip

# Subtrees that hold user content or schemas, never request structure: a function's parameter
# called "model" or a tool result with a "model" field is data, not a model to call.
_NOT_STRUCTURE = frozenset({
    "contents", "parts", "systemInstruction", "system_instruction", "messages", "content",
    "text", "inlineData", "inline_data", "fileData", "file_data", "functionResponse",
    "function_response", "functionCall", "function_call", "args", "response", "instances",
    "input", "prompt", "parameters", "parametersJsonSchema", "parameters_json_schema",
    "responseSchema", "response_schema", "responseJsonSchema", "response_json_schema",
    "properties", "labels", "metadata", "safetySettings", "safety_settings",
})  # fmt: skip
MODEL_KEYS = frozenset({"model", "baseModel", "base_model"})
_URL_MODEL = re.compile(r"(?:^|/)(models|tunedModels|endpoints|dynamic)/([^/:]+)", re.IGNORECASE)
_TUNED = re.compile(r"(?:^|/)(tunedModels|endpoints)/([^/:]+)", re.IGNORECASE)
_URL_LOCATION = re.compile(r"(?:^|/)locations/([^/:]+)", re.IGNORECASE)
_STATE_KEY = "golden_path.structure"


class ModelRef:
    """One place a request names a model: the URL path, or ``container[key]`` in the body."""

    __slots__ = ("container", "key", "raw", "where")

    def __init__(self, raw: str, where: str, container: Any = None, key: Any = None) -> None:
        self.raw = raw
        self.where = where
        self.container = container
        self.key = key

    @property
    def name(self) -> str:
        """The canonical id the allowlist is matched against."""
        return canonical_model(self.raw)


@functools.lru_cache(maxsize=4096)  # the same few names, on every request
def canonical_model(raw: str) -> str:
    """The id an allowlist sees: URL-decoded, prefixes, case and whitespace removed.

    Tuned models and endpoints keep their collection (``tunedmodels/abc``, ``endpoints/123``)
    so an allowlist of base-model globs does not let them through by accident.
    """
    text = _decode(raw) if "%" in raw else raw
    squeezed = "".join(text.split()).strip("/")
    match = _TUNED.search(squeezed) if "/" in squeezed else None
    if match:
        return f"{match.group(1).lower()}/{match.group(2).lower()}"
    return normalize_model(squeezed) or ""


def _decode(text: str) -> str:
    # Decode until stable: a proxy on the way may decode twice, so the policy must too.
    for _ in range(4):
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    return text


def url_path(request: GenAIRequest) -> str:
    """The request path, percent-decoded until stable."""
    path = request.url.path
    return _decode(path) if "%" in path else path


def structure(request: GenAIRequest) -> list[tuple[dict[str, Any], str, Any]]:
    """Every ``(container, key, value)`` of the body outside user content, cached per body."""
    body = request.body
    cached = request.state.get(_STATE_KEY)
    if cached is not None and cached[0] is body:
        return cached[1]  # type: ignore[no-any-return]
    entries: list[tuple[dict[str, Any], str, Any]] = []
    stack = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                entries.append((node, key, value))
                if key not in _NOT_STRUCTURE and isinstance(value, (dict, list)):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(item for item in node if isinstance(item, (dict, list)))
    request.state[_STATE_KEY] = (body, entries)
    return entries


def model_refs(request: GenAIRequest) -> list[ModelRef]:
    """Every model the request names, in its URL path and anywhere in its body."""
    refs = [ModelRef(raw, "URL path") for raw in _path_models(request.url.path)]
    subject = request.state.get(INTERACTION)
    if isinstance(subject, dict) and isinstance(subject.get("model"), str):
        refs.append(ModelRef(subject["model"], "the interaction's model"))
    route = request.route
    if not refs and route is not None and "url" in route.models and request.model:
        # The route table says the URL names a model even where no pattern above sees it.
        refs.append(ModelRef(request.model, "URL path"))
    if request.raw:
        for container, key, value in structure(request):
            if key in MODEL_KEYS and isinstance(value, str):
                refs.append(ModelRef(value, f"body field {key!r}", container, key))
    return refs


@functools.lru_cache(maxsize=1024)  # an app calls the same few methods of the same few models
def _path_models(path: str) -> tuple[str, ...]:
    """The models a request path names (``models/x``, ``tunedModels/y``, ...), decoded."""
    decoded = _decode(path) if "%" in path else path
    return tuple(
        m.group(0).lstrip("/")
        for m in _URL_MODEL.finditer(decoded)
        # Vertex's OpenAI-compatible surface lives under endpoints/openapi: not a model; nor is
        # the first half of openai/models/models/{id} (the route table's model is below).
        if not (m.group(1).lower() == "endpoints" and m.group(2).lower() == "openapi")
        and m.group(2).lower() != "models"
    )


# Vertex AI host names that name a location, parsed exactly (a trailing dot is the same host;
# the mTLS twin of a regional host is in the same region).
_REGIONAL_HOST = re.compile(r"^([a-z0-9-]+)-aiplatform(?:\.mtls)?\.googleapis\.com$")
_MULTI_REGION_HOST = re.compile(r"^aiplatform(?:\.mtls)?\.([a-z]+)\.rep\.googleapis\.com$")
_GLOBAL_HOST = re.compile(r"^aiplatform(?:\.mtls)?\.googleapis\.com$")


def url_locations(request: GenAIRequest) -> list[str]:
    """Vertex locations named by the URL: ``locations/{l}`` in the path, or the host name.

    The host is parsed exactly (``europe-west4-aiplatform.googleapis.com``, its ``.mtls`` twin,
    ``aiplatform.eu.rep.googleapis.com``, ``aiplatform.googleapis.com`` = global); any other
    host (a Private Service Connect name, a proxy) names no location, so the client's
    configured location and the path decide.
    """
    found = [m.group(1).lower() for m in _URL_LOCATION.finditer(url_path(request))]
    host = request.url.host.lower().rstrip(".")
    regional = _REGIONAL_HOST.match(host) or _MULTI_REGION_HOST.match(host)
    if regional:
        found.append(regional.group(1))
    elif _GLOBAL_HOST.match(host) and not found:
        found.append("global")
    return found


def generate_requests(request: GenAIRequest) -> list[dict[str, Any]]:
    """The GenerateContentRequest-shaped dicts of a request (one, or a batch's inline ones)."""
    body = request.body
    if not isinstance(body, dict) or request.surface == "openai":
        return []
    method = request.api_method
    if method in GENERATE_METHODS:
        return [body]
    if method == "live.message" and request.surface == "interactions":
        # A Live Interactions message: an interaction.create event (alone or in a batch) that
        # sets a generation config has its caps judged; the others carry none.
        return [
            event
            for event in interaction_events(body)
            if event.get("event_type") == "interaction.create"
            and ("generation_config" in event or "generationConfig" in event)
        ]
    if method == "live.message":
        # A Live client message: a (second) setup carries a whole generation request.
        setup = body.get("setup")
        return [setup] if isinstance(setup, dict) else []
    if method == "batchGenerateContent" or method.startswith(("batches.", "batchPredictionJobs.")):
        return [
            value
            for _, key, value in structure(request)
            if key == "request" and isinstance(value, dict)
        ]
    return []


def get_either(
    container: dict[str, Any], camel: str, snake: str, *, snake_default: bool = False
) -> tuple[str, Any]:
    """``(key, value)`` under whichever spelling the body uses (camelCase preferred).

    When neither is there, the key to add: camelCase, or snake_case for APIs that only speak
    it (``snake_default``: the Interactions API).
    """
    if camel in container:
        return camel, container[camel]
    if snake in container:
        return snake, container[snake]
    return (snake if snake_default else camel), None


def interaction_events(body: Any) -> list[dict[str, Any]]:
    """The client events of one Live Interactions frame: itself, or its ``events`` batch."""
    if not isinstance(body, dict):
        return []
    events = body.get("events")
    if isinstance(events, list):
        return [event for event in events if isinstance(event, dict)]
    return [body]


def iter_tools(request: GenAIRequest) -> Iterator[dict[str, Any]]:
    """Every tool declaration: the body's (Gemini and OpenAI ``tools``), the interaction's."""
    subject = request.state.get(INTERACTION)
    if isinstance(subject, dict) and isinstance(subject.get("tools"), list):
        yield from (tool for tool in subject["tools"] if isinstance(tool, dict))
    if not request.raw:
        return
    for _, key, value in structure(request):
        if key == "tools" and isinstance(value, list):
            yield from (tool for tool in value if isinstance(tool, dict))
