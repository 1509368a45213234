"""One process of the fleet tests: N threads spending one Redis-backed budget until it is gone.

Run as ``python fleet_worker.py EMULATOR_URL REDIS_URL BUDGET THREADS GO_FILE NOW [MODE]``;
prints one JSON line: the calls allowed, their real token usage, the calls refused while Redis
did not answer, and the largest amount by which a call's real usage exceeded its reservation
(what can overshoot while it is in flight). MODE ``faults`` streams every call, gives Redis
only 200 ms, and rides out a paused Redis by trying again (the fault test pauses it).
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

import golden_path
from golden_path._settings import Settings
from golden_path.exceptions import BudgetExceeded, PolicyViolation
from golden_path.policies._limits import build_limit_policies


class Observe:
    """Sits after the limiter, so its after-hook runs first and still sees the reservation."""

    name = "observe"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.excess = 0

    def on_request(self, request: Any) -> None:
        pass

    def on_response(self, request: Any, response: Any) -> None:
        plan = request.state.get("limits.reservation")
        if plan is not None and response.usage is not None:
            used = response.usage.total_tokens
            if used:
                with self.lock:
                    self.excess = max(self.excess, used - plan.estimate)


def main() -> None:
    emulator_url, redis_url, budget, threads, go_file, now = sys.argv[1:7]
    faults = sys.argv[7:8] == ["faults"]
    timeout_ms = 200 if faults else 2000
    policies = build_limit_policies(
        {"budgets": {"tokens_per_day": int(budget), "default_output_tokens": 1}},
        settings=Settings(state_url=f"{redis_url}?timeout_ms={timeout_ms}", team="fleet"),
        locate=lambda field: field,
        clock=lambda: float(now),
    )
    observe = Observe()
    client = golden_path.create_client(
        backend="ai_studio",
        api_key="k",
        base_url=emulator_url,
        retry_attempts=1,
        team="fleet",
        audit_sink="none",
        policies=[*policies, observe],
    )
    totals = {"allowed": 0, "tokens": 0, "unreachable": 0}
    errors: list[str] = []
    lock = threading.Lock()

    def call(words: str) -> int:
        if not faults:
            response = client.models.generate_content(model="gemini-2.5-flash", contents=words)
            return int(response.usage_metadata.total_token_count)
        last = None
        for chunk in client.models.generate_content_stream(
            model="gemini-2.5-flash", contents=words
        ):
            last = chunk
        assert last is not None
        return int(last.usage_metadata.total_token_count)

    def work(seed: int) -> None:
        rng = random.Random(seed)
        while True:
            words = " ".join("word" for _ in range(rng.randint(1, 12)))
            try:
                tokens = call(words)
            except BudgetExceeded:
                return
            except PolicyViolation as exc:
                if not faults or "state store unreachable" not in exc.reason:
                    with lock:
                        errors.append(exc.reason)
                    return
                with lock:
                    totals["unreachable"] += 1
                time.sleep(0.05)  # Redis is paused: try again shortly
                continue
            except Exception as exc:  # reported to the test, which fails on any
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                return
            with lock:
                totals["allowed"] += 1
                totals["tokens"] += tokens

    # Ready (imports done, client built): the test starts every process's threads at once.
    Path(f"{go_file}.ready.{os.getpid()}").touch()
    while not Path(go_file).exists():
        time.sleep(0.005)
    workers = [threading.Thread(target=work, args=(i,)) for i in range(int(threads))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    print(json.dumps({**totals, "max_excess": observe.excess, "errors": errors}))


if __name__ == "__main__":
    main()
