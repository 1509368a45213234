"""Per-event CPU cost of the audit trail: rendering and each sink.

Run: ``python benchmarks/audit_emit.py``. Budget: well under 50 us per event for the JSON-lines
sinks. Figures are CPU time of this process (what an event costs the app); on a loaded machine
they all inflate, so read them against the ``json.dumps`` floor printed first.
"""

from __future__ import annotations

import io
import json
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from golden_path.audit import (
    AuditEvent,
    Auditor,
    FileSink,
    JsonLinesSink,
    LoggingSink,
    render_json,
)

EVENT = AuditEvent(
    timestamp="2026-01-02T03:04:05.678Z",
    request_id="0123456789abcdef",
    app="chat",
    team="search",
    client_id="acme-golden-path/1.0",
    backend="ai_studio",
    project=None,
    location=None,
    surface="genai",
    model="gemini-2.5-flash",
    method="generateContent",
    http_method="POST",
    path="/v1/models/gemini-2.5-flash:generateContent",
    stream=False,
    outcome="ok",
    http_status=200,
    error_type=None,
    latency_ms=12.5,
    ttft_ms=None,
    prompt_tokens=3,
    output_tokens=5,
    cached_tokens=None,
    thoughts_tokens=None,
    total_tokens=8,
    policy=({"policy": "models", "action": "allow", "reason": "", "enforced": True},),
    sdk_version="3.4.0",
    golden_path_version="0.1.0",
    server_address="127.0.0.1",
    server_port=443,
)


def report(label: str, fn: Callable[[], object], n: int = 20_000, repeat: int = 5) -> None:
    runs = []
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(n):
            fn()
        runs.append((time.process_time() - start) / n * 1e6)
    print(f"{label:<38} {statistics.median(runs):7.2f} us")


def main() -> None:
    plain = EVENT.as_dict()
    report("json.dumps(dict) (the floor)", lambda: json.dumps(plain))
    report("AuditEvent.as_dict", EVENT.as_dict)
    report("render_json", lambda: render_json(EVENT))
    to_memory = Auditor([JsonLinesSink(io.StringIO())])
    report("emit -> JsonLinesSink(StringIO)", lambda: to_memory.emit(EVENT))
    with tempfile.TemporaryDirectory() as tmp:
        to_file = Auditor([FileSink(Path(tmp) / "audit.jsonl")])
        report("emit -> FileSink", lambda: to_file.emit(EVENT))
    with open(os.devnull, "w") as devnull:
        to_null = Auditor([JsonLinesSink(devnull)])
        report("emit -> JsonLinesSink(/dev/null)", lambda: to_null.emit(EVENT))
    logging.getLogger("golden_path.audit").setLevel(logging.WARNING)
    quiet = Auditor([LoggingSink()])
    report("emit -> LoggingSink (level off)", lambda: quiet.emit(EVENT))
    try:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.trace import TracerProvider

        from golden_path.audit._otel import OTelSink
    except ImportError:
        return
    otel = Auditor([OTelSink(TracerProvider(), MeterProvider())])
    report("emit -> OTelSink (SDK, no exporter)", lambda: otel.emit(EVENT), n=5000)


if __name__ == "__main__":
    main()
