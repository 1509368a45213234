"""The direct-REST path: a governed ``httpx2`` client against the emulator, both backends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest

import golden_path
from golden_path import PolicyViolation
from golden_path._transport import REQUEST_ID_HEADER
from tests.integrations.conftest import CLIENT_ID, LOCATION, MODEL, PROJECT, Allowlist

CONTENTS = [{"role": "user", "parts": [{"text": "What is the capital of France?"}]}]


@pytest.fixture(name="http")
def _http(ai_studio: dict[str, Any], audit: Any) -> httpx2.Client:
    return golden_path.http_client(policies=[Allowlist(MODEL)], audit_sinks=[audit], **ai_studio)


def test_count_tokens_of_a_whole_request(http: httpx2.Client, emulator: Any, audit: Any) -> None:
    """countTokens with a ``generateContentRequest`` (system instruction and tools, which the
    SDK refuses on the Gemini API) goes to v1beta with the key header and is audited."""
    bare = http.post(f"models/{MODEL}:countTokens", json={"contents": CONTENTS})
    full = http.post(
        f"models/{MODEL}:countTokens",
        json={
            "generateContentRequest": {
                "model": f"models/{MODEL}",
                "contents": CONTENTS,
                "systemInstruction": {"parts": [{"text": "Answer in one word, in French."}]},
            }
        },
    )

    assert bare.status_code == full.status_code == 200
    assert full.json()["totalTokens"] > bare.json()["totalTokens"]
    seen = emulator.api_requests()[0]
    assert seen.path == f"/v1beta/models/{MODEL}:countTokens"
    assert seen.headers["x-goog-api-key"] == "test-key"
    assert seen.headers["x-goog-api-client"] == CLIENT_ID
    assert {CLIENT_ID, "app/checkout", "team/payments"} <= set(seen.headers["user-agent"].split())
    event = audit.events[1]
    assert seen.headers[REQUEST_ID_HEADER] == audit.events[0].request_id
    assert full.headers[REQUEST_ID_HEADER] == event.request_id
    assert (event.method, event.model, event.outcome, event.prompt_tokens) == (
        "countTokens",
        MODEL,
        "ok",
        full.json()["totalTokens"],
    )


def test_callers_request_id_and_credential_headers_are_replaced(
    http: httpx2.Client, emulator: Any, audit: Any
) -> None:
    """Request-id and credential headers a caller sends, even twice, leave as one each: ours."""
    response = http.post(
        f"models/{MODEL}:countTokens",
        json={"contents": CONTENTS},
        headers=[
            ("x-golden-path-request-id", "mine"),
            ("X-Golden-Path-Request-Id", "mine-too"),
            ("x-goog-api-key", "stolen-1"),
            ("X-Goog-Api-Key", "stolen-2"),
            ("Authorization", "Bearer stolen"),
            ("proxy-authorization", "Basic stolen"),
        ],
    )

    assert response.status_code == 200
    (seen,) = emulator.api_requests()
    (event,) = audit.events
    assert seen.headers[REQUEST_ID_HEADER] == event.request_id  # one copy: no ", " join
    assert response.headers[REQUEST_ID_HEADER] == event.request_id
    assert seen.headers["x-goog-api-key"] == "test-key"
    assert "authorization" not in seen.headers
    assert "proxy-authorization" not in seen.headers


def test_non_ascii_user_agent_still_carries_the_identification(
    http: httpx2.Client, emulator: Any
) -> None:
    """A caller's UTF-8 user-agent is read as httpx2 reads it and identification is added."""
    response = http.post(
        f"models/{MODEL}:countTokens",
        json={"contents": CONTENTS},
        headers=[(b"user-agent", "outil-café/1".encode())],
    )

    assert response.status_code == 200
    (seen,) = emulator.api_requests()
    agent = seen.headers["user-agent"].split()
    assert {CLIENT_ID, "app/checkout", "team/payments"} <= set(agent)
    assert agent[0].encode("latin-1").decode() == "outil-café/1"
    assert seen.headers["x-goog-api-client"] == CLIENT_ID


def test_raw_stream_is_audited_with_usage(http: httpx2.Client, audit: Any) -> None:
    """A raw streamGenerateContent read line by line is one ``ok`` event with usage."""
    with http.stream(
        "POST",
        f"models/{MODEL}:streamGenerateContent",
        params={"alt": "sse"},
        json={"contents": CONTENTS},
    ) as response:
        events = [
            json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")
        ]

    text = "".join(p["text"] for e in events for p in e["candidates"][0]["content"]["parts"])
    assert "capital of France" in text
    event = audit.only()
    assert (event.stream, event.outcome, event.method) == (True, "ok", "streamGenerateContent")
    assert event.output_tokens == events[-1]["usageMetadata"]["candidatesTokenCount"]


