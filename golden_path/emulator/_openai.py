"""The OpenAI-compatible endpoints Google serves: chat completions, embeddings and models.

AI Studio serves them under ``/v1beta/openai/``, Vertex AI under
``/v1beta1/projects/{p}/locations/{l}/endpoints/openapi/``. Answers follow the OpenAI shapes
the ``openai`` package parses; errors use the plain OpenAI envelope.
"""

from __future__ import annotations

import base64
import json
import secrets
import struct
import time
from collections.abc import Iterator
from typing import Any

from golden_path.emulator import _answers, _calls, _catalogue
from golden_path.emulator._http import (
    CANONICAL_STATUS,
    SSE_TYPE,
    Incoming,
    ModelCall,
    Reply,
    json_reply,
    not_served,
    sse_event,
)
from golden_path.emulator._png import png

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_denied_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def call_for(
    incoming: Incoming,
    backend: str,
    version: str,
    endpoint: str,
    rest: str,
    *,
    project: str = "",
    location: str = "",
) -> ModelCall:
    """Build the model call for an OpenAI-compatible path (``rest``: a model id under models/)."""
    model = rest
    body = incoming.body
    if not model and isinstance(body, dict) and isinstance(body.get("model"), str):
        model = body["model"]
    return ModelCall(incoming, backend, version, model, endpoint, project, location)


def wants_stream(incoming: Incoming) -> bool:
    """Whether a chat completion asks for server-sent events."""
    return isinstance(incoming.body, dict) and incoming.body.get("stream") is True


def bare_model(model: str) -> str:
    """``google/gemini-2.5-flash`` and ``models/gemini-2.5-flash`` name ``gemini-2.5-flash``."""
    return model.rsplit("/", 1)[-1]


def error(status: int, message: str, *, param: str | None = None) -> Reply:
    """Answer with an OpenAI-shaped error."""
    body = {
        "error": {
            "message": message,
            "type": _ERROR_TYPES.get(status, "api_error"),
            "param": param,
            "code": CANONICAL_STATUS.get(status, "UNKNOWN"),
        }
    }
    return json_reply(body, status)


def as_openai_error(reply: Reply) -> Reply:
    """Rewrite a Google-shaped error (auth, injected faults) into the OpenAI shape."""
    if reply.status < 400 or reply.stream is not None or reply.drop:
        return reply
    try:
        google = json.loads(reply.body)["error"]
        message = str(google["message"])
    except (ValueError, KeyError, TypeError):
        return reply
    if not isinstance(google.get("status"), str):
        return reply
    converted = error(reply.status, message)
    return Reply(status=converted.status, body=converted.body, headers=reply.headers)


