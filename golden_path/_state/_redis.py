"""``redis://``: counters shared by a fleet, one round trip per request.

A request needs two writes: the reservation before it, the reconciliation (estimate -> real
usage) after it. Reconciliations are queued and sent with the next reservation, in the same
pipeline write, so the steady state is one round trip per request; a timer flushes the queue
within ``_FLUSH_S`` when no reservation comes. Deltas for one key are summed while they wait.

Why Lua: the check ("is there room?") and the add must be one atomic step, or two replicas
both take the last unit. A script runs atomically on the server, in one round trip, which a
WATCH/MULTI transaction would not (it retries under contention).

Why short timeouts and no client retries: the limiter sits in front of every model call; a
Redis that does not answer within ~100 ms is treated as unavailable and ``on_store_error``
decides, instead of the call hanging. After a failure the store fails fast for a short while
(a tiny circuit breaker), then tries again, so recovery needs no restart.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from golden_path._state._types import Counter, Reserved, StoreUnavailable

if TYPE_CHECKING:
    import redis

__all__ = ["RedisStore"]

log = logging.getLogger("golden_path.state")

# After a failure, calls fail fast for this long: a dead Redis costs requests nothing but a
# clock read, and a returning one is noticed within this delay.
_BREAKER_S = 0.25
# How long a reconciliation may wait for a reservation to ride with. Counters lag real usage by
# at most this long (plus what is in flight), in every replica.
_FLUSH_S = 0.05

# Shared by the scripts: a counter's value, where a missing key is 0 and anything that is not
# a non-negative integer (garbage, a hash, a list) is deleted, reported, and counted as 0.
_NUM = """
local resets = {}
local function num(key)
  local v = redis.pcall('GET', key)
  if type(v) == 'table' and v.err then
    redis.call('DEL', key)
    table.insert(resets, key)
    return 0
  end
  if not v then return 0 end
  if string.match(v, '^%d+$') then return tonumber(v) end
  redis.call('DEL', key)
  table.insert(resets, key)
  return 0
end
"""

# KEYS: cooldown, then (current, previous) per counter.
# ARGV: has_cooldown, n, then (limit, amount, ttl_ms, prev_weight) per counter.
# Returns {status, index, used, prev, cooldown_ms, reset keys...}: status 1 reserved,
# 0 no room in counter `index`, 2 cooling down.
_RESERVE = (
    _NUM
    + """
if ARGV[1] == '1' then
  local t = redis.call('PTTL', KEYS[1])
  if t > 0 then return {2, -1, 0, 0, t} end
end
local n = tonumber(ARGV[2])
for i = 1, n do
  local a = 2 + (i - 1) * 4
  local limit = tonumber(ARGV[a + 1])
  local amount = tonumber(ARGV[a + 2])
  local weight = tonumber(ARGV[a + 4])
  local used = num(KEYS[2 * i])
  local prev = 0
  if weight > 0 then prev = num(KEYS[2 * i + 1]) end
  if used + math.floor(prev * weight) + amount > limit then
    local r = {0, i - 1, used, prev, 0}
    for _, k in ipairs(resets) do table.insert(r, k) end
    return r
  end
end
for i = 1, n do
  local a = 2 + (i - 1) * 4
  local amount = tonumber(ARGV[a + 2])
  if amount > 0 then
    redis.call('INCRBY', KEYS[2 * i], amount)
    redis.call('PEXPIRE', KEYS[2 * i], ARGV[a + 3])
  end
end
local r = {1, 0, 0, 0, 0}
for _, k in ipairs(resets) do table.insert(r, k) end
return r
"""
)

# KEYS: counters; ARGV: (delta, ttl_ms) per key. Clamped at 0; a vanished key is only
# recreated for a positive delta (usage that really happened), never as a negative debt.
_ADJUST = (
    _NUM
    + """
for i, key in ipairs(KEYS) do
  local delta = tonumber(ARGV[2 * i - 1])
  local v = num(key)
  if redis.call('EXISTS', key) == 1 then
    if v + delta < 0 then
      redis.call('SET', key, '0', 'KEEPTTL')
    elseif delta ~= 0 then
      redis.call('INCRBY', key, delta)
    end
  elseif delta > 0 then
    redis.call('SET', key, delta, 'PX', ARGV[2 * i])
  end
