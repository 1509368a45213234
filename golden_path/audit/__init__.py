"""The audit trail: one ``genai.request`` event per HTTP request, to configurable sinks.

See docs/audit.md. Audit events pass the structlog processors added with :func:`add_processor`;
the ``structlog`` sink routes them through the app's structlog configuration, and
:func:`current_request_id` is the id bound (``golden_path_request_id``) while a call runs.
The ``otel`` sink (:class:`OTelSink`) is imported only when configured or first named, so
OpenTelemetry stays an optional extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
    "OTelSink",
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

if TYPE_CHECKING:
    from golden_path.audit._otel import OTelSink


def __getattr__(name: str) -> Any:
    # OTelSink needs the otel extra: importing golden_path.audit must not import OpenTelemetry.
    if name != "OTelSink":
        raise AttributeError(f"module 'golden_path.audit' has no attribute {name!r}")
    try:
        from golden_path.audit._otel import OTelSink
    except ImportError as exc:
        raise ImportError(
            f"golden_path.audit.OTelSink needs OpenTelemetry, which is not installed ({exc.name} "
            "is missing); fix: pip install 'golden-path[otel]'",
            name=exc.name,
        ) from None
    globals()["OTelSink"] = OTelSink
    return OTelSink
