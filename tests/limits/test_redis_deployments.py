"""Redis as users run it: TLS, an ACL user with a password, Sentinel, and Redis Cluster.

Each test starts real redis-server processes on loopback and spends a budget through the real
SDK against the emulator; the counters must hold exactly the real usage.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from golden_path.exceptions import PolicyViolation

from .conftest import FIXED_NOW, free_port, redis_or_skip

MODEL = "gemini-2.5-flash"
pytestmark = pytest.mark.redis


class Servers:
    """redis-server processes of one test, stopped at its end."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str, name: str, ping: Callable[[], Any] | None = None) -> None:
        folder = self.workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        binary = shutil.which("redis-server") or "redis-server"
        with (folder / "redis.log").open("wb") as log:
            self.processes.append(
                subprocess.Popen(
                    [binary, *args, "--dir", str(folder), "--save", "", "--appendonly", "no"],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        if ping is not None:
            _until(ping, what=f"{name} to start", log=folder / "redis.log")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=10)


def _until(
    check: Callable[[], Any], *, what: str, seconds: float = 20, log: Path | None = None
) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        try:
            result = check()
        except Exception:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log else ""
            raise RuntimeError(f"timed out waiting for {what}: {tail}")
        time.sleep(0.05)


@pytest.fixture(name="servers")
def _servers(tmp_path: Path) -> Iterator[Servers]:
    redis_or_skip()
    servers = Servers(tmp_path)
    yield servers
    servers.stop()


def cluster_ports(count: int) -> list[int]:
    """Free ports below 55536 whose cluster bus port (port + 10000) is free too."""
    import random
    import socket

    found: list[int] = []
    while len(found) < count:
        port = random.randint(20000, 55000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        if port not in found:
            found.append(port)
    return found


def spend(limits: Callable[..., list[Any]], make_client: Any, url: str, team: str = "ml") -> int:
    """Three governed calls under a day budget kept in ``url``; returns their real usage."""
    policies = limits(
        state_url=url, team=team, budgets={"tokens_per_day": 1_000_000}, clock=lambda: FIXED_NOW
    )
    client = make_client(team=team, policies=policies)
    total = 0
    for words in ("one", "two words", "three more words"):
        response = client.models.generate_content(model=MODEL, contents=words)
        total += response.usage_metadata.total_token_count
    policies[0].store.flush()
    return total


def day_key(team: str) -> str:
    return f"golden-path:{{{team}}}:team={team}:tokens:d2026-01-01"


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1, made here (no files shipped)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "golden-path test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, cert_file, key_file


def test_tls_with_an_acl_user(
    limits: Callable[..., list[Any]], make_client: Any, servers: Servers, tmp_path: Path
) -> None:
    """rediss:// with the CA to trust and an ACL user: counters exact; a wrong password is a
    denial (on_store_error = deny) that never shows the password."""
    import redis

    ca, cert, key = _certificates(tmp_path / "tls")
    port = free_port()
    servers.start(
        "--port",
        "0",
        "--tls-port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--tls-cert-file",
        str(cert),
        "--tls-key-file",
        str(key),
        "--tls-ca-cert-file",
        str(ca),
        "--tls-auth-clients",
        "no",
        "--user",
        "default",
        "off",
        "--user",
        "limiter",
        "on",
        ">s3cret-pass",
        "~*",
        "&*",
        "+@all",
        name="tls",
    )

    def raw() -> Any:
        return redis.Redis(
            host="127.0.0.1",
            port=port,
            ssl=True,
            ssl_ca_certs=str(ca),
            username="limiter",
            password="s3cret-pass",
            decode_responses=True,
        )

    _until(lambda: raw().ping(), what="redis with TLS", log=servers.workdir / "tls" / "redis.log")
    url = f"rediss://limiter:s3cret-pass@127.0.0.1:{port}/0?ca_file={ca}&timeout_ms=2000"
    real = spend(limits, make_client, url)
    assert int(raw().get(day_key("ml"))) == real

    wrong = f"rediss://limiter:not-the-pass@127.0.0.1:{port}/0?ca_file={ca}&timeout_ms=2000"
    policies = limits(state_url=wrong, budgets={"tokens_per_day": 1_000_000})
    client = make_client(team="ml", policies=policies)
    with pytest.raises(PolicyViolation, match="state store unreachable") as caught:
        client.models.generate_content(model=MODEL, contents="denied")
    assert "not-the-pass" not in str(caught.value)
    assert "****" in str(caught.value)


def test_sentinel(limits: Callable[..., list[Any]], make_client: Any, servers: Servers) -> None:
    """redis+sentinel:// asks the Sentinels where the master of the service is."""
    import redis

    master = free_port()
    servers.start(
        "--port",
        str(master),
        "--bind",
        "127.0.0.1",
        name="master",
        ping=lambda: redis.Redis(port=master).ping(),
    )
    sentinel = free_port()
    conf = servers.workdir / "sentinel.conf"
    conf.write_text(
        f"port {sentinel}\nbind 127.0.0.1\n"
        f"sentinel monitor golden 127.0.0.1 {master} 1\n"
        "sentinel down-after-milliseconds golden 5000\n"
    )
    servers.start(str(conf), "--sentinel", name="sentinel")
    _until(
        lambda: redis.Redis(port=sentinel).execute_command(
            "SENTINEL", "get-master-addr-by-name", "golden"
        ),
        what="the sentinel to know the master",
    )
    real = spend(limits, make_client, f"redis+sentinel://127.0.0.1:{sentinel}/golden/0")
    assert int(redis.Redis(port=master).get(day_key("ml"))) == real


def test_cluster_keeps_each_reservation_in_one_slot(
    limits: Callable[..., list[Any]], make_client: Any, servers: Servers
) -> None:
    """redis+cluster://: three masters; two teams land on different slots, each reservation's
    keys share its team's hash tag, and both budgets are exact."""
    import redis
    from redis.cluster import ClusterNode, RedisCluster

    ports = cluster_ports(3)
    for port in ports:
        servers.start(
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            f"nodes-{port}.conf",
            name=f"node-{port}",
            ping=lambda port=port: redis.Redis(port=port).ping(),
        )
    subprocess.run(
        [
            shutil.which("redis-cli") or "redis-cli",
            "--cluster",
            "create",
            *(f"127.0.0.1:{port}" for port in ports),
            "--cluster-replicas",
            "0",
            "--cluster-yes",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    _until(
        lambda: all(
            redis.Redis(port=port).cluster("info")["cluster_state"] == "ok" for port in ports
        ),
        what="the cluster to be ok",
    )
    url = "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in ports[:2])
    real_ml = spend(limits, make_client, url, team="ml")
    real_search = spend(limits, make_client, url, team="search")
    cluster = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", ports[0])])
    try:
        assert int(cluster.get(day_key("ml"))) == real_ml
        assert int(cluster.get(day_key("search"))) == real_search
        slot = cluster.keyslot
        assert slot(day_key("ml")) == slot("golden-path:{ml}:inflight")
        assert slot(day_key("ml")) != slot(day_key("search"))
    finally:
        cluster.close()
