"""The Gemini model methods, for both backends: generate, stream, count, embed, list and get."""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

from golden_path.emulator import _answers, _calls, _catalogue, _resources, _validate
from golden_path.emulator._http import (
    SSE_TYPE,
    ModelCall,
    Reply,
    google_error,
    google_error_body,
    json_reply,
    not_served,
    sse_event,
)

_MAX_CANDIDATES = 8


def handle(call: ModelCall) -> Reply:
    """Answer one Gemini or Vertex model call (already authenticated)."""
    method = call.incoming.method
    if call.action == "" and method == "GET":
        return _get_model(call) if call.model else _list_models(call)
    if method != "POST" or call.action not in _ACTIONS:
        return not_served(call.incoming)
    if not _catalogue.is_served(call.model, call.backend):
        return unknown_model(call)
    body = call.incoming.body
    if call.incoming.json_error is not None:
        return google_error(400, f"Invalid JSON payload received. {call.incoming.json_error}")
    if not isinstance(body, dict):
        return google_error(400, "Invalid JSON payload received. Expected an object.")
    return _ACTIONS[call.action](call, camel_keys(body))


# Google's JSON parser accepts proto field names in snake_case as well as camelCase, and the SDK
# relies on it (tools made from Python functions arrive with ``parameters_json_schema``). Values
# under these keys are user data or schemas whose property names must stay as they are.
_OPAQUE = frozenset(
    {
        "args", "response", "labels", "parameters", "parametersJsonSchema", "responseSchema",
        "responseJsonSchema", "properties", "metadata", "data",
    }
)  # fmt: skip


def camel_keys(value: Any) -> Any:
    """Rename snake_case keys to camelCase, leaving user data and schemas untouched."""
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    if not isinstance(value, dict):
        return value
    renamed: dict[str, Any] = {}
    for key, item in value.items():
        name = _validate.camel(str(key))
        renamed[name] = item if name in _OPAQUE else camel_keys(item)
    return renamed


def unknown_model(call: ModelCall) -> Reply:
    if call.backend == "vertex":
        publisher, _, model = call.model.rpartition("/")
        name = f"publishers/{publisher or 'google'}/models/{model}"
        if call.project:
            name = f"projects/{call.project}/locations/{call.location}/{name}"
        return google_error(
            404,
            f"Publisher Model `{name}` was not found or your project does not have access to it. "
            "Please ensure you are using a valid model version.",
        )
    return google_error(
        404,
        f"models/{call.model} is not found for API version {call.version}, or is not supported "
        f"for {call.action or 'get'}. Call ListModels to see the list of available models "
        "and their supported methods.",
    )


# -- generate ------------------------------------------------------------------------------------


def validate_generate(  # noqa: PLR0911 -- one return per rule, first failure wins
    body: dict[str, Any], request: str
) -> Reply | None:
    if request == "GenerateContentRequest":
        # Unknown fields and wrong types, per Google's published request schemas (countTokens
        # checks its own request's schema before it comes here).
        found = _validate.problem(body, "GenerateContentRequest")
        if found is not None:
            return _bad_field(*found)
    contents = body.get("contents")
    if contents is None or contents == []:
        return _bad_field(f"* {request}.contents: contents is not specified", "contents")
    if not isinstance(contents, list):
        return _bad_field(
            f"Invalid value at 'contents' (type.googleapis.com/google.ai.generativelanguage"
            f".v1.Content), {json.dumps(contents)}",
            "contents",
        )
    for i, content in enumerate(contents):
        if not isinstance(content, dict):
            return _bad_field(
                f"Invalid value at 'contents[{i}]', expected an object", f"contents[{i}]"
            )
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            return _bad_field(
                f"* {request}.contents[{i}].parts: contents.parts must not be empty.",
                f"contents[{i}].parts",
            )
    for name in ("generationConfig", "systemInstruction", "toolConfig"):
        if name in body and not isinstance(body[name], dict):
            return _bad_field(f"Invalid value at '{name}', expected an object", name)
    if "tools" in body and not isinstance(body["tools"], list):
        return _bad_field("Invalid value at 'tools', expected a list", "tools")
    forged = _answers.signature_problem(contents)
    if forged is not None:
        return _bad_field(
            "Unable to submit request because Thought signature is not valid.", forged
        )
    return None


