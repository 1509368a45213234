"""``redis://``: counters shared by a fleet, one round trip per request.

A request needs two writes: the reservation before it, the settlement (estimate -> real
usage) after it. Settlements are queued and sent with the next reservation, in the same
pipeline write, so the steady state is one round trip per request; a timer flushes the queue
within ``_FLUSH_S`` when no reservation comes.

Exact under faults: a reservation records what it added (a hash, indexed by expiry in the
tag's ``inflight`` sorted set). A settlement applies its deltas only while that record exists
and deletes it, so one sent twice (a pipeline that stalled past the timeout, then ran) counts
once. A reservation whose answer never came is cancelled the same way, whether it ran or not.
A process that died between the two leaves a record that the next reservation of its tag
sweeps after the hold time: its capacity comes back. Every key of one reservation shares the
caller's hash tag, so on Redis Cluster they live in one slot and one script stays atomic.

Why Lua: the check ("is there room?") and the add must be one atomic step, or two replicas
both take the last unit. A script runs atomically on the server, in one round trip, which a
WATCH/MULTI transaction would not (it retries under contention).

Why short timeouts and no client retries: the limiter sits in front of every model call; a
Redis that does not answer within ~100 ms is treated as unavailable and ``on_store_error``
decides, instead of the call hanging. After a failure the store fails fast for a short while
(a tiny circuit breaker), then tries again, so recovery needs no restart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from golden_path._log import Diagnostics
from golden_path._state._types import Counter, Hold, Reserved, StoreUnavailable

if TYPE_CHECKING:
    from golden_path._state import StateURL

__all__ = ["RedisStore"]

diagnostics = Diagnostics("golden_path.state")

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

# Give back what an unsettled reservation added (its record: counter key -> amount).
_RELEASE = """
local function release(record)
  local rec = redis.call('HGETALL', record)
  for j = 1, #rec, 2 do
    local key = rec[j]
    if key ~= '_' and redis.call('EXISTS', key) == 1 then
      local amount = tonumber(rec[j + 1])
      if num(key) - amount < 0 then
        redis.call('SET', key, '0', 'KEEPTTL')
      else
        redis.call('DECRBY', key, amount)
      end
    end
  end
  redis.call('DEL', record)
end
"""

# KEYS: cooldown, then (current, previous) per counter, then optionally (record, inflight).
# ARGV: has_cooldown, n, then (limit, amount, ttl_ms, prev_weight) per counter, then hold_ms.
# Returns {status, index, used, prev, cooldown_ms, reset keys...}: status 1 reserved,
# 0 no room in counter `index`, 2 cooling down.
_RESERVE = (
    _NUM
    + _RELEASE
    + """
local n = tonumber(ARGV[2])
local hold = #KEYS == 2 * n + 3
local record, inflight, now
if hold then
  record = KEYS[2 * n + 2]
  inflight = KEYS[2 * n + 3]
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  for _, old in ipairs(redis.call('ZRANGEBYSCORE', inflight, '-inf', now, 'LIMIT', 0, 16)) do
    release(old)
    redis.call('ZREM', inflight, old)
  end
  if redis.call('EXISTS', record) == 1 then return {1, 0, 0, 0, 0} end
end
if ARGV[1] == '1' then
  local t = redis.call('PTTL', KEYS[1])
  if t > 0 then return {2, -1, 0, 0, t} end
end
for i = 1, n do
  local a = 2 + (i - 1) * 4
  local limit = tonumber(ARGV[a + 1])
  local amount = tonumber(ARGV[a + 2])
  local weight = tonumber(ARGV[a + 4])
  local used = num(KEYS[2 * i])
  local prev = 0
  if weight > 0 then prev = num(KEYS[2 * i + 1]) end
  -- Unrounded: flooring the weighted past let a limit of 1 pass 2 calls across a boundary.
  if used + prev * weight + amount > limit then
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
    if hold then redis.call('HINCRBY', record, KEYS[2 * i], amount) end
  end
