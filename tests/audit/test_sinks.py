"""Audit sinks: the JSON-lines shape, every GOLDEN_PATH_AUDIT_SINK value, failing sinks."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import golden_path
from golden_path.audit import (
    EVENT_NAME,
    AuditEvent,
    Auditor,
    AuditSink,
    FileSink,
    JsonLinesSink,
    LoggingSink,
    render_json,
    sink_from_setting,
)
from golden_path.emulator import Emulator

REQUIRED_FIELDS = {
    "timestamp",
    "request_id",
    "app",
    "team",
    "client_id",
    "backend",
    "project",
    "location",
    "model",
    "method",
    "stream",
    "outcome",
    "http_status",
    "error_type",
    "latency_ms",
    "ttft_ms",
    "prompt_tokens",
    "output_tokens",
    "cached_tokens",
    "thoughts_tokens",
    "total_tokens",
    "policy",
    "sdk_version",
    "golden_path_version",
    "severity",
    "message",
}


def make_event(**changes: Any) -> AuditEvent:
    """A complete event with plausible values."""
    event = AuditEvent(
        timestamp="2026-01-02T03:04:05.678Z",
        request_id="0123456789abcdef",
        app="chat",
        team="search",
        client_id="acme-golden-path/1.0",
        backend="ai_studio",
        project=None,
        location=None,
        surface="genai",
        model="gemini-2.5-flash",
        method="generateContent",
        http_method="POST",
        path="/v1/models/gemini-2.5-flash:generateContent",
        stream=False,
        outcome="ok",
        http_status=200,
        error_type=None,
        latency_ms=12.5,
        ttft_ms=None,
        prompt_tokens=3,
        output_tokens=5,
        cached_tokens=None,
        thoughts_tokens=None,
        total_tokens=8,
        policy=({"policy": "models", "action": "allow", "reason": "", "enforced": True},),
        sdk_version="3.4.0",
        golden_path_version="0.1.0",
        server_address="127.0.0.1",
        server_port=8080,
    )
    return dataclasses.replace(event, **changes)


class Broken:
    """A sink that always fails."""

    def __init__(self) -> None:
        self.calls = 0

    def write(self, event: AuditEvent) -> None:
        self.calls += 1
        raise RuntimeError("sink is down")


def test_json_line_has_every_field_cloud_logging_reads() -> None:
    """A rendered event is one JSON object with every issue field, severity, message and time."""
    line = render_json(make_event())
    assert "\n" not in line
    data = json.loads(line)
    assert set(data) >= REQUIRED_FIELDS
    assert data["event"] == EVENT_NAME
    assert data["severity"] == "INFO"
    assert data["message"] == "generateContent gemini-2.5-flash ok"
    assert data["time"] == data["timestamp"] == "2026-01-02T03:04:05.678Z"
    assert data["policy"] == [
        {"policy": "models", "action": "allow", "reason": "", "enforced": True}
    ]
    assert "content" not in data


def test_json_line_has_every_field_in_field_order() -> None:
    """After the four Cloud Logging keys come the event's fields in their order, content last."""
    event = make_event(content={"response": "hi"})
    names = [f.name for f in dataclasses.fields(AuditEvent) if f.name != "content"]
    data = event.as_dict()
    assert list(data) == ["event", "severity", "message", "time", *names, "content"]
    assert all(data[name] == getattr(event, name) for name in names if name != "policy")
    assert list(json.loads(render_json(event))) == list(data)


