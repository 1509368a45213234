"""Plain REST and the OpenAI SDK through the gateway: what a Rust, PHP or Ruby app would send."""

from __future__ import annotations

import time
from typing import Any

import httpx2
import pytest

from tests.gateway.conftest import SlowSSE, in_flight

GENERATE = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def test_gemini_shape_with_key_in_query(gw: Any, emulator: Any, audit: Any) -> None:
    """A key in ``?key=`` (as curl examples do) authenticates and is not passed upstream."""
    response = httpx2.post(
        f"{gw.url}/v1beta/models/gemini-2.5-flash:generateContent?key={gw.key}", json=GENERATE
    )
    assert response.status_code == 200, response.text
    assert response.json()["candidates"][0]["content"]["parts"][0]["text"] == "Echo: hi"
    assert response.headers["x-golden-path-request-id"] == audit.only().request_id
    (sent,) = emulator.api_requests()
    assert "key" not in sent.query


def test_vertex_shape_runs_in_the_gateways_project(
    vertex_gw: Any, emulator: Any, audit: Any
) -> None:
    """A Vertex-shaped call is sent in the gateway's project and location with its OAuth token,
    whatever project the app put in the path."""
    response = httpx2.post(
        f"{vertex_gw.url}/v1beta1/projects/app-guess/locations/us-central1/publishers/google/"
        "models/gemini-2.5-flash:generateContent",
        json=GENERATE,
        headers={"authorization": f"Bearer {vertex_gw.key}"},
    )
    assert response.status_code == 200, response.text
    (sent,) = emulator.api_requests()
    assert sent.path == (
        "/v1beta1/projects/platform-project/locations/europe-west4/publishers/google/models/"
        "gemini-2.5-flash:generateContent"
    )
    assert sent.headers.get("authorization", sent.headers.get("Authorization", "")).startswith(
        "Bearer "
    )
    assert vertex_gw.key not in str(sent.headers)
    assert audit.only().backend == "vertex"


def test_gemini_shape_on_a_vertex_gateway(vertex_gw: Any, emulator: Any) -> None:
    """An app written for the Gemini Developer API runs on Vertex behind the gateway: the
    generate, stream and count calls are re-rooted; Gemini-only routes are refused clearly."""
    from tests.gateway.conftest import genai_client

    client = genai_client(vertex_gw.url, vertex_gw.key)
    assert client.models.generate_content(model="gemini-2.5-flash", contents="hi").text
    assert list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="a b"))
    assert client.models.count_tokens(model="gemini-2.5-flash", contents="a").total_tokens
    paths = [r.path for r in emulator.api_requests()]
    assert all(p.startswith("/v1beta1/projects/platform-project/") for p in paths), paths
    response = httpx2.get(
        f"{vertex_gw.url}/v1beta/files", headers={"x-goog-api-key": vertex_gw.key}
    )
    assert response.status_code == 404
    assert "this gateway fronts Vertex AI" in response.json()["error"]["message"]


def test_missing_credential_is_401_in_google_shape(gw: Any, emulator: Any, audit: Any) -> None:
    """No credential at all: 401 UNAUTHENTICATED, audited as a denied request of no app (with
    the request id in the answer), and the emulator sees nothing."""
    response = httpx2.post(f"{gw.url}/v1beta/models/gemini-2.5-flash:generateContent", json={})
    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"
    event = audit.only()
    assert (event.app, event.outcome) == (None, "denied")
    assert event.policy[0]["policy"] == "gateway.authentication"
    assert response.headers["x-golden-path-request-id"] == event.request_id
    assert emulator.api_requests() == []


@pytest.mark.parametrize(
    "path",
    ["/v1beta/models/%2e%2e/files", "/v1beta//models/x:generateContent", "/other/path"],
)
def test_paths_that_are_not_routes_are_refused(gw: Any, emulator: Any, path: str) -> None:
    """Dot segments, empty segments and non-API paths never reach upstream."""
    with httpx2.Client() as client:
        request = client.build_request("POST", gw.url, json={}, headers={"x-goog-api-key": gw.key})
        request.url = request.url.copy_with(raw_path=path.encode())
        response = client.send(request)
    assert response.status_code in (400, 404)
    assert response.json()["error"]["details"][0]["reason"] in ("BAD_PATH", "NOT_SERVED")
    assert emulator.api_requests() == []


def test_body_over_the_limit_is_413(start_gateway: Any, emulator: Any) -> None:
    """A body larger than max_body_bytes is refused without being sent on."""
    running = start_gateway(max_body_bytes=1000)
    response = httpx2.post(
        f"{running.url}/v1beta/models/gemini-2.5-flash:generateContent",
        content=b"x" * 5000,
        headers={"x-goog-api-key": running.key},
    )
    assert response.status_code == 413
    assert emulator.api_requests() == []


