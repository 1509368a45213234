"""The gateway's upstream client (HTTP/1.1 on asyncio, httptools): TLS, streams, timeouts."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx2
import pytest

MODEL = "gemini-2.5-flash"
BODY = {"contents": [{"role": "user", "parts": [{"text": "over tls"}]}]}


@pytest.fixture(name="silent_upstream")
def _silent_upstream() -> Iterator[str]:
    """A server that accepts connections and reads requests but never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            accepted.append(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(10)
        for connection in accepted:
            connection.close()
        listener.close()


def _pool(running: Any) -> Any:
    """The connection pool under the gateway's credentials (built on first use)."""
    return running.gateway._pool._inner


def test_tls_upstream_generate_and_stream(start_gateway: Any, emulator: Any, audit: Any) -> None:
    """Over https to the upstream, a buffered and a streamed call pass through the gateway on
    golden-path's upstream pool, with TLS verified against the upstream's CA."""
    from golden_path._transport._httptools import UpstreamPool

    https = emulator.url.replace("http://", "https://")
    running = start_gateway(settings={"base_url": https})
    headers = {"x-goog-api-key": running.key}
    with httpx2.Client(base_url=running.url, headers=headers, timeout=30) as client:
        answer = client.post(f"/v1beta/models/{MODEL}:generateContent", json=BODY)
        assert answer.status_code == 200, answer.text
        assert "over tls" in answer.text
        with client.stream(
            "POST", f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse", json=BODY
        ) as stream:
            events = [line for line in stream.iter_lines() if line.startswith("data: ")]
        assert events
    assert isinstance(_pool(running), UpstreamPool)
    assert [e.outcome for e in audit.events] == ["ok", "ok"]
    assert [e.server_port for e in audit.events] == [emulator.port] * 2
    assert len(emulator.api_requests()) == 2


def test_upstream_that_never_answers_is_a_504(
    start_gateway: Any, silent_upstream: str, audit: Any
) -> None:
    """An upstream that takes longer than upstream_timeout_s gets the app a 504 in Google's
    error shape, audited as an error with the same request id."""
    running = start_gateway(upstream_timeout_s=0.5, settings={"base_url": silent_upstream})
    answer = httpx2.post(
        f"{running.url}/v1beta/models/{MODEL}:generateContent",
        json=BODY,
        headers={"x-goog-api-key": running.key},
        timeout=30,
    )
    assert answer.status_code == 504
    error = answer.json()["error"]
    assert error["details"][0]["reason"] == "UPSTREAM_TIMEOUT"
    event = audit.only()
    assert (event.outcome, event.error_type) == ("error", "ReadTimeout")
    assert event.request_id in error["message"] + str(answer.headers)


def test_upstream_that_refuses_connections_is_a_502(start_gateway: Any, audit: Any) -> None:
    """A closed upstream port gets the app a 502 UPSTREAM_UNAVAILABLE, audited as an error."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    running = start_gateway(settings={"base_url": closed})
    answer = httpx2.post(
        f"{running.url}/v1beta/models/{MODEL}:generateContent",
        json=BODY,
        headers={"x-goog-api-key": running.key},
        timeout=30,
    )
    assert answer.status_code == 502
    assert answer.json()["error"]["details"][0]["reason"] == "UPSTREAM_UNAVAILABLE"
    assert audit.only().error_type == "ConnectError"


@pytest.fixture(name="closing_upstream")
def _closing_upstream() -> Iterator[tuple[str, list[int], threading.Semaphore]]:
    """A server that answers each request, then closes the kept-alive connection silently (no
    ``connection: close``), as a server's idle timeout or a restart does; the client ports it
    saw, and a semaphore released once per connection it has closed."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    answer = json.dumps(
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "hi"}]}}]}
    ).encode()
    ports: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            ports.append(self.client_address[1])
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            self.close_connection = True

        def log_message(self, *args: Any) -> None:
            pass

    closed = threading.Semaphore(0)

    class Server(ThreadingHTTPServer):
        def shutdown_request(self, request: Any) -> None:
            super().shutdown_request(request)
            closed.release()

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", ports, closed
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_a_connection_the_upstream_closed_is_not_reused(
    start_gateway: Any, closing_upstream: tuple[str, list[int], threading.Semaphore]
) -> None:
    """Kept-alive connections the upstream closed while idle are seen closed and replaced: the
    app's next calls succeed, each on a new connection. (Each call waits for the upstream to
    have closed the last connection: "while idle". A close that crosses a request on the wire
    fails that request with a 502, as with any HTTP/1.1 client that does not resend a POST.)"""
    url, ports, closed = closing_upstream
    running = start_gateway(settings={"base_url": url})
    headers = {"x-goog-api-key": running.key}
    with httpx2.Client(base_url=running.url, headers=headers, timeout=30) as client:
        for _ in range(4):
            answer = client.post(f"/v1beta/models/{MODEL}:generateContent", json=BODY)
            assert answer.status_code == 200, answer.text
            assert closed.acquire(timeout=30)
    assert len(set(ports)) == 4


