"""An HTTP/1.1 client on asyncio with httptools' parser, under httpx2: a fast innermost hop.

Two users: the gateway's upstream pool, and the in-process client's async wire
(``async_transport = "httptools"``, and what ``auto`` picks when aiohttp is not installed).
The transport chain above it is httpx2's (``httpx2.Request`` and ``httpx2.Response``, the
governed transport with its policies, credentials and audit); this is its innermost hop. It
replaces httpcore2's connection pool and h11 because, measured in the gateway process and under
the in-process async client, they were the largest share of what a call cost: h11 validates and
re-encodes every header in Python and runs a state machine per event, the pool takes anyio locks
and cancel scopes and asks sniffio for the event loop several times per call, and the request
head and body went out in separate writes. Here a request is one ``write`` (head and body
joined), the response is parsed by httptools (llhttp, in C; the parser uvicorn itself uses), and
the pool is a list of idle connections per origin. One pool belongs to one event loop.

What it keeps: TLS verified against the given context (hostname checked), httpx2's four
timeouts as the request's ``timeout`` extension states them (connect, the TLS handshake
included; write, when the socket buffers are full; read, per wait for data; pool, per wait for
a free connection), httpx2's exception types (``ConnectError``, ``ReadTimeout``...), a bound on
open connections, kept-alive connections reused only when the upstream said keep-alive and
dropped when the upstream closed them while idle or after ``keepalive_expiry`` seconds idle,
streamed bodies passed chunk by chunk with reads paused when a slow app lets data pile up, and
header values that can never split the request (a CR, LF or NUL in any of them is refused).
Like httpx2 given a transport, it reads no proxy variables and no ``.netrc``.
"""

from __future__ import annotations

import asyncio
import collections
import select
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import httptools
import httpx2

__all__ = [
    "DEFAULT_PORTS",
    "LAST_CHUNK",
    "Answer",
    "UpstreamPool",
    "answered",
    "chunk",
    "head_of",
    "is_chunked",
    "outgoing",
    "readable",
    "take_oldest_idle",
    "upstream_transport",
]

# A streamed answer the app reads slowly stops being read from upstream past this much.
_HIGH_WATER = 256 * 1024
_LOW_WATER = 64 * 1024
DEFAULT_PORTS = {b"http": 80, b"https": 443}


def upstream_transport(
    ssl_context: ssl.SSLContext, *, max_connections: int, keepalive_expiry: float
) -> UpstreamPool:
    """A pool of at most ``max_connections`` open, idle ones kept ``keepalive_expiry`` s.

    Kept-alive connections stay open for ``keepalive_expiry`` seconds of idleness: a gateway
    replica between bursts keeps its connections (and their TLS sessions) warm.
    """
    return UpstreamPool(
        ssl_context, max_connections=max_connections, keepalive_expiry=keepalive_expiry
    )


