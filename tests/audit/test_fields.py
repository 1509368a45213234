"""The audit line a call renders from its fields is the line the AuditEvent path writes.

A governed call hands its event's fields to the sinks; JSON-lines sinks render them without
building an :class:`AuditEvent`. Whatever the route and outcome, the bytes must be those
``render_json(event)`` writes for the event a custom sink receives, with orjson and without.
"""

from __future__ import annotations

import dataclasses
import io
import json
import multiprocessing
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from google.genai import errors

import golden_path
from golden_path import _json
from golden_path.audit import (
    AuditEvent,
    Auditor,
    FileSink,
    JsonLinesSink,
    add_processor,
    remove_processor,
    render_json,
)
from golden_path.audit._chain import verify
from golden_path.audit._events import fields_dict
from golden_path.cli import main
from golden_path.emulator import Emulator
from golden_path.policies import Deny
from tests.audit.test_sinks import make_event
from tests.conftest import AuditCapture

MODEL = "gemini-2.5-flash"


@pytest.fixture(name="encoder", params=["orjson", "stdlib"])
def _encoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "stdlib":
        monkeypatch.setattr(_json, "_orjson", None)
    return str(request.param)


def _body(line: bytes) -> bytes:
    """A chained line without its chain fields: the event's own JSON object."""
    head, _, _ = line.rpartition(b',"chain":')
    return head + b"}"


def _fields(event: AuditEvent) -> tuple[Any, ...]:
    return tuple(getattr(event, f.name) for f in dataclasses.fields(AuditEvent))


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"content": {"prompt": 'héllo "quoted" \\ \n\x00', "n": 1}},
        {"model": None, "project": "p", "location": "europe-west4", "ttft_ms": 1.5},
        {"cost_usd": 1.62e-05, "billed": {"input": 4}, "server_address": None},
        {"policy": ()},
    ],
)
def test_fields_dict_is_the_events_dict_in_order(changes: dict[str, Any]) -> None:
    """fields_dict(fields) has the keys, order and values of AuditEvent(*fields).as_dict()."""
    event = make_event(**changes)
    made = fields_dict(_fields(event))
    assert list(made.items()) == list(event.as_dict().items())


class _Pro:
    """Denies every request with a reason JSON must escape (quotes, backslash, unicode)."""

    name = "models"

    def on_request(self, request: Any) -> None:
        raise Deny('gemini-2.5-pro is "not" allowed \\ für diese App\n✓')


def _routes(client: Any, emulator: Emulator) -> Iterator[str]:
    """Drive one request of each kind the audit trail tells apart; yield the kind's name."""
    client.models.generate_content(model=MODEL, contents="hello")
    yield "ok"
    list(client.models.generate_content_stream(model=MODEL, contents="a longer story please"))
    yield "stream"
    stream = client.models.generate_content_stream(model=MODEL, contents="a long story please")
    next(iter(stream))
    stream.close()  # type: ignore[attr-defined]
    yield "cancelled"
    emulator.fail_next(429)
    with pytest.raises(errors.ClientError):
        client.models.generate_content(model=MODEL, contents="hi")
    yield "http error"
    emulator.malformed_next()
    with pytest.raises(Exception):  # noqa: B017, PT011 - the SDK raises its own parse errors
        client.models.generate_content(model=MODEL, contents="hi")
    yield "malformed"
    emulator.drop_next()
    with pytest.raises(httpx2.RemoteProtocolError):
        client.models.generate_content(model=MODEL, contents="hi")
    yield "dropped"
    client.models.count_tokens(model=MODEL, contents="count these")
    yield "countTokens"
    client.models.embed_content(model="gemini-embedding-001", contents="embed me")
    yield "embed"
    list(client.models.list())
    yield "models.list (no model)"
    with pytest.raises(errors.APIError):
        client.models.generate_content(model="gémini-ü-\u2603", contents="hi")
    yield "unknown model with a non-ASCII name (in the path and the message)"


def _client(emulator: Emulator, sinks: list[Any], **settings: Any) -> Any:
    """An AI Studio client on the emulator auditing into ``sinks`` (no SDK retries)."""
    return golden_path.create_client(
        backend="ai_studio",
        api_key="test-key",
        base_url=emulator.url,
        retry_attempts=1,
        audit_sinks=sinks,
        **settings,
    )


def test_every_route_kind_writes_the_events_own_line(
    emulator: Emulator, tmp_path: Path, encoder: str
) -> None:
    """Each kind of request (ok, stream, cancelled, errors, no model) writes to the file the
    bytes render_json writes for the event an object sink got, an identity JSON must escape."""
    path = tmp_path / "audit.jsonl"
    audit = AuditCapture()
    client = _client(emulator, [FileSink(path), audit], app='chat "q" \\ app', team="search")
    kinds = list(_routes(client, emulator))
    lines = path.read_bytes().splitlines()
    assert len(lines) == len(audit.events) >= len(kinds)
    for line, event in zip(lines, audit.events, strict=True):
        assert _body(line) == render_json(event).encode(), (encoder, event.method)
    assert json.loads(lines[0])["app"] == 'chat "q" \\ app'
    assert {e.outcome for e in audit.events} == {"ok", "cancelled", "error"}
    assert "gémini-ü-\u2603" in audit.events[-1].path
    assert json.loads(lines[-1])["message"].startswith("generateContent gémini-ü-\u2603 ")


