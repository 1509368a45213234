"""Where audit events go: sinks behind one Protocol; a failing sink never breaks a call.

``GOLDEN_PATH_AUDIT_SINK`` names one sink or a comma-separated list of them::

    stderr (default) | stdout | file:/path/audit.jsonl | logging | otel | none

Every JSON sink renders with ``golden_path._json.dumps`` (orjson when installed); a value JSON
has no type for is written as its ``str()``, so an odd field never loses the event.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

from golden_path._json import dumps
from golden_path._log import Diagnostics, Processor
from golden_path._process import STATE
from golden_path.audit._chain import digest, new_link, read_tail
from golden_path.audit._events import EVENT_NAME, AuditEvent, fields_dict
from golden_path.exceptions import AuditSinkError

__all__ = [
    "AuditSink",
    "Auditor",
    "FileSink",
    "JsonLinesSink",
    "LoggingSink",
    "describe_sinks",
    "render_json",
    "sink_from_setting",
]

# Audit events go to this logger (the `logging` sink); problems with sinks go to `golden_path`,
# so a broken sink is never reported into the audit trail itself.
audit_log = logging.getLogger("golden_path.audit")
diagnostics = Diagnostics("golden_path")

SINK_NAMES = ("stderr", "stdout", "file:PATH", "logging", "structlog", "otel", "none")


def render_json(event: AuditEvent, extra: dict[str, Any] | None = None) -> str:
    """One JSON object, no newline: the shape every JSON-lines sink writes.

    ``extra`` fields (the tamper-evidence chain) come last.
    """
    data = _processed(event.as_dict())
    if extra:
        data.update(extra)
    return dumps(data, lenient=True).decode()


# The chain's fields, always last on a line, written by the sinks themselves: the event is
# rendered before the sink takes its locks, and only this suffix needs the chain's state.
_CHAIN_KEYS = ("chain", "seq", "prev")


def _render_body(event: AuditEvent) -> bytes:
    """The event's JSON object without the chain fields: rendered outside any lock."""
    return _rendered(event.as_dict())


def _rendered(data: dict[str, Any]) -> bytes:
    if STATE.processors:
        data = _processed(data)
        for key in _CHAIN_KEYS:
            # A processor's own "chain" would make a line with the key twice; the chain's wins.
            data.pop(key, None)
    return dumps(data, lenient=True)


class _Record:
    """One event on its way to the sinks: the object and its JSON line, each made on first use.

    A call hands over the event's fields; with only JSON-lines sinks (the file, stderr) the
    line is rendered from them directly and no :class:`AuditEvent` is built.
    """

    __slots__ = ("_body", "_event", "_fields")

    def __init__(self, event: AuditEvent | None, fields: tuple[Any, ...] = ()) -> None:
        self._event = event
        self._fields = fields
        self._body: bytes | None = None

    def event(self) -> AuditEvent:
        """The event object, for sinks that take one."""
        event = self._event
        if event is None:
            event = self._event = AuditEvent(*self._fields)
        return event

    def body(self) -> bytes:
        """The JSON object without the chain fields, rendered once for every JSON-lines sink."""
        body = self._body
        if body is None:
            event = self._event
            data = event.as_dict() if event is not None else fields_dict(self._fields)
            body = self._body = _rendered(data)
        return body


def _linked(prev: str | bytes, key: bytes | None) -> str:
    """The previous line's digest: ``prev`` is it, or that line, not digested yet."""
    return digest(prev, key) if isinstance(prev, bytes) else prev


def _after_answer(work: Callable[[], None]) -> None:
    """Ask the running event loop, if any, to run ``work`` once the current task yields.

    A line's digest is needed only by the next line. Taken on the request's path it cost
    about 9 us per request in the gateway at 200 requests/s; after the task's turn (the
    answer written) it costs no request its latency. Without a loop (sync callers) it is
    left to the next event, which must digest it first anyway.
    """
    loop = asyncio._get_running_loop()
    if loop is not None:
        loop.call_soon(work)


def _chained(body: bytes, chain: str, seq: int, prev: str) -> bytes:
    """``body`` with the next link's fields last, as ``render_json(event, extra)`` writes them.

    With the newline: the line is the bytes before it (what the next link digests). Both
    JSON-lines sinks write their lines with it.
    """
    suffix = f'"chain":"{chain}","seq":{seq + 1},"prev":"{prev}"}}\n'.encode()
    return body[:-1] + (suffix if body == b"{}" else b"," + suffix)


