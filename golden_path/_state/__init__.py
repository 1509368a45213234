"""State stores for limits: ``memory://`` (one process) and ``redis://`` (a fleet).

``open_store(url)`` returns the process-wide store for a URL: every client of a process that
names the same URL shares the same counters (and, for Redis, the same connection pool).
"""

from __future__ import annotations

import dataclasses
import threading
import urllib.parse

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
_QUERY_KEYS = ("prefix", "timeout_ms")


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


_FIX = (
    "use memory:// (one process) or redis://HOST:PORT/DB "
    "(options: ?prefix=NAME&timeout_ms=100), e.g. redis://127.0.0.1:6379/0"
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
    if scheme not in ("redis", "rediss"):
        shown = f"{scheme}://" if scheme else repr(_display(url))
        raise StateURLError(f"unsupported state store {shown}", _FIX)
    try:
        host, _ = parts.hostname, parts.port
    except ValueError:
        raise StateURLError("the port is not a number between 1 and 65535", _FIX) from None
    if not host:
        raise StateURLError("no host", _FIX)
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise StateURLError(f"database {db!r} is not a number", _FIX)
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - set(_QUERY_KEYS))
    if unknown:
        raise StateURLError(f"unknown option(s) {', '.join(unknown)}", _FIX)
    prefix = query.get("prefix", [DEFAULT_PREFIX])[-1]
    if not prefix or any(c.isspace() for c in prefix):
        raise StateURLError("prefix must be a non-empty word", _FIX)
    raw_timeout = query.get("timeout_ms", [str(DEFAULT_TIMEOUT_MS)])[-1]
    if not raw_timeout.isdigit() or not 1 <= int(raw_timeout) <= 10_000:
        raise StateURLError(
            f"timeout_ms must be a whole number of milliseconds from 1 to "
            f"10000, got {raw_timeout!r}",
            _FIX,
        )
    client_url = urllib.parse.urlunsplit((scheme, parts.netloc, parts.path, "", ""))
    return StateURL("redis", client_url, _display(url), prefix, int(raw_timeout) / 1000)


def _display(url: str) -> str:
    """The URL with any password masked: state URLs end up in messages and status output."""
    try:
        parts = urllib.parse.urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        netloc = f"{user}:****@{host}{port}"
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


_stores: dict[str, StateStore] = {}
_lock = threading.Lock()


def open_store(state: StateURL) -> StateStore:
    """The process-wide store for this URL (created on first use, connecting lazily)."""
    key = f"{state.client_url}|{state.timeout_s}"
    with _lock:
        store = _stores.get(key)
        if store is None:
            if state.kind == "memory":
                store = MemoryStore(state.display)
            else:
                from golden_path._state._redis import RedisStore

                store = RedisStore(
                    state.client_url, display_url=state.display, timeout_s=state.timeout_s
                )
            _stores[key] = store
        return store


def reset() -> None:
    """Forget every store (tests, reconfiguration); closes Redis connections."""
    with _lock:
        stores = list(_stores.values())
        _stores.clear()
    for store in stores:
        store.close()
