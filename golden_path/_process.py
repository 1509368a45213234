"""Process state in one place: everything golden-path keeps between calls, and how to forget it.

=============  ==========================================================  ==============
state          kept for                                                    on reset()
=============  ==========================================================  ==============
clients        ``golden_path.client()``: one client per configuration      forgotten
last_client    its fast path: the configuration fingerprint last resolved  forgotten
emulator       the embedded emulator (``backend = "emulator"``)            stopped
stores         limit state stores, one per state URL                       closed
sinks          audit sinks added with ``golden_path.audit.add_sink``       removed
processors     structlog processors added with ``audit.add_processor``     removed
drift_warned   the once-per-process SDK version drift warning              re-armed
=============  ==========================================================  ==============

:func:`reset` (public as ``golden_path.testing.reset()``) returns the process to how it was
at import. The SSL context of ``_tls`` is a pure cache of the system's trust store and is kept.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any, Protocol

__all__ = ["STATE", "ProcessState", "forget_clients", "reset"]


class _Stoppable(Protocol):
    def stop(self) -> object: ...


class _Closable(Protocol):
    def close(self) -> object: ...


@dataclasses.dataclass(slots=True)
class ProcessState:
    """What golden-path keeps for the life of the process (see the module docstring)."""

    clients: dict[str, Any] = dataclasses.field(default_factory=dict)
    last_client: tuple[tuple[Any, ...], Any] | None = None
    emulator: _Stoppable | None = None
    stores: dict[str, _Closable] = dataclasses.field(default_factory=dict)
    sinks: list[Any] = dataclasses.field(default_factory=list)
    processors: list[Any] = dataclasses.field(default_factory=list)
    drift_warned: bool = False
    # Re-entrant: building a client (under the lock) may start the embedded emulator.
    lock: threading.RLock = dataclasses.field(default_factory=threading.RLock)


STATE = ProcessState()


def forget_clients() -> None:
    """Drop cached clients: the next ``client()`` builds from the configuration again."""
    with STATE.lock:
        STATE.clients.clear()
        STATE.last_client = None


def reset() -> None:
    """Forget clients, stop the embedded emulator, close stores, remove added sinks."""
    with STATE.lock:
        STATE.clients.clear()
        STATE.last_client = None
        emulator, STATE.emulator = STATE.emulator, None
        stores = list(STATE.stores.values())
        STATE.stores.clear()
        STATE.sinks.clear()
        STATE.processors.clear()
        STATE.drift_warned = False
    # Outside the lock: stopping a server or closing a connection pool may take a moment.
    if emulator is not None:
        emulator.stop()
    for store in stores:
        store.close()
