"""One complete audit event per HTTP request, with the right outcome, driven by the real SDK."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from google.genai import errors

import golden_path
from golden_path.emulator import Emulator
from golden_path.policies import Deny
from tests import _sdk as sdk
from tests.conftest import AuditCapture

MODEL = "gemini-2.5-flash"
RID = "x-golden-path-request-id"
LONG = "tell me a long story about " + " ".join(f"word{n}" for n in range(40))


def server_ids(emulator: Emulator) -> list[str]:
    """The request ids the emulator saw, in order."""
    return [r.headers[RID] for r in emulator.api_requests()]


def call(client: Any, stream: bool) -> None:
    """One generate call, streamed and read to the end or not."""
    if stream:
        list(client.models.generate_content_stream(model=MODEL, contents="hi"))
    else:
        client.models.generate_content(model=MODEL, contents="hi")


async def settle(audit: AuditCapture, count: int) -> None:
    """Let the loop run finalizers and scheduled closes until ``count`` events are in."""
    for _ in range(200):
        if len(audit.events) >= count:
            return
        gc.collect()
        await asyncio.sleep(0.01)


def test_ok_event_is_complete(
    make_client: Callable[..., Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """A successful call writes one event with identity, usage, versions and the request id
    the server saw."""
    client = make_client(app="chat", team="search")
    client.models.generate_content(model=MODEL, contents="hello there")
    event = audit.only()
    assert event.outcome == "ok"
    assert (event.app, event.team, event.backend) == ("chat", "search", "ai_studio")
    assert (event.model, event.method, event.stream) == (MODEL, "generateContent", False)
    assert event.http_status == 200
    assert event.error_type is None
    assert event.prompt_tokens is not None
    assert event.output_tokens is not None
    assert event.total_tokens == event.prompt_tokens + event.output_tokens
    assert event.latency_ms > 0
    assert event.ttft_ms is None
    assert event.sdk_version == sdk.VERSION
    assert event.golden_path_version == golden_path.__version__
    assert event.server_address == "127.0.0.1"
    assert server_ids(emulator) == [event.request_id]


def test_denied_event_carries_the_policy_and_the_id(
    make_client: Callable[..., Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """A denial writes a denied event whose id is on the PolicyViolation; nothing is sent."""

    class NoPro:
        name = "models"

        def on_request(self, request: Any) -> None:
            raise Deny("gemini-2.5-pro is not allowed for this app")

    client = make_client(policies=[NoPro()])
    with pytest.raises(golden_path.PolicyViolation) as caught:
        client.models.generate_content(model="gemini-2.5-pro", contents="hi")
    event = audit.only()
    assert event.outcome == "denied"
    assert event.severity == "WARNING"
    assert event.error_type == "PolicyViolation"
    assert event.http_status is None
    assert event.policy == (
        {
            "policy": "models",
            "action": "deny",
            "reason": "gemini-2.5-pro is not allowed for this app",
            "enforced": True,
        },
    )
    assert caught.value.request_id == event.request_id
    assert emulator.api_requests() == []


@pytest.mark.parametrize(
    ("status", "google_status", "error"),
    [
        (429, "RESOURCE_EXHAUSTED", errors.ClientError),
        (500, "INTERNAL", errors.ServerError),
        (503, "UNAVAILABLE", errors.ServerError),
    ],
)
def test_http_error_event(
    make_client: Callable[..., Any],
    audit: AuditCapture,
    emulator: Emulator,
    status: int,
    google_status: str,
    error: type[Exception],
) -> None:
    """An HTTP error writes an error event with the status and Google's error status; the
    SDK's APIError carries the same request id in its response headers."""
    emulator.fail_next(status)
    with pytest.raises(error) as caught:
        make_client().models.generate_content(model=MODEL, contents="hi")
    event = audit.only()
    assert (event.outcome, event.http_status, event.error_type) == ("error", status, google_status)
    response = caught.value.response  # type: ignore[attr-defined]
    assert response.headers[RID] == event.request_id == server_ids(emulator)[0]