class Answer:
    """What httptools' callbacks record of one answer on a connection; both wires share it.

    A subclass sets ``parser`` (``httptools.HttpResponseParser(self)``) and ``on_body``.
    """

    parser: Any
    status: int
    reason: bytes
    headers: httpx2.Headers
    head_done: bool
    complete: bool
    reusable: bool
    chunks: collections.deque[bytes]
    messages: int
    until_eof: bool
    pool_key: tuple[bytes, bytes, int] | None
    idle_since: float
    closed: bool

    def begin(self) -> None:
        """A new request on this connection: a fresh answer to parse."""
        self.status = 0
        self.reason = b""
        self.headers = httpx2.Headers()
        self.head_done = False
        self.complete = False
        self.reusable = False
        self.chunks = collections.deque()
        self.messages = 0
        self.until_eof = False  # no content-length, not chunked: the body ends when it closes

    def keepable(self) -> bool:
        """Whether the connection may carry the next request.

        Its answer was read to the end with nothing after it, and the server said keep-alive.
        """
        return self.reusable and self.complete and not self.chunks and not self.closed

    def on_message_begin(self) -> None:
        self.messages += 1

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        # httpx2's own layout (the name as sent, lower-cased, the value): the response takes
        # the list as it is, instead of normalising bytes that are bytes already, per header.
        self.headers._list.append((name, name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:
            # An interim answer (100 Continue, 103 Early Hints): the real one follows.
            self.headers = httpx2.Headers()
            self.reason = b""
            self.messages -= 1
            return
        self.status = status
        self.head_done = True
        self.until_eof = status not in (204, 304) and not any(
            lower in (b"content-length", b"transfer-encoding") for _, lower, _ in self.headers._list
        )

    def on_message_complete(self) -> None:
        if not self.head_done:
            return  # the end of an interim answer
        self.complete = True
        self.reusable = self.parser.should_keep_alive() and self.messages == 1


_Idle = TypeVar("_Idle", bound=Answer)


def take_oldest_idle(
    idle: dict[tuple[bytes, bytes, int], collections.deque[_Idle]],
) -> _Idle | None:
    """The longest-idle connection of any origin, taken out of ``idle`` (None: none idle)."""
    oldest: _Idle | None = None
    for connections in idle.values():
        if connections and (oldest is None or connections[0].idle_since < oldest.idle_since):
            oldest = connections[0]
    if oldest is not None:
        assert oldest.pool_key is not None  # an idle connection is filed under its origin
        idle[oldest.pool_key].popleft()
    return oldest


class UpstreamPool(httpx2.AsyncBaseTransport):
    """Kept-alive HTTP/1.1 connections per origin, bounded in number. One event loop's."""

    def __init__(
        self, ssl_context: ssl.SSLContext, *, max_connections: int, keepalive_expiry: float
    ) -> None:
        self._ssl = ssl_context
        self._max = max_connections
        self._expiry = keepalive_expiry
        self._idle: dict[tuple[bytes, bytes, int], collections.deque[_Connection]] = {}
        # Every connection open, idle or busy: closing the pool closes them all, so a stream
        # left unread when its event loop ends does not leave a socket behind.
        self._connections: set[_Connection] = set()
        self._open = 0  # connections open or being opened: at most self._max
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self._closed = False

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send ``request``; the response's body streams from the connection."""
        timeouts, origin, head, body = outgoing(request)
        connection = await self._acquire(origin, timeouts, request)
        connection.begin()
        try:
            if body is not None:
                await connection.write(head + body, timeouts.get("write"), request)
            else:
                await connection.write(head, timeouts.get("write"), request)
                await self._send_stream(connection, request, timeouts.get("write"))
            answer_head = await connection.response_head(timeouts.get("read"), request)
        except BaseException:
            self._drop(connection)
            raise
        body_stream = _Body(self, connection, timeouts.get("read"), request)
        return answered(request, connection, answer_head, body_stream)

    async def _send_stream(
        self, connection: _Connection, request: httpx2.Request, timeout: float | None
    ) -> None:
        chunked = is_chunked(request)
        assert isinstance(request.stream, httpx2.AsyncByteStream)
        async for part in request.stream:
            if part:
                await connection.write(chunk(part, chunked), timeout, request)
        if chunked:
            await connection.write(LAST_CHUNK, timeout, request)

    async def _acquire(
        self,
        origin: tuple[bytes, bytes, int],
        timeouts: dict[str, float | None],
        request: httpx2.Request,
    ) -> _Connection:
        if self._closed:
            raise httpx2.ConnectError("the connection pool is closed", request=request)
        while True:
            idle = self._idle.get(origin)
            if idle:
                idle_after = time.monotonic() - self._expiry
                while idle:
                    connection = idle.pop()  # the most recently used: the likeliest to be open
                    if connection.usable(idle_after):
                        connection.busy = True
                        return connection
                    self._drop(connection)
            if self._open < self._max or self._evict_idle():
                break
            await self._wait_for_room(timeouts.get("pool"), request)
            if self._closed:
                raise httpx2.ConnectError("the connection pool is closed", request=request)
        self._open += 1
        try:
            connection = await _connect(self._ssl, origin, timeouts.get("connect"), request)
        except BaseException:
            self._open -= 1
            self._wake_one()
            raise
        connection.counted = True
        self._connections.add(connection)
        connection.pool = self
        connection.pool_key = origin
        connection.busy = True
        return connection

    async def _wait_for_room(self, timeout: float | None, request: httpx2.Request) -> None:
        room: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(room)
        try:
            async with asyncio.timeout(timeout):
                await room
        except TimeoutError:
            raise httpx2.PoolTimeout(
                f"no upstream connection free within {timeout} s "
                f"({self._max} open, the pool's limit)",
                request=request,
            ) from None
        finally:
            if room in self._waiting:
                self._waiting.remove(room)

    def _evict_idle(self) -> bool:
        """Close the longest-idle connection (of another origin) to make room for a new one."""
        oldest = take_oldest_idle(self._idle)
        if oldest is None:
            return False
        self._drop(oldest)
        return True

    def _wake_one(self) -> None:
        while self._waiting:
            room = self._waiting.popleft()
            if not room.done():
                room.set_result(None)
                return

    def release(self, connection: _Connection) -> None:
        """A response read to its end: keep the connection for the next call, or close it."""
        connection.busy = False
        key = connection.pool_key
        if self._closed or key is None or not connection.keepable():
            self._drop(connection)
            return
        connection.idle_since = time.monotonic()
        self._idle.setdefault(key, collections.deque()).append(connection)
        self._wake_one()

    def _drop(self, connection: _Connection) -> None:
        self._connections.discard(connection)
        if connection.counted:
            connection.counted = False
            self._open -= 1
            self._wake_one()
        connection.close()

    def forget(self, connection: _Connection) -> None:
        """An idle connection the upstream closed: out of the pool at once."""
        idle = self._idle.get(connection.pool_key) if connection.pool_key else None
        if idle is not None and connection in idle:
            idle.remove(connection)
            self._drop(connection)

    async def aclose(self) -> None:
        self._closed = True
        closing = list(self._connections)
        self._idle.clear()
        for connection in closing:
            self._drop(connection)
        while self._waiting:
            room = self._waiting.popleft()
            if not room.done():
                room.set_result(None)
        # close() completes on a later turn of the loop (after TLS's close_notify), and at
        # shutdown there may be no later turn: one turn, then the sockets are closed for sure.
        await asyncio.sleep(0)
        for connection in closing:
            connection.transport.abort()


async def _connect(
    context: ssl.SSLContext,
    origin: tuple[bytes, bytes, int],
    timeout: float | None,
    request: httpx2.Request,
) -> _Connection:
    scheme, raw_host, port = origin
    host = raw_host.decode("ascii")
    loop = asyncio.get_running_loop()
    tls = scheme == b"https"
    try:
        async with asyncio.timeout(timeout):
            _, connection = await loop.create_connection(
                _Connection,
                host,
                port,
                ssl=context if tls else None,
                server_hostname=host if tls else None,
            )
    except TimeoutError:
        raise httpx2.ConnectTimeout(
            f"connecting to {host}:{port} timed out", request=request
        ) from None
    except (OSError, ssl.SSLError) as exc:
        raise httpx2.ConnectError(
            f"{host}:{port}: {exc or type(exc).__name__}", request=request
        ) from exc
    return connection


class _Connection(Answer, asyncio.Protocol):
    """One upstream connection: the socket's events, and httptools parsing what arrives."""

    def __init__(self) -> None:
        self.transport: Any = None  # uvloop's transports implement asyncio's without subclassing
        self.parser = httptools.HttpResponseParser(self)
        self.pool_key: tuple[bytes, bytes, int] | None = None
        self.counted = False  # holds one of the pool's places
        self.busy = False
        self.idle_since = 0.0
        self.closed = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.drained: asyncio.Future[None] | None = None
        self.reading_paused = False
        self.writing_paused = False
        self.pool: UpstreamPool | None = None
        self.fileno = -1
        self.begin()

    def begin(self) -> None:
        """A new request on this connection: a fresh answer to parse."""
        super().begin()
        self.buffered = 0

    def usable(self, idle_after: float) -> bool:
        """Idle, open, not closed by the upstream, and not idle for too long.

        The socket is polled too: an upstream's close (its idle timeout, a restart) may have
        reached the kernel before the event loop saw it, and a request written on that
        connection would fail with no answer.
        """
        if self.closed or self.idle_since <= idle_after or self.transport.is_closing():
            return False
        return not readable(self.fileno)

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.fileno = transport.get_extra_info("socket").fileno()

    def data_received(self, data: bytes) -> None:
        if not self.busy:
            # Nothing is owed to an idle connection: whatever it says, it is not reused.
            self.error = httpx2.RemoteProtocolError("the upstream sent data on an idle connection")
            self.messages += 1
            self.closed = True
            self.transport.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.error = httpx2.RemoteProtocolError(f"the upstream's answer does not parse: {exc}")
            self.closed = True
            self.transport.close()
        self._wake()

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.until_eof and self.head_done and exc is None:
            self.complete = True  # the close is the body's end (reusable stays False)
        if not self.complete and self.error is None:
            # A clean close before the answer's end is what httpx2 (h11) and aiohttp call a
            # protocol error; a reset or another socket error is a read error.
            self.error = exc or httpx2.RemoteProtocolError(
                "the server closed the connection without a complete answer"
                if self.head_done
                else "the server disconnected without sending an answer"
            )
        self._wake()
        self.writing_paused = False
        drained, self.drained = self.drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)
        if not self.busy and self.pool is not None:
            self.pool.forget(self)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        drained, self.drained = self.drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    # -- httptools callbacks (the rest are Answer's)

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > _HIGH_WATER and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()

    # -- used by the pool and the body

    async def write(self, data: bytes, timeout: float | None, request: httpx2.Request) -> None:
        if self.closed or self.transport.is_closing():
            raise httpx2.WriteError("the upstream connection is closed", request=request)
        self.transport.write(data)
        if not self.writing_paused:
            return
        drained = self.drained = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):
                await drained
        except TimeoutError:
            raise httpx2.WriteTimeout(
                f"the upstream did not read the request within {timeout} s", request=request
            ) from None
        if self.closed:
            raise httpx2.WriteError("the upstream closed the connection", request=request)

    async def response_head(
        self, timeout: float | None, request: httpx2.Request
    ) -> tuple[int, httpx2.Headers, bytes]:
        while not self.head_done:
            await self.wait(timeout, request)
        return self.status, self.headers, self.reason

    async def wait(self, timeout: float | None, request: httpx2.Request) -> None:
        """Until more arrives; raises when the connection failed or ``timeout`` passed."""
        if self.error is not None:
            if isinstance(self.error, httpx2.TransportError):
                raise type(self.error)(str(self.error), request=request)
            raise httpx2.ReadError(
                f"the upstream closed the connection: {self.error}"
                if str(self.error)
                else "the upstream closed the connection",
                request=request,
            ) from self.error
        loop = asyncio.get_running_loop()
        waiter = self.waiter = loop.create_future()
        timer = None
        if timeout is not None:
            timer = loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()
        if waiter.result() is _TIMED_OUT:
            raise httpx2.ReadTimeout(f"the upstream sent nothing for {timeout} s", request=request)

    def take(self) -> bytes | None:
        """The next body chunk received, if any."""
        if not self.chunks:
            return None
        chunk = self.chunks.popleft()
        self.buffered -= len(chunk)
        if self.reading_paused and self.buffered < _LOW_WATER:
            self.reading_paused = False
            self.transport.resume_reading()
        return chunk

    def close(self) -> None:
        self.closed = True
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.close()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


