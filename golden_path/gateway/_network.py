"""The gateway's upstream sockets: httpcore2's network layer on asyncio itself, not anyio.

httpx2 and httpcore2 still do all of HTTP (h11, the connection pool, keep-alive, TLS
negotiation, timeouts as httpx2 states them); only the byte stream under them changes. Their
default backend runs each read and write inside an anyio cancel scope, and detects the event
loop (sniffio) on every lock: about a quarter of what a proxied call cost the gateway. A
gateway serves one event loop (uvicorn's), so the asyncio primitives are enough: one future per
read, a timer only when a timeout is set, reads paused when a slow app lets data pile up.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Coroutine, Iterable
from typing import Any

import httpcore2
import httpx2

__all__ = ["AsyncioBackend", "upstream_transport"]

# A streamed answer the app reads slowly stops being read from upstream past this much.
_HIGH_WATER = 256 * 1024
_LOW_WATER = 64 * 1024


def upstream_transport(
    ssl_context: ssl.SSLContext, *, max_connections: int, keepalive_expiry: float
) -> httpx2.AsyncHTTPTransport:
    """httpx2's transport, its connection pool on :class:`AsyncioBackend`.

    Kept-alive connections stay open for ``keepalive_expiry`` seconds of idleness: a replica
    between bursts keeps its connections (and their TLS sessions) warm.
    """
    limits = httpx2.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=keepalive_expiry,
    )
    transport = httpx2.AsyncHTTPTransport(verify=ssl_context, limits=limits)
    # httpx2 builds its pool with the default backend and has no argument for another; the
    # pool is rebuilt with the same settings (tests/gateway check the backend is in use).
    transport._pool = httpcore2.AsyncConnectionPool(
        ssl_context=ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=AsyncioBackend(),
    )
    return transport


class AsyncioBackend(httpcore2.AsyncNetworkBackend):
    """Opens upstream connections as asyncio transports (uvloop's, under uvicorn)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        transport, protocol = await _connecting(
            loop.create_connection(
                _Protocol, host, port, local_addr=(local_address, 0) if local_address else None
            ),
            timeout,
            f"{host}:{port}",
        )
        sock = transport.get_extra_info("socket")
        if sock is not None:
            for option in socket_options or ():
                sock.setsockopt(*option)
        return _Stream(transport, protocol)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class _Protocol(asyncio.Protocol):
    """Collects what the server sends until the stream reads it."""

    def __init__(self) -> None:
        # uvloop's transports implement asyncio's interface without subclassing it.
        self.transport: Any = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.drained: asyncio.Future[None] | None = None
        self.reading_paused = False
        self.writing_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _HIGH_WATER and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake()
        self.writing_paused = False
        drained, self.drained = self.drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        drained, self.drained = self.drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class _Stream(httpcore2.AsyncNetworkStream):
    """One connection, as httpcore2 reads and writes it."""

    def __init__(self, transport: Any, protocol: _Protocol, raw: Any = None) -> None:
        self._transport = transport
        self._protocol = protocol
        self._raw = raw  # under TLS: the TCP transport the TLS one runs on

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        if not protocol.buffer and not protocol.eof:
            await self._wait(timeout)
        buffer = protocol.buffer
        if buffer:
            if len(buffer) <= max_bytes:
                data = bytes(buffer)
                buffer.clear()
            else:
                data = bytes(buffer[:max_bytes])
                del buffer[:max_bytes]
            if protocol.reading_paused and len(buffer) < _LOW_WATER:
                protocol.reading_paused = False
                self._transport.resume_reading()
            return data
        if protocol.error is not None:
            raise httpcore2.ReadError(str(protocol.error) or type(protocol.error).__name__)
        return b""

    async def _wait(self, timeout: float | None) -> None:
        loop = asyncio.get_running_loop()
        waiter = self._protocol.waiter = loop.create_future()
        timer = None
        if timeout is not None:
            timer = loop.call_later(timeout, _expire, waiter, httpcore2.ReadTimeout)
        try:
            await waiter
        finally:
            self._protocol.waiter = None
            if timer is not None:
                timer.cancel()

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        protocol = self._protocol
        if self._transport.is_closing() or protocol.error is not None:
            raise httpcore2.WriteError("the connection is closed")
        self._transport.write(buffer)
        if not protocol.writing_paused:
            return
        loop = asyncio.get_running_loop()
        drained = protocol.drained = loop.create_future()
        timer = None
        if timeout is not None:
            timer = loop.call_later(timeout, _expire, drained, httpcore2.WriteTimeout)
        try:
            await drained
        finally:
            if timer is not None:
                timer.cancel()

    async def aclose(self) -> None:
        transport = self._transport
        if not transport.is_closing():
            transport.close()
            # close() completes on a later turn of the loop (after TLS's close_notify), and at
            # shutdown there may be no later turn: one turn, then the socket is closed for sure.
            await asyncio.sleep(0)
        transport.abort()
        if self._raw is not None:
            self._raw.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport,
                    self._protocol,
                    ssl_context,
                    server_hostname=server_hostname,
                )
        except TimeoutError:
            self._transport.close()
            raise httpcore2.ConnectTimeout("the TLS handshake timed out") from None
        except (OSError, ssl.SSLError) as exc:
            self._transport.close()
            raise httpcore2.ConnectError(str(exc)) from exc
        assert transport is not None
        return _Stream(transport, self._protocol, raw=self._transport)

    def get_extra_info(self, info: str) -> Any:
        transport = self._transport
        if info == "ssl_object":
            return transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return transport.get_extra_info("sockname")
        if info == "server_addr":
            return transport.get_extra_info("peername")
        if info == "socket":
            sock: socket.socket | None = transport.get_extra_info("socket")
            return sock
        if info == "is_readable":
            # An idle kept-alive connection with something to read was closed by the server.
            return bool(self._protocol.buffer) or self._protocol.eof
        return None


async def _connecting(
    opening: Coroutine[Any, Any, tuple[Any, _Protocol]], timeout: float | None, where: str
) -> tuple[Any, _Protocol]:
    """A connection opened within ``timeout``, its failures in httpcore2's exceptions."""
    try:
        async with asyncio.timeout(timeout):
            return await opening
    except TimeoutError:
        raise httpcore2.ConnectTimeout(f"connecting to {where} timed out") from None
    except OSError as exc:
        raise httpcore2.ConnectError(str(exc)) from exc


def _expire(future: asyncio.Future[None], error: type[Exception]) -> None:
    if not future.done():
        future.set_exception(error("timed out"))
