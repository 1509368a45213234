"""Limits on a real redis-server: exact, fleet-wide, robust to garbage, outages and slowness."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from google.genai import errors

from golden_path.exceptions import BudgetExceeded, PolicyViolation
from golden_path.policies._limits import LimitsPolicy, usage_rows

from .conftest import FIXED_NOW, Fleet, RedisServer

pytestmark = pytest.mark.redis

MODEL = "gemini-2.5-flash"
DAY_KEY = "golden-path:{ml}:team=ml:tokens:d2026-01-01"


def usage(policy: LimitsPolicy, team: str = "ml") -> dict[str, int]:
    rows = usage_rows(
        policy.config,
        policy.store,
        prefix=policy.prefix,
        team=team,
        app=None,
        model=MODEL,
        clock=lambda: FIXED_NOW,
    )
    return {row.limit: row.used for row in rows}


def test_exact_under_32_threads_on_redis(
    limits: Callable[..., list[Any]], make_client: Any, redis_url: str, emulator: Any
) -> None:
    """400 calls from 32 threads against 200 requests per minute in Redis: exactly 200 go out."""
    policies = limits(
        state_url=redis_url, rate_limits={"requests_per_minute": 200}, clock=lambda: FIXED_NOW
    )
    client = make_client(team="ml", policies=policies)

    def call(_: int) -> bool:
        try:
            client.models.generate_content(model=MODEL, contents="hi")
        except BudgetExceeded:
            return False
        return True

    with ThreadPoolExecutor(32) as pool:
        allowed = sum(pool.map(call, range(400)))
    assert allowed == 200
    assert len(emulator.api_requests()) == 200


def test_redis_budget_holds_real_usage_in_expiring_keys(
    limits: Callable[..., list[Any]], make_client: Any, redis_server: RedisServer, redis_url: str
) -> None:
    """Counters live under the URL's prefix, hold the real usage, and expire on their own."""
    policies = limits(
        state_url=f"{redis_url}?prefix=acme&timeout_ms=200",
        budgets={"tokens_per_day": 100_000},
        clock=lambda: FIXED_NOW,
    )
    client = make_client(team="ml", policies=policies)
    response = client.models.generate_content(model=MODEL, contents="count my tokens")
    with redis_server.client() as raw:
        key = "acme:{ml}:team=ml:tokens:d2026-01-01"
        # Reconciliations ride with the next reservation or a flush within 50 ms; flush now.
        policies[0].store.flush()
        assert int(raw.get(key)) == response.usage_metadata.total_token_count
        assert raw.pttl(key) > 0


