"""The audit trail under load: thousands of requests, threads and tasks, injected faults.

Faults in the emulator are one global FIFO queue, so which request gets which fault is a race.
The test therefore records what each caller *experienced* (with the request id it can see: on
the response headers, the APIError, the PolicyViolation, or the note on an httpx error) and
checks that the event with that id says the same; the few failures a caller cannot tie to an
id (a body that is not JSON) are matched by count.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import gc
import json
import random
import re
import threading
from pathlib import Path
from typing import Any

import httpx2
import pytest
from google.genai import errors

import golden_path
from golden_path.audit import AuditEvent, FileSink
from golden_path.cli import main as cli_main
from golden_path.emulator import Emulator
from golden_path.policies import Deny
from tests.conftest import AuditCapture

MODEL = "gemini-2.5-flash"
RID = "x-golden-path-request-id"
THREADS = 32
OPS_PER_THREAD = 45
TASKS = 64
OPS_PER_TASK = 10
FAULT_RATE = 0.10
ABANDON_RATE = 0.05
DENY_RATE = 0.03
FAULTS = ("429", "500", "drop", "stream_error", "malformed", "timeout")
PROMPT = "stress " + " ".join(f"w{n}" for n in range(12))


@dataclasses.dataclass(frozen=True)
class Seen:
    """What one caller experienced: ``kind`` and the request id it could see (if any)."""

    kind: str  # ok | stream_ok | http_error | stream_error | transport | denied | malformed |
    #            abandoned
    rid: str | None
    status: int | None = None
    error: str | None = None
    fault: str | None = None  # the fault this caller queued (it may hit another request)


class NoDenyMe:
    """Denies prompts that ask for it, so denials happen among everything else."""

    name = "deny-me"

    def on_request(self, request: Any) -> None:
        if b"deny-me" in request.raw:
            raise Deny("the prompt asked to be denied")


def _note_rid(exc: BaseException) -> str | None:
    for note in getattr(exc, "__notes__", ()):
        match = re.search(r"golden-path request id: (\w+)", note)
        if match:
            return match.group(1)
    return None


def _header_rid(obj: Any) -> str | None:
    response = getattr(obj, "sdk_http_response", None) or getattr(obj, "response", None)
    headers = getattr(response, "headers", None) or {}
    return headers.get(RID)


def _classify(exc: BaseException, got_chunk: bool) -> Seen:
    if isinstance(exc, golden_path.PolicyViolation):
        return Seen("denied", exc.request_id)
    if isinstance(exc, errors.APIError):
        if got_chunk:
            return Seen("stream_error", _header_rid(exc), status=200)
        return Seen("http_error", _header_rid(exc), status=exc.code)
    if isinstance(exc, httpx2.TransportError):
        return Seen("transport", _note_rid(exc), error=type(exc).__name__)
    return Seen("malformed", None)


class Plan:
    """Decides, per operation, what to do; queues the fault on the emulator."""

    def __init__(self, seed: int, fast: Emulator) -> None:
        self.rng = random.Random(seed)
        self.fast = fast

    def next(self) -> tuple[bool, str | None, bool, bool]:
        """(stream?, fault, abandon?, deny?) for the next operation."""
        stream = self.rng.random() < 0.5
        fault = None
        if self.rng.random() < FAULT_RATE:
            fault = self.rng.choice(FAULTS)
            if fault == "stream_error" and not stream:
                fault = "500"
        abandon = stream and fault is None and self.rng.random() < ABANDON_RATE * 2
        deny = fault is None and not abandon and self.rng.random() < DENY_RATE
        if fault is not None and fault != "timeout":
            inject(self.fast, fault)
        return stream, fault, abandon, deny


def inject(emu: Emulator, fault: str) -> None:
    """Queue one fault on the emulator."""
    if fault in ("429", "500"):
        emu.fail_next(int(fault))
    elif fault == "drop":
        emu.drop_next()
    elif fault == "stream_error":
        emu.stream_error_after(1)
    else:
        emu.malformed_next()


def sync_op(
    client: Any, slow: Any, stream: bool, fault: str | None, abandon: bool, deny: bool, n: int
) -> Seen:
    """One SDK call from a thread."""
    target = slow if fault == "timeout" else client
    contents = f"{PROMPT} deny-me" if deny else f"{PROMPT} {n}"
    got_chunk = False
    try:
        if not stream:
            response = target.models.generate_content(model=MODEL, contents=contents)
            return Seen("ok", _header_rid(response))
        chunks = target.models.generate_content_stream(model=MODEL, contents=contents)
        rid = None
        for chunk in chunks:
            got_chunk = True
            rid = rid or _header_rid(chunk)
            if abandon:
                if n % 2:
                    chunks.close()
                del chunks  # the other half just walk away
                return Seen("abandoned", rid)
        return Seen("stream_ok", rid)
    except Exception as exc:  # every failure is an observation here
        return _classify(exc, got_chunk)


async def async_op(
    client: Any, slow: Any, stream: bool, fault: str | None, abandon: bool, deny: bool, n: int
) -> Seen:
    """One SDK call from an asyncio task."""
    target = slow if fault == "timeout" else client
    contents = f"{PROMPT} deny-me" if deny else f"{PROMPT} {n}"
    got_chunk = False
    try:
        if not stream:
            response = await target.aio.models.generate_content(model=MODEL, contents=contents)
            return Seen("ok", _header_rid(response))
        chunks = await target.aio.models.generate_content_stream(model=MODEL, contents=contents)
        rid = None
        async for chunk in chunks:
            got_chunk = True
            rid = rid or _header_rid(chunk)
            if abandon:
                if n % 2:
                    await chunks.aclose()
                del chunks
                return Seen("abandoned", rid)
        return Seen("stream_ok", rid)
    except Exception as exc:  # every failure is an observation here
        return _classify(exc, got_chunk)


@pytest.fixture(name="slow_emulator")
def _slow_emulator() -> Any:
    with Emulator() as emu:
        emu.set_latency(0.5)
        yield emu


def test_one_complete_event_per_request_under_load(
    emulator: Emulator,
    slow_emulator: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """2,000+ requests from 32 threads and 64 asyncio tasks, ~10% faults (429, 500, dropped
    connection, mid-stream error, malformed body, timeout), some streams abandoned, some
    requests denied: exactly one complete event per request, none duplicated, each with the
    outcome its caller experienced."""
    audit = AuditCapture()
    path = tmp_path / "audit.jsonl"
    sinks = [audit, FileSink(path)]

    def make(app: str, base_url: str, **extra: Any) -> Any:
        return golden_path.create_client(
            backend="ai_studio",
            api_key="k",
            base_url=base_url,
            retry_attempts=1,
            app=app,
            team="stress",
            audit_sinks=sinks,
            policies=[NoDenyMe()],
            **extra,
        )

    sync_client = make("stress-sync", emulator.url)
    sync_slow = make("stress-sync", slow_emulator.url, timeout_s=0.1)
    async_client = make("stress-async", emulator.url)
    async_slow = make("stress-async", slow_emulator.url, timeout_s=0.1)
    seen: list[Seen] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        plan = Plan(index, emulator)
        for n in range(OPS_PER_THREAD):
            stream, fault, abandon, deny = plan.next()
            result = sync_op(sync_client, sync_slow, stream, fault, abandon, deny, n)
            with lock:
                seen.append(dataclasses.replace(result, fault=fault))

    async_seen: list[Seen] = []

    async def task(index: int) -> None:
        plan = Plan(1000 + index, emulator)
        for n in range(OPS_PER_TASK):
            stream, fault, abandon, deny = plan.next()
            result = await async_op(async_client, async_slow, stream, fault, abandon, deny, n)
            async_seen.append(dataclasses.replace(result, fault=fault))

    async def async_main() -> None:
        await asyncio.gather(*(task(i) for i in range(TASKS)))
        # Abandoned async streams are closed by the loop's async-generator finalizer.
        for _ in range(300):
            if sum(e.app == "stress-async" for e in audit.events) >= len(async_seen):
                break
            gc.collect()
            await asyncio.sleep(0.01)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    async_thread = threading.Thread(target=asyncio.run, args=(async_main(),))
    for thread in [*threads, async_thread]:
        thread.start()
    for thread in [*threads, async_thread]:
        thread.join()
    seen += async_seen

    # Faults queued near the end may still wait; streams consume every kind.
    injected_total = sum(1 for s in seen if s.fault not in (None, "timeout"))
    for n in range(100):
        hit = sum(
            s.kind in ("http_error", "stream_error", "malformed")
            or (s.kind == "transport" and s.error == "RemoteProtocolError")
            for s in seen
        )
        if hit >= injected_total:
            break
        seen.append(sync_op(sync_client, sync_slow, True, None, False, False, n))
    gc.collect()

    events = audit.events
    by_rid: dict[str, list[AuditEvent]] = collections.defaultdict(list)
    for event in events:
        by_rid[event.request_id].append(event)

    # Exactly one event per request: every request the servers saw, every local denial, and
    # every request that could not even connect (the slow server's backlog was full).
    assert len(seen) >= 2000
    assert len(events) == len(seen)
    assert [rid for rid, evs in by_rid.items() if len(evs) > 1] == []
    denied = {s.rid for s in seen if s.kind == "denied"}
    unreached = {
        s.rid for s in seen if s.kind == "transport" and s.error and s.error.startswith("Connect")
    }
    expected_server = set(by_rid) - denied - unreached
    server = _server_ids(emulator, slow_emulator, expected_server)
    assert len(server) == len(set(server))
    assert set(server) == expected_server

    # Each caller's experience matches its event.
    unclaimed = dict(by_rid)
    for s in seen:
        if s.rid is None:
            continue
        (event,) = unclaimed.pop(s.rid)
        _check(s, event)
    leftovers = [s for s in seen if s.rid is None]
    assert all(s.kind == "malformed" for s in leftovers), leftovers
    assert sorted((e.outcome, e.error_type) for (e,) in unclaimed.values()) == [
        ("error", "MalformedResponse")
    ] * len(leftovers)

    # About 10% faults, and every kind of them happened.
    kinds = collections.Counter(s.kind for s in seen)
    faults = len(seen) - kinds["ok"] - kinds["stream_ok"] - kinds["abandoned"] - kinds["denied"]
    assert 0.06 * len(seen) < faults < 0.16 * len(seen), kinds
    errors_seen = collections.Counter(e.error_type for e in events if e.outcome == "error")
    for error_type in (
        "RESOURCE_EXHAUSTED",
        "INTERNAL",
        "RemoteProtocolError",
        "ReadTimeout",
        "MalformedResponse",
    ):
        assert errors_seen[error_type] > 0, errors_seen
    assert kinds["abandoned"] > 10
    assert kinds["denied"] > 10
    assert all(_complete(e) for e in events)

    # The file sink got the same events, whole, and the CLI summary adds up.
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(line["request_id"] for line in lines) == sorted(by_rid)
    capsys.readouterr()
    assert cli_main(["audit", "summary", str(path), "--by", "app", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sum(row["requests"] for row in rows) == len(seen)
    assert sum(row["denied"] for row in rows) == kinds["denied"]


def _server_ids(fast: Emulator, slow: Emulator, expected: set[str]) -> list[str]:
    """The request ids both servers saw, once the slow one has read what it was sent (a
    timed-out request sits in its socket until a handler thread gets to it)."""
    for _ in range(500):
        ids = [r.headers[RID] for r in fast.api_requests() + slow.api_requests()]
        if set(ids) >= expected:
            break
        threading.Event().wait(0.01)
    return ids


def _check(s: Seen, event: AuditEvent) -> None:
    """The event of one request says what its caller experienced."""
    pair = (s.kind, event.outcome, event.http_status, event.error_type)
    if s.kind in ("ok", "stream_ok"):
        assert (event.outcome, event.http_status) == ("ok", 200), pair
        assert event.total_tokens is not None, event
        assert event.stream == (s.kind == "stream_ok")
        assert (event.ttft_ms is not None) == event.stream
    elif s.kind == "http_error":
        assert (event.outcome, event.http_status) == ("error", s.status), pair
    elif s.kind == "stream_error":
        assert (event.outcome, event.http_status, event.error_type) == ("error", 200, "INTERNAL"), (
            pair
        )
    elif s.kind == "transport":
        assert (event.outcome, event.error_type) == ("error", s.error), pair
    elif s.kind == "denied":
        assert (event.outcome, event.error_type) == ("denied", "PolicyViolation"), pair
        assert event.policy[-1]["action"] == "deny"
    elif s.kind == "abandoned":
        # The error event after the first chunk may already be read when the caller leaves.
        assert (event.outcome, event.error_type) in (
            ("cancelled", "Cancelled"),
            ("error", "INTERNAL"),
        ), pair
    else:  # pragma: no cover - every kind with an id is listed above
        pytest.fail(f"unexpected observation {s}")


def _complete(event: AuditEvent) -> bool:
    return bool(
        re.fullmatch(r"[0-9a-f]{16}", event.request_id)
        and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event.timestamp)
        and event.app in ("stress-sync", "stress-async")
        and event.team == "stress"
        and event.client_id
        and event.backend == "ai_studio"
        and event.model == MODEL
        and event.method in ("generateContent", "streamGenerateContent")
        and event.latency_ms >= 0
        and event.sdk_version
        and event.golden_path_version
        and (event.outcome == "denied") == (event.error_type == "PolicyViolation")
    )
