"""Credentials are pinned to the endpoint and set at send time, after the policies.

Each attempt here is one a developer who wants around the rules might make; none may send the
platform's credential anywhere but the configured endpoint, or replace it with another.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from google.genai import types

import golden_path
from golden_path.emulator import Emulator

KEY = "platform-key"
ALLOWED = "gemini-2.5-flash"
POLICY = '[models]\nallow = ["gemini-2.5-*"]\n'


@pytest.fixture(name="elsewhere")
def _elsewhere() -> Iterator[Emulator]:
    """A second server on loopback: any request reaching it is a leak."""
    with Emulator() as other:
        yield other


@pytest.fixture(name="client")
def _client(emulator: Emulator, audit: Any, policy_file: Callable[..., Path]) -> Any:
    return golden_path.create_client(
        backend="ai_studio",
        api_key=KEY,
        base_url=emulator.url,
        retry_attempts=1,
        policy_file=str(policy_file(POLICY)),
        audit_sinks=[audit],
    )


def _keys(emulator: Emulator) -> list[str | None]:
    return [r.headers.get("x-goog-api-key") for r in emulator.api_requests()]


def test_per_call_base_url_is_refused(client: Any, emulator: Emulator, elsewhere: Emulator) -> None:
    """A per-call base_url on another origin is refused even for an allowed model."""
    config = types.GenerateContentConfig(http_options=types.HttpOptions(base_url=elsewhere.url))
    with pytest.raises(golden_path.PolicyViolation, match="credentials go only to") as caught:
        client.models.generate_content(model=ALLOWED, contents="hi", config=config)
    assert caught.value.policy == "routes"
    assert elsewhere.requests == []
    assert emulator.requests == []


def test_per_call_base_url_async(client: Any, elsewhere: Emulator) -> None:
    """The async client refuses another origin the same way."""
    config = types.GenerateContentConfig(http_options=types.HttpOptions(base_url=elsewhere.url))
    with pytest.raises(golden_path.PolicyViolation):
        asyncio.run(client.aio.models.generate_content(model=ALLOWED, contents="hi", config=config))
    assert elsewhere.requests == []


@pytest.mark.parametrize(
    "suffix",
    ["/", "/v1beta/"],
)
def test_same_host_other_port_is_another_origin(
    client: Any, emulator: Emulator, elsewhere: Emulator, suffix: str
) -> None:
    """Host, port and scheme are compared exactly: another port on 127.0.0.1 is refused."""
    assert emulator.url.split(":")[1] == elsewhere.url.split(":")[1]  # both 127.0.0.1
    config = types.GenerateContentConfig(
        http_options=types.HttpOptions(base_url=elsewhere.url + suffix)
    )
    with pytest.raises(golden_path.PolicyViolation):
        client.models.generate_content(model=ALLOWED, contents="hi", config=config)
    assert elsewhere.requests == []


def test_per_call_key_header_cannot_replace_the_credential(client: Any, emulator: Emulator) -> None:
    """A per-call x-goog-api-key is replaced by the configured key at send time."""
    config = types.GenerateContentConfig(
        http_options=types.HttpOptions(headers={"x-goog-api-key": "someone-elses-key"})
    )
    client.models.generate_content(model=ALLOWED, contents="hi", config=config)
    assert _keys(emulator) == [KEY]


def test_per_call_authorization_header_is_dropped(client: Any, emulator: Emulator) -> None:
    """A per-call Authorization header never reaches the server."""
    config = types.GenerateContentConfig(
        http_options=types.HttpOptions(headers={"authorization": "Bearer stolen"})
    )
    client.models.generate_content(model=ALLOWED, contents="hi", config=config)
    (sent,) = emulator.api_requests()
    assert "authorization" not in sent.headers
    assert sent.headers["x-goog-api-key"] == KEY


def test_policies_never_see_the_credential(
    emulator: Emulator, audit: Any, policy_file: Callable[..., Path]
) -> None:
    """A custom policy reading every header sees a placeholder, never the key."""
    seen: list[dict[str, str]] = []

    class Spy:
        name = "spy"

        def on_request(self, request: Any) -> None:
            seen.append(dict(request.headers))

    client = golden_path.create_client(
        backend="ai_studio",
        api_key=KEY,
        base_url=emulator.url,
        retry_attempts=1,
        policies=[Spy()],
        audit_sinks=[audit],
    )
    client.models.generate_content(model=ALLOWED, contents="hi")
    assert seen
    assert KEY not in json.dumps(seen)
    assert _keys(emulator) == [KEY]


def test_denied_vertex_call_fetches_no_token(
    vertex_governed: Callable[..., Any], emulator: Emulator
) -> None:
    """On Vertex a denied call sends nothing at all: not even the OAuth token request."""
    client = vertex_governed(POLICY)
    with pytest.raises(golden_path.PolicyViolation):
        client.models.generate_content(model="gemini-1.5-pro", contents="hi")
    assert emulator.requests == []
    assert emulator.issued_tokens == []


def test_allowed_vertex_call_gets_a_real_token(
    vertex_governed: Callable[..., Any], emulator: Emulator
) -> None:
    """An allowed Vertex call carries a token the emulator issued, not the placeholder."""
    client = vertex_governed(POLICY)
    client.models.generate_content(model=ALLOWED, contents="hi")
    (sent,) = emulator.api_requests()
    (token,) = emulator.issued_tokens
    assert sent.headers["authorization"] == f"Bearer {token.token}"


def test_http_client_absolute_url_elsewhere_is_refused(
    emulator: Emulator, elsewhere: Emulator, audit: Any
) -> None:
    """http_client() refuses an absolute URL on another host instead of adding credentials."""
    with golden_path.http_client(
        backend="ai_studio", api_key=KEY, base_url=emulator.url, audit_sinks=[audit]
    ) as http:
        with pytest.raises(golden_path.PolicyViolation, match="credentials go only to"):
            http.post(f"{elsewhere.url}/v1beta/models/{ALLOWED}:countTokens", json={})
    assert elsewhere.requests == []


def test_http_client_query_key_is_dropped(emulator: Emulator, audit: Any) -> None:
    """A ?key= in the URL cannot stand in for the configured key."""
    with golden_path.http_client(
        backend="ai_studio", api_key=KEY, base_url=emulator.url, audit_sinks=[audit]
    ) as http:
        http.post(
            f"models/{ALLOWED}:countTokens?key=another",
            json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        )
    (sent,) = emulator.api_requests()
    assert "key" not in sent.query
    assert sent.headers["x-goog-api-key"] == KEY


def test_path_prefix_is_pinned(elsewhere: Emulator, audit: Any) -> None:
    """With a base URL that has a path prefix, a path outside the prefix is refused."""
    with golden_path.http_client(
        backend="ai_studio", api_key=KEY, base_url=elsewhere.url + "/gemini", audit_sinks=[audit]
    ) as http:
        with pytest.raises(golden_path.PolicyViolation, match="credentials go only to"):
            http.get(f"{elsewhere.url}/v1beta/models")
    assert elsewhere.requests == []


class _Redirect(http.server.BaseHTTPRequestHandler):
    target = ""

    def do_POST(self) -> None:
        self.send_response(307)
        self.send_header("location", self.target + self.path)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        del args


@pytest.fixture(name="redirector")
def _redirector(elsewhere: Emulator) -> Iterator[str]:
    handler = type("Handler", (_Redirect,), {"target": elsewhere.url})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_redirect_to_another_origin_carries_nothing(
    redirector: str, elsewhere: Emulator, audit: Any
) -> None:
    """A 307 to another origin is not followed with credentials: it is refused."""
    client = golden_path.create_client(
        backend="ai_studio",
        api_key=KEY,
        base_url=redirector,
        retry_attempts=1,
        audit_sinks=[audit],
    )
    with pytest.raises(golden_path.PolicyViolation, match="credentials go only to"):
        client.models.generate_content(model=ALLOWED, contents="hi")
    assert elsewhere.requests == []


def test_platform_listed_origin_is_allowed(
    emulator: Emulator, elsewhere: Emulator, audit: Any, policy_file: Callable[..., Path]
) -> None:
    """An origin the platform lists in [routes] origins (a PSC endpoint, say) gets the key."""
    text = f'[routes]\norigins = ["{elsewhere.url}"]\n'
    client = golden_path.create_client(
        backend="ai_studio",
        api_key=KEY,
        base_url=emulator.url,
        retry_attempts=1,
        policy_file=str(policy_file(text)),
        audit_sinks=[audit],
    )
    config = types.GenerateContentConfig(http_options=types.HttpOptions(base_url=elsewhere.url))
    client.models.generate_content(model=ALLOWED, contents="hi", config=config)
    assert _keys(elsewhere) == [KEY]
    # Each audit event names the server its call went to, whichever went before it.
    client.models.generate_content(model=ALLOWED, contents="hi")
    client.models.generate_content(model=ALLOWED, contents="hi", config=config)
    ports = [int(url.rsplit(":", 1)[1]) for url in (elsewhere.url, emulator.url, elsewhere.url)]
    assert [(e.server_address, e.server_port) for e in audit.events] == [
        ("127.0.0.1", port) for port in ports
    ]


def test_openai_per_request_authorization_is_replaced(emulator: Emulator, audit: Any) -> None:
    """The OpenAI client's per-request Authorization header cannot swap the key."""
    openai = pytest.importorskip("openai")
    del openai
    client = golden_path.openai_client(
        backend="ai_studio", api_key=KEY, base_url=emulator.url, audit_sinks=[audit]
    )
    client.chat.completions.create(
        model=ALLOWED,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"Authorization": "Bearer someone-elses-key"},
    )
    (sent,) = emulator.api_requests()
    assert sent.headers["authorization"] == f"Bearer {KEY}"


