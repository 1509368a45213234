"""The otel sink: GenAI semantic-convention spans and metrics, and no cost when it is off."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from google.genai import errors
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import golden_path
from golden_path.audit import OTelSink
from golden_path.emulator import Emulator
from golden_path.policies import Deny

MODEL = "gemini-2.5-flash"


class Telemetry:
    """An OTelSink wired to in-memory span and metric exporters."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.sink = OTelSink(tracer_provider, MeterProvider(metric_readers=[self.reader]))

    def finished(self) -> list[ReadableSpan]:
        """Spans ended so far."""
        return list(self.spans.get_finished_spans())

    def points(self, name: str) -> list[Any]:
        """Every data point of the metric ``name``."""
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        assert scope.scope.name == "golden_path"
                        found += [(metric, point) for point in metric.data.data_points]
        return found


@pytest.fixture(name="telemetry")
def _telemetry() -> Telemetry:
    return Telemetry()


@pytest.fixture(name="otel_client")
def _otel_client(emulator: Emulator, telemetry: Telemetry, audit: Any) -> Callable[..., Any]:
    def make(**overrides: Any) -> Any:
        settings: dict[str, Any] = {
            "backend": "ai_studio",
            "api_key": "k",
            "base_url": emulator.url,
            "retry_attempts": 1,
        }
        settings.update(overrides)
        return golden_path.create_client(audit_sinks=[audit, telemetry.sink], **settings)

    return make


def test_span_follows_genai_conventions(
    otel_client: Callable[..., Any], telemetry: Telemetry, audit: Any, emulator: Emulator
) -> None:
    """A successful call is one CLIENT span named after operation and model, with gen_ai.*
    attributes, token usage, server address and the audit event's start and end."""
    otel_client(app="chat", team="search").models.generate_content(model=MODEL, contents="hi")
    (span,) = telemetry.finished()
    event = audit.only()
    attrs = dict(span.attributes or {})
    assert span.name == f"generate_content {MODEL}"
    assert span.kind == SpanKind.CLIENT
    assert span.status.status_code == StatusCode.UNSET
    assert attrs["gen_ai.operation.name"] == "generate_content"
    assert attrs["gen_ai.provider.name"] == attrs["gen_ai.system"] == "gcp.gemini"
    assert attrs["gen_ai.request.model"] == MODEL
    assert attrs["gen_ai.usage.input_tokens"] == event.prompt_tokens
    assert attrs["gen_ai.usage.output_tokens"] == event.output_tokens
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["server.port"] == int(emulator.url.rsplit(":", 1)[1])
    assert attrs["http.response.status_code"] == 200
    assert attrs["golden_path.request_id"] == event.request_id
    assert (attrs["golden_path.app"], attrs["golden_path.team"]) == ("chat", "search")
    assert "error.type" not in attrs
    start = dt.datetime.fromisoformat(event.timestamp).timestamp() * 1e9
    assert span.start_time is not None
    assert span.end_time is not None
    assert abs(span.start_time - start) < 1e6  # the event's timestamp has millisecond precision
    assert span.end_time - span.start_time == pytest.approx(event.latency_ms * 1e6, abs=1e3)


def test_error_span_and_metrics(
    otel_client: Callable[..., Any], telemetry: Telemetry, emulator: Emulator
) -> None:
    """A failed call sets error.type on the span (status ERROR) and on the duration metric."""
    emulator.fail_next(429)
    with pytest.raises(errors.ClientError):
        otel_client().models.generate_content(model=MODEL, contents="hi")
    (span,) = telemetry.finished()
    assert span.status.status_code == StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "RESOURCE_EXHAUSTED"
    ((metric, point),) = telemetry.points("gen_ai.client.operation.duration")
    assert metric.unit == "s"
    assert point.attributes["error.type"] == "RESOURCE_EXHAUSTED"
    assert point.count == 1
    assert telemetry.points("gen_ai.client.token.usage") == []  # no usage on an error