_LOGPROBS_MODELS = ("gemini-2.0-",)
"""Gemini API models that answer with logprobs (others refuse ``responseLogprobs``)."""


def value_problem(call: ModelCall, body: dict[str, Any]) -> Reply | None:
    """The value rules Google applies to a well-formed request, per backend."""
    return (
        _file_problem(call, body)
        or _part_problem(body)
        or _backend_field_problem(call, body)
        or _tool_problem(call, body)
        or _config_problem(call, body)
    )


_BUILT_IN_TOOLS = ("googleSearch", "googleSearchRetrieval", "googleMaps", "urlContext")
"""Tools Google runs server-side that may join function calling only with the tool config's
``includeServerSideToolInvocations`` (the model then reports their calls too)."""


def _tool_problem(call: ModelCall, body: dict[str, Any]) -> Reply | None:
    """How tools may be combined.

    Vertex AI: a ``Tool`` is exactly one kind of tool (function declarations, retrieval, Google
    Search, ...), so an empty one or one mixing kinds is 400. Both backends: server-side search
    tools together with function declarations need ``includeServerSideToolInvocations``.
    """
    tools = [_answers.as_dict(t) for t in _answers.as_list(body.get("tools"))]
    if call.backend == "vertex":
        for i, tool in enumerate(tools):
            kinds = [k for k, v in tool.items() if v is not None]
            if len(kinds) != 1:
                return _bad_field(
                    "A Tool object should contain exactly one type of Tool (e.g. "
                    f"FunctionDeclaration, Retrieval or GoogleSearch); tools[{i}] has "
                    f"{len(kinds)}: {', '.join(kinds) or 'none'}.",
                    f"tools[{i}]",
                )
    declares = any(t.get("functionDeclarations") for t in tools)
    built_in = next((k for t in tools for k in _BUILT_IN_TOOLS if t.get(k) is not None), None)
    server_side = _answers.as_dict(body.get("toolConfig")).get("includeServerSideToolInvocations")
    if declares and built_in and server_side is not True:
        return _bad_field(
            f"Function calling together with the {built_in} tool requires "
            "tool_config.include_server_side_tool_invocations.",
            "tool_config.include_server_side_tool_invocations",
        )
    return None


_GEMINI_FILES = re.compile(r"^https://generativelanguage\.googleapis\.com/[^/]+/files/[^/]+$")
_STORAGE_HTTPS = "https://storage.googleapis.com/"


def _file_problem(call: ModelCall, body: dict[str, Any]) -> Reply | None:
    """File URIs each backend can read.

    The Gemini API reads Cloud Storage (``gs://`` or its ``https://storage.googleapis.com/``
    form) only through files registered with files:register (400 otherwise). Vertex AI reads
    Cloud Storage and web URLs, but a Gemini API file belongs to another service: 403
    PERMISSION_DENIED.
    """
    uris = _resources.file_uris(body.get("contents"))
    known: set[Any] = set()
    if call.store is not None:
        with call.store.lock:
            known = {f.get("uri") for f in call.store.files.values()}
    if call.backend == "vertex":
        for uri in uris:
            if _GEMINI_FILES.match(uri) or (uri in known and not uri.startswith("gs://")):
                return google_error(
                    403,
                    f"The caller does not have permission to access the File {uri} "
                    "(a Gemini API file; Vertex AI reads Cloud Storage and web URLs).",
                    status="PERMISSION_DENIED",
                )
        return None
    for uri in uris:
        storage = (
            "gs://" + uri.removeprefix(_STORAGE_HTTPS) if uri.startswith(_STORAGE_HTTPS) else uri
        )
        if storage.startswith("gs://") and storage not in known:
            return _bad_field(
                f"Unsupported file uri: {uri} (register Cloud Storage files with "
                "files:register first).",
                "contents.parts.file_data.file_uri",
            )
    return None


