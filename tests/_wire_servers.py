"""Scripted servers the wire tests share: a counting relay and an SSE server that holds back."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from golden_path.emulator import Emulator

WAIT_S = 30.0  # generous: these machines are shared and loaded


class Relay:
    """A TCP relay in front of the emulator that counts the connections clients open and close."""

    def __init__(self, target: int) -> None:
        self._target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._changed = threading.Condition()
        self.opened = 0
        self.closed = 0
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._start(self._accept)

    def _start(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                continue
            upstream = socket.create_connection(("127.0.0.1", self._target))
            for sock in (client, upstream):  # no Nagle delay on what is relayed in pieces
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sockets += [client, upstream]
            with self._changed:
                self.opened += 1
                self._changed.notify_all()
            self._start(self._pump, client, upstream, True)
            self._start(self._pump, upstream, client, False)

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            try:
                sink.sendall(data)
            except OSError:
                break
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
        if from_client:  # the client closed its end: that connection is gone
            with self._changed:
                self.closed += 1
                self._changed.notify_all()

    def wait_closed(self, count: int) -> bool:
        """Whether ``count`` client connections have closed within WAIT_S."""
        with self._changed:
            return self._changed.wait_for(lambda: self.closed >= count, WAIT_S)

    def cut(self) -> None:
        """Close every relayed connection, as a server closing its idle connections does."""
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(10)


@pytest.fixture(name="relay")
def relay_fixture(emulator: Emulator) -> Iterator[Relay]:
    relay = Relay(emulator.port)
    try:
        yield relay
    finally:
        relay.stop()


class Held:
    """A scripted SSE server: the first event at once, the rest once ``release`` is set."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.client_left = threading.Event()
        self.waited_out = False
        held = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                self._event("one")
                if "hold" in self.path or not held.release.wait(WAIT_S):
                    held.waited_out = not held.release.is_set()
                    # Until the client goes away (its close reads as end of file).
                    self.connection.settimeout(WAIT_S)
                    try:
                        gone = self.connection.recv(1) == b""
                    except TimeoutError:
                        gone = False
                    except OSError:  # reset: gone too
                        gone = True
                    if gone:
                        held.client_left.set()
                    self.close_connection = True
                    return
                self._event("two")
                self._event("three")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

            def _event(self, text: str) -> None:
                body = (
                    b'data: {"candidates": [{"content": {"role": "model", "parts": [{"text": "'
                    + text.encode()
                    + b'"}]}}]}\r\n\r\n'
                )
                self.wfile.write(b"%x\r\n%s\r\n" % (len(body), body))
                self.wfile.flush()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)


@pytest.fixture(name="held")
def held_fixture() -> Iterator[Held]:
    server = Held()
    try:
        yield server
    finally:
        server.stop()


def assert_three_calls_went_out(audit: Any, emulator: Emulator) -> None:
    """A call, a stream and a 503 were each audited once, went out identified under their own
    request id, and carried the configured key (the wire tests' common end check)."""
    assert [(e.outcome, e.stream, e.http_status) for e in audit.events] == [
        ("ok", False, 200),
        ("ok", True, 200),
        ("error", False, 503),
    ]
    seen = emulator.api_requests()
    assert [r.headers["x-golden-path-request-id"] for r in seen] == [
        e.request_id for e in audit.events
    ]
    assert {r.headers["x-goog-api-key"] for r in seen} == {"test-key"}
    assert all("wired" in r.headers["user-agent"] for r in seen)


def point_proxy_variables_nowhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every proxy variable names a closed port on loopback, and nothing is exempt from them."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, dead)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)


def assert_wire_setting_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, wires: str
) -> None:
    """``variable=value`` names no wire: building a client is a ConfigError naming the
    variable and every valid wire (``wires``, as the message lists them)."""
    import golden_path
    from golden_path.exceptions import ConfigError

    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        golden_path.create_client(backend="ai_studio", api_key="k", audit_sink="none")
    message = str(caught.value)
    assert variable in message
    assert wires in message