end
if hold then
  local ms = tonumber(ARGV[3 + n * 4])
  redis.call('HSET', record, '_', '1')
  -- The record outlives any counter it touched (a month window lives 32 days), so whenever
  -- the next reservation of this tag sweeps it, it still says what to give back.
  redis.call('PEXPIRE', record, ms + 2851200000)
  redis.call('ZADD', inflight, now + ms, record)
  redis.call('PEXPIRE', inflight, ms + 2851200000)
end
local r = {1, 0, 0, 0, 0}
for _, k in ipairs(resets) do table.insert(r, k) end
return r
"""
)

# KEYS: record, inflight, then counters; ARGV: (delta, ttl_ms) per counter. Applied only
# while the record exists (exactly once). Clamped at 0; a vanished key is only recreated for a
# positive delta (usage that really happened), never as a negative debt.
_SETTLE = (
    _NUM
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], KEYS[1])
for i = 3, #KEYS do
  local key = KEYS[i]
  local delta = tonumber(ARGV[2 * (i - 2) - 1])
  local v = num(key)
  if redis.call('EXISTS', key) == 1 then
    if v + delta < 0 then
      redis.call('SET', key, '0', 'KEEPTTL')
    elseif delta ~= 0 then
      redis.call('INCRBY', key, delta)
    end
  elseif delta > 0 then
    redis.call('SET', key, delta, 'PX', ARGV[2 * (i - 2)])
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

    def __init__(self, state: StateURL) -> None:
        try:
            import redis
            import redis.exceptions
        except ImportError as exc:  # pragma: no cover - checked when the URL is validated
            raise RuntimeError("pip install 'golden-path[redis]'") from exc
        self._redis_errors: tuple[type[BaseException], ...] = (
            redis.RedisError,
            redis.exceptions.RedisClusterException,  # not a RedisError
            OSError,
        )
        self._display = state.display
        self._client: Any = _client(state)
        self._cluster = state.topology == "cluster"
        self._reserve = self._client.register_script(_RESERVE)
        self._settle = self._client.register_script(_SETTLE)
        self._cooldown = self._client.register_script(_COOLDOWN)
        self._down_until = 0.0
        self._last_error = ""
        self._lock = threading.Lock()
        # record -> (hold, changes): settlements waiting to ride with the next reservation.
        self._pending: dict[str, tuple[Hold, tuple[tuple[str, int, int], ...]]] = {}
        self._pending_lock = threading.Lock()
        self._flush_timer: threading.Timer | None = None
        # Held while queued settlements are on the wire and while closing: close() must not
        # pull a socket out from under the timer thread's flush (the settlements would be
        # lost, and the thread would die printing a traceback into the app's stderr).
        self._flush_lock = threading.Lock()
        self._closed = False
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
            raise StoreUnavailable(
                f"{self._display} was unreachable moments ago ({self._last_error})",
                store=self._display,
            )
        try:
            return fn(*args, **kwargs)
        except self._redis_errors as exc:
            with self._lock:
                first = time.monotonic() >= self._down_until
                self._down_until = time.monotonic() + _BREAKER_S
                self._last_error = type(exc).__name__
            if first:
                diagnostics.warning(
                    "golden_path.state.store_failed",
                    f"state store {self._display} failed on {what}: {type(exc).__name__}: {exc}",
                    store=self._display,
                    operation=what,
                    error=type(exc).__name__,
                )
            raise StoreUnavailable(
                f"{self._display}: {type(exc).__name__}", store=self._display
            ) from exc

    def reserve(
        self, counters: Sequence[Counter], cooldown_key: str | None, hold: Hold | None = None
    ) -> Reserved:
        """Check and add in one script; queued settlements ride in the same round trip."""
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
        if hold is not None:
            keys += [hold.record, hold.inflight]
            args.append(max(hold.ttl_ms, 1))
        pending = self._take_pending()
        try:
            if not pending:
                reply = self._call("reserve", self._reserve, keys=keys, args=args)
            else:
                settled, reply = self._call("reserve", self._pipelined, pending, keys, args)
                for resets in settled:
                    if isinstance(resets, list):
                        _warn_resets(self._display, tuple(_text(k) for k in resets))
        except StoreUnavailable:
            # Settlements are idempotent: sending them again is safe. The reservation may or
            # may not have run: cancel it, which undoes it exactly once if it did.
            self._queue(pending)
            if hold is not None:
                cancel = tuple((c.key, -c.amount, c.ttl_ms) for c in counters if c.amount)
                self._queue([(hold, cancel)])
            raise
        try:
            status, index, used, prev, cooldown_ms = (int(x) for x in reply[:5])
            resets = tuple(_text(k) for k in reply[5:])
        except (TypeError, ValueError, IndexError) as exc:
            raise StoreUnavailable(
                f"{self._display} gave an unexpected reply", store=self._display
            ) from exc
        _warn_resets(self._display, resets)
        if status == 1:
            return Reserved(ok=True, resets=resets)
        return Reserved(
            ok=False, index=index, used=used, prev=prev, cooldown_ms=cooldown_ms, resets=resets
        )

    def _pipelined(
        self,
        pending: list[tuple[Hold, tuple[tuple[str, int, int], ...]]],
        keys: list[str],
        args: list[Any],
    ) -> tuple[list[Any], Any]:
        calls = [_settle_params(hold, changes) for hold, changes in pending]
        if self._cluster:
            # redis-py refuses scripts in a cluster pipeline: each goes to its own slot's node
            # on its own (settlements of other callers live on other nodes anyway).
            settled = [self._settle(keys=k, args=a) for k, a in calls]
            return settled, (self._reserve(keys=keys, args=args) if keys else None)
        # Plain EVALSHA in a non-transactional pipeline: one write, one read. (redis-py's Script
        # objects in a pipeline would add a SCRIPT EXISTS round trip to every execute.)
        pipe = self._client.pipeline(transaction=False)
        for settle_keys, settle_args in calls:
            pipe.evalsha(self._settle.sha, len(settle_keys), *settle_keys, *settle_args)
        if keys:
            pipe.evalsha(self._reserve.sha, len(keys), *keys, *args)
        replies = pipe.execute(raise_on_error=False)
        # A Redis that restarted (or never ran these scripts) answers NOSCRIPT per command; the
        # others did run, so only the failed ones are sent again, through the Script objects
        # that load them: resending a reservation that ran would reserve twice.
        for i, (settle_keys, settle_args) in enumerate(calls):
            if isinstance(replies[i], self._noscript):
                replies[i] = self._settle(keys=settle_keys, args=settle_args)
        if keys and isinstance(replies[-1], self._noscript):
            replies[-1] = self._reserve(keys=keys, args=args)
        for reply in replies:
            if isinstance(reply, BaseException):
                raise reply
        if keys:
            return replies[:-1], replies[-1]
        return replies, None

    def settle(self, hold: Hold, changes: Sequence[tuple[str, int, int]]) -> None:
        """Queue a request's settlement: it rides with the next reservation."""
        self._queue([(hold, tuple(changes))])

    def flush(self) -> None:
        """Send queued settlements now (one pipelined round trip)."""
        with self._flush_lock:
            self._flush()

    def _flush(self) -> None:
        pending = self._take_pending()
        if not pending:
            return
        try:
            settled, _ = self._call("settle", self._pipelined, pending, [], [])
        except Exception:
            # Settlements are idempotent: whatever went wrong, they are sent again later.
            self._queue(pending)
            raise
        for resets in settled:
            if isinstance(resets, list):
                _warn_resets(self._display, tuple(_text(k) for k in resets))

    def _queue(self, items: Sequence[tuple[Hold, tuple[tuple[str, int, int], ...]]]) -> None:
        if not items:
            return
        with self._pending_lock:
            for hold, changes in items:
                # A record settles once: the first settlement queued for it is the one sent.
                self._pending.setdefault(hold.record, (hold, changes))
            if self._flush_timer is None and not self._closed:
                timer = threading.Timer(_FLUSH_S, self._flush_later)
                timer.daemon = True
                self._flush_timer = timer
                timer.start()

    def _take_pending(self) -> list[tuple[Hold, tuple[tuple[str, int, int], ...]]]:
        if not self._pending:  # unlocked peek: the common case costs nothing
            return []
        with self._pending_lock:
            items = list(self._pending.values())
            self._pending.clear()
        return items

    def _flush_later(self) -> None:
        with self._pending_lock:
            self._flush_timer = None
        # On failure it stays queued; the next reservation or timer tries again.
        with self._flush_lock:
            self._flush_quietly()

    def _flush_quietly(self) -> None:
        # For the timer thread and close(): they belong to no caller, so nothing may escape
        # them as a traceback. StoreUnavailable was logged where it happened.
        try:
            self._flush()
        except StoreUnavailable:
            pass
        except Exception as exc:  # noqa: BLE001 (see the comment above)
            diagnostics.warning(
                "golden_path.state.flush_failed",
                f"state store {self._display}: queued settlements not sent: "
                f"{type(exc).__name__}: {exc}",
                store=self._display,
                error=type(exc).__name__,
            )

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

    def get_texts(self, keys: Sequence[str]) -> list[str | None]:
        """GET each key in one pipelined round trip (also across Cluster slots)."""
        if not keys:
            return []

        def run() -> Any:
            pipe = self._client.pipeline(transaction=False)
            for key in keys:
                pipe.get(key)
            return pipe.execute()

        values = self._call("get", run)
        return [None if v is None else _text(v) for v in values]

    def set_text(self, key: str, value: str) -> None:
        """SET the record."""
        self._call("set", self._client.set, key, value)

    def delete_text(self, key: str) -> None:
        """DEL the record."""
        self._call("delete", self._client.delete, key)

    def ping(self) -> None:
        """Raise StoreUnavailable unless Redis answers."""
        self._call("ping", self._client.ping)

    def close(self) -> None:
        """Send what is queued (best effort), then close pooled connections.

        A flush the timer has already started finishes first (the lock), on its own socket.
        """
        with self._pending_lock:
            self._closed = True
            timer, self._flush_timer = self._flush_timer, None
        if timer is not None:
            timer.cancel()
        with self._flush_lock:
            self._flush_quietly()
            self._client.close()


