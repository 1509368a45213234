"""No secret anywhere: every failure path, every sink, every exception, repr and CLI output.

A recognisable API key, the service-account private key and the access tokens the emulator
issued are searched for in everything a user, a log pipeline or an on-call could see.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import json
import logging
import os
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import golden_path
from golden_path.audit import (
    AuditEvent,
    FileSink,
    JsonLinesSink,
    LoggingSink,
    OTelSink,
    render_json,
)
from golden_path.emulator import Emulator
from golden_path.policies import Deny

API_KEY = "AIzaSyTEST-SECRET-KEY-0000000000000000"
MODEL = "gemini-2.5-flash"
LONG = "a story please " + " ".join(f"w{n}" for n in range(30))


class Evidence:
    """Everything that was shown or written, to be searched for secrets at the end."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.events: list[AuditEvent] = []

    def write(self, event: AuditEvent) -> None:
        """Be an audit sink too: keep the rendered line and the event's repr."""
        self.events.append(event)
        self.texts += [render_json(event), repr(event)]

    def exception(self, exc: BaseException) -> None:
        """Keep what a caller could print of an exception (with notes and chained causes)."""
        self.texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
        response = getattr(exc, "response", None)
        if response is not None:
            self.texts += [
                repr(getattr(response, "headers", "")),
                repr(getattr(response, "body_segments", "")),
            ]

    def attempt(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a call and keep its exception, if any."""
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            self.exception(exc)
            return None


@pytest.fixture(name="secrets_env")
def _secrets_env(emulator: Emulator, tmp_path: Path) -> dict[str, Any]:
    emulator.add_api_key(API_KEY)
    key_file = tmp_path / "sa.json"
    info = emulator.create_service_account_key(key_file)
    private_key = info["private_key"]
    # The body of the PEM, line by line: any one of them leaking is a leak.
    pem_lines = [line for line in private_key.splitlines() if line and "-----" not in line]
    return {"key_file": key_file, "pem_lines": pem_lines, "private_key_id": info["private_key_id"]}


def secrets_of(emulator: Emulator, env: dict[str, Any]) -> list[str]:
    """Every secret in play: the API key, the private key's lines and its id, every token."""
    tokens = [t.token for t in emulator.issued_tokens]
    assert tokens, "the Vertex calls should have fetched an access token"
    return [API_KEY, *env["pem_lines"], env["private_key_id"], *tokens]


def exercise(client: Any, emulator: Emulator, evidence: Evidence, pasted: str = "") -> None:
    """Every way a request can end, through one client."""
    models = client.models
    evidence.attempt(models.generate_content, model=MODEL, contents="hi")
    # The prompt itself carries the client's own credential (and ``pasted``): content capture
    # must redact them, in the prompt and in the echoed answer.
    own = (
        API_KEY
        if emulator.api_requests()[-1].principal.startswith("api_key:")
        else (emulator.issued_tokens[-1].token)
    )
    evidence.attempt(
        models.generate_content,
        model=MODEL,
        contents=f"my credential is {own}, please keep it. {pasted}",
    )
    for fault in ("429", "500", "503"):
        emulator.fail_next(int(fault))
        evidence.attempt(models.generate_content, model=MODEL, contents="hi")
    emulator.drop_next()
    evidence.attempt(models.generate_content, model=MODEL, contents="hi")
    emulator.malformed_next()
    evidence.attempt(models.generate_content, model=MODEL, contents="hi")
    evidence.attempt(lambda: list(models.generate_content_stream(model=MODEL, contents=LONG)))
    emulator.stream_error_after(1)
    evidence.attempt(lambda: list(models.generate_content_stream(model=MODEL, contents=LONG)))
    emulator.malformed_next()
    evidence.attempt(lambda: list(models.generate_content_stream(model=MODEL, contents=LONG)))
    stream = models.generate_content_stream(model=MODEL, contents=LONG)
    next(stream)
    del stream
    gc.collect()
    evidence.attempt(models.generate_content, model="gemini-2.5-pro", contents="deny me")
    evidence.attempt(models.count_tokens, model=MODEL, contents="hi")
    evidence.attempt(models.embed_content, model="gemini-embedding-001", contents="hi")
    evidence.attempt(models.get, model="no-such-model-xyz")
    evidence.attempt(lambda: list(models.list()))

    async def aio() -> None:
        await asyncio.sleep(0)
        emulator.set_latency(0.5)
        try:
            await asyncio.wait_for(
                client.aio.models.generate_content(model=MODEL, contents="hi"), 0.1
            )
        except TimeoutError as exc:
            evidence.exception(exc)
        emulator.set_latency(0)
        emulator.fail_next(429)
        try:
            await client.aio.models.generate_content(model=MODEL, contents="hi")
        except Exception as exc:
            evidence.exception(exc)

    asyncio.run(aio())
    emulator.set_latency(1)
    evidence.attempt(models.generate_content, model=MODEL, contents="hi")  # times out (0.3 s)
    emulator.set_latency(0)


class NoPro:
    """Denies gemini-2.5-pro."""

    name = "models"

    def on_request(self, request: Any) -> None:
        if request.model == "gemini-2.5-pro":
            raise Deny("model not allowed here")


def test_no_secret_in_sinks_errors_or_reprs(
    emulator: Emulator,
    secrets_env: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Through an AI Studio key and a Vertex service account, every failure path leaves no
    key, token or private key in any sink (stderr, stdout, file, logging, OTel), exception
    text, traceback, or repr of settings, clients, sinks and events."""
    evidence = Evidence()
    audit_file = tmp_path / "audit.jsonl"
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    otel = OTelSink(tracer_provider, MeterProvider(metric_readers=[reader]))
    sinks = [
        evidence,
        JsonLinesSink(),
        JsonLinesSink(sys.stdout),
        FileSink(audit_file),
        LoggingSink(),
        otel,
    ]

    common = {
        "base_url": emulator.url,
        "retry_attempts": 1,
        "timeout_s": 0.3,
        "audit_content": "redacted",
        "app": "secrets",
        "team": "sec",
    }
    studio = golden_path.create_client(
        backend="ai_studio", api_key=API_KEY, audit_sinks=sinks, policies=[NoPro()], **common
    )
    vertex = golden_path.create_client(
        backend="vertex",
        project="emu-project",
        location="europe-west4",
        credentials_file=str(secrets_env["key_file"]),
        audit_sinks=sinks,
        policies=[NoPro()],
        **common,
    )
    express = golden_path.create_client(
        backend="vertex", api_key=API_KEY, audit_sinks=sinks, **common
    )
    with caplog.at_level(logging.DEBUG):
        exercise(studio, emulator, evidence)
        key_text = secrets_env["key_file"].read_text()
        exercise(vertex, emulator, evidence, pasted=json.loads(key_text)["private_key"])
        exercise(express, emulator, evidence)
        # A key the server refuses, and a key file whose token endpoint fails.
        bad = golden_path.create_client(
            backend="ai_studio", api_key=API_KEY[:-4] + "9999", audit_sinks=sinks, **common
        )
        evidence.attempt(bad.models.generate_content, model=MODEL, contents="hi")
        emulator.fail_next(500)
        evidence.attempt(vertex.models.generate_content, model=MODEL, contents="hi")

    settings = golden_path.load_settings(backend="ai_studio", api_key=API_KEY).settings
    evidence.texts += [
        repr(settings),
        str(settings),
        repr(settings.model_dump()),
        settings.model_dump_json(),
        repr(studio),
        repr(vertex),
        repr(vertex._api_client),
        repr(sinks),
        repr(otel),
    ]
    for client in (studio, vertex, express):
        transport = client._api_client._httpx_client._transport
        evidence.texts += [
            repr(transport),
            repr(transport.pipeline.auditor),
            repr(transport.pipeline.identity),
        ]
    captured = capsys.readouterr()
    evidence.texts += [captured.out, captured.err, audit_file.read_text()]
    evidence.texts += [r.getMessage() for r in caplog.records]
    evidence.texts += [
        json.dumps(dict(s.attributes or {})) + s.name for s in spans.get_finished_spans()
    ]
    evidence.texts.append(reader.get_metrics_data().to_json())

    # The paths were really taken: every outcome, both backends, and redacted content.
    outcomes = {(e.backend, e.outcome) for e in evidence.events}
    assert {
        ("ai_studio", "ok"),
        ("ai_studio", "error"),
        ("ai_studio", "denied"),
        ("ai_studio", "cancelled"),
        ("vertex", "ok"),
        ("vertex", "error"),
        ("vertex", "denied"),
        ("vertex", "cancelled"),
    } <= outcomes
    redacted = [e for e in evidence.events if e.content and "redactions" in e.content]
    assert redacted
    assert "[REDACTED:secret]" in json.dumps(redacted[0].content)
    assert len(spans.get_finished_spans()) == len(evidence.events)

    everything = "\n".join(evidence.texts)
    for secret in secrets_of(emulator, secrets_env):
        assert secret not in everything, f"secret {secret[:6]}... leaked"
    # Nothing that looks like an Authorization header value either.
    assert "Bearer ya29" not in everything
    assert "x-goog-api-key" not in everything.lower() or API_KEY not in everything


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The golden-path command as a user runs it."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GOLDEN_PATH_", "GOOGLE_", "GEMINI_"))
    }
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "golden_path", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_no_secret_in_cli_output(
    emulator: Emulator, secrets_env: dict[str, Any], tmp_path: Path
) -> None:
    """config, doctor, generate (ok and failing) and audit tail/summary print no secret, for
    an API key and for a service-account key file."""
    emulator.add_api_key(API_KEY)
    audit_file = tmp_path / "audit.jsonl"
    studio = {
        "GOLDEN_PATH_BACKEND": "ai_studio",
        "GOLDEN_PATH_API_KEY": API_KEY,
        "GOLDEN_PATH_BASE_URL": emulator.url,
        "GOLDEN_PATH_AUDIT_SINK": f"file:{audit_file}",
        "GOLDEN_PATH_AUDIT_CONTENT": "redacted",
        "GOLDEN_PATH_RETRY_ATTEMPTS": "1",
    }
    vertex = {
        "GOLDEN_PATH_BACKEND": "vertex",
        "GOLDEN_PATH_PROJECT": "emu-project",
        "GOLDEN_PATH_LOCATION": "europe-west4",
        "GOLDEN_PATH_CREDENTIALS_FILE": str(secrets_env["key_file"]),
        "GOLDEN_PATH_BASE_URL": emulator.url,
        "GOLDEN_PATH_AUDIT_SINK": "stderr",
        "GOLDEN_PATH_AUDIT_CONTENT": "redacted",
        "GOLDEN_PATH_RETRY_ATTEMPTS": "1",
    }
    wrong_key = {**studio, "GOLDEN_PATH_API_KEY": API_KEY[:-4] + "9999"}
    bad_setting = {**studio, "GOLDEN_PATH_TIMEOUT_S": "-1", "GOLDEN_PATH_AUDIT_SINK": "syslog"}
    runs = [
        (studio, ("config", "--json")),
        (studio, ("doctor",)),
        (studio, ("generate", "--model", MODEL, f"repeat {API_KEY}")),
        (vertex, ("config",)),
        (vertex, ("doctor",)),
        (vertex, ("generate", "--no-stream", "--json", "--model", MODEL, "hi")),
        (wrong_key, ("generate", "--model", MODEL, "hi")),
        (bad_setting, ("config",)),
    ]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda run: run_cli(*run[1], env=run[0]), runs))
    # The model's answer to a prompt holding the key is the user's own text on their own
    # terminal (the emulator echoes it); only stderr, and the audit trail, must not show it.
    pasted = results[2]
    assert pasted.returncode == 0
    results[2] = subprocess.CompletedProcess(pasted.args, 0, "", pasted.stderr)
    results += [
        run_cli("audit", "tail", "-n", "0", str(audit_file), env={}),
        run_cli("audit", "summary", str(audit_file), env={}),
    ]
    assert "[REDACTED:secret]" in audit_file.read_text()
    assert any(r.returncode == 0 for r in results)
    assert any(r.returncode != 0 for r in results)
    assert audit_file.read_text().count("genai.request") >= 2
    everything = "\n".join(r.stdout + r.stderr for r in results)
    assert "Traceback" not in everything
    for secret in secrets_of(emulator, secrets_env):
        assert secret not in everything, f"secret {secret[:6]}... leaked"