end
return resets
"""
)

# KEYS: cooldown; ARGV: ms. Never shortens a running cooldown.
_COOLDOWN = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1
"""


class RedisStore:
    """Counters in Redis; every operation is one script call, bounded by ``timeout_s``."""

    def __init__(self, url: str, *, display_url: str, timeout_s: float) -> None:
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError as exc:  # pragma: no cover - checked when the URL is validated
            raise RuntimeError("pip install 'golden-path[redis]'") from exc
        self._redis_errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._display = display_url
        self._client: redis.Redis = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            # redis-py retries 10 times by default: that would turn a 100 ms bound into seconds.
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
        )
        self._reserve = self._client.register_script(_RESERVE)
        self._adjust = self._client.register_script(_ADJUST)
        self._cooldown = self._client.register_script(_COOLDOWN)
        self._down_until = 0.0
        self._lock = threading.Lock()
        # key -> [delta, ttl_ms], waiting to ride with the next reservation.
        self._pending: dict[str, list[int]] = {}
        self._pending_lock = threading.Lock()
        self._flush_timer: threading.Timer | None = None
        self._noscript: type[BaseException] = redis.exceptions.NoScriptError
        # Exchanges with Redis (a single command or one pipeline write); the benchmark reads it.
        self.round_trips = 0

    @property
    def display_url(self) -> str:
        """The URL without its password."""
        return self._display

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self.round_trips += 1
        if time.monotonic() < self._down_until:
            raise StoreUnavailable(f"{self._display} was unreachable moments ago")
        try:
            return fn(*args, **kwargs)
        except self._redis_errors as exc:
            with self._lock:
                first = time.monotonic() >= self._down_until
                self._down_until = time.monotonic() + _BREAKER_S
            if first:
                log.warning(
                    "state store %s failed on %s: %s: %s",
                    self._display,
                    what,
                    type(exc).__name__,
                    exc,
                )
            raise StoreUnavailable(f"{self._display}: {type(exc).__name__}") from exc

    def reserve(self, counters: Sequence[Counter], cooldown_key: str | None) -> Reserved:
        """Check and add in one script; queued reconciliations ride in the same round trip."""
        keys: list[str] = [cooldown_key or "-"]
        args: list[Any] = ["1" if cooldown_key else "0", len(counters)]
        for counter in counters:
            keys += [counter.key, counter.prev_key or counter.key]
            args += [
                counter.limit,
                counter.amount,
                max(counter.ttl_ms, 1),
                repr(counter.prev_weight if counter.prev_key else 0.0),
            ]
        pending = self._take_pending()
        if not pending:
            reply = self._call("reserve", self._reserve, keys=keys, args=args)
        else:
            try:
                adjusted, reply = self._call("reserve", self._pipelined, pending, keys, args)
            except StoreUnavailable:
                self._queue(pending)
                raise
            if isinstance(adjusted, list):
                _warn_resets(self._display, tuple(_text(k) for k in adjusted))
        try:
            status, index, used, prev, cooldown_ms = (int(x) for x in reply[:5])
            resets = tuple(_text(k) for k in reply[5:])
        except (TypeError, ValueError, IndexError) as exc:
            raise StoreUnavailable(f"{self._display} gave an unexpected reply") from exc
        _warn_resets(self._display, resets)
        if status == 1:
            return Reserved(ok=True, resets=resets)
        return Reserved(
            ok=False, index=index, used=used, prev=prev, cooldown_ms=cooldown_ms, resets=resets
        )

    def _pipelined(
        self, pending: list[tuple[str, int, int]], keys: list[str], args: list[Any]
    ) -> list[Any]:
        # Plain EVALSHA in a non-transactional pipeline: one write, one read. (redis-py's Script
        # objects in a pipeline would add a SCRIPT EXISTS round trip to every execute.)
        adjust_keys, adjust_args = _adjust_params(pending)
        pipe = self._client.pipeline(transaction=False)
        pipe.evalsha(self._adjust.sha, len(adjust_keys), *adjust_keys, *adjust_args)
        pipe.evalsha(self._reserve.sha, len(keys), *keys, *args)
        adjusted, reserved = pipe.execute(raise_on_error=False)
        # A Redis that restarted (or never ran these scripts) answers NOSCRIPT per command; the
        # other command did run, so only the failed one is sent again, through the Script object
        # that loads it: resending both would reserve twice.
        if isinstance(adjusted, self._noscript):
            adjusted = self._adjust(keys=adjust_keys, args=adjust_args)
        if isinstance(reserved, self._noscript):
            reserved = self._reserve(keys=keys, args=args)
        for reply in (adjusted, reserved):
            if isinstance(reply, BaseException):
                raise reply
        return [adjusted, reserved]

    def adjust(self, changes: Sequence[tuple[str, int, int]]) -> None:
        """Queue the deltas of a request: they ride with the next reservation."""
        if changes:
            self._queue(changes)

    def flush(self) -> None:
        """Send queued reconciliations now (one script call)."""
        pending = self._take_pending()
        if not pending:
            return
        keys, args = _adjust_params(pending)
        try:
            reply = self._call("adjust", self._adjust, keys=keys, args=args)
        except StoreUnavailable:
            self._queue(pending)
            raise
        if isinstance(reply, list):
            _warn_resets(self._display, tuple(_text(k) for k in reply))

    def _queue(self, changes: Sequence[tuple[str, int, int]]) -> None:
        with self._pending_lock:
            for key, delta, ttl_ms in changes:
                entry = self._pending.setdefault(key, [0, 0])
                entry[0] += delta
                entry[1] = max(entry[1], ttl_ms)
            if self._flush_timer is None:
                timer = threading.Timer(_FLUSH_S, self._flush_later)
                timer.daemon = True
                self._flush_timer = timer
                timer.start()

    def _take_pending(self) -> list[tuple[str, int, int]]:
        if not self._pending:  # unlocked peek: the common case costs nothing
            return []
        with self._pending_lock:
            items = [(k, d, t) for k, (d, t) in self._pending.items() if d]
            self._pending.clear()
        return items

    def _flush_later(self) -> None:
        with self._pending_lock:
            self._flush_timer = None
        # On failure it stays queued; the next reservation or timer tries again.
        with contextlib.suppress(StoreUnavailable):
            self.flush()

    def cooldown(self, key: str, seconds: float) -> None:
        """Start or extend a cooldown."""
        self._call("cooldown", self._cooldown, keys=[key], args=[max(int(seconds * 1000), 1)])

    def read(self, keys: Sequence[str]) -> list[int]:
        """MGET; garbage reads as 0 (the next write resets it).

        Queued reconciliations are sent first, so a process reads its own writes.
        """
        if not keys:
            return []
        self.flush()
        values = self._call("read", self._client.mget, list(keys))
        return [_as_count(v) for v in values] if isinstance(values, list) else [0] * len(keys)

    def cooldown_left(self, key: str) -> float:
        """PTTL of the cooldown key."""
        ms = self._call("cooldown", self._client.pttl, key)
        return ms / 1000 if isinstance(ms, int) and ms > 0 else 0.0

    def ping(self) -> None:
        """Raise StoreUnavailable unless Redis answers."""
        self._call("ping", self._client.ping)

    def close(self) -> None:
        """Send what is queued (best effort), then close pooled connections."""
        with contextlib.suppress(StoreUnavailable):
            self.flush()
        with self._pending_lock:
            if self._flush_timer is not None:
                self._flush_timer.cancel()
                self._flush_timer = None
        self._client.close()


def _adjust_params(changes: Sequence[tuple[str, int, int]]) -> tuple[list[str], list[Any]]:
    keys = [key for key, _, _ in changes]
    args: list[Any] = []
    for _, delta, ttl_ms in changes:
        args += [delta, max(ttl_ms, 1)]
    return keys, args


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _as_count(value: Any) -> int:
    text = _text(value) if value is not None else ""
    return int(text) if text.isdigit() else 0


def _warn_resets(display: str, resets: tuple[str, ...]) -> None:
    for key in resets:
        log.warning(
            "state store %s: key %s held something that is not a counter; reset it to 0",
            display,
            key,
        )
