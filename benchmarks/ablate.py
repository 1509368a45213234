"""Where a governed call's CPU goes, measured inside the whole call: each stage switched off.

    .venv/bin/python -m benchmarks.ablate [--n 1500] [--policies all] [--only audit]

``benchmarks/stages.py`` times each stage on its own; a stage timed in a loop of its own runs
with warm caches, and the stages add up to about half of what a whole governed call adds over
the raw SDK. This attributes the whole figure instead: the raw SDK and golden-path run one
real ``generate_content`` after another through the SDK, both on an inner transport that
answers at once with the benchmark server's canned answer (no wire, so the wire's noise is
out), and for each stage golden-path runs in interleaved blocks of 25 calls with the stage as
is and with the stage replaced by a no-op. The difference of the medians of the calling
thread's CPU time is that stage's cost inside a whole call, cold caches and the allocation it
causes included. A row that switches nothing off ("nothing (noise floor)") shows how far two
identical sides drift on this machine. Stages switched off change what later stages do (no
answer parsed: nothing to price), so rows overlap and need not add up.

This measures; it is not part of the run or of the tests. It reaches into golden-path's
private names on purpose (as stages.py does): when they change, it fails loudly.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx2

from benchmarks import _guard, _server, _variants
from benchmarks._variants import ALL_BUILTINS, API_KEY, DEFAULT_POLICIES, LARGE_PROMPT, MODEL

__all__ = ["measure"]

_URL = "http://127.0.0.1:9"  # never reached: the inner transport answers


class _Body(httpx2.SyncByteStream):
    def __init__(self, data: bytes) -> None:
        self._data = data

    def __iter__(self) -> Iterator[bytes]:
        yield self._data


class _Instant(httpx2.BaseTransport):
    """The benchmark server's answer to every request, at once."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.read()
        body = _server._ANSWER
        headers = [
            (b"Content-Type", b"application/json; charset=UTF-8"),
            (b"Content-Length", str(len(body)).encode()),
        ]
        return httpx2.Response(200, headers=headers, stream=_Body(body))


class _NoSyscalls:
    """``os`` and ``fcntl`` as the file sink sees them, with its per-event syscalls gone.

    No flock, no write; the file grows in memory only, so the sink's own record of the file's
    end still matches and it never reads the tail back. Everything else is the real ``os``.
    """

    LOCK_EX = fcntl.LOCK_EX
    LOCK_UN = fcntl.LOCK_UN
    SEEK_END = os.SEEK_END

    def __init__(self) -> None:
        self.size: int | None = None

    def flock(self, fd: int, operation: int) -> None:
        return None

    def lseek(self, fd: int, position: int, how: int) -> int:
        if self.size is None:
            self.size = os.lseek(fd, position, how)
        return self.size

    def write(self, fd: int, data: bytes) -> int:
        assert self.size is not None
        self.size += len(data)
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


def _clients(policies: str) -> tuple[Any, Any, Any]:
    from google import genai
    from google.genai import types

    import golden_path as gp

    raw = genai.Client(
        api_key=API_KEY,
        http_options=types.HttpOptions(base_url=_URL, client_args={"transport": _Instant()}),
    )
    folder = tempfile.mkdtemp(prefix="golden-path-ablate-")
    governed = gp.create_client(
        backend="ai_studio",
        api_key=API_KEY,
        base_url=_URL,
        audit_sink=f"file:{folder}/audit.jsonl",
        policy_file=ALL_BUILTINS if policies == "all" else DEFAULT_POLICIES,
        app="bench-app",
        team="bench-team",
    )
    transport = governed._api_client._httpx_client._transport
    transport._transport()._inner = _Instant()  # under the credentials step, as the wire is
    return raw, governed, transport


Switch = list[tuple[Any, str, Any]]


