"""The audit trail: one ``genai.request`` event per HTTP request, to configurable sinks."""

from golden_path.audit._events import EVENT_NAME, AuditEvent, Outcome
from golden_path.audit._sinks import AuditSink, Auditor, JsonLinesSink, LoggingSink

__all__ = ["EVENT_NAME", "AuditEvent", "AuditSink", "Auditor", "JsonLinesSink", "LoggingSink",
           "Outcome"]