def _part_problem(body: dict[str, Any]) -> Reply | None:
    """Inline data needs its bytes (the SDK drops ``data: None``, leaving only the MIME type)."""
    for i, content in enumerate(_answers.as_list(body.get("contents"))):
        for j, part in enumerate(_answers.as_list(_answers.as_dict(content).get("parts"))):
            blob = _answers.as_dict(part).get("inlineData")
            if isinstance(blob, dict) and not blob.get("data"):
                field = f"contents[{i}].parts[{j}].inline_data.data"
                return _bad_field(f"* GenerateContentRequest.{field}: data is required.", field)
    return None


def _backend_field_problem(call: ModelCall, body: dict[str, Any]) -> Reply | None:
    """Fields only the Gemini API knows, which Vertex AI's parser refuses as unknown."""
    if call.backend != "vertex":
        return None
    for name in ("serviceTier", "store"):
        if body.get(name) is not None:
            return _bad_field(
                f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.', name
            )
    return None


def _config_problem(call: ModelCall, body: dict[str, Any]) -> Reply | None:  # noqa: PLR0911 -- one return per rule
    """The value rules of ``generationConfig``."""
    vertex = call.backend == "vertex"
    config = body.get("generationConfig")
    if not isinstance(config, dict):
        return None
    where = "GenerateContentRequest.generation_config"
    limits = {"maxOutputTokens": True, "candidateCount": not vertex}
    for name, checked in limits.items():
        value = config.get(name)
        if checked and isinstance(value, int) and value <= 0:
            snake = _validate.snake(name)
            return _bad_field(f"* {where}.{snake}: {snake} must be positive.", f"{where}.{snake}")
    wants = config.get("responseLogprobs") is True
    if config.get("logprobs") is not None and not wants:
        message = (
            "Logprobs is only supported when setting response_logprobs to be true."
            if vertex
            else "logprobs can only be set when response_logprobs is true."
        )
        return _bad_field(message, f"{where}.logprobs")
    if wants and not vertex and not call.model.startswith(_LOGPROBS_MODELS):
        return _bad_field(
            f"Logprobs is not enabled for models/{call.model}", f"{where}.response_logprobs"
        )
    speech = _answers.as_dict(config.get("speechConfig"))
    if speech.get("voiceConfig") is not None and speech.get("multiSpeakerVoiceConfig") is not None:
        return _bad_field(
            "voice_config and multi_speaker_voice_config are mutually exclusive.",
            f"{where}.speech_config",
        )
    if config.get("responseMimeType") == "text/x.enum":
        schema = _answers.schema_keys(config.get("responseSchema") or {})
        if _answers.as_dict(schema).get("enum") is None:
            return _bad_field(
                "response_mime_type text/x.enum needs a response_schema of type STRING with "
                "enum values.",
                f"{where}.response_schema",
            )
    return None


def _bad_field(message: str, field: str) -> Reply:
    violation = {"field": field, "description": message}
    detail = {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]}
    return google_error(400, message, details=[detail])


def _generate(call: ModelCall, body: dict[str, Any]) -> Reply:
    if call.scripted:
        return json_reply(call.script_body, call.script_status or 200)
    problem = validate_generate(body, "GenerateContentRequest") or value_problem(call, body)
    if problem is not None:
        return problem
    cached = _cached_tokens(call, body)
    if isinstance(cached, Reply):
        return cached
    full = answer(
        body,
        call.model,
        vertex=call.backend == "vertex",
        cached_tokens=cached,
        prompted_json=call.store.prompted_json if call.store is not None else True,
        dedicated=_dedicated(call),
    )
    segments = call.store.continuation_segments if call.store is not None else 1
    return _continued(full, body.get("continuationToken"), segments)


