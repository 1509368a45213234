"""The HTTP/1.1 server: keep-alive, chunked streaming, and no crash on anything a client sends."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import socket
import ssl
import threading
import time
import urllib.parse
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from golden_path.emulator._dispatch import State, dispatch
from golden_path.emulator._http import Incoming, Reply, google_error
from golden_path.emulator._records import RecordedRequest

MAX_BODY_BYTES = 20 * 1024 * 1024
"""Google rejects larger inline requests; so does the emulator, with 413."""
_DRAIN_LIMIT = 256 * 1024 * 1024
"""Oversized bodies up to this size are read and discarded so the client sees the 413."""
_IDLE_TIMEOUT_S = 120.0
_GZIP_MIN_BYTES = 256
"""Smaller answers go uncompressed: gzip's header would outweigh the saving."""
_FORM_TYPE = "application/x-www-form-urlencoded"
_DISCONNECTS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


class Server(ThreadingHTTPServer):
    """A threading server that remembers its open connections so ``close`` can cut them."""

    daemon_threads = True
    # 64 clients connecting at once overflow the default backlog of 5 and stall on SYN retries.
    request_queue_size = 256

    def __init__(
        self, address: tuple[str, int], state: State, tls: ssl.SSLContext | None = None
    ) -> None:
        self.state = state
        self.tls = tls
        """Serves TLS on the same port when set: a connection whose first byte is a TLS
        handshake record is wrapped, anything else is plain HTTP."""
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket, *, open_: bool) -> None:
        """Add or remove a client connection from the set ``close`` shuts down."""
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close(self) -> None:
        """Stop accepting, close the listening socket and every client connection."""
        self.shutdown()
        self.server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: a misbehaving client must not spam the test output."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; with Nagle on, the body waits for the client's
    # delayed ACK (~40 ms per response on Linux loopback).
    disable_nagle_algorithm = True
    server_version = "golden-path-emulator"
    sys_version = ""
    timeout = _IDLE_TIMEOUT_S
    server: Server

    scheme = "http"

    def setup(self) -> None:
        self._maybe_tls()
        super().setup()
        self.server.track(self.connection, open_=True)

    def _maybe_tls(self) -> None:
        """Wrap the connection in TLS when the client opens with a handshake (``wss://``)."""
        context = self.server.tls
        if context is None:
            return
        raw: socket.socket = self.request
        raw.settimeout(_IDLE_TIMEOUT_S)
        try:
            first = raw.recv(1, socket.MSG_PEEK)
        except OSError:
            return
        if first == b"\x16":  # a TLS record of type handshake
            self.request = context.wrap_socket(raw, server_side=True)
            self.scheme = "https"

    def finish(self) -> None:
        self.server.track(self.connection, open_=False)
        with contextlib.suppress(OSError):
            super().finish()
        if self.scheme == "https":
            # socketserver closes the socket it accepted, which wrapping detached.
            with contextlib.suppress(OSError):
                self.request.close()

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet; the emulator records requests instead of logging them."""

    def do_GET(self) -> None:
        """Serve a GET."""
        self._serve()

    def do_POST(self) -> None:
        """Serve a POST."""
        self._serve()

    def do_PUT(self) -> None:
        """Serve a PUT (always 404: no route takes one)."""
        self._serve()

    def do_PATCH(self) -> None:
        """Serve a PATCH (always 404: no route takes one)."""
        self._serve()

    def do_DELETE(self) -> None:
        """Serve a DELETE (always 404: no route takes one)."""
        self._serve()

    def _serve(self) -> None:
        received = time.time()
        try:
            incoming = self._read(received)
            if isinstance(incoming, Reply):
                self._send(incoming)
                return
            self._send(dispatch(self.server.state, incoming, received))
        except _DISCONNECTS:
            self.close_connection = True
        except Exception:  # noqa: BLE001 -- a bug must cost one request, not the server
            self.close_connection = True
            with contextlib.suppress(Exception):
                self._send(google_error(500, "The emulator failed on this request."))

    def _read(self, received: float) -> Incoming | Reply:
        headers: dict[str, str] = {}
        for raw_name, value in self.headers.items():
            name = raw_name.lower()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        split = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        # Decoded like Google's frontends do: clients escape "/" in ids (models%2Fgemini-...).
        path = urllib.parse.unquote(split.path)
        raw = self._read_body(headers)
        if not isinstance(raw, Reply):
            raw = _decoded(raw, headers)
        if isinstance(raw, Reply):
            # Refused before routing (too large, bad framing) but still seen: record it bodiless.
            self.server.state.record(
                RecordedRequest(self.command, path, query, headers, None, b"", received)
            )
            return raw
        body, problem = _decode(raw, headers.get("content-type", ""))
        return Incoming(self.command, path, query, headers, raw, body, problem, self.scheme)

    def _read_body(self, headers: dict[str, str]) -> bytes | Reply:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._read_chunked()
        try:
            length = int(headers.get("content-length", "0") or 0)
        except ValueError:
            self.close_connection = True
            return google_error(400, "Invalid Content-Length header.")
        if length < 0:
            self.close_connection = True
            return google_error(400, "Invalid Content-Length header.")
        if length > MAX_BODY_BYTES:
            return self._too_large(length)
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes | Reply:
        body = bytearray()
        while True:
            size_line = self.rfile.readline(1024).split(b";")[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                self.close_connection = True
                return google_error(400, "Invalid chunked request body.")
            if size == 0:
                while self.rfile.readline(1024).strip():
                    pass
                return bytes(body)
            if len(body) + size > MAX_BODY_BYTES:
                self.close_connection = True
                return _too_large_reply()
            body += self.rfile.read(size)
            self.rfile.readline(1024)

    def _too_large(self, length: int) -> Reply:
        if length <= _DRAIN_LIMIT:
            remaining = length
            while remaining:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                remaining -= len(chunk)
        else:
            self.close_connection = True
        return _too_large_reply()

    def _run_websocket(self, reply: Reply) -> None:
        from golden_path.emulator import _live

        self.send_response(101)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True

        def write(data: bytes) -> None:
            self.wfile.write(data)
            self.wfile.flush()

        _live.run(
            reply.live, self.rfile, write,
            on_message=reply.on_message, go_away=self.server.state.go_away,
        )  # fmt: skip

    def _send(self, reply: Reply) -> None:
        if reply.live is not None:
            self._run_websocket(reply)
            return
        if reply.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        if reply.stream is None:
            body = reply.body
            # Google compresses answers for clients that accept it (the SDK always does).
            if len(body) >= _GZIP_MIN_BYTES and _accepts_gzip(self.headers.get("accept-encoding")):
                body = gzip.compress(body, compresslevel=5)
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Vary", "Origin, X-Origin, Referer")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in reply.stream:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _accepts_gzip(header: str | None) -> bool:
    for item in (header or "").split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() == "gzip":
            return params.replace(" ", "") not in ("q=0", "q=0.0")
    return False


def _decoded(raw: bytes, headers: dict[str, str]) -> bytes | Reply:
    """The body with its ``Content-Encoding`` (gzip) undone, or a 400 naming the problem."""
    coding = headers.get("content-encoding", "identity").strip().lower()
    if coding in ("", "identity"):
        return raw
    if coding != "gzip":
        return google_error(400, f"Unsupported Content-Encoding {coding!r}; send gzip or none.")
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as unzipped:
            body = unzipped.read(MAX_BODY_BYTES + 1)
    except (OSError, EOFError, zlib.error):
        return google_error(400, "The gzip request body is corrupt.")
    if len(body) > MAX_BODY_BYTES:
        return _too_large_reply()
    return body


def _too_large_reply() -> Reply:
    return google_error(
        413,
        f"Request payload size exceeds the limit: {MAX_BODY_BYTES} bytes.",
        status="INVALID_ARGUMENT",
    )


def _decode(  # noqa: PLR0911 -- one return per way a body can be unreadable
    raw: bytes, content_type: str
) -> tuple[Any, str | None]:
    """Decode the body as JSON (or form fields); also return why it failed, if it did."""
    if not raw:
        return None, None
    if content_type.split(";", maxsplit=1)[0].strip().lower() == _FORM_TYPE:
        try:
            return dict(urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True)), None
        except UnicodeDecodeError:
            return None, "The form body is not UTF-8."
    try:
        value = json.loads(raw)
    except UnicodeDecodeError:
        return None, "The body is not UTF-8."
    except json.JSONDecodeError as exc:
        return None, f"Unexpected token at line {exc.lineno} column {exc.colno}: {exc.msg}."
    except RecursionError:
        return None, "The JSON is nested too deeply."
    except ValueError as exc:  # e.g. an integer literal longer than Python's digit limit
        return None, f"Invalid value: {str(exc)[:120]}."
    if _too_deep(value):
        return None, f"The JSON is nested deeper than {_MAX_DEPTH} levels."
    return value, None


_MAX_DEPTH = 100
"""Google's JSON parser refuses messages nested deeper than this; so does the emulator."""


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > _MAX_DEPTH:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False
