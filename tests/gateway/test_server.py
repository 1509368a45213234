"""The gateway as deployed: `python -m golden_path.gateway` in its own process, and SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest

from golden_path.gateway import issue_key
from tests.gateway.conftest import SlowSSE, free_port

STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"


def _wait_healthy(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the gateway exited"
        try:
            if httpx2.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx2.TransportError:
            time.sleep(0.1)
    raise AssertionError("the gateway did not become healthy")


def test_sigterm_finishes_in_flight_streams(tmp_path: Path) -> None:
    """On SIGTERM the replica reports not-ready, lets a stream already running finish (the
    app gets every event, the audit event says ok) and exits 0."""
    upstream = SlowSSE()
    keys = tmp_path / "keys.toml"
    key, _ = issue_key(keys, app="checkout", team="payments")
    audit = tmp_path / "audit.jsonl"
    port = free_port()
    env = {
        **os.environ,
        "GOLDEN_PATH_BACKEND": "ai_studio",
        "GOLDEN_PATH_API_KEY": "google-key",
        "GOLDEN_PATH_BASE_URL": upstream.url,
        "GOLDEN_PATH_AUDIT_SINK": f"file:{audit}",
        "GOLDEN_PATH_GATEWAY_KEYS_FILE": str(keys),
        "GOLDEN_PATH_GATEWAY_PORT": str(port),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "golden_path.gateway", "--drain-delay", "3"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    received: list[str] = []
    first = threading.Event()
    try:
        _wait_healthy(url, process)

        def read_stream() -> None:
            with httpx2.stream(
                "POST",
                url + STREAM,
                json={"contents": [{"parts": [{"text": "x"}]}]},
                headers={"x-goog-api-key": key},
                timeout=30,
            ) as response:
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        received.append(line)
                        first.set()

        reader = threading.Thread(target=read_stream)
        reader.start()
        assert first.wait(10)
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 3
        while httpx2.get(f"{url}/readyz", timeout=5).status_code != 503:
            assert time.monotonic() < deadline, "still ready after SIGTERM"
            time.sleep(0.05)
        upstream.release.set()
        reader.join(20)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr
    finally:
        upstream.close()
        if process.poll() is None:
            process.kill()
        process.communicate()
    assert len(received) == 2
    assert "last" in received[1]
    (event,) = [json.loads(line) for line in audit.read_text().splitlines()]
    assert (event["app"], event["outcome"], event["stream"]) == ("checkout", "ok", True)


def test_bad_config_is_one_clear_line(tmp_path: Path) -> None:
    """A gateway with no way to authenticate apps exits 2 with the field and fix, no traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "golden_path.gateway", "--port", "0"],
        env={k: v for k, v in os.environ.items() if not k.startswith("GOLDEN_PATH")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "keys_file" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.redis
def test_replicas_share_limits_through_redis(tmp_path: Path, emulator: Any) -> None:
    """Two gateway processes (stateless replicas) with one Redis count one app's requests
    together: the app's fourth call in the minute is refused by whichever replica gets it."""
    from tests.limits.conftest import RedisServer, redis_or_skip

    redis_or_skip()
    redis = RedisServer(tmp_path / "redis").start()
    keys = tmp_path / "keys.toml"
    key, _ = issue_key(keys, app="checkout", team="payments")
    policy = tmp_path / "limits.toml"
    policy.write_text('[rate_limits]\nrequests_per_minute = 3\nscope = "app"\n')
    replicas = []
    try:
        for _ in range(2):
            port = free_port()
            env = {
                **os.environ,
                "GOLDEN_PATH_BACKEND": "emulator",
                "GOLDEN_PATH_BASE_URL": emulator.url,
                "GOLDEN_PATH_AUDIT_SINK": "none",
                "GOLDEN_PATH_POLICY_FILE": str(policy),
                "GOLDEN_PATH_STATE_URL": redis.url,
                "GOLDEN_PATH_GATEWAY_KEYS_FILE": str(keys),
                "GOLDEN_PATH_GATEWAY_PORT": str(port),
            }
            process = subprocess.Popen(
                [sys.executable, "-m", "golden_path.gateway"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            replicas.append((process, f"http://127.0.0.1:{port}"))
        for process, url in replicas:
            _wait_healthy(url, process)
        codes = [
            httpx2.post(
                replicas[i % 2][1] + GENERATE,
                json={"contents": [{"parts": [{"text": "x"}]}]},
                headers={"x-goog-api-key": key},
                timeout=30,
            ).status_code
            for i in range(4)
        ]
    finally:
        for process, _ in replicas:
            process.send_signal(signal.SIGTERM)
        for process, _ in replicas:
            process.wait(30)
        redis.stop()
    assert codes == [200, 200, 200, 429]


def test_writes_in_one_turn_of_the_loop_leave_together_and_in_order() -> None:
    """The gateway's HTTP connections join a response's head and body (written in one turn of
    the event loop) into one send, made as the body is written; a lone write leaves at the end
    of the turn; bytes keep their order through writelines, write_eof and close, and an abort
    drops what was held."""
    import asyncio

    from golden_path.gateway._server import _Cork

    async def scenario() -> list[bytes]:
        reads: list[bytes] = []
        done = asyncio.Event()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while chunk := await reader.read(65536):
                reads.append(chunk)
            writer.close()
            done.set()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        cork = _Cork(transport)
        cork.write(b"HTTP/1.1 200 OK\r\n\r\n")
        cork.write(b"")
        assert cork.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\n\r\n")  # held
        cork.writelines([b"body ", b"one"])
        # The second write of the turn: both left at once, in one send (nothing is held).
        assert cork.get_write_buffer_size() == 0
        assert not cork.is_closing()  # the transport's own
        await asyncio.sleep(0.2)
        cork.write(b"|two")
        assert cork.get_write_buffer_size() == len(b"|two")
        await asyncio.sleep(0)  # the end of the turn sends it
        assert cork.get_write_buffer_size() == 0
        await asyncio.sleep(0.2)
        cork.write(b"|three")
        cork.write_eof()
        await asyncio.wait_for(done.wait(), 10)
        cork.close()
        dropped, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        aborted = _Cork(dropped)
        aborted.write(b"never sent")
        aborted.abort()
        await asyncio.sleep(0.1)
        server.close()
        await server.wait_closed()
        return reads

    reads = asyncio.run(scenario())
    assert reads[0] == b"HTTP/1.1 200 OK\r\n\r\nbody one"  # one send for the whole turn
    assert b"".join(reads) == b"HTTP/1.1 200 OK\r\n\r\nbody one|two|three"