def _dedicated(call: ModelCall) -> bool:
    """Whether a Vertex call asks for provisioned throughput only."""
    return call.incoming.headers.get("x-vertex-ai-llm-request-type", "").lower() == "dedicated"


_CONTINUE_PREFIX = b"gp-continue:"


def _continued(full: dict[str, Any], token: Any, segments: int) -> Reply:
    """Answer one segment of a long answer (``Emulator.continuation_segments``).

    Every segment but the last finishes with ``CONTINUATION`` and a ``continuationToken``
    naming the next; the SDK sends the same request again with that token.
    """
    index = 0
    if token is not None:
        try:
            raw = base64.b64decode(str(token).replace("-", "+").replace("_", "/"), validate=True)
            index = (
                int(raw.removeprefix(_CONTINUE_PREFIX)) if raw.startswith(_CONTINUE_PREFIX) else -1
            )
        except ValueError:
            index = -1
        if not 0 < index < max(segments, 2):
            return _bad_field("continuationToken is invalid or expired.", "continuation_token")
    candidate = full["candidates"][0]
    parts = candidate["content"]["parts"]
    if segments <= 1 or len(parts) != 1 or set(parts[0]) != {"text"}:
        return json_reply(full)
    pieces = _answers.split_text(parts[0]["text"], segments)
    index = min(index, len(pieces) - 1)
    for each in full["candidates"]:
        each["content"]["parts"] = [{"text": pieces[index]}]
    if index < len(pieces) - 1:
        candidate["finishReason"] = "CONTINUATION"
        candidate["continuationToken"] = base64.b64encode(
            _CONTINUE_PREFIX + str(index + 1).encode()
        ).decode()
    return json_reply(full)


_GEMINI_CACHE_NAME = re.compile(r"^cachedContents/[^/]+$")
_VERTEX_CACHE_NAME = re.compile(r"^projects/[^/]+/locations/[^/]+/cachedContents/[^/]+$")


def _cached_tokens(call: ModelCall, body: dict[str, Any]) -> int | Reply:  # noqa: PLR0911 -- one per rule
    """Tokens of the request's ``cachedContent`` (0 without one); an error when it is gone."""
    name = body.get("cachedContent")
    if name is None:
        return 0
    if not isinstance(name, str) or call.store is None:
        return google_error(400, "cachedContent must name a cached content resource.")
    shape = _VERTEX_CACHE_NAME if call.backend == "vertex" else _GEMINI_CACHE_NAME
    if not shape.match(name):
        return google_error(
            400,
            f"Invalid cached content name {name!r}: expected "
            + ("projects/*/locations/*/cachedContents/*." if call.backend == "vertex"
               else "cachedContents/*."),
        )  # fmt: skip
    cache = call.store.live_cache(name)
    if cache is None:
        if call.backend == "vertex":
            return google_error(404, f"Cached content {name} not found or expired.")
        return google_error(
            403, "CachedContent not found (or permission denied)", status="PERMISSION_DENIED"
        )
    if cache["model"].rsplit("/", 1)[-1] != call.model:
        return google_error(
            400,
            f"Model used by GenerateContent request ({call.model}) and CachedContent "
            f"({cache['model']}) has to be the same.",
        )
    tokens: int = cache["_tokens"]
    return tokens


def _stream(call: ModelCall, body: dict[str, Any]) -> Reply:
    if call.scripted:
        if call.script_status != 200:
            return json_reply(call.script_body, call.script_status or 200)
        events = call.script_body if isinstance(call.script_body, list) else [call.script_body]
        return _sse(events, call.stream_error_after)
    problem = validate_generate(body, "GenerateContentRequest") or value_problem(call, body)
    if problem is not None:
        return problem
    cached = _cached_tokens(call, body)
    if isinstance(cached, Reply):
        return cached
    prompted = call.store.prompted_json if call.store is not None else True
    full = answer(
        body, call.model, vertex=call.backend == "vertex", cached_tokens=cached,
        prompted_json=prompted, dedicated=_dedicated(call),
    )  # fmt: skip
    chunks = stream_chunks(full)
    if call.incoming.query.get("alt") != "sse":
        # Without alt=sse Google answers the whole stream as one JSON array.
        return json_reply(chunks)
    return _sse(chunks, call.stream_error_after)


