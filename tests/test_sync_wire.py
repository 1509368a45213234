"""The sync guarantees hold on both wires ``sync_transport`` can pick: httptools and httpx2.

Real SDK, real HTTP on loopback against the emulator. httptools is the default sync wire
whenever it is installed (the test extra installs it), so every other sync test in the suite
runs on it; these tests pin the key guarantees on each wire by name, and what only a scripted
server can show on the httptools wire: connections reused and closed, chunks as they arrive,
a server closing an idle connection, the pool's bound, answers that end in odd ways.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest
from google.genai import errors, types

from golden_path._transport._httptools_sync import SyncUpstreamPool
from golden_path.emulator import Emulator
from tests._wire_servers import (  # noqa: F401 - the fixtures
    WAIT_S,
    Held,
    Relay,
    assert_three_calls_went_out,
    assert_wire_setting_refused,
    held_fixture,
    point_proxy_variables_nowhere,
    relay_fixture,
)
from tests.conftest import AuditCapture

MODEL = "gemini-2.5-flash"
RID = "x-golden-path-request-id"
LONG = "tell me a long story about " + " ".join(f"word{n}" for n in range(40))


@pytest.fixture(name="wire", params=["httptools", "httpx2"])
def _wire(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def inner_wire(client: Any) -> Any:
    """The innermost transport under a golden-path client's sync calls (built on first use)."""
    governed = client._api_client._httpx_client._transport
    return governed._transport()._inner


# -- every wire


def test_calls_streams_and_errors_are_governed_and_audited_once(
    make_client: Callable[..., Any], audit: AuditCapture, emulator: Emulator, wire: str
) -> None:
    """A call, a stream and an error status each pass the governed transport on the chosen
    wire: one audit event each, the server saw the configured key and the identification."""
    client = make_client(sync_transport=wire, app="wired")
    client.models.generate_content(model=MODEL, contents="hi")
    assert [c.text for c in client.models.generate_content_stream(model=MODEL, contents=LONG)]
    emulator.fail_next(503)
    with pytest.raises(errors.ServerError):
        client.models.generate_content(model=MODEL, contents="hi")
    expected = SyncUpstreamPool if wire == "httptools" else httpx2.HTTPTransport
    assert isinstance(inner_wire(client), expected)
    assert_three_calls_went_out(audit, emulator)


def test_both_wires_send_the_same_request(
    make_client: Callable[..., Any], emulator: Emulator
) -> None:
    """httptools sends exactly what httpx2 built: the same method, path, headers and bytes."""
    sent = []
    for wire in ("httpx2", "httptools"):
        client = make_client(sync_transport=wire)
        client.models.generate_content(model=MODEL, contents="same bytes")
        (request,) = emulator.api_requests()
        emulator.clear_requests()
        headers = dict(request.headers)
        del headers[RID]
        sent.append((request.method, request.path, headers, request.raw_body))
    assert sent[0] == sent[1]


@pytest.mark.parametrize("stream", [False, True])
def test_timeout_raises_httpx2_read_timeout(
    make_client: Callable[..., Any],
    audit: AuditCapture,
    emulator: Emulator,
    wire: str,
    stream: bool,
) -> None:
    """timeout_s bounds a sync call on either wire with httpx2's ReadTimeout and an error
    event; the next call (no latency) succeeds on a fresh connection."""
    emulator.set_latency(2)
    client = make_client(sync_transport=wire, timeout_s=0.2)
    call = client.models.generate_content_stream if stream else client.models.generate_content
    with pytest.raises(httpx2.ReadTimeout):
        list(call(model=MODEL, contents="x")) if stream else call(model=MODEL, contents="x")
    emulator.set_latency(0)
    assert client.models.generate_content(model=MODEL, contents="again").text
    first = audit.events[0]
    assert (first.outcome, first.error_type, first.stream) == ("error", "ReadTimeout", stream)
    assert audit.events[1].outcome == "ok"


def test_dropped_connection_raises_remote_protocol_error(
    make_client: Callable[..., Any], audit: AuditCapture, emulator: Emulator, wire: str
) -> None:
    """A connection closed without an answer is httpx2's RemoteProtocolError on either wire."""
    emulator.drop_next()
    client = make_client(sync_transport=wire)
    with pytest.raises(httpx2.RemoteProtocolError):
        client.models.generate_content(model=MODEL, contents="x")
    assert (audit.only().outcome, audit.only().error_type) == ("error", "RemoteProtocolError")