def test_openai_sdk(gw: Any, audit: Any) -> None:
    """The OpenAI SDK, with the app key as its api_key, reaches the OpenAI-compatible layer."""
    openai = pytest.importorskip("openai")
    with openai.OpenAI(api_key=gw.key, base_url=f"{gw.url}/v1beta/openai/") as client:
        completion = client.chat.completions.create(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": "hello"}]
        )
        assert "hello" in (completion.choices[0].message.content or "")
        stream = client.chat.completions.create(
            model="gemini-2.5-flash",
            messages=[{"role": "user", "content": "a b"}],
            stream=True,
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert "a b" in text
    events = audit.events
    assert [e.method for e in events] == ["chat.completions", "chat.completions"]
    assert {e.app for e in events} == {"checkout"}


def test_answers_carry_one_date_and_no_server_header(gw: Any) -> None:
    """The upstream's Date and Server headers do not come back beside the gateway's own: a
    proxied answer, a streamed one and the gateway's own error each carry exactly one Date."""
    generate = f"{gw.url}/v1beta/models/gemini-2.5-flash:generateContent"
    answers = [
        httpx2.post(generate, json=GENERATE, headers={"x-goog-api-key": gw.key}),
        httpx2.post(
            f"{gw.url}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            json=GENERATE,
            headers={"x-goog-api-key": gw.key},
        ),
        httpx2.post(generate, json=GENERATE),  # no key: the gateway's own 401
    ]
    assert [a.status_code for a in answers] == [200, 200, 401]
    for answer in answers:
        names = [name.lower() for name, _ in answer.headers.raw]
        assert names.count(b"date") == 1, answer.headers.raw
        assert b"server" not in names, answer.headers.raw


def test_health_readiness_and_metrics(gw: Any) -> None:
    """/healthz and /readyz answer without a key; /metrics counts requests per app."""
    assert httpx2.get(f"{gw.url}/healthz").status_code == 200
    assert httpx2.get(f"{gw.url}/readyz").status_code == 200
    httpx2.post(
        f"{gw.url}/v1beta/models/gemini-2.5-flash:countTokens",
        json=GENERATE,
        headers={"x-goog-api-key": gw.key},
    )
    httpx2.post(f"{gw.url}/v1beta/models/gemini-2.5-flash:countTokens", json=GENERATE)
    metrics = httpx2.get(f"{gw.url}/metrics").text
    assert (
        'golden_path_gateway_requests_total{app="checkout",code="200",method="countTokens",'
        'team="payments"} 1.0' in metrics
    )
    assert "golden_path_gateway_unauthenticated_total 1.0" in metrics


def test_sse_is_passed_through_without_buffering(start_gateway: Any, audit: Any) -> None:
    """The first event reaches the app while the upstream is still holding back the last.

    Meanwhile /metrics counts the stream as in flight; once it ends, nothing is.
    """
    upstream = SlowSSE()
    try:
        running = start_gateway(
            settings={"backend": "ai_studio", "api_key": "k", "base_url": upstream.url}
        )
        with httpx2.stream(
            "POST",
            f"{running.url}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            json=GENERATE,
            headers={"x-goog-api-key": running.key},
            timeout=10,
        ) as response:
            lines = response.iter_lines()
            first = next(line for line in lines if line.startswith("data:"))
            assert "first" in first
            assert not upstream.release.is_set()
            assert in_flight(running.url) == 1
            upstream.release.set()
            rest = [line for line in lines if line.startswith("data:")]
        assert "last" in rest[0]
        # The count drops as the gateway finishes the request, just after the app has it all.
        deadline = time.monotonic() + 5
        while in_flight(running.url) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert in_flight(running.url) == 0
    finally:
        upstream.close()
    event = audit.only()
    assert (event.outcome, event.stream, event.total_tokens) == ("ok", True, 3)


def test_upload_url_is_bound_to_the_app_that_started_it(gw: Any, emulator: Any) -> None:
    """The upload URL the gateway hands out points at the gateway and carries its app, signed:
    chunks need no key, but the same URL claiming another app is refused."""
    start = httpx2.post(
        f"{gw.url}/upload/v1beta/files",
        json={"file": {"displayName": "x"}},
        headers={
            "x-goog-api-key": gw.key,
            "x-goog-upload-protocol": "resumable",
            "x-goog-upload-command": "start",
            "x-goog-upload-header-content-length": "3",
            "x-goog-upload-header-content-type": "text/plain",
        },
    )
    assert start.status_code == 200, start.text
    url = start.headers["x-goog-upload-url"]
    assert url.startswith(gw.url + "/upload/")
    assert emulator.url not in url
    forged = url.replace("gp_app=checkout", "gp_app=search")
    chunk = {"x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0"}
    refused = httpx2.post(forged, content=b"abc", headers=chunk)
    assert refused.status_code == 401
    done = httpx2.post(url, content=b"abc", headers=chunk)
    assert done.status_code == 200, done.text
    assert done.headers["x-goog-upload-status"] == "final"
    assert done.json()["file"]["sizeBytes"] == "3"
    last = emulator.requests[-1]
    assert "gp_" not in str(last.query)


EMBED = {"content": {"parts": [{"text": "portable"}]}}
IMAGEN = {"instances": [{"prompt": "a cat"}], "parameters": {"sampleCount": 1}}


def test_gemini_shaped_embed_and_predict_run_on_vertex(
    vertex_gw: Any, emulator: Any, audit: Any
) -> None:
    """embedContent and predict (Imagen), which the route table has on both backends with the
    same bodies, are re-rooted from the Gemini shape into the gateway's Vertex project."""
    headers = {"x-goog-api-key": vertex_gw.key}
    embedded = httpx2.post(
        f"{vertex_gw.url}/v1beta/models/gemini-embedding-001:embedContent",
        json=EMBED,
        headers=headers,
    )
    assert embedded.status_code == 200, embedded.text
    assert embedded.json()["embedding"]["values"]
    predicted = httpx2.post(
        f"{vertex_gw.url}/v1beta/models/imagen-4.0-generate-001:predict",
        json=IMAGEN,
        headers=headers,
    )
    assert predicted.status_code == 200, predicted.text
    assert predicted.json()["predictions"][0]["bytesBase64Encoded"]
    assert [r.path for r in emulator.api_requests()] == [
        "/v1beta1/projects/platform-project/locations/europe-west4/publishers/google/models/"
        "gemini-embedding-001:embedContent",
        "/v1beta1/projects/platform-project/locations/europe-west4/publishers/google/models/"
        "imagen-4.0-generate-001:predict",
    ]
    assert [(e.method, e.outcome, e.backend) for e in audit.events] == [
        ("embedContent", "ok", "vertex"),
        ("predict", "ok", "vertex"),
    ]


def test_vertex_shaped_embed_runs_on_ai_studio(start_gateway: Any, emulator: Any) -> None:
    """The other way: a Vertex-shaped embedContent reaches the Gemini Developer API as
    /v1beta/models/M:embedContent, whatever project the app named."""
    running = start_gateway(settings={"backend": "ai_studio", "api_key": "upstream-key"})
    response = httpx2.post(
        f"{running.url}/v1beta1/projects/app-guess/locations/us-central1/publishers/google/"
        "models/gemini-embedding-001:embedContent",
        json=EMBED,
        headers={"x-goog-api-key": running.key},
    )
    assert response.status_code == 200, response.text
    (sent,) = emulator.api_requests()
    assert sent.path == "/v1beta/models/gemini-embedding-001:embedContent"


def test_sdk_embed_content_on_the_gemini_api_runs_on_vertex(
    vertex_gw: Any, emulator: Any, audit: Any
) -> None:
    """The SDK's embed_content on the Gemini API sends batchEmbedContents, each request naming
    its model as ``models/M``: on a Vertex gateway it reaches the gateway's project with those
    names dropped (Vertex embeds with the path's model), one vector per text, in order."""
    from tests.gateway.conftest import genai_client

    client = genai_client(vertex_gw.url, vertex_gw.key)
    result = client.models.embed_content(
        model="gemini-embedding-001", contents=["first text", "second text"]
    )
    vectors = [e.values for e in result.embeddings or []]
    assert len(vectors) == 2
    assert all(vectors)
    assert vectors[0] != vectors[1]
    (sent,) = emulator.api_requests()
    assert sent.path == (
        "/v1beta1/projects/platform-project/locations/europe-west4/publishers/google/models/"
        "gemini-embedding-001:batchEmbedContents"
    )
    requests = sent.body["requests"]
    assert [r["content"]["parts"][0]["text"] for r in requests] == ["first text", "second text"]
    assert all("model" not in r for r in requests)
    assert [(e.method, e.outcome, e.backend) for e in audit.events] == [
        ("batchEmbedContents", "ok", "vertex")
    ]


def test_a_batch_naming_another_model_than_its_path_is_refused(
    vertex_gw: Any, emulator: Any
) -> None:
    """A batch request naming another model than the path's is a 400 that says so, not an
    embedding by a model the app did not ask for; nothing is sent."""
    response = httpx2.post(
        f"{vertex_gw.url}/v1beta/models/gemini-embedding-001:batchEmbedContents",
        json={"requests": [{"model": "models/text-embedding-004", **EMBED}]},
        headers={"x-goog-api-key": vertex_gw.key},
    )
    assert response.status_code == 400
    assert "requests[0].model is 'models/text-embedding-004'" in response.json()["error"]["message"]
    assert emulator.api_requests() == []


@pytest.mark.parametrize(
    ("path", "body"),
    [("/v1beta/models/veo-3.0-generate-001:predictLongRunning", IMAGEN)],
)
def test_routes_that_do_not_translate_are_refused_in_google_shape(
    vertex_gw: Any, emulator: Any, path: str, body: Any
) -> None:
    """A model call of the other backend whose bodies or follow-up calls differ is refused with
    a 404 in Google's error envelope that says which calls do translate; nothing is sent."""
    response = httpx2.post(
        f"{vertex_gw.url}{path}", json=body, headers={"x-goog-api-key": vertex_gw.key}
    )
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["status"] == "NOT_FOUND"
    assert error["details"][0]["reason"] == "NOT_SERVED"
    assert "is a Gemini Developer API route and this gateway fronts Vertex AI" in error["message"]
    assert (
        "translates only batchEmbedContents, countTokens, embedContent, generateContent, predict"
        in error["message"]
    )
    assert emulator.api_requests() == []
