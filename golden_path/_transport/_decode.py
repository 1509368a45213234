"""Stream decoding: response bodies and ``text/event-stream`` events as the hooks see them.

The SDK decompresses what it reads itself; the transport sees the raw bytes, so it decodes a
copy (gzip, deflate) to parse events and bodies for the after-hooks and the audit event.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import zlib
from typing import Any

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - the test extra installs it ([fast])
    _orjson = None  # type: ignore[assignment]

__all__ = ["JSONArrayParser", "SSEParser", "decode", "google_status", "parse_json", "stream_parser"]


class SSEParser:
    """Incremental ``text/event-stream`` parser: whole ``data:`` events out, as they complete."""

    __slots__ = ("_buffer", "_decoder", "done")

    def __init__(self, encoding: str | None) -> None:
        self._buffer = b""
        self._decoder = _decompressor(encoding)
        self.done = False

    def feed(self, data: bytes) -> list[Any]:
        if self._decoder is not None:
            data = self._decoder.decompress(data)
        self._buffer += data.replace(b"\r\n", b"\n")
        events = []
        while b"\n\n" in self._buffer:
            block, self._buffer = self._buffer.split(b"\n\n", 1)
            payload = b"\n".join(
                line[5:].lstrip(b" ") for line in block.split(b"\n") if line.startswith(b"data:")
            )
            if payload == b"[DONE]":
                self.done = True
                continue
            if not payload:
                continue
            events.append(parse_json(payload))
        return events

    def finish(self) -> tuple[list[Any], bytes]:
        """What is left at the end of the stream.

        A last event that lacked its blank line, and any bytes that were not SSE at all (an
        error status's JSON body, a broken proxy's answer).
        """
        if self._decoder is not None:
            with contextlib.suppress(zlib.error):
                self._buffer += self._decoder.flush()
            self._decoder = None
        rest = self._buffer
        if rest.lstrip().startswith(b"data:"):
            return self.feed(b"\n\n"), b""
        self._buffer = b""
        return [], rest


class JSONArrayParser:
    """Incremental parser of Google's other stream form: one JSON array, an element per chunk.

    ``streamGenerateContent`` without ``alt=sse`` answers ``[{...}, {...}]``, one element per
    line, with content type ``application/json``; the REST path and other-language clients use
    it. Elements are handed out as they complete, like SSE events.
    """

    __slots__ = ("_buffer", "_decompress", "_pos", "_started", "_text", "done")

    _json = json.JSONDecoder()

    def __init__(self, encoding: str | None) -> None:
        self._decompress = _decompressor(encoding)
        self._text = codecs.getincrementaldecoder("utf-8")("replace")
        self._buffer = ""
        self._pos = 0
        self._started = False
        self.done = False

    def feed(self, data: bytes) -> list[Any]:
        if self._decompress is not None:
            data = self._decompress.decompress(data)
        self._buffer += self._text.decode(data)
        return self._elements()

    def _elements(self) -> list[Any]:
        events: list[Any] = []
        buffer, pos = self._buffer, self._pos
        while not self.done:
            while pos < len(buffer) and buffer[pos] in " \t\r\n,":
                pos += 1
            if pos >= len(buffer):
                break
            if not self._started:
                if buffer[pos] != "[":
                    break  # not an array: left for finish() to report
                self._started = True
                pos += 1
                continue
            if buffer[pos] == "]":
                self.done = True
                pos += 1
                break
            try:
                value, end = self._json.raw_decode(buffer, pos)
            except ValueError:
                break  # incomplete so far (or broken: finish() says so)
            events.append(value)
            pos = end
        # Keep only what is not consumed, so a long stream does not grow the buffer.
        self._buffer, self._pos = buffer[pos:], 0
        return events

    def finish(self) -> tuple[list[Any], bytes]:
        """Elements still pending at the end, and any bytes that never formed one."""
        if self._decompress is not None:
            with contextlib.suppress(zlib.error):
                self._buffer += self._text.decode(self._decompress.flush())
            self._decompress = None
        self._buffer += self._text.decode(b"", final=True)
        events = self._elements()
        rest, self._buffer = self._buffer, ""
        return events, rest.encode()


def stream_parser(content_type: str | None, encoding: str | None) -> SSEParser | JSONArrayParser:
    """The parser for a streamed response: SSE, or Google's JSON array form."""
    if content_type and content_type.startswith("application/json"):
        return JSONArrayParser(encoding)
    return SSEParser(encoding)


def _decompressor(encoding: str | None) -> Any:
    if encoding == "gzip":
        return zlib.decompressobj(wbits=47)
    if encoding == "deflate":
        return zlib.decompressobj()
    return None


def decode(raw: bytes, encoding: str | None) -> bytes:
    decoder = _decompressor(encoding)
    if decoder is None:
        return raw
    try:
        decoded: bytes = decoder.decompress(raw) + decoder.flush()
    except zlib.error:
        return b""
    return decoded


def parse_json(raw: bytes, *, usage_only: bool = False) -> Any:
    """``raw`` parsed, None when it is not JSON.

    ``usage_only``: only the audit event and policies that say so (the limiter) read the
    result (usage, an error's status and retry delay, counts, whether the answer asks for a
    function call): orjson parses it, about four times faster. It reads an integer beyond
    64 bits as a float, which none of those fields can hold; a body
    it refuses goes to the stdlib, which reads what orjson does not (1e400, lone surrogates).
    """
    if not raw:
        return None
    if usage_only and _orjson is not None:
        try:
            return _orjson.loads(raw)
        except _orjson.JSONDecodeError:
            pass
    try:
        return json.loads(raw)
    except ValueError:
        return None


def google_status(body: Any) -> str | None:
    # Google's error shape {"error": {"status": "RESOURCE_EXHAUSTED", ...}}; the OpenAI-compatible
    # endpoints answer {"error": {"type": ...}}, sometimes wrapped in a list.
    if isinstance(body, list) and body:
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        status = error.get("status") or error.get("type") or error.get("code")
        return str(status) if status is not None else None
    return None
