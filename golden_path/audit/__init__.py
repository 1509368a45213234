"""The audit trail: one ``genai.request`` event per HTTP request, to configurable sinks.

See docs/audit.md. Audit events pass the structlog processors added with :func:`add_processor`;
the ``structlog`` sink routes them through the app's structlog configuration, and
:func:`current_request_id` is the id bound (``golden_path_request_id``) while a call runs.
The ``otel`` sink is imported only when configured, so OpenTelemetry stays an optional extra.
"""

from golden_path._log import current_request_id
from golden_path.audit._events import EVENT_NAME, AuditEvent, Outcome
from golden_path.audit._sinks import (
    Auditor,
    AuditSink,
    FileSink,
    JsonLinesSink,
    LoggingSink,
    StructlogSink,
    add_processor,
    add_sink,
    remove_processor,
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
    "StructlogSink",
    "add_processor",
    "add_sink",
    "current_request_id",
    "remove_processor",
    "remove_sink",
    "render_json",
    "sink_from_setting",
]
