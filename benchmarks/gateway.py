"""What the gateway adds to a call: latency (p50, p99) and CPU against a direct call, throughput.

Run: ``python -m benchmarks.gateway [--seconds 30] [--warmup 3] [--rate 200] [--litellm]``

One run, side by side, on loopback:

- **direct**: the client calls the fixed-response server (``benchmarks._server``) itself;
- **uvicorn floor**: the least a Python proxy does (``benchmarks._floor``) on uvicorn configured
  as the gateway configures it: the server, the event loop and the two extra hops, and nothing
  of golden-path's, so the gateway rows' distance from it is what golden-path's own code costs;
- **gateway**: the same request through ``python -m golden_path.gateway`` (its own process,
  uvicorn + httptools, app key auth, no policy file, audit off);
- **gateway+audit+limit**: the same with a rate limit and the stdout audit sink (to /dev/null);
- **LiteLLM proxy** (``--litellm``): ``litellm --config`` in its own venv
  (``--litellm-venv``, default ``~/.cache/golden-path/litellm-proxy``; created from PyPI with
  ``pip install 'litellm[proxy]==LITELLM_VERSION'`` when it has no ``litellm`` yet, a few minutes
  the first time: it cannot share golden-path's venv, as it pins openai<3) forwarding OpenAI chat
  completions to the same server's generateContent, in a phase of its own after the others.

The gateway runs on uvloop when it is importable in this Python (``golden-path[gateway]`` brings
it, and the base image has it), else on asyncio's own loop (``--loop asyncio`` hides uvloop to
measure that case where it is installed); the table's heading says which.

Latency is measured open loop at ``--rate`` requests per second (default 200, the target's
load) for each target at once, each on its own thread and keep-alive connection, after
``--warmup`` uncounted seconds; the targets' schedules are staggered (the proxy's request half an
interval after the direct call), so neither request waits for the other in the server, the client
or on the two cores. A request's latency counts from when it was due, so a stall
is charged to every request queued behind it. 30 s give 6000 samples per target; the p99 is
printed with its 95% confidence interval (order statistics), so a p99 that moves within it has
not moved. "added" is each percentile minus the direct call's in the same phase. Each
gateway's seconds are split into ``--rounds`` phases (default 3) that take turns with the
other gateway's, and the table gives each figure's median over its rounds (samples summed),
with every round's added p50 printed below it: a burst of outside noise lands in one round.
CPU is the proxy process's user+system time per request (the rounds' median). Throughput is
8 keep-alive connections as fast as they go for a few seconds. Targets: added p50 <= 0.5
ms, p99 <= 2 ms.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

MODEL = "gemini-2.5-flash"
BODY = json.dumps({"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}).encode()
OPENAI_BODY = json.dumps(
    {"model": MODEL, "messages": [{"role": "user", "content": "hello"}]}
).encode()
FLOOR = "uvicorn floor"
LITELLM_VENV = Path.home() / ".cache" / "golden-path" / "litellm-proxy"
# The release the comparison was last run with; a newer one may be faster or slower, so it moves
# on purpose (delete the venv, or point --litellm-venv elsewhere, to build it again).
LITELLM_VERSION = "1.108.7"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Target:
    """One thing to call: host, port, path, headers, and the process to charge CPU to."""

    def __init__(
        self,
        name: str,
        port: int,
        path: str,
        headers: dict[str, str],
        body: bytes = BODY,
        pid: int | None = None,
    ) -> None:
        self.name = name
        self.port = port
        self.path = path
        self.headers = {"content-type": "application/json", **headers}
        self.body = body
        self.pid = pid

    def connection(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def call(self, conn: http.client.HTTPConnection) -> None:
        try:
            conn.request("POST", self.path, self.body, self.headers)
            response = conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError):
            # A server that closed the kept-alive connection: reopen once, as clients do.
            conn.close()
            conn.request("POST", self.path, self.body, self.headers)
            response = conn.getresponse()
        data = response.read()
        if response.getheader("connection", "").lower() == "close":
            conn.close()
        if response.status != 200:
            raise RuntimeError(f"{self.name}: HTTP {response.status}: {data[:300]!r}")


def _cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    # utime, stime of the process (the proxies run no children that serve requests).
    return (int(fields[11]) + int(fields[12])) / ticks


def latency(
    targets: list[Target], rate: float, seconds: float, warmup: float = 2.0
) -> dict[str, dict[str, float]]:
    """Open loop at ``rate`` per target: each target has its own thread, connection and schedule.

    A request's latency runs from the moment the schedule said to send it, not from when it
    was sent: a stall (the proxy's or the machine's) delays the requests queued behind it, and
    they count it, as an app's requests would (no coordinated omission). Targets run side by
    side, so a slow one cannot delay another's requests, and their schedules are staggered
    across the interval: sent at the same instants, each request queued behind the other in
    the fixed-response server and in this process (one GIL), and the direct call, the
    baseline, measured 0.39-0.40 ms at the median instead of 0.30-0.33. ``warmup`` seconds at
    the same rate come first and are not counted (imports, caches, the proxies' upstream pools).
    """
    results: dict[str, list[float]] = {}
    served: dict[str, list[float]] = {}
    cpu: dict[str, float] = {}
    errors: list[BaseException] = []
    start_line = threading.Barrier(len(targets))

    def run(target: Target) -> None:
        try:
            conn = target.connection()
            interval = 1.0 / rate
            offset = interval * targets.index(target) / len(targets)
            start_line.wait()
            due = time.perf_counter() + offset
            due = _schedule(target, conn, interval, due, due + warmup, [], [])
            samples: list[float] = []
            service: list[float] = []
            before = _cpu_seconds(target.pid)
            _schedule(target, conn, interval, due, due + seconds, samples, service)
            cpu[target.name] = _cpu_seconds(target.pid) - before
            results[target.name] = samples
            served[target.name] = service
            conn.close()
        except BaseException as exc:
            errors.append(exc)
            start_line.abort()

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    out = {}
    for target in targets:
        values = sorted(results[target.name])
        n = len(values)
        low, high = _p99_bounds(n)
        out[target.name] = {
            "n": n,
            "p50_ms": values[n // 2] * 1000,
            "p99_ms": values[min(int(n * 0.99), n - 1)] * 1000,
            "p99_low_ms": values[low] * 1000,
            "p99_high_ms": values[high] * 1000,
            "cpu_us_per_req": cpu[target.name] / n * 1e6 if target.pid else 0.0,
        }
        # From the send itself: what the old closed-loop figure was; the gap to the open-loop
        # one is time spent queued behind a late request (the proxy's or the machine's fault).
        service = sorted(served[target.name])
        out[target.name]["service_p50_ms"] = service[n // 2] * 1000
        out[target.name]["service_p99_ms"] = service[min(int(n * 0.99), n - 1)] * 1000
    return out


def _schedule(
    target: Target,
    conn: http.client.HTTPConnection,
    interval: float,
    due: float,
    end: float,
    samples: list[float],
    service: list[float],
) -> float:
    while due < end:
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
        sent = time.perf_counter()
        target.call(conn)
        done = time.perf_counter()
        samples.append(done - due)
        service.append(done - sent)
        due += interval
    return due


def _p99_bounds(n: int) -> tuple[int, int]:
    """Ranks that bracket the true p99 with about 95% confidence (binomial order statistics)."""
    spread = 1.96 * (n * 0.99 * 0.01) ** 0.5
    return max(int(n * 0.99 - spread), 0), min(int(n * 0.99 + spread) + 1, n - 1)


def throughput(target: Target, seconds: float, connections: int = 8) -> float:
    """Requests per second with ``connections`` keep-alive clients calling back to back."""
    stop = time.perf_counter() + seconds
    counts = [0] * connections

    def worker(index: int) -> None:
        conn = target.connection()
        try:
            while time.perf_counter() < stop:
                target.call(conn)
                counts[index] += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)


def _wait_port(port: int, process: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            time.sleep(0.1)
        else:
            return
    raise RuntimeError(f"{what} did not listen on {port} within {timeout} s")


# A gateway installed without uvloop: uvicorn falls back to asyncio's own loop.
_WITHOUT_UVLOOP = (
    "import sys; sys.modules['uvloop'] = None; "
    "from golden_path.cli import main; sys.exit(main(['gateway']))"
)


def start_gateway(
    upstream: str,
    workdir: Path,
    *,
    policy: bool,
    loop: str = "auto",
    audit: bool | None = None,
    limit: bool | None = None,
    source: Path | None = None,
) -> tuple[subprocess.Popen[bytes], Target]:
    """``python -m golden_path.gateway`` in front of ``upstream``; its Target.

    ``policy``: the stdout audit sink and a rate limit (``audit``/``limit`` pick one alone).
    ``loop="asyncio"`` hides uvloop from the gateway (asyncio's own loop). ``source``: run the
    golden-path of that checkout instead of this one (benchmarks.gateway_ab).
    """
    from golden_path.gateway import issue_key

    audit = policy if audit is None else audit
    limit = policy if limit is None else limit
    keys = workdir / f"keys-{audit}-{limit}.toml"
    key, _ = issue_key(keys, app="bench", team="perf")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOLDEN_PATH_", "GOOGLE_"))}
    env |= {
        "GOLDEN_PATH_BACKEND": "ai_studio",
        "GOLDEN_PATH_API_KEY": "bench-key",
        "GOLDEN_PATH_BASE_URL": upstream,
        "GOLDEN_PATH_AUDIT_SINK": "stdout" if audit else "none",
        "GOLDEN_PATH_GATEWAY_KEYS_FILE": str(keys),
        "GOLDEN_PATH_GATEWAY_PORT": str(port),
    }
    if limit:
        limits = workdir / "limits.toml"
        limits.write_text('[rate_limits]\nrequests_per_minute = 100000000\nscope = "app"\n')
        env["GOLDEN_PATH_POLICY_FILE"] = str(limits)
    if source is not None:
        # The checkout's own package first: `-m` puts the working directory on the path.
        env["PYTHONPATH"] = str(source)
    command = ["-c", _WITHOUT_UVLOOP] if loop == "asyncio" else ["-m", "golden_path.gateway"]
    process = subprocess.Popen(
        [sys.executable, *command],
        env=env,
        cwd=source,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_port(port, process, "the gateway", 60)
    name = "gateway+audit+limit" if audit and limit else "gateway+audit" if audit else "gateway"
    name += "+limit" if limit and not audit else ""
    path = f"/v1beta/models/{MODEL}:generateContent"
    return process, Target(name, port, path, {"x-goog-api-key": key}, pid=process.pid)


def start_floor(upstream: str, loop: str = "auto") -> tuple[subprocess.Popen[bytes], Target]:
    """``benchmarks._floor`` in front of ``upstream``: uvicorn as the gateway runs it, least app."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._floor", upstream, str(port)]
        + (["asyncio"] if loop == "asyncio" else []),
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_port(port, process, "the floor proxy", 60)
    path = f"/v1beta/models/{MODEL}:generateContent"
    return process, Target(FLOOR, port, path, {}, pid=process.pid)


def ensure_litellm(venv: Path) -> Path | str:
    """``litellm`` in ``venv``, installed from PyPI first when missing; else why it is not."""
    binary = venv / "bin" / "litellm"
    if binary.exists():
        return binary
    requirement = f"litellm[proxy]=={LITELLM_VERSION}"
    print(f"creating LiteLLM's proxy venv in {venv} ({requirement}) ...", file=sys.stderr)
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", requirement],
    ]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=1800, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"could not create LiteLLM's venv ({' '.join(step[:4])}): {exc}"
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return (
                f"could not create LiteLLM's venv: {' '.join(step)} exited {done.returncode}: "
                + " / ".join(tail)
            )
    if not binary.exists():
        return f"{requirement} installed no {binary}"
    return binary


