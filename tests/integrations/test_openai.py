"""The OpenAI-compatible path: the real ``openai`` package, governed, against the emulator."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest

import golden_path
from golden_path import ConfigError, PolicyViolation
from golden_path._transport import REQUEST_ID_HEADER
from tests.integrations.conftest import LOCATION, MODEL, OAI_CLIENT_ID, PROJECT, Allowlist

HI = [{"role": "user", "content": "hello there"}]


@pytest.fixture(name="oai")
def _oai(ai_studio: dict[str, Any], audit: Any) -> openai.OpenAI:
    return golden_path.openai_client(
        policies=[Allowlist(MODEL, "gemini-embedding-001")], audit_sinks=[audit], **ai_studio
    )


# ------------------------------------------------------------------------ AI Studio, sync


def test_chat_reaches_the_openai_endpoint_identified(
    oai: openai.OpenAI, emulator: Any, audit: Any
) -> None:
    """A chat completion goes to /v1beta/openai/ with the key as Bearer, the -oai client id,
    user-agent tokens and the request id that names its audit event."""
    answer = oai.chat.completions.create(model=MODEL, messages=HI)

    assert answer.choices[0].message.content == "Echo: hello there"
    (seen,) = emulator.api_requests()
    assert seen.path == "/v1beta/openai/chat/completions"
    assert seen.headers["authorization"] == "Bearer test-key"
    assert seen.headers["x-goog-api-client"] == OAI_CLIENT_ID
    user_agent = seen.headers["user-agent"].split()
    assert user_agent[0].startswith("OpenAI/Python")
    assert {OAI_CLIENT_ID, "app/checkout", "team/payments"} <= set(user_agent)
    event = audit.only()
    assert seen.headers[REQUEST_ID_HEADER] == event.request_id
    assert (event.surface, event.method, event.model, event.outcome) == (
        "openai",
        "chat.completions",
        MODEL,
        "ok",
    )
    assert (event.client_id, event.app, event.team) == (OAI_CLIENT_ID, "checkout", "payments")
    assert event.prompt_tokens == answer.usage.prompt_tokens
    assert event.output_tokens == answer.usage.completion_tokens
    assert event.policy == (
        {
            "policy": "allowlist",
            "action": "allow",
            "reason": f"model {MODEL} is allowed",
            "enforced": True,
        },
    )


def test_stream_is_audited_once_with_usage(oai: openai.OpenAI, audit: Any) -> None:
    """A streamed completion read to its end is one ``ok`` event with the stream's usage."""
    stream = oai.chat.completions.create(
        model=MODEL,
        messages=HI,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: hello there"
    usage = chunks[-1].usage
    assert usage is not None
    event = audit.only()
    assert (event.stream, event.outcome, event.output_tokens) == (
        True,
        "ok",
        usage.completion_tokens,
    )
    assert event.ttft_ms is not None


def test_abandoned_stream_is_audited_as_cancelled(oai: openai.OpenAI, audit: Any) -> None:
    """Closing a stream after its first chunk writes a ``cancelled`` event, not ``ok``."""
    stream = oai.chat.completions.create(model=MODEL, messages=HI, stream=True)
    next(iter(stream))
    stream.close()

    assert audit.only().outcome == "cancelled"


def test_tool_call_round_trip(oai: openai.OpenAI, emulator: Any) -> None:
    """Tools go out in OpenAI shape and a tool call comes back; the result is answered."""
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    messages: list[Any] = [{"role": "user", "content": "What does get_weather say for Paris?"}]
    first = oai.chat.completions.create(model=MODEL, messages=messages, tools=tools)
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert "city" in json.loads(call.function.arguments)

    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'},
    ]
    second = oai.chat.completions.create(model=MODEL, messages=messages, tools=tools)
    assert second.choices[0].finish_reason == "stop"
    assert emulator.api_requests()[-1].body["messages"][-1]["role"] == "tool"


def test_structured_output_follows_the_schema(oai: openai.OpenAI) -> None:
    """``response_format`` json_schema gives JSON with the schema's required fields."""
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    answer = oai.chat.completions.create(
        model=MODEL,
        messages=HI,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": schema},
        },
    )
    value = json.loads(answer.choices[0].message.content or "")
    assert isinstance(value["name"], str)
    assert isinstance(value["age"], int)


def test_image_and_audio_parts_reach_the_server_intact(oai: openai.OpenAI, emulator: Any) -> None:
    """Image and audio content parts pass the governed transport byte for byte."""
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(32)).decode()
    wav = base64.b64encode(b"RIFF" + bytes(40)).decode()
    content = [
        {"type": "text", "text": "describe these"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
        {"type": "input_audio", "input_audio": {"data": wav, "format": "wav"}},
    ]
    answer = oai.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": content}]
    )

    assert answer.choices[0].message.content == "Echo: describe these"
    assert emulator.api_requests()[0].body["messages"][0]["content"] == content


