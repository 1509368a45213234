"""The ``otel`` audit sink: a span and two metrics per request, per the GenAI semantic conventions.

Needs the ``golden-path[otel]`` extra (opentelemetry-api and -sdk); nothing imports this module
unless ``otel`` is configured, so apps without it pay nothing. Spans and metrics go to the
global tracer and meter providers unless others are given, so whatever the app (or the
OpenTelemetry operator, or ``opentelemetry-instrument``) set up receives them.

docs/audit.md lists the attributes (the OpenTelemetry GenAI semantic conventions' names).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from golden_path._version import VERSION
from golden_path.audit._events import AuditEvent

__all__ = ["DURATION_METRIC", "TOKEN_METRIC", "OTelSink", "operation_name", "provider_name"]

DURATION_METRIC = "gen_ai.client.operation.duration"
TOKEN_METRIC = "gen_ai.client.token.usage"  # noqa: S105 - a metric name, not a secret

# The buckets the semantic conventions advise for these two histograms.
_DURATION_BUCKETS = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
)
_TOKEN_BUCKETS = (
    1,
    4,
    16,
    64,
    256,
    1024,
    4096,
    16384,
    65536,
    262144,
    1048576,
    4194304,
    16777216,
    67108864,
)

_OPERATIONS = {
    "generateContent": "generate_content",
    "streamGenerateContent": "generate_content",
    "chat.completions": "chat",
    "embedContent": "embeddings",
    "batchEmbedContents": "embeddings",
    "embeddings": "embeddings",
}


def operation_name(method: str) -> str:
    """``gen_ai.operation.name``: a well-known value where one fits, else the API method."""
    return _OPERATIONS.get(method, method)


def provider_name(backend: str) -> str:
    """``gen_ai.provider.name``: Vertex AI or the Gemini Developer API (which the emulator is)."""
    return "gcp.vertex_ai" if backend == "vertex" else "gcp.gemini"


# Where the OpenTelemetry SDK reports export failures: its batch processors catch exporter
# exceptions and log them, so a collector that is down would otherwise lose spans in silence.
_EXPORT_LOGGERS = (
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.sdk.trace.export",
    "opentelemetry.sdk.metrics._internal.export",
    "opentelemetry.sdk._logs._internal.export",
    "opentelemetry.exporter",
)


class _ExportFailures(logging.Handler):
    """Counts the export errors the OpenTelemetry SDK logs, process-wide."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.count = 0
        self._count_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._count_lock:
            self.count += 1


_failures: _ExportFailures | None = None
_install_lock = threading.Lock()


def _export_failures() -> _ExportFailures:
    global _failures  # noqa: PLW0603 - one counter per process, like the SDK's own providers
    with _install_lock:
        if _failures is None:
            _failures = _ExportFailures()
            for name in _EXPORT_LOGGERS:
                logging.getLogger(name).addHandler(_failures)
        return _failures


def _start_ns(event: AuditEvent) -> int:
    started = dt.datetime.fromisoformat(event.timestamp)
    return int(started.timestamp() * 1_000_000) * 1000


class OTelSink:
    """A CLIENT span per request, with its real start and end, and the two histograms.

    Pass providers to use others than the global ones (tests use in-memory ones).
    """

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self._tracer_provider = tracer_provider
        self._failures = _export_failures()
        self._tracer = trace.get_tracer("golden_path", VERSION, tracer_provider=tracer_provider)
        meter = metrics.get_meter("golden_path", VERSION, meter_provider=meter_provider)
        self._duration = meter.create_histogram(
            DURATION_METRIC,
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self._tokens = meter.create_histogram(
            TOKEN_METRIC,
            unit="{token}",
            description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )

    def write(self, event: AuditEvent) -> None:
        """Record the span and the metrics of one finished request."""
        operation = operation_name(event.method)
        provider = provider_name(event.backend)
        common: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": provider,
        }
        if event.model:
            common["gen_ai.request.model"] = event.model
        if event.server_address:
            common["server.address"] = event.server_address
        if event.server_port:
            common["server.port"] = event.server_port
        error_type = None
        if event.outcome != "ok":
            error_type = event.error_type or event.outcome
            common["error.type"] = error_type

        attributes = dict(common)
        attributes["gen_ai.system"] = provider  # the older name, still read by many backends
        attributes["golden_path.request_id"] = event.request_id
        attributes["golden_path.outcome"] = event.outcome
        attributes["golden_path.method"] = event.method
        attributes["golden_path.stream"] = event.stream
        attributes["golden_path.client_id"] = event.client_id
        optional = (
            ("gen_ai.usage.input_tokens", event.prompt_tokens),
            ("gen_ai.usage.output_tokens", event.output_tokens),
            ("http.response.status_code", event.http_status),
            ("golden_path.app", event.app),
            ("golden_path.team", event.team),
            ("golden_path.ttft_ms", event.ttft_ms),
            ("gcp.project_id", event.project),
            ("cloud.region", event.location),
        )
        attributes.update((key, value) for key, value in optional if value is not None)
        denials = [
            d["policy"]
            for d in event.policy
            if d.get("action") == "deny" and d.get("enforced", True)
        ]
        if denials:
            attributes["golden_path.policy.denied_by"] = denials

        start = _start_ns(event)
        end = start + int(event.latency_ms * 1_000_000)
        name = f"{operation} {event.model}" if event.model else operation
        span = self._tracer.start_span(
            name, kind=SpanKind.CLIENT, attributes=attributes, start_time=start
        )
        if event.outcome in ("error", "denied"):
            span.set_status(Status(StatusCode.ERROR, error_type))
        span.end(end_time=end)

        self._duration.record(event.latency_ms / 1000, common)
        if event.prompt_tokens is not None:
            self._tokens.record(event.prompt_tokens, {**common, "gen_ai.token.type": "input"})
        if event.output_tokens is not None:
            self._tokens.record(event.output_tokens, {**common, "gen_ai.token.type": "output"})

    @property
    def exporter_failures(self) -> int:
        """Export errors the OpenTelemetry SDK reported in this process.

        Spans or metrics lost on their way to the collector.
        """
        return self._failures.count

    def ready(self) -> str | None:
        """None when spans have somewhere to go and no export has failed since the last check.

        ``audit_required`` and ``golden-path doctor`` ask this.
        """
        provider = self._tracer_provider or trace.get_tracer_provider()
        if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
            return (
                "no OpenTelemetry TracerProvider is set up in this process, so spans go "
                "nowhere; run under opentelemetry-instrument or set one up before the first call"
            )
        flush = getattr(provider, "force_flush", None)
        before = self._failures.count
        if callable(flush):
            flush(5000)
        if self._failures.count > before:
            return f"the span exporter failed ({self._failures.count} export errors so far)"
        return None

    def __repr__(self) -> str:
        return "OTelSink()"
