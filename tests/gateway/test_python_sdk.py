"""google-genai, unmodified, pointed at the gateway with base_url: the app holds only its key."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from google.genai import errors

from tests.gateway.conftest import genai_client


def test_generate_runs_the_pipeline_as_the_app(gw: Any, emulator: Any, audit: Any) -> None:
    """A generate call is answered, audited as the calling app, and reaches Google without the
    app's key but with the gateway's identification."""
    client = genai_client(gw.url, gw.key)
    response = client.models.generate_content(model="gemini-2.5-flash", contents="hello")
    assert response.text == "Echo: hello"
    event = audit.only()
    assert (event.app, event.team, event.method, event.outcome) == (
        "checkout",
        "payments",
        "generateContent",
        "ok",
    )
    (sent,) = emulator.api_requests()
    headers = {k.lower(): v for k, v in sent.headers.items()}
    assert gw.key not in str(headers)
    assert "golden-path/" in headers["x-goog-api-client"]
    assert "google-genai-sdk/" in headers["x-goog-api-client"]


def test_unknown_key_is_refused_before_anything_is_sent(gw: Any, emulator: Any) -> None:
    """A key the platform did not issue gets 401 UNAUTHENTICATED; nothing reaches upstream."""
    client = genai_client(gw.url, "gpk_not-issued")
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model="gemini-2.5-flash", contents="hello")
    assert caught.value.code == 401
    assert caught.value.status == "UNAUTHENTICATED"
    assert emulator.api_requests() == []


def test_stream_passes_every_event_and_is_audited(gw: Any, audit: Any) -> None:
    """A streamed generate arrives whole through the gateway and is one audit event."""
    client = genai_client(gw.url, gw.key)
    chunks = list(
        client.models.generate_content_stream(model="gemini-2.5-flash", contents="one two three")
    )
    assert len(chunks) > 1
    assert "".join(c.text or "" for c in chunks) == "Echo: one two three"
    event = audit.only()
    assert (event.method, event.stream, event.outcome) == ("streamGenerateContent", True, "ok")
    assert event.output_tokens


def test_count_tokens(gw: Any, audit: Any) -> None:
    """countTokens is served and audited under the calling app."""
    client = genai_client(gw.url, gw.key)
    assert client.models.count_tokens(model="gemini-2.5-flash", contents="a b c").total_tokens
    assert audit.only().method == "countTokens"


# The SDK's own aiohttp session subclass warns under aiohttp 3.12+; that is the SDK's business.
@pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")
def test_async_client(gw: Any, audit: Any) -> None:
    """The SDK's async client (its own httpx2 or aiohttp stack) works through the gateway."""
    client = genai_client(gw.url, gw.key)

    async def call() -> Any:
        try:
            return await client.aio.models.generate_content(model="gemini-2.5-flash", contents="x")
        finally:
            await client.aio.aclose()

    response = asyncio.run(call())
    assert response.text == "Echo: x"
    assert audit.only().app == "checkout"


def test_google_credentials_stay_in_the_gateway(
    start_gateway: Any, emulator: Any, audit: Any
) -> None:
    """Upstream sees the gateway's API key, never the app's; the app never sees Google's key."""
    emulator.add_api_key("google-secret")
    running = start_gateway(settings={"backend": "ai_studio", "api_key": "google-secret"})
    client = genai_client(running.url, running.key, headers={"x-goog-user-project": "other"})
    response = client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert "google-secret" not in str(response.sdk_http_response.headers)
    (sent,) = emulator.api_requests()
    headers = {k.lower(): v for k, v in sent.headers.items()}
    assert headers["x-goog-api-key"] == "google-secret"
    assert "x-goog-user-project" not in headers
    assert running.key not in repr(sent)


def test_policy_denial_is_a_google_403_with_request_id(
    start_gateway: Any, emulator: Any, audit: Any
) -> None:
    """A policy denial is PERMISSION_DENIED in Google's envelope, naming the policy, the reason
    and the audit event's request id; nothing is sent upstream."""
    from golden_path.policies import Deny

    class NoPro:
        name = "models"

        def on_request(self, request: Any) -> None:
            if request.model and "pro" in request.model:
                raise Deny(f"model {request.model} is not allowed for app {request.identity.app}")

    running = start_gateway(policies=[NoPro()])
    client = genai_client(running.url, running.key)
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model="gemini-2.5-pro", contents="hi")
    error = caught.value
    assert (error.code, error.status) == (403, "PERMISSION_DENIED")
    assert "gemini-2.5-pro is not allowed for app checkout" in error.message
    event = audit.only()
    assert event.outcome == "denied"
    info = error.details["error"]["details"][0]
    assert info["reason"] == "POLICY_DENIED"
    assert info["metadata"] == {"policy": "models", "request_id": event.request_id}
    assert emulator.api_requests() == []


def test_rate_limit_is_a_429_with_retry_info(start_gateway: Any, tmp_path: Any, audit: Any) -> None:
    """The platform's rate limit, counted per app, answers 429 RESOURCE_EXHAUSTED with
    RetryInfo and Retry-After once the app's minute is used up; another app is unaffected."""
    policy = tmp_path / "limits.toml"
    policy.write_text('[rate_limits]\nrequests_per_minute = 2\nscope = "app"\n')
    running = start_gateway(settings={"policy_file": str(policy)})
    client = genai_client(running.url, running.key)
    for _ in range(2):
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    error = caught.value
    assert (error.code, error.status) == (429, "RESOURCE_EXHAUSTED")
    details = {d["@type"].rsplit(".", 1)[1]: d for d in error.details["error"]["details"]}
    assert float(details["RetryInfo"]["retryDelay"].rstrip("s")) > 0
    assert details["QuotaFailure"]["violations"][0]["subject"].startswith("rate_limits.")
    assert int(error.response.headers["retry-after"]) >= 1
    other = genai_client(running.url, running.issue("search", team="payments"))
    assert other.models.generate_content(model="gemini-2.5-flash", contents="hi").text


def test_files_upload_resumable_through_the_gateway(
    gw: Any, emulator: Any, audit: Any, tmp_path: Any
) -> None:
    """files.upload's resumable protocol runs through the gateway: the upload URL handed to the
    app points back at the gateway (no Google host, no state kept), the chunks come back with
    the app's key, and the file can then be used, listed and deleted."""
    path = tmp_path / "notes.txt"
    path.write_text("hello file")
    client = genai_client(gw.url, gw.key, api_version="v1beta")
    uploaded = client.files.upload(file=path, config={"mime_type": "text/plain"})
    assert uploaded.name
    assert uploaded.size_bytes == len("hello file")
    assert client.files.get(name=uploaded.name).name == uploaded.name
    assert uploaded.name in [f.name for f in client.files.list()]
    client.files.delete(name=uploaded.name)
    uploads = [e for e in audit.events if e.path.startswith("/upload/")]
    assert [e.outcome for e in uploads] == ["ok", "ok"]  # the start, then the one chunk
    assert {e.app for e in audit.events} == {"checkout"}
    start = next(r for r in emulator.requests if r.path.startswith("/upload/"))
    assert gw.key not in str(start.headers)