def test_embeddings_and_models_list(oai: openai.OpenAI, audit: Any) -> None:
    """Embeddings and the models list work and are audited under their OpenAI method names."""
    vectors = oai.embeddings.create(model="gemini-embedding-001", input=["a", "b"], dimensions=8)
    models = [m.id for m in oai.models.list()]

    assert [len(d.embedding) for d in vectors.data] == [8, 8]
    assert f"models/{MODEL}" in models
    embed, listing = audit.events
    assert (embed.method, embed.model, embed.prompt_tokens) == (
        "embeddings",
        "gemini-embedding-001",
        vectors.usage.prompt_tokens,
    )
    assert (listing.method, listing.model, listing.outcome) == ("models.list", None, "ok")


# ------------------------------------------------------------------------- AI Studio, async


def test_async_client_survives_separate_event_loops(ai_studio: dict[str, Any], audit: Any) -> None:
    """One AsyncOpenAI serves chat and a stream from two separate ``asyncio.run()`` calls."""
    client = golden_path.async_openai_client(policies=[], audit_sinks=[audit], **ai_studio)

    async def chat() -> str:
        answer = await client.chat.completions.create(model=MODEL, messages=HI)
        return answer.choices[0].message.content or ""

    async def stream() -> str:
        chunks = await client.chat.completions.create(model=MODEL, messages=HI, stream=True)
        return "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])

    assert asyncio.run(chat()) == "Echo: hello there"
    assert asyncio.run(stream()) == "Echo: hello there"
    assert [(e.stream, e.outcome) for e in audit.events] == [(False, "ok"), (True, "ok")]


# ------------------------------------------------------------------------------- Vertex AI


def test_vertex_from_the_environment(vertex_env: Path, emulator: Any, audit: Any) -> None:
    """With GOLDEN_PATH_* variables for Vertex, the client calls the project's openapi endpoint
    with a google-auth access token, and the audit event names project and location."""
    client = golden_path.openai_client(policies=[], audit_sinks=[audit])
    answer = client.chat.completions.create(model=f"google/{MODEL}", messages=HI)

    assert answer.choices[0].message.content == "Echo: hello there"
    (seen,) = emulator.api_requests()
    assert seen.path == (
        f"/v1beta1/projects/{PROJECT}/locations/{LOCATION}/endpoints/openapi/chat/completions"
    )
    assert seen.principal == "app@emu-project.iam.gserviceaccount.com"
    assert seen.headers["authorization"] == f"Bearer {emulator.issued_tokens[-1].token}"
    assert seen.headers["x-goog-api-client"] == OAI_CLIENT_ID
    event = audit.only()
    assert (event.backend, event.project, event.location, event.model) == (
        "vertex",
        PROJECT,
        LOCATION,
        MODEL,
    )


def test_vertex_async_streaming(vertex_env: Path, audit: Any) -> None:
    """The async client streams from Vertex AI, across two event loops."""
    client = golden_path.async_openai_client(policies=[], audit_sinks=[audit])

    async def stream() -> str:
        chunks = await client.chat.completions.create(
            model=f"google/{MODEL}", messages=HI, stream=True
        )
        return "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])

    assert asyncio.run(stream()) == asyncio.run(stream()) == "Echo: hello there"
    assert [(e.backend, e.stream, e.outcome) for e in audit.events] == [("vertex", True, "ok")] * 2


