"""A real gateway (uvicorn on a loopback port) in front of the real emulator, per test."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn", reason="the gateway tests need golden-path[gateway]")


@dataclasses.dataclass
class Running:
    """A gateway being served: its URL, an app key, the objects behind it."""

    url: str
    key: str
    gateway: Any
    keys_file: Path
    server: Any

    def issue(self, app: str, team: str | None = None) -> str:
        from golden_path.gateway import issue_key

        key, _ = issue_key(self.keys_file, app=app, team=team)
        return key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(name="start_gateway")
def _start_gateway(emulator: Any, audit: Any, tmp_path: Path) -> Iterator[Callable[..., Running]]:
    """Start gateways in threads of this process; all are stopped at the end of the test."""
    import uvicorn

    from golden_path import Settings
    from golden_path.gateway import Gateway, issue_key, load_gateway_config
    from golden_path.gateway._server import _http_protocol, _ws_protocol

    started: list[tuple[Any, threading.Thread]] = []

    def start(
        *, policies: Any = None, settings: dict[str, Any] | None = None, **config: Any
    ) -> Running:
        keys_file = tmp_path / f"keys-{len(started)}.toml"
        key, _ = issue_key(keys_file, app="checkout", team="payments")
        config.setdefault("keys_file", keys_file)
        port = free_port()
        gateway_config = load_gateway_config(port=port, **config)
        upstream = {"backend": "emulator", "base_url": emulator.url, "retry_attempts": 1}
        upstream.update(settings or {})
        gateway = Gateway(
            gateway_config, Settings(**upstream), policies=policies, audit_sinks=[audit]
        )
        server = uvicorn.Server(
            uvicorn.Config(
                gateway,
                host="127.0.0.1",
                port=port,
                http=_http_protocol(),
                ws=_ws_protocol(),
                lifespan="on",
                log_level="error",
                **_tls(gateway_config),
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the gateway did not start")
            time.sleep(0.01)
        started.append((server, thread))
        scheme = "https" if gateway_config.tls_certfile else "http"
        return Running(f"{scheme}://127.0.0.1:{port}", key, gateway, keys_file, server)

    yield start
    for server, thread in started:
        server.should_exit = True
        thread.join(10)


def _tls(config: Any) -> dict[str, Any]:
    import ssl

    if config.tls_certfile is None:
        return {}
    out: dict[str, Any] = {
        "ssl_certfile": str(config.tls_certfile),
        "ssl_keyfile": str(config.tls_keyfile),
    }
    if config.tls_client_ca is not None:
        out["ssl_ca_certs"] = str(config.tls_client_ca)
        out["ssl_cert_reqs"] = ssl.CERT_OPTIONAL
    return out


@pytest.fixture(name="gw")
def _gw(start_gateway: Callable[..., Running]) -> Running:
    """One gateway in front of the emulator, with one app key (app checkout, team payments)."""
    return start_gateway()


_clients: list[Any] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _clients:
        _clients.pop().close()


def genai_client(url: str, key: str, **options: Any) -> Any:
    """The real google-genai SDK pointed at the gateway, as an app in another service uses it."""
    from google import genai
    from google.genai import types

    client = genai.Client(
        api_key=key,
        vertexai=False,
        http_options=types.HttpOptions(base_url=url, **options),
    )
    _clients.append(client)
    return client


class SlowSSE:
    """A loopback upstream that sends one SSE event, then waits to be told to send the last.

    It proves the gateway passes events on as they arrive: the app must see the first event
    while the upstream still holds the second.
    """

    def __init__(self) -> None:
        self.release = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(
                next(
                    line.split(b":")[1]
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
            )
            while len(body) < length:
                body += conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"transfer-encoding: chunked\r\n\r\n"
            )

            def event(text: str, last: bool) -> None:
                payload = {
                    "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}}]
                }
                if last:
                    payload["candidates"][0]["finishReason"] = "STOP"
                    payload["usageMetadata"] = {"promptTokenCount": 1, "totalTokenCount": 3}
                chunk = f"data: {json.dumps(payload)}\r\n\r\n".encode()
                conn.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")

            event("first", last=False)
            self.release.wait(10)
            event(" last", last=True)
            conn.sendall(b"0\r\n\r\n")

    def close(self) -> None:
        self.release.set()
        self.sock.close()