_TIMED_OUT: Any = object()


def readable(fileno: int) -> bool:
    """Whether the socket has something to read (or its peer's close) right now."""
    if _poll is None:  # Windows: select() takes any socket handle there, and only this one
        return bool(select.select([fileno], [], [], 0)[0])
    poll = _poll()  # not select.select: a replica's descriptors pass 1024
    poll.register(fileno, select.POLLIN)
    return bool(poll.poll(0))


_poll = getattr(select, "poll", None)


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_result(_TIMED_OUT)


class _Body(httpx2.AsyncByteStream):
    """The response body as it arrives; the connection goes back to the pool at its end."""

    def __init__(
        self,
        pool: UpstreamPool,
        connection: _Connection,
        timeout: float | None,
        request: httpx2.Request,
    ) -> None:
        self._pool = pool
        self._connection: _Connection | None = connection
        self._timeout = timeout
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        if connection is None:
            raise httpx2.StreamClosed()
        while True:
            chunk = connection.take()
            if chunk is not None:
                yield chunk
            elif connection.complete:
                return
            else:
                await connection.wait(self._timeout, self._request)

    async def read_all(self) -> bytes:
        """The whole body (what a buffered call needs; no async generator step per chunk)."""
        connection = self._connection
        if connection is None:
            raise httpx2.StreamClosed()
        parts = []
        while True:
            chunk = connection.take()
            while chunk is not None:
                parts.append(chunk)
                chunk = connection.take()
            if connection.complete:
                return b"".join(parts)
            await connection.wait(self._timeout, self._request)

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            # Not read to its end (the app went away, or an error), it is closed: the rest of
            # the answer would arrive on the next call's connection.
            self._pool.release(connection)


