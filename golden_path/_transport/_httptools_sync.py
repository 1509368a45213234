"""The blocking twin of ``_httptools``: the innermost hop under sync calls.

``sync_transport = "httptools"`` (and what ``auto`` picks when httptools is installed). As on
the async side, everything that governs (policies, credentials, audit) sits above it, in
httpx2's transport chain; this replaces only httpcore2's connection pool and h11 underneath.
Measured under the SDK's sync calls they cost more CPU than all of golden-path's policies and
audit together (docs/benchmarks.md): h11 validates and re-encodes every header in Python and
runs a state machine per event, the pool takes locks and opens trace contexts several times per
call, and the request head and body go out in separate ``send`` calls. Here a request is one
``sendall`` (head and body joined), the response is parsed by httptools (llhttp, in C), and the
pool is a list of idle connections per origin under one lock.

What it keeps of ``httpx2.HTTPTransport``: TLS verified against the given context (hostname
checked), httpx2's four timeouts as the request's ``timeout`` extension states them (connect,
the TLS handshake included; write; read, per wait for data; pool, per wait for a free
connection), httpx2's exception types, a bound on open connections shared by every thread,
kept-alive connections reused only when the server said keep-alive and dropped when the server
closed them while idle or after ``keepalive_expiry`` seconds idle, streamed bodies read chunk by
chunk as the caller asks, and header values that can never split the request. Like httpx2
given a transport, it reads no proxy variables and no ``.netrc``.
"""

from __future__ import annotations

import collections
import os
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Iterator

import httptools
import httpx2

from golden_path._transport._httptools import (
    LAST_CHUNK,
    Answer,
    answered,
    chunk,
    is_chunked,
    outgoing,
    readable,
    take_oldest_idle,
)

__all__ = ["SyncUpstreamPool"]

# One recv: a TLS record is at most 16 KB; a plain socket hands over what has arrived.
_READ_SIZE = 65536
# A body larger than this goes out in its own sendall, not copied onto the head.
_JOIN_LIMIT = 64 * 1024


