"""Both backends end to end: the real SDK, over real loopback HTTP, against the emulator."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from google.genai import errors, types

import golden_path
from golden_path.emulator import Emulator
from tests import _sdk as sdk

MODEL = "gemini-2.5-flash"
VERTEX_PATH = "/v1beta1/projects/acme-prod/locations/europe-west4/publishers/google/models/"


@pytest.fixture(name="sa_key")
def _sa_key(emulator: Emulator, tmp_path: Path) -> Path:
    path = tmp_path / "sa.json"
    emulator.create_service_account_key(
        path, email="runner@acme-prod.iam.gserviceaccount.com", project_id="acme-prod"
    )
    return path


@pytest.fixture(name="vertex_env")
def _vertex_env(monkeypatch: pytest.MonkeyPatch, emulator: Emulator, sa_key: Path) -> Path:
    monkeypatch.setenv("GOLDEN_PATH_BACKEND", "vertex")
    monkeypatch.setenv("GOLDEN_PATH_PROJECT", "acme-prod")
    monkeypatch.setenv("GOLDEN_PATH_LOCATION", "europe-west4")
    monkeypatch.setenv("GOLDEN_PATH_CREDENTIALS_FILE", str(sa_key))
    monkeypatch.setenv("GOLDEN_PATH_BASE_URL", emulator.url)
    monkeypatch.setenv("GOLDEN_PATH_AUDIT_SINK", "none")
    return sa_key


def _model_calls(emulator: Emulator) -> list[Any]:
    return emulator.api_requests()


def test_ai_studio_sync_async_stream(make_client: Any, emulator: Emulator, audit: Any) -> None:
    """AI Studio works sync, async and streamed, with the key in x-goog-api-key only."""
    client = make_client()
    answer = client.models.generate_content(model=MODEL, contents="hello there")
    assert "hello there" in (answer.text or "")
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="stream me"))
    assert len(chunks) >= 3
    assert "stream me" in "".join(c.text or "" for c in chunks)

    async def go() -> str:
        response = await client.aio.models.generate_content(model=MODEL, contents="async hi")
        return response.text or ""

    assert "async hi" in asyncio.run(go())
    calls = _model_calls(emulator)
    assert [c.path for c in calls] == [
        f"/v1/models/{MODEL}:generateContent",
        f"/v1/models/{MODEL}:streamGenerateContent",
        f"/v1/models/{MODEL}:generateContent",
    ]
    for call in calls:
        assert call.headers["x-goog-api-key"] == "test-key"
        assert "key" not in call.query
        assert "authorization" not in call.headers
    assert [e.outcome for e in audit.events] == ["ok", "ok", "ok"]


def test_vertex_service_account_key(vertex_env: Path, emulator: Emulator) -> None:
    """Vertex with a key file: a real jwt-bearer exchange, then Bearer on the project's URL."""
    client = golden_path.client()
    answer = client.models.generate_content(model=MODEL, contents="from vertex")
    assert "from vertex" in (answer.text or "")
    call = _model_calls(emulator)[-1]
    assert call.path == VERTEX_PATH + f"{MODEL}:generateContent"
    assert call.headers["authorization"].startswith("Bearer ")
    assert "x-goog-api-key" not in call.headers
    assert call.principal == "runner@acme-prod.iam.gserviceaccount.com"
    assert [t.grant for t in emulator.issued_tokens] == ["jwt-bearer"]


def test_vertex_async_and_stream_across_event_loops(vertex_env: Path, emulator: Emulator) -> None:
    """One client serves separate asyncio.run() calls, streamed and not, on httpx2."""
    client = golden_path.client()

    async def go(prompt: str) -> str:
        stream = await client.aio.models.generate_content_stream(model=MODEL, contents=prompt)
        parts = [chunk.text or "" async for chunk in stream]
        response = await client.aio.models.generate_content(model=MODEL, contents=prompt)
        return "".join(parts) + "|" + (response.text or "")

    first = asyncio.run(go("loop one"))
    second = asyncio.run(go("loop two"))
    assert "loop one" in first
    assert "loop two" in second
    assert len(_model_calls(emulator)) == 4


