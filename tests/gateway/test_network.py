"""The gateway's upstream sockets (asyncio under httpcore2): TLS, streams, timeouts, failures."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
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


def _backend(running: Any) -> Any:
    """The network backend under the gateway's upstream pool (built on first use)."""
    credentials = running.gateway._pool
    return credentials._inner._pool._network_backend


def test_tls_upstream_generate_and_stream(start_gateway: Any, emulator: Any, audit: Any) -> None:
    """Over https to the upstream, a buffered and a streamed call pass through the gateway on
    golden-path's asyncio sockets, with TLS verified against the upstream's CA."""
    from golden_path.gateway._network import AsyncioBackend

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
    assert isinstance(_backend(running), AsyncioBackend)
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
def _closing_upstream() -> Iterator[tuple[str, list[int]]]:
    """A server that answers each request, then closes the kept-alive connection silently (no
    ``connection: close``), as a server's idle timeout or a restart does; and the client ports
    it saw."""
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

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", ports
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_a_connection_the_upstream_closed_is_not_reused(
    start_gateway: Any, closing_upstream: tuple[str, list[int]]
) -> None:
    """Kept-alive connections the upstream closed while idle are seen closed and replaced: the
    app's next calls succeed, each on a new connection."""
    url, ports = closing_upstream
    running = start_gateway(settings={"base_url": url})
    headers = {"x-goog-api-key": running.key}
    with httpx2.Client(base_url=running.url, headers=headers, timeout=30) as client:
        for _ in range(4):
            answer = client.post(f"/v1beta/models/{MODEL}:generateContent", json=BODY)
            assert answer.status_code == 200, answer.text
    assert len(set(ports)) == 4


def test_a_large_answer_read_slowly_arrives_whole() -> None:
    """An upstream sending faster than the gateway reads (a slow app downstream) is paused
    past a high-water mark and resumed as the reader catches up: every byte arrives in order."""
    from golden_path.gateway._network import AsyncioBackend

    payload = bytes(range(256)) * 8192  # 2 MiB

    async def scenario() -> bytes:
        async def serve(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(payload)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=10)
        assert stream.get_extra_info("server_addr")[1] == port
        assert stream.get_extra_info("client_addr")[0] == "127.0.0.1"
        assert stream.get_extra_info("socket") is not None
        assert stream.get_extra_info("ssl_object") is None
        # A moment for the server to fill the buffer past the high-water mark (whether or
        # not it did, every byte must arrive).
        await asyncio.sleep(0.2)
        received = bytearray()
        while chunk := await stream.read(65536, timeout=10):
            received += chunk
        await stream.aclose()
        server.close()
        await server.wait_closed()
        return bytes(received)

    assert asyncio.run(scenario()) == payload


def test_a_write_the_upstream_never_reads_times_out() -> None:
    """A request body the upstream does not read fills the socket buffers; the write waits for
    them to drain and gives up with httpcore2's WriteTimeout after its timeout."""
    import httpcore2

    from golden_path.gateway._network import AsyncioBackend

    async def scenario() -> None:
        held: list[asyncio.StreamWriter] = []

        async def serve(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            held.append(writer)  # never reads

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=10)

        async def flood() -> None:
            for _ in range(64):
                await stream.write(b"x" * 2**20, timeout=0.5)

        with pytest.raises(httpcore2.WriteTimeout):
            await flood()
        await stream.aclose()
        with pytest.raises(httpcore2.WriteError):
            await stream.write(b"after close")
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(scenario())


def test_tls_to_an_upstream_that_is_not_tls_is_a_connect_error() -> None:
    """A TLS handshake the upstream cannot answer (it speaks plain HTTP and hangs up) fails as
    httpcore2's ConnectError, so the app gets a 502, not a hang."""
    import httpcore2

    from golden_path._tls import ensure_trust
    from golden_path.gateway._network import AsyncioBackend

    async def scenario() -> None:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(100)
            writer.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=10)
        with pytest.raises(httpcore2.ConnectError):
            await stream.start_tls(ensure_trust(), server_hostname="localhost", timeout=10)
        server.close()
        await server.wait_closed()

    asyncio.run(scenario())