class SyncUpstreamPool(httpx2.BaseTransport):
    """Kept-alive HTTP/1.1 connections per origin, at most ``max_connections`` open.

    Shared by every thread of the client: connections are handed out and taken back under one
    lock, and a thread that finds the pool full waits (the ``pool`` timeout) for another to
    give one back.
    """

    def __init__(
        self, ssl_context: ssl.SSLContext, *, max_connections: int, keepalive_expiry: float
    ) -> None:
        self._ssl = ssl_context
        self._max = max_connections
        self._expiry = keepalive_expiry
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._idle: dict[tuple[bytes, bytes, int], collections.deque[_Connection]] = {}
        # Every connection open, idle or busy: closing the pool closes them all.
        self._connections: set[_Connection] = set()
        self._open = 0  # connections open or being opened: at most self._max
        self._closed = False
        _POOLS.add(self)

    def _forked(self) -> None:
        """In a forked child: forget the parent's connections, and its lock.

        Another of the parent's threads may have held the lock at the fork. The sockets are
        the parent's too: a request from both processes on one connection would interleave on
        the wire and each read the other's answer. Closing the child's copies sends nothing
        (no TLS close_notify), so the parent's connections stay up.
        """
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        for connection in self._connections:
            connection.close()
        self._connections.clear()
        self._idle.clear()
        self._open = 0

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send ``request``; the response's body streams from the connection."""
        timeouts, origin, head, body = outgoing(request)
        connection = self._acquire(origin, timeouts, request)
        connection.begin()
        write = timeouts.get("write")
        try:
            if body is None:
                connection.send(head, write, request)
                self._send_stream(connection, request, write)
            elif len(body) <= _JOIN_LIMIT:
                connection.send(head + body, write, request)
            else:
                connection.send(head, write, request)
                connection.send(body, write, request)
            answer_head = connection.response_head(timeouts.get("read"), request)
        except BaseException:
            self._drop(connection)
            raise
        body_stream = _Body(self, connection, timeouts.get("read"), request)
        return answered(request, connection, answer_head, body_stream)

    @staticmethod
    def _send_stream(
        connection: _Connection, request: httpx2.Request, timeout: float | None
    ) -> None:
        chunked = is_chunked(request)
        assert isinstance(request.stream, httpx2.SyncByteStream)
        for part in request.stream:
            if part:
                connection.send(chunk(part, chunked), timeout, request)
        if chunked:
            connection.send(LAST_CHUNK, timeout, request)

    def _acquire(
        self,
        origin: tuple[bytes, bytes, int],
        timeouts: dict[str, float | None],
        request: httpx2.Request,
    ) -> _Connection:
        wait = timeouts.get("pool")
        deadline = None if wait is None else time.monotonic() + wait
        with self._lock:
            while True:
                if self._closed:
                    raise httpx2.ConnectError("the connection pool is closed", request=request)
                idle = self._idle.get(origin)
                if idle:
                    idle_after = time.monotonic() - self._expiry
                    while idle:
                        connection = idle.pop()  # the most recently used: the likeliest open
                        if connection.usable(idle_after):
                            connection.busy = True
                            return connection
                        self._drop_locked(connection)
                if self._open < self._max or self._evict_idle():
                    break
                left = None if deadline is None else deadline - time.monotonic()
                if (left is not None and left <= 0) or not self._room.wait(left):
                    raise httpx2.PoolTimeout(
                        f"no connection free within {wait} s ({self._max} open, the pool's limit)",
                        request=request,
                    )
            self._open += 1
        try:
            connection = _connect(self._ssl, origin, timeouts.get("connect"), request)
        except BaseException:
            with self._lock:
                self._open -= 1
                self._room.notify()
            raise
        connection.pool_key = origin
        connection.busy = True
        with self._lock:
            if self._closed:  # closed while this one was connecting
                self._open -= 1
                connection.close()
                raise httpx2.ConnectError("the connection pool is closed", request=request)
            connection.counted = True
            self._connections.add(connection)
        return connection

    def _evict_idle(self) -> bool:
        """Close the longest-idle connection (of another origin) to make room for a new one."""
        oldest = take_oldest_idle(self._idle)
        if oldest is None:
            return False
        self._drop_locked(oldest)
        return True

    def release(self, connection: _Connection) -> None:
        """A response read to its end: keep the connection for the next call, or close it."""
        with self._lock:
            connection.busy = False
            key = connection.pool_key
            if self._closed or key is None or not connection.keepable():
                self._drop_locked(connection)
                return
            connection.idle_since = time.monotonic()
            self._idle.setdefault(key, collections.deque()).append(connection)
            self._room.notify()

    def _drop(self, connection: _Connection) -> None:
        with self._lock:
            self._drop_locked(connection)

    def _drop_locked(self, connection: _Connection) -> None:
        self._connections.discard(connection)
        if connection.counted:
            connection.counted = False
            self._open -= 1
            self._room.notify()
        connection.close()

    def close(self) -> None:
        """Close every connection, idle or in use; later requests are refused."""
        with self._lock:
            self._closed = True
            self._idle.clear()
            for connection in list(self._connections):
                self._drop_locked(connection)
            self._room.notify_all()


# Every pool alive, for the fork hook (weakly: a dropped client's pool is not kept).
_POOLS: weakref.WeakSet[SyncUpstreamPool] = weakref.WeakSet()


def _after_fork() -> None:
    for pool in list(_POOLS):
        pool._forked()


if hasattr(os, "register_at_fork"):  # POSIX; Windows has no fork
    os.register_at_fork(after_in_child=_after_fork)


def _connect(
    context: ssl.SSLContext,
    origin: tuple[bytes, bytes, int],
    timeout: float | None,
    request: httpx2.Request,
) -> _Connection:
    scheme, raw_host, port = origin
    host = raw_host.decode("ascii")
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError:
        raise httpx2.ConnectTimeout(
            f"connecting to {host}:{port} timed out", request=request
        ) from None
    except OSError as exc:
        raise httpx2.ConnectError(
            f"{host}:{port}: {exc or type(exc).__name__}", request=request
        ) from exc
    try:
        # The head and a small body go out in one send: nothing for Nagle to hold back.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if scheme == b"https":
            # The handshake runs under the connect timeout (the socket's, until the first send).
            sock = context.wrap_socket(sock, server_hostname=host)
    except TimeoutError:
        sock.close()
        raise httpx2.ConnectTimeout(
            f"the TLS handshake with {host}:{port} timed out", request=request
        ) from None
    except OSError as exc:  # ssl.SSLError is an OSError
        sock.close()
        raise httpx2.ConnectError(
            f"{host}:{port}: {exc or type(exc).__name__}", request=request
        ) from exc
    return _Connection(sock, timeout)


