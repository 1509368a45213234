"""The httpx2 transports: each request of an SDK client goes through a :class:`Call`.

Why a transport and not httpx event hooks: a transport sees the request after the SDK built it
(so app code cannot route around it with per-request options), can refuse it before any
connection is opened, and sees a streamed response chunk by chunk without buffering it.
"""

from __future__ import annotations

import asyncio
import atexit
import datetime
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx2

from golden_path._log import bind_request, release_request
from golden_path._transport._call import Call, Pipeline

__all__ = ["GovernedAsyncTransport", "GovernedTransport", "SDKAsyncClient", "SDKClient"]


# Distinct absolute URLs kept parsed per client: an app calls a few models' methods.
_MAX_PARSED_URLS = 256


class _ParsedURLs:
    """Each absolute URL string the SDK sends is parsed once per client, not once per call.

    The SDK passes every request's URL as a string; httpx2 checks it character by character
    each time (about 10 µs a call). httpx2 URLs are immutable, so one parse serves every
    request for it (``httpx2.Request`` wraps it without parsing again). Relative URLs still go
    through the base URL, which may change.
    """

    _parsed: dict[str, httpx2.URL]

    def _merge_url(self, url: httpx2.URL | str) -> httpx2.URL:
        if not isinstance(url, str):
            return super()._merge_url(url)  # type: ignore[misc, no-any-return]
        parsed = self._parsed.get(url)
        if parsed is None:
            parsed = httpx2.URL(url)
            if parsed.is_relative_url:
                return super()._merge_url(parsed)  # type: ignore[misc, no-any-return]
            if len(self._parsed) < _MAX_PARSED_URLS:
                self._parsed[url] = parsed
        return parsed


class SDKClient(_ParsedURLs, httpx2.Client):
    """The ``httpx2.Client`` handed to the SDK: httpx2's own, with URLs parsed once."""

    def __init__(self, **kwargs: Any) -> None:
        self._parsed = {}
        super().__init__(**kwargs)


class SDKAsyncClient(_ParsedURLs, httpx2.AsyncClient):
    """The ``httpx2.AsyncClient`` handed to the SDK: httpx2's own, with URLs parsed once."""

    def __init__(self, **kwargs: Any) -> None:
        self._parsed = {}
        super().__init__(**kwargs)


class GovernedTransport(httpx2.BaseTransport):
    """The sync transport: ``Pipeline`` around the inner wire (``sync_transport``)."""

    def __init__(self, pipeline: Pipeline, make_inner: Callable[[], httpx2.BaseTransport]) -> None:
        self.pipeline = pipeline
        self._make_inner = make_inner
        self._inner: httpx2.BaseTransport | None = None
        self._lock = threading.Lock()

    def _transport(self) -> httpx2.BaseTransport:
        # Built on first use: loading CA certificates is most of a client's construction cost.
        inner = self._inner
        if inner is None:
            with self._lock:
                if self._inner is None:
                    self._inner = self._make_inner()
                    # A client dropped without close() still releases its sockets.
                    weakref.finalize(self, self._inner.close)
                inner = self._inner
        return inner

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        """Run one request through policies, the wire and audit."""
        # A redirect (307/308) re-sends the body as a stream; policies need the bytes.
        request.read()
        call = self.pipeline.start(request)
        bind_request(call.request.request_id)
        try:
            return self._handle(call)
        finally:
            release_request(tools_pending=call.tools_pending)

    def _handle(self, call: Call) -> httpx2.Response:
        outgoing = call.before()
        try:
            response = self._transport().handle_request(outgoing)
        except BaseException as exc:
            call.failed(exc)
            raise
        if call.request.stream:
            return call.streamed_in_place(response, _SyncStream(response.stream, call))
        try:
            # Read (and decompressed) as the SDK's client would; the same response goes back
            # to it, so its own read() returns these bytes instead of reading a copy.
            response.read()
            _handed_on(response, call.started)
        except BaseException as exc:
            call.failed(exc)
            raise
        finally:
            response.close()
        return call.read(response)

    def close(self) -> None:
        """Close the connection pool."""
        if self._inner is not None:
            self._inner.close()


