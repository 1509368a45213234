"""The state-store protocol: counters that many callers reserve against atomically.

A limiter asks the store one question per request: "add these amounts to these counters, but
only if every counter stays within its limit, and only if the scope is not cooling down".
The check and the add happen as one atomic step (one lock in memory, one Lua script in Redis),
so concurrent callers can never both take the last unit of capacity.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import NamedTuple, Protocol

from golden_path.exceptions import StoreUnavailable

__all__ = ["Counter", "Hold", "Reserved", "StateStore", "StoreUnavailable"]


class Counter(NamedTuple):
    """One limit checked by a reservation.

    ``key`` is the counter of the current window, ``prev_key`` that of the window before
    (sliding windows: the previous count weighs ``prev_weight``, 1 at the start of the window
    falling to 0 at its end). ``ttl_ms`` keeps the key long enough to be reconciled and read.

    A named tuple, as :class:`Hold`, not a frozen dataclass: a request makes one per limit,
    and a frozen dataclass sets each field through ``object.__setattr__`` (about four times
    the cost).
    """

    key: str
    limit: int
    amount: int
    ttl_ms: int
    prev_key: str | None = None
    prev_weight: float = 0.0


class Hold(NamedTuple):
    """The record that makes one request's reservation exact under faults.

    The reservation writes ``record`` (what it added to which counter) and indexes it in
    ``inflight`` until ``ttl_ms`` from now. Settling applies its changes only while the record
    exists, and deletes it: a settlement sent twice (a pipeline that stalled, then ran) counts
    once. A reservation whose answer was lost (a timeout) is cancelled the same way. One whose
    process died is swept by the next reservation of its tag after ``ttl_ms``: the capacity
    returns.
    """

    record: str
    inflight: str
    ttl_ms: int


@dataclasses.dataclass(frozen=True, slots=True)
class Reserved:
    """What a reservation attempt found.

    ``ok``: the amounts were added. Otherwise ``index`` is the counter that had no room
    (with ``used`` and ``prev`` as found), or -1 when the scope is cooling down for
    ``cooldown_ms`` more milliseconds. ``resets`` lists keys that held garbage and were reset.
    """

    ok: bool
    index: int = 0
    used: int = 0
    prev: int = 0
    cooldown_ms: int = 0
    resets: tuple[str, ...] = ()


class StateStore(Protocol):
    """Where counters live: ``memory://`` (one process) or ``redis://`` (a fleet).

    Every method raises :class:`StoreUnavailable` when the store cannot answer in time;
    none raises for missing keys (zero) or garbage in a key (reset to zero, logged).
    """

    @property
    def display_url(self) -> str:
        """The URL without any password, for messages."""
        ...

    def reserve(
        self, counters: Sequence[Counter], cooldown_key: str | None, hold: Hold | None = None
    ) -> Reserved:
        """Atomically: unless cooling down, add every ``amount`` if every counter has room.

        With ``hold``, record what was added (a second reservation with the same record is a
        no-op that answers ok) and sweep the tag's expired records first. If the store does not
        answer, a cancellation of ``hold`` is queued: whether or not the reservation ran, it is
        undone once.
        """
        ...

    def settle(self, hold: Hold, changes: Sequence[tuple[str, int, int]]) -> None:
        """Close ``hold``: apply ``(key, delta, ttl_ms)`` changes only if it is still open.

        May be queued and sent with the next reservation; sending it again is harmless.
        """
        ...

    def cooldown(self, key: str, seconds: float) -> None:
        """Make ``key`` a cooldown lasting at least ``seconds`` from now."""
        ...

    def read(self, keys: Sequence[str]) -> list[int]:
        """The counters' values (0 for missing or garbage keys)."""
        ...

    def cooldown_left(self, key: str) -> float:
        """Seconds the cooldown ``key`` still lasts (0 when none)."""
        ...

    def get_texts(self, keys: Sequence[str]) -> list[str | None]:
        """Plain records (not counters) by key, None for a missing one (the gateway's owners)."""
        ...

    def set_text(self, key: str, value: str) -> None:
        """Write a plain record; it stays until :meth:`delete_text`."""
        ...

    def delete_text(self, key: str) -> None:
        """Remove a plain record (nothing happens when there is none)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