def _sse(events: list[Any], error_after: int | None) -> Reply:
    def frames() -> Iterator[bytes]:
        for i, event in enumerate(events):
            if error_after is not None and i >= error_after:
                break
            yield sse_event(event)
        if error_after is not None:
            yield sse_event(google_error_body(500, "An internal error has occurred."))

    return Reply(content_type=SSE_TYPE, stream=frames(), headers=(("cache-control", "no-cache"),))


def answer(
    body: dict[str, Any],
    model: str,
    *,
    vertex: bool,
    cached_tokens: int = 0,
    prompted_json: bool = True,
    dedicated: bool = False,
) -> dict[str, Any]:
    """Build the full GenerateContentResponse for a valid request."""
    config = body.get("generationConfig") or {}
    parts = _answer_parts(body, config, prompted_json=prompted_json)
    wanted = [str(m).upper() for m in _answers.as_list(config.get("responseModalities"))]
    spoken = "AUDIO" in wanted and all(set(p) == {"text"} for p in parts)
    if spoken:
        # Speech models answer with the text spoken: PCM in an inline part, as Google's TTS
        # (counted as the text's tokens).
        said = _answers.joined(p["text"] for p in parts)
        pcm = _answers.speech_pcm(said)
        mime = f"audio/L16;codec=pcm;rate={_answers.SPEECH_RATE}"
        parts = [{"inlineData": {"mimeType": mime, "data": base64.b64encode(pcm).decode()}}]
    thinking = _thinking(config, model)
    if thinking:
        # Signed like Google's: the first part after the thoughts carries an opaque signature
        # that must come back unchanged in the next request's history.
        parts[0]["thoughtSignature"] = _answers.sign_part(parts[0])
        if _answers.as_dict(config.get("thinkingConfig")).get("includeThoughts") is True:
            asked = _answers.last_user_text(body.get("contents"))
            parts.insert(0, {"text": _answers.thought_summary(asked), "thought": True})
    finish = "STOP"
    max_tokens = config.get("maxOutputTokens")
    if isinstance(max_tokens, int) and max_tokens > 0:
        for part in parts:
            if "text" in part and _answers.estimate_tokens(part["text"]) > max_tokens:
                part["text"] = part["text"][: max_tokens * 4]
                finish = "MAX_TOKENS"
    count = config.get("candidateCount", 1)
    count = min(max(count, 1), _MAX_CANDIDATES) if isinstance(count, int) else 1
    candidates = [
        {
            "content": {"role": "model", "parts": [dict(p) for p in parts]},
            "finishReason": finish,
            "index": i,
        }
        for i in range(count)
    ]
    output = (
        sum(
            _answers.estimate_tokens(json.dumps(p) if "text" not in p else p["text"])
            for p in parts
            if not p.get("thought")
        )
        if not spoken
        else _answers.estimate_tokens(said)
    ) * count
    modalities = _answers.prompt_modalities(body)
    modalities["TEXT"] += cached_tokens
    prompt = sum(modalities.values())
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": output,
        "totalTokenCount": prompt + output,
        "promptTokensDetails": [
            {"modality": m, "tokenCount": n} for m, n in modalities.items() if n or m == "TEXT"
        ],
        "candidatesTokensDetails": [
            {"modality": "AUDIO" if spoken else "TEXT", "tokenCount": output}
        ],
    }
    if vertex:
        # Vertex AI says which quota served the call: provisioned throughput when the request
        # asks for it (``X-Vertex-AI-LLM-Request-Type: dedicated``), else on demand.
        usage["trafficType"] = "PROVISIONED_THROUGHPUT" if dedicated else "ON_DEMAND"
    if cached_tokens:
        usage["cachedContentTokenCount"] = cached_tokens
        usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": cached_tokens}]
    if thinking:
        budget = _answers.as_dict(config.get("thinkingConfig")).get("thinkingBudget")
        cap = budget if isinstance(budget, int) and budget > 0 else 64
        usage["thoughtsTokenCount"] = min(cap, 8 + prompt // 2)
        usage["totalTokenCount"] += usage["thoughtsTokenCount"]
    response: dict[str, Any] = {
        "candidates": candidates,
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": secrets.token_urlsafe(16),
    }
    if vertex:
        response["createTime"] = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    return response


def _thinking(config: dict[str, Any], model: str) -> bool:
    """Whether this answer thinks: a thinking model, thinking configured, and budget not 0."""
    thinking = _answers.as_dict(config.get("thinkingConfig"))
    entry = _catalogue.find(model)
    if not thinking or (entry is not None and not entry.thinking):
        return False
    return thinking.get("thinkingBudget") != 0


def _answer_parts(
    body: dict[str, Any], config: dict[str, Any], *, prompted_json: bool = True
) -> list[dict[str, Any]]:
    contents = body.get("contents") or []
    described = _calls.describe_results(contents)
    results = described is not None
    calls = function_calls(body, after_results=results)
    if calls:
        return [{"functionCall": call} for call in calls]
    text = described if described is not None else _answers.echo(_answers.last_user_text(contents))
    mime = config.get("responseMimeType", "")
    schema = config.get("responseJsonSchema") or config.get("responseSchema")
    if mime == "application/json":
        value = _answers.value_for_schema(schema) if schema else {"answer": text}
        text = json.dumps(value)
    elif mime == "text/x.enum" and isinstance(schema, dict) and schema.get("enum"):
        text = str(schema["enum"][0])
    elif prompted_json and not results:
        asked = _answers.prompted_json(_answers.request_texts(body))
        if asked is not None:
            text = json.dumps(asked if asked != {} else {"answer": text})
    if results or mime or not _declares(body, "codeExecution"):
        return [{"text": text}]
    # Code execution declared: the model runs code printing its answer, then says it.
    return [
        {"executableCode": {"language": "PYTHON", "code": f"print({json.dumps(text)})"}},
        {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": text + "\n"}},
        {"text": text},
    ]


def _declares(body: dict[str, Any], kind: str) -> bool:
    """Whether the request declares a tool of ``kind`` (``codeExecution``, ``googleSearch``)."""
    return any(
        _answers.as_dict(t).get(kind) is not None for t in _answers.as_list(body.get("tools"))
    )


def function_calls(body: dict[str, Any], *, after_results: bool = False) -> list[dict[str, Any]]:
    """The calls the tool rule (``_calls``) makes for a request; [] when it answers in text.

    After function responses only mode ANY calls again (it must always call).
    """
    declarations = [
        d
        for tool in _answers.as_list(body.get("tools"))
        if isinstance(tool, dict)
        for d in _answers.as_list(tool.get("functionDeclarations"))
        if isinstance(d, dict) and isinstance(d.get("name"), str)
    ]
    calling = _answers.as_dict(
        _answers.as_dict(body.get("toolConfig")).get("functionCallingConfig")
    )
    mode = str(calling.get("mode", "AUTO")).upper()
    allowed = calling.get("allowedFunctionNames")
    if isinstance(allowed, list):
        declarations = [d for d in declarations if d["name"] in allowed]
    if mode not in ("AUTO", "ANY", "VALIDATED", "MODE_UNSPECIFIED") or (
        after_results and mode != "ANY"
    ):
        return []
    prompt = _answers.last_user_text(body.get("contents"))
    planned = _calls.plan(prompt, declarations, forced=mode == "ANY")
    return [{"name": d["name"], "args": args} for d, args in planned]


def stream_chunks(full: dict[str, Any]) -> list[dict[str, Any]]:
    """Split a full response into the chunks a stream sends: text in >= 3 pieces, usage last."""
    candidates = full["candidates"]
    texts: list[list[str]] = []
    for candidate in candidates:
        parts = candidate["content"]["parts"]
        if not all(set(p) == {"text"} for p in parts):
            return [full]  # function calls, thoughts and signed parts travel whole
        texts.append(_answers.split_text(_answers.joined(p["text"] for p in parts)))
    common = {"modelVersion": full["modelVersion"], "responseId": full["responseId"]}
    prompt = full["usageMetadata"]["promptTokenCount"]
    chunks: list[dict[str, Any]] = []
    for i in range(max(len(t) for t in texts)):
        chunk_candidates = [
            {"content": {"role": "model", "parts": [{"text": pieces[i]}]}, "index": n}
            for n, pieces in enumerate(texts)
            if i < len(pieces)
        ]
        usage = {"promptTokenCount": prompt, "totalTokenCount": prompt}
        chunks.append({"candidates": chunk_candidates, "usageMetadata": usage, **common})
    for candidate in chunks[-1]["candidates"]:
        candidate["finishReason"] = candidates[candidate["index"]]["finishReason"]
    chunks[-1]["usageMetadata"] = full["usageMetadata"]
    return chunks


# -- count and embed -----------------------------------------------------------------------------


def _schema_problem(call: ModelCall, body: dict[str, Any], root: str) -> Reply | None:
    """Unknown fields and wrong types per the backend's own spec of ``root``."""
    found = _validate.problem(body, f"{root}@{'vertex' if call.backend == 'vertex' else 'gemini'}")
    return None if found is None else _bad_field(*found)


def _count(call: ModelCall, body: dict[str, Any]) -> Reply:
    schema = _schema_problem(call, body, "CountTokensRequest")
    if schema is not None:
        return schema
    inner = body.get("generateContentRequest")
    request = inner if isinstance(inner, dict) else body
    problem = validate_generate(request, "CountTokensRequest")
    if problem is not None:
        return problem
    total = _answers.prompt_tokens(request)
    answer: dict[str, Any] = {
        "totalTokens": total,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}],
    }
    if call.backend == "vertex":
        answer["totalBillableCharacters"] = len("".join(_answers.request_texts(request)))
    return json_reply(answer)


