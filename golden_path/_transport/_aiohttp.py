"""An ``httpx2`` async transport that sends through aiohttp: the inner wire when it is installed.

Why: with aiohttp importable the raw SDK sends its async calls through aiohttp, and on this
stack that is several times the throughput of httpx2's async pool (httpcore's per-request pool
bookkeeping, anyio's socket layer and its 20-connection keep-alive cap dominate at 64-256 in
flight; docs/benchmarks.md). golden-path keeps the SDK on its ``httpx2.AsyncClient`` (so every
request still passes the governed transport: policies, credentials, audit) and swaps only the
innermost hop, below everything that governs.

What it keeps from ``httpx2.AsyncHTTPTransport``: the bytes on the wire (no header aiohttp
would add on its own, no decompression: httpx2 decodes as before), the per-request timeouts
(connect, pool, read; httpx2's write timeout has no aiohttp counterpart), httpx2's exception
types (so the SDK's retries and the callers' ``except`` clauses see what they saw before), the
shared SSL context, no proxy or .netrc lookups, and streamed bodies read chunk by chunk. One
instance is one aiohttp session, bound to the event loop it was built in:
``GovernedAsyncTransport`` keeps one per running loop and closes it before that loop ends.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx2

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AiohttpTransport"]

# Headers aiohttp adds when a request lacks them; httpx2 already decided what to send.
_SKIP_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
# httpx2's own pool limit: a burst of 256 calls opens at most this many sockets per loop.
MAX_CONNECTIONS = 100


class AiohttpTransport(httpx2.AsyncBaseTransport):
    """One aiohttp session behind the ``httpx2.AsyncBaseTransport`` interface.

    Build it inside the event loop that will use it.
    """

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        import aiohttp
        import yarl

        self._aiohttp = aiohttp
        self._url = functools.partial(yarl.URL, encoded=True)
        # One ClientTimeout per distinct (pool, connect, read): the SDK sends the same few.
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS, ssl=ssl_context),
            # httpx2 decodes gzip/deflate itself, from the raw bytes, exactly as before.
            auto_decompress=False,
            # httpx2's client keeps the cookies; a second jar would replay them unasked.
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=_SKIP_AUTO_HEADERS,
            timeout=aiohttp.ClientTimeout(total=None),
            # httpx2 given a transport reads no proxy variables and no .netrc, and neither does
            # this: a .netrc entry would otherwise add credentials to a request, and aiohttp
            # looks both up in a worker thread per request (two thread hops per call).
            trust_env=False,
        )

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send ``request`` (its body already read) and return the response, streamed."""
        aiohttp = self._aiohttp
        given: dict[str, float | None] = request.extensions.get("timeout", {})
        key = (given.get("pool"), given.get("connect"), given.get("read"))
        timeout = self._timeouts.get(key)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(
                total=None, connect=key[0], sock_connect=key[1], sock_read=key[2]
            )
            if len(self._timeouts) < 64:
                self._timeouts[key] = timeout
        try:
            response = await self._session.request(
                request.method,
                # httpx2's URL is already percent-encoded: yarl need not quote it again.
                self._url(str(request.url)),
                headers=[
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
                ],
                data=request.content or None,
                allow_redirects=False,
                compress=None,
                timeout=timeout,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _translate(aiohttp, exc, request, connecting=True) from exc
        version = response.version
        return httpx2.Response(
            response.status,
            headers=list(response.raw_headers),
            stream=_Body(aiohttp, response, request),
            extensions={
                "http_version": (
                    f"HTTP/{version.major}.{version.minor}" if version else "HTTP/1.1"
                ).encode(),
                "reason_phrase": (response.reason or "").encode("latin-1"),
            },
        )

    async def aclose(self) -> None:
        """Close the session and its connections."""
        await self._session.close()


class _Body(httpx2.AsyncByteStream):
    """The response body as aiohttp reads it off the socket, chunk by chunk."""

    __slots__ = ("_aiohttp", "_request", "_response")

    def __init__(
        self, aiohttp: Any, response: aiohttp.ClientResponse, request: httpx2.Request
    ) -> None:
        self._aiohttp = aiohttp
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (self._aiohttp.ClientError, TimeoutError) as exc:
            raise _translate(self._aiohttp, exc, self._request, connecting=False) from exc

    async def read_all(self) -> bytes:
        """The whole body in one read (what a buffered call needs; no per-chunk iteration)."""
        try:
            return await self._response.read()
        except (self._aiohttp.ClientError, TimeoutError) as exc:
            raise _translate(self._aiohttp, exc, self._request, connecting=False) from exc

    async def aclose(self) -> None:
        # A body read to its end goes back to the pool; one walked away from closes its socket.
        response = self._response
        if response.content.at_eof():
            response.release()
        else:
            response.close()


def _translate(
    aiohttp: Any, exc: BaseException, request: httpx2.Request, *, connecting: bool
) -> httpx2.TransportError:
    """The httpx2 exception ``httpx2.AsyncHTTPTransport`` raises for the same failure.

    The SDK retries ``httpx2.TimeoutException`` and ``httpx2.ConnectError``; callers catch
    httpx2's tree. Cancellation is not an aiohttp failure and passes unchanged.
    """
    message = str(exc) or type(exc).__name__
    for kind, while_connecting, while_reading in _errors(aiohttp):
        if isinstance(exc, kind):
            return (while_connecting if connecting else while_reading)(message, request=request)
    return httpx2.TransportError(message, request=request)


@functools.cache
def _errors(
    aiohttp: Any,
) -> tuple[
    tuple[type[BaseException], type[httpx2.TransportError], type[httpx2.TransportError]], ...
]:
    # First match wins: aiohttp's timeouts are TimeoutError subclasses, its connection errors
    # ClientOSError subclasses.
    return (
        (aiohttp.ConnectionTimeoutError, httpx2.ConnectTimeout, httpx2.ConnectTimeout),
        (aiohttp.SocketTimeoutError, httpx2.ReadTimeout, httpx2.ReadTimeout),
        (TimeoutError, httpx2.PoolTimeout, httpx2.ReadTimeout),
        (aiohttp.ClientConnectorError, httpx2.ConnectError, httpx2.ConnectError),
        (aiohttp.ServerDisconnectedError, httpx2.RemoteProtocolError, httpx2.RemoteProtocolError),
        (aiohttp.ClientPayloadError, httpx2.RemoteProtocolError, httpx2.RemoteProtocolError),
        (aiohttp.InvalidURL, httpx2.UnsupportedProtocol, httpx2.UnsupportedProtocol),
        (aiohttp.ClientOSError, httpx2.ConnectError, httpx2.ReadError),
    )
