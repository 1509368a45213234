"""Rate limits and budgets: the policy built from ``[rate_limits]`` and ``[budgets]``.

One policy (``limits``) checks every configured limit with one atomic reservation per request:
all counters get the request's amounts, or none does. So a request the budget refuses never
used up rate-limit capacity, and no rollback round trip is needed.

Lifecycle of one model call::

    on_request   estimate tokens (prompt chars / 4 + max output tokens), reserve
                 requests + tokens in every window; no room: wait up to max_wait_s, then Deny
    on_chunk     remember the latest usageMetadata of a stream
    on_response  reconcile: charge the real usage instead of the estimate; a 429 with
                 RetryInfo puts the scope in cooldown for its retryDelay
    on_error     release the estimate (a failed request costs its real usage if known, else 0)
    on_live_turn a Live session, after each turn: settle the turn's real usage, then reserve
                 the next turn (no request counted); no room: Deny, and the session is closed

Windows: per-minute limits are sliding-window counters (this minute's count plus the previous
minute's, weighted by how much of it still overlaps the last 60 s), so there is no burst of
twice the limit at a minute boundary. Budgets are UTC calendar days and months.

Waiting: a sync call sleeps in ``on_request``; the async transport awaits ``aon_request``
(``Chain.abefore``), so an async call waits up to ``max_wait_s`` without stalling the loop's
other tasks. ``on_request`` called on an event-loop thread anyway (a sync client used from async
code) never sleeps there: it denies with ``retry_after``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from golden_path._model import GenAIRequest, GenAIResponse, Usage, usage_from
from golden_path._prices import PriceCatalog, billed_units, load_catalog
from golden_path._settings import Settings
from golden_path._state import Counter, Reserved, StateStore, StoreUnavailable, open_store
from golden_path._state._types import Hold
from golden_path.exceptions import ConfigError, ConfigProblem, PolicyViolation
from golden_path.policies._limits._config import (
    MICRO,
    LimitsConfig,
    LimitSpec,
    check_state_url,
    locate_safely,
    parse_limits,
)
from golden_path.policies._limits._estimate import (
    delivered_text,
    estimate_parts,
    is_metered,
    tokens_used,
)
from golden_path.policies._limits._windows import (
    Window,
    cooldown_key,
    counter_key,
    hash_tag,
    hold_keys,
    scope_label,
    weight_ttl,
    window,
)
from golden_path.policies._types import Deny

__all__ = ["LimitsPolicy", "build_limit_policies", "retry_delay"]

_STATE = "limits.reservation"
_USAGE = "limits.usage"
_DELIVERED = "limits.delivered"
_LIVE_TURNS = "limits.live_turns"  # Live turns settled so far (tokens, micro-dollars, count)
HOLD_MS = 15 * 60 * 1000


def build_limit_policies(
    sections: dict[str, dict[str, Any]],
    *,
    settings: Settings,
    locate: Callable[[str], str],
    clock: Callable[[], float] | None = None,
) -> list[Any]:
    """The policies for ``[rate_limits]``/``[budgets]`` (the loader appends them last).

    ``clock`` (seconds since the epoch, default ``time.time``) decides windows and periods;
    tests pass a fixed one so a minute boundary cannot fall in the middle of a test.
    """
    problems: list[ConfigProblem] = []
    config: LimitsConfig | None = None
    try:
        config = parse_limits(sections, locate=locate)
    except ConfigError as exc:
        problems += exc.problems
    state, state_problems = check_state_url(settings)
    problems += state_problems
    if config is not None:
        needs = {"team": settings.team, "app": settings.app}
        for section in ("rate_limits", "budgets"):
            scope = next((s.scope for s in config.limits if s.name.startswith(section)), None)
            if scope is None:
                continue
            who = scope.split("+")[0]
            if needs[who] is None:
                problems.append(
                    ConfigProblem(
                        f"{section}.scope",
                        f"scope {scope!r} needs the caller's {who}, which is not configured",
                        locate_safely(locate, f"{section}.scope"),
                        f"set GOLDEN_PATH_{who.upper()}, or pick another scope",
                    )
                )
    if problems or config is None or state is None:
        raise ConfigError(problems)
    if not config.limits:
        return []
    prices = None
    if any(spec.unit == "usd" for spec in config.limits):
        prices = load_catalog(settings.price_file)
    return [
        LimitsPolicy(config, open_store(state), prefix=state.prefix, clock=clock, prices=prices)
    ]


@dataclasses.dataclass(slots=True)
class _Plan:
    counters: list[Counter]
    specs: Sequence[LimitSpec]
    now: float  # the clock when planned: a refusal works out its window from it
    keys: _Keys  # the keys and scope labels (see LimitsPolicy._keys)
    estimate: int
    hold: Hold
    # Micro-dollars the request may cost; -1 when a money budget applies and the model has no
    # price (the request is denied: what cannot be priced cannot be budgeted).
    estimate_usd: int = 0
    prompt: int = 0
    # Images or video seconds asked for, on routes billed in those units (None elsewhere).
    units: dict[str, int] | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class _Keys:
    """One caller's counter keys in one window: ``(key, previous window's key, label)`` each."""

    tag: str
    counters: tuple[tuple[str, str | None, str], ...]
    cooldown_key: str
    cooldown_label: str
    hold_prefix: str  # a reservation's record is this and the request id (see hold_keys)
    inflight: str


# Callers, models and windows whose keys are kept (see LimitsPolicy._keys).
_MAX_CACHED_KEYS = 1024


@dataclasses.dataclass(slots=True)
class _Turns:
    """What a Live session's turns were charged so far."""

    tokens: int = 0
    usd: int = 0
    count: int = 0


