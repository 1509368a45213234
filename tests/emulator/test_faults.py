"""Scripted responses and injected faults, as the real SDK and plain HTTP clients see them."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx2
import pytest
from google import genai
from google.genai import errors, types

from golden_path.emulator import Emulator

from .conftest import MODEL

GENERATE = f"/v1/models/{MODEL}:generateContent"
USER_HI = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def text_response(text: str) -> dict[str, Any]:
    """Build a minimal GenerateContentResponse."""
    content = {"role": "model", "parts": [{"text": text}]}
    return {"candidates": [{"content": content, "finishReason": "STOP"}]}


def test_429_carries_retry_info(gemini: genai.Client, emu: Emulator) -> None:
    """fail_next(429) answers RESOURCE_EXHAUSTED with QuotaFailure and RetryInfo details."""
    emu.fail_next(429, retry_delay_s=7)
    with pytest.raises(errors.ClientError) as caught:
        gemini.models.generate_content(model=MODEL, contents="hi")
    assert caught.value.code == 429
    assert caught.value.status == "RESOURCE_EXHAUSTED"
    details = caught.value.details["error"]["details"]
    retry = next(d for d in details if d["@type"] == "type.googleapis.com/google.rpc.RetryInfo")
    assert retry["retryDelay"] == "7s"
    assert gemini.models.generate_content(model=MODEL, contents="hi").text == "Echo: hi"


@pytest.mark.parametrize(("status", "canonical"), [(500, "INTERNAL"), (503, "UNAVAILABLE")])
def test_server_errors(gemini: genai.Client, emu: Emulator, status: int, canonical: str) -> None:
    """fail_next(5xx) surfaces as the SDK's ServerError with Google's canonical status."""
    emu.fail_next(status, message="injected")
    with pytest.raises(errors.ServerError) as caught:
        gemini.models.generate_content(model=MODEL, contents="hi")
    assert (caught.value.code, caught.value.status, caught.value.message) == (
        status,
        canonical,
        "injected",
    )


def test_sdk_retries_through_queued_failures(emu: Emulator) -> None:
    """times=2 fails two attempts; the SDK's retry options then get the real answer."""
    emu.fail_next(503, times=2)
    retry = types.HttpRetryOptions(attempts=3, initial_delay=0.01, max_delay=0.02)
    options = types.HttpOptions(base_url=emu.url, retry_options=retry)
    client = genai.Client(api_key="k", http_options=options)
    assert client.models.generate_content(model=MODEL, contents="hi").text == "Echo: hi"
    client.close()
    assert len(emu.api_requests()) == 3


def test_latency(gemini: genai.Client, emu: Emulator) -> None:
    """set_latency delays each answer until cleared with 0.

    The delay is long beside a loopback call, so a busy machine cannot make the cleared call
    look delayed (the bound is the delay, never a guess at how fast the machine is).
    """
    delay = 2.0
    emu.set_latency(delay)
    started = time.perf_counter()
    gemini.models.generate_content(model=MODEL, contents="slow")
    assert time.perf_counter() - started >= delay
    emu.set_latency(0)
    started = time.perf_counter()
    gemini.models.generate_content(model=MODEL, contents="fast")
    assert time.perf_counter() - started < delay


def test_mid_stream_error(gemini: genai.Client, emu: Emulator) -> None:
    """stream_error_after(1) delivers one chunk, then the SDK raises APIError while iterating."""
    emu.stream_error_after(1)
    stream = gemini.models.generate_content_stream(model=MODEL, contents="break me")
    assert next(stream).text == "Echo"  # the first third of "Echo: break me"
    with pytest.raises(errors.APIError) as caught:
        next(stream)
    assert caught.value.code == 500


def test_stream_error_ignores_unary_calls(gemini: genai.Client, emu: Emulator) -> None:
    """A queued stream error waits for a streaming request; unary calls pass untouched."""
    emu.stream_error_after(0)
    assert gemini.models.generate_content(model=MODEL, contents="hi").text == "Echo: hi"
    with pytest.raises(errors.APIError):
        list(gemini.models.generate_content_stream(model=MODEL, contents="hi"))


def test_dropped_connection(raw: httpx2.Client, emu: Emulator) -> None:
    """drop_next closes the connection without a response; the next request is served."""
    emu.drop_next()
    with pytest.raises(httpx2.RemoteProtocolError):
        raw.post(GENERATE, headers={"x-goog-api-key": "k"}, json=USER_HI)
    response = raw.post(GENERATE, headers={"x-goog-api-key": "k"}, json=USER_HI)
    assert response.status_code == 200


def test_malformed_body(gemini: genai.Client, raw: httpx2.Client, emu: Emulator) -> None:
    """malformed_next answers 200 with a body that is not JSON, which the SDK cannot parse."""
    emu.malformed_next(times=2)
    response = raw.post(GENERATE, headers={"x-goog-api-key": "k"}, json=USER_HI)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()
    with pytest.raises(ValueError, match=r"(?i)json|expecting|unterminated"):
        gemini.models.generate_content(model=MODEL, contents="hi")


def test_scripted_response(gemini: genai.Client, emu: Emulator) -> None:
    """script_response replaces the next generation's answer, FIFO, then echo resumes."""
    emu.script_response(text_response("first"))
    emu.script_response(text_response("second"))
    texts = [gemini.models.generate_content(model=MODEL, contents="x").text for _ in range(3)]
    assert texts == ["first", "second", "Echo: x"]


def test_scripted_stream_chunks(gemini: genai.Client, emu: Emulator) -> None:
    """A scripted list is streamed as one SSE event per element."""
    emu.script_response([text_response("a"), text_response("b"), text_response("c")])
    chunks = list(gemini.models.generate_content_stream(model=MODEL, contents="x"))
    assert [c.text for c in chunks] == ["a", "b", "c"]


def test_scripted_status_and_model_filter(gemini: genai.Client, emu: Emulator) -> None:
    """A script for one model waits for that model; a scripted status becomes the SDK's error."""
    emu.script_response(
        {"error": {"code": 400, "message": "scripted", "status": "FAILED_PRECONDITION"}},
        status=400,
        model="gemini-2.5-pro",
    )
    assert gemini.models.generate_content(model=MODEL, contents="x").text == "Echo: x"
    assert gemini.models.count_tokens(model="gemini-2.5-pro", contents="x").total_tokens == 1
    with pytest.raises(errors.ClientError, match="scripted"):
        gemini.models.generate_content(model="gemini-2.5-pro", contents="x")


def test_faults_spare_the_token_endpoint(vertex: genai.Client, emu: Emulator) -> None:
    """A queued failure hits the model call, not the OAuth token request before it."""
    emu.fail_next(500)
    with pytest.raises(errors.ServerError):
        vertex.models.generate_content(model=MODEL, contents="x")
    assert [r.kind for r in emu.requests] == ["oauth", "vertex"]
    assert vertex.models.generate_content(model=MODEL, contents="x").text == "Echo: x"


def test_reset_clears_faults_and_requests(gemini: genai.Client, emu: Emulator) -> None:
    """reset forgets queued faults, latency and recorded requests."""
    emu.fail_next(500, times=5)
    emu.set_latency(5)
    emu.reset()
    assert gemini.models.generate_content(model=MODEL, contents="x").text == "Echo: x"
    assert len(emu.requests) == 1


def test_times_must_be_positive(emu: Emulator) -> None:
    """Queuing a fault for zero requests is a caller error."""
    with pytest.raises(ValueError, match="at least 1"):
        emu.fail_next(500, times=0)
