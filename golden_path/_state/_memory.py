"""``memory://``: counters in this process, exact under threads and asyncio (one lock)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence

from golden_path._state._types import Counter, Hold, Reserved

__all__ = ["MemoryStore"]

# Expired keys are swept when the table grows past this many entries, so a long-running
# process with many scopes and windows keeps a bounded table without a background thread.
_SWEEP_AT = 4096
_RESERVED = Reserved(ok=True)


class MemoryStore:
    """Counters in a dict under one lock.

    ``time.monotonic`` drives expiry, so a wall-clock jump never resurrects or kills a
    counter early.
    """

    def __init__(self, url: str = "memory://") -> None:
        self._url = url
        self._lock = threading.Lock()
        self._values: dict[str, tuple[int, float]] = {}
        # Open reservations: record -> (what was added per counter key, when it expires).
        self._holds: dict[str, tuple[dict[str, int], float]] = {}
        # No open reservation expires before this: the sweep, a walk of every open one, runs
        # only once one may have (not on every reservation: a thousand streams in flight
        # made each new request walk a thousand records).
        self._holds_due = math.inf
        # Plain records (the gateway's resource owners): no expiry, removed when deleted.
        self._texts: dict[str, str] = {}

    @property
    def display_url(self) -> str:
        """The URL (memory URLs carry no secret)."""
        return self._url

    def _get(self, key: str, now: float) -> int:
        entry = self._values.get(key)
        if entry is None:
            return 0
        if entry[1] <= now:
            del self._values[key]
            return 0
        return entry[0]

    def _ttl(self, key: str, now: float) -> float:
        entry = self._values.get(key)
        if entry is None or entry[1] <= now:
            return 0.0
        return entry[1] - now

    def reserve(
        self, counters: Sequence[Counter], cooldown_key: str | None, hold: Hold | None = None
    ) -> Reserved:
        """Check every counter and add to all of them, or to none, under the lock."""
        now = time.monotonic()
        with self._lock:
            if len(self._values) > _SWEEP_AT:
                self._sweep(now)
            if hold is not None:
                if now >= self._holds_due:
                    self._sweep_holds(now)
                if hold.record in self._holds:
                    return _RESERVED  # the same reservation again: already made
            if cooldown_key is not None and cooldown_key in self._values:
                left = self._ttl(cooldown_key, now)
                if left > 0:
                    return Reserved(ok=False, index=-1, cooldown_ms=math.ceil(left * 1000))
            found = []
            for index, counter in enumerate(counters):
                used = self._get(counter.key, now)
                prev = self._get(counter.prev_key, now) if counter.prev_key else 0
                # Unrounded: flooring the weighted past let a limit of 1 pass 2 calls across a
                # minute boundary.
                if used + prev * counter.prev_weight + counter.amount > counter.limit:
                    return Reserved(ok=False, index=index, used=used, prev=prev)
                found.append(used)
            added: dict[str, int] = {}
            for counter, used in zip(counters, found, strict=True):
                if counter.amount:
                    # What the check found is still there: the lock is held (and an expired
                    # counter was removed by _get, so it starts again from this amount); a
                    # counter named twice adds to what its first mention left.
                    base = self._values[counter.key][0] if counter.key in added else used
                    self._values[counter.key] = (
                        base + counter.amount,
                        now + counter.ttl_ms / 1000,
                    )
                    added[counter.key] = counter.amount
            if hold is not None:
                until = now + hold.ttl_ms / 1000
                self._holds[hold.record] = (added, until)
                self._holds_due = min(self._holds_due, until)
        return _RESERVED

    def settle(self, hold: Hold, changes: Sequence[tuple[str, int, int]]) -> None:
        """Apply the changes once, if the reservation is still open."""
        now = time.monotonic()
        with self._lock:
            if self._holds.pop(hold.record, None) is None or not changes:
                return
            self._apply(changes, now)

    def _sweep_holds(self, now: float) -> None:
        # A reservation nobody settled in time (its caller died): give its capacity back.
        expired = [record for record, (_, until) in self._holds.items() if until <= now]
        for record in expired:
            added, _ = self._holds.pop(record)
            self._apply([(key, -amount, 0) for key, amount in added.items()], now)
        self._holds_due = min((until for _, until in self._holds.values()), default=math.inf)

    def _apply(self, changes: Sequence[tuple[str, int, int]], now: float) -> None:
        """Add each delta, clamped at zero (the lock is held)."""
        for key, delta, ttl_ms in changes:
            if key not in self._values or self._values[key][1] <= now:
                if delta <= 0:
                    continue  # an expired counter has nothing left to release
                self._values[key] = (delta, now + ttl_ms / 1000)
                continue
            value, expires = self._values[key]
            self._values[key] = (max(value + delta, 0), expires)

    def cooldown(self, key: str, seconds: float) -> None:
        """Start or extend a cooldown; a shorter one never shortens a running one."""
        now = time.monotonic()
        with self._lock:
            if self._ttl(key, now) < seconds:
                self._values[key] = (1, now + seconds)

    def read(self, keys: Sequence[str]) -> list[int]:
        """Current values, 0 for missing keys."""
        now = time.monotonic()
        with self._lock:
            return [self._get(key, now) for key in keys]

    def cooldown_left(self, key: str) -> float:
        """Seconds left of a cooldown."""
        with self._lock:
            return self._ttl(key, time.monotonic())

    def get_texts(self, keys: Sequence[str]) -> list[str | None]:
        """Records by key, None when missing."""
        with self._lock:
            return [self._texts.get(key) for key in keys]

    def set_text(self, key: str, value: str) -> None:
        """Write a record."""
        with self._lock:
            self._texts[key] = value

    def delete_text(self, key: str) -> None:
        """Remove a record."""
        with self._lock:
            self._texts.pop(key, None)

    def clear(self) -> None:
        """Forget every counter (tests)."""
        with self._lock:
            self._values.clear()
            self._texts.clear()

    def close(self) -> None:
        """Nothing to release."""

    def _sweep(self, now: float) -> None:
        for key in [k for k, (_, expires) in self._values.items() if expires <= now]:
            del self._values[key]