def outgoing(
    request: httpx2.Request,
) -> tuple[dict[str, float | None], tuple[bytes, bytes, int], bytes, bytes | None]:
    """What a wire needs of ``request``: its timeouts, origin, head, and body when read."""
    timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
    url = request.url
    scheme = url.raw_scheme
    if scheme not in DEFAULT_PORTS:
        raise httpx2.UnsupportedProtocol(
            f"this client speaks http and https, not {scheme.decode()!r}",
            request=request,
        )
    origin = (scheme, url.raw_host, url.port or DEFAULT_PORTS[scheme])
    try:
        body: bytes | None = request.content
    except httpx2.RequestNotRead:
        body = None  # a stream: sent chunk by chunk after the head
    return timeouts, origin, head_of(request), body


def is_chunked(request: httpx2.Request) -> bool:
    """Whether a streamed request body goes out in chunked transfer coding."""
    return request.headers.get("transfer-encoding", "").lower() == "chunked"


def chunk(part: bytes, chunked: bool) -> bytes:
    """One part of a streamed request body as it goes on the wire (see :data:`LAST_CHUNK`)."""
    return b"%x\r\n%s\r\n" % (len(part), part) if chunked else part


LAST_CHUNK = b"0\r\n\r\n"  # what ends a chunked body


