"""In-process measurements. Variants are interleaved in blocks, each round in a rotated order,
so machine noise (other processes, CPU frequency, GC) lands on all of them alike."""

from __future__ import annotations

import asyncio
import gc
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks._variants import Variant

perf = time.perf_counter
cpu = time.thread_time


def _rounds(variants: Sequence[Variant], n: int, block: int) -> Any:
    rounds = max(1, -(-n // block))
    for r in range(rounds):
        shift = r % len(variants)
        yield list(variants[shift:]) + list(variants[:shift]), min(block, n - r * block)


def share(variant: Variant, size: int) -> int:
    return max(1, round(size * variant.weight))


def per_call(
    variants: Sequence[Variant], prompt: str, n: int, block: int = 25, warmup: int = 20
) -> dict[str, tuple[list[float], list[float]]]:
    """(wall seconds, this thread's CPU seconds) per sync ``generate_content``.

    CPU time is what the client itself spends; unlike wall time it does not grow when other
    processes take the cores, so it backs up a ratio measured on a busy machine.
    """
    live = [v for v in variants if v.available and v.sync is not None]
    for v in live:
        for _ in range(warmup):
            v.sync(prompt)  # type: ignore[misc]
    samples: dict[str, tuple[list[float], list[float]]] = {v.key: ([], []) for v in live}
    for order, size in _rounds(live, n, block):
        for v in order:
            call, (walls, cpus) = v.sync, samples[v.key]
            assert call is not None
            for _ in range(share(v, size)):
                c0 = cpu()
                t0 = perf()
                call(prompt)
                t1 = perf()
                cpus.append(cpu() - c0)
                walls.append(t1 - t0)
    return samples


def streaming(
    variants: Sequence[Variant], prompt: str, n: int, block: int = 20, warmup: int = 10
) -> dict[str, tuple[list[float], list[float]]]:
    """(seconds to first chunk, seconds to the end of the stream) per variant."""
    live = [v for v in variants if v.available and v.stream is not None]

    def one(open_stream: Callable[[str], Any]) -> tuple[float, float]:
        t0 = perf()
        chunks = open_stream(prompt)
        next(chunks)
        first = perf() - t0
        for _ in chunks:
            pass
        return first, perf() - t0

    for v in live:
        for _ in range(warmup):
            one(v.stream)  # type: ignore[arg-type]
    samples: dict[str, tuple[list[float], list[float]]] = {v.key: ([], []) for v in live}
    for order, size in _rounds(live, n, block):
        for v in order:
            firsts, totals = samples[v.key]
            for _ in range(share(v, size)):
                first, total = one(v.stream)
                firsts.append(first)
                totals.append(total)
    return samples


def throughput(
    variants: Sequence[Variant],
    prompt: str,
    concurrency: Sequence[int],
    requests: int,
    rounds: int,
    cpu: dict[int, dict[str, list[float]]] | None = None,
) -> dict[int, dict[str, list[float]]]:
    """Requests per second with ``c`` requests in flight, ``rounds`` runs per variant.

    ``cpu``, when given, receives the process's CPU seconds per request of each run: the
    client's own work (the server is another process), which other load moves far less than
    the request rate.

    One event loop for everything: SDK async clients are bound to the loop that first used
    them, and a fresh loop per run would time connection set-up instead of requests.
    """
    live = [v for v in variants if v.available and v.make_async is not None]

    async def run_round(call: Callable[[str], Any], total: int, c: int) -> tuple[float, float]:
        remaining = total

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await call(prompt)

        t0, c0 = perf(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(c)))
        return total / (perf() - t0), (time.process_time() - c0) / total

    async def main() -> dict[int, dict[str, list[float]]]:
        calls = {v.key: v.make_async() for v in live}  # type: ignore[misc]
        results: dict[int, dict[str, list[float]]] = {}
        for c in concurrency:
            for v in live:  # open the pool's connections before anything is timed
                await run_round(calls[v.key], c, c)
            per: dict[str, list[float]] = {v.key: [] for v in live}
            spent: dict[str, list[float]] = {v.key: [] for v in live}
            for r in range(rounds):
                shift = r % len(live)
                for v in live[shift:] + live[:shift]:
                    gc.collect()
                    rate, seconds = await run_round(calls[v.key], share(v, requests), c)
                    per[v.key].append(rate)
                    spent[v.key].append(seconds)
            results[c] = per
            if cpu is not None:
                cpu[c] = spent
        return results

    return asyncio.run(main())


def construction(builders: dict[str, Callable[[], Any]], n: int) -> dict[str, list[float]]:
    """Seconds to build one client, interleaved one of each per round."""
    samples: dict[str, list[float]] = {k: [] for k in builders}
    for build in builders.values():
        build()  # imports and first-use caches are cold start, not construction
    keep: list[Any] = []
    for r in range(n):
        keys = list(builders)
        shift = r % len(keys)
        for k in keys[shift:] + keys[:shift]:
            t0 = perf()
            keep.append(builders[k]())
            samples[k].append(perf() - t0)
        if len(keep) > 50:
            keep.clear()  # freed outside the timed region
            gc.collect()
    return samples


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def progress(message: str) -> None:
    sys.stderr.write(f"[benchmarks] {message}\n")
    sys.stderr.flush()
