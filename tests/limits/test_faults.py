"""Limits stay exact under Redis faults: a paused server, a settlement sent twice, a process
that dies mid-call. Real redis-server processes, the real SDK against the emulator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from typing import Any

import pytest

from golden_path._state._types import Hold
from golden_path.exceptions import PolicyViolation

from .conftest import FIXED_NOW, Fleet, RedisServer

MODEL = "gemini-2.5-flash"
pytestmark = pytest.mark.redis


def day_key(team: str = "ml") -> str:
    return f"golden-path:{{{team}}}:team={team}:tokens:d2026-01-01"


def test_reservation_lost_to_a_paused_redis_is_undone_once(
    limits: Callable[..., list[Any]], make_client: Any, own_redis: RedisServer
) -> None:
    """Redis paused (SIGSTOP) while a reservation is in its socket: the call is refused after
    the timeout, and when Redis resumes and runs that reservation after all, the queued
    cancellation undoes it. The counter ends at what was really spent, nothing left behind."""
    policies = limits(
        state_url=f"{own_redis.url}?timeout_ms=100",
        budgets={"tokens_per_day": 1_000_000},
        clock=lambda: FIXED_NOW,
    )
    client = make_client(team="ml", policies=policies)
    first = client.models.generate_content(model=MODEL, contents="before the pause")
    spent = first.usage_metadata.total_token_count
    assert own_redis.process is not None
    os.kill(own_redis.process.pid, signal.SIGSTOP)
    try:
        with pytest.raises(PolicyViolation, match="state store unreachable"):
            client.models.generate_content(model=MODEL, contents="during the pause " * 20)
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)
    time.sleep(0.4)  # past the breaker; the resumed server has run what was queued in it
    policies[0].store.flush()  # the queued cancellation (also sent by the timer or next call)
    with own_redis.client() as raw:
        assert int(raw.get(day_key())) == spent
        assert raw.zcard("golden-path:{ml}:inflight") == 0


def test_a_settlement_sent_twice_counts_once(
    limits: Callable[..., list[Any]], make_client: Any, redis_url: str, redis_server: RedisServer
) -> None:
    """A pipeline that stalled and was re-sent must not apply its reconciliation twice: the
    second settlement of one reservation finds its record gone and changes nothing."""
    policies = limits(
        state_url=redis_url, budgets={"tokens_per_day": 1_000_000}, clock=lambda: FIXED_NOW
    )
    client = make_client(team="ml", policies=policies)
    store = policies[0].store
    response = client.models.generate_content(model=MODEL, contents="count me once")
    store.flush()
    spent = response.usage_metadata.total_token_count
    hold = Hold("golden-path:{ml}:hold:replayed", "golden-path:{ml}:inflight", 60_000)
    # The same settlement (a delta of +500) for a reservation that was already closed.
    store.settle(hold, [(day_key(), 500, 60_000)])
    store.flush()
    with redis_server.client() as raw:
        assert int(raw.get(day_key())) == spent


def test_a_crashed_process_gives_its_reservation_back(
    limits: Callable[..., list[Any]],
    make_client: Any,
    own_redis: RedisServer,
    emulator: Any,
    tmp_path: Any,
) -> None:
    """A worker killed (SIGKILL) in the middle of a call leaves its reservation in Redis; after
    the hold time the next reservation of its team sweeps it and the capacity comes back."""
    script = textwrap.dedent(
        f"""
        import golden_path, sys
        from golden_path._settings import Settings
        from golden_path.policies._limits import build_limit_policies
        policies = build_limit_policies(
            {{"budgets": {{"tokens_per_day": 1_000_000, "default_output_tokens": 5000}}}},
            settings=Settings(state_url={own_redis.url!r}, team="ml"),
            locate=lambda f: f, clock=lambda: {FIXED_NOW})
        policies[0].hold_ms = 500
        client = golden_path.create_client(backend="ai_studio", api_key="k",
            base_url={emulator.url!r}, retry_attempts=1, team="ml", audit_sink="none",
            policies=policies)
        stream = client.models.generate_content_stream(model="{MODEL}", contents="hi")
        next(iter(stream))
        print("reserved", flush=True)
        sys.stdin.readline()
        """
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdout is not None
    assert worker.stdout.readline().strip() == "reserved"
    with own_redis.client() as raw:
        held = int(raw.get(day_key()))
    assert held >= 5000  # the estimate: prompt + the 5000-token output cap
    worker.kill()
    worker.wait(timeout=10)
    worker.stdout.close()
    assert worker.stdin is not None
    worker.stdin.close()
    time.sleep(1.5)  # well past the dead worker's hold time
    policies = limits(
        state_url=own_redis.url, budgets={"tokens_per_day": 1_000_000}, clock=lambda: FIXED_NOW
    )
    client = make_client(team="ml", policies=policies)
    response = client.models.generate_content(model=MODEL, contents="after the crash")
    policies[0].store.flush()
    with own_redis.client() as raw:
        assert int(raw.get(day_key())) == response.usage_metadata.total_token_count
        assert raw.zcard("golden-path:{ml}:inflight") == 0


def test_fleet_with_a_paused_redis_and_a_killed_worker_stays_exact(
    own_redis: RedisServer, emulator: Any, tmp_path: Any
) -> None:
    """4 processes x 4 threads stream against one budget while Redis is paused twice (SIGSTOP
    for 0.5 s, past the 200 ms timeout). At the end the counter equals the real usage of every
    allowed call (no reservation left behind by a lost answer, no settlement counted twice, no
    hold left open) and the overshoot stays within what can be in flight. (A worker killed
    mid-call: test_a_crashed_process_gives_its_reservation_back.)"""
    budget, processes, threads = 4_000, 4, 4
    fleet = Fleet(
        tmp_path,
        emulator_url=emulator.url,
        redis_url=own_redis.url,
        budget=budget,
        processes=processes,
        threads=threads,
        mode="faults",
    )
    assert own_redis.process is not None
    with own_redis.client() as raw:
        fleet.start()
        # Each pause starts once the fleet is seen spending, well before the budget is gone:
        # a fixed delay missed the work entirely on a loaded machine (done, or not started).
        for spent_before_pause in (1, budget // 3):
            deadline = time.monotonic() + 60
            while int(raw.get(day_key("fleet")) or 0) < spent_before_pause:
                assert time.monotonic() < deadline, "the fleet never started spending"
                time.sleep(0.002)
            os.kill(own_redis.process.pid, signal.SIGSTOP)
            time.sleep(0.5)
            os.kill(own_redis.process.pid, signal.SIGCONT)
    results = fleet.results()
    time.sleep(0.5)  # settlements of the last calls, sent at exit, have landed
    with own_redis.client() as raw:
        counted = int(raw.get(day_key("fleet")))
        open_holds = raw.zcard("golden-path:{fleet}:inflight")
    real = sum(r["tokens"] for r in results)
    bound = processes * threads * max(r["max_excess"] for r in results)
    unreachable = sum(r["unreachable"] for r in results)
    print(
        f"\nfleet faults: {sum(r['allowed'] for r in results)} calls allowed, "
        f"{unreachable} refused while Redis was paused, budget {budget}, counted {counted}, "
        f"real {real}, overshoot {counted - budget}, in-flight bound {bound}, "
        f"open holds {open_holds}"
    )
    assert [e for r in results for e in r["errors"]] == []
    assert unreachable > 0, "the pauses were felt"
    assert open_holds == 0
    assert counted == real, results
    assert counted - budget <= bound, results


def test_closing_while_the_timer_flushes_waits_for_it(
    own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that resets its stores (reconfiguration, exit) while the background timer is
    sending queued settlements: close() waits for that flush instead of closing its socket
    under it, so the settlement counts and no thread dies printing a traceback."""
    import threading

    from golden_path._state import parse_state_url
    from golden_path._state._redis import RedisStore
    from golden_path._state._types import Counter

    died: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: died.append(args.exc_value))
    store = RedisStore(parse_state_url(f"{own_redis.url}?timeout_ms=5000"))
    key = day_key()
    hold = Hold("golden-path:{ml}:hold:closing", "golden-path:{ml}:inflight", 60_000)
    assert store.reserve([Counter(key, 1000, 100, 60_000)], None, hold).ok
    assert own_redis.process is not None
    os.kill(own_redis.process.pid, signal.SIGSTOP)
    closer = threading.Thread(target=store.close)
    try:
        store.settle(hold, [(key, -60, 60_000)])  # 100 reserved, 40 really spent
        deadline = time.monotonic() + 10
        while store._pending:  # the timer has taken the settlement: it is on the wire
            assert time.monotonic() < deadline, "the flush timer never ran"
            time.sleep(0.01)
        closer.start()
        closer.join(0.3)
        assert closer.is_alive(), "close() did not wait for the flush in flight"
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)
    closer.join(10)
    assert not closer.is_alive()
    assert died == []
    with own_redis.client() as raw:
        assert int(raw.get(key)) == 40
        assert raw.zcard("golden-path:{ml}:inflight") == 0
