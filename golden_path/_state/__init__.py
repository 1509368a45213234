"""State stores for limits: ``memory://`` (one process) and ``redis://`` (a fleet).

``open_store(url)`` returns the process-wide store for a URL: every client of a process that
names the same URL shares the same counters (and, for Redis, the same connection pool).
"""

from __future__ import annotations

import atexit
import dataclasses
import urllib.parse
from typing import cast

from golden_path._process import STATE
from golden_path._state._memory import MemoryStore
from golden_path._state._types import Counter, Reserved, StateStore, StoreUnavailable

__all__ = [
    "REDIS_EXTRA_HINT",
    "Counter",
    "MemoryStore",
    "Reserved",
    "StateStore",
    "StateURL",
    "StateURLError",
    "StoreUnavailable",
    "open_store",
    "parse_state_url",
    "redis_available",
    "reset",
]

DEFAULT_PREFIX = "golden-path"
DEFAULT_TIMEOUT_MS = 100
REDIS_EXTRA_HINT = "pip install 'golden-path[redis]'"
_QUERY_KEYS = ("prefix", "timeout_ms", "ca_file", "cert_file", "key_file")
# redis (one server), rediss (TLS), +sentinel (a service name behind Sentinels), +cluster.
_REDIS_SCHEMES = (
    "redis",
    "rediss",
    "redis+sentinel",
    "rediss+sentinel",
    "redis+cluster",
    "rediss+cluster",
)


class StateURLError(ValueError):
    """A state URL that cannot work: ``message`` says why, ``fix`` what to write instead."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


@dataclasses.dataclass(frozen=True, slots=True)
class StateURL:
    """A validated state URL.

    ``kind`` is memory or redis, ``client_url`` what the client gets (without our own query
    options), ``prefix`` the key prefix, ``display`` a password-free form for messages.
    """

    kind: str
    client_url: str
    display: str
    prefix: str
    timeout_s: float
    # Redis deployment: "single", "sentinel" or "cluster"; hosts as (host, port) pairs.
    topology: str = "single"
    hosts: tuple[tuple[str, int], ...] = ()
    tls: bool = False
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    db: int = 0
    service: str | None = None
    tls_files: tuple[tuple[str, str], ...] = ()


_FIX = (
    "use memory:// (one process), redis://[USER:PASSWORD@]HOST:PORT/DB, rediss:// for TLS, "
    "redis+sentinel://HOST:PORT[,HOST:PORT]/SERVICE/DB or redis+cluster://HOST:PORT[,HOST:PORT] "
    "(options: ?prefix=NAME&timeout_ms=100&ca_file=PATH&cert_file=PATH&key_file=PATH), "
    "e.g. redis://127.0.0.1:6379/0"
)


def parse_state_url(url: str) -> StateURL:
    """Validate ``url``; raise StateURLError saying what is wrong and the fix."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
    except ValueError as exc:
        raise StateURLError(f"not a URL ({exc})", _FIX) from None
    scheme = parts.scheme.lower()
    if scheme == "memory":
        if parts.query or parts.path.strip("/"):
            raise StateURLError("memory:// takes only an optional name: memory://NAME", _FIX)
        return StateURL(
            "memory", f"memory://{parts.netloc}", f"memory://{parts.netloc}", DEFAULT_PREFIX, 0.0
        )
    if scheme not in _REDIS_SCHEMES:
        shown = f"{scheme}://" if scheme else repr(_display(url))
        raise StateURLError(f"unsupported state store {shown}", _FIX)
    tls = scheme.startswith("rediss")
    topology = scheme.partition("+")[2] or "single"
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    hosts = tuple(_host(item) for item in hostlist.split(","))
    if len(hosts) > 1 and topology == "single":
        raise StateURLError("several hosts need redis+sentinel:// or redis+cluster://", _FIX)
    username = urllib.parse.unquote(userinfo.partition(":")[0]) or None if userinfo else None
    password = (
        urllib.parse.unquote(userinfo.partition(":")[2]) or None
        if userinfo and ":" in userinfo
        else None
    )
    segments = [p for p in parts.path.split("/") if p]
    service = None
    if topology == "sentinel":
        if not segments:
            raise StateURLError("redis+sentinel:// needs the service name: .../SERVICE/DB", _FIX)
        service = segments.pop(0)
    db = segments[0] if segments else "0"
    if len(segments) > 1 or not db.isdigit():
        raise StateURLError(f"database {'/'.join(segments)!r} is not a number", _FIX)
    if topology == "cluster" and db != "0":
        raise StateURLError("Redis Cluster has only database 0", _FIX)
    prefix, timeout_s, files = _options(parts.query)
    if files and not tls:
        raise StateURLError(f"{files[0][0]} needs TLS: use rediss://", _FIX)
    client_url = urllib.parse.urlunsplit(("rediss" if tls else "redis", parts.netloc, "", "", ""))
    return StateURL(
        "redis",
        client_url,
        _display(url),
        prefix,
        timeout_s,
        topology=topology,
        hosts=hosts,
        tls=tls,
        username=username,
        password=password,
        db=int(db),
        service=service,
        tls_files=files,
    )