def answered(
    request: httpx2.Request,
    answer: Answer,
    head: tuple[int, httpx2.Headers, bytes],
    stream: httpx2.SyncByteStream | httpx2.AsyncByteStream,
) -> httpx2.Response:
    """The response to ``request`` whose ``head`` (status, headers, reason) has arrived.

    Its body is read from ``stream`` (each wire's own). Both wires end here.
    """
    if request.method == "HEAD":
        # httptools would wait for the body a HEAD answer's content-length announces.
        answer.reusable = False
        answer.complete = True
    status, headers, reason = head
    return httpx2.Response(
        status,
        headers=headers,
        stream=stream,
        extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
    )


def head_of(request: httpx2.Request) -> bytes:
    """The request line and headers, refused if any header could split the request."""
    url = request.url
    lines = [b"%s %s HTTP/1.1\r\n" % (request.method.encode("ascii"), url.raw_path)]
    raw = request.headers.raw
    for name, value in raw:
        lines.append(b"%s: %s\r\n" % (name, value))
    lines.append(b"\r\n")
    head = b"".join(lines)
    # One line per header, the request line and the blank line: a CR, LF or NUL inside a name
    # or value (which would inject a header or a second request) changes these counts.
    newlines = len(raw) + 2
    if head.count(b"\n") != newlines or head.count(b"\r") != newlines or b"\0" in head:
        raise httpx2.LocalProtocolError(
            "a request header contains a line break or NUL; it is not sent", request=request
        )
    return head