def test_unguarded_live_cannot_authenticate(client: Any) -> None:
    """The SDK's own API client holds a placeholder, so a connect that skips the guard has no
    credential to send: its key is the placeholder."""
    from golden_path._transport._credentials import PLACEHOLDER_KEY

    assert client._api_client.api_key == PLACEHOLDER_KEY
    assert client._api_client._http_options.headers["x-goog-api-key"] == PLACEHOLDER_KEY


def test_httpx_request_object_elsewhere(client: Any, elsewhere: Emulator) -> None:
    """Even a request built by hand on the SDK's own httpx client is pinned."""
    http = client._api_client._httpx_client
    with pytest.raises(golden_path.PolicyViolation):
        http.send(httpx2.Request("GET", f"{elsewhere.url}/v1beta/models"))
    assert elsewhere.requests == []


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (the SDK opens Live websockets over TLS only)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _LiveServer:
    """A real TLS websocket server on loopback: records each handshake, answers setupComplete."""

    def __init__(self, cert: Path, key: Path) -> None:
        import ssl

        self._ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ssl.load_cert_chain(cert, key)
        self.handshakes: list[dict[str, str]] = []
        self.setups: list[Any] = []
        self.url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Future[None] | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()
        self._ready.wait(10)

    async def _main(self) -> None:
        from websockets.asyncio.server import serve

        async def handler(ws: Any) -> None:
            self.handshakes.append({k.lower(): v for k, v in ws.request.headers.raw_items()})
            self.setups.append(json.loads(await ws.recv()))
            await ws.send(json.dumps({"setupComplete": {}}))
            await ws.wait_closed()

        self._loop = asyncio.get_running_loop()
        self._stop = self._loop.create_future()
        async with serve(handler, "127.0.0.1", 0, ssl=self._ssl) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            self.url = f"https://127.0.0.1:{port}"
            self._ready.set()
            await self._stop

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(timeout=5)