class LimitsPolicy:
    """Reserve before, reconcile after, against a :class:`StateStore`."""

    name = "limits"
    # The after-hooks read only usage, status, retry delays and counts of images or seconds:
    # the transport may parse answers with orjson (Pipeline.usage_only), as for the audit.
    reads_usage_only = True

    def __init__(
        self,
        config: LimitsConfig,
        store: StateStore,
        *,
        prefix: str = "golden-path",
        clock: Callable[[], float] | None = None,
        prices: PriceCatalog | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.prefix = prefix
        self.prices = prices
        self._clock = clock or time.time
        # How long a reservation may stay open before a sweep gives its capacity back (its
        # process died mid-call): longer than any call may last, retries and streams included.
        self.hold_ms = HOLD_MS
        # Only a limit counted in tokens or dollars needs the request's token estimate (a walk
        # of its whole body); requests, images and video seconds are known without one.
        self._estimates = any(spec.unit in ("tokens", "usd") for spec in config.limits)
        # The counter keys of one caller, model and window, made once per minute (see _keys).
        self._key_cache: dict[tuple[str | None, str | None, str | None, int, int], _Keys] = {}

    # -- before

    def on_request(self, request: GenAIRequest) -> None:
        """Reserve, sleeping up to ``max_wait_s`` for capacity (never on an event loop)."""
        if not is_metered(request):
            return
        plan = self._plan(request)
        if plan.estimate_usd < 0:
            self._unpriced(request, plan)
        on_loop = _on_event_loop()
        deadline = time.monotonic() + (0.0 if on_loop else self.config.max_wait_s)
        waited = 0.0
        while True:
            wait = self._attempt(request, plan, deadline, on_loop=on_loop)
            if wait is None:
                break
            time.sleep(wait)
            waited += wait
            plan = self._plan(request)
        self._record_wait(request, waited)

    def aon_request(self, request: GenAIRequest) -> Awaitable[None] | None:
        """The async form, for a chain that awaits its hooks: awaits instead of sleeping.

        Returns what to await only when there is no room yet: most requests reserve at the
        first try, and need no coroutine made, scheduled and awaited for that.
        """
        if not is_metered(request):
            return None
        plan = self._plan(request)
        if plan.estimate_usd < 0:
            self._unpriced(request, plan)
        deadline = time.monotonic() + self.config.max_wait_s
        wait = self._attempt(request, plan, deadline, on_loop=False)
        return None if wait is None else self._waiting(request, deadline, wait)

    async def _waiting(self, request: GenAIRequest, deadline: float, wait: float) -> None:
        waited = 0.0
        while True:
            await asyncio.sleep(wait)
            waited += wait
            plan = self._plan(request)
            again = self._attempt(request, plan, deadline, on_loop=False)
            if again is None:
                break
            wait = again
        self._record_wait(request, waited)

    def _unpriced(self, request: GenAIRequest, plan: _Plan) -> None:
        """Deny: a budget in dollars, and the model has no price (``estimate_usd`` < 0)."""
        raise Deny(
            f"model {request.model or '(none)'} has no price in the price catalog, so the "
            "budget in US dollars cannot judge this request; add the model to the "
            "platform's price_file",
            limit=next(s.name for s in plan.specs if s.unit == "usd"),
        )

    def _record_wait(self, request: GenAIRequest, waited: float) -> None:
        if waited > 0 and _STATE in request.state:
            request.record(self.name, "wait", f"waited {waited:.3f}s for capacity")

    def _attempt(
        self, request: GenAIRequest, plan: _Plan, deadline: float, *, on_loop: bool
    ) -> float | None:
        """Try once.

        Returns None when done (reserved, or allowed without a store), else the seconds to
        wait before the next try. Raises Deny when waiting cannot help in time.
        """
        try:
            found = self.store.reserve(plan.counters, plan.keys.cooldown_key, plan.hold)
        except StoreUnavailable as exc:
            self._store_failed(request, exc)
            return None
        if found.ok:
            request.state[_STATE] = plan
            return None
        limit, retry_after, reason = self._explain(plan, found)
        remaining = deadline - time.monotonic()
        if retry_after is None or retry_after > remaining:
            if on_loop and self.config.max_wait_s > 0 and retry_after is not None:
                reason += " (no waiting on the event loop thread: see docs/limits.md)"
            raise Deny(reason, limit=limit, retry_after=retry_after)
        # A little jitter so waiters released by the same window do not collide again.
        return min(retry_after + random.uniform(0, 0.01), max(remaining, 0.0))  # noqa: S311

    def _store_failed(self, request: GenAIRequest, exc: StoreUnavailable) -> None:
        if self.config.on_store_error == "allow":
            request.record(
                self.name,
                "allow",
                f"state store unreachable ({exc}); allowed without limits (on_store_error = allow)",
                enforced=False,
            )
            return
        raise Deny(f"state store unreachable ({exc}); denied (on_store_error = deny)") from None

    def _explain(self, plan: _Plan, found: Reserved) -> tuple[str, float | None, str]:
        if found.index < 0:
            seconds = found.cooldown_ms / 1000
            return (
                "rate_limits.cooldown",
                seconds,
                f"Google answered 429 for {plan.keys.cooldown_label}; cooling down for "
                f"{seconds:.3f}s more, as its retry delay asked",
            )
        spec = plan.specs[found.index]
        win = window(spec.period, plan.now)
        amount = plan.counters[found.index].amount
        label = plan.keys.counters[found.index][2]
        used = found.used + math.ceil(found.prev * win.weight)
        if amount > spec.limit:
            return (
                spec.name,
                None,
                f"{spec.name}: this request needs {amount} {spec.unit}, "
                f"more than the whole limit of {spec.limit} for {label}",
            )
        retry = _retry_after(spec, win, found.used, found.prev, amount)
        what = "in the last minute" if spec.period == "minute" else f"this {spec.period} (UTC)"
        return (
            spec.name,
            retry,
            f"{spec.name}: {used} of {spec.limit} {spec.unit} used "
            f"{what} for {label}; this request needs {amount}; retry in {retry:.3f}s",
        )

    def _plan(self, request: GenAIRequest, *, turn: int = 0) -> _Plan:
        """What one request reserves; ``turn`` > 0: a later Live turn (no request counted)."""
        now = self._clock()
        route = request.route
        # Imagen and Veo bill images and video seconds, not tokens (the row's meter); the
        # route is checked here first, as _units would, without a call for the rest.
        units = _units(request, None) if route is not None and route.meter in _UNITS else None
        estimate_usd = prompt = estimate = 0
        if units is not None:
            if self.prices is not None:
                usd = self._unit_price(request, units)
                estimate_usd = -1 if usd is None else math.ceil(usd * MICRO)
        elif self._estimates:
            prompt, output = estimate_parts(request, self.config.default_output_tokens)
            estimate = max(prompt + output, 1)
            if self.prices is not None:
                usd = self.prices.estimate(request.model, prompt, output)
                estimate_usd = -1 if usd is None else math.ceil(usd * MICRO)
        keys = self._keys(request, now)
        counters = []
        for spec, (key, prev_key, _) in zip(self.config.limits, keys.counters, strict=True):
            unit = spec.unit
            if unit == "requests":
                amount = 0 if turn else 1
            elif unit == "tokens":
                amount = estimate
            elif unit == "usd":
                amount = max(estimate_usd, 0)
            else:  # images, video_seconds
                amount = units.get(unit, 0) if units else 0
            weight, ttl_ms = weight_ttl(spec.period, now)
            counters.append(Counter(key, spec.limit, amount, ttl_ms, prev_key, weight))
        return _Plan(
            counters,
            self.config.limits,
            now,
            keys,
            estimate,
            Hold(
                keys.hold_prefix + (f"{request.request_id}.{turn}" if turn else request.request_id),
                keys.inflight,
                self.hold_ms,
            ),
            estimate_usd,
            prompt,
            units,
        )

    def _keys(self, request: GenAIRequest, now: float) -> _Keys:
        """The counter keys ``request`` reserves against at ``now``: the same all minute long.

        Made once per caller, model and minute rather than per request (quoting, scope labels
        and key strings for every limit); the table is emptied when it grows past its bound.
        """
        identity = request.identity
        team, app, model = identity.team, identity.app, request.model
        # Minute windows change name every minute, day and month windows every UTC day.
        minute = math.floor(now / 60)
        cache_key = (team, app, model, minute, math.floor(now / 86400))
        found = self._key_cache.get(cache_key)
        if found is not None:
            return found
        tag = hash_tag(team=team, app=app)
        counters = []
        for spec in self.config.limits:
            label = scope_label(spec.scope, team=team, app=app, model=model)
            win = window(spec.period, now)
            counters.append(
                (
                    counter_key(self.prefix, spec, label, win.current, tag),
                    counter_key(self.prefix, spec, label, win.previous, tag)
                    if win.previous
                    else None,
                    label,
                )
            )
        cooldown_label = scope_label(self.config.cooldown_scope, team=team, app=app, model=model)
        hold_prefix, inflight = hold_keys(self.prefix, tag, "")
        found = _Keys(
            tag,
            tuple(counters),
            cooldown_key(self.prefix, tag, cooldown_label),
            cooldown_label,
            hold_prefix,
            inflight,
        )
        if len(self._key_cache) >= _MAX_CACHED_KEYS:
            self._key_cache.clear()
        self._key_cache[cache_key] = found
        return found

    def _unit_price(self, request: GenAIRequest, units: dict[str, int]) -> float | None:
        if self.prices is None:
            return None
        return self.prices.units(
            request.model, images=units.get("images", 0), seconds=units.get("video_seconds", 0)
        )

    # -- after

    def on_chunk(self, request: GenAIRequest, chunk: Any) -> None:
        """Keep the latest usage of a stream, in case it is cut before the end."""
        if _STATE in request.state:
            usage = usage_from(chunk)
            if usage is not None:
                request.state[_USAGE] = usage
            # Gemini reports output usage in the last chunk only: a stream cut before it is
            # charged from the text it did deliver.
            chars = delivered_text(chunk)
            if chars:
                request.state[_DELIVERED] = request.state.get(_DELIVERED, 0) + chars

    def on_response(self, request: GenAIRequest, response: GenAIResponse) -> None:
        """Charge real usage instead of the estimate; honour a 429's retry delay."""
        if response.status_code == 429 and is_metered(request):
            self._cooldown(request, response)
        plan = request.state.pop(_STATE, None)
        if not isinstance(plan, _Plan):
            return
        if not self._estimates and plan.units is None:
            # Only requests are counted, and the answer does not change that: this closes
            # the reservation (no usage or price is read).
            self._settle(request, plan, 0, 0, release_requests=False)
            return
        if plan.units is not None:
            made = _units(request, response.body if response.status_code < 400 else {"error": 1})
            spent = 0
            if self.prices is not None and plan.estimate_usd > 0 and made is not None:
                usd = self._unit_price(request, made)
                spent = plan.estimate_usd if usd is None else math.ceil(usd * MICRO)
            self._settle(request, plan, 0, spent, release_requests=False, units=made)
            return
        usage = response.usage
        if usage is None and response.stream:
            usage = self._delivered(request, plan)
        actual = tokens_used(usage) if usage is not None else None
        if actual is None:
            # An error costs nothing; a success without usage (embeddings) keeps the estimate.
            actual = 0 if response.status_code >= 400 else plan.estimate
        spent = self._usd(request, plan, usage, failed=response.status_code >= 400)
        turns = request.state.get(_LIVE_TURNS)
        if isinstance(turns, _Turns):
            # A Live session whose turns were settled one by one: its last reservation covers
            # only what it used after the last settled turn (the total is the turns' sum).
            actual = max(actual - turns.tokens, 0)
            spent = max(spent - turns.usd, 0)
        self._settle(request, plan, actual, spent, release_requests=False)

    def on_live_turn(self, request: GenAIRequest, usage: Usage) -> None:
        """Settle one Live turn's real usage, then reserve the next turn (Deny: no room).

        So a session spends no more than its limits allow plus one turn: each turn runs on a
        reservation made before it, like a request, and is charged what it really used.
        """
        plan = request.state.pop(_STATE, None)
        if not isinstance(plan, _Plan):
            return
        turns = request.state.get(_LIVE_TURNS)
        if not isinstance(turns, _Turns):
            turns = request.state[_LIVE_TURNS] = _Turns()
        actual = tokens_used(usage) or 0
        spent = self._usd(request, plan, usage, failed=False)
        self._settle(request, plan, actual, spent, release_requests=False)
        turns.tokens += actual
        turns.usd += spent
        turns.count += 1
        following = self._plan(request, turn=turns.count)
        if following.estimate_usd < 0:
            self._unpriced(request, following)
        # Never waits: the app is mid-session, and the server's next turn would not wait either.
        self._attempt(request, following, time.monotonic(), on_loop=True)

    def on_error(self, request: GenAIRequest, error: BaseException) -> None:
        """Give back the reservation: a failed call costs its real usage if known, else 0."""
        plan = request.state.pop(_STATE, None)
        if not isinstance(plan, _Plan):
            return
        usage = self._delivered(request, plan)
        actual = tokens_used(usage) if usage is not None else None
        spent = self._usd(request, plan, usage, failed=usage is None)
        # A request refused further down the chain was never sent: it costs no request either.
        self._settle(
            request,
            plan,
            actual or 0,
            spent if plan.units is None else 0,
            release_requests=isinstance(error, PolicyViolation),
            units={} if plan.units is not None else None,
        )

    def _delivered(self, request: GenAIRequest, plan: _Plan) -> Usage | None:
        """Usage of a stream that ended early.

        What the server reported, and no less output than the text it delivered (characters / 4).
        """
        usage = request.state.get(_USAGE)
        usage = usage if isinstance(usage, Usage) else None
        chars = request.state.get(_DELIVERED, 0)
        if not chars:
            return usage
        delivered = math.ceil(chars / 4)
        if usage is None:
            return Usage(prompt_tokens=plan.prompt, output_tokens=delivered)
        if (usage.output_tokens or 0) >= delivered:
            return usage
        return Usage(
            prompt_tokens=usage.prompt_tokens if usage.prompt_tokens is not None else plan.prompt,
            output_tokens=delivered,
            cached_tokens=usage.cached_tokens,
            thoughts_tokens=usage.thoughts_tokens,
            audio_tokens=usage.audio_tokens,
            tool_prompt_tokens=usage.tool_prompt_tokens,
        )

    def _usd(self, request: GenAIRequest, plan: _Plan, usage: Usage | None, *, failed: bool) -> int:
        """Micro-dollars actually spent.

        Priced usage; nothing for a failure without usage; the estimate when a success reported
        none.
        """
        if self.prices is None or plan.estimate_usd <= 0:
            return max(plan.estimate_usd, 0)
        if usage is None:
            return 0 if failed else plan.estimate_usd
        cost = self.prices.cost(request.model, usage)
        return plan.estimate_usd if cost is None else math.ceil(cost.usd * MICRO)

    def _settle(
        self,
        request: GenAIRequest,
        plan: _Plan,
        actual: int,
        spent: int,
        *,
        release_requests: bool,
        units: dict[str, int] | None = None,
    ) -> None:
        changes = []
        for counter, spec in zip(plan.counters, plan.specs, strict=True):
            if spec.unit in ("images", "video_seconds"):
                made = (units or {}).get(spec.unit, 0) if units is not None else counter.amount
                if made != counter.amount:
                    changes.append((counter.key, made - counter.amount, counter.ttl_ms))
            elif spec.unit == "tokens" and actual != plan.estimate:
                changes.append((counter.key, actual - plan.estimate, counter.ttl_ms))
            elif spec.unit == "usd" and spent != counter.amount:
                changes.append((counter.key, spent - counter.amount, counter.ttl_ms))
            elif spec.unit == "requests" and release_requests:
                changes.append((counter.key, -1, counter.ttl_ms))
        # Settled even with no change: it closes the reservation, which a sweep would
        # otherwise give back as if its process had died.
        try:
            self.store.settle(plan.hold, changes)
        except StoreUnavailable as exc:
            request.record(
                self.name,
                "error",
                f"usage not reconciled: state store unreachable ({exc})",
                enforced=False,
            )

    def _cooldown(self, request: GenAIRequest, response: GenAIResponse) -> None:
        delay = retry_delay(response)
        if delay is None or delay <= 0:
            return
        plan = request.state.get(_STATE)
        if not isinstance(plan, _Plan):
            plan = self._plan(request)
        try:
            self.store.cooldown(plan.keys.cooldown_key, delay)
        except StoreUnavailable as exc:
            request.record(
                self.name,
                "error",
                f"cooldown not recorded: state store unreachable ({exc})",
                enforced=False,
            )
            return
        request.record(
            self.name,
            "cooldown",
            f"Google answered 429; {plan.keys.cooldown_label} waits {delay:g}s as its retry delay "
            "asked",
        )


_UNITS = ("images", "video_seconds")  # meters counted in their own units, not tokens


def _units(request: GenAIRequest, response_body: Any) -> dict[str, int] | None:
    """Images or video seconds, for a route the table meters in them (None for the rest)."""
    route = request.route
    if route is None or route.meter not in _UNITS:
        return None
    return billed_units(route.meter, request.body, response_body)


def _retry_after(spec: LimitSpec, win: Window, used: int, prev: int, amount: int) -> float:
    """Seconds until ``amount`` fits, if nobody else takes capacity meanwhile."""
    if spec.period != "minute":
        return max(win.ends_in, 0.001)
    room = spec.limit - used - amount
    if room >= 0 and prev > 0:
        # Wait for enough of the previous minute to slide out of the last 60 s.
        seconds = win.length * (1 - room / prev) - win.elapsed
    else:
        # This minute alone is full: wait for the next one, then for enough of this one to
        # slide out of it.
        seconds = win.ends_in
        if used > 0:
            seconds += max(0.0, win.length * (1 - (spec.limit - amount) / used))
    return max(round(seconds, 3), 0.001)


def retry_delay(response: GenAIResponse) -> float | None:
    """A 429's ``google.rpc.RetryInfo.retryDelay`` (``"1.5s"``), else its Retry-After header."""
    body = response.body
    if isinstance(body, list) and body:
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    for detail in details if isinstance(details, list) else ():
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("rpc.RetryInfo"):
            delay = detail.get("retryDelay")
            if isinstance(delay, str) and delay.endswith("s"):
                try:
                    return float(delay[:-1])
                except ValueError:
                    pass
            elif isinstance(delay, dict):  # {"seconds": 1, "nanos": 5e8} in some encodings
                seconds = delay.get("seconds", 0)
                nanos = delay.get("nanos", 0)
                if isinstance(seconds, int | str) and isinstance(nanos, int):
                    try:
                        return float(seconds) + nanos / 1e9
                    except ValueError:
                        pass
    header = response.headers.get("retry-after") if response.headers else None
    if header:
        try:
            return float(header)
        except ValueError:
            return None
    return None


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