def test_duration_and_token_metrics(
    otel_client: Callable[..., Any], telemetry: Telemetry, audit: Any
) -> None:
    """Durations are recorded in seconds; tokens as input and output points of one histogram."""
    client = otel_client()
    for _ in range(3):
        client.models.generate_content(model=MODEL, contents="hello there")
    ((_metric, point),) = telemetry.points("gen_ai.client.operation.duration")
    assert point.count == 3
    assert point.sum == pytest.approx(sum(e.latency_ms for e in audit.events) / 1000)
    assert point.attributes == {
        "gen_ai.operation.name": "generate_content",
        "gen_ai.provider.name": "gcp.gemini",
        "gen_ai.request.model": MODEL,
        "server.address": "127.0.0.1",
        "server.port": point.attributes["server.port"],
    }
    assert 0.01 in point.explicit_bounds  # the advised GenAI buckets
    tokens = {
        p.attributes["gen_ai.token.type"]: p
        for _, p in telemetry.points("gen_ai.client.token.usage")
    }
    assert tokens["input"].sum == sum(e.prompt_tokens for e in audit.events)
    assert tokens["output"].sum == sum(e.output_tokens for e in audit.events)
    assert tokens["input"].count == 3


def test_denied_and_cancelled_spans(otel_client: Callable[..., Any], telemetry: Telemetry) -> None:
    """A denial is an ERROR span naming the policy; an abandoned stream a span with
    error.type Cancelled but no ERROR status (the caller chose to stop)."""

    class NoPro:
        name = "models"

        def on_request(self, request: Any) -> None:
            if request.model == "gemini-2.5-pro":
                raise Deny("not here")

    client = otel_client(policies=[NoPro()])
    with pytest.raises(golden_path.PolicyViolation):
        client.models.generate_content(model="gemini-2.5-pro", contents="hi")
    stream = client.models.generate_content_stream(model=MODEL, contents="a b c d e f g h i j")
    next(stream)
    stream.close()
    denied, cancelled = telemetry.finished()
    assert denied.status.status_code == StatusCode.ERROR
    assert (denied.attributes or {})["golden_path.policy.denied_by"] == ("models",)
    assert (denied.attributes or {})["error.type"] == "PolicyViolation"
    assert cancelled.status.status_code == StatusCode.UNSET
    assert (cancelled.attributes or {})["error.type"] == "Cancelled"
    assert (cancelled.attributes or {})["golden_path.stream"] is True


def test_vertex_provider_and_other_operations(
    emulator: Emulator, telemetry: Telemetry, tmp_path: Any
) -> None:
    """Vertex calls say gcp.vertex_ai; embeddings and other methods get their operation names."""
    key = tmp_path / "sa.json"
    emulator.create_service_account_key(key)
    client = golden_path.create_client(
        backend="vertex",
        project="emu-project",
        location="europe-west4",
        credentials_file=str(key),
        base_url=emulator.url,
        retry_attempts=1,
        audit_sinks=[telemetry.sink],
    )
    # A gemini embedding model every supported SDK sends to :embedContent (before 3.4 the SDK
    # sent gemini-embedding-001 to :predict on Vertex).
    client.models.embed_content(model="gemini-embedding-2", contents="hi")
    client.models.count_tokens(model=MODEL, contents="hi")
    embed, count = telemetry.finished()
    assert (embed.attributes or {})["gen_ai.provider.name"] == "gcp.vertex_ai"
    assert (embed.attributes or {})["gen_ai.operation.name"] == "embeddings"
    assert (embed.attributes or {})["gcp.project_id"] == "emu-project"
    assert (count.attributes or {})["gen_ai.operation.name"] == "countTokens"