def _processed(data: dict[str, Any]) -> dict[str, Any]:
    """The event after the processors apps added (``add_processor``), in the order added."""
    for processor in tuple(STATE.processors):
        result = processor(None, EVENT_NAME, data)
        if not isinstance(result, dict):
            raise TypeError(
                f"audit processor {processor!r} returned {type(result).__name__}, not the event "
                "dict; an audit event cannot be dropped or rendered by a processor"
            )
        data = result
    return data


@runtime_checkable
class AuditSink(Protocol):
    """Anything that can take an event; it may raise, the Auditor contains it.

    ``write`` is called on the thread that finished the request (for an abandoned stream, the
    thread that garbage-collected it), so it must be thread-safe and should not block for long.
    """

    def write(self, event: AuditEvent) -> None:
        """Persist or forward one event."""


class JsonLinesSink:
    """One JSON object per line on a text stream.

    ``None`` means ``sys.stderr`` looked up at write time, so redirected stderr is honoured.
    """

    def __init__(self, stream: IO[str] | None = None, *, chain_key: bytes | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._key = chain_key
        # One chain per sink: log collectors interleave many processes' streams, and the chain
        # id tells ``audit verify`` which lines belong together. ``prev`` may be the last
        # line itself, digested when needed (see _after_answer).
        link = new_link()
        self._chain, self._seq = link.chain, link.seq
        self._prev: str | bytes = link.prev

    def write(self, event: AuditEvent) -> None:
        """Write one line; the lock keeps lines whole and the chain in order under threads."""
        self._write_body(_render_body(event))

    def _write_body(self, body: bytes) -> None:
        stream = self._stream or sys.stderr
        with self._lock:
            data = _chained(body, self._chain, self._seq, _linked(self._prev, self._key))
            stream.write(data.decode())
            stream.flush()
            self._seq += 1
            self._prev = data[:-1]
        _after_answer(self._digest_last)

    def _digest_last(self) -> None:
        with self._lock:
            if isinstance(self._prev, bytes):
                self._prev = digest(self._prev, self._key)

    def __repr__(self) -> str:
        name = getattr(self._stream, "name", None) if self._stream else "<stderr>"
        return f"JsonLinesSink({name})"


# Free space below which a file sink that failed to write stays "not ready" (audit_required).
_ROOM = 1024 * 1024


class FileSink:
    """Appends JSON lines to a file, chained for tamper evidence (see ``audit verify``).

    One ``write(2)`` per event on an ``O_APPEND`` descriptor keeps lines whole across threads
    and across processes sharing the file (gunicorn workers, say); an exclusive ``flock`` around
    it keeps the chain whole too, since each writer links to the line actually last in the file.
    ``fsync=True`` forces every event to disk before the call returns (``audit_fsync``); without
    it an event is in the kernel's page cache when ``write`` returns, safe from a crash of the
    process but not of the machine. A write the disk cut short leaves a torn line (the failure
    is reported); the next event starts a line of its own and links to the last whole one.
    """

    def __init__(self, path: Path, *, fsync: bool = False, chain_key: bytes | None = None) -> None:
        self.path = path
        self.fsync = fsync
        self._key = chain_key
        self._fd: int | None = None
        self._lock = threading.Lock()
        # The chain as of the end of the file when this process last wrote: (file size, link).
        # (file size, chain id, seq, digest of the last line): plain values, no Link per event.
        # (file size, chain, seq, prev): prev may be the last line, not digested yet.
        self._tail: tuple[int, str, int, str | bytes] | None = None
        self.broken: str | None = None

    def _open(self) -> int:
        try:
            # Read and write: the writer reads the file's last line to continue its chain.
            return os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        except OSError as exc:
            self.broken = f"audit file {self.path} cannot be opened ({exc.strerror})"
            raise AuditSinkError(
                f"audit file {self.path} cannot be opened for appending ({exc.strerror}); "
                "audit events are being lost. Fix: create the directory and make it writable "
                "by this process, or set GOLDEN_PATH_AUDIT_SINK to stderr",
                sink=f"file:{self.path}",
            ) from None

    def ready(self) -> str | None:
        """None when the next event can be written, else why not (``audit_required``)."""
        with self._lock:
            if self._fd is None:
                try:
                    self._fd = self._open()
                except AuditSinkError:
                    return self.broken
                self.broken = None  # reopened: the directory or permissions were fixed
            if self.broken is not None:
                # A write failed (disk full, say): ready again only when there is room.
                try:
                    stats = os.fstatvfs(self._fd)
                except OSError:
                    return self.broken
                if stats.f_bavail * stats.f_frsize >= _ROOM:
                    self.broken = None
            return self.broken

    def write(self, event: AuditEvent) -> None:
        """Append one chained line; the file is opened on first use, reopened after a failure."""
        self._write_body(_render_body(event))

    def _write_body(self, body: bytes) -> None:
        # Rendered before any lock: the flock (which every process writing the file waits on)
        # covers only finding the chain's end, the one write, and the optional fsync.
        with self._lock:
            if self._fd is None:
                self._fd = self._open()
            fd = self._fd
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    # The end of the file (O_APPEND writes there): an lseek, not an fstat,
                    # whose stat result is a 20-field object built for one number.
                    size = os.lseek(fd, 0, os.SEEK_END)
                    tail = self._tail
                    lead = b""
                    if tail is None or tail[0] != size:
                        # Another process wrote since (or this is the first event): ask the file.
                        link = read_tail(fd, size, self._key)
                        chain, seq, prev = link.chain, link.seq, link.prev
                        if size and os.pread(fd, 1, size - 1) != b"\n":
                            # A line cut short (a full disk, a size limit) has no newline:
                            # this event starts a line of its own rather than extend the torn one.
                            lead = b"\n"
                    else:
                        _, chain, seq, pending = tail
                        prev = _linked(pending, self._key)
                    data = lead + _chained(body, chain, seq, prev)
                    written = os.write(fd, data)
                    if written < len(data):  # a signal or a full disk cut the write short
                        view = memoryview(data)[written:]
                        while view:
                            view = view[os.write(fd, view) :]
                    if self.fsync:
                        os.fsync(fd)
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            except OSError as exc:
                self._close()
                self.broken = f"cannot append to audit file {self.path} ({exc.strerror})"
                raise AuditSinkError(
                    f"cannot append to audit file {self.path} ({exc.strerror}); "
                    "fix: free disk space or check the file's permissions",
                    sink=f"file:{self.path}",
                ) from None
            # This process's next event links to this line, unless another one writes first
            # (then the size differs and the file is asked); the digest needs no flock.
            line = data[len(lead) : -1] if lead else data[:-1]
            self._tail = (size + len(data), chain, seq + 1, line)
            self.broken = None
        _after_answer(self._digest_last)

    def _digest_last(self) -> None:
        with self._lock:
            tail = self._tail
            if tail is not None and isinstance(tail[3], bytes):
                self._tail = (*tail[:3], digest(tail[3], self._key))

    def _close(self) -> None:
        fd, self._fd = self._fd, None
        self._tail = None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def close(self) -> None:
        """Close the file (it is reopened if another event comes)."""
        with self._lock:
            self._close()

    def __del__(self) -> None:
        self._close()

    def __repr__(self) -> str:
        return f"FileSink({str(self.path)!r})"


_LEVELS = {
    "INFO": logging.INFO,
    "NOTICE": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
}


class LoggingSink:
    """The stdlib logger ``golden_path.audit``, for apps that already route logging.

    The message is the JSON line (so a plain handler shows everything); structured handlers
    find the event as a dict in ``record.audit``.
    """

    def write(self, event: AuditEvent) -> None:
        """Log at the level matching the event's severity."""
        level = _LEVELS[event.severity]
        if audit_log.isEnabledFor(level):
            data = _processed(event.as_dict())
            audit_log.log(level, "%s", _LazyJson(data), extra={"audit": data})

    def __repr__(self) -> str:
        return "LoggingSink(golden_path.audit)"


class _LazyJson:
    """Rendered only if a handler formats the record."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __str__(self) -> str:
        return dumps(self._data, lenient=True).decode()


_METHODS = {"INFO": "info", "NOTICE": "info", "WARNING": "warning", "ERROR": "error"}


class StructlogSink:
    """The app's own structlog configuration: each event is logged to ``golden_path.audit``.

    The event name is the message (``genai.request``); the fields are the event's, after the
    processors added with :func:`add_processor`. The app's processors then route and render it.
    """

    def __init__(self) -> None:
        import structlog

        self._logger = structlog.get_logger("golden_path.audit")

    def write(self, event: AuditEvent) -> None:
        """Log the event at the level matching its severity."""
        data = _processed(event.as_dict())
        name = data.pop("event", EVENT_NAME)
        getattr(self._logger, _METHODS[event.severity])(name, **data)

    def __repr__(self) -> str:
        return "StructlogSink(golden_path.audit)"


def _otel_sink() -> AuditSink:
    try:
        from golden_path.audit._otel import OTelSink
    except ImportError as exc:
        raise ValueError(
            f"audit sink 'otel' needs OpenTelemetry, which is not installed ({exc.name} is "
            "missing); fix: pip install 'golden-path[otel]'"
        ) from None
    return OTelSink()


_NAMED: dict[str, Callable[[], AuditSink]] = {
    "logging": LoggingSink,
    "structlog": StructlogSink,
    "otel": _otel_sink,
}


def sink_from_setting(
    value: str, *, fsync: bool = False, chain_key: bytes | None = None
) -> list[AuditSink]:
    """The sinks a ``GOLDEN_PATH_AUDIT_SINK`` value names; ValueError says what is accepted.

    ``fsync`` and ``chain_key`` (``audit_fsync``, ``audit_chain_key``) apply to the JSON-lines
    sinks: files and standard streams.
    """
    parts = [part.strip() for part in value.split(",")]
    if not any(parts):
        raise ValueError(f"audit sink is empty; use one or more of {', '.join(SINK_NAMES)}")
    sinks: list[AuditSink] = []
    for part in parts:
        if part == "none":
            if len(parts) > 1:
                raise ValueError(
                    f"audit sink {value!r} combines 'none' with other sinks; use 'none' alone"
                )
            return []
        if part.startswith("file:"):
            path = part.removeprefix("file:").strip()
            if not path:
                raise ValueError(
                    "audit sink 'file:' needs a path, for example "
                    "file:/var/log/golden-path/audit.jsonl"
                )
            sinks.append(FileSink(Path(path).expanduser(), fsync=fsync, chain_key=chain_key))
            continue
        if part.lower() in ("stderr", "stdout"):
            stream = sys.stdout if part.lower() == "stdout" else None
            sinks.append(JsonLinesSink(stream, chain_key=chain_key))
            continue
        factory = _NAMED.get(part.lower())
        if factory is None:
            raise ValueError(
                f"unknown audit sink {part!r}; use one or more of "
                f"{', '.join(SINK_NAMES)}, separated by commas"
            )
        sinks.append(factory())
    return sinks


def _name(sink: AuditSink) -> str:
    return repr(sink) if type(sink).__repr__ is not object.__repr__ else type(sink).__name__


# Which (auditor, event) pairs wait on this thread: an event finished while this thread is
# already inside a sink (a garbage-collected stream's finalizer runs wherever the collector
# runs) is queued and delivered after the current one, never into a half-written line or a
# held lock.
_local = threading.local()


class Auditor:
    """Fans an event out to every sink; counts failures and reports each failing sink once."""

    def __init__(self, sinks: Sequence[AuditSink]) -> None:
        self._own = tuple(sinks)
        self.failures = 0
        self.failures_by_sink: dict[str, int] = {}
        self._reported: set[int] = set()
        self._lock = threading.Lock()

    @property
    def sinks(self) -> tuple[AuditSink, ...]:
        """The sinks of the client, then those added process-wide with :func:`add_sink`."""
        added = STATE.sinks
        return (*self._own, *added) if added else self._own

    def emit(self, event: AuditEvent) -> None:
        """Deliver to every sink; never raises."""
        self._emit(_Record(event))

    def emit_fields(self, fields: tuple[Any, ...]) -> None:
        """Deliver the event ``AuditEvent(*fields)``; never raises.

        The event object is built only if a sink takes one: JSON-lines sinks get the line
        rendered from the fields.
        """
        self._emit(_Record(None, fields))

    def _emit(self, record: _Record) -> None:
        sinks = self.sinks
        if not sinks:
            return
        pending: list[tuple[Auditor, _Record]] | None = getattr(_local, "pending", None)
        if pending is not None:
            pending.append((self, record))
            return
        pending = _local.pending = []
        try:
            self._deliver(record, sinks)
            while pending:
                auditor, queued = pending.pop(0)
                auditor._deliver(queued, auditor.sinks)
        finally:
            _local.pending = None
        # Anything queued between the loop's last check and the reset above.
        for auditor, queued in pending:
            auditor._emit(queued)

    def ready(self) -> tuple[str, str] | None:
        """``(sink, reason)`` of the first sink that cannot take an event now, else None.

        Sinks that can tell (``ready()``, as the file sink can) are asked; a sink that has
        failed since its last success counts as not ready (``audit_required``).
        """
        for sink in self.sinks:
            probe = getattr(sink, "ready", None)
            if probe is None:
                continue
            try:
                reason = probe()
            except Exception as exc:  # noqa: BLE001 - a probe that fails means not ready
                reason = f"its readiness check failed ({type(exc).__name__})"
            if reason:
                return _name(sink), str(reason)
        return None

    def _deliver(self, record: _Record, sinks: tuple[AuditSink, ...]) -> None:
        for sink in sinks:
            try:
                # Our JSON-lines sinks take the rendered line (a subclass may have its own
                # write: it gets the event).
                if type(sink) in _LINE_SINKS:
                    sink._write_body(record.body())  # type: ignore[attr-defined]
                else:
                    sink.write(record.event())
            except KeyboardInterrupt:
                raise  # the user's Ctrl-C, not the sink's failure
            except BaseException as exc:  # noqa: BLE001 - a sink must never break the call:
                # not even with SystemExit, GeneratorExit or a CancelledError of its own.
                self._failed(sink, exc)

    def _failed(self, sink: AuditSink, exc: BaseException) -> None:
        with self._lock:
            self.failures += 1
            name = _name(sink)
            self.failures_by_sink[name] = self.failures_by_sink.get(name, 0) + 1
            first = id(sink) not in self._reported
            self._reported.add(id(sink))
        if first:
            # Our own sinks' messages name the target and the fix; a custom sink's exception
            # text is its own business, so only its type is shown.
            detail = str(exc) if isinstance(exc, AuditSinkError) else type(exc).__name__
            diagnostics.warning(
                "golden_path.audit.sink_failed",
                f"golden-path audit sink {name} failed: {detail}; the call went on, further "
                "failures of this sink are counted (Auditor.failures), not logged",
                sink=name,
                error=detail,
            )

    def __repr__(self) -> str:
        return f"Auditor(sinks={list(self.sinks)!r}, failures={self.failures})"


_LINE_SINKS = frozenset({FileSink, JsonLinesSink})


def describe_sinks(settings: Any) -> str:
    """What ``golden-path doctor`` says of the configured sinks; raises when one cannot write.

    Builds them as a client would, asks each that can tell whether it is ready (a file that
    cannot be opened, an OTel sink with no provider or a failing exporter).
    """
    key = settings.audit_chain_key
    sinks = sink_from_setting(
        settings.audit_sink,
        fsync=settings.audit_fsync,
        chain_key=key.get_secret_value().encode() if key is not None else None,
    )
    if not sinks:
        if settings.audit_required:
            raise AuditSinkError(
                "audit_required is on but audit_sink is none: every call is denied"
            )
        return "none (no audit events are written)"
    broken = Auditor(sinks).ready()
    if broken is not None:
        name, reason = broken
        raise AuditSinkError(f"{name}: {reason}", sink=name)
    names = ", ".join(_name(sink) for sink in sinks)
    mode = "; audit_required: no audit, no call" if settings.audit_required else ""
    return f"{names} ready{mode}"


def add_sink(sink: AuditSink) -> None:
    """Also deliver every audit event of every client of this process to ``sink``.

    Clients already built included; ``golden_path.testing.capture_audit`` is built on it.
    """
    with STATE.lock:
        STATE.sinks.append(sink)


def remove_sink(sink: AuditSink) -> None:
    """Stop delivering to a sink given to :func:`add_sink` (no error if it is not there)."""
    with STATE.lock, contextlib.suppress(ValueError):
        STATE.sinks.remove(sink)


def add_processor(processor: Processor) -> None:
    """Run ``processor`` (structlog's signature) on every audit event before it is rendered.

    It may add, rename or remove fields and must return the event dict; the JSON-lines, file,
    logging and structlog sinks write what it returns. One JSON line per event stays the shape.
    """
    with STATE.lock:
        STATE.processors.append(processor)


def remove_processor(processor: Processor) -> None:
    """Stop running a processor given to :func:`add_processor` (no error if it is not there)."""
    with STATE.lock, contextlib.suppress(ValueError):
        STATE.processors.remove(processor)