def handle(call: ModelCall) -> Reply:  # noqa: PLR0911 -- a router: one return per case
    """Answer one OpenAI-compatible call (already authenticated)."""
    method = call.incoming.method
    if call.action == "responses":
        return _responses(call)
    if call.action == "models":
        if method != "GET":
            return not_served(call.incoming)
        return _get_model(call) if call.model else _list_models(call)
    if method != "POST":
        return not_served(call.incoming)
    if call.scripted:
        events = call.script_body if isinstance(call.script_body, list) else [call.script_body]
        if wants_stream(call.incoming) and call.script_status == 200:
            return _sse(events, call.stream_error_after)
        return json_reply(call.script_body, call.script_status or 200)
    body = call.incoming.body
    if call.incoming.json_error is not None or not isinstance(body, dict):
        return error(400, "Invalid JSON payload received: the body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return error(400, "model is required", param="model")
    if not _catalogue.is_served(bare_model(model)):
        return error(404, f"The model `{model}` does not exist or you do not have access to it.")
    if call.action == "embeddings":
        return _embeddings(body, model)
    if call.action == "images/generations":
        return _images(body, model)
    return _chat(call, body, model)


def _images(body: dict[str, Any], model: str) -> Reply:
    """``images.generate``: ``n`` small PNGs derived from the prompt, as base64 JSON."""
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        return error(400, "prompt is required", param="prompt")
    n = body.get("n", 1)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 8:
        return error(400, "n must be an integer from 1 to 8", param="n")
    if body.get("response_format", "b64_json") not in ("b64_json", None):
        return error(400, "only response_format b64_json is supported", param="response_format")
    images = [
        {"b64_json": base64.b64encode(png(f"{model}\0{prompt}\0{i}")).decode()} for i in range(n)
    ]
    return json_reply({"created": int(time.time()), "data": images})


# -- chat ----------------------------------------------------------------------------------------


def _message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def _chat(call: ModelCall, body: dict[str, Any], model: str) -> Reply:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return error(400, "messages must be a non-empty list", param="messages")
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
        return error(400, "each message needs a role", param="messages")
    n = body.get("n", 1)
    if n is None:
        n = 1
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 8:
        return error(400, "n must be an integer from 1 to 8", param="n")
    prompted = call.store.prompted_json if call.store is not None else True
    message, finish = _reply_message(body, messages, prompted_json=prompted)
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    content = message.get("content")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
        limit = None
    if limit is not None and isinstance(content, str) and _answers.estimate_tokens(content) > limit:
        message["content"] = content[: limit * 4]
        finish = "length"
    prompt = _answers.estimate_tokens("".join(_message_text(m) for m in messages))
    completion = _answers.estimate_tokens(
        json.dumps(message.get("tool_calls"))
        if message.get("tool_calls")
        else message["content"] or ""
    )
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    common = {
        "id": "chatcmpl-" + secrets.token_urlsafe(16),
        "created": int(time.time()),
        "model": model,
    }
    if wants_stream(call.incoming):
        options = body.get("stream_options") or {}
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        chunks = _chunks(common, message, finish, usage if include_usage else None, n)
        return _sse(chunks, call.stream_error_after)
    choices = [
        {"index": i, "message": dict(message), "finish_reason": finish, "logprobs": None}
        for i in range(n)
    ]
    usage = {**usage, "completion_tokens": completion * n, "total_tokens": prompt + completion * n}
    return json_reply({**common, "object": "chat.completion", "choices": choices, "usage": usage})


def _reply_message(
    body: dict[str, Any], messages: list[dict[str, Any]], *, prompted_json: bool = True
) -> tuple[dict[str, Any], str]:
    last = messages[-1]
    if last["role"] == "tool":
        called = {
            str(c.get("id")): _answers.as_dict(c.get("function"))
            for m in messages
            for c in _answers.as_list(m.get("tool_calls"))
            if isinstance(c, dict)
        }
        # The trailing run of tool messages: one per call of the assistant's last turn.
        start = len(messages)
        while start > 0 and messages[start - 1]["role"] == "tool":
            start -= 1
        results = messages[start:]
        text = " ".join(
            _calls.describe_result(
                str(called.get(str(m.get("tool_call_id")), {}).get("name", "")),
                _message_text(m),
                _json_object(called.get(str(m.get("tool_call_id")), {}).get("arguments")),
            )
            for m in results
        )
        return {"role": "assistant", "content": text}, "stop"
    prompt = next((_message_text(m) for m in reversed(messages) if m["role"] == "user"), "")
    calls = _tool_calls(body, prompt)
    if calls:
        return {"role": "assistant", "content": None, "tool_calls": calls}, "tool_calls"
    text = _answers.echo(prompt)
    response_format = body.get("response_format") or {}
    if isinstance(response_format, dict):
        if response_format.get("type") == "json_schema":
            schema = _answers.as_dict(response_format.get("json_schema")).get("schema")
            text = json.dumps(_answers.value_for_schema(schema))
        elif response_format.get("type") == "json_object":
            text = json.dumps({"answer": text})
        elif prompted_json:
            asked = _answers.prompted_json([_message_text(m) for m in messages])
            if asked is not None:
                text = json.dumps(asked if asked != {} else {"answer": text})
    return {"role": "assistant", "content": text}, "stop"


def _tool_calls(body: dict[str, Any], prompt: str) -> list[dict[str, Any]]:
    functions = [
        t["function"]
        for t in _answers.as_list(body.get("tools"))
        if isinstance(t, dict)
        and isinstance(t.get("function"), dict)
        and isinstance(t["function"].get("name"), str)
    ]
    choice = body.get("tool_choice", "auto")
    if choice == "none" or not functions:
        return []
    if isinstance(choice, dict):
        wanted = _answers.as_dict(choice.get("function")).get("name")
        functions = [f for f in functions if f["name"] == wanted]
    # The same rule as generateContent (docs/testing.md): auto calls declared functions too.
    forced = choice == "required" or isinstance(choice, dict)
    planned = _calls.plan(prompt, functions, forced=forced)
    if body.get("parallel_tool_calls") is False:
        planned = planned[:1]
    return [
        {
            "id": "call_" + secrets.token_hex(12),
            "type": "function",
            "function": {"name": chosen["name"], "arguments": json.dumps(args)},
        }
        for chosen, args in planned
    ]


def _json_object(text: Any) -> Any:
    """A tool call's ``arguments`` (a JSON string) as an object, or None when it is not one."""
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _chunks(
    common: dict[str, Any],
    message: dict[str, Any],
    finish: str,
    usage: dict[str, int] | None,
    n: int = 1,
) -> list[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        choices = [
            {"index": i, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
            for i in range(n)
        ]
        return {**common, "object": "chat.completion.chunk", "choices": choices}

    if message.get("tool_calls"):
        calls = [{"index": i, **c} for i, c in enumerate(message["tool_calls"])]
        chunks = [chunk({"role": "assistant", "content": None, "tool_calls": calls}, None)]
    else:
        pieces = _answers.split_text(str(message["content"]))
        chunks = [chunk({"role": "assistant", "content": pieces[0]}, None)]
        chunks += [chunk({"content": p}, None) for p in pieces[1:]]
    chunks.append(chunk({}, finish))
    if usage is not None:
        chunks.append({**common, "object": "chat.completion.chunk", "choices": [], "usage": usage})
    return chunks


def _sse(events: list[Any], error_after: int | None) -> Reply:
    def frames() -> Iterator[bytes]:
        for i, event in enumerate(events):
            if error_after is not None and i >= error_after:
                message = "An internal error has occurred."
                yield sse_event(
                    {
                        "error": {
                            "message": message,
                            "type": "api_error",
                            "param": None,
                            "code": "INTERNAL",
                        }
                    }
                )
                return
            yield sse_event(event)
        if error_after is not None and error_after >= len(events):
            yield sse_event(
                {
                    "error": {
                        "message": "An internal error has occurred.",
                        "type": "api_error",
                        "param": None,
                        "code": "INTERNAL",
                    }
                }
            )
            return
        yield sse_event("[DONE]")

    return Reply(content_type=SSE_TYPE, stream=frames(), headers=(("cache-control", "no-cache"),))


# -- responses (the Responses API) ---------------------------------------------------------------


def _responses(call: ModelCall) -> Reply:  # noqa: PLR0911 -- a router: one return per case
    """Create (plain or streamed), retrieve and delete a stored response."""
    assert call.store is not None  # the dispatcher gives every model call the store
    store, method = call.store, call.incoming.method
    if method in ("GET", "DELETE"):
        with store.lock:
            found = (
                store.openai_responses.get(call.model)
                if method == "GET"
                else store.openai_responses.pop(call.model, None)
            )
        if found is None:
            return error(404, f"Response with id '{call.model}' not found.")
        if method == "DELETE":
            return json_reply({"id": call.model, "object": "response", "deleted": True})
        return json_reply(found)
    if method != "POST":
        return not_served(call.incoming)
    body = call.incoming.body
    if call.incoming.json_error is not None or not isinstance(body, dict):
        return error(400, "Invalid JSON payload received: the body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not _catalogue.is_served(bare_model(model)):
        return error(404, f"The model `{model}` does not exist or you do not have access to it.")
    previous = body.get("previous_response_id")
    if previous is not None:
        with store.lock:
            known = previous in store.openai_responses
        if not known:
            return error(404, f"Previous response with id '{previous}' not found.")
    given = body.get("input")
    if isinstance(given, list):
        given = " ".join(_message_text(item) for item in given if isinstance(item, dict))
    if not isinstance(given, str) or not given:
        return error(400, "input must be a non-empty string or list of messages", param="input")
    text = f"Echo: {given}"
    prompt, completion = _answers.estimate_tokens(given), _answers.estimate_tokens(text)
    message = {
        "type": "message",
        "id": "msg_" + secrets.token_hex(12),
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }
    made: dict[str, Any] = {
        "id": "resp_" + secrets.token_hex(16),
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": model,
        "output": [message],
        "previous_response_id": previous,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "store": body.get("store", True) is not False,
        "usage": {
            "input_tokens": prompt,
            "output_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }
    if made["store"]:
        with store.lock:
            store.openai_responses[made["id"]] = made
    if body.get("stream") is not True:
        return json_reply(made)
    started = {**made, "status": "in_progress", "output": [], "usage": None}
    events = [
        {"type": "response.created", "sequence_number": 0, "response": started},
        {
            "type": "response.output_text.delta",
            "sequence_number": 1,
            "item_id": message["id"],
            "output_index": 0,
            "content_index": 0,
            "delta": text,
        },
        {"type": "response.completed", "sequence_number": 2, "response": made},
    ]
    return Reply(
        content_type=SSE_TYPE,
        stream=iter([sse_event(event) for event in events]),
        headers=(("cache-control", "no-cache"),),
    )


# -- embeddings and models -----------------------------------------------------------------------


def _embeddings(body: dict[str, Any], model: str) -> Reply:
    inputs = body.get("input")
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
        return error(400, "input must be a string or a non-empty list of strings", param="input")
    native = _answers.default_dimensions(bare_model(model))
    dims = body.get("dimensions", native)
    if not isinstance(dims, int) or isinstance(dims, bool) or not 0 < dims <= native:
        return error(400, f"dimensions must be between 1 and {native}", param="dimensions")
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, text in enumerate(inputs):
        values = _answers.embedding(text, bare_model(model), dims)
        encoded: Any = (
            base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
            if as_base64
            else values
        )
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(_answers.estimate_tokens(t) for t in inputs)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return json_reply({"object": "list", "data": data, "model": model, "usage": usage})


def _model_id(call: ModelCall, model_id: str) -> str:
    return f"google/{model_id}" if call.backend == "vertex" else f"models/{model_id}"


def _list_models(call: ModelCall) -> Reply:
    data = [
        {"id": _model_id(call, m.model_id), "object": "model", "created": 0, "owned_by": "google"}
        for m in _catalogue.CATALOGUE
    ]
    return json_reply({"object": "list", "data": data})


def _get_model(call: ModelCall) -> Reply:
    found = _catalogue.find(bare_model(call.model))
    if found is None:
        return error(404, f"The model `{call.model}` does not exist.")
    model = {
        "id": _model_id(call, found.model_id),
        "object": "model",
        "created": 0,
        "owned_by": "google",
    }
    return json_reply(model)