@pytest.mark.parametrize(
    "wall",
    [
        1767323045.678,
        1767323045.0,
        1767323045.9999994,  # rounds down to .999999
        1767323045.9999996,  # rounds up into the next second
        1767323045.0005,
        1767225599.9999999,  # the last instant of a year rounds into the next
    ],
)
def test_event_time_is_written_as_datetime_writes_it(wall: float) -> None:
    """The event's time (formatted once per second, then the milliseconds) is isoformat's."""
    from golden_path._transport._call import _timestamp

    expected = (
        dt.datetime.fromtimestamp(wall, dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )
    assert _timestamp(wall) == expected
    assert _timestamp(wall) == expected  # the second time from the per-second cache


@pytest.mark.parametrize(
    ("outcome", "severity"),
    [("ok", "INFO"), ("denied", "WARNING"), ("error", "ERROR"), ("cancelled", "NOTICE")],
)
def test_severity_follows_outcome(outcome: str, severity: str) -> None:
    """Each outcome maps to the Cloud Logging severity an on-call would filter on."""
    assert json.loads(render_json(make_event(outcome=outcome)))["severity"] == severity


def test_content_appears_only_when_captured() -> None:
    """The content key is written only when content capture filled it."""
    data = json.loads(render_json(make_event(content={"response": "hi"})))
    assert data["content"] == {"response": "hi"}


@pytest.mark.parametrize(
    ("value", "kinds"),
    [
        ("stderr", [JsonLinesSink]),
        ("stdout", [JsonLinesSink]),
        ("logging", [LoggingSink]),
        ("none", []),
        ("file:/tmp/x/audit.jsonl", [FileSink]),
        ("stderr, logging", [JsonLinesSink, LoggingSink]),
    ],
)
def test_sink_settings(value: str, kinds: list[type]) -> None:
    """Each documented value (and a comma-separated list) builds the matching sinks."""
    sinks = sink_from_setting(value)
    assert [type(s) for s in sinks] == kinds
    assert all(isinstance(s, AuditSink) for s in sinks)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("syslog", ["syslog", "stderr", "file:PATH", "otel"]),
        ("file:", ["needs a path"]),
        ("", ["empty"]),
        ("none,stderr", ["'none' alone"]),
    ],
)
def test_bad_sink_settings_say_what_is_accepted(value: str, words: list[str]) -> None:
    """Unknown or incomplete values raise ValueError naming the problem and the choices."""
    with pytest.raises(ValueError, match="audit sink") as caught:
        sink_from_setting(value)
    for word in words:
        assert word in str(caught.value)


def test_unknown_sink_is_a_config_error_naming_the_field(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GOLDEN_PATH_AUDIT_SINK=syslog fails client construction with a ConfigError on audit_sink."""
    monkeypatch.setenv("GOLDEN_PATH_AUDIT_SINK", "syslog")
    with pytest.raises(golden_path.ConfigError) as caught:
        golden_path.create_client(backend="ai_studio", api_key="k", base_url=emulator.url)
    assert "audit_sink" in caught.value.fields
    assert "syslog" in str(caught.value)


def test_stderr_sink_writes_one_line_per_request(
    capsys: pytest.CaptureFixture[str], emulator: Emulator
) -> None:
    """The default sink writes each request's event as one JSON line on stderr."""
    client = golden_path.create_client(
        backend="ai_studio", api_key="k", base_url=emulator.url, retry_attempts=1
    )
    client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    client.models.generate_content(model="gemini-2.5-flash", contents="again")
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.err.splitlines() if line.startswith("{")]
    assert [e["outcome"] for e in lines] == ["ok", "ok"]
    assert captured.out == ""