def test_vertex_impersonation(
    vertex_env: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Impersonation exchanges the key's token for the target's at the IAM endpoint."""
    target = "gemini-caller@acme-prod.iam.gserviceaccount.com"
    monkeypatch.setenv("GOLDEN_PATH_IMPERSONATE_SERVICE_ACCOUNT", target)
    monkeypatch.setenv("GOLDEN_PATH_IMPERSONATE_DELEGATES", "hop@acme-prod.iam.gserviceaccount.com")
    monkeypatch.setenv("GOLDEN_PATH_IAM_ENDPOINT", emulator.url)
    client = golden_path.client()
    client.models.generate_content(model=MODEL, contents="as someone else")
    assert _model_calls(emulator)[-1].principal == target
    impersonation = [t for t in emulator.issued_tokens if t.grant == "impersonation"]
    assert len(impersonation) == 1
    assert impersonation[0].source == "runner@acme-prod.iam.gserviceaccount.com"
    iam_call = next(r for r in emulator.requests if r.path.endswith(":generateAccessToken"))
    assert iam_call.path == f"/v1/projects/-/serviceAccounts/{target}:generateAccessToken"
    assert iam_call.body["delegates"] == [
        "projects/-/serviceAccounts/hop@acme-prod.iam.gserviceaccount.com"
    ]


def test_vertex_application_default_credentials(
    vertex_env: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a credentials file, ADC (GOOGLE_APPLICATION_CREDENTIALS) is used."""
    monkeypatch.delenv("GOLDEN_PATH_CREDENTIALS_FILE")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(vertex_env))
    golden_path.client().models.generate_content(model=MODEL, contents="adc")
    assert _model_calls(emulator)[-1].principal == "runner@acme-prod.iam.gserviceaccount.com"


def test_vertex_workload_identity_federation(
    vertex_env: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An external_account file: the subject token is exchanged at STS, then used on Vertex."""
    subject = tmp_path / "oidc-token"
    subject.write_text("eyJhbGciOiJub25lIn0.eyJzdWIiOiJjaS1qb2IifQ.")
    config = tmp_path / "wif.json"
    emulator.create_external_account_file(config, subject)
    monkeypatch.setenv("GOLDEN_PATH_CREDENTIALS_FILE", str(config))
    golden_path.client().models.generate_content(model=MODEL, contents="federated")
    assert [t.grant for t in emulator.issued_tokens] == ["token-exchange"]
    assert _model_calls(emulator)[-1].headers["authorization"].startswith("Bearer ")


def test_quota_project_header(
    vertex_env: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GOLDEN_PATH_QUOTA_PROJECT bills another project through x-goog-user-project."""
    monkeypatch.setenv("GOLDEN_PATH_QUOTA_PROJECT", "acme-billing")
    golden_path.client().models.generate_content(model=MODEL, contents="bill elsewhere")
    assert _model_calls(emulator)[-1].headers["x-goog-user-project"] == "acme-billing"


def test_vertex_express_mode(
    emulator: Emulator, audit: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """backend=vertex with an API key and no project is express mode, whatever the env says."""
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "hostile-project")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "asia-east1")
    client = golden_path.create_client(
        backend="vertex", api_key="express-key", base_url=emulator.url, audit_sinks=[audit]
    )
    client.models.generate_content(model=MODEL, contents="express")
    call = _model_calls(emulator)[-1]
    assert call.path == f"/v1beta1/publishers/google/models/{MODEL}:generateContent"
    assert call.headers["x-goog-api-key"] == "express-key"


def test_counting_embedding_and_models(make_client: Any, emulator: Emulator) -> None:
    """Token counting, embeddings and the model catalogue all go through the governed client."""
    client = make_client()
    assert (
        client.models.count_tokens(model=MODEL, contents="four words right here").total_tokens or 0
    ) > 0
    embedded = client.models.embed_content(
        model="gemini-embedding-001",
        contents=["a", "b"],
        config=types.EmbedContentConfig(output_dimensionality=64),
    )
    assert [len(e.values or []) for e in embedded.embeddings or []] == [64, 64]
    assert any(MODEL in (m.name or "") for m in client.models.list())


HOSTILE = {
    "GOOGLE_GENAI_USE_VERTEXAI": "true",
    "GOOGLE_API_KEY": "hostile-google-key",
    "GEMINI_API_KEY": "hostile-gemini-key",
    "GOOGLE_CLOUD_PROJECT": "hostile-project",
    "GOOGLE_CLOUD_LOCATION": "asia-east1",
    "GOOGLE_GENAI_API_VERSION": "v9alpha",
    "GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:9",
    "GOOGLE_VERTEX_BASE_URL": "http://127.0.0.1:9",
    "GOOGLE_GENAI_CLIENT_MODE": "replay",
    "GOOGLE_GENAI_REPLAYS_DIRECTORY": "/nonexistent",
    "GOOGLE_GENAI_HTTP_CLIENT": "httpx",
}


