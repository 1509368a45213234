"""The async guarantees hold on every wire ``async_transport`` can pick: httptools, aiohttp, httpx2.

Real SDK, real HTTP on loopback against the emulator. httptools is the default wire whenever it
is installed (the test extra installs it), so every other async test runs on it; these tests pin
the key guarantees on each wire by name (tests/test_async_httptools.py adds what only a scripted
server can show: connections reused, per loop, closed on cancel, chunks as they arrive).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import gzip
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import httpx2
import pytest
from google.genai import errors, types

from golden_path.emulator import Emulator
from tests._wire_servers import assert_three_calls_went_out
from tests.conftest import AuditCapture

MODEL = "gemini-2.5-flash"
RID = "x-golden-path-request-id"
LONG = "tell me a long story about " + " ".join(f"word{n}" for n in range(40))


@pytest.fixture(name="wire", params=["httptools", "aiohttp", "httpx2"])
def _wire(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def open_sessions() -> int:
    """aiohttp sessions alive and open in this process (golden-path's, on the aiohttp wire)."""
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, aiohttp.ClientSession) and not o.closed)


async def wait_for_requests(emulator: Emulator, count: int) -> None:
    """Until the emulator has received ``count`` API requests (30 s at most)."""
    for _ in range(3000):
        if len(emulator.api_requests()) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the emulator saw {len(emulator.api_requests())} requests")


def test_calls_streams_and_errors_are_governed_and_audited_once(
    make_client: Callable[..., Any], audit: AuditCapture, emulator: Emulator, wire: str
) -> None:
    """A call, a stream and an error status each pass the governed transport on the chosen
    wire: one audit event each, the server saw the configured key, and the wire's pool is
    closed when its loop ends."""
    before = open_sessions()
    client = make_client(async_transport=wire, app="wired")

    async def go() -> int:
        await client.aio.models.generate_content(model=MODEL, contents="hi")
        async for _ in await client.aio.models.generate_content_stream(model=MODEL, contents=LONG):
            pass
        emulator.fail_next(503)
        with pytest.raises(errors.ServerError):
            await client.aio.models.generate_content(model=MODEL, contents="hi")
        return open_sessions() - before

    assert asyncio.run(go()) == (1 if wire == "aiohttp" else 0)
    assert open_sessions() == before
    assert_three_calls_went_out(audit, emulator)


def test_both_wires_send_the_same_request(
    make_client: Callable[..., Any], emulator: Emulator
) -> None:
    """aiohttp and httptools send exactly what httpx2 built: the same headers and body bytes."""
    sent = []
    for wire in ("httpx2", "aiohttp", "httptools"):
        client = make_client(async_transport=wire)
        asyncio.run(client.aio.models.generate_content(model=MODEL, contents="same bytes"))
        (request,) = emulator.api_requests()
        emulator.clear_requests()
        headers = dict(request.headers)
        del headers[RID]
        sent.append((request.method, request.path, headers, request.raw_body))
    assert sent[0] == sent[1] == sent[2]