def _options(text: str) -> tuple[str, float, tuple[tuple[str, str], ...]]:
    """``(prefix, timeout_s, TLS files)`` from the URL's query."""
    query = urllib.parse.parse_qs(text, keep_blank_values=True)
    unknown = sorted(set(query) - set(_QUERY_KEYS))
    if unknown:
        raise StateURLError(f"unknown option(s) {', '.join(unknown)}", _FIX)
    prefix = query.get("prefix", [DEFAULT_PREFIX])[-1]
    if not prefix or any(c.isspace() or c in "{}" for c in prefix):
        raise StateURLError("prefix must be a non-empty word without braces", _FIX)
    raw_timeout = query.get("timeout_ms", [str(DEFAULT_TIMEOUT_MS)])[-1]
    if not raw_timeout.isdigit() or not 1 <= int(raw_timeout) <= 10_000:
        raise StateURLError(
            f"timeout_ms must be a whole number of milliseconds from 1 to "
            f"10000, got {raw_timeout!r}",
            _FIX,
        )
    files = tuple((k, query[k][-1]) for k in ("ca_file", "cert_file", "key_file") if k in query)
    return prefix, int(raw_timeout) / 1000, files


def _host(item: str) -> tuple[str, int]:
    try:
        parts = urllib.parse.urlsplit(f"//{item}")
        host, port = parts.hostname, parts.port
    except ValueError:
        raise StateURLError("the port is not a number between 1 and 65535", _FIX) from None
    if not host:
        raise StateURLError("no host", _FIX)
    return host, port or 6379


def _display(url: str) -> str:
    """The URL with any password masked: state URLs end up in messages and status output."""
    try:
        parts = urllib.parse.urlsplit(url)
        userinfo, at, hostlist = parts.netloc.rpartition("@")
        if not at or ":" not in userinfo:
            return url
        user = userinfo.partition(":")[0]
        netloc = f"{user}:****@{hostlist}"
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    except ValueError:
        return "<unparseable URL>"


def redis_available() -> bool:
    """Whether the optional redis client is installed."""
    try:
        import redis  # noqa: F401
    except ImportError:
        return False
    return True


_at_exit: list[bool] = []


def _flush_at_exit() -> None:
    # Settlements wait up to 50 ms to ride with the next reservation; a process that exits
    # sends them first, or the usage of its last calls would never be counted.
    if not _at_exit:
        _at_exit.append(True)
        atexit.register(reset)


def open_store(state: StateURL) -> StateStore:
    """The process-wide store for this URL (created on first use, connecting lazily)."""
    # Everything that makes a different connection: credentials and TLS files included.
    key = (
        f"{state.kind}|{state.topology}|{state.client_url}|{state.db}|{state.service}|"
        f"{state.tls_files}|{state.timeout_s}"
    )
    with STATE.lock:
        store = STATE.stores.get(key)
        if store is None:
            _flush_at_exit()
            if state.kind == "memory":
                store = MemoryStore(state.display)
            else:
                from golden_path._state._redis import RedisStore

                store = RedisStore(state)
            STATE.stores[key] = store
        return cast("StateStore", store)


def reset() -> None:
    """Forget every store (tests, reconfiguration); closes Redis connections."""
    with STATE.lock:
        stores = list(STATE.stores.values())
        STATE.stores.clear()
    for store in stores:
        store.close()