def _dimensions(model: str, requested: Any) -> int | str:
    """Return the vector size to answer, or why ``requested`` is refused."""
    native = _answers.default_dimensions(model)
    if requested is None:
        return native
    if not isinstance(requested, int) or isinstance(requested, bool) or not 0 < requested <= native:
        return f"outputDimensionality must be an integer between 1 and {native}, got {requested!r}"
    return requested


def _embed_one(model: str, request: Any, where: str) -> dict[str, Any] | str:
    if not isinstance(request, dict) or not isinstance(request.get("content"), dict):
        return f"* {where}.content: content is not specified"
    content = request["content"]
    text = " ".join(_answers.content_texts(content))
    media = _answers.media_keys(content)
    if not text and not media:
        return f"* {where}.content.parts: contents.parts must not be empty."
    if media and not model.startswith(_MULTIMODAL_EMBEDDERS):
        return f"* {where}.content.parts: {model} embeds text only."
    config = _answers.as_dict(request.get("embedContentConfig"))
    dims = _dimensions(
        model, config.get("outputDimensionality", request.get("outputDimensionality"))
    )
    if isinstance(dims, str):
        return dims
    modalities = _answers.prompt_modalities({"contents": [content]})
    return {
        # Media parts are seeded by their bytes or URI: equal inputs, equal vectors.
        "values": _answers.embedding(" ".join([text, *media]), model, dims),
        "tokens": sum(modalities.values()),
        "details": [{"modality": m, "tokenCount": n} for m, n in modalities.items() if n],
    }