def test_json_array_stream_is_audited_as_what_it_was(http: httpx2.Client, audit: Any) -> None:
    """Google's other stream form (no ``alt=sse``: one JSON array, an element per chunk) is an
    ``ok`` stream with its usage, not a malformed response."""
    with http.stream(
        "POST", f"models/{MODEL}:streamGenerateContent", json={"contents": CONTENTS}
    ) as response:
        assert response.headers["content-type"].startswith("application/json")
        elements = json.loads(response.read())

    assert isinstance(elements, list)
    assert len(elements) > 1
    event = audit.only()
    assert (event.stream, event.outcome, event.error_type) == (True, "ok", None)
    assert event.output_tokens == elements[-1]["usageMetadata"]["candidatesTokenCount"]


def test_openai_body_with_a_non_string_model_is_audited(
    ai_studio: dict[str, Any], audit: Any
) -> None:
    """Any JSON may reach the OpenAI-compatible route; ``"model": 42`` still gets its event."""
    with golden_path.http_client(audit_sinks=[audit], **ai_studio) as http:
        response = http.post(
            "openai/chat/completions",
            json={"model": 42, "messages": [{"role": "user", "content": "hi"}]},
        )
    assert response.status_code >= 400
    event = audit.only()
    assert event.surface == "openai"
    assert event.model is None
    assert event.outcome == "error"


def test_denied_model_is_refused_before_the_network(
    http: httpx2.Client, emulator: Any, audit: Any
) -> None:
    """A raw request for a denied model raises PolicyViolation; the emulator sees nothing."""
    with pytest.raises(PolicyViolation) as caught:
        http.post("models/gemini-2.5-pro:generateContent", json={"contents": CONTENTS})

    assert emulator.requests == []
    event = audit.only()
    assert (event.outcome, event.request_id) == ("denied", caught.value.request_id)


def test_server_errors_are_plain_responses(http: httpx2.Client, emulator: Any, audit: Any) -> None:
    """REST callers get the server's error response as is (Google's shape), audited."""
    emulator.fail_next(429)
    response = http.post(f"models/{MODEL}:generateContent", json={"contents": CONTENTS})

    assert response.status_code == 429
    assert response.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    event = audit.only()
    assert (event.outcome, event.error_type) == ("error", "RESOURCE_EXHAUSTED")


def test_vertex_rest_with_token_refresh(
    vertex_env: Path, audit: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Vertex AI the base URL is the project's location, and a short-lived token is
    refreshed for each request."""
    from golden_path.emulator import Emulator

    with Emulator(token_lifetime_s=100) as short:
        short.create_service_account_key(vertex_env)
        monkeypatch.setenv("GOLDEN_PATH_BASE_URL", short.url)
        with golden_path.http_client(policies=[], audit_sinks=[audit]) as http:
            assert str(http.base_url) == (
                f"{short.url}/v1beta1/projects/{PROJECT}/locations/{LOCATION}/"
            )
            for _ in range(2):
                response = http.post(
                    f"publishers/google/models/{MODEL}:generateContent", json={"contents": CONTENTS}
                )
                assert response.status_code == 200
        tokens = [f"Bearer {t.token}" for t in short.issued_tokens]
        sent = [r.headers["authorization"] for r in short.api_requests()]
    assert len(tokens) == 2
    assert sent == tokens
    assert [(e.backend, e.project, e.model) for e in audit.events] == [
        ("vertex", PROJECT, MODEL)
    ] * 2


def test_vertex_express_rest_uses_the_key(emulator: Any, audit: Any) -> None:
    """Vertex express mode (a key, no project) roots REST at /v1beta1/ with x-goog-api-key."""
    with golden_path.http_client(
        backend="vertex",
        api_key="express-key",
        base_url=emulator.url,
        policies=[],
        audit_sinks=[audit],
    ) as http:
        response = http.post(
            f"publishers/google/models/{MODEL}:generateContent", json={"contents": CONTENTS}
        )

    assert response.status_code == 200
    seen = emulator.api_requests()[0]
    assert seen.path == f"/v1beta1/publishers/google/models/{MODEL}:generateContent"
    assert seen.headers["x-goog-api-key"] == "express-key"
    assert "authorization" not in seen.headers


def test_async_rest_across_event_loops(
    vertex_env: Path, audit: Any, token_requests: Callable[[], int]
) -> None:
    """The async client works in two ``asyncio.run()`` calls; concurrent requests share one
    token refresh, done off the event loop."""
    client = golden_path.async_http_client(policies=[], audit_sinks=[audit])

    async def burst() -> list[int]:
        responses = await asyncio.gather(
            *[
                client.post(
                    f"publishers/google/models/{MODEL}:countTokens", json={"contents": CONTENTS}
                )
                for _ in range(4)
            ]
        )
        return [r.status_code for r in responses]

    assert asyncio.run(burst()) == [200] * 4
    assert asyncio.run(burst()) == [200] * 4
    assert token_requests() == 1
    assert len(audit.events) == 8
