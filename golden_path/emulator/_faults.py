"""Scripted responses and injected faults: one FIFO queue, each entry used by matching requests.

Faults (fail, drop, malformed) match any model API request; scripts match generation requests
(generateContent, streamGenerateContent, chat completions), optionally for one model; a stream
error matches only streaming requests. Token, STS and IAM requests never match, so credential
flows keep working while the model API misbehaves.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any, Literal

FaultKind = Literal["fail", "drop", "malformed", "script", "stream_error"]

MALFORMED_BODY = b'{"candidates": [{"content": {"role": "model", "parts": [{"text": "trunc'
"""A 200 body that is cut off mid-JSON, as a broken proxy would deliver it."""


@dataclasses.dataclass(slots=True)
class Fault:
    """One queued behaviour and how many more requests it applies to."""

    kind: FaultKind
    remaining: int = 1
    status: int = 200
    body: Any = None
    message: str | None = None
    retry_delay_s: float | None = None
    model: str | None = None
    chunks: int = 0

    def matches(self, *, generation: bool, stream: bool, model: str) -> bool:
        """Whether this entry applies to a request with these properties."""
        if self.kind == "script":
            return generation and (self.model is None or _same_model(self.model, model))
        if self.kind == "stream_error":
            return stream
        return True


class Faults:
    """The thread-safe queue of faults and scripts, plus the latency setting."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[Fault] = []
        self._latency_s = 0.0

    @property
    def latency_s(self) -> float:
        """Seconds to wait before answering each model API request."""
        with self._lock:
            return self._latency_s

    @latency_s.setter
    def latency_s(self, seconds: float) -> None:
        with self._lock:
            self._latency_s = max(float(seconds), 0.0)

    def add(self, fault: Fault) -> None:
        """Queue ``fault`` behind the ones already queued."""
        if fault.remaining < 1:
            raise ValueError(f"times must be at least 1, got {fault.remaining}")
        with self._lock:
            self._queue.append(fault)

    def take(self, *, generation: bool, stream: bool, model: str) -> Fault | None:
        """Use up the first queued entry that matches this request, if any."""
        with self._lock:
            for fault in self._queue:
                if fault.matches(generation=generation, stream=stream, model=model):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._queue.remove(fault)
                    return dataclasses.replace(fault)
        return None

    def pending(self) -> int:
        """How many entries are still queued."""
        with self._lock:
            return len(self._queue)

    def clear(self) -> None:
        """Forget every queued entry and the latency."""
        with self._lock:
            self._queue.clear()
            self._latency_s = 0.0


def _same_model(wanted: str, model: str) -> bool:
    def bare(name: str) -> str:
        return name.rsplit("/", 1)[-1]

    return bare(wanted) == bare(model)