# -- the pool itself, against scripted upstreams (each test runs in its own event loop)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
TIMEOUTS = {"connect": 10.0, "read": 10.0, "write": 10.0, "pool": 10.0}


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One request's head and its content-length body."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head, await reader.readexactly(length)


def _answer(body: bytes, *extra: bytes) -> bytes:
    headers = b"".join(line + b"\r\n" for line in extra)
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%s\r\n%s" % (len(body), headers, body)


async def _serving(handler: Handler) -> tuple[asyncio.Server, str, list[int]]:
    """A loopback server running ``handler`` per connection; its URL; a count of connections."""
    connections: list[int] = []

    async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client went away, or the test is over
        finally:
            writer.close()

    server = await asyncio.start_server(counted, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", connections


def _pool_for(**limits: Any) -> Any:
    from golden_path._tls import ensure_trust
    from golden_path._transport._httptools import upstream_transport

    limits.setdefault("max_connections", 8)
    limits.setdefault("keepalive_expiry", 60.0)
    return upstream_transport(ensure_trust(), **limits)


async def _call(
    transport: Any, url: str, body: bytes = b"{}", method: str = "POST", **timeouts: float
) -> tuple[int, bytes, Any]:
    request = httpx2.Request(
        method,
        url + "/v1beta/models/m:generateContent",
        content=body,
        extensions={"timeout": TIMEOUTS | timeouts},
    )
    response = await transport.handle_async_request(request)
    try:
        data = b"".join([part async for part in response.stream])
    finally:
        await response.stream.aclose()
    return response.status_code, data, response


def _run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_kept_alive_connections_are_reused_and_the_request_arrives_intact() -> None:
    """Sequential calls share one connection; head and body arrive as httpx2 built them."""
    seen: list[tuple[bytes, bytes]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, body = await _read_request(reader)
            seen.append((head, body))
            writer.write(_answer(b'{"ok": true}', b"x-upstream: yes"))

    async def scenario() -> None:
        server, url, connections = await _serving(handler)
        pool = _pool_for()
        for n in range(3):
            status, data, response = await _call(pool, url, b'{"n": %d}' % n)
            assert (status, data) == (200, b'{"ok": true}')
            assert response.headers["x-upstream"] == "yes"
            assert response.extensions["http_version"] == b"HTTP/1.1"
        assert len(connections) == 1
        await pool.aclose()
        server.close()

    _run(scenario)
    head, body = seen[2]
    assert head.startswith(b"POST /v1beta/models/m:generateContent HTTP/1.1\r\n")
    assert b"\r\nhost: 127.0.0.1:" in head.lower()
    assert body == b'{"n": 2}'


def test_a_connection_the_upstream_asks_to_close_or_that_idled_too_long_is_not_reused() -> None:
    """``connection: close`` and keepalive_expiry each get the next call a new connection."""

    async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(_answer(b"{}", b"connection: close"))

    async def keeping(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await _read_request(reader)
            writer.write(_answer(b"{}"))

    async def scenario() -> None:
        server, url, connections = await _serving(closing)
        pool = _pool_for()
        for _ in range(3):
            assert (await _call(pool, url))[0] == 200
        assert len(connections) == 3
        server.close()
        server, url, connections = await _serving(keeping)
        expiring = _pool_for(keepalive_expiry=0.0)
        for _ in range(3):
            assert (await _call(expiring, url))[0] == 200
        assert len(connections) == 3
        await pool.aclose()
        await expiring.aclose()
        server.close()

    _run(scenario)


def test_bodies_chunked_until_close_and_after_an_interim_answer_arrive_whole() -> None:
    """Chunked answers, answers ended by the close (no length), and 100 Continue before the
    answer: every body arrives whole, and a body ended by a close is not reused."""
    answers = [
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n" + _answer(b"after continue"),
        b"HTTP/1.0 200 OK\r\n\r\nuntil the end",
    ]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while answers:
            await _read_request(reader)
            answer = answers.pop(0)
            writer.write(answer)
            if answer.startswith(b"HTTP/1.0"):
                await writer.drain()
                return

    async def scenario() -> None:
        server, url, connections = await _serving(handler)
        pool = _pool_for()
        assert (await _call(pool, url))[1] == b"abcde"
        assert (await _call(pool, url))[1] == b"after continue"
        assert (await _call(pool, url))[1] == b"until the end"
        assert len(connections) == 1
        assert not pool._idle[(b"http", b"127.0.0.1", int(url.rsplit(":", 1)[1]))]
        await pool.aclose()
        server.close()

    _run(scenario)


def test_a_large_answer_read_slowly_arrives_whole() -> None:
    """An upstream sending faster than the gateway reads (a slow app downstream) is paused
    past a high-water mark and resumed as the reader catches up: every byte arrives in order."""
    payload = bytes(range(256)) * 8192  # 2 MiB

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(_answer(payload))
        await writer.drain()

    async def scenario() -> None:
        server, url, _ = await _serving(handler)
        pool = _pool_for()
        request = httpx2.Request("GET", url + "/big", extensions={"timeout": TIMEOUTS})
        response = await pool.handle_async_request(request)
        connection = response.stream._connection
        # Nothing is read yet, so what arrives piles up until reading pauses.
        for _ in range(3000):
            if connection.reading_paused:
                break
            await asyncio.sleep(0.01)
        assert connection.reading_paused
        received = bytearray()
        async for chunk in response.stream:
            received += chunk
        assert not connection.reading_paused  # resumed as the reader caught up
        await response.stream.aclose()
        assert bytes(received) == payload
        await pool.aclose()
        server.close()

    _run(scenario)


def test_a_request_the_upstream_never_reads_times_out_on_write() -> None:
    """A body the upstream does not read fills the socket buffers; the write waits for them to
    drain and gives up with httpx2's WriteTimeout after its timeout."""
    held: list[asyncio.StreamWriter] = []

    async def handler(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # never reads
        await asyncio.sleep(30)

    async def scenario() -> None:
        server, url, _ = await _serving(handler)
        pool = _pool_for()
        with pytest.raises(httpx2.WriteTimeout):
            await _call(pool, url, b"x" * 2**26, write=0.5)
        assert pool._open == 0  # the failed connection gave its place back
        await pool.aclose()
        server.close()

    _run(scenario)


def test_a_silent_upstream_times_out_on_read_and_a_dropped_one_is_a_protocol_error() -> None:
    """No answer within the read timeout is ReadTimeout; a close mid-answer is
    RemoteProtocolError (what httpx2's own pool raises); an answer that does not parse as HTTP
    is RemoteProtocolError."""

    async def silent(reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(30)

    async def dropping(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part")
        await writer.drain()

    async def garbled(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"this is not http\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(30)

    async def scenario() -> None:
        pool = _pool_for()
        for handler, error in (
            (silent, httpx2.ReadTimeout),
            (dropping, httpx2.RemoteProtocolError),
            (garbled, httpx2.RemoteProtocolError),
        ):
            server, url, _ = await _serving(handler)
            with pytest.raises(error) as caught:
                await _call(pool, url, read=0.5)
            assert caught.value.request.url.path.endswith(":generateContent")
            server.close()
        assert pool._open == 0
        await pool.aclose()

    _run(scenario)


def test_tls_to_an_upstream_that_is_not_tls_is_a_connect_error() -> None:
    """A TLS handshake the upstream cannot answer (it speaks plain HTTP and hangs up) fails as
    httpx2's ConnectError, so the app gets a 502, not a hang; a closed port too."""

    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")

    async def scenario() -> None:
        server, url, _ = await _serving(plain)
        pool = _pool_for()
        with pytest.raises(httpx2.ConnectError):
            await _call(pool, url.replace("http://", "https://"))
        server.close()
        await server.wait_closed()
        with pytest.raises(httpx2.ConnectError):
            await _call(pool, url)
        with pytest.raises(httpx2.UnsupportedProtocol):
            await _call(pool, url.replace("http://", "ftp://"))
        assert pool._open == 0
        await pool.aclose()
        with pytest.raises(httpx2.ConnectError, match="closed"):
            await _call(pool, url)

    _run(scenario)


def test_the_pool_bounds_open_connections_and_times_out_waiting_for_one() -> None:
    """With one connection allowed, a second call waits for the first to finish (then reuses
    its connection), and gives up with PoolTimeout when the first does not finish in time."""
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            _, body = await _read_request(reader)
            if body == b"slow":
                await release.wait()
            writer.write(_answer(body))

    async def scenario() -> None:
        server, url, connections = await _serving(handler)
        pool = _pool_for(max_connections=1)
        slow = asyncio.ensure_future(_call(pool, url, b"slow"))
        await asyncio.sleep(0.05)
        with pytest.raises(httpx2.PoolTimeout):
            await _call(pool, url, b"fast", pool=0.2)
        waiting = asyncio.ensure_future(_call(pool, url, b"next"))
        await asyncio.sleep(0.05)
        release.set()
        assert (await slow)[1] == b"slow"
        assert (await waiting)[1] == b"next"
        assert len(connections) == 1
        await pool.aclose()
        server.close()

    _run(scenario)


def test_a_header_that_would_split_the_request_is_not_sent() -> None:
    """A CR or LF inside a header value would add a header or a second request upstream: the
    pool refuses the request (LocalProtocolError) before anything is written."""
    from golden_path._transport._httptools import head_of

    for value in (b"a\r\nx-injected: 1", b"a\nb", b"a\rb", b"a\0b"):
        request = httpx2.Request("GET", "http://upstream/x", headers=[(b"x-app", value)])
        with pytest.raises(httpx2.LocalProtocolError):
            head_of(request)
    assert head_of(httpx2.Request("GET", "http://upstream/x?a=1")).startswith(
        b"GET /x?a=1 HTTP/1.1\r\n"
    )


def test_a_streamed_request_body_is_sent_chunked() -> None:
    """A body httpx2 streams (no length known) goes out in chunked encoding, and a HEAD answer
    ends at its head."""
    bodies: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if head.startswith(b"HEAD"):
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
            return
        raw = await reader.readuntil(b"0\r\n\r\n")
        bodies.append(raw)
        writer.write(_answer(b"{}"))

    async def parts() -> Any:
        yield b"one"
        yield b""
        yield b"two"

    async def scenario() -> None:
        server, url, _ = await _serving(handler)
        pool = _pool_for()
        request = httpx2.Request(
            "POST", url + "/up", content=parts(), extensions={"timeout": TIMEOUTS}
        )
        response = await pool.handle_async_request(request)
        await response.aread()
        assert response.status_code == 200
        assert (await _call(pool, url, method="HEAD", body=b""))[1] == b""
        await pool.aclose()
        server.close()

    _run(scenario)
    assert bodies == [b"3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n"]


def test_the_upstream_gets_its_own_host_and_the_body_s_length(start_gateway: Any) -> None:
    """What arrives upstream: Host names the upstream (not the gateway the app called), the
    Content-Length is the forwarded body's (0 for an empty POST, none for a GET), the body is
    whole, and the app's key is not among the headers."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[tuple[str, str, dict[str, list[str]], bytes]] = []
    answer = json.dumps(
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "hi"}]}}]}
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _record(self) -> None:
            length = self.headers.get("content-length")
            body = self.rfile.read(int(length)) if length else b""
            headers: dict[str, list[str]] = {}
            for name, value in self.headers.items():
                headers.setdefault(name.lower(), []).append(value)
            seen.append((self.command, self.path, headers, body))
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = _record

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        upstream = f"127.0.0.1:{server.server_address[1]}"
        # The batch named is not one the gateway saw made: its owner is unknown.
        running = start_gateway(
            settings={"base_url": f"http://{upstream}"}, unowned_resources="allow"
        )
        headers = {"x-goog-api-key": running.key}
        with httpx2.Client(base_url=running.url, headers=headers, timeout=30) as client:
            sent = json.dumps(BODY).encode()
            calls = [
                ("POST", f"/v1beta/models/{MODEL}:generateContent", sent),
                ("POST", "/v1beta/batches/abc:cancel", b""),
                ("GET", f"/v1beta/models/{MODEL}", b""),
            ]
            for method, path, body in calls:
                reply = client.request(
                    method, path, content=body or None, headers={"content-type": "application/json"}
                )
                assert reply.status_code == 200, (path, reply.text)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    assert [(m, p.partition("?")[0]) for m, p, _, _ in seen] == [(m, p) for m, p, _ in calls]
    for (_, _, got, body), (method, _, sent_body) in zip(seen, calls, strict=True):
        assert got["host"] == [upstream]
        assert body == sent_body
        expected = [str(len(sent_body))] if sent_body or method == "POST" else None
        assert got.get("content-length") == expected
        assert "transfer-encoding" not in got
        assert got["x-goog-api-key"] != [running.key]
