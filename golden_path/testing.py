"""Test helpers for apps built on golden-path: an emulator-backed configuration, captured audit.

Use them through the pytest plugin (fixtures ``gemini_emulator``, ``golden_path_client``,
``golden_path_audit``; see docs/testing.md), or directly::

    with golden_path.testing.emulated() as emu, golden_path.testing.capture_audit() as audit:
        my_app.run()            # calls golden_path.client() somewhere inside
        assert audit.events[-1].outcome == "ok"

Everything here undoes what it did on exit (environment, added sinks), and uses only the public
API an app could call itself: configuration through ``GOLDEN_PATH_*`` variables,
``golden_path.audit.add_sink``, ``golden_path.emulator.Emulator``. :func:`reset` returns the
process to how it was at import (cached clients, the embedded emulator, limit stores, added
sinks; see docs/testing.md).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from golden_path.audit import AuditEvent
    from golden_path.emulator import Emulator

__all__ = ["AuditCapture", "capture_audit", "emulated", "reset"]


class AuditCapture:
    """An audit sink that keeps every event in memory."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def write(self, event: AuditEvent) -> None:
        """Keep the event."""
        self.events.append(event)

    def outcomes(self) -> list[str]:
        """The outcome of every event, in order."""
        return [e.outcome for e in self.events]

    def clear(self) -> None:
        """Forget the events seen so far."""
        self.events.clear()


@contextlib.contextmanager
def capture_audit() -> Iterator[AuditCapture]:
    """Every client of the process audits into the returned capture while the block runs."""
    from golden_path.audit import add_sink, remove_sink

    capture = AuditCapture()
    add_sink(capture)
    try:
        yield capture
    finally:
        remove_sink(capture)


@contextlib.contextmanager
def emulated(emulator: Emulator | None = None, *, api_key: str = "test-key") -> Iterator[Emulator]:
    """Point ``golden_path.client()`` at an emulator (a new one unless given) for the block.

    The project's other settings (policy file, app, team, audit) stay as configured: tests run
    under the same policies as production, on the AI Studio wire.
    """
    from golden_path.emulator import Emulator

    owned = emulator is None
    emu = emulator or Emulator().start()
    overrides = {
        "GOLDEN_PATH_BACKEND": "ai_studio",
        "GOLDEN_PATH_BASE_URL": emu.url,
        "GOLDEN_PATH_API_KEY": api_key,
    }
    cleared = (
        "GOLDEN_PATH_CREDENTIALS_FILE",
        "GOLDEN_PATH_IMPERSONATE_SERVICE_ACCOUNT",
        "GOLDEN_PATH_IMPERSONATE_DELEGATES",
        "GOLDEN_PATH_PROJECT",
    )
    saved = {name: os.environ.get(name) for name in (*overrides, *cleared)}
    os.environ.update(overrides)
    for name in cleared:
        os.environ.pop(name, None)
    # golden_path.client() notices the changed variables and builds a client for them.
    try:
        yield emu
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if owned:
            emu.stop()


def reset() -> None:
    """Forget cached clients, stop the embedded emulator, close limit stores, remove added sinks.

    For test suites that change configuration between tests, as the pytest plugin does after
    each test that used its fixtures.
    """
    from golden_path import _process

    _process.reset()