@pytest.fixture(name="certificate", scope="session")
def _certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from golden_path._tls import ensure_trust

    cert, key = _self_signed(tmp_path_factory.mktemp("tls"))
    # Trust it in golden-path's shared client context (additive; one per process, since
    # OpenSSL picks the first of several same-named self-signed issuers).
    ensure_trust().load_verify_locations(cafile=str(cert))
    return cert, key


@pytest.fixture(name="live_server")
def _live_server(certificate: tuple[Path, Path]) -> Iterator[_LiveServer]:
    server = _LiveServer(*certificate)
    yield server
    server.close()


def _live_client(url: str, audit: Any, policy_file: Callable[..., Path]) -> Any:
    return golden_path.create_client(
        backend="ai_studio",
        api_key=KEY,
        base_url=url,
        retry_attempts=1,
        policy_file=str(policy_file(POLICY)),
        audit_sinks=[audit],
    )


def _live(client: Any, config: Any = None) -> None:
    async def run() -> None:
        async with client.aio.live.connect(model=ALLOWED, config=config):
            pass

    asyncio.run(run())


def test_live_sends_the_configured_key(
    live_server: _LiveServer, audit: Any, policy_file: Callable[..., Path]
) -> None:
    """A guarded Live session authenticates with the configured key, set after the policies."""
    _live(_live_client(live_server.url, audit, policy_file))
    (handshake,) = live_server.handshakes
    assert handshake["x-goog-api-key"] == KEY
    assert live_server.setups[0]["setup"]["model"] == f"models/{ALLOWED}"