def test_vertex_token_is_refreshed_before_it_expires(
    vertex_env: Path, audit: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With tokens living less than google-auth's 225 s margin, every request fetches a fresh
    token, and each request carries the token fetched for it."""
    from golden_path.emulator import Emulator

    with Emulator(token_lifetime_s=60) as short:
        short.create_service_account_key(vertex_env)
        monkeypatch.setenv("GOLDEN_PATH_BASE_URL", short.url)
        client = golden_path.openai_client(policies=[], audit_sinks=[audit])
        for _ in range(3):
            client.chat.completions.create(model=f"google/{MODEL}", messages=HI)

        tokens = [t.token for t in short.issued_tokens]
        sent = [r.headers["authorization"] for r in short.api_requests()]
    assert len(tokens) == 3
    assert sent == [f"Bearer {t}" for t in tokens]


def test_vertex_token_is_reused_while_valid(
    vertex_env: Path, audit: Any, token_requests: Callable[[], int]
) -> None:
    """With the default hour-long token, three calls (one of them async, five at once) share
    one token request."""
    client = golden_path.openai_client(policies=[], audit_sinks=[audit])
    aclient = golden_path.async_openai_client(policies=[], audit_sinks=[audit])
    client.chat.completions.create(model=f"google/{MODEL}", messages=HI)

    async def five() -> None:
        await asyncio.gather(
            *[
                aclient.chat.completions.create(model=f"google/{MODEL}", messages=HI)
                for _ in range(5)
            ]
        )

    asyncio.run(five())
    assert len(audit.events) == 6
    # Two clients, two credential objects: one token each, however many concurrent calls.
    assert token_requests() == 2


def test_vertex_express_mode_is_refused_with_a_fix(emulator: Any) -> None:
    """Vertex express mode (key, no project) has no OpenAI-compatible endpoint: ConfigError."""
    with pytest.raises(ConfigError) as caught:
        golden_path.openai_client(backend="vertex", api_key="express-secret", base_url=emulator.url)
    assert "GOLDEN_PATH_PROJECT" in str(caught.value)
    assert "express-secret" not in str(caught.value)


# -------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("streamed", [False, True])
def test_denied_model_never_reaches_the_network(
    oai: openai.OpenAI, emulator: Any, audit: Any, streamed: bool
) -> None:
    """A model the policy denies raises PolicyViolation itself (not an openai error, not
    retried), the emulator sees nothing, and the denial is audited."""
    with pytest.raises(PolicyViolation) as caught:
        oai.chat.completions.create(model="gemini-2.5-pro", messages=HI, stream=streamed)

    assert caught.value.policy == "allowlist"
    assert emulator.requests == []
    event = audit.only()
    assert (event.outcome, event.model, event.request_id) == (
        "denied",
        "gemini-2.5-pro",
        caught.value.request_id,
    )
    assert event.policy[0]["action"] == "deny"


def test_denied_on_vertex_fetches_no_token(vertex_env: Path, emulator: Any, audit: Any) -> None:
    """On Vertex AI a denied request is refused before credentials are even refreshed."""
    client = golden_path.openai_client(policies=[Allowlist(MODEL)], audit_sinks=[audit])
    with pytest.raises(PolicyViolation):
        client.chat.completions.create(model="google/gemini-2.5-pro", messages=HI)

    assert emulator.requests == []
    assert audit.only().outcome == "denied"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (429, openai.RateLimitError),
        (401, openai.AuthenticationError),
        (403, openai.PermissionDeniedError),
        (500, openai.InternalServerError),
    ],
)
def test_server_errors_arrive_as_openai_exceptions(
    oai: openai.OpenAI, emulator: Any, audit: Any, status: int, error: type[Exception]
) -> None:
    """An OpenAI-shaped error from the server is the openai package's own exception type,
    carrying the request id; the audit event records the status."""
    emulator.fail_next(status)
    with pytest.raises(error) as caught:
        oai.chat.completions.create(model=MODEL, messages=HI)

    event = audit.only()
    assert caught.value.response.headers[REQUEST_ID_HEADER] == event.request_id
    assert (event.outcome, event.http_status) == ("error", status)


def test_invalid_api_key_is_a_bad_request(ai_studio: dict[str, Any], audit: Any) -> None:
    """A key the server rejects surfaces as openai.BadRequestError, as Google answers 400
    API_KEY_INVALID; the key itself is in no error text."""
    from golden_path.emulator import Emulator

    with Emulator(api_keys=["the-good-key"]) as strict:
        client = golden_path.openai_client(
            policies=[], audit_sinks=[audit], **(ai_studio | {"base_url": strict.url})
        )
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model=MODEL, messages=HI)
    assert "API key not valid" in str(caught.value)
    assert "test-key" not in str(caught.value)
    assert audit.only().http_status == 400


def test_retries_follow_the_settings(ai_studio: dict[str, Any], emulator: Any, audit: Any) -> None:
    """``retry_attempts`` bounds the openai package's retries; each attempt is audited."""
    client = golden_path.openai_client(
        policies=[], audit_sinks=[audit], **(ai_studio | {"retry_attempts": 2})
    )
    emulator.fail_next(429, retry_delay_s=0)
    answer = client.chat.completions.create(model=MODEL, messages=HI)

    assert answer.choices[0].message.content == "Echo: hello there"
    assert [e.http_status for e in audit.events] == [429, 200]


def test_raw_responses_report_elapsed(ai_studio: dict[str, Any], audit: Any) -> None:
    """``with_raw_response`` answers say how long they took, on the sync and async clients
    (the transports hand the SDK a response they have read; httpx2's client times only what
    it reads itself)."""
    sync = golden_path.openai_client(policies=[], audit_sinks=[audit], **ai_studio)
    raw = sync.chat.completions.with_raw_response.create(model=MODEL, messages=HI)
    assert raw.elapsed > dt.timedelta(0)
    assert raw.parse().choices[0].message.content == "Echo: hello there"

    aclient = golden_path.async_openai_client(policies=[], audit_sinks=[audit], **ai_studio)

    async def go() -> Any:
        return await aclient.chat.completions.with_raw_response.create(model=MODEL, messages=HI)

    araw = asyncio.run(go())
    assert araw.elapsed > dt.timedelta(0)
    assert len(audit.events) == 2