def _stages(transport: Any) -> list[tuple[str, Switch]]:
    """(stage, [(object, attribute, no-op)]) for every stage switched off on its own."""
    from golden_path._transport import _call, _credentials, _http
    from golden_path.audit import _sinks

    chain = transport.pipeline.chain

    def quiet(*_: Any, **__: Any) -> None:
        return None

    no_syscalls = _NoSyscalls()

    rows: list[tuple[str, Switch]] = [
        ("nothing (noise floor)", []),
        (
            "audit: the whole event (build, price, render, chained write)",
            [
                (_call.Call, "_finish", quiet),
            ],
        ),
        (
            "audit: delivering it (render, lock, chained write, digest)",
            [
                (_sinks.Auditor, "emit_fields", quiet),
            ],
        ),
        (
            "audit: rendering it (the line from the call's fields)",
            [
                (_sinks._Record, "body", lambda _: b'{"event":"x"}'),
            ],
        ),
        ("audit: the chain digest (SHA-256)", [(_sinks, "digest", lambda *_: "0" * 64)]),
        (
            "audit: the file's syscalls (flock twice, lseek, write)",
            [(_sinks, "os", no_syscalls), (_sinks, "fcntl", no_syscalls)],
        ),
        ("audit: pricing it", [(_call, "request_cost_parts", quiet)]),
        ("parsing the answer (and what reads it: usage, price)", [(_call, "parse_json", quiet)]),
        ("identification headers", [(_call.Call, "_identify", quiet)]),
        ("credentials (origin check, key header)", [(_credentials.Authorizer, "apply", quiet)]),
        (
            "request id in structlog's context",
            [
                (_http, "bind_request", quiet),
                (_http, "release_request", quiet),
            ],
        ),
        (
            "every policy's on_request",
            [
                (chain, "_request", [(p, None) for p, _ in chain._request]),
            ],
        ),
    ]
    for index, (policy, hook) in enumerate(chain._request):
        if hook is None:
            continue
        hooks = list(chain._request)
        hooks[index] = (policy, None)
        rows.append((f"policy {policy.name}: on_request", [(chain, "_request", hooks)]))
    return rows


def _block(call: Callable[[], Any], n: int, out: list[int]) -> None:
    cpu = time.thread_time_ns
    for _ in range(n):
        start = cpu()
        call()
        out.append(cpu() - start)


def measure(n: int = 1500, policies: str = "default", only: str = "") -> dict[str, Any]:
    """Median thread-CPU µs per call: raw, governed, and each stage's cost inside the call."""
    raw, governed, transport = _clients(policies)
    prompt = LARGE_PROMPT if policies == "all" else _variants.SMALL_PROMPT

    def raw_call() -> Any:
        return raw.models.generate_content(model=MODEL, contents=prompt)

    def governed_call() -> Any:
        return governed.models.generate_content(model=MODEL, contents=prompt)

    for _ in range(100):
        raw_call()
        governed_call()
    raws: list[int] = []
    whole: list[int] = []
    result: dict[str, Any] = {"stages": {}}
    for stage, switch in _stages(transport):
        if only and only not in stage and switch:
            continue
        kept = [(obj, name, getattr(obj, name)) for obj, name, _ in switch]
        on: list[int] = []
        off: list[int] = []
        try:
            for r in range(max(1, n // 25)):
                sides = ("on", "off", "raw") if r % 2 else ("off", "raw", "on")
                for side in sides:
                    if side == "raw":
                        _block(raw_call, 25, raws)
                        continue
                    for (obj, name, old), (_, _, new) in zip(kept, switch, strict=True):
                        setattr(obj, name, old if side == "on" else new)
                    _block(governed_call, 25, on if side == "on" else off)
        finally:
            for obj, name, old in kept:
                setattr(obj, name, old)
        whole += on
        result["stages"][stage] = (statistics.median(on) - statistics.median(off)) / 1000
    result["raw_us"] = statistics.median(raws) / 1000
    result["governed_us"] = statistics.median(whole) / 1000
    result["added_us"] = result["governed_us"] - result["raw_us"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1500, help="calls per side and stage")
    parser.add_argument("--policies", choices=("default", "all"), default="default")
    parser.add_argument(
        "--only", default="", help="only the rows whose stage contains this (and the noise floor)"
    )
    args = parser.parse_args()
    _variants.clean_environment()
    _guard.install()
    found = measure(args.n, args.policies, args.only)
    prompt = "10 KB prompt" if args.policies == "all" else "short prompt"
    print(f"policies: {args.policies}, {prompt}, audit to a file; thread CPU µs per call, medians")
    print(
        f"raw SDK {found['raw_us']:.1f}, governed {found['governed_us']:.1f}, "
        f"added {found['added_us']:+.1f}"
    )
    print("| stage switched off | its cost inside a whole call (µs) |")
    print("|---|---|")
    for stage, cost in found["stages"].items():
        print(f"| {stage} | {cost:.1f} |")
    if _guard.attempts:
        raise SystemExit(f"network attempts blocked: {len(_guard.attempts)}")


if __name__ == "__main__":
    main()
