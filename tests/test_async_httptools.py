"""The httptools async wire keeps the async path's guarantees where a scripted server shows them.

Real SDK (``client.aio``), real HTTP on loopback, ``async_transport = "httptools"``. What the
emulator alone cannot show is shown through a relay in front of it (which connections were
opened and closed) or a scripted SSE server (chunks held back, a client that goes away).
tests/test_async_wire.py runs the guarantees every wire shares.
"""

from __future__ import annotations

import asyncio
import io
import os
import socket
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import httpx2
import pytest
from google.genai import types

from golden_path.emulator import Emulator
from tests._wire_servers import (  # noqa: F401 - the fixtures
    WAIT_S,
    Held,
    Relay,
    assert_wire_setting_refused,
    held_fixture,
    point_proxy_variables_nowhere,
    relay_fixture,
)
from tests.conftest import AuditCapture

MODEL = "gemini-2.5-flash"


def test_calls_on_one_loop_reuse_one_connection(
    make_client: Callable[..., Any], relay: Relay, audit: AuditCapture
) -> None:
    """Consecutive calls and a stream on one event loop go over one kept-alive connection,
    closed when the loop ends."""
    client = make_client(async_transport="httptools", base_url=f"http://127.0.0.1:{relay.port}")

    async def go() -> None:
        for text in ("one", "two", "three"):
            await client.aio.models.generate_content(model=MODEL, contents=text)
        async for _ in await client.aio.models.generate_content_stream(model=MODEL, contents="s"):
            pass
        await client.aio.models.generate_content(model=MODEL, contents="four")

    asyncio.run(go())
    assert relay.opened == 1
    assert relay.wait_closed(1)
    assert [e.outcome for e in audit.events] == ["ok"] * 5


def test_two_event_loops_never_share_a_connection(
    make_client: Callable[..., Any], relay: Relay
) -> None:
    """One client used from two live event loops opens a connection per loop: an idle
    connection of one loop is never handed to the other, and each loop's connections close
    when that loop shuts down."""
    client = make_client(async_transport="httptools", base_url=f"http://127.0.0.1:{relay.port}")

    def call() -> Coroutine[Any, Any, Any]:
        return client.aio.models.generate_content(model=MODEL, contents="x")

    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        first.run_until_complete(call())
        second.run_until_complete(call())  # the first loop's connection is idle, not shared
        assert relay.opened == 2
        first.run_until_complete(call())
        second.run_until_complete(call())
        assert relay.opened == 2  # each loop reused its own
        assert relay.closed == 0
    finally:
        for loop in (first, second):
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
    assert relay.wait_closed(2)


