"""Google's OpenAI-compatible endpoints, driven by raw HTTP and the real openai package."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest

from golden_path.emulator import Emulator

from .conftest import MODEL, raw_client

CHAT = "/v1beta/openai/chat/completions"
BEARER = {"authorization": "Bearer test-key"}


@pytest.fixture(name="oai")
def _oai(emu: Emulator) -> Iterator[openai.OpenAI]:
    http_client = raw_client(emu.url)
    client = openai.OpenAI(
        api_key="test-key",
        base_url=f"{emu.url}/v1beta/openai/",
        max_retries=0,
        http_client=http_client,
    )
    yield client
    client.close()


def chat(raw: httpx2.Client, **body: Any) -> httpx2.Response:
    """POST a chat completion with the AI Studio key."""
    messages = [{"role": "user", "content": "hi there"}]
    return raw.post(CHAT, headers=BEARER, json={"model": MODEL, "messages": messages} | body)


def test_chat_completion(raw: httpx2.Client, emu: Emulator) -> None:
    """A chat completion answers the echo in OpenAI's shape with token usage."""
    response = chat(raw)
    assert response.status_code == 200
    answer = response.json()
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"] == {"role": "assistant", "content": "Echo: hi there"}
    assert answer["choices"][0]["finish_reason"] == "stop"
    usage = answer["usage"]
    assert usage["prompt_tokens"] == math.ceil(len("hi there") / 4)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    [request] = emu.api_requests()
    assert (request.kind, request.principal) == ("openai", "api_key:test-key")


def test_openai_package_streams_with_usage(oai: openai.OpenAI) -> None:
    """The openai package streams >= 3 content chunks, then the usage chunk, then [DONE]."""
    stream = oai.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "stream this"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    texts = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert len([t for t in texts if t]) >= 3
    assert "".join(texts) == "Echo: stream this"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == math.ceil(len("Echo: stream this") / 4)


def test_openai_package_non_streaming_and_models(oai: openai.OpenAI) -> None:
    """The openai package parses completions, the model list and one model."""
    completion = oai.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "plain"}]
    )
    assert completion.choices[0].message.content == "Echo: plain"
    ids = [m.id for m in oai.models.list()]
    assert f"models/{MODEL}" in ids
    assert oai.models.retrieve(f"models/{MODEL}").id == f"models/{MODEL}"


def test_openai_package_embeddings(oai: openai.OpenAI, emu: Emulator) -> None:
    """Embeddings answer unit vectors of the requested size, base64 or float as asked."""
    result = oai.embeddings.create(model="gemini-embedding-001", input=["a", "b"], dimensions=16)
    vectors = [d.embedding for d in result.data]
    assert [len(v) for v in vectors] == [16, 16]
    assert math.isclose(sum(x * x for x in vectors[0]), 1.0, rel_tol=1e-5)
    assert emu.api_requests()[0].body["encoding_format"] == "base64"
    floats = oai.embeddings.create(
        model="gemini-embedding-001", input="a", dimensions=16, encoding_format="float"
    )
    assert floats.data[0].embedding == pytest.approx(vectors[0], rel=1e-5)


def test_tool_call_when_prompt_names_a_tool(raw: httpx2.Client) -> None:
    """Declared tools named in the prompt are called with schema-derived arguments."""
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    messages = [{"role": "user", "content": "use get_weather please"}]
    answer = chat(raw, messages=messages, tools=[tool]).json()
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    [call] = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "emulated"}
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "sunny"},
    ]
    follow_up = chat(raw, messages=messages, tools=[tool]).json()
    assert follow_up["choices"][0]["message"]["content"] == (
        'The function get_weather(city="emulated") returned "sunny".'
    )


def test_json_schema_response_format(raw: httpx2.Client) -> None:
    """response_format json_schema answers JSON that fits the schema."""
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 18}},
        "required": ["name", "age"],
    }
    response_format = {"type": "json_schema", "json_schema": {"name": "person", "schema": schema}}
    answer = chat(raw, response_format=response_format).json()
    assert json.loads(answer["choices"][0]["message"]["content"]) == {"name": "emulated", "age": 18}


