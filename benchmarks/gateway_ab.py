"""What a change or a feature costs the gateway: two variants compared request by request.

Run: ``python -m benchmarks.gateway_ab [--seconds 20] [--rate 200] A B``

``A`` and ``B`` are variants, ``SOURCE[,audit][,limit]``: ``SOURCE`` a golden-path checkout
(``.`` for this one), ``audit`` the stdout audit sink (to /dev/null), ``limit`` a rate limit,
as in ``benchmarks.gateway``; or ``floor``, the least proxy on the gateway's server
(``benchmarks._floor``). For example::

    python -m benchmarks.gateway_ab . .,audit,limit                    # what audit and a limit add
    python -m benchmarks.gateway_ab ../before,audit,limit .,audit,limit   # what a change saved
    python -m benchmarks.gateway_ab . .                                # the method's own noise
    python -m benchmarks.gateway_ab floor .                            # what golden-path adds

Both gateways and a direct call to the fixed-response server run at once, from one thread,
one request at a time, in an order shuffled every round of three, each at ``--rate`` requests
per second. So the host's noise (these are shared machines: between two runs of
``benchmarks.gateway`` on the same code, the gateway's added p50 moves by 0.1-0.2 ms) falls on
both variants alike, request by request, and a difference of a few microseconds shows.
Printed: each variant's p50, p25 and p75 from the send, its added p50 over the direct call,
its CPU per request, and B - A at the median. A run of a variant against itself shows the
method's own noise: within about 2 us on the 2-core development machine.

``benchmarks.gateway`` gives the targets' figures (open loop, each proxy in phases of its own
beside a direct call); this gives what one step costs, which those figures cannot resolve.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.gateway import (
    MODEL,
    Target,
    _cpu_seconds,
    start_floor,
    start_gateway,
    start_upstream,
    stop,
)

REPO = Path(__file__).resolve().parent.parent


def variant(text: str) -> tuple[Path | None, bool, bool]:
    """``SOURCE[,audit][,limit]`` as (checkout, audit, limit); ValueError names what is wrong.

    ``floor`` is no checkout: the least proxy on the gateway's server (``benchmarks._floor``),
    with no options.
    """
    source, *options = text.split(",")
    if source == "floor":
        if options:
            raise ValueError(f"{text!r}: the floor takes no options")
        return None, False, False
    unknown = set(options) - {"audit", "limit"}
    if unknown:
        raise ValueError(f"{text!r}: unknown option {sorted(unknown)[0]!r} (audit, limit)")
    path = (REPO if source in ("", ".") else Path(source)).resolve()
    if not (path / "golden_path" / "__init__.py").is_file():
        raise ValueError(f"{text!r}: {path} is not a golden-path checkout (no golden_path/)")
    return path, "audit" in options, "limit" in options


def main(argv: list[str] | None = None) -> int:
    """Run the A/B and print its figures."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gateway_ab", description=__doc__)
    parser.add_argument("a", metavar="A", help="a variant: SOURCE[,audit][,limit]")
    parser.add_argument("b", metavar="B", help="another variant")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds not counted")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second each")
    args = parser.parse_args(argv)
    try:
        variants = {"A": variant(args.a), "B": variant(args.b)}
    except ValueError as exc:
        parser.error(str(exc))
    server, port = start_upstream(REPO)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            targets = {"D": Target("direct", port, f"/v1beta/models/{MODEL}:generateContent", {})}
            for tag, (source, audit, limit) in variants.items():
                workdir = Path(tmp) / tag
                workdir.mkdir()
                if source is None:
                    process, target = start_floor(f"http://127.0.0.1:{port}")
                    processes.append(process)
                    targets[tag] = target
                    continue
                process, target = start_gateway(
                    f"http://127.0.0.1:{port}",
                    workdir,
                    policy=False,
                    audit=audit,
                    limit=limit,
                    source=source,
                )
                processes.append(process)
                targets[tag] = target
            latencies, cpu = _interleaved(targets, args.rate, args.seconds, args.warmup)
    finally:
        stop(processes, server)
    _print(args, latencies, cpu)
    return 0


def _interleaved(
    targets: dict[str, Target], rate: float, seconds: float, warmup: float
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Every target at ``rate``, one request at a time in a shuffled order; latency from send."""
    connections = {tag: target.connection() for tag, target in targets.items()}
    order = list(targets)
    slot = 1.0 / rate / len(order)
    warm = int(warmup / slot)
    total = warm + int(seconds / slot)
    latencies: dict[str, list[float]] = {tag: [] for tag in targets}
    shuffle = random.Random(0).shuffle  # an order, not a secret
    cpu_before: dict[str, float] = {}
    start = time.perf_counter()
    for n in range(total):
        if n == warm:
            cpu_before = {tag: _cpu_seconds(t.pid) for tag, t in targets.items()}
        if n % len(order) == 0:
            shuffle(order)
        tag = order[n % len(order)]
        due = start + n * slot
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
        sent = time.perf_counter()
        targets[tag].call(connections[tag])
        if n >= warm:
            latencies[tag].append(time.perf_counter() - sent)
    cpu = {
        tag: (_cpu_seconds(t.pid) - cpu_before[tag]) / max(len(latencies[tag]), 1) * 1e6
        for tag, t in targets.items()
    }
    for connection in connections.values():
        connection.close()
    return latencies, cpu


def _print(
    args: argparse.Namespace, latencies: dict[str, list[float]], cpu: dict[str, float]
) -> None:
    direct = statistics.median(latencies["D"])
    print(
        f"gateway A/B: {args.rate:g} req/s each, interleaved request by request, "
        f"{args.seconds:g} s; latency from the send"
    )
    print(
        f"{'':3}{'variant':40}{'n':>6}{'p25 us':>9}{'p50 us':>9}{'p75 us':>9}"
        f"{'added p50 ms':>14}{'CPU us/req':>12}"
    )
    for tag, text in (("A", args.a), ("B", args.b), ("D", "direct call")):
        values = sorted(latencies[tag])
        n = len(values)
        added = f"{(statistics.median(values) - direct) * 1000:.3f}" if tag != "D" else ""
        print(
            f"{tag:3}{text[:39]:40}{n:>6}{values[n // 4] * 1e6:>9.1f}"
            f"{statistics.median(values) * 1e6:>9.1f}{values[3 * n // 4] * 1e6:>9.1f}"
            f"{added:>14}{cpu[tag] if tag != 'D' else 0:>12.0f}"
        )
    change = (statistics.median(latencies["B"]) - statistics.median(latencies["A"])) * 1e6
    print(f"B - A at the median: {change:+.1f} us")


if __name__ == "__main__":
    raise SystemExit(main())
