"""Rate limits and budgets with memory://, end to end through the real SDK and the emulator."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2
import pytest
from google.genai import errors, types

from golden_path._state._memory import MemoryStore
from golden_path._state._types import Counter, Hold
from golden_path.exceptions import BudgetExceeded, PolicyViolation
from golden_path.policies import Deny, GenAIRequest, Identity
from golden_path.policies._limits import LimitsPolicy, estimate_tokens, usage_rows

from .conftest import FIXED_NOW

MODEL = "gemini-2.5-flash"


def usage(policy: LimitsPolicy, team: str = "ml") -> dict[str, int]:
    """Current usage per limit, as ``budget status`` reads it."""
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


def generations(emulator: Any) -> int:
    return sum(
        1
        for r in emulator.api_requests()
        if "generateContent" in r.path or "GenerateContent" in r.path
    )


def decisions(event: Any) -> list[dict[str, Any]]:
    return [d for d in event.policy if d["policy"] == "limits"]


def test_exact_under_32_threads(
    limits: Callable[..., list[Any]], make_client: Any, emulator: Any
) -> None:
    """1,000 calls from 32 threads against 500 requests per minute: exactly 500 go out."""
    policies = limits(rate_limits={"requests_per_minute": 500}, clock=lambda: FIXED_NOW)
    client = make_client(team="ml", policies=policies)

    def call(_: int) -> Any:
        try:
            client.models.generate_content(model=MODEL, contents="hi")
        except BudgetExceeded as exc:
            return exc
        return "ok"

    with ThreadPoolExecutor(32) as pool:
        outcomes = list(pool.map(call, range(1000)))
    assert outcomes.count("ok") == 500
    denied = [o for o in outcomes if isinstance(o, BudgetExceeded)]
    assert len(denied) == 500
    assert {d.limit for d in denied} == {"rate_limits.requests_per_minute"}
    assert all(d.retry_after is not None and d.retry_after > 0 for d in denied)
    assert generations(emulator) == 500
    assert usage(policies[0])["rate_limits.requests_per_minute"] == 500


def test_exact_under_asyncio(
    limits: Callable[..., list[Any]], make_client: Any, emulator: Any
) -> None:
    """1,000 concurrent async calls against 500 requests per minute: exactly 500 go out."""
    policies = limits(rate_limits={"requests_per_minute": 500}, clock=lambda: FIXED_NOW)
    client = make_client(team="ml", policies=policies)

    async def call(gate: asyncio.Semaphore) -> str:
        async with gate:
            try:
                await client.aio.models.generate_content(model=MODEL, contents="hi")
            except BudgetExceeded:
                return "denied"
            return "ok"

    async def main() -> list[str]:
        # 64 in flight at a time: concurrent enough to interleave, without 500 connections.
        gate = asyncio.Semaphore(64)
        return await asyncio.gather(*(call(gate) for _ in range(1000)))

    outcomes = asyncio.run(main())
    assert outcomes.count("ok") == 500
    assert generations(emulator) == 500


def test_budget_is_charged_real_usage(limits: Callable[..., list[Any]], make_client: Any) -> None:
    """After a call, the day and month budgets hold its real totalTokenCount, not the estimate."""
    policies = limits(
        budgets={"tokens_per_day": 1_000_000, "tokens_per_month": 10_000_000},
        clock=lambda: FIXED_NOW,
    )
    client = make_client(team="ml", policies=policies)
    response = client.models.generate_content(model=MODEL, contents="how many tokens is this?")
    total = response.usage_metadata.total_token_count
    assert total
    assert usage(policies[0]) == {
        "budgets.tokens_per_day": total,
        "budgets.tokens_per_month": total,
    }


def test_a_policy_reading_answers_gets_them_exact_beside_the_limiter(
    limits: Callable[..., list[Any]], make_client: Any, emulator: Any
) -> None:
    """The limiter reads only usage and status, so beside the audit alone an answer may take
    orjson's faster parse; a policy that reads the body itself still gets the exact one (an
    integer beyond 64 bits stays that integer), and the limiter still charges real usage."""
    seen: list[Any] = []

    class BodyReader:
        name = "body-reader"

        def on_response(self, request: Any, response: Any) -> None:
            seen.append(response.body)

    policies = limits(budgets={"tokens_per_day": 1_000_000}, clock=lambda: FIXED_NOW)
    client = make_client(team="ml", policies=[*policies, BodyReader()])
    big = 2**64 + 1
    emulator.script_response(
        {
            "candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "index": 0}],
            "usageMetadata": {
                "promptTokenCount": 3,
                "candidatesTokenCount": 4,
                "totalTokenCount": 7,
            },
            "modelVersion": MODEL,
            "big": big,
        }
    )
    client.models.generate_content(model=MODEL, contents="hi")
    (body,) = seen
    assert type(body["big"]) is int
    assert body["big"] == big
    assert usage(policies[0]) == {"budgets.tokens_per_day": 7}


def test_a_stream_is_charged_the_usage_of_its_last_chunk(
    limits: Callable[..., list[Any]], make_client: Any
) -> None:
    """A sync stream read to its end is reconciled with the usage its last chunk reports."""
    policies = limits(rate_limits={"tokens_per_minute": 100_000}, clock=lambda: FIXED_NOW)
    client = make_client(team="ml", policies=policies)
    chunks = list(
        client.models.generate_content_stream(model=MODEL, contents="stream me a few words please")
    )
    total = chunks[-1].usage_metadata.total_token_count
    assert total
    assert usage(policies[0])["rate_limits.tokens_per_minute"] == total


def test_an_async_stream_is_charged_its_real_usage(
    limits: Callable[..., list[Any]], make_client: Any
) -> None:
    """An async stream is reconciled the same way."""
    policies = limits(budgets={"tokens_per_day": 100_000}, clock=lambda: FIXED_NOW)
    client = make_client(team="ml", policies=policies)

    async def main() -> int:
        last = None
        async for chunk in await client.aio.models.generate_content_stream(
            model=MODEL, contents="an async stream of words"
        ):
            last = chunk
        assert last is not None
        return int(last.usage_metadata.total_token_count)

    total = asyncio.run(main())
    assert usage(policies[0])["budgets.tokens_per_day"] == total


def test_a_cut_stream_costs_the_usage_seen_so_far(
    limits: Callable[..., list[Any]], make_client: Any, emulator: Any
) -> None:
    """A stream broken by an error event is charged the prompt tokens its chunks reported plus
    the output it delivered (its text, 4 characters a token): its final usage never came."""
    policies = limits(budgets={"tokens_per_day": 100_000}, clock=lambda: FIXED_NOW)
    client = make_client(team="ml", policies=policies)
    prompt = "a prompt that will be cut off midway"
    emulator.stream_error_after(1)
    seen: list[Any] = []
    with pytest.raises(errors.APIError):
        seen.extend(client.models.generate_content_stream(model=MODEL, contents=prompt))
    assert seen
    reported = seen[-1].usage_metadata.prompt_token_count
    assert reported
    delivered = sum(len(chunk.text or "") for chunk in seen)
    assert delivered
    assert usage(policies[0])["budgets.tokens_per_day"] == reported + math.ceil(delivered / 4)


def test_a_denied_call_says_which_limit_and_when_to_retry(
    limits: Callable[..., list[Any]], make_client: Any, audit: Any, emulator: Any
) -> None:
    """Over the limit: BudgetExceeded with limit and retry_after; the audit event names it."""
    policies = limits(rate_limits={"requests_per_minute": 1}, clock=lambda: FIXED_NOW)
    client = make_client(team="ml", policies=policies)
    client.models.generate_content(model=MODEL, contents="first")
    with pytest.raises(BudgetExceeded) as caught:
        client.models.generate_content(model=MODEL, contents="second")
    assert isinstance(caught.value, PolicyViolation)
    assert caught.value.limit == "rate_limits.requests_per_minute"
    # This minute is full (30 s left) and it slides out of the window over the next.
    assert caught.value.retry_after == 30.0 + 60.0
    denied = audit.events[-1]
    assert denied.outcome == "denied"
    assert denied.request_id == caught.value.request_id
    (decision,) = decisions(denied)
    assert decision["action"] == "deny"
    assert "rate_limits.requests_per_minute" in decision["reason"]
    assert generations(emulator) == 1


def test_a_sliding_window_frees_capacity_gradually(
    limits: Callable[..., list[Any]], make_client: Any
) -> None:
    """The previous minute counts by how much of it is still in the last 60 s, and
    retry_after says when enough of it has slid out."""
    now = [FIXED_NOW]
    policies = limits(rate_limits={"requests_per_minute": 10}, clock=lambda: now[0])
    client = make_client(team="ml", policies=policies)
    for _ in range(10):
        client.models.generate_content(model=MODEL, contents="x")
    with pytest.raises(BudgetExceeded) as caught:
        client.models.generate_content(model=MODEL, contents="x")
    assert caught.value.retry_after == 36.0  # 30 s to the next minute, then 6 s of sliding
    now[0] += 60  # half of the full minute still overlaps the last 60 s: 5 requests of room
    for _ in range(5):
        client.models.generate_content(model=MODEL, contents="x")
    with pytest.raises(BudgetExceeded) as caught:
        client.models.generate_content(model=MODEL, contents="x")
    assert caught.value.retry_after == 6.0


def test_an_exhausted_budget_retries_after_midnight_utc(
    limits: Callable[..., list[Any]], make_client: Any
) -> None:
    """A day budget without room denies with retry_after = seconds to the next UTC day."""
    policies = limits(
        budgets={"tokens_per_day": 200, "default_output_tokens": 50}, clock=lambda: FIXED_NOW
    )
    client = make_client(team="ml", policies=policies)
    client.models.generate_content(model=MODEL, contents="short")
    with pytest.raises(BudgetExceeded) as caught:
        client.models.generate_content(model=MODEL, contents="y" * 600)
    assert caught.value.limit == "budgets.tokens_per_day"
    assert caught.value.retry_after == 12 * 3600 - 30


def test_a_request_bigger_than_the_limit_has_no_retry_after(
    limits: Callable[..., list[Any]], make_client: Any
) -> None:
    """A request that could never fit says so: retry_after None."""
    policies = limits(rate_limits={"tokens_per_minute": 100}, clock=lambda: FIXED_NOW)
    client = make_client(team="ml", policies=policies)
    with pytest.raises(BudgetExceeded) as caught:
        client.models.generate_content(
            model=MODEL, contents="hello", config=types.GenerateContentConfig(max_output_tokens=500)
        )
    assert caught.value.retry_after is None
    assert "more than the whole limit" in caught.value.reason


def test_a_failed_call_gives_its_tokens_back(
    limits: Callable[..., list[Any]], make_client: Any, emulator: Any
) -> None:
    """A call the API fails costs no tokens; it still counts as a request sent."""
    policies = limits(
        rate_limits={"requests_per_minute": 10, "tokens_per_minute": 10_000},
        clock=lambda: FIXED_NOW,
    )
    client = make_client(team="ml", policies=policies)
    emulator.fail_next(500)
    with pytest.raises(errors.APIError):
        client.models.generate_content(model=MODEL, contents="this will fail")
    assert usage(policies[0]) == {
        "rate_limits.requests_per_minute": 1,
        "rate_limits.tokens_per_minute": 0,
    }


def test_a_call_denied_further_down_the_chain_costs_nothing(
    limits: Callable[..., list[Any]], make_client: Any
) -> None:
    """When a later policy refuses the call, the reservation is released entirely."""

    class Refuse:
        name = "refuse"

        def on_request(self, request: GenAIRequest) -> None:
            raise Deny("not today")

    policies = limits(
        rate_limits={"requests_per_minute": 10, "tokens_per_minute": 10_000},
        clock=lambda: FIXED_NOW,
    )
    client = make_client(team="ml", policies=[*policies, Refuse()])
    with pytest.raises(PolicyViolation):
        client.models.generate_content(model=MODEL, contents="refused")
    assert usage(policies[0]) == {
        "rate_limits.requests_per_minute": 0,
        "rate_limits.tokens_per_minute": 0,
    }


def test_a_429_puts_the_scope_in_cooldown(
    limits: Callable[..., list[Any]], make_client: Any, emulator: Any, audit: Any
) -> None:
    """After a 429 with a retryDelay, calls are held back until then instead of hammering:
    denied with that retry_after when they may not wait, sent after waiting when they may."""
    client = make_client(team="ml", policies=limits(rate_limits={"requests_per_minute": 100}))
    emulator.fail_next(429, retry_delay_s=0.4)
    with pytest.raises(errors.APIError) as caught:
        client.models.generate_content(model=MODEL, contents="too much")
    assert caught.value.code == 429
    (cooldown,) = decisions(audit.events[-1])
    assert cooldown["action"] == "cooldown"
    with pytest.raises(BudgetExceeded) as denied:
        client.models.generate_content(model=MODEL, contents="held back")
    assert denied.value.limit == "rate_limits.cooldown"
    assert denied.value.retry_after is not None
    assert 0 < denied.value.retry_after <= 0.4
    assert generations(emulator) == 1
    # Another client of the same process and team, allowed to wait, waits it out.
    patient = make_client(
        team="ml", policies=limits(rate_limits={"requests_per_minute": 100, "max_wait_s": 5})
    )
    patient.models.generate_content(model=MODEL, contents="waited")
    assert [d["action"] for d in decisions(audit.events[-1])] == ["wait"]
    assert generations(emulator) == 2


def test_async_calls_wait_without_blocking_the_event_loop(
    limits: Callable[..., list[Any]], make_client: Any, emulator: Any
) -> None:
    """An async call in a cooldown awaits capacity; other tasks keep running meanwhile."""
    client = make_client(
        team="ml", policies=limits(rate_limits={"requests_per_minute": 100, "max_wait_s": 5})
    )
    emulator.fail_next(429, retry_delay_s=1)
    with pytest.raises(errors.APIError):
        client.models.generate_content(model=MODEL, contents="too much")

    async def main() -> tuple[str, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        task = asyncio.create_task(ticker())
        response = await client.aio.models.generate_content(model=MODEL, contents="async")
        task.cancel()
        return response.text or "", ticks

    text, ticks = asyncio.run(main())
    assert "async" in text
    # The call waited out most of the 1 s cooldown while the loop kept ticking.
    assert ticks >= 5


def make_request(body: dict[str, Any], path: str, team: str = "ml") -> GenAIRequest:
    """A request as the transport builds it, for hooks tested on their own."""
    import json

    from golden_path._routes import classify

    wire = classify("POST", path)
    return GenAIRequest(
        request_id="r1",
        identity=Identity(
            app=None,
            team=team,
            client_id="acme-gp/1.0",
            backend="ai_studio",
            project=None,
            location=None,
        ),
        method="POST",
        url=httpx2.URL(f"http://127.0.0.1{path}"),
        headers=httpx2.Headers(),
        raw=json.dumps(body).encode(),
        surface=wire.surface,
        api_method=wire.api_method,
        model=wire.model or body.get("model"),
        stream=wire.stream,
    )


def test_aon_request_awaits_capacity(limits: Callable[..., list[Any]]) -> None:
    """The async hook (for a chain that awaits hooks) waits out a cooldown without blocking."""
    (policy,) = limits(rate_limits={"requests_per_minute": 100, "max_wait_s": 5})
    policy.store.cooldown(f"{policy.prefix}:{{ml}}:team=ml:cooldown", 0.2)
    request = make_request(
        {"contents": [{"parts": [{"text": "hi"}]}]}, f"/v1/models/{MODEL}:generateContent"
    )

    async def main() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        await policy.aon_request(request)
        task.cancel()
        return ticks

    assert asyncio.run(main()) > 0  # the loop kept running while the hook waited
    assert [d.action for d in request.decisions] == ["wait"]


@pytest.mark.parametrize(
    ("body", "path", "expected"),
    [
        (
            {
                "contents": [{"parts": [{"text": "x" * 400}]}],
                "generationConfig": {"maxOutputTokens": 50},
            },
            f"/v1/models/{MODEL}:generateContent",
            100 + 50,
        ),
        (
            {
                "contents": [{"parts": [{"text": "x" * 40}]}],
                "generationConfig": {"maxOutputTokens": 10, "candidateCount": 3},
            },
            f"/v1/models/{MODEL}:streamGenerateContent",
            10 + 30,
        ),
        (
            {
                "contents": [
                    {
                        "parts": [
                            {"text": "x" * 40},
                            {"inlineData": {"mimeType": "image/png", "data": "A" * 99999}},
                        ]
                    }
                ]
            },
            f"/v1/models/{MODEL}:generateContent",
            10 + 258 + 1024,
        ),
        (
            {"model": MODEL, "messages": [{"role": "user", "content": "y" * 80}], "max_tokens": 7},
            "/v1beta/openai/chat/completions",
            20 + 7,
        ),
        (
            {"content": {"parts": [{"text": "z" * 400}]}},
            "/v1/models/text-embedding-004:embedContent",
            100,
        ),
    ],
)
def test_estimates(body: dict[str, Any], path: str, expected: int) -> None:
    """Estimates: prompt chars / 4, media at a flat rate, the output cap or the default."""
    assert estimate_tokens(make_request(body, path)) == expected


def test_calls_that_spend_no_quota_are_not_limited(
    limits: Callable[..., list[Any]], make_client: Any
) -> None:
    """countTokens and listing models pass even with no capacity left."""
    policies = limits(rate_limits={"requests_per_minute": 1}, clock=lambda: FIXED_NOW)
    client = make_client(team="ml", policies=policies)
    client.models.generate_content(model=MODEL, contents="uses the one request")
    assert client.models.count_tokens(model=MODEL, contents="free").total_tokens
    assert list(client.models.list())


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_no_second_call_across_a_minute_boundary_at_one_a_minute(
    limits: Callable[..., list[Any]], make_client: Any, store: str, request: pytest.FixtureRequest
) -> None:
    """requests_per_minute = 1: a call in the last tenth of a second of one minute and another
    in the first tenth of the next are 0.2 s apart, so the second is refused. (The weighted
    previous minute used to be rounded down, which let both through: twice the limit.)"""
    state_url = request.getfixturevalue("redis_url") if store == "redis" else "memory://"
    end_of_minute = FIXED_NOW - 30 + 59.9
    now = [end_of_minute]
    policies = limits(
        state_url=state_url, rate_limits={"requests_per_minute": 1}, clock=lambda: now[0]
    )
    client = make_client(team="ml", policies=policies)
    client.models.generate_content(model=MODEL, contents="x")
    now[0] += 0.2
    with pytest.raises(BudgetExceeded) as caught:
        client.models.generate_content(model=MODEL, contents="x")
    assert "1 of 1 requests used" in str(caught.value), caught.value
    # The window weighs the previous minute as if its calls were spread evenly over it: all
    # of it has slid out at the end of this minute.
    assert caught.value.retry_after == pytest.approx(59.9, abs=0.01)
    now[0] += 59.9
    client.models.generate_content(model=MODEL, contents="x")


# The memory store keeps the same reservation contract as Redis (golden_path/_state/_types.py
# Hold): these pin it at the store, where expiry can be made immediate (ttl 0) without waiting.


def test_memory_store_reservation_is_made_and_settled_once() -> None:
    """The same reservation sent twice adds once; a settlement sent twice applies once."""
    store = MemoryStore()
    hold = Hold("hold:a", "inflight", 60_000)
    counters = [Counter("day", limit=100, amount=40, ttl_ms=60_000)]
    assert store.reserve(counters, None, hold).ok
    assert store.reserve(counters, None, hold).ok
    assert store.read(["day"]) == [40]
    store.settle(hold, [("day", -15, 60_000)])  # the call used 25 of the 40 reserved
    store.settle(hold, [("day", -15, 60_000)])
    assert store.read(["day"]) == [25]
    denied = store.reserve([Counter("day", limit=100, amount=80, ttl_ms=60_000)], None)
    assert (denied.ok, denied.index, denied.used) == (False, 0, 25)


def test_memory_store_adds_each_mention_of_a_counter() -> None:
    """One reservation naming a counter twice adds both amounts; each mention is checked
    against the count found before the reservation."""
    store = MemoryStore()
    twice = [
        Counter("day", limit=10, amount=3, ttl_ms=60_000),
        Counter("day", limit=10, amount=4, ttl_ms=60_000),
    ]
    assert store.reserve(twice, None, Hold("hold:a", "inflight", 60_000)).ok
    assert store.read(["day"]) == [7]
    refused = store.reserve(twice, None, Hold("hold:b", "inflight", 60_000))
    assert (refused.ok, refused.index, refused.used) == (False, 1, 7)  # 7 + 4 > 10
    assert store.read(["day"]) == [7]


def test_memory_store_gives_back_a_reservation_nobody_settled() -> None:
    """A reservation whose caller died is swept by the next reservation after its hold time,
    and its capacity comes back; settling it afterwards changes nothing."""
    store = MemoryStore()
    counters = [Counter("day", limit=100, amount=90, ttl_ms=60_000)]
    assert store.reserve(counters, None, Hold("hold:dead", "inflight", 0)).ok
    assert store.reserve(counters, None, Hold("hold:next", "inflight", 60_000)).ok
    assert store.read(["day"]) == [90]
    store.settle(Hold("hold:dead", "inflight", 0), [("day", 500, 60_000)])  # swept: no effect
    assert store.read(["day"]) == [90]
    # Settling to a counter that is gone (a new window): a charge starts it, a refund is moot.
    store.reserve([Counter("minute", limit=10, amount=5, ttl_ms=0)], None)
    store.settle(Hold("hold:next", "inflight", 60_000), [("minute", -5, 0), ("week", 7, 60_000)])
    assert store.read(["minute", "week"]) == [0, 7]


def test_memory_store_cooldown_is_never_shortened() -> None:
    """A 429 cooldown refuses every reservation of its scope; a shorter one does not cut it."""
    store = MemoryStore("memory://team")
    assert store.display_url == "memory://team"
    store.cooldown("cool", 600)
    store.cooldown("cool", 1)
    assert store.cooldown_left("cool") > 500
    refused = store.reserve([Counter("day", limit=10, amount=1, ttl_ms=60_000)], "cool")
    assert (refused.ok, refused.index) == (False, -1)
    assert refused.cooldown_ms > 500_000
    assert store.cooldown_left("other") == 0.0


def test_memory_store_sweeps_a_dead_reservation_made_after_a_live_one() -> None:
    """The sweep runs only once an open reservation may have expired; one that expires
    before those made earlier (a shorter hold) is still found and given back."""
    store = MemoryStore()
    counters = [Counter("day", limit=100, amount=30, ttl_ms=60_000)]
    assert store.reserve(counters, None, Hold("hold:live", "inflight", 600_000)).ok
    assert store.reserve(counters, None, Hold("hold:dead", "inflight", 0)).ok
    assert store.read(["day"]) == [60]
    store.settle(Hold("hold:live", "inflight", 600_000), [])  # the first one ends as usual
    assert store.reserve(counters, None, Hold("hold:next", "inflight", 600_000)).ok
    assert store.read(["day"]) == [60]  # the dead one's 30 came back, the new one took 30
    store.settle(Hold("hold:dead", "inflight", 0), [("day", 500, 60_000)])  # swept: no effect
    assert store.read(["day"]) == [60]


def test_each_caller_keeps_its_own_counters_past_the_key_table_bound(
    limits: Callable[..., list[Any]],
) -> None:
    """Counter keys are made once per caller, model and minute and kept in a bounded table:
    past its bound, and across a minute, every caller still counts against its own limit."""
    now = [FIXED_NOW]
    (policy,) = limits(rate_limits={"requests_per_minute": 1}, clock=lambda: now[0])
    ids = iter(range(10_000))

    def call(team: str) -> None:
        request = make_request({"contents": [{"parts": [{"text": "hi"}]}]}, path, team=team)
        request.request_id = f"r{next(ids)}"  # each call its own reservation
        policy.on_request(request)

    path = f"/v1/models/{MODEL}:generateContent"
    call("first")
    for index in range(1100):  # more callers than the table keeps
        call(f"team-{index}")
    with pytest.raises(Deny, match="1 of 1 requests used"):
        call("first")
    with pytest.raises(Deny):
        call("team-7")
    now[0] += 120  # two minutes on: new windows, new keys, room again
    call("first")
    with pytest.raises(Deny):
        call("first")
