"""A real gateway (uvicorn on a loopback port) in front of the real emulator, per test."""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
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
    from golden_path.gateway._server import server_config

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
        # The server serve() runs (uvicorn as configured for production), in a thread.
        server = uvicorn.Server(server_config(gateway, log_level="error"))
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


@pytest.fixture(name="gw")
def _gw(start_gateway: Callable[..., Running]) -> Running:
    """One gateway in front of the emulator, with one app key (app checkout, team payments)."""
    return start_gateway()


@pytest.fixture(name="vertex_gw")
def _vertex_gw(start_gateway: Callable[..., Running], emulator: Any, tmp_path: Path) -> Running:
    """A gateway whose upstream is Vertex AI (on the emulator) with a service-account key."""
    key_file = tmp_path / "sa.json"
    emulator.create_service_account_key(key_file)
    return start_gateway(
        settings={
            "backend": "vertex",
            "project": "platform-project",
            "location": "europe-west4",
            "credentials_file": str(key_file),
        }
    )


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


def in_flight(url: str, verify: Any = True) -> float:
    """What the gateway's /metrics says is in flight now."""
    metrics = httpx2.get(f"{url}/metrics", verify=verify).text
    prefix = "golden_path_gateway_in_flight_requests "
    return float(next(line for line in metrics.splitlines() if line.startswith(prefix)).split()[1])


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


def make_pki(tmp_path: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate CN=billing, OU=finance."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def write_key(name: str, key: Any) -> Path:
        path = tmp_path / f"{name}.key"
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return path

    def cert(subject: x509.Name, key: Any, issuer: Any, issuer_key: Any, **ext: Any) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
        )
        if ext.get("ca"):
            builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        if ext.get("ip"):
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                False,
            )
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = cert(ca_name, ca_key, ca_name, ca_key, ca=True)
    out = {"ca": tmp_path / "ca.pem"}
    out["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for name, subject, ip in (
        ("server", [x509.NameAttribute(NameOID.COMMON_NAME, "gateway")], True),
        (
            "client",
            [
                x509.NameAttribute(NameOID.COMMON_NAME, "billing"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "finance"),
            ],
            False,
        ),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        out[f"{name}_key"] = write_key(name, key)
        out[name] = tmp_path / f"{name}.pem"
        out[name].write_bytes(
            cert(x509.Name(subject), key, ca_name, ca_key, ip=ip).public_bytes(
                serialization.Encoding.PEM
            )
        )
    return out


# ------------------------------------------------------------------ the JavaScript SDK

HERE = Path(__file__).parent / "js"
# Read at import, before the autouse fixture points HOME at a temporary directory: the install
# is cached across runs.
CACHE = Path(
    os.environ.get("GOLDEN_PATH_TEST_CACHE")
    or os.environ.get("XDG_CACHE_HOME")
    or Path.home() / ".cache"
)


@pytest.fixture(name="node_sdk", scope="session")
def _node_sdk() -> Path:
    """A directory with node_modules/@google/genai installed from the committed lockfile."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the JavaScript SDK tests")
    lock = (HERE / "package-lock.json").read_bytes()
    target = CACHE / "golden-path" / f"js-genai-{hashlib.sha256(lock).hexdigest()[:12]}"
    target.mkdir(parents=True, exist_ok=True)
    # xdist workers share the cache: one installs while the others wait on the lock.
    with (target.parent / f"{target.name}.lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        done = target / ".installed"
        if not done.exists():
            for name in ("package.json", "package-lock.json"):
                shutil.copy(HERE / name, target / name)
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--silent"],
                cwd=target,
                check=True,
                timeout=300,
            )
            done.touch()
        script = (HERE / "client.mjs").read_bytes()
        if not (target / "client.mjs").exists() or (target / "client.mjs").read_bytes() != script:
            (target / "client.mjs").write_bytes(script)
    return target


def node(sdk: Path, url: str, key: str, action: str, arg: str | None = None) -> dict[str, Any]:
    """Run one action of client.mjs; its last output line, parsed."""
    args = ["node", str(sdk / "client.mjs"), url, key, action, *([arg] if arg else [])]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr
    result: dict[str, Any] = json.loads(lines[-1])
    return result