def test_garbage_in_a_key_never_crashes_a_call(
    limits: Callable[..., list[Any]],
    make_client: Any,
    redis_server: RedisServer,
    redis_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A counter holding text, or a key of the wrong type, is reset with a warning; the call
    goes through and the counter then holds exactly its usage."""
    policies = limits(
        state_url=redis_url,
        budgets={"tokens_per_day": 100_000},
        rate_limits={"requests_per_minute": 10},
        clock=lambda: FIXED_NOW,
    )
    client = make_client(team="ml", policies=policies)
    minute = f"golden-path:{{ml}}:team=ml:requests:m{int(FIXED_NOW // 60)}"
    with redis_server.client() as raw:
        raw.set(DAY_KEY, "banana")
        raw.rpush(minute, "not", "a", "counter")
    with caplog.at_level(logging.WARNING, logger="golden_path.state"):
        response = client.models.generate_content(model=MODEL, contents="still works")
    assert DAY_KEY in caplog.text
    assert minute in caplog.text
    assert usage(policies[0]) == {
        "rate_limits.requests_per_minute": 1,
        "budgets.tokens_per_day": response.usage_metadata.total_token_count,
    }


def test_keys_lost_mid_call_are_not_corrupted(
    limits: Callable[..., list[Any]],
    make_client: Any,
    redis_server: RedisServer,
    redis_url: str,
    emulator: Any,
) -> None:
    """Keys wiped while a call is in flight: its reconciliation neither crashes nor leaves a
    negative or made-up count."""
    policies = limits(
        state_url=redis_url, budgets={"tokens_per_day": 100_000}, clock=lambda: FIXED_NOW
    )
    client = make_client(team="ml", policies=policies)
    emulator.set_latency(0.5)
    done: list[Any] = []
    thread = threading.Thread(
        target=lambda: done.append(
            client.models.generate_content(model=MODEL, contents="in flight")
        )
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not emulator.api_requests() and time.monotonic() < deadline:
        time.sleep(0.01)
    with redis_server.client() as raw:
        assert raw.get(DAY_KEY) is not None  # the reservation is there...
        raw.flushall()  # ...and gone
    thread.join()
    assert done
    with redis_server.client() as raw:
        # The estimate (1024 output tokens) exceeded the real usage: the release found nothing
        # to release and created no key, rather than a negative debt.
        assert raw.get(DAY_KEY) is None
    assert usage(policies[0]) == {"budgets.tokens_per_day": 0}


@pytest.mark.parametrize("on_store_error", ["deny", "allow"])
def test_redis_outage_then_recovery(
    limits: Callable[..., list[Any]],
    make_client: Any,
    own_redis: RedisServer,
    audit: Any,
    on_store_error: str,
) -> None:
    """Redis stopped mid-run: calls are denied (fail closed) or allowed, as configured, and
    audited; when Redis is back the limits apply again without a restart."""
    policies = limits(
        state_url=own_redis.url,
        clock=lambda: FIXED_NOW,
        rate_limits={"requests_per_minute": 1000, "on_store_error": on_store_error},
    )
    client = make_client(team="ml", policies=policies)
    client.models.generate_content(model=MODEL, contents="before")
    own_redis.stop()
    if on_store_error == "deny":
        with pytest.raises(PolicyViolation) as caught:
            client.models.generate_content(model=MODEL, contents="during")
        assert not isinstance(caught.value, BudgetExceeded)
        assert "state store unreachable" in caught.value.reason
        assert audit.events[-1].outcome == "denied"
    else:
        client.models.generate_content(model=MODEL, contents="during")
        (decision,) = [d for d in audit.events[-1].policy if d["policy"] == "limits"]
        assert decision["action"] == "allow"
        assert decision["enforced"] is False
        assert "state store unreachable" in decision["reason"]
    own_redis.start()  # same port, empty: persistence is off
    deadline = time.monotonic() + 10
    while True:
        try:
            client.models.generate_content(model=MODEL, contents="after")
        except PolicyViolation:
            assert time.monotonic() < deadline, "no recovery after Redis came back"
            time.sleep(0.05)
            continue
        with own_redis.client() as raw:
            if raw.get(f"golden-path:{{ml}}:team=ml:requests:m{int(FIXED_NOW // 60)}"):
                break
        assert time.monotonic() < deadline, "no recovery after Redis came back"
        time.sleep(0.05)
    assert not [d for d in audit.events[-1].policy if d["policy"] == "limits"]


def test_a_slow_redis_is_bounded_by_the_timeout(
    limits: Callable[..., list[Any]], make_client: Any, own_redis: RedisServer, emulator: Any
) -> None:
    """A Redis that does not answer in time counts as unreachable (here: denied), instead of
    holding the call for as long as Redis is stuck."""
    policies = limits(
        state_url=f"{own_redis.url}?timeout_ms=50",
        rate_limits={"requests_per_minute": 1000},
        clock=lambda: FIXED_NOW,
    )
    client = make_client(team="ml", policies=policies)
    client.models.generate_content(model=MODEL, contents="warm up the connection")
    with own_redis.client() as raw:
        sleeper = threading.Thread(target=lambda: raw.execute_command("DEBUG", "SLEEP", "1"))
        sleeper.start()
        time.sleep(0.1)  # let DEBUG SLEEP reach the server first
        with pytest.raises(PolicyViolation) as caught:
            client.models.generate_content(model=MODEL, contents="while redis sleeps")
        sleeper.join()
    assert "Timeout" in caught.value.reason
    assert len(emulator.api_requests()) == 1


def test_fleet_never_overspends_beyond_in_flight(
    redis_url: str, redis_server: RedisServer, emulator: Any, tmp_path: Path
) -> None:
    """4 processes x 8 threads spend one Redis budget: the overshoot stays within what can be
    in flight (32 calls x the largest excess of real usage over a reservation), and the
    counter equals the real usage of every allowed call."""
    budget, processes, threads = 3_000, 4, 8
    fleet = Fleet(
        tmp_path,
        emulator_url=emulator.url,
        redis_url=redis_url,
        budget=budget,
        processes=processes,
        threads=threads,
    )
    fleet.start()
    results = fleet.results()
    with redis_server.client() as raw:
        counted = int(raw.get("golden-path:{fleet}:team=fleet:tokens:d2026-01-01"))
    real = sum(r["tokens"] for r in results)
    bound = processes * threads * max(r["max_excess"] for r in results)
    overshoot = counted - budget
    print(
        f"\nfleet: {sum(r['allowed'] for r in results)} calls allowed, budget {budget}, "
        f"counted {counted}, overshoot {overshoot}, in-flight bound {bound}"
    )
    assert [e for r in results for e in r["errors"]] == []
    assert counted == real, results
    assert overshoot <= bound, results
    assert counted >= budget - 100, results  # the budget was really spent, not refused early
    # More than one process really shared the budget. (Not every one: on a loaded machine a
    # process can be scheduled only after the others have spent it all.)
    assert sum(r["allowed"] > 0 for r in results) >= 2, results


def test_a_429_cooldown_is_shared_through_redis(
    limits: Callable[..., list[Any]], make_client: Any, redis_url: str, emulator: Any
) -> None:
    """A 429 seen by one replica holds back the others of the same scope."""
    one = make_client(
        team="ml", policies=limits(state_url=redis_url, rate_limits={"requests_per_minute": 100})
    )
    other = make_client(
        team="ml", policies=limits(state_url=redis_url, rate_limits={"requests_per_minute": 100})
    )
    emulator.fail_next(429, retry_delay_s=30)
    with pytest.raises(errors.APIError):
        one.models.generate_content(model=MODEL, contents="too much")
    with pytest.raises(BudgetExceeded) as caught:
        other.models.generate_content(model=MODEL, contents="held back")
    assert caught.value.limit == "rate_limits.cooldown"
    assert caught.value.retry_after is not None
    assert 25 < caught.value.retry_after <= 30


def test_counts_stay_exact_when_redis_forgets_its_scripts(
    limits: Callable[..., list[Any]], make_client: Any, redis_server: RedisServer, redis_url: str
) -> None:
    """A Redis that lost its scripts (restart, SCRIPT FLUSH) mid-run never double-reserves."""
    policies = limits(
        state_url=f"{redis_url}?prefix=flush",
        budgets={"tokens_per_day": 100_000},
        clock=lambda: FIXED_NOW,
    )
    client = make_client(team="ml", policies=policies)
    total = 0
    for text in ("one", "two words", "three words here", "four more words here"):
        with redis_server.client() as raw:
            raw.script_flush()
        response = client.models.generate_content(model=MODEL, contents=text)
        total += response.usage_metadata.total_token_count
    policies[0].store.flush()
    with redis_server.client() as raw:
        assert int(raw.get("flush:{ml}:team=ml:tokens:d2026-01-01")) == total
