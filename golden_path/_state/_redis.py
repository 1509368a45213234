"""``redis://``: counters shared by a fleet, one Lua script (one round trip) per reservation.

Why Lua: the check ("is there room?") and the add must be one atomic step, or two replicas
both take the last unit. A script runs atomically on the server, in one round trip, which a
WATCH/MULTI transaction would not (it retries under contention).

Why short timeouts and no client retries: the limiter sits in front of every model call; a
Redis that does not answer within ~100 ms is treated as unavailable and ``on_store_error``
decides, instead of the call hanging. After a failure the store fails fast for a short while
(a tiny circuit breaker), then tries again, so recovery needs no restart.
"""

from __future__ import annotations

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
_RESERVE = _NUM + """
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

# KEYS: counters; ARGV: (delta, ttl_ms) per key. Clamped at 0; a vanished key is only
# recreated for a positive delta (usage that really happened), never as a negative debt.
_ADJUST = _NUM + """
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

    @property
    def display_url(self) -> str:
        """The URL without its password."""
        return self._display

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() < self._down_until:
            raise StoreUnavailable(f"{self._display} was unreachable moments ago")
        try:
            return fn(*args, **kwargs)
        except self._redis_errors as exc:
            with self._lock:
                first = time.monotonic() >= self._down_until
                self._down_until = time.monotonic() + _BREAKER_S
            if first:
                log.warning("state store %s failed on %s: %s: %s", self._display, what,
                            type(exc).__name__, exc)
            raise StoreUnavailable(f"{self._display}: {type(exc).__name__}") from exc

    def reserve(self, counters: Sequence[Counter], cooldown_key: str | None) -> Reserved:
        """One EVALSHA: check and add, or report which counter had no room."""
        keys: list[str] = [cooldown_key or "-"]
        args: list[Any] = ["1" if cooldown_key else "0", len(counters)]
        for counter in counters:
            keys += [counter.key, counter.prev_key or counter.key]
            args += [counter.limit, counter.amount, max(counter.ttl_ms, 1),
                     repr(counter.prev_weight if counter.prev_key else 0.0)]
        reply = self._call("reserve", self._reserve, keys=keys, args=args)
        try:
            status, index, used, prev, cooldown_ms = (int(x) for x in reply[:5])
            resets = tuple(_text(k) for k in reply[5:])
        except (TypeError, ValueError, IndexError) as exc:
            raise StoreUnavailable(f"{self._display} gave an unexpected reply") from exc
        _warn_resets(self._display, resets)
        if status == 1:
            return Reserved(ok=True, resets=resets)
        return Reserved(ok=False, index=index, used=used, prev=prev, cooldown_ms=cooldown_ms,
                        resets=resets)

    def adjust(self, changes: Sequence[tuple[str, int, int]]) -> None:
        """One EVALSHA for all the deltas of a request."""
        if not changes:
            return
        keys = [key for key, _, _ in changes]
        args: list[Any] = []
        for _, delta, ttl_ms in changes:
            args += [delta, max(ttl_ms, 1)]
        reply = self._call("adjust", self._adjust, keys=keys, args=args)
        if isinstance(reply, list):
            _warn_resets(self._display, tuple(_text(k) for k in reply))

    def cooldown(self, key: str, seconds: float) -> None:
        """Start or extend a cooldown."""
        self._call("cooldown", self._cooldown, keys=[key], args=[max(int(seconds * 1000), 1)])

    def read(self, keys: Sequence[str]) -> list[int]:
        """MGET; garbage reads as 0 (the next write resets it)."""
        if not keys:
            return []
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
        """Close pooled connections."""
        self._client.close()


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _as_count(value: Any) -> int:
    text = _text(value) if value is not None else ""
    return int(text) if text.isdigit() else 0


def _warn_resets(display: str, resets: tuple[str, ...]) -> None:
    for key in resets:
        log.warning("state store %s: key %s held something that is not a counter; "
                    "reset it to 0", display, key)
