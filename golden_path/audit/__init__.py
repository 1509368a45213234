"""The audit trail: one ``genai.request`` event per HTTP request, to configurable sinks.

See docs/audit.md. ``golden_path.audit._otel`` (the ``otel`` sink) is imported only when
configured, so OpenTelemetry stays an optional extra.
"""

from golden_path.audit._events import EVENT_NAME, AuditEvent, Outcome
from golden_path.audit._sinks import (
    Auditor,
    AuditSink,
    FileSink,
    JsonLinesSink,
    LoggingSink,
    add_sink,
    remove_sink,
    render_json,
    sink_from_setting,
)

__all__ = [
    "EVENT_NAME",
    "AuditEvent",
    "AuditSink",
    "Auditor",
    "FileSink",
    "JsonLinesSink",
    "LoggingSink",
    "Outcome",
    "add_sink",
    "remove_sink",
    "render_json",
    "sink_from_setting",
]