def test_refused_connection_raises_connect_error(
    make_client: Callable[..., Any], audit: AuditCapture, wire: str
) -> None:
    """Nothing listening is httpx2's ConnectError (which the SDK retries) on either wire."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(sync_transport=wire, base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(httpx2.ConnectError):
        client.models.generate_content(model=MODEL, contents="x")
    assert (audit.only().outcome, audit.only().error_type) == ("error", "ConnectError")


def test_tls_calls_and_streams(
    make_client: Callable[..., Any], emulator: Emulator, audit: AuditCapture, wire: str
) -> None:
    """Over https either wire verifies the server against the trusted CA and carries calls
    and streams."""
    client = make_client(sync_transport=wire, base_url=emulator.url.replace("http:", "https:"))
    client.models.generate_content(model=MODEL, contents="over tls")
    assert list(client.models.generate_content_stream(model=MODEL, contents="s"))
    assert [e.outcome for e in audit.events] == ["ok", "ok"]


def test_a_server_the_trust_store_does_not_know_is_refused(emulator: Emulator) -> None:
    """The httptools wire checks the server's certificate: a context that does not trust the
    emulator's CA refuses the connection with httpx2's ConnectError; nothing is sent."""
    with httpx2.Client(transport=_pool()) as http, pytest.raises(httpx2.ConnectError) as caught:
        http.get(emulator.url.replace("http:", "https:") + "/v1beta/models")
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert emulator.api_requests() == []


def test_a_trusted_certificate_for_another_name_is_refused() -> None:
    """The server's name is checked, not only its CA: a certificate the trusted CA issued
    for 127.0.0.1 and localhost, presented at 127.0.0.2, is refused with ConnectError, while
    the same server at 127.0.0.1 is answered (so the CA itself was trusted)."""
    from golden_path.emulator._certs import make_certificates

    certs = make_certificates()
    client = ssl.create_default_context(cadata=certs.ca_pem)
    served: list[bytes] = []

    def serve(listener: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with certs.server_context.wrap_socket(conn, server_side=True) as tls:
                served.append(tls.recv(65536))
                tls.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")

    for host, refused in (("127.0.0.2", True), ("127.0.0.1", False)):
        with socket.create_server((host, 0)) as listener:
            listener.settimeout(WAIT_S)
            thread = threading.Thread(target=serve, args=(listener,), daemon=True)
            thread.start()
            url = f"https://{host}:{listener.getsockname()[1]}/"
            with httpx2.Client(transport=_pool_with(client)) as http:
                if refused:
                    with pytest.raises(httpx2.ConnectError) as caught:
                        http.get(url)
                    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
                else:
                    assert http.get(url).status_code == 204
            thread.join(WAIT_S)
    assert len(served) == 1  # only the matching name got a request


def test_files_upload_goes_through_the_wire_whole(
    make_client: Callable[..., Any], emulator: Emulator, audit: AuditCapture, wire: str
) -> None:
    """Files' resumable upload passes the governed transport on either wire: every request is
    audited and the server gets every byte (a body past the socket buffers, sent apart from
    its head on the httptools wire)."""
    client = make_client(sync_transport=wire)
    data = os.urandom(600_000)
    uploaded = client.files.upload(
        file=io.BytesIO(data), config={"mime_type": "application/octet-stream"}
    )
    assert client.files.get(name=uploaded.name).size_bytes == len(data)
    assert data in [r.raw_body for r in emulator.api_requests()]
    assert [e.outcome for e in audit.events] == ["ok", "ok", "ok"]


def test_proxy_variables_cannot_divert_sync_calls(
    make_client: Callable[..., Any],
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    wire: str,
) -> None:
    """HTTP(S)_PROXY and ALL_PROXY in the environment do not redirect a governed sync call on
    either wire: it reaches the configured endpoint."""
    point_proxy_variables_nowhere(monkeypatch)
    client = make_client(sync_transport=wire)
    assert "direct" in (client.models.generate_content(model=MODEL, contents="direct").text or "")
    assert len(emulator.api_requests()) == 1


def test_a_bad_sync_transport_names_every_wire(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown sync_transport is a ConfigError naming the variable and every valid wire."""
    assert_wire_setting_refused(
        monkeypatch, "GOLDEN_PATH_SYNC_TRANSPORT", "requests", "'auto', 'httptools' or 'httpx2'"
    )