def test_hostile_google_variables_change_nothing_ai_studio(
    make_client: Any, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GOOGLE_*/GEMINI_* variables on the machine do not move an AI Studio client."""
    for name, value in HOSTILE.items():
        monkeypatch.setenv(name, value)
    client = make_client()
    client.models.generate_content(model=MODEL, contents="steady")
    for chunk in client.models.generate_content_stream(model=MODEL, contents="steady"):
        assert chunk is not None
    calls = _model_calls(emulator)
    assert [c.path for c in calls] == [
        f"/v1/models/{MODEL}:generateContent",
        f"/v1/models/{MODEL}:streamGenerateContent",
    ]
    assert {c.headers["x-goog-api-key"] for c in calls} == {"test-key"}


def test_hostile_google_variables_change_nothing_vertex(
    vertex_env: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same variables do not move a Vertex client off its project, location or credentials."""
    for name, value in HOSTILE.items():
        monkeypatch.setenv(name, value)
    golden_path.client().models.generate_content(model=MODEL, contents="steady")
    call = _model_calls(emulator)[-1]
    assert call.path == VERTEX_PATH + f"{MODEL}:generateContent"
    assert "x-goog-api-key" not in call.headers
    assert call.headers["authorization"].startswith("Bearer ")


def test_identification_headers_survive_per_request_override(
    make_client: Any, emulator: Emulator
) -> None:
    """x-goog-api-client and user-agent carry the client id, even when app code overrides them."""
    client = make_client(client_id="acme-golden-path/1.4.0", app="checkout", team="payments")
    client.models.generate_content(model=MODEL, contents="plain")
    override = types.GenerateContentConfig(
        http_options=types.HttpOptions(
            headers={"user-agent": "sneaky/1.0", "x-goog-api-client": "sneaky/1.0"}
        )
    )
    client.models.generate_content(model=MODEL, contents="override", config=override)
    plain, overridden = _model_calls(emulator)
    assert plain.headers["x-goog-api-client"].startswith(f"google-genai-sdk/{sdk.VERSION} ")
    assert plain.headers["x-goog-api-client"].endswith(" acme-golden-path/1.4.0")
    assert "acme-golden-path/1.4.0 app/checkout team/payments" in plain.headers["user-agent"]
    for call in (plain, overridden):
        assert "acme-golden-path/1.4.0" in call.headers["x-goog-api-client"].split()
        assert "acme-golden-path/1.4.0" in call.headers["user-agent"].split()
        assert len(call.headers["x-golden-path-request-id"]) == 16


def test_request_id_reaches_server_and_error(
    make_client: Any, emulator: Emulator, audit: Any
) -> None:
    """The request id the server sees is the one on the SDK error and in the audit event."""
    emulator.fail_next(status=500)
    with pytest.raises(errors.ServerError) as caught:
        make_client().models.generate_content(model=MODEL, contents="boom")
    sent = _model_calls(emulator)[-1].headers["x-golden-path-request-id"]
    assert caught.value.response.headers["x-golden-path-request-id"] == sent
    assert audit.only().request_id == sent
    assert audit.only().outcome == "error"


def test_default_retries_recover_from_transient_errors(
    make_client: Any, emulator: Emulator
) -> None:
    """Production default: a 503 is retried with backoff (the SDK alone would not retry)."""
    emulator.fail_next(status=503, times=2)
    client = make_client(retry_attempts=3, retry_initial_delay_s=0.01, retry_max_delay_s=0.02)
    answer = client.models.generate_content(model=MODEL, contents="eventually")
    assert "eventually" in (answer.text or "")
    assert len(_model_calls(emulator)) == 3


def test_retries_can_be_turned_off(make_client: Any, emulator: Emulator) -> None:
    """retry_attempts=1 makes exactly one attempt."""
    emulator.fail_next(status=503, times=2)
    with pytest.raises(errors.ServerError):
        make_client(retry_attempts=1).models.generate_content(model=MODEL, contents="once")
    assert len(_model_calls(emulator)) == 1


def test_timeout_applies(make_client: Any, emulator: Emulator, audit: Any) -> None:
    """GOLDEN_PATH_TIMEOUT_S bounds a call the server never answers in time."""
    import httpx2

    emulator.set_latency(2.0)
    with pytest.raises(httpx2.TimeoutException):
        make_client(timeout_s=0.2).models.generate_content(model=MODEL, contents="slow")
    assert audit.only().outcome == "error"
    assert audit.only().error_type == "ReadTimeout"


def test_client_is_cached_per_configuration(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """client() returns one instance per resolved configuration, from any thread."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("GOLDEN_PATH_BACKEND", "ai_studio")
    monkeypatch.setenv("GOLDEN_PATH_API_KEY", "k1")
    monkeypatch.setenv("GOLDEN_PATH_BASE_URL", emulator.url)
    with ThreadPoolExecutor(8) as pool:
        clients = list(pool.map(lambda _: golden_path.client(), range(32)))
    assert len({id(c) for c in clients}) == 1
    monkeypatch.setenv("GOLDEN_PATH_API_KEY", "k2")
    assert golden_path.client() is not clients[0]
    assert golden_path.create_client() is not golden_path.client()


def test_emulator_backend_starts_one_embedded_emulator(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """backend=emulator needs no credentials: one in-process emulator, with a warning."""
    monkeypatch.setenv("GOLDEN_PATH_BACKEND", "emulator")
    monkeypatch.setenv("GOLDEN_PATH_AUDIT_SINK", "none")
    first = golden_path.client()
    answer = first.models.generate_content(model=MODEL, contents="offline")
    assert "offline" in (answer.text or "")
    second = golden_path.create_client()
    assert second.models.generate_content(model=MODEL, contents="again").text
    assert sum("embedded Gemini API emulator" in r.message for r in caplog.records) == 1


def test_emulator_backend_can_be_forbidden(monkeypatch: pytest.MonkeyPatch) -> None:
    """allow_emulator=false (the base image's setting) makes backend=emulator a ConfigError."""
    monkeypatch.setenv("GOLDEN_PATH_BACKEND", "emulator")
    monkeypatch.setenv("GOLDEN_PATH_ALLOW_EMULATOR", "false")
    with pytest.raises(golden_path.ConfigError) as caught:
        golden_path.client()
    assert caught.value.fields == ("backend",)


def test_prototype_to_vertex_is_a_config_change(
    emulator: Emulator, sa_key: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The same app code runs on AI Studio, then on Vertex, by changing the config file only."""
    config = tmp_path / "golden-path.toml"

    def app() -> str:
        answer = golden_path.client().models.generate_content(model=MODEL, contents="same code")
        return answer.text or ""

    config.write_text(
        f'backend = "ai_studio"\napi_key = "proto-key"\nbase_url = "{emulator.url}"\n'
        'audit_sink = "none"\n'
    )
    assert "same code" in app()
    config.write_text(
        f'backend = "vertex"\nproject = "acme-prod"\nlocation = "europe-west4"\n'
        f'credentials_file = "{sa_key}"\nbase_url = "{emulator.url}"\n'
        'audit_sink = "none"\n'
    )
    assert "same code" in app()
    first, second = _model_calls(emulator)
    assert first.path.startswith("/v1/models/")
    assert second.path.startswith(VERTEX_PATH)
    assert json.loads(second.raw_body)["contents"][0]["parts"][0]["text"] == "same code"


def test_async_never_switches_to_aiohttp(make_client: Any, emulator: Emulator, audit: Any) -> None:
    """With aiohttp installed, async calls still pass golden-path's transport (and are audited)."""
    import importlib.util

    assert importlib.util.find_spec("aiohttp") is not None, "the test extra installs aiohttp"
    client = make_client()

    async def go() -> None:
        await client.aio.models.generate_content(model=MODEL, contents="a")
        stream = await client.aio.models.generate_content_stream(model=MODEL, contents="b")
        async for _ in stream:
            pass

    asyncio.run(go())
    assert [e.method for e in audit.events] == ["generateContent", "streamGenerateContent"]
    assert all("x-golden-path-request-id" in c.headers for c in _model_calls(emulator))


@pytest.mark.skipif(
    not sdk.at_least("3.0"), reason="google-genai 2.x imports httpx itself: it is always installed"
)
def test_http_client_variable_naming_a_missing_library_changes_nothing(
    emulator: Emulator, tmp_path: Path
) -> None:
    """GOOGLE_GENAI_HTTP_CLIENT=httpx without httpx installed would crash the SDK's constructor;
    golden-path's client is built and works, and the variable is left as it was."""
    import subprocess
    import sys

    script = tmp_path / "app.py"
    script.write_text(
        "import os, sys\n"
        "sys.modules['httpx'] = None  # as on a machine where httpx is not installed\n"
        "import golden_path\n"
        "client = golden_path.create_client(backend='ai_studio', api_key='k', base_url=sys.argv[1],"
        " audit_sink='none', retry_attempts=1)\n"
        "answer = client.models.generate_content(model='gemini-2.5-flash', contents='still fine')\n"
        "print(answer.text)\n"
        "print(os.environ['GOOGLE_GENAI_HTTP_CLIENT'])\n"
        "from google import genai\n"
        "try:\n"
        "    genai.Client(api_key='k')\n"
        "except ImportError:\n"
        "    print('raw SDK fails')\n"
    )
    env = {
        # Coverage's own variables (under the coverage gate): they configure nothing else.
        **{k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")},
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "GOOGLE_GENAI_HTTP_CLIENT": "httpx",
    }
    result = subprocess.run(
        [sys.executable, str(script), emulator.url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "still fine" in lines[0]
    assert lines[1:] == ["httpx", "raw SDK fails"]
