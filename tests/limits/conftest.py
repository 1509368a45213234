"""Fixtures for limits: a real redis-server per test session, limit policies built like the
loader builds them, and a clean store registry per test."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from golden_path._settings import Settings
from golden_path.policies._limits import build_limit_policies

# A fixed instant in the middle of a minute (and of a day and a month), so no window boundary
# falls inside a test that counts exactly.
FIXED_NOW = 1_767_268_830.0  # 2026-01-01T12:00:30Z


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A real redis-server on loopback, in its own directory, persisting nothing."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.binary = shutil.which("redis-server") or "redis-server"
        self.workdir = workdir
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        import redis

        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
                "--enable-debug-command",
                "local",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        with redis.Redis(port=self.port, socket_timeout=0.5) as client:
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"redis-server did not start on {self.port}") from None
                    time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def client(self) -> Any:
        import redis

        return redis.Redis(port=self.port, socket_timeout=2, decode_responses=True)


def redis_or_skip() -> None:
    """Skip visibly without redis-server on a developer machine; fail loudly in CI."""
    if shutil.which("redis-server"):
        return
    message = "redis-server is not installed (apt-get install redis-server)"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must install it", pytrace=False)
    pytest.skip(message)


@pytest.fixture(name="redis_server", scope="session")
def _redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    redis_or_skip()
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(name="redis_url")
def _redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, emptied for this test."""
    with redis_server.client() as client:
        client.flushall()
    return redis_server.url


@pytest.fixture(name="own_redis")
def _own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test's own, which the test may stop and start again."""
    redis_or_skip()
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fresh_stores() -> Iterator[None]:
    """Each test starts with no counters and leaves no open connection behind."""
    from golden_path import _state

    _state.reset()
    yield
    _state.reset()


def locate(field: str) -> str:
    """What the loader's locator gives: file and line of a key."""
    return f"policy.toml:{field}"


@pytest.fixture(name="limits")
def _limits() -> Callable[..., list[Any]]:
    """Build the limit policies from TOML-shaped tables, the way the loader does."""

    def build(
        state_url: str = "memory://",
        team: str | None = "ml",
        app: str | None = None,
        clock: Callable[[], float] | None = None,
        **sections: dict[str, Any],
    ) -> list[Any]:
        if state_url.startswith("redis") and "timeout_ms" not in state_url:
            # A shared 2-core CI machine can take longer than the 100 ms default to answer;
            # tests about timeouts set their own.
            state_url += ("&" if "?" in state_url else "?") + "timeout_ms=2000"
        settings = Settings(state_url=state_url, team=team, app=app)
        return build_limit_policies(dict(sections), settings=settings, locate=locate, clock=clock)

    return build


class Fleet:
    """``processes`` fleet_worker.py processes spending one Redis budget, started together."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        emulator_url: str,
        redis_url: str,
        budget: int,
        processes: int,
        threads: int,
        mode: str = "plain",
    ) -> None:
        self.go = tmp_path / "go"
        self.tmp_path = tmp_path
        worker = Path(__file__).with_name("fleet_worker.py")
        args = [emulator_url, redis_url, str(budget), str(threads), str(self.go), str(FIXED_NOW)]
        self.procs = [
            subprocess.Popen(
                [sys.executable, str(worker), *args, mode],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(processes)
        ]

    def start(self) -> None:
        """Wait until every worker is ready (imports done, client built), then let all go."""
        deadline = time.monotonic() + 60
        while len(list(self.tmp_path.glob("go.ready.*"))) < len(self.procs):
            assert all(p.poll() is None for p in self.procs), "a fleet worker died while starting"
            assert time.monotonic() < deadline, "fleet workers did not get ready"
            time.sleep(0.01)
        self.go.touch()

    def results(self) -> list[dict[str, Any]]:
        """Each worker's JSON line, once all have spent the budget."""
        results = []
        for proc in self.procs:
            out, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