class _Connection(Answer):
    """One connection: its socket, and httptools parsing what arrives on it."""

    def __init__(self, sock: socket.socket, timeout: float | None) -> None:
        self.sock = sock
        self.fileno = sock.fileno()
        self._timeout = timeout  # the socket's, set again only when a request asks otherwise
        self.parser = httptools.HttpResponseParser(self)
        self.pool_key: tuple[bytes, bytes, int] | None = None
        self.counted = False  # holds one of the pool's places
        self.busy = False
        self.idle_since = 0.0
        self.closed = False
        self.begin()

    def usable(self, idle_after: float) -> bool:
        """Open, not idle for too long, and with nothing to read.

        A server's close (its idle timeout, a restart) shows as a readable socket, and a
        request written on that connection would fail with no answer.
        """
        return not self.closed and self.idle_since > idle_after and not readable(self.fileno)

    def _settimeout(self, timeout: float | None) -> None:
        # settimeout is a system call or two; most requests carry the same timeouts.
        if timeout != self._timeout:
            self.sock.settimeout(timeout)
            self._timeout = timeout

    def send(self, data: bytes, timeout: float | None, request: httpx2.Request) -> None:
        if self.closed:
            raise httpx2.WriteError("the connection is closed", request=request)
        self._settimeout(timeout)
        try:
            self.sock.sendall(data)
        except TimeoutError:
            self.closed = True
            raise httpx2.WriteTimeout(
                f"the server did not read the request within {timeout} s", request=request
            ) from None
        except OSError as exc:
            self.closed = True
            raise httpx2.WriteError(f"{exc or type(exc).__name__}", request=request) from exc

    def response_head(
        self, timeout: float | None, request: httpx2.Request
    ) -> tuple[int, httpx2.Headers, bytes]:
        while not self.head_done:
            self.fill(timeout, request)
        return self.status, self.headers, self.reason

    def fill(self, timeout: float | None, request: httpx2.Request) -> None:
        """Read what arrives next (waiting at most ``timeout`` for it) and parse it."""
        if self.closed:
            raise httpx2.ReadError("the connection is closed", request=request)
        self._settimeout(timeout)
        try:
            data = self.sock.recv(_READ_SIZE)
        except TimeoutError:
            self.closed = True  # the rest of this answer would arrive on the next request's
            raise httpx2.ReadTimeout(
                f"the server sent nothing for {timeout} s", request=request
            ) from None
        except OSError as exc:
            self.closed = True
            raise httpx2.ReadError(f"{exc or type(exc).__name__}", request=request) from exc
        if not data:
            self.closed = True
            if self.until_eof and self.head_done:
                self.complete = True  # the close is the body's end (reusable stays False)
                return
            # What httpx2 (h11) calls a clean close before the answer's end.
            raise httpx2.RemoteProtocolError(
                "the server closed the connection without a complete answer"
                if self.head_done
                else "the server disconnected without sending an answer",
                request=request,
            )
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.closed = True
            raise httpx2.RemoteProtocolError(
                f"the server's answer does not parse: {exc}", request=request
            ) from None

    def close(self) -> None:
        self.closed = True
        self.sock.close()

    # -- httptools callbacks (the rest are Answer's)

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)


class _Body(httpx2.SyncByteStream):
    """The response body as it arrives; the connection goes back to the pool at its end."""

    def __init__(
        self,
        pool: SyncUpstreamPool,
        connection: _Connection,
        timeout: float | None,
        request: httpx2.Request,
    ) -> None:
        self._pool = pool
        self._connection: _Connection | None = connection
        self._timeout = timeout
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        connection = self._connection
        if connection is None:
            raise httpx2.StreamClosed()
        chunks = connection.chunks
        while True:
            while chunks:
                yield chunks.popleft()
            if connection.complete:
                return
            connection.fill(self._timeout, self._request)

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            # Not read to its end (the caller went away, or an error), it is closed: the rest
            # of the answer would arrive on the next request's connection.
            self._pool.release(connection)

    def __del__(self) -> None:
        # A response dropped without close() (held in a reference cycle, say) gives its
        # connection's place back when collected, instead of holding it until the pool is full.
        if self._connection is not None:
            self.close()