def test_auto_falls_back_to_httpx2_and_a_missing_wire_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without httptools, sync_transport = "auto" is httpx2 (doctor says so); naming
    httptools then is a ConfigError and a doctor FAIL line naming the extra to install."""
    import sys

    import golden_path
    from golden_path import _factory
    from golden_path.cli import main
    from golden_path.exceptions import ConfigError

    monkeypatch.setenv("GOLDEN_PATH_BACKEND", "ai_studio")
    monkeypatch.setenv("GOLDEN_PATH_API_KEY", "k")
    monkeypatch.setenv("GOLDEN_PATH_AUDIT_SINK", "none")
    assert main(["doctor", "--offline"]) == 0
    assert "ok    sync wire: httptools (sync_transport = auto, from default)" in (
        capsys.readouterr().out
    )
    monkeypatch.setitem(sys.modules, "httptools", None)  # as on a machine without it
    _factory._installed.cache_clear()
    try:
        assert main(["doctor", "--offline"]) == 0
        assert "ok    sync wire: httpx2 (sync_transport = auto, from default)" in (
            capsys.readouterr().out
        )
        monkeypatch.setenv("GOLDEN_PATH_SYNC_TRANSPORT", "httptools")
        assert main(["doctor", "--offline"]) == 1
        out = capsys.readouterr().out
        with pytest.raises(ConfigError) as caught:
            golden_path.create_client()
    finally:
        _factory._installed.cache_clear()
    assert "FAIL  sync wire:" in out
    assert "golden-path[fast]" in out
    assert "sync_transport" in str(caught.value)
    assert "golden-path[fast]" in str(caught.value)


# -- the httptools wire, against scripted servers


def test_calls_and_streams_reuse_one_connection(
    make_client: Callable[..., Any], relay: Relay, audit: AuditCapture
) -> None:
    """Consecutive calls and a stream read to its end go over one kept-alive connection,
    closed when the client is closed."""
    client = make_client(sync_transport="httptools", base_url=f"http://127.0.0.1:{relay.port}")
    for text in ("one", "two", "three"):
        client.models.generate_content(model=MODEL, contents=text)
    assert list(client.models.generate_content_stream(model=MODEL, contents="s"))
    client.models.generate_content(model=MODEL, contents="four")
    assert relay.opened == 1
    client._api_client._httpx_client.close()
    assert relay.wait_closed(1)
    assert [e.outcome for e in audit.events] == ["ok"] * 5


def test_threads_share_the_pool_without_sharing_a_connection(
    make_client: Callable[..., Any], relay: Relay, audit: AuditCapture
) -> None:
    """Eight threads calling one client at once each get their own answer, on at most eight
    connections, every one of them reused afterwards."""
    client = make_client(sync_transport="httptools", base_url=f"http://127.0.0.1:{relay.port}")
    texts: dict[int, str] = {}
    start = threading.Barrier(8)

    def call(n: int) -> None:
        start.wait(WAIT_S)
        texts[n] = client.models.generate_content(model=MODEL, contents=f"thread {n}").text or ""

    threads = [threading.Thread(target=call, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    assert all(f"thread {n}" in texts[n] for n in range(8))
    opened = relay.opened
    assert 1 <= opened <= 8
    for n in range(8):
        client.models.generate_content(model=MODEL, contents=f"after {n}")
    assert relay.opened == opened
    assert len(audit.events) == 16


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only: nothing forks on Windows")
def test_a_forked_worker_never_uses_its_parents_connections(
    make_client: Callable[..., Any], relay: Relay
) -> None:
    """A worker forked after the parent's calls (gunicorn-style) opens connections of its
    own: the two processes never talk over one socket, and the parent's stays usable."""
    client = make_client(sync_transport="httptools", base_url=f"http://127.0.0.1:{relay.port}")
    client.models.generate_content(model=MODEL, contents="parent")  # one idle connection
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one call, report it, leave without running pytest's exit
        code = 1
        try:
            text = client.models.generate_content(model=MODEL, contents="child").text or ""
            os.write(write, text.encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as pipe:
        said = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert (os.waitstatus_to_exitcode(status), "child" in said) == (0, True)
    assert relay.opened == 2  # the child's own connection
    assert "again" in (client.models.generate_content(model=MODEL, contents="again").text or "")
    assert relay.opened == 2  # the parent's connection survived the child


def test_an_idle_connection_the_server_closed_is_not_used(
    make_client: Callable[..., Any], relay: Relay, audit: AuditCapture
) -> None:
    """A kept-alive connection the server closed while idle (its timeout, a restart) is seen
    before the next request is written on it: that request goes out on a new connection."""
    client = make_client(sync_transport="httptools", base_url=f"http://127.0.0.1:{relay.port}")
    client.models.generate_content(model=MODEL, contents="one")
    relay.cut()
    assert relay.wait_closed(1)
    assert client.models.generate_content(model=MODEL, contents="two").text
    assert relay.opened == 2
    assert [e.outcome for e in audit.events] == ["ok", "ok"]


def test_stream_chunks_arrive_as_the_server_sends_them(
    make_client: Callable[..., Any], held: Held, audit: AuditCapture
) -> None:
    """The first SSE event reaches the app while the server still holds the rest back: the
    wire does not buffer a stream."""
    client = make_client(sync_transport="httptools", base_url=held.url)
    stream = client.models.generate_content_stream(model=MODEL, contents="x")
    first = next(stream)
    assert not held.release.is_set()
    held.release.set()
    assert [first.text] + [chunk.text for chunk in stream] == ["one", "two", "three"]
    assert not held.waited_out
    assert (audit.only().outcome, audit.only().stream) == ("ok", True)


def test_a_stream_left_mid_way_closes_its_connection(
    make_client: Callable[..., Any], held: Held, audit: AuditCapture
) -> None:
    """A stream the app stops reading and closes drops its connection at once (the server
    sees the client leave), writes one cancelled event, and the next stream succeeds."""
    client = make_client(sync_transport="httptools", base_url=held.url)
    stream = client.models.generate_content_stream(model=f"{MODEL}-hold", contents="x")
    assert next(stream).text == "one"
    stream.close()
    assert held.client_left.wait(WAIT_S)
    held.release.set()
    other = [c.text for c in client.models.generate_content_stream(model=MODEL, contents="y")]
    assert other == ["one", "two", "three"]
    assert [(e.outcome, e.stream) for e in audit.events] == [("cancelled", True), ("ok", True)]


@pytest.fixture(name="script")
def _script() -> Iterator[Callable[..., str]]:
    """A one-connection-at-a-time server answering every request with the bytes given, then
    closing (``reset``: resetting the connection instead); returns its URL. What it received
    up to ``until`` is appended to ``received``."""
    servers: list[tuple[socket.socket, threading.Thread]] = []
    stop = threading.Event()

    def serve(
        answer: bytes,
        *,
        until: bytes = b"\r\n\r\n",
        received: list[bytes] | None = None,
        reset: bool = False,
    ) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(0.05)  # so the thread sees stop soon after the test

        def run() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    continue
                with conn, contextlib.suppress(OSError):
                    conn.settimeout(WAIT_S)
                    data = b""
                    while until not in data:
                        data += conn.recv(65536)
                    if received is not None:
                        received.append(data)
                    if reset:  # an RST, not a FIN: the client's recv fails
                        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                        continue
                    conn.sendall(answer)
                    conn.shutdown(socket.SHUT_WR)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        servers.append((listener, thread))
        return f"http://127.0.0.1:{listener.getsockname()[1]}"

    try:
        yield serve
    finally:
        stop.set()
        for listener, thread in servers:
            thread.join(WAIT_S)
            listener.close()


def _pool(max_connections: int = 4) -> SyncUpstreamPool:
    return _pool_with(ssl.create_default_context(), max_connections)


def _pool_with(context: ssl.SSLContext, max_connections: int = 4) -> SyncUpstreamPool:
    return SyncUpstreamPool(context, max_connections=max_connections, keepalive_expiry=5)


def test_answers_framed_every_way_http_allows(script: Callable[..., str]) -> None:
    """A body ended by the server's close, an interim 100 Continue before the answer, and a
    HEAD answer announcing a length it does not send all read as httpx2 reads them."""
    until_close = script(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nall of it")
    interim = script(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok"
    )
    head = script(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
    with httpx2.Client(transport=_pool()) as http:
        assert http.get(until_close).text == "all of it"
        answer = http.get(interim)
        assert (answer.status_code, answer.text) == (201, "ok")
        assert http.head(head).headers["content-length"] == "1000"


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort", httpx2.RemoteProtocolError),
        (b"this is not HTTP\r\n\r\n", httpx2.RemoteProtocolError),
        (b"", httpx2.RemoteProtocolError),
    ],
    ids=["cut-short", "not-http", "nothing"],
)
def test_broken_answers_raise_httpx2_errors(
    script: Callable[..., str], answer: bytes, error: type[Exception]
) -> None:
    """An answer cut short, one that is not HTTP, and a close with no answer are httpx2's
    RemoteProtocolError, as on httpx2's own wire (what the SDK's callers catch)."""
    with httpx2.Client(transport=_pool()) as http, pytest.raises(error):
        http.get(script(answer))


def test_the_pool_is_bounded_and_waits_at_most_its_pool_timeout(held: Held) -> None:
    """With every connection busy, another request waits for one for the pool timeout and
    then fails with httpx2's PoolTimeout; a connection given back is used by the next."""
    pool = _pool(max_connections=1)
    url = held.url + "/v1beta/models/m:streamGenerateContent?alt=sse"
    with httpx2.Client(transport=pool, timeout=httpx2.Timeout(WAIT_S, pool=0.2)) as http:
        with http.stream("POST", url, content=b"{}") as busy:
            chunks = busy.iter_bytes()
            next(chunks)
            with pytest.raises(httpx2.PoolTimeout):
                http.post(url, content=b"{}")
            held.release.set()
            assert len(list(chunks)) >= 1
        assert b"three" in http.post(url, content=b"{}").content


def test_a_response_dropped_unclosed_gives_its_place_back(held: Held) -> None:
    """Streamed responses dropped without close() (collected later) do not keep their
    connections' places: the pool is not exhausted by them."""
    import gc

    held.release.set()
    pool = _pool(max_connections=2)
    url = held.url + "/v1beta/models/m:streamGenerateContent?alt=sse"
    with httpx2.Client(transport=pool, timeout=httpx2.Timeout(WAIT_S, pool=1.0)) as http:
        for _ in range(3):
            response = http.send(http.build_request("POST", url, content=b"{}"), stream=True)
            cycle: list[Any] = [response]
            cycle.append(cycle)  # only the cycle collector frees it
            del response, cycle
            gc.collect()
        assert b"three" in http.post(url, content=b"{}").content


def test_a_closed_pool_refuses_requests() -> None:
    """After close(), a request fails with ConnectError instead of opening a connection."""
    pool = _pool()
    pool.close()
    with httpx2.Client(transport=pool) as http, pytest.raises(httpx2.ConnectError):
        http.get("http://127.0.0.1:9/")


def test_other_schemes_are_refused() -> None:
    """Only http and https are spoken: another scheme is httpx2's UnsupportedProtocol."""
    request = httpx2.Request("GET", "ftp://127.0.0.1/file")
    with pytest.raises(httpx2.UnsupportedProtocol):
        _pool().handle_request(request)


def test_a_header_that_could_split_the_request_is_not_sent(
    make_client: Callable[..., Any], emulator: Emulator
) -> None:
    """A per-call header carrying a line break is refused before anything is sent."""
    client = make_client(sync_transport="httptools")
    bad = types.GenerateContentConfig(
        http_options=types.HttpOptions(headers={"x-note": "a\r\nx-goog-api-key: stolen"})
    )
    with pytest.raises(httpx2.LocalProtocolError, match="line break"):
        client.models.generate_content(model=MODEL, contents="x", config=bad)
    assert emulator.api_requests() == []


def test_a_streamed_request_body_goes_out_chunked(script: Callable[..., str]) -> None:
    """A request body given as an iterator (not read first) is sent chunk by chunk with
    HTTP/1.1 chunked framing, and the answer reads normally."""
    received: list[bytes] = []
    url = script(
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", until=b"0\r\n\r\n", received=received
    )
    with httpx2.Client(transport=_pool()) as http:
        assert http.post(url, content=iter([b"first ", b"", b"second"])).text == "ok"
    (data,) = received
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert body == b"6\r\nfirst \r\n6\r\nsecond\r\n0\r\n\r\n"


def test_a_reset_connection_is_httpx2_read_error(script: Callable[..., str]) -> None:
    """A connection the server resets instead of answering is httpx2's ReadError."""
    with httpx2.Client(transport=_pool()) as http, pytest.raises(httpx2.ReadError):
        http.get(script(b"", reset=True))


def test_a_server_that_does_not_read_is_a_write_timeout() -> None:
    """A request body the server never reads fails with httpx2's WriteTimeout once the socket
    buffers are full and the write timeout has passed."""
    with socket.create_server(("127.0.0.1", 0)) as listener:  # connections queue, unread
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
        timeout = httpx2.Timeout(WAIT_S, write=0.2)
        with httpx2.Client(transport=_pool(), timeout=timeout) as http:
            with pytest.raises(httpx2.WriteTimeout):
                http.post(url, content=b"x" * (64 * 1024 * 1024))


def test_a_full_pool_closes_an_idle_connection_to_another_origin(
    script: Callable[..., str],
) -> None:
    """With its one place taken by an idle connection to one server, a request to another
    server closes that connection and opens its own instead of waiting."""
    answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
    with httpx2.Client(
        transport=_pool(max_connections=1), timeout=httpx2.Timeout(WAIT_S, pool=0.2)
    ) as http:
        assert http.get(script(answer)).text == "ok"
        assert http.get(script(answer)).text == "ok"