# The calls of streams not yet garbage collected; at interpreter exit, those still open are
# ended as cancelled (see _Abandonable).
_OPEN: set[Call] = set()
_at_exit_registered = False


def _cancel_open_streams() -> None:
    for call in list(_OPEN):
        call.cancelled()  # a no-op for a call already ended


class _Abandonable:
    """A stream whose call still gets its audit event when the caller walks away from it.

    The SDK does not close a stream the caller drops: when the stream is garbage collected,
    the event is written, as cancelled; streams still alive at interpreter exit are ended
    then. A set entry and ``__del__`` instead of ``weakref.finalize``: the finalizer object,
    its weak reference and its registry entry cost several µs before the first chunk.
    """

    _call: Call

    def _track(self, call: Call) -> None:
        global _at_exit_registered  # noqa: PLW0603 - registered once, with the first stream
        self._call = call
        _OPEN.add(call)
        if not _at_exit_registered:
            _at_exit_registered = True
            atexit.register(_cancel_open_streams)

    def __del__(self, _open: set[Call] = _OPEN) -> None:
        # The set comes as a default: module globals may be gone when this runs at shutdown.
        call = self._call
        _open.discard(call)
        call.cancelled()


class _SyncStream(_Abandonable, httpx2.SyncByteStream):
    def __init__(self, inner: Any, call: Call) -> None:
        self._inner = inner
        self._track(call)

    def __iter__(self) -> Iterator[bytes]:
        call = self._call
        # Chunks no policy can change go to the caller first; their hooks run when it asks
        # for the next one, while that one is still on the network (the first chunk waits
        # on nothing but the wire).
        first_then_hooks = call.passes_chunks_through()
        try:
            for data in self._inner:
                if first_then_hooks:
                    if data:
                        call.hold(data)
                        yield data
                        call.release()
                    continue
                out = call.chunk(data)
                if out:
                    yield out
        except Exception as exc:
            call.failed(exc)
            raise
        rest = call.stream_ended()
        if rest:
            yield rest

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._call.cancelled()


