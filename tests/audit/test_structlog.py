"""structlog as designed: the request id in contextvars while a call runs, audit processors, and
the structlog sink that routes audit events through the app's own configuration."""

from __future__ import annotations

import asyncio
import io
import json
import typing
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import pytest
import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars, get_contextvars

import golden_path
from golden_path.audit import (
    JsonLinesSink,
    add_processor,
    current_request_id,
    remove_processor,
)
from golden_path.policies import GenAIRequest
from tests.conftest import AuditCapture

MODEL = "gemini-2.5-flash"
KEY = "golden_path_request_id"


@pytest.fixture(autouse=True)
def _clean_context() -> Iterator[None]:
    clear_contextvars()
    yield
    clear_contextvars()


class Spy:
    """A policy that remembers what structlog's context held while its hook ran."""

    name = "spy"

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []

    def on_request(self, request: GenAIRequest) -> None:
        self.seen.append((request.request_id, get_contextvars().get(KEY)))


def test_the_request_id_is_bound_while_a_call_runs(
    make_client: Callable[..., Any], audit: AuditCapture
) -> None:
    """App log lines during a call carry the audit event's id; none after it."""
    spy = Spy()
    client = make_client(policies=[spy])
    client.models.generate_content(model=MODEL, contents="hi")
    ((request_id, bound),) = spy.seen
    assert bound == request_id == audit.only().request_id
    assert KEY not in get_contextvars()
    assert current_request_id() is None


def test_what_the_app_bound_before_is_restored(make_client: Callable[..., Any]) -> None:
    """A request id the app bound itself is back once the call is over."""
    bind_contextvars(**{KEY: "the-app's-own"})
    client = make_client(policies=[Spy()])
    client.models.generate_content(model=MODEL, contents="hi")
    assert get_contextvars()[KEY] == "the-app's-own"


def get_weather(city: str) -> dict[str, str]:
    """The weather in a city (a tool the SDK runs by itself)."""
    seen_by_tool.append(get_contextvars().get(KEY))
    return {"result": f"sunny in {city}"}


if True:  # the SDK's automatic function calling reads real annotations on older releases
    get_weather.__annotations__ = typing.get_type_hints(get_weather)

seen_by_tool: list[str | None] = []


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_automatic_function_calling_tools_run_under_the_request_id(
    mode: str, make_client: Callable[..., Any], audit: AuditCapture
) -> None:
    """A tool the SDK calls between requests logs under the id of the request that asked."""
    seen_by_tool.clear()
    client = make_client()
    config: dict[str, Any] = {"tools": [get_weather]}
    if mode == "sync":
        response = client.models.generate_content(
            model=MODEL, contents="please call get_weather", config=config
        )
    else:
        response = asyncio.run(
            client.aio.models.generate_content(
                model=MODEL, contents="please call get_weather", config=config
            )
        )
    assert "sunny" in (response.text or "")
    first, second = audit.events
    assert seen_by_tool == [first.request_id]
    assert second.request_id != first.request_id
    assert KEY not in get_contextvars()


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "stream"])
def test_a_client_nobody_audits_still_parses_for_a_sink_added_later(
    emulator: Any, stream: bool
) -> None:
    """With no audit and no policy reading answers, nothing is parsed, until a sink is added.

    golden-path skips parsing answers nobody reads; a sink added process-wide later (as
    ``capture_audit`` does) must get full events from clients built before it, usage included.
    """
    from golden_path.audit import add_sink, remove_sink

    client = _client(emulator, audit_sink="none")

    def call() -> None:
        if stream:
            for _ in client.models.generate_content_stream(model=MODEL, contents="hi"):
                pass
        else:
            client.models.generate_content(model=MODEL, contents="hi")

    call()  # nobody reads the answer
    audit = AuditCapture()
    add_sink(audit)
    try:
        call()
    finally:
        remove_sink(audit)
    event = audit.only()
    assert event.outcome == "ok"
    assert event.total_tokens
    assert event.stream is stream


def test_tools_run_under_the_request_id_with_audit_off(emulator: Any) -> None:
    """The answer is not parsed when nobody reads it, but a function call is still seen.

    The request id stays bound while the SDK runs the tool the answer asked for.
    """
    seen_by_tool.clear()
    client = _client(emulator, audit_sink="none")
    response = client.models.generate_content(
        model=MODEL, contents="please call get_weather", config={"tools": [get_weather]}
    )
    assert "sunny" in (response.text or "")
    (bound,) = seen_by_tool
    assert bound is not None
    assert KEY not in get_contextvars()


def _client(emulator: Any, **settings: Any) -> Any:
    return golden_path.create_client(
        backend="ai_studio", api_key="k", base_url=emulator.url, retry_attempts=1, **settings
    )


def test_audit_processors_change_what_json_sinks_write(emulator: Any) -> None:
    """A processor added by the app runs on each event; the line stays one JSON object."""

    def add_region(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event["region"] = "eu"
        event.pop("sdk_version")
        return event

    stream = io.StringIO()
    add_processor(add_region)
    try:
        client = _client(emulator, audit_sinks=[JsonLinesSink(stream)])
        client.models.generate_content(model=MODEL, contents="hi")
    finally:
        remove_processor(add_region)
    (line,) = stream.getvalue().splitlines()
    event = json.loads(line)
    assert event["region"] == "eu"
    assert "sdk_version" not in event
    assert event["event"] == "genai.request"


def test_a_processor_cannot_drop_an_audit_event(
    emulator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A processor returning anything but the event fails the sink loudly, never silently."""
    stream = io.StringIO()
    add_processor(lambda *_: None)  # type: ignore[arg-type, return-value]
    client = _client(emulator, audit_sinks=[JsonLinesSink(stream)])
    client.models.generate_content(model=MODEL, contents="hi")
    assert stream.getvalue() == ""
    assert "audit sink" in caplog.text
    assert "TypeError" in caplog.text


def test_the_structlog_sink_hands_events_to_the_apps_configuration(emulator: Any) -> None:
    """GOLDEN_PATH_AUDIT_SINK=structlog: the app's structlog processors receive each event."""
    with structlog.testing.capture_logs() as logs:
        client = _client(emulator, audit_sink="structlog")
        client.models.generate_content(model=MODEL, contents="hi")
    (entry,) = [log for log in logs if log["event"] == "genai.request"]
    assert entry["log_level"] == "info"
    assert entry["outcome"] == "ok"
    assert entry["model"] == MODEL


def test_a_processor_cannot_forge_or_drop_the_chain_fields(emulator: Any, tmp_path: Any) -> None:
    """Whatever a processor leaves (nothing at all, or its own chain/seq/prev), the file's
    chain fields are the sink's, once each, and the file verifies."""
    from golden_path.audit import FileSink
    from golden_path.audit._chain import verify

    def forge(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        return {"chain": "forged", "seq": 99, "prev": "0" * 64} if event.get("model") else {}

    path = tmp_path / "audit.jsonl"
    add_processor(forge)
    try:
        client = _client(emulator, audit_sinks=[FileSink(path)])
        client.models.generate_content(model=MODEL, contents="hi")
        client.models.list()
    finally:
        remove_processor(forge)
    lines = path.read_bytes().splitlines()
    assert len(lines) == 2
    for number, line in enumerate(lines, start=1):
        assert line.count(b'"chain"') == 1
        fields = json.loads(line)
        assert fields["chain"] != "forged"
        assert fields["seq"] == number
    report = verify(lines, None)
    assert (report.problems, report.chained) == ([], 2)