def start_litellm(
    upstream: str, workdir: Path, venv: Path = LITELLM_VENV
) -> tuple[subprocess.Popen[bytes], Target] | str:
    """LiteLLM's proxy in its own venv, or the reason it cannot run."""
    binary = ensure_litellm(venv)
    if isinstance(binary, str):
        return binary
    config = workdir / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: gemini/{MODEL}\n"
        f"      api_base: {upstream}/v1beta\n"
        "      api_key: bench-key\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        "  drop_params: true\n"
    )
    port = _free_port()
    # Authenticated like the gateway (a key per request), with LiteLLM's master key.
    master = "sk-" + secrets.token_hex(32)
    env = dict(os.environ) | {
        "LITELLM_LOG": "ERROR",
        "LITELLM_MODE": "PRODUCTION",
        "LITELLM_MASTER_KEY": master,
    }
    process = subprocess.Popen(
        [str(binary), "--config", str(config), "--port", str(port), "--host", "127.0.0.1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=workdir,
    )
    try:
        _wait_port(port, process, "LiteLLM's proxy", 180)
    except RuntimeError as exc:
        process.kill()
        return str(exc)
    target = Target(
        "LiteLLM proxy",
        port,
        "/chat/completions",
        {"authorization": f"Bearer {master}"},
        body=OPENAI_BODY,
        pid=process.pid,
    )
    return process, target


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print a table (and JSON with --json)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gateway", description=__doc__)
    parser.add_argument(
        "--seconds", type=float, default=30.0, help="measured seconds (6000 samples at 200/s)"
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds not counted")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="each gateway's seconds in this many phases, the gateways' phases taking turns; "
        "the added figures are the median of the rounds' (default %(default)s)",
    )
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--litellm", action="store_true", help="add LiteLLM's proxy")
    parser.add_argument(
        "--loop",
        choices=("auto", "asyncio"),
        default="auto",
        help="the gateway's event loop: uvloop when installed (auto, as in the base image), "
        "or asyncio's own, as a replica installed without uvloop runs it",
    )
    parser.add_argument(
        "--litellm-venv",
        type=Path,
        default=LITELLM_VENV,
        help="LiteLLM's venv, created there from PyPI when missing (default: %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args(argv)

    server, port = start_upstream()
    upstream = f"http://127.0.0.1:{port}"
    processes: list[subprocess.Popen[bytes]] = [server]
    results: dict[str, Any] = {
        "rate": args.rate,
        "seconds": args.seconds,
        "rounds": max(1, args.rounds),
        "loop": "uvloop"
        if args.loop == "auto" and importlib.util.find_spec("uvloop")
        else "asyncio",
    }
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            direct = Target("direct", port, f"/v1beta/models/{MODEL}:generateContent", {})
            gateway, gw = start_gateway(upstream, workdir, policy=False, loop=args.loop)
            processes.append(gateway)
            governed, gw_policy = start_gateway(upstream, workdir, policy=True, loop=args.loop)
            processes.append(governed)
            floor, floor_target = start_floor(upstream, args.loop)
            processes.append(floor)
            targets = [direct, floor_target, gw, gw_policy]
            litellm = None
            if args.litellm:
                started = start_litellm(upstream, workdir, args.litellm_venv)
                if isinstance(started, str):
                    results["litellm_error"] = started
                    print(f"LiteLLM proxy skipped: {started}", file=sys.stderr)
                else:
                    processes.append(started[0])
                    litellm = started[1]
            load = _load()
            # Each proxy runs in a phase of its own beside a direct call at the same rate, so
            # each is compared with a direct call made under the same conditions, and no
            # proxy's CPU at this rate slows another's latencies on a small machine (the issue
            # sets the targets at 200 requests/s, not at the sum of every row's rate).
            # The gateways' phases take turns, in --rounds rounds of seconds/rounds each: a
            # burst of noise from outside (these are shared machines) lands in one round of
            # one gateway, and the median of the rounds' added figures leaves it out. Each
            # round's figure is printed too.
            rounds = max(1, args.rounds)
            phases = [[direct, target] for _ in range(rounds) for target in targets[1:]]
            phases += [[direct, litellm]] if litellm is not None else []
            measured: dict[str, list[dict[str, float]]] = {}
            for phase in phases:
                proxy = phase[1]
                share = args.seconds if proxy is litellm else args.seconds / rounds
                lat = latency(phase, args.rate, share, warmup=args.warmup)
                base = lat["direct"]
                base["added_p50_ms"] = base["added_p99_ms"] = 0.0
                row = lat[proxy.name]
                row["added_p50_ms"] = row["p50_ms"] - base["p50_ms"]
                row["added_p99_ms"] = row["p99_ms"] - base["p99_ms"]
                measured.setdefault("direct", []).append(base)
                measured.setdefault(proxy.name, []).append(row)
            rows = []
            for target in [direct, *targets[1:], *([litellm] if litellm is not None else [])]:
                row = _median_row(measured[target.name])
                row["throughput_rps"] = throughput(target, min(args.seconds, 5.0))
                rows.append((target.name, row))
            results["rows"] = dict(rows)
            results["load_before"] = load
            results["load_after"] = _load()
    finally:
        stop(processes[1:], server)
    _print(results)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


def start_upstream(cwd: Path | None = None) -> tuple[subprocess.Popen[bytes], int]:
    """The fixed-response server (``benchmarks._server``) and the port it listens on."""
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=cwd,
    )
    assert server.stdout is not None
    return server, int(server.stdout.readline())


def stop(proxies: list[subprocess.Popen[bytes]], server: subprocess.Popen[bytes]) -> None:
    """Stop the proxies (SIGTERM, as a supervisor would: gateways drain), then the server."""
    for process in reversed(proxies):
        process.send_signal(signal.SIGTERM)
    if server.stdin is not None:
        server.stdin.close()  # the server exits when its stdin closes
    for process in [*proxies, server]:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
    if server.stdout is not None:
        server.stdout.close()


def _median_row(rounds: list[dict[str, float]]) -> dict[str, Any]:
    """One row from its rounds: each figure's median over them, samples summed."""
    row: dict[str, Any] = {
        key: statistics.median(r[key] for r in rounds) for key in rounds[0] if key != "n"
    }
    row["n"] = sum(int(r["n"]) for r in rounds)
    row["rounds_added_p50_ms"] = [r.get("added_p50_ms", 0.0) for r in rounds]
    return row


def _load() -> float:
    return os.getloadavg()[0]


def _print(results: dict[str, Any]) -> None:
    rate = results["rate"]
    print(
        f"\ngateway benchmark: {rate:g} req/s per target, open loop, loopback, "
        f"{results['seconds']:g} s per target in {results.get('rounds', 1)} rounds, gateway on "
        "uvicorn + httptools + "
        f"{results.get('loop', '?')}, load {results.get('load_before', 0):.2f} before, "
        f"{results.get('load_after', 0):.2f} after"
    )
    header = (
        f"{'target':<22}{'n':>7}{'p50 ms':>10}{'p99 ms':>11}{'p99 95% CI':>20}{'added p50':>11}"
        f"{'added p99':>11}{'CPU us/req':>12}{'req/s (8 conns)':>17}"
    )
    print(header)
    print("-" * len(header))
    for name, row in results.get("rows", {}).items():
        ci = f"{row['p99_low_ms']:.2f}-{row['p99_high_ms']:.2f}"
        print(
            f"{name:<22}{row['n']:>7}{row['p50_ms']:>10.3f}{row['p99_ms']:>11.3f}{ci:>20}"
            f"{row['added_p50_ms']:>11.3f}"
            f"{row['added_p99_ms']:>11.3f}{row['cpu_us_per_req']:>12.0f}"
            f"{row['throughput_rps']:>17.0f}"
        )
    for name, row in results.get("rows", {}).items():
        rounds = row.get("rounds_added_p50_ms", [])
        if name != "direct" and len(rounds) > 1:
            each = ", ".join(f"{value:.3f}" for value in rounds)
            print(f"{name}: added p50 in each round {each} ms (the table: their median)")
    print("targets: added p50 <= 0.5 ms, added p99 <= 2 ms at 200 req/s")
    rows = results.get("rows", {})
    if FLOOR in rows:
        floor = rows[FLOOR]
        over = ", ".join(
            f"{name} {rows[name]['added_p50_ms'] - floor['added_p50_ms']:+.3f} ms p50 "
            f"({rows[name]['cpu_us_per_req'] - floor['cpu_us_per_req']:+.0f} us CPU)"
            for name in ("gateway", "gateway+audit+limit")
            if name in rows
        )
        print(f"golden-path's own code, over the {FLOOR} (the server and the hops alone): {over}")
    if "litellm_error" in results:
        print(f"LiteLLM proxy: not run: {results['litellm_error']}")
    litellm = rows.get("LiteLLM proxy")
    for name in ("gateway", "gateway+audit+limit"):
        if litellm is None or name not in rows:
            continue
        ours = rows[name]
        # Lower is better for the first three, higher for throughput.
        wins = [
            ours["added_p50_ms"] < litellm["added_p50_ms"],
            ours["added_p99_ms"] < litellm["added_p99_ms"],
            ours["cpu_us_per_req"] < litellm["cpu_us_per_req"],
            ours["throughput_rps"] > litellm["throughput_rps"],
        ]
        print(
            f"{name} vs LiteLLM proxy: added p50 {ours['added_p50_ms']:.3f} vs "
            f"{litellm['added_p50_ms']:.3f} ms, added p99 {ours['added_p99_ms']:.3f} vs "
            f"{litellm['added_p99_ms']:.3f} ms, CPU {ours['cpu_us_per_req']:.0f} vs "
            f"{litellm['cpu_us_per_req']:.0f} us/req, {ours['throughput_rps']:.0f} vs "
            f"{litellm['throughput_rps']:.0f} req/s: "
            + ("faster on every row" if all(wins) else "NOT faster on every row")
        )
    direct = results.get("rows", {}).get("direct")
    if direct and direct["p99_ms"] > 2 * direct["service_p99_ms"] + 1:
        print(
            "warning: even the direct calls queued behind late ones (open-loop p99 "
            f"{direct['p99_ms']:.1f} ms, per send {direct['service_p99_ms']:.1f} ms): the machine "
            "could not keep the schedule, so these figures measure it, not the proxies"
        )


if __name__ == "__main__":
    raise SystemExit(main())
