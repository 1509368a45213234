"""Arbitrary JSON never makes the emulator fail: every answer is a 2xx or a 4xx, never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from golden_path.emulator import Emulator

from .conftest import raw_client

# Field names the routes look at, so generated bodies reach deep into the handlers.
_KEYS = st.sampled_from(
    [
        "contents", "parts", "text", "role", "generationConfig", "maxOutputTokens",
        "candidateCount", "responseMimeType", "responseSchema", "tools", "functionDeclarations",
        "name", "parameters", "toolConfig", "functionCallingConfig", "mode", "functionResponse",
        "response", "systemInstruction", "thinkingConfig", "thinkingBudget", "requests",
        "content", "outputDimensionality", "embedContentConfig", "instances", "type",
        "properties", "items", "enum", "anyOf", "$ref", "minItems", "minimum", "messages",
        "model", "stream", "stream_options", "input", "dimensions", "encoding_format",
        "response_format", "json_schema", "schema", "tool_choice", "function", "max_tokens",
        "tool_calls", "tool_call_id", "generateContentRequest",
    ]
)  # fmt: skip
_LEAF = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=4)
    | st.sampled_from(["user", "tool", "OBJECT", "application/json", "gemini-2.5-flash"])
)
_JSON = st.recursive(
    _LEAF, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=20,
)  # fmt: skip
_PART = st.fixed_dictionaries({"text": st.text(max_size=4)}) | _JSON
_CONTENT = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "model"]) | _JSON, "parts": st.lists(_PART, min_size=1)}
)
_GENERATE = st.fixed_dictionaries(
    {"contents": st.lists(_CONTENT, min_size=1, max_size=3)},
    optional={"generationConfig": st.dictionaries(_KEYS, _JSON), "tools": _JSON,
              "toolConfig": st.dictionaries(_KEYS, _JSON), "systemInstruction": _JSON},
)  # fmt: skip
_CHAT = st.fixed_dictionaries(
    {"model": st.just("gemini-2.5-flash"),
     "messages": st.lists(st.dictionaries(_KEYS, _JSON) | st.fixed_dictionaries(
         {"role": st.sampled_from(["user", "tool", "assistant"]), "content": _JSON}), min_size=1)},
    optional={"tools": _JSON, "tool_choice": _JSON, "response_format": _JSON, "stream": _JSON,
              "max_tokens": _JSON},
)  # fmt: skip
_BODIES = st.one_of(
    st.tuples(st.just("/v1/models/gemini-2.5-flash:generateContent"), _GENERATE | _JSON),
    st.tuples(st.just("/v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse"), _GENERATE),
    st.tuples(st.just("/v1/models/gemini-2.5-flash:countTokens"), _GENERATE | _JSON),
    st.tuples(st.just("/v1/models/gemini-embedding-001:batchEmbedContents"), _JSON),
    st.tuples(st.just("/v1beta1/publishers/google/models/text-embedding-004:predict"), _JSON),
    st.tuples(st.just("/v1beta/openai/chat/completions"), _CHAT | _JSON),
    st.tuples(st.just("/v1beta/openai/embeddings"), _JSON),
    st.tuples(st.just("/token"), _JSON),
)


@pytest.fixture(name="shared_raw", scope="module")
def _shared_raw() -> Iterator[httpx2.Client]:
    with Emulator() as emu, raw_client(emu.url) as client:
        yield client


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=_BODIES)
def test_no_input_causes_a_server_error(
    shared_raw: httpx2.Client, request: tuple[str, Any]
) -> None:
    """Any JSON body on any route answers below 500 and leaves the server serving."""
    path, body = request
    headers = {"x-goog-api-key": "k", "authorization": "Bearer k"}
    response = shared_raw.post(path, headers=headers, json=body)
    assert response.status_code < 500, response.text
