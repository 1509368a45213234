"""Where audit events go: sinks behind one Protocol; a failing sink never breaks a call."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Protocol, runtime_checkable

from golden_path.audit._events import EVENT_NAME, AuditEvent

__all__ = ["AuditSink", "Auditor", "JsonLinesSink", "LoggingSink", "sink_from_setting"]

log = logging.getLogger("golden_path.audit")


@runtime_checkable
class AuditSink(Protocol):
    """Anything that can take an event; it may raise, the Auditor contains it."""

    def write(self, event: AuditEvent) -> None:
        """Persist or forward one event."""


def _dumps(event: AuditEvent) -> str:
    return json.dumps(event.as_dict(), separators=(",", ":"), default=str)


class JsonLinesSink:
    """One JSON object per line on a text stream (stderr, stdout) or an append-only file."""

    def __init__(self, stream: IO[str] | None = None, *, path: Path | None = None) -> None:
        self._stream = stream
        self._path = path
        self._lock = threading.Lock()

    def write(self, event: AuditEvent) -> None:
        """Write one line; the lock keeps lines whole under threads."""
        line = _dumps(event) + "\n"
        with self._lock:
            if self._path is not None:
                with self._path.open("a", encoding="utf-8") as fh:
                    fh.write(line)
            else:
                stream = self._stream or sys.stderr
                stream.write(line)
                stream.flush()


class LoggingSink:
    """The stdlib logger ``golden_path.audit``, for apps that already route logging."""

    def write(self, event: AuditEvent) -> None:
        """Log at the level matching the outcome, with the event as ``extra``."""
        level = logging.WARNING if event.outcome in ("denied", "error") else logging.INFO
        log.log(level, EVENT_NAME, extra={"audit": event.as_dict()})


def sink_from_setting(value: str) -> list[AuditSink]:
    """``stderr`` | ``stdout`` | ``file:/path`` | ``logging`` | ``none``."""
    if value == "none":
        return []
    if value == "stderr":
        return [JsonLinesSink()]
    if value == "stdout":
        return [JsonLinesSink(sys.stdout)]
    if value == "logging":
        return [LoggingSink()]
    if value.startswith("file:"):
        return [JsonLinesSink(path=Path(value.removeprefix("file:")))]
    raise ValueError(f"unknown audit sink {value!r}")


class Auditor:
    """Fans an event out to every sink; counts failures and reports each failing sink once."""

    def __init__(self, sinks: Sequence[AuditSink]) -> None:
        self.sinks = tuple(sinks)
        self.failures = 0
        self._reported: set[int] = set()

    def emit(self, event: AuditEvent) -> None:
        """Deliver to every sink; never raises."""
        for sink in self.sinks:
            try:
                sink.write(event)
            except Exception as exc:  # noqa: BLE001 - a sink failure must not fail the call
                self.failures += 1
                if id(sink) not in self._reported:
                    self._reported.add(id(sink))
                    log.warning("audit sink %s failed (%s); further failures are counted, "
                                "not logged", type(sink).__name__, type(exc).__name__)