_MULTIMODAL_EMBEDDERS = ("gemini-embedding-2",)
"""Embedding models that take images, documents, audio and video as well as text."""


def _embed_content(call: ModelCall, body: dict[str, Any]) -> Reply:
    schema = _schema_problem(call, body, "EmbedContentRequest")
    if schema is not None:
        return schema
    one = _embed_one(call.model, body, "EmbedContentRequest")
    if isinstance(one, str):
        return google_error(400, one)
    answer: dict[str, Any] = {"embedding": {"values": one["values"]}}
    if call.backend == "vertex":
        tokens = one["tokens"]
        answer["usageMetadata"] = {
            "promptTokenCount": tokens,
            "totalTokenCount": tokens,
            "promptTokensDetails": one["details"],
            "trafficType": "ON_DEMAND",
        }
        answer["truncated"] = False
    return json_reply(answer)


def _batch_embed(call: ModelCall, body: dict[str, Any]) -> Reply:
    schema = _schema_problem(call, body, "BatchEmbedContentsRequest")
    if schema is not None:
        return schema
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        return google_error(400, "* BatchEmbedContentsRequest.requests: requests is not specified")
    embeddings = []
    for i, request in enumerate(requests):
        one = _embed_one(call.model, request, f"BatchEmbedContentsRequest.requests[{i}]")
        if isinstance(one, str):
            return google_error(400, one)
        embeddings.append({"values": one["values"]})
    return json_reply({"embeddings": embeddings})