def test_denied_event_with_escapes_in_the_reason(
    emulator: Emulator, tmp_path: Path, encoder: str
) -> None:
    """A denial whose reason needs escaping writes the event's own line, and it parses back."""
    path = tmp_path / "audit.jsonl"
    audit = AuditCapture()
    sinks = [FileSink(path), JsonLinesSink(io.StringIO()), audit]
    client = _client(emulator, sinks, policies=[_Pro()])
    with pytest.raises(golden_path.PolicyViolation):
        client.models.generate_content(model="gemini-2.5-pro", contents="hi")
    (line,) = path.read_bytes().splitlines()
    (event,) = audit.events
    assert _body(line) == render_json(event).encode()
    assert "für diese App\n✓" in json.loads(line)["policy"][0]["reason"]


def test_emit_fields_builds_the_event_only_for_sinks_that_take_one(tmp_path: Path) -> None:
    """An object sink gets AuditEvent(*fields); the file gets the same event's line."""
    event = make_event(model="gémini", error_type='say "no"', cost_usd=2e-05)
    audit = AuditCapture()
    path = tmp_path / "audit.jsonl"
    Auditor([FileSink(path), audit]).emit_fields(_fields(event))
    assert audit.events == [event]
    assert _body(path.read_bytes().rstrip(b"\n")) == render_json(event).encode()


def test_processors_see_the_fields_path_dict(tmp_path: Path) -> None:
    """Processors added with add_processor change the line a call's fields render to."""

    def tag(_: Any, __: str, data: dict[str, Any]) -> dict[str, Any]:
        data["tagged"] = data["request_id"]
        data["chain"] = "forged"
        return data

    path = tmp_path / "audit.jsonl"
    event = make_event()
    add_processor(tag)
    try:
        Auditor([FileSink(path)]).emit_fields(_fields(event))
    finally:
        remove_processor(tag)
    line = json.loads(path.read_bytes())
    assert line["tagged"] == event.request_id
    assert line["chain"] != "forged"


def _append(path: str, count: int) -> None:
    sink = Auditor([FileSink(Path(path))])
    for i in range(count):
        event = make_event(request_id=f"{i:016x}", model="gémini-ü")
        if i % 2:
            sink.emit(event)
        else:
            sink.emit_fields(_fields(event))


def test_two_processes_and_both_paths_keep_one_valid_chain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two processes appending through both paths at once leave one chain verify accepts."""
    path = tmp_path / "shared.jsonl"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append, args=(str(path), 50)) for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            worker.join(timeout=120)
        assert [w.exitcode for w in workers] == [0, 0]
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
                worker.join()
    assert main(["audit", "verify", str(path)]) == 0
    assert "intact: 100 chained event(s) in 1 chain(s)" in capsys.readouterr().out


def test_stderr_sink_writes_the_same_chained_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The JSON-lines sink writes the fields path's line, chained, and it verifies."""
    stream = io.StringIO()
    event = make_event(path="/v1/models/ü:generateContent")
    auditor = Auditor([JsonLinesSink(stream)])
    auditor.emit_fields(_fields(event))
    auditor.emit(event)
    first, second = stream.getvalue().encode().splitlines()
    assert _body(first) == _body(second) == render_json(event).encode()
    trail = tmp_path / "stderr.jsonl"
    trail.write_text(stream.getvalue())
    assert main(["audit", "verify", str(trail)]) == 0
    assert "intact: 2 chained event(s)" in capsys.readouterr().out


_SHORT_WRITE = """
import os, resource, signal, sys
from pathlib import Path
from golden_path.audit import Auditor, FileSink
from tests.audit.test_sinks import make_event

# Past the file size limit write(2) fails with EFBIG instead of killing the process.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
path = Path(sys.argv[1])
sink = FileSink(path)
auditor = Auditor([sink])
auditor.emit(make_event(request_id="1" * 16))
size = path.stat().st_size
# Room for 100 more bytes: the next line's write comes back short, the rest fails.
resource.setrlimit(resource.RLIMIT_FSIZE, (size + 100, resource.RLIM_INFINITY))
auditor.emit(make_event(request_id="2" * 16))
print(auditor.failures, sink.broken)
# Room again (the disk was freed): the next event starts its own line and links to the first.
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
auditor.emit(make_event(request_id="3" * 16))
"""


def test_a_write_cut_short_is_finished_or_reported(tmp_path: Path) -> None:
    """A write(2) that comes back short is continued; when the rest cannot be written (the
    file size limit, a full disk) the sink reports the failure and the call goes on; the next
    event, once there is room, starts its own line and the chain stays intact."""
    path = tmp_path / "audit.jsonl"
    result = subprocess.run(
        [sys.executable, "-c", _SHORT_WRITE, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).parents[2],
    )
    assert result.returncode == 0, result.stderr
    failures, broken = result.stdout.split(" ", 1)
    assert failures == "1"
    assert "cannot append to audit file" in broken
    first, torn, third, end = path.read_bytes().split(b"\n")
    assert json.loads(first)["request_id"] == "1" * 16
    assert len(torn) == 100  # the part the kernel took before the limit
    assert (json.loads(third)["request_id"], json.loads(third)["seq"], end) == ("3" * 16, 2, b"")
    report = verify(path.read_bytes().splitlines(), None)
    assert (report.problems, report.chained) == ([], 2)


def test_json_lines_sink_write_takes_an_event() -> None:
    """JsonLinesSink.write(event), as a custom auditor would call it, writes the chained line."""
    stream = io.StringIO()
    event = make_event()
    JsonLinesSink(stream).write(event)
    assert _body(stream.getvalue().rstrip("\n").encode()) == render_json(event).encode()