def test_image_and_audio_parts_are_accepted(raw: httpx2.Client) -> None:
    """Multimodal content parts are accepted; the text parts are echoed."""
    content = [
        {"type": "text", "text": "describe"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
    ]
    answer = chat(raw, messages=[{"role": "user", "content": content}]).json()
    assert answer["choices"][0]["message"]["content"] == "Echo: describe"


def test_vertex_openai_endpoint(raw: httpx2.Client, emu: Emulator) -> None:
    """Vertex's openapi endpoint needs an issued token and takes google/ model names."""
    from google.auth.transport.requests import Request
    from google.oauth2 import service_account

    from .conftest import CLOUD_PLATFORM

    info = emu.create_service_account_key()
    creds = service_account.Credentials.from_service_account_info(info, scopes=[CLOUD_PLATFORM])
    creds.refresh(Request())
    path = "/v1beta1/projects/p/locations/us-central1/endpoints/openapi/chat/completions"
    body = {"model": f"google/{MODEL}", "messages": [{"role": "user", "content": "vertex"}]}
    auth = {"authorization": f"Bearer {creds.token}"}
    answer = raw.post(path, headers=auth, json=body)
    assert answer.json()["choices"][0]["message"]["content"] == "Echo: vertex"
    assert emu.api_requests()[-1].principal == info["client_email"]
    models = raw.get(path.replace("chat/completions", "models"), headers=auth).json()
    assert f"google/{MODEL}" in [m["id"] for m in models["data"]]
    refused = raw.post(path, headers=BEARER, json=body)
    assert refused.status_code == 401
    assert refused.json()["error"]["type"] == "authentication_error"


def test_invalid_key_is_an_openai_error() -> None:
    """A wrong key answers 400 in the OpenAI error shape, which openai raises as BadRequestError."""
    with Emulator(api_keys=["good"]) as emu:
        client = openai.OpenAI(
            api_key="bad", base_url=f"{emu.url}/v1beta/openai/", max_retries=0,
            http_client=raw_client(emu.url),
        )  # fmt: skip
        with pytest.raises(openai.BadRequestError, match="API key not valid"):
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
        client.close()


def test_faults_reach_openai_clients(oai: openai.OpenAI, emu: Emulator) -> None:
    """Injected 429s and mid-stream errors surface as the openai package's own errors."""
    emu.fail_next(429, retry_delay_s=2)
    with pytest.raises(openai.RateLimitError) as caught:
        oai.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert caught.value.response.headers["retry-after"] == "2"
    emu.stream_error_after(1)
    stream = oai.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "x"}], stream=True
    )
    assert next(stream).choices[0].delta.content
    with pytest.raises(openai.APIError, match="internal error"):
        next(stream)
    stream.close()


def test_unknown_model_is_404(raw: httpx2.Client) -> None:
    """An unknown model answers 404 in the OpenAI shape."""
    response = chat(raw, model="gpt-4o")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


def test_responses_are_stored_continued_and_deleted(oai: openai.OpenAI) -> None:
    """The Responses API: an echo stored unless store=false, continued by previous_response_id
    (an unknown one is a 404), retrieved and deleted; a message list reads as its text."""
    made = oai.responses.create(
        model=MODEL, input=[{"role": "user", "content": "hello there"}], stream=False
    )
    assert made.output_text == "Echo: hello there"
    assert oai.responses.retrieve(made.id).output_text == made.output_text
    assert oai.responses.create(model=MODEL, input="more", previous_response_id=made.id).id
    with pytest.raises(openai.NotFoundError):
        oai.responses.create(model=MODEL, input="more", previous_response_id="resp_nobody")
    unstored = oai.responses.create(model=MODEL, input="forget me", store=False)
    with pytest.raises(openai.NotFoundError):
        oai.responses.retrieve(unstored.id)
    with pytest.raises(openai.BadRequestError):
        oai.responses.create(model=MODEL, input="")
    oai.responses.delete(made.id)
    with pytest.raises(openai.NotFoundError):
        oai.responses.delete(made.id)