def test_dropped_connection_event(
    make_client: Callable[..., Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """A connection closed without an answer writes an error event with no status."""
    emulator.drop_next()
    with pytest.raises(httpx2.RemoteProtocolError):
        make_client().models.generate_content(model=MODEL, contents="hi")
    event = audit.only()
    assert (event.outcome, event.http_status, event.error_type) == (
        "error",
        None,
        "RemoteProtocolError",
    )


@pytest.mark.parametrize("stream", [False, True])
def test_timeout_event(
    make_client: Callable[..., Any], audit: AuditCapture, emulator: Emulator, stream: bool
) -> None:
    """A server slower than timeout_s ends the call with ReadTimeout and an error event."""
    emulator.set_latency(2)
    client = make_client(timeout_s=0.2)
    with pytest.raises(httpx2.ReadTimeout):
        call(client, stream)
    event = audit.only()
    assert (event.outcome, event.error_type, event.stream) == ("error", "ReadTimeout", stream)


@pytest.mark.parametrize("stream", [False, True])
def test_malformed_response_event(
    make_client: Callable[..., Any], audit: AuditCapture, emulator: Emulator, stream: bool
) -> None:
    """A 200 whose body is not JSON (a broken proxy) is an error event, not ok."""
    emulator.malformed_next()
    client = make_client()
    with pytest.raises(Exception):  # noqa: B017, PT011 - the SDK raises its own parse errors
        call(client, stream)
    event = audit.only()
    assert (event.outcome, event.http_status, event.error_type) == (
        "error",
        200,
        "MalformedResponse",
    )


def test_stream_event_has_ttft_and_usage(
    make_client: Callable[..., Any], audit: AuditCapture
) -> None:
    """A stream read to the end writes one ok event when it ends, with ttft and usage."""
    chunks = list(make_client().models.generate_content_stream(model=MODEL, contents=LONG))
    assert len(chunks) > 1
    event = audit.only()
    assert (event.outcome, event.method, event.stream) == ("ok", "streamGenerateContent", True)
    assert event.ttft_ms is not None
    assert 0 < event.ttft_ms <= event.latency_ms
    assert event.output_tokens


def test_stream_error_status_names_google_status(
    make_client: Callable[..., Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """A 429 on opening a stream names RESOURCE_EXHAUSTED, like the unary call does."""
    emulator.fail_next(429)
    with pytest.raises(errors.ClientError):
        list(make_client().models.generate_content_stream(model=MODEL, contents="hi"))
    event = audit.only()
    assert (event.outcome, event.http_status, event.error_type) == (
        "error",
        429,
        "RESOURCE_EXHAUSTED",
    )


def test_mid_stream_error_is_error_not_cancelled(
    make_client: Callable[..., Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """An error event inside a 200 stream makes the SDK raise; the event says error."""
    emulator.stream_error_after(1)
    stream = make_client().models.generate_content_stream(model=MODEL, contents=LONG)
    with pytest.raises(errors.APIError):
        for _ in stream:
            pass
    del stream
    gc.collect()
    event = audit.only()
    assert (event.outcome, event.http_status, event.error_type) == ("error", 200, "INTERNAL")


def test_abandoned_sync_stream_is_one_cancelled_event(
    make_client: Callable[..., Any], audit: AuditCapture
) -> None:
    """A caller that stops reading a stream and drops it gets exactly one cancelled event."""
    stream = make_client().models.generate_content_stream(model=MODEL, contents=LONG)
    next(stream)
    assert audit.events == []  # still open: nothing to say yet
    del stream
    gc.collect()
    event = audit.only()
    assert (event.outcome, event.error_type, event.stream) == ("cancelled", "Cancelled", True)
    assert event.ttft_ms is not None


_OPEN_AT_EXIT = """
import sys
import golden_path

client = golden_path.create_client(
    backend="ai_studio", api_key="k", base_url=sys.argv[1], audit_sink="file:" + sys.argv[2]
)
held = client.models.generate_content_stream(model=sys.argv[3], contents=sys.argv[4])
first = next(held)  # kept alive to the end: no close, no garbage collection before exit
print(first.usage_metadata.total_token_count, flush=True)
"""


def test_stream_still_open_at_interpreter_exit_is_one_cancelled_event(
    emulator: Emulator, tmp_path: Any
) -> None:
    """A stream the program still holds when the interpreter exits gets its event then."""
    path = tmp_path / "audit.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOLDEN_PATH_")}
    done = subprocess.run(
        [sys.executable, "-c", _OPEN_AT_EXIT, emulator.url, str(path), MODEL, LONG],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Exception ignored" not in done.stderr
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(events) == 1
    (event,) = events
    assert (event["outcome"], event["error_type"], event["stream"]) == (
        "cancelled",
        "Cancelled",
        True,
    )
    # The chunk the caller got is in the event.
    assert event["total_tokens"] == int(done.stdout)


class _ChunkLog:
    """A policy that logs each stream event its chunk hook sees into a shared list."""

    name = "chunk-log"

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def on_request(self, request: Any) -> None:
        del request  # entering the request is what subscribes it to the chunks

    def on_chunk(self, request: Any, chunk: Any) -> None:
        del request
        self.log.append("hook" if isinstance(chunk, dict) else "hook:not-json")


def test_stream_chunks_reach_the_caller_before_their_hooks_and_every_hook_runs(
    make_client: Callable[..., Any], audit: AuditCapture
) -> None:
    """With no policy rewriting responses, each chunk is handed on first; its hook then runs."""
    log: list[str] = []
    client = make_client(policies=[_ChunkLog(log)])
    for _ in client.models.generate_content_stream(model=MODEL, contents=LONG):
        log.append("caller")  # noqa: PERF401 - interleaving with the hooks is the point
    assert log.count("caller") > 1
    # Each chunk's hook runs when the caller asks for the next one (the last at the end).
    assert log == ["caller", "hook"] * log.count("caller")
    event = audit.only()
    assert (event.outcome, event.stream) == ("ok", True)
    assert event.output_tokens


def test_async_stream_chunks_reach_the_caller_before_their_hooks_and_every_hook_runs(
    make_client: Callable[..., Any], audit: AuditCapture
) -> None:
    """Async streams too: each chunk is handed on first, its hook runs at the next read;
    one closed after its first chunk still ran that chunk's hook."""
    log: list[str] = []
    client = make_client(policies=[_ChunkLog(log)])

    async def scenario() -> int | None:
        async for _ in await client.aio.models.generate_content_stream(model=MODEL, contents=LONG):
            log.append("caller")  # noqa: PERF401 - interleaving with the hooks is the point
        stream = await client.aio.models.generate_content_stream(model=MODEL, contents=LONG)
        first = await anext(stream)
        log.append("first")
        await stream.aclose()
        assert first.usage_metadata is not None
        return first.usage_metadata.total_token_count

    total = asyncio.run(scenario())
    whole = log[: log.index("first")]
    assert whole.count("caller") > 1
    assert whole == ["caller", "hook"] * whole.count("caller")
    assert log[log.index("first") :] == ["first", "hook"]
    ok, cancelled = audit.events
    assert (ok.outcome, ok.stream) == ("ok", True)
    assert cancelled.outcome == "cancelled"
    assert cancelled.total_tokens == total


def test_abandoned_stream_still_runs_the_hooks_of_the_chunk_the_caller_got(
    make_client: Callable[..., Any], audit: AuditCapture
) -> None:
    """A stream closed after one chunk: that chunk's hooks ran and its usage is in the event."""
    log: list[str] = []
    stream = make_client(policies=[_ChunkLog(log)]).models.generate_content_stream(
        model=MODEL, contents=LONG
    )
    first = next(stream)
    assert first.usage_metadata is not None
    assert log == []  # handed on; its hooks wait for the next read or the end
    stream.close()
    del stream
    gc.collect()
    assert log == ["hook"]
    event = audit.only()
    assert event.outcome == "cancelled"
    assert event.output_tokens == first.usage_metadata.candidates_token_count
    assert event.ttft_ms is not None
    assert event.ttft_ms <= event.latency_ms


def test_closed_sync_stream_is_one_cancelled_event(
    make_client: Callable[..., Any], audit: AuditCapture
) -> None:
    """Closing a half-read stream explicitly gives one cancelled event, not a second at GC."""
    stream = make_client().models.generate_content_stream(model=MODEL, contents=LONG)
    next(stream)
    stream.close()
    del stream
    gc.collect()
    assert audit.only().outcome == "cancelled"


def test_async_outcomes(
    make_client: Callable[..., Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """Async: ok, stream ok, mid-stream error, abandoned and closed streams, and a cancelled
    task each give exactly one event with the right outcome."""
    client = make_client()

    async def scenario() -> list[str]:
        seen = []
        await client.aio.models.generate_content(model=MODEL, contents="hi")
        await settle(audit, 1)
        seen.append(audit.events[-1].outcome)

        async for _ in await client.aio.models.generate_content_stream(model=MODEL, contents=LONG):
            pass
        await settle(audit, 2)
        seen.append(audit.events[-1].outcome)

        emulator.stream_error_after(1)
        with pytest.raises(errors.APIError):
            async for _ in await client.aio.models.generate_content_stream(
                model=MODEL, contents=LONG
            ):
                pass
        await settle(audit, 3)
        seen.append(f"{audit.events[-1].outcome}:{audit.events[-1].error_type}")

        stream = await client.aio.models.generate_content_stream(model=MODEL, contents=LONG)
        async for _ in stream:
            break
        del stream  # abandoned: the loop's async-generator finalizer closes it
        await settle(audit, 4)
        seen.append(audit.events[-1].outcome)

        stream = await client.aio.models.generate_content_stream(model=MODEL, contents=LONG)
        async for _ in stream:
            break
        await stream.aclose()
        await settle(audit, 5)
        seen.append(audit.events[-1].outcome)

        emulator.set_latency(5)
        task = asyncio.ensure_future(client.aio.models.generate_content(model=MODEL, contents="hi"))
        while not emulator.api_requests() or len(emulator.api_requests()) < 6:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        emulator.set_latency(0)
        await settle(audit, 6)
        seen.append(audit.events[-1].outcome)
        return seen

    assert asyncio.run(scenario()) == [
        "ok",
        "ok",
        "error:INTERNAL",
        "cancelled",
        "cancelled",
        "cancelled",
    ]
    gc.collect()
    assert len(audit.events) == 6
    assert len({e.request_id for e in audit.events}) == 6
    assert {e.request_id for e in audit.events} == set(server_ids(emulator))


def test_retries_write_one_event_per_attempt(
    make_client: Callable[..., Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """With SDK retries on, every attempt is its own HTTP request and its own event."""
    emulator.fail_next(503, times=2)
    client = make_client(retry_attempts=3, retry_initial_delay_s=0.01, retry_max_delay_s=0.02)
    client.models.generate_content(model=MODEL, contents="hi")
    assert [(e.outcome, e.http_status) for e in audit.events] == [
        ("error", 503),
        ("error", 503),
        ("ok", 200),
    ]
    assert [e.request_id for e in audit.events] == server_ids(emulator)
    assert len(set(server_ids(emulator))) == 3


def test_vertex_event_names_project_and_location(
    emulator: Emulator, audit: AuditCapture, tmp_path: Any
) -> None:
    """A Vertex client's events carry backend, project and location."""
    key = tmp_path / "sa.json"
    emulator.create_service_account_key(key)
    client = golden_path.create_client(
        audit_sinks=[audit],
        backend="vertex",
        project="emu-project",
        location="europe-west4",
        credentials_file=str(key),
        base_url=emulator.url,
        retry_attempts=1,
    )
    client.models.generate_content(model=MODEL, contents="hi")
    event = audit.only()
    assert (event.backend, event.project, event.location) == (
        "vertex",
        "emu-project",
        "europe-west4",
    )
    assert event.outcome == "ok"


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "stream"])
def test_overhead_is_golden_paths_own_time_not_the_network_wait(
    make_client: Callable[..., Any], audit: AuditCapture, emulator: Emulator, stream: bool
) -> None:
    """``overhead_us`` is positive and leaves out the time the server took: with 300 ms of
    server latency, latency minus overhead is still at least those 300 ms."""
    client = make_client()
    emulator.set_latency(0.3)
    call(client, stream)
    event = audit.only()
    assert event.outcome == "ok"
    assert event.overhead_us is not None
    assert event.overhead_us > 0
    assert event.overhead_us < event.latency_ms * 1000
    # Rounding: latency to 1 µs, overhead to 0.1 µs.
    assert event.latency_ms * 1000 - event.overhead_us >= 300_000 - 2


def test_overhead_is_rendered_in_the_json_line(
    make_client: Callable[..., Any], audit: AuditCapture
) -> None:
    """Operators read the figure from the JSON line, not only from the Python event."""
    client = make_client()
    client.models.generate_content(model=MODEL, contents="hi")
    line = audit.only().as_dict()
    assert isinstance(line["overhead_us"], float)
    assert 0 < line["overhead_us"] < line["latency_ms"] * 1000