def _client(state: StateURL) -> Any:
    """The redis-py client for one, Sentinel-managed or clustered Redis, as the URL says."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    common: dict[str, Any] = {
        "socket_timeout": state.timeout_s,
        "socket_connect_timeout": state.timeout_s,
        # redis-py retries by default: that would turn a 100 ms bound into seconds.
        "retry": Retry(NoBackoff(), 0),
        "username": state.username,
        "password": state.password,
    }
    if state.tls:
        files = dict(state.tls_files)
        common["ssl"] = True
        common["ssl_ca_certs"] = files.get("ca_file")
        common["ssl_certfile"] = files.get("cert_file")
        common["ssl_keyfile"] = files.get("key_file")
    if state.topology == "cluster":
        from redis.cluster import ClusterNode, RedisCluster

        nodes = [ClusterNode(h, p) for h, p in state.hosts]  # type: ignore[no-untyped-call]
        return RedisCluster(
            startup_nodes=nodes,
            **common,
        )
    if state.topology == "sentinel":
        from redis.sentinel import Sentinel

        tls = {k: v for k, v in common.items() if k.startswith("ssl")}
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(state.hosts),
            socket_timeout=state.timeout_s,
            sentinel_kwargs={"socket_timeout": state.timeout_s, **tls},
        )
        service = state.service or ""
        return sentinel.master_for(service, db=state.db, **common)  # type: ignore[no-untyped-call]
    import redis

    host, port = state.hosts[0]
    return redis.Redis(host=host, port=port, db=state.db, **common)


def _settle_params(
    hold: Hold, changes: Sequence[tuple[str, int, int]]
) -> tuple[list[str], list[Any]]:
    keys = [hold.record, hold.inflight]
    args: list[Any] = []
    for key, delta, ttl_ms in changes:
        keys.append(key)
        args += [delta, max(ttl_ms, 1)]
    return keys, args


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _as_count(value: Any) -> int:
    text = _text(value) if value is not None else ""
    return int(text) if text.isdigit() else 0


def _warn_resets(display: str, resets: tuple[str, ...]) -> None:
    for key in resets:
        diagnostics.warning(
            "golden_path.state.counter_reset",
            f"state store {display}: key {key} held something that is not a counter; reset it to 0",
            store=display,
            key=key,
        )