def test_live_session_header_cannot_replace_the_key(
    live_server: _LiveServer, audit: Any, policy_file: Callable[..., Path]
) -> None:
    """LiveConnectConfig.http_options.headers cannot swap in another key."""
    config = types.LiveConnectConfig(
        http_options=types.HttpOptions(headers={"x-goog-api-key": "someone-elses-key"})
    )
    refused = ""
    try:
        _live(_live_client(live_server.url, audit, policy_file), config)
    except ValueError as exc:
        refused = str(exc)
    if refused:
        # Some 2.x releases refuse request-level http_options on Live outright: the swap cannot
        # even be attempted, and nothing reaches the server.
        assert "does not support http_options at request-level" in refused
        assert live_server.handshakes == []
        return
    (handshake,) = live_server.handshakes
    assert handshake["x-goog-api-key"] == KEY


def test_live_session_base_url_elsewhere_is_refused(
    live_server: _LiveServer, emulator: Emulator, audit: Any, policy_file: Callable[..., Path]
) -> None:
    """LiveConnectConfig.http_options.base_url on another origin is refused, audited."""
    config = types.LiveConnectConfig(http_options=types.HttpOptions(base_url=live_server.url))
    with pytest.raises(golden_path.PolicyViolation, match="credentials go only to"):
        _live(_live_client(emulator.url, audit, policy_file), config)
    assert live_server.handshakes == []
    assert audit.only().outcome == "denied"


def test_live_through_the_class_has_no_credential(
    live_server: _LiveServer, audit: Any, policy_file: Callable[..., Path]
) -> None:
    """A new AsyncLive on the client's API client (skipping the guard) sends only the
    placeholder: the platform's key never leaves through it."""
    from google.genai.live import AsyncLive

    client = _live_client(live_server.url, audit, policy_file)

    async def run() -> None:
        async with AsyncLive(client._api_client).connect(model=ALLOWED):
            pass

    asyncio.run(run())
    (handshake,) = live_server.handshakes
    assert handshake["x-goog-api-key"] != KEY


def test_origin_verdicts_are_per_url_not_per_path() -> None:
    """A judged URL's verdict never carries over to another origin with the same path, and a
    URL rebuilt per call (query merged in) is judged the same each time."""
    from golden_path._transport._credentials import Endpoint

    endpoint = Endpoint("https://api.example.com/v1", ["https://psc.example.internal"])
    path = "/v1/models/m:streamGenerateContent"
    for _ in range(3):
        assert endpoint.allows(httpx2.URL(f"https://api.example.com{path}", params={"alt": "sse"}))
        assert not endpoint.allows(httpx2.URL(f"https://api.example.com:8443{path}?alt=sse"))
        assert not endpoint.allows(httpx2.URL(f"http://api.example.com{path}?alt=sse"))
        assert not endpoint.allows(httpx2.URL(f"https://api.example.com.evil.test{path}"))
        assert not endpoint.allows(httpx2.URL("https://api.example.com/v10/models/m"))
        assert endpoint.allows(httpx2.URL("https://PSC.example.internal./any/path"))
