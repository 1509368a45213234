"""Test helpers for apps built on golden-path: an emulator-backed configuration, captured audit.

Use them through the pytest plugin (fixtures ``gemini_emulator``, ``golden_path_client``,
``golden_path_audit``; see docs/testing.md), or directly::

    with golden_path.testing.emulated() as emu, golden_path.testing.capture_audit() as audit:
        my_app.run()            # calls golden_path.client() somewhere inside
        assert audit.events[-1].outcome == "ok"

Everything here undoes what it did on exit: environment, cached clients, registered sinks.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from golden_path.audit import AuditEvent
    from golden_path.emulator import Emulator

__all__ = ["AuditCapture", "capture_audit", "emulated"]


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
    """Every client built inside the block also audits into the returned capture."""
    from golden_path import _factory

    capture = AuditCapture()
    _factory._extra_sinks.append(capture)
    _factory.reset()
    try:
        yield capture
    finally:
        _factory._extra_sinks.remove(capture)
        _factory.reset()


@contextlib.contextmanager
def emulated(emulator: Emulator | None = None, *, api_key: str = "test-key") -> Iterator[Emulator]:
    """Point ``golden_path.client()`` at an emulator (a new one unless given) for the block.

    The project's other settings (policy file, app, team, audit) stay as configured: tests run
    under the same policies as production, on the AI Studio wire.
    """
    from golden_path import _factory
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
    _factory.reset()
    try:
        yield emu
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _factory.reset()
        if owned:
            emu.stop()