def test_two_loops_in_two_threads_at_once(make_client: Callable[..., Any], relay: Relay) -> None:
    """Two threads each running their own loop with calls in flight at the same time both
    succeed, each on connections of its own loop."""
    client = make_client(async_transport="httptools", base_url=f"http://127.0.0.1:{relay.port}")
    texts: dict[int, list[str]] = {}

    async def burst(n: int) -> None:
        replies = await asyncio.gather(
            *[
                client.aio.models.generate_content(model=MODEL, contents=f"t{n} c{i}")
                for i in range(8)
            ]
        )
        texts[n] = [r.text for r in replies]

    threads = [threading.Thread(target=asyncio.run, args=(burst(n),)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    assert sorted(texts) == [0, 1]
    assert all(f"t{n} c{i}" in texts[n][i] for n in range(2) for i in range(8))
    assert relay.wait_closed(relay.opened)


def test_stream_chunks_arrive_as_the_server_sends_them(
    make_client: Callable[..., Any], held: Held, audit: AuditCapture
) -> None:
    """The first SSE event reaches the app while the server still holds the rest back: the
    wire does not buffer a stream."""
    client = make_client(async_transport="httptools", base_url=held.url)

    async def go() -> list[str]:
        stream = await client.aio.models.generate_content_stream(model=MODEL, contents="x")
        first = await anext(stream)
        assert not held.release.is_set()
        held.release.set()
        return [first.text or ""] + [chunk.text or "" async for chunk in stream]

    assert asyncio.run(go()) == ["one", "two", "three"]
    assert not held.waited_out
    assert (audit.only().outcome, audit.only().stream) == ("ok", True)


def test_cancelling_a_stream_closes_its_connection(
    make_client: Callable[..., Any], held: Held, audit: AuditCapture, emulator: Emulator
) -> None:
    """A task cancelled mid-stream closes the stream's connection at once (the server sees the
    client leave while the loop still runs), writes one cancelled event, and the next call on
    the same loop succeeds."""
    client = make_client(async_transport="httptools", base_url=held.url)
    got: list[str] = []

    async def go() -> None:
        async def consume() -> None:
            async for chunk in await client.aio.models.generate_content_stream(
                model=f"{MODEL}-hold", contents="x"
            ):
                got.append(chunk.text or "")  # noqa: PERF401 - seen as each arrives

        task = asyncio.ensure_future(consume())
        for _ in range(int(WAIT_S * 100)):
            if got:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.to_thread(held.client_left.wait, WAIT_S)
        # The same loop's pool still works (the cancelled connection is not handed out again).
        held.release.set()
        other = [c.text async for c in await client.aio.models.generate_content_stream(
            model=MODEL, contents="y"
        )]  # fmt: skip
        assert other == ["one", "two", "three"]

    asyncio.run(go())
    assert got == ["one"]
    assert [(e.outcome, e.stream) for e in audit.events] == [("cancelled", True), ("ok", True)]


def test_a_cancelled_call_leaves_no_connection_behind(
    make_client: Callable[..., Any], relay: Relay, emulator: Emulator, audit: AuditCapture
) -> None:
    """A call cancelled while waiting for its answer closes its connection; the pool opens a
    fresh one for the next call."""
    client = make_client(async_transport="httptools", base_url=f"http://127.0.0.1:{relay.port}")

    async def go() -> None:
        emulator.set_latency(5)  # as tests/test_async_wire.py: the cancel comes long before
        task = asyncio.ensure_future(client.aio.models.generate_content(model=MODEL, contents="x"))
        for _ in range(int(WAIT_S * 100)):
            if emulator.api_requests():
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.to_thread(relay.wait_closed, 1)
        emulator.set_latency(0)
        await client.aio.models.generate_content(model=MODEL, contents="y")
        assert relay.opened == 2

    asyncio.run(go())
    assert [e.outcome for e in audit.events] == ["cancelled", "ok"]


def test_a_per_request_timeout_from_http_options_applies(
    make_client: Callable[..., Any], emulator: Emulator, audit: AuditCapture
) -> None:
    """HttpOptions.timeout (milliseconds) on one call bounds it on the httptools wire, with
    httpx2's ReadTimeout; the client's own timeout stays for the others."""
    client = make_client(async_transport="httptools")
    emulator.set_latency(2)
    quick = types.GenerateContentConfig(http_options=types.HttpOptions(timeout=200))

    async def go() -> None:
        with pytest.raises(httpx2.ReadTimeout):
            await client.aio.models.generate_content(model=MODEL, contents="x", config=quick)
        emulator.set_latency(0.3)
        await client.aio.models.generate_content(model=MODEL, contents="y")

    asyncio.run(go())
    assert [(e.outcome, e.error_type) for e in audit.events] == [
        ("error", "ReadTimeout"),
        ("ok", None),
    ]


def test_files_upload_goes_through_the_wire_whole(
    make_client: Callable[..., Any], emulator: Emulator, audit: AuditCapture
) -> None:
    """Files' resumable upload from the async client passes the governed transport on the
    httptools wire: both of its requests are audited and the server gets every byte."""
    client = make_client(async_transport="httptools")
    data = os.urandom(600_000)  # past the socket buffers: the write waits for them to drain

    async def go() -> Any:
        uploaded = await client.aio.files.upload(
            file=io.BytesIO(data), config={"mime_type": "application/octet-stream"}
        )
        return await client.aio.files.get(name=uploaded.name)

    file = asyncio.run(go())
    assert file.size_bytes == len(data)
    assert data in [r.raw_body for r in emulator.api_requests()]
    assert [e.outcome for e in audit.events] == ["ok", "ok", "ok"]


def test_tls_calls_and_streams(
    make_client: Callable[..., Any], emulator: Emulator, audit: AuditCapture
) -> None:
    """Over https the wire verifies the server against the trusted CA and carries calls and
    streams."""
    https = emulator.url.replace("http://", "https://")
    client = make_client(async_transport="httptools", base_url=https)

    async def go() -> int:
        await client.aio.models.generate_content(model=MODEL, contents="over tls")
        return len(
            [
                c
                async for c in await client.aio.models.generate_content_stream(
                    model=MODEL, contents="s"
                )
            ]
        )

    assert asyncio.run(go()) > 0
    assert [e.outcome for e in audit.events] == ["ok", "ok"]


@pytest.mark.parametrize("wire", ["httptools", "httpx2"])
def test_proxy_variables_cannot_divert_async_calls(
    make_client: Callable[..., Any],
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    wire: str,
) -> None:
    """HTTP(S)_PROXY and ALL_PROXY in the environment do not redirect a governed async call on
    either wire: it reaches the configured endpoint, as the sync client's does."""
    point_proxy_variables_nowhere(monkeypatch)
    client = make_client(async_transport=wire)
    reply = asyncio.run(client.aio.models.generate_content(model=MODEL, contents="direct"))
    assert "direct" in (reply.text or "")
    assert len(emulator.api_requests()) == 1


def test_a_bad_async_transport_names_every_wire(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown async_transport is a ConfigError naming the variable and every valid wire."""
    assert_wire_setting_refused(
        monkeypatch,
        "GOLDEN_PATH_ASYNC_TRANSPORT",
        "uvloop",
        "'auto', 'aiohttp', 'httptools' or 'httpx2'",
    )


@pytest.mark.parametrize("poll", [True, False], ids=["poll", "select"])
def test_an_idle_socket_the_peer_closed_reads_as_readable(
    monkeypatch: pytest.MonkeyPatch, poll: bool
) -> None:
    """The idle-connection check sees a peer's close with poll() and, where poll() does not
    exist (Windows), with select()."""
    from golden_path._transport import _httptools

    if not poll:
        monkeypatch.setattr(_httptools, "_poll", None)
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert not _httptools.readable(ours.fileno())
        theirs.close()
        assert _httptools.readable(ours.fileno())


def test_doctor_names_the_async_wire_and_fails_a_missing_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`golden-path doctor` says which wire carries async calls and where the choice came
    from; a wire named but not importable is a FAIL line with the fix, and exit status 1."""
    import sys

    from golden_path import _factory
    from golden_path.cli import main

    monkeypatch.setenv("GOLDEN_PATH_BACKEND", "ai_studio")
    monkeypatch.setenv("GOLDEN_PATH_API_KEY", "k")
    monkeypatch.setenv("GOLDEN_PATH_AUDIT_SINK", "none")
    assert main(["doctor", "--offline"]) == 0
    assert "ok    async wire: httptools (async_transport = auto, from default)" in (
        capsys.readouterr().out
    )
    monkeypatch.setenv("GOLDEN_PATH_ASYNC_TRANSPORT", "aiohttp")
    monkeypatch.setitem(sys.modules, "aiohttp", None)  # as on a machine without it
    _factory._installed.cache_clear()
    try:
        assert main(["doctor", "--offline"]) == 1
    finally:
        _factory._installed.cache_clear()
    out = capsys.readouterr().out
    assert "FAIL  async wire: " in out
    assert "is 'aiohttp' but aiohttp is not installed" in out
    assert "pip install 'golden-path[aiohttp]'" in out