def _predict(call: ModelCall, body: dict[str, Any]) -> Reply:
    instances = body.get("instances")
    if not isinstance(instances, list) or not instances:
        return google_error(400, "instances must be a non-empty list")
    dims = _dimensions(
        call.model, _answers.as_dict(body.get("parameters")).get("outputDimensionality")
    )
    if isinstance(dims, str):
        return google_error(400, dims)
    predictions = []
    characters = 0
    for i, instance in enumerate(instances):
        text = instance.get("content") if isinstance(instance, dict) else None
        if not isinstance(text, str):
            return google_error(400, f"instances[{i}].content must be a string")
        characters += len(text)
        statistics = {"token_count": _answers.estimate_tokens(text), "truncated": False}
        values = _answers.embedding(text, call.model, dims)
        predictions.append({"embeddings": {"values": values, "statistics": statistics}})
    return json_reply(
        {"predictions": predictions, "metadata": {"billableCharacterCount": characters}}
    )


# -- models --------------------------------------------------------------------------------------


def _list_models(call: ModelCall) -> Reply:
    vertex = call.backend == "vertex"
    shape = _catalogue.vertex_shape if vertex else _catalogue.gemini_shape
    listed = [shape(m) for m in _catalogue.CATALOGUE if call.backend in m.backends]
    items, token = _catalogue.page(listed, call.incoming.query)
    answer: dict[str, Any] = {"publisherModels" if vertex else "models": items}
    if token:
        answer["nextPageToken"] = token
    return json_reply(answer)


def _get_model(call: ModelCall) -> Reply:
    model = _catalogue.find(call.model)
    if model is None or call.backend not in model.backends:
        return unknown_model(call)
    shape = _catalogue.vertex_shape if call.backend == "vertex" else _catalogue.gemini_shape
    return json_reply(shape(model))


_ACTIONS: dict[str, Callable[[ModelCall, dict[str, Any]], Reply]] = {
    "generateContent": _generate,
    "streamGenerateContent": _stream,
    "countTokens": _count,
    "embedContent": _embed_content,
    "batchEmbedContents": _batch_embed,
    "predict": _predict,
}

GENERATION_ACTIONS = frozenset({"generateContent", "streamGenerateContent"})
STREAM_ACTIONS = frozenset({"streamGenerateContent"})