def test_cancelled_call_is_audited_and_the_pool_recovers(
    make_client: Callable[..., Any], audit: AuditCapture, emulator: Emulator, wire: str
) -> None:
    """Cancelling a task mid-request writes one cancelled event; the next call on the same
    loop and pool succeeds."""
    client = make_client(async_transport=wire)

    async def go() -> None:
        emulator.set_latency(5)
        task = asyncio.ensure_future(client.aio.models.generate_content(model=MODEL, contents="x"))
        await wait_for_requests(emulator, 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        emulator.set_latency(0)
        await client.aio.models.generate_content(model=MODEL, contents="y")

    asyncio.run(go())
    gc.collect()
    assert [e.outcome for e in audit.events] == ["cancelled", "ok"]


@pytest.mark.parametrize("stream", [False, True])
def test_timeout_raises_httpx2_read_timeout(
    make_client: Callable[..., Any],
    audit: AuditCapture,
    emulator: Emulator,
    wire: str,
    stream: bool,
) -> None:
    """timeout_s bounds an async call on either wire, with httpx2's ReadTimeout and an
    error event (what the SDK's retries and callers' except clauses expect)."""
    emulator.set_latency(2)
    client = make_client(async_transport=wire, timeout_s=0.2)

    async def go() -> None:
        if stream:
            async for _ in await client.aio.models.generate_content_stream(
                model=MODEL, contents="x"
            ):
                pass
        else:
            await client.aio.models.generate_content(model=MODEL, contents="x")

    with pytest.raises(httpx2.ReadTimeout):
        asyncio.run(go())
    event = audit.only()
    assert (event.outcome, event.error_type, event.stream) == ("error", "ReadTimeout", stream)


def test_dropped_connection_raises_remote_protocol_error(
    make_client: Callable[..., Any], audit: AuditCapture, emulator: Emulator, wire: str
) -> None:
    """A connection closed without an answer is httpx2's RemoteProtocolError on either wire."""
    emulator.drop_next()
    client = make_client(async_transport=wire)
    with pytest.raises(httpx2.RemoteProtocolError):
        asyncio.run(client.aio.models.generate_content(model=MODEL, contents="x"))
    assert (audit.only().outcome, audit.only().error_type) == ("error", "RemoteProtocolError")


def test_refused_connection_raises_connect_error(
    make_client: Callable[..., Any], audit: AuditCapture, wire: str
) -> None:
    """Nothing listening is httpx2's ConnectError (which the SDK retries) on either wire."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(async_transport=wire, base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(httpx2.ConnectError):
        asyncio.run(client.aio.models.generate_content(model=MODEL, contents="x"))
    assert (audit.only().outcome, audit.only().error_type) == ("error", "ConnectError")


def test_one_client_across_event_loops(
    make_client: Callable[..., Any], audit: AuditCapture, wire: str
) -> None:
    """One client serves consecutive asyncio.run() calls; each loop's pool closes with it."""
    before = open_sessions()
    client = make_client(async_transport=wire)
    for text in ("one", "two"):
        asyncio.run(client.aio.models.generate_content(model=MODEL, contents=text))
        assert open_sessions() == before
    assert [e.outcome for e in audit.events] == ["ok", "ok"]


@pytest.mark.parametrize(
    ("missing", "picked"),
    [((), "httptools"), (("httptools",), "aiohttp"), (("httptools", "aiohttp"), "httpx2")],
    ids=["both-installed", "no-httptools", "neither"],
)
def test_auto_picks_the_wire_the_docs_name_and_refuses_a_missing_one(
    tmp_path: Any, missing: tuple[str, ...], picked: str
) -> None:
    """async_transport = "auto" takes httptools when importable, else aiohttp, else httpx2
    (as docs/configuration.md says), and its calls work; naming a wire that is not importable
    is a ConfigError naming the setting and the extra to install."""
    script = f"""
import asyncio, gc, sys
for name in {missing!r}:
    sys.modules[name] = None  # not importable, as on a machine without it
import golden_path
from golden_path.emulator import Emulator
from golden_path.exceptions import ConfigError
with Emulator() as emu:
    common = dict(backend="ai_studio", api_key="k", base_url=emu.url, audit_sink="none")
    for name in {missing!r}:
        try:
            golden_path.create_client(async_transport=name, **common)
        except ConfigError as exc:
            print(exc)
    client = golden_path.create_client(**common)

    async def call():
        reply = await client.aio.models.generate_content(model="gemini-2.5-flash", contents="x")
        gc.collect()
        aiohttp = sys.modules.get("aiohttp")
        sessions = aiohttp and sum(
            1 for o in gc.get_objects() if isinstance(o, aiohttp.ClientSession) and not o.closed
        )
        httptools = "golden_path._transport._httptools" in sys.modules
        wire = "httptools" if httptools else "aiohttp" if sessions else "httpx2"
        print("auto:", bool(reply.text), wire)

    asyncio.run(call())
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOLDEN_PATH_")}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert f"auto: True {picked}" in done.stdout
    for name in missing:
        extra = "aiohttp" if name == "aiohttp" else "fast"
        assert (
            f"async_transport (from keyword argument): is '{name}' but {name} is not installed"
            in done.stdout
        )
        assert f"pip install 'golden-path[{extra}]'" in done.stdout


def test_buffered_answers_reach_the_sdk_decoded(
    make_client: Callable[..., Any], audit: AuditCapture, wire: str
) -> None:
    """A gzip-compressed answer and a plain one reach the async SDK decoded, with the same
    text the sync client gets, and their audit events read the usage inside them."""
    client = make_client(async_transport=wire)

    plain = types.GenerateContentConfig(
        http_options=types.HttpOptions(headers={"accept-encoding": "identity"})
    )

    async def go() -> list[Any]:
        return [
            await client.aio.models.generate_content(model=MODEL, contents=LONG),
            await client.aio.models.generate_content(model=MODEL, contents="hi", config=plain),
        ]

    long, short = asyncio.run(go())
    assert long.sdk_http_response.headers.get("content-encoding") == "gzip"
    assert "content-encoding" not in short.sdk_http_response.headers
    assert long.text == client.models.generate_content(model=MODEL, contents=LONG).text
    assert short.text == client.models.generate_content(model=MODEL, contents="hi").text
    events = audit.events[:2]
    assert [e.prompt_tokens for e in events] == [
        long.usage_metadata.prompt_token_count,
        short.usage_metadata.prompt_token_count,
    ]
    assert all(e.outcome == "ok" and e.output_tokens for e in events)


@pytest.mark.parametrize(
    ("headers", "body", "text"),
    [
        ([("content-type", "application/json; charset=UTF-8")], b'{"a": "\xc3\xa9"}', '{"a": "é"}'),
        ([("content-type", "text/plain; charset=latin-1")], b"caf\xe9", "café"),
        ([("content-type", "text/plain")], b"plain", "plain"),
        (
            [("content-type", "application/json"), ("content-encoding", "gzip")],
            gzip.compress(b'{"a": 1}'),
            '{"a": 1}',
        ),
    ],
    ids=["utf8-json", "latin-1", "no-charset", "gzip"],
)
def test_a_body_read_whole_reads_as_httpx2_reads_it(
    headers: list[tuple[str, str]], body: bytes, text: str
) -> None:
    """A body the transport read whole is handed on as httpx2's own read leaves it: decoded,
    consumed, closed, timed, and its text in the charset the server named."""
    from golden_path._transport._http import _read

    ours = httpx2.Response(200, headers=headers, stream=httpx2.ByteStream(b""))
    _read(ours, body, time.perf_counter())
    theirs = httpx2.Response(200, headers=headers, stream=httpx2.ByteStream(body))
    theirs.read()
    assert (ours.content, ours.text) == (theirs.content, theirs.text)
    assert ours.text == text
    assert ours.is_stream_consumed
    assert ours.is_closed
    assert ours.elapsed >= dt.timedelta(0)


def test_a_broken_gzip_answer_fails_as_httpx2_fails() -> None:
    """A body that does not decompress raises httpx2's DecodingError, as it would unread."""
    from golden_path._transport._http import _read

    response = httpx2.Response(
        200, headers=[("content-encoding", "gzip")], stream=httpx2.ByteStream(b"")
    )
    with pytest.raises(httpx2.DecodingError):
        _read(response, b"\x1f\x8b not gzip", time.perf_counter())


def test_the_sdk_clients_parse_each_url_once() -> None:
    """The clients handed to the SDK parse an absolute URL string once and reuse the parse
    (httpx2 URLs are immutable); relative URLs still follow the client's base URL when it
    changes."""
    from golden_path._transport._http import SDKAsyncClient, SDKClient

    absolute = "https://generativelanguage.googleapis.com/v1beta/models/m:generateContent"
    for client in (SDKClient(base_url="http://one.test/v1/"), SDKAsyncClient()):
        assert client._merge_url(absolute) is client._merge_url(absolute)
        first = client.build_request("POST", absolute, content=b"{}")
        assert str(first.url) == absolute
        parsed = httpx2.URL(absolute)
        assert client.build_request("POST", parsed).url == parsed
    relative = SDKClient(base_url="http://one.test/v1/")
    assert str(relative.build_request("GET", "models").url) == "http://one.test/v1/models"
    relative.base_url = httpx2.URL("http://two.test/v2/")
    assert str(relative.build_request("GET", "models").url) == "http://two.test/v2/models"