def test_stdout_sink(emulator: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    """audit_sink=stdout writes the JSON lines on stdout instead."""
    client = golden_path.create_client(
        backend="ai_studio", api_key="k", base_url=emulator.url, audit_sink="stdout"
    )
    client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    captured = capsys.readouterr()
    assert json.loads(captured.out)["outcome"] == "ok"


def test_file_sink_appends_whole_lines_from_many_threads(tmp_path: Path) -> None:
    """Concurrent writers to one file (two sinks, as two processes would) never tear a line."""
    path = tmp_path / "audit.jsonl"
    sinks = [FileSink(path), FileSink(path)]
    big = make_event(content={"response": "x" * 20_000})

    def work(sink: FileSink) -> None:
        for n in range(200):
            sink.write(dataclasses.replace(big, request_id=f"{id(sink)}-{n}"))

    threads = [threading.Thread(target=work, args=(sinks[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = path.read_text().splitlines()
    assert len(lines) == 1600
    assert all(json.loads(line)["content"]["response"] == "x" * 20_000 for line in lines)


def test_file_sink_setting_end_to_end(emulator: Emulator, tmp_path: Path) -> None:
    """audit_sink=file:PATH creates the file and appends one line per request."""
    path = tmp_path / "audit.jsonl"
    client = golden_path.create_client(
        backend="ai_studio",
        api_key="k",
        base_url=emulator.url,
        audit_sink=f"file:{path}",
        app="chat",
        team="search",
    )
    client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    event = json.loads(path.read_text())
    assert (event["app"], event["team"], event["outcome"]) == ("chat", "search", "ok")


def test_unwritable_file_warns_once_and_calls_go_on(
    emulator: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A file sink in a missing directory warns once, naming the path and the fix; calls work."""
    path = tmp_path / "missing" / "audit.jsonl"
    client = golden_path.create_client(
        backend="ai_studio", api_key="k", base_url=emulator.url, audit_sink=f"file:{path}"
    )
    with caplog.at_level(logging.WARNING, logger="golden_path"):
        for _ in range(3):
            assert client.models.generate_content(model="gemini-2.5-flash", contents="hi").text
    warnings = [r for r in caplog.records if "audit" in r.getMessage()]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert str(path) in message
    assert "GOLDEN_PATH_AUDIT_SINK" in message
    # Once the directory exists, events flow again.
    path.parent.mkdir()
    client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert json.loads(path.read_text())["outcome"] == "ok"


def test_failing_sink_never_breaks_the_call(
    make_client: Callable[..., Any], emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A sink that raises is contained: the call succeeds, other sinks still get the event,
    failures are counted and reported once."""
    broken, kept = Broken(), []

    class Keep:
        def write(self, event: AuditEvent) -> None:
            kept.append(event)

    client = golden_path.create_client(
        backend="ai_studio", api_key="k", base_url=emulator.url, audit_sinks=[broken, Keep()]
    )
    with caplog.at_level(logging.WARNING, logger="golden_path"):
        for _ in range(3):
            client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert broken.calls == 3
    assert len(kept) == 3
    reports = [r for r in caplog.records if "Broken" in r.getMessage()]
    assert len(reports) == 1
    # The custom sink's own message is not repeated (it is its business, and could be anything).
    assert "sink is down" not in reports[0].getMessage()


def test_auditor_counts_failures_per_sink() -> None:
    """Auditor.failures and failures_by_sink count every failed delivery."""
    auditor = Auditor([Broken()])
    for _ in range(4):
        auditor.emit(make_event())
    assert auditor.failures == 4
    assert auditor.failures_by_sink == {"Broken": 4}


def test_event_emitted_from_inside_a_sink_is_delivered_after(tmp_path: Path) -> None:
    """An event finished while the thread is inside a sink (a GC finalizer) waits its turn,
    so it never re-enters a sink's lock or interleaves with a half-written line."""
    order: list[str] = []
    auditor: Auditor

    class Reentrant:
        def write(self, event: AuditEvent) -> None:
            order.append(f"start {event.request_id}")
            if event.request_id == "outer":
                auditor.emit(make_event(request_id="inner"))
            order.append(f"end {event.request_id}")

    auditor = Auditor([Reentrant()])
    auditor.emit(make_event(request_id="outer"))
    assert order == ["start outer", "end outer", "start inner", "end inner"]


def test_logging_sink_uses_golden_path_audit_logger(caplog: pytest.LogCaptureFixture) -> None:
    """The logging sink logs to golden_path.audit at the severity's level, with the event
    as JSON in the message and as a dict in record.audit."""
    sink = LoggingSink()
    with caplog.at_level(logging.INFO, logger="golden_path.audit"):
        sink.write(make_event())
        sink.write(make_event(outcome="error", error_type="INTERNAL"))
    ok, error = caplog.records
    assert (ok.name, ok.levelno, error.levelno) == (
        "golden_path.audit",
        logging.INFO,
        logging.ERROR,
    )
    assert json.loads(ok.getMessage())["request_id"] == "0123456789abcdef"
    assert ok.audit["outcome"] == "ok"  # type: ignore[attr-defined]


def test_file_sink_repr_names_the_path(tmp_path: Path) -> None:
    """Reports about a file sink name its path."""
    assert str(tmp_path) in repr(FileSink(tmp_path / "a.jsonl"))


def test_file_sink_is_closed_and_reopened(tmp_path: Path) -> None:
    """close() releases the descriptor; the next event reopens the file and appends."""
    path = tmp_path / "a.jsonl"
    sink = FileSink(path)
    sink.write(make_event())
    sink.close()
    os.replace(path, tmp_path / "rotated.jsonl")
    sink.write(make_event())
    assert len(path.read_text().splitlines()) == 1
    assert len((tmp_path / "rotated.jsonl").read_text().splitlines()) == 1


class _Halt(BaseException):
    """A BaseException of a sink's own, like SystemExit or a stray CancelledError."""


@pytest.mark.parametrize("error", [SystemExit(3), GeneratorExit(), _Halt()])
def test_sink_raising_a_base_exception_never_breaks_the_call(
    emulator: Emulator, error: BaseException
) -> None:
    """Not even SystemExit, GeneratorExit or a custom BaseException from a sink escapes into
    the caller's call; the other sinks still get the event and the failure is counted."""
    kept: list[AuditEvent] = []

    class Exits:
        def write(self, event: AuditEvent) -> None:
            raise error

    class Keep:
        def write(self, event: AuditEvent) -> None:
            kept.append(event)

    client = golden_path.create_client(
        backend="ai_studio", api_key="k", base_url=emulator.url, audit_sinks=[Exits(), Keep()]
    )
    assert client.models.generate_content(model="gemini-2.5-flash", contents="hi").text
    assert [e.outcome for e in kept] == ["ok"]


def test_audit_required_denies_when_the_file_cannot_be_written(
    emulator: Emulator, tmp_path: Path
) -> None:
    """audit_required: no audit, no call. An unwritable audit file denies the request before
    anything is sent, naming the sink and the fix; once it is writable, calls go through."""
    from golden_path.exceptions import AuditUnavailable

    path = tmp_path / "missing" / "audit.jsonl"
    client = golden_path.create_client(
        backend="ai_studio",
        api_key="k",
        base_url=emulator.url,
        retry_attempts=1,
        audit_sink=f"file:{path}",
        audit_required=True,
    )
    before = len(emulator.requests)
    with pytest.raises(AuditUnavailable) as caught:
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert len(emulator.requests) == before, "nothing was sent"
    assert str(path) in str(caught.value)
    assert "audit_required" in str(caught.value)
    assert isinstance(caught.value, golden_path.PolicyViolation)
    path.parent.mkdir()
    assert client.models.generate_content(model="gemini-2.5-flash", contents="hi").text
    assert json.loads(path.read_text())["outcome"] == "ok"


def test_audit_required_with_no_sink_denies(emulator: Emulator) -> None:
    """audit_required with audit_sink=none is a contradiction the call refuses."""
    from golden_path.exceptions import AuditUnavailable

    client = golden_path.create_client(
        backend="ai_studio",
        api_key="k",
        base_url=emulator.url,
        audit_sink="none",
        audit_required=True,
    )
    with pytest.raises(AuditUnavailable, match="no audit sink"):
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")


def test_audit_fsync_writes_durably(emulator: Emulator, tmp_path: Path) -> None:
    """audit_fsync=true still writes one chained line per call (the fsync itself is the OS's)."""
    path = tmp_path / "audit.jsonl"
    client = golden_path.create_client(
        backend="ai_studio",
        api_key="k",
        base_url=emulator.url,
        audit_sink=f"file:{path}",
        audit_fsync=True,
    )
    client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    sinks = list(sink_from_setting(f"file:{path}", fsync=True))
    assert isinstance(sinks[0], FileSink)
    assert sinks[0].fsync is True
    assert json.loads(path.read_text())["seq"] == 1