class GovernedAsyncTransport(httpx2.AsyncBaseTransport):
    """The async transport, with one inner connection pool per running event loop.

    Pooled connections belong to the loop that opened them; keeping one pool per loop is what
    lets a client outlive ``asyncio.run()``: the SDK keeps one client for all the loops an app
    runs (docs/architecture.md, "Event loops").
    """

    def __init__(
        self, pipeline: Pipeline, make_inner: Callable[[], httpx2.AsyncBaseTransport]
    ) -> None:
        self.pipeline = pipeline
        self._make_inner = make_inner
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopPool] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    async def _transport(self) -> httpx2.AsyncBaseTransport:
        loop = asyncio.get_running_loop()
        entry = self._pools.get(loop)
        if entry is None:
            with self._lock:
                entry = self._pools.get(loop)
                if entry is None:
                    entry = self._pools[loop] = _LoopPool(self._make_inner())
            await entry.watch()
        return entry.pool

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Run one request through policies, the wire and audit."""
        await request.aread()
        call = self.pipeline.start(request)
        bind_request(call.request.request_id)
        try:
            return await self._handle(call)
        finally:
            release_request(tools_pending=call.tools_pending)

    async def _handle(self, call: Call) -> httpx2.Response:
        outgoing = await call.abefore()
        try:
            pool = await self._transport()
            response = await pool.handle_async_request(outgoing)
        except asyncio.CancelledError:
            call.cancelled()
            raise
        except BaseException as exc:
            call.failed(exc)
            raise
        if call.request.stream:
            return call.streamed_in_place(response, _AsyncStream(response.stream, call))
        stream: Any = response.stream
        try:
            # The aiohttp and httptools wires read a whole body in one call; others chunk by chunk.
            read_all = getattr(stream, "read_all", None)
            if read_all is not None:
                raw = await read_all()
            else:
                raw = b"".join([part async for part in stream])
        except asyncio.CancelledError:
            call.cancelled()
            raise
        except BaseException as exc:
            call.failed(exc)
            raise
        finally:
            # The wire's stream, not the response: it is read below, from these bytes.
            await stream.aclose()
        try:
            # The same response goes back with its content read, as the sync transport does:
            # the SDK client's own aread() returns it, not a copy through a second response.
            _read(response, raw, call.started)
        except httpx2.DecodingError as exc:
            call.failed(exc)
            raise
        return call.read(response)

    async def aclose(self) -> None:
        """Close the pool of the running loop (pools of finished loops closed themselves)."""
        entry = self._pools.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry.pool.aclose()


def _handed_on(response: httpx2.Response, started: float, types: list[bytes] | None = None) -> None:
    """What httpx2's client sets on a response it reads itself, for one the transport read.

    ``started``: when the transport got the request (``time.perf_counter()``); ``types``: its
    content-type headers, when the caller has them.
    """
    # The client sets elapsed when it closes a stream it reads; a response handed on read is
    # never closed by it, and openai's raw responses expose .elapsed.
    response.elapsed = datetime.timedelta(seconds=time.perf_counter() - started)
    if types is None:
        types = [value for _, key, value in response.headers._list if key == b"content-type"]
    if len(types) == 1 and types[0] in _UTF8_JSON:
        # The encoding httpx2 works out for these, without its email-module parse of the
        # header (about 9 µs per call, in the SDK's response.text). The header is read from
        # httpx2's list: a get() works out the encoding of every header first.
        response.encoding = "utf-8"


def _read(response: httpx2.Response, raw: bytes, started: float) -> None:
    """``response`` as ``aread()`` would leave it and the client hand it on, from ``raw``.

    ``raw`` is its body as it came (:func:`_handed_on` does the rest). Its stream stays those
    bytes as they came: the gateway passes them on, compressed or not, beside the server's
    headers. One pass over httpx2's header list finds what both steps read (``in`` would work
    out every header's encoding first).
    """
    encoded = False
    types = []
    for _, key, value in response.headers._list:
        if key == b"content-type":
            types.append(value)
        elif key == b"content-encoding":
            encoded = True
    response.stream = httpx2.ByteStream(raw)
    if encoded:
        # Compressed: httpx2 decodes it (and raises what it raises for a broken body); a
        # ByteStream reads without awaiting.
        response.read()
    else:
        # Nothing to decode: what aread() caches is the body itself. Its decoder and chunker
        # machinery cost about 12 µs per call, for a copy of these bytes.
        response._content = raw  # httpx2 has no public way to set it
        response.is_stream_consumed = True
        response.is_closed = True
    _handed_on(response, started, types)


# Content types whose charset is plainly UTF-8: Gemini's and the emulator's answers.
_UTF8_JSON = frozenset((b"application/json; charset=UTF-8", b"application/json; charset=utf-8"))


class _LoopPool:
    """One event loop's connection pool, closed while that loop is still running.

    Pooled sockets belong to their loop; once ``asyncio.run()`` has closed it they can only
    leak. ``asyncio.run()`` finalizes the loop's async generators before closing it
    (``shutdown_asyncgens``), so a generator parked in the loop is the hook that closes the pool
    in time.
    """

    __slots__ = ("_guard", "pool")

    def __init__(self, pool: httpx2.AsyncBaseTransport) -> None:
        self.pool = pool
        self._guard: AsyncIterator[None] | None = None

    async def watch(self) -> None:
        if self._guard is None:
            self._guard = self._close_at_loop_end()
            await self._guard.__anext__()

    async def _close_at_loop_end(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await self.pool.aclose()


class _AsyncStream(_Abandonable, httpx2.AsyncByteStream):
    def __init__(self, inner: Any, call: Call) -> None:
        self._inner = inner
        self._track(call)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        call = self._call
        # As the sync stream does: chunks no policy can change go out first (see there).
        first_then_hooks = call.passes_chunks_through()
        try:
            async for data in self._inner:
                if first_then_hooks:
                    if data:
                        call.hold(data)
                        yield data
                        call.release()
                    continue
                out = call.chunk(data)
                if out:
                    yield out
        except asyncio.CancelledError:
            call.cancelled()
            raise
        except Exception as exc:
            call.failed(exc)
            raise
        rest = call.stream_ended()
        if rest:
            yield rest

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._call.cancelled()
