"""The emulator's clock: wall time plus an offset a test moves with ``Emulator.advance``.

Long-running resources (file processing, batches, tuning jobs, video operations, cache expiry)
change state when this clock passes their deadlines, so a test can walk a batch from PENDING to
SUCCEEDED without sleeping.
"""

from __future__ import annotations

import datetime
import re
import threading
import time

_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)s\s*$")


class Clock:
    """Wall time, shifted by what tests asked to skip."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Seconds since the epoch, as the emulator sees them."""
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward (never back)."""
        if seconds < 0:
            raise ValueError(f"the emulator's clock only moves forward, got {seconds} s")
        with self._lock:
            self._offset += seconds


def rfc3339(seconds: float) -> str:
    """Google's timestamp spelling, microseconds and ``Z``."""
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339(text: object) -> float | None:
    """Seconds since the epoch for an RFC 3339 timestamp, None when it is not one."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def parse_duration(text: object) -> float | None:
    """Seconds for a protobuf Duration (``"3600s"``, ``"1.5s"``), None when it is not one."""
    if not isinstance(text, str):
        return None
    match = _DURATION.match(text)
    return float(match[1]) if match else None
