"""The benchmark command runs end to end in its tiny mode (no timing is asserted: speed is
measured by ``python -m benchmarks`` itself, never by the test suite)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_quick_run_prints_every_section_and_writes_the_report(tmp_path: Path) -> None:
    """`python -m benchmarks --quick --out F` exits 0, reaches no network, prints a row (or a
    visible "not available") for every benchmark, and splices the report between F's markers."""
    out = tmp_path / "benchmarks.md"
    out.write_text(
        "# Before\n<!-- results:start -->\nSTALE RESULTS\n<!-- results:end -->\n# After\n",
        encoding="utf-8",
    )
    done = _run("benchmarks", "--quick", "--out", str(out))
    table = done.stdout
    assert "| Benchmark | Variant | Median | vs raw SDK | Target | Result |" in table
    for section in (
        "1. Per-call latency",
        "2. Streaming",
        "3. Async throughput, 64 in flight",
        "3. Async throughput, 256 in flight",
        "4. Cold start",
        "4. Peak RSS after one call",
        "5. Client construction",
        "6. Policy chain",
        "6. Rate limits + budgets",
        "7. Stages of a governed sync call",
    ):
        assert section in table, section
    for row in (
        "raw google-genai SDK, small prompt",
        "golden-path, no policies, no audit, small prompt",
        "golden-path, every built-in on, audit to a file, 10 KB prompt",
        "LiteLLM, small prompt",
        "before: pii",
        "audit (build, render, write)",
    ):
        assert row in table, row
    assert "network attempts blocked: 0" in table
    assert "Traceback" not in done.stderr
    written = out.read_text(encoding="utf-8")
    assert written.startswith("# Before\n<!-- results:start -->\n")
    assert written.endswith("<!-- results:end -->\n# After\n")
    assert "STALE RESULTS" not in written
    assert "| Benchmark | Variant |" in written


def test_ablation_runs_every_stage() -> None:
    """`python -m benchmarks.ablate` still fits golden-path's private names: a row per stage."""
    done = _run("benchmarks.ablate", "--n", "25")
    for row in (
        "nothing (noise floor)",
        "audit: the whole event",
        "parsing the answer",
        "policy pii: on_request",
        "policy routes: on_request",
    ):
        assert f"| {row}" in done.stdout, row


def _run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m module args`` in the repository; it must exit 0."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_gateway_benchmark_and_its_ab_run_end_to_end() -> None:
    """`python -m benchmarks.gateway` prints a row per target; `benchmarks.gateway_ab` compares
    two variants and refuses an unknown option with a one-line usage error (exit 2)."""
    done = _run("benchmarks.gateway", "--seconds", "1", "--warmup", "0.2", "--rounds", "1")
    for row in ("direct ", "uvicorn floor ", "gateway ", "gateway+audit+limit "):
        assert f"\n{row}" in done.stdout, row
    assert "golden-path's own code, over the uvicorn floor" in done.stdout
    done = _run(
        "benchmarks.gateway_ab", "--seconds", "1", "--warmup", "0.2", "floor", ".,audit,limit"
    )
    assert "B - A at the median:" in done.stdout
    assert "\nA  floor " in done.stdout
    assert ".,audit,limit" in done.stdout
    for variant, error in (
        (".,fast", "unknown option 'fast' (audit, limit)"),
        ("floor,audit", "'floor,audit': the floor takes no options"),
    ):
        bad = subprocess.run(
            [sys.executable, "-m", "benchmarks.gateway_ab", ".", variant],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert bad.returncode == 2
        assert error in bad.stderr
        assert "Traceback" not in bad.stderr


def test_the_floor_row_proxies_the_upstream_answers() -> None:
    """The floor row is a real proxy: the upstream's status and bytes come back through it, so
    its figure is a request's round trip through the server, not a canned answer."""
    import http.client
    import json

    from benchmarks.gateway import start_floor, start_upstream, stop

    server, port = start_upstream(REPO)
    floor, target = start_floor(f"http://127.0.0.1:{port}")
    try:
        answers = []
        for where in (port, target.port, target.port):  # twice: the kept-alive connection
            for path in (target.path, "/v1beta/models/m:nothingHere"):
                conn = http.client.HTTPConnection("127.0.0.1", where, timeout=10)
                conn.request("POST", path, b'{"contents": []}', target.headers)
                response = conn.getresponse()
                answers.append((where == port, response.status, response.read()))
                conn.close()
    finally:
        stop([floor], server)
    direct = [(status, body) for is_direct, status, body in answers if is_direct]
    proxied = [(status, body) for is_direct, status, body in answers if not is_direct]
    assert [status for status, _ in direct] == [200, 404]
    assert proxied == direct * 2
    assert json.loads(direct[0][1])["candidates"][0]["content"]["parts"][0]["text"]
