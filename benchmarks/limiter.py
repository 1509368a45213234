"""What the limiter adds to each request: the Redis limiter on loopback, and memory:// for scale.

Measures the policy's own hooks (``on_request`` reserve + ``on_response`` reconcile) on a real
request object, against a real redis-server (started here on a free loopback port unless
``REDIS_URL`` is set), so neither the SDK nor the emulator adds noise. Counts the Redis
commands the server executed to report round trips per request.

Run: ``.venv/bin/python -m benchmarks.limiter [N]`` (or ``python benchmarks/limiter.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2

from golden_path import _state
from golden_path._routes import classify
from golden_path._settings import Settings
from golden_path.policies import GenAIRequest, GenAIResponse, Identity, Usage
from golden_path.policies._limits import build_limit_policies

SECTIONS: dict[str, dict[str, Any]] = {
    "rate_limits": {"requests_per_minute": 10**9, "tokens_per_minute": 10**12},
    "budgets": {"tokens_per_day": 10**14, "tokens_per_month": 10**15},
}
PATH = "/v1/models/gemini-2.5-flash:generateContent"
BODY = json.dumps(
    {
        "contents": [{"role": "user", "parts": [{"text": "hello " * 50}]}],
        "generationConfig": {"maxOutputTokens": 256},
    }
).encode()
IDENTITY = Identity(
    app="bench",
    team="bench",
    client_id="acme-gp/1.0",
    backend="ai_studio",
    project=None,
    location=None,
)


def _request(i: int) -> GenAIRequest:
    wire = classify("POST", PATH)
    return GenAIRequest(
        request_id=f"r{i}",
        identity=IDENTITY,
        method="POST",
        url=httpx2.URL(f"http://127.0.0.1{PATH}"),
        headers=httpx2.Headers(),
        raw=BODY,
        surface=wire.surface,
        api_method=wire.api_method,
        model=wire.model,
        stream=False,
    )


_RESPONSE = GenAIResponse(
    status_code=200, headers={}, usage=Usage(prompt_tokens=80, output_tokens=40, total_tokens=120)
)


@contextmanager
def redis_server() -> Iterator[str]:
    """REDIS_URL, or a throwaway redis-server on loopback."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as workdir:
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                workdir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            import redis

            deadline = time.monotonic() + 10
            with redis.Redis(port=port) as client:
                while True:
                    try:
                        client.ping()
                        break
                    except redis.ConnectionError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(10)


def _commands(url: str) -> int:
    import redis

    with redis.Redis.from_url(url) as client:
        stats = client.info("commandstats")
    # Only commands a client sends: GET/INCRBY run inside the scripts are counted by Redis too.
    return sum(
        int(v["calls"])
        for k, v in stats.items()
        if k.removeprefix("cmdstat_") in ("evalsha", "eval")
    )


def _time(url: str, n: int) -> dict[str, list[float]]:
    (policy,) = build_limit_policies(
        SECTIONS, settings=Settings(state_url=url, team="bench", app="bench"), locate=lambda f: f
    )
    for i in range(200):  # warm up: connection, script cache, allocator
        request = _request(i)
        policy.on_request(request)
        policy.on_response(request, _RESPONSE)
    exchanges_before = getattr(policy.store, "round_trips", 0)
    reserve, total = [], []
    for i in range(n):
        request = _request(i)
        t0 = time.perf_counter()
        policy.on_request(request)
        t1 = time.perf_counter()
        policy.on_response(request, _RESPONSE)
        t2 = time.perf_counter()
        reserve.append(t1 - t0)
        total.append(t2 - t0)
    exchanges = getattr(policy.store, "round_trips", 0) - exchanges_before
    return {"reserve": reserve, "total": total, "exchanges": [exchanges / n]}


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 4),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 4),
    }


def measure(n: int = 2000) -> dict[str, Any]:
    """Per-request cost of the limiter (four limits, one scope), Redis and memory."""
    result: dict[str, Any] = {"n": n, "limits": 4}
    with redis_server() as url:
        _state.reset()
        before = _commands(url)
        redis_times = _time(url, n)
        after = _commands(url)
        _state.reset()
        # Warm-up requests ran too: 200 of them, plus the n measured ones.
        per_request = (after - before) / (n + 200)
    memory_times = _time("memory://bench", n)
    _state.reset()
    result["redis"] = {
        "reserve": _summary(redis_times["reserve"]),
        "reserve_and_reconcile": _summary(redis_times["total"]),
        # Network exchanges (one command, or one pipelined write) per request, counted by the
        # store; scripts per request counted by Redis (a reservation and a reconciliation).
        "round_trips_per_request": round(redis_times["exchanges"][0], 2),
        "scripts_per_request": round(per_request, 2),
        # The round trip itself: Redis minus memory, both doing the same Python work.
        "reserve_added_over_memory_median_ms": round(
            (statistics.median(redis_times["reserve"]) - statistics.median(memory_times["reserve"]))
            * 1000,
            4,
        ),
    }
    result["memory"] = {
        "reserve": _summary(memory_times["reserve"]),
        "reserve_and_reconcile": _summary(memory_times["total"]),
    }
    return result


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 2000), indent=2))
