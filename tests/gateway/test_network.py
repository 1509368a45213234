"""The gateway's upstream sockets (asyncio under httpcore2): TLS, streams, timeouts, failures."""

from __future__ import annotations

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