def test_span_parent_is_the_callers_span(
    otel_client: Callable[..., Any], telemetry: Telemetry
) -> None:
    """A call made inside an app's span becomes its child, so traces show the model call."""
    tracer = TracerProvider().get_tracer("app")
    with tracer.start_as_current_span("handle-request") as parent:
        otel_client().models.generate_content(model=MODEL, contents="hi")
    (span,) = telemetry.finished()
    assert span.parent is not None
    assert span.parent.span_id == parent.get_span_context().span_id


def test_otel_setting_builds_the_sink(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """GOLDEN_PATH_AUDIT_SINK=stderr,otel gives both sinks; calls work with the global
    (no-op by default) providers."""
    monkeypatch.setenv("GOLDEN_PATH_AUDIT_SINK", "stderr,otel")
    client = golden_path.create_client(backend="ai_studio", api_key="k", base_url=emulator.url)
    sinks = client._api_client._httpx_client._transport.pipeline.auditor.sinks
    assert [type(s).__name__ for s in sinks] == ["JsonLinesSink", "OTelSink"]
    assert client.models.generate_content(model=MODEL, contents="hi").text


def _python(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOLDEN_PATH_")}
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_no_opentelemetry_import_unless_configured(emulator: Emulator) -> None:
    """import golden_path, and a client (with calls) without otel, never import opentelemetry."""
    code = f"""
import sys, json
import golden_path
import golden_path.audit
before = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
client = golden_path.create_client(backend="ai_studio", api_key="k", base_url={emulator.url!r},
                                   audit_sink="stderr,logging")
client.models.generate_content(model="gemini-2.5-flash", contents="hi")
after = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
print(json.dumps([before, after]))
"""
    result = _python(code)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [[], []]


def test_otel_without_the_extra_says_what_to_install(emulator: Emulator) -> None:
    """With opentelemetry missing, audit_sink=otel is a ConfigError telling to install
    golden-path[otel]."""
    code = f"""
import sys
sys.modules["opentelemetry"] = None  # as if the extra were not installed
import golden_path
try:
    golden_path.create_client(backend="ai_studio", api_key="k", base_url={emulator.url!r},
                              audit_sink="otel")
except golden_path.ConfigError as exc:
    print(exc.fields, exc)
"""
    result = _python(code)
    assert result.returncode == 0, result.stderr
    assert "audit_sink" in result.stdout
    assert "pip install 'golden-path[otel]'" in result.stdout


def test_public_otel_sink_without_the_extra_says_what_to_install() -> None:
    """``golden_path.audit.OTelSink`` without opentelemetry is an ImportError naming the extra;
    the other audit names still import."""
    code = """
import sys
sys.modules["opentelemetry"] = None  # as if the extra were not installed
from golden_path.audit import AuditEvent
try:
    from golden_path.audit import OTelSink
except ImportError as exc:
    print(exc)
"""
    result = _python(code)
    assert result.returncode == 0, result.stderr
    assert "pip install 'golden-path[otel]'" in result.stdout


def test_exporter_failures_are_counted_and_make_the_sink_not_ready(emulator: Emulator) -> None:
    """A collector that is down loses spans inside the SDK's processor; golden-path counts
    the failures, and the sink reports itself not ready (doctor, audit_required)."""
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Down(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            raise ConnectionRefusedError("collector down")

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Down()))
    sink = OTelSink(provider, MeterProvider())
    before = sink.exporter_failures
    client = golden_path.create_client(
        backend="ai_studio", api_key="k", base_url=emulator.url, audit_sinks=[sink]
    )
    assert client.models.generate_content(model="gemini-2.5-flash", contents="hi").text
    reason = sink.ready()
    assert reason is not None
    assert "exporter failed" in reason
    assert sink.exporter_failures > before
    provider.shutdown()


def test_otel_sink_without_a_provider_is_not_ready() -> None:
    """With no TracerProvider set up, spans go nowhere: the sink says so instead of pretending."""
    from opentelemetry import trace

    sink = OTelSink(trace.NoOpTracerProvider(), MeterProvider())
    reason = sink.ready()
    assert reason is not None
    assert "no OpenTelemetry TracerProvider" in reason
