"""A fixed-response server speaking just enough of the Gemini API to time clients.

Why not the emulator: the emulator parses, validates, records and synthesises answers, which
is right for tests and wrong for a latency floor. This server does the least a server can
(one parse of the request head, one canned answer, one ``write`` per response with
``TCP_NODELAY``), in its own process, so the numbers measure the clients.

Routes (any API version prefix):
    POST .../models/{m}:generateContent             one JSON answer
    POST .../models/{m}:streamGenerateContent       SSE: first event at once, the rest after
                                                    STREAM_GAP_S, so a first chunk is a first chunk
Anything else gets a 404 in Google's error shape.

Run: ``python -m benchmarks._server`` prints ``PORT`` on its first line and serves until
stdin closes (so it dies with its parent).
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading

STREAM_GAP_S = 0.001

_USAGE = {"promptTokenCount": 4, "candidatesTokenCount": 6, "totalTokenCount": 10}


def _candidate(text: str, *, final: bool) -> dict[str, object]:
    candidate: dict[str, object] = {
        "content": {"role": "model", "parts": [{"text": text}]},
        "index": 0,
    }
    if final:
        candidate["finishReason"] = "STOP"
    return candidate


_ANSWER = json.dumps(
    {
        "candidates": [_candidate("Echo: hello from the benchmark server", final=True)],
        "usageMetadata": _USAGE,
        "modelVersion": "gemini-2.5-flash",
        "responseId": "bench-0000000000000000",
    }
).encode()


def _event(text: str, *, final: bool) -> bytes:
    body = json.dumps(
        {
            "candidates": [_candidate(text, final=final)],
            "usageMetadata": _USAGE,
            "modelVersion": "gemini-2.5-flash",
            "responseId": "bench-stream",
        }
    )
    data = b"data: " + body.encode() + b"\r\n\r\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


_OK_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=UTF-8\r\n"
    b"Content-Length: %d\r\n\r\n" % len(_ANSWER)
)
ANSWER = _OK_HEAD + _ANSWER
STREAM_FIRST = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n" + _event("Echo: hello", final=False)
)
STREAM_REST = (
    _event(" from the", final=False) + _event(" benchmark server", final=True) + b"0\r\n\r\n"
)
_NOT_FOUND_BODY = json.dumps(
    {"error": {"code": 404, "message": "not served by the benchmark server", "status": "NOT_FOUND"}}
).encode()
NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n" % len(_NOT_FOUND_BODY) + _NOT_FOUND_BODY
)


class _Connection(asyncio.Protocol):
    """One keep-alive connection: requests are parsed from a buffer and answered in order."""

    def __init__(self) -> None:
        self._buffer = b""
        self._transport: asyncio.Transport | None = None
        self._busy = False  # a stream is being written; later requests wait for it

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._drain()

    def _drain(self) -> None:
        transport = self._transport
        while transport is not None and not self._busy:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self._buffer[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip() or 0)
            total = end + 4 + length
            if len(self._buffer) < total:
                return
            self._buffer = self._buffer[total:]
            path = head.split(" ", 2)[1] if head.count(" ") >= 2 else ""
            if ":streamGenerateContent" in path:
                self._busy = True
                transport.write(STREAM_FIRST)
                asyncio.get_running_loop().call_later(STREAM_GAP_S, self._finish_stream)
            elif ":generateContent" in path:
                transport.write(ANSWER)
            else:
                transport.write(NOT_FOUND)

    def _finish_stream(self) -> None:
        self._busy = False
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(STREAM_REST)
            self._drain()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


async def _serve(port: int = 0) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Connection, "127.0.0.1", port, backlog=1024)
    sock = server.sockets[0]
    print(sock.getsockname()[1], flush=True)
    stop = asyncio.Event()

    def watch_stdin() -> None:
        sys.stdin.read()  # returns when the parent closes the pipe or exits
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    async with server:
        await stop.wait()


def main() -> None:
    asyncio.run(_serve())


if __name__ == "__main__":
    main()
