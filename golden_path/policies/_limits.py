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
import calendar
import dataclasses
import datetime as dt
import difflib
import logging
import math
import random
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, Literal

from golden_path._settings import Settings
from golden_path._state import (
    REDIS_EXTRA_HINT,
    Counter,
    Reserved,
    StateStore,
    StateURL,
    StateURLError,
    StoreUnavailable,
    open_store,
    parse_state_url,
    redis_available,
)
from golden_path.exceptions import ConfigError, ConfigProblem, PolicyViolation
from golden_path.policies._types import Deny, GenAIRequest, GenAIResponse, Usage, usage_from

__all__ = [
    "LimitSpec",
    "LimitsConfig",
    "LimitsPolicy",
    "UsageRow",
    "build_limit_policies",
    "check_state_url",
    "estimate_tokens",
    "parse_limits",
    "usage_rows",
]

log = logging.getLogger("golden_path.policies")

Scope = Literal["team", "app", "team+model", "app+model"]
SCOPES: tuple[str, ...] = ("team", "app", "team+model", "app+model")
Period = Literal["minute", "day", "month"]

# Model calls that spend quota. countTokens, listing models and file/cache management do not.
GENERATION_METHODS = frozenset({"generateContent", "streamGenerateContent", "chat.completions"})
EMBEDDING_METHODS = frozenset({"embedContent", "batchEmbedContents", "embeddings"})
LIMITED_METHODS = GENERATION_METHODS | EMBEDDING_METHODS

DEFAULT_OUTPUT_TOKENS = 1024
# What Gemini charges for one image or short media part, order of magnitude: enough to keep
# an inline image from being estimated as its base64 size in characters.
MEDIA_PART_TOKENS = 258
# The largest limit whose counters stay exact as Lua numbers (doubles) in Redis.
MAX_LIMIT = 10**15
MAX_WAIT_S = 300
_STATE = "limits.reservation"
_USAGE = "limits.usage"

_PERIODS: dict[str, tuple[str, Period, Literal["requests", "tokens"]]] = {
    # key: (section, period, counted unit)
    "requests_per_minute": ("rate_limits", "minute", "requests"),
    "tokens_per_minute": ("rate_limits", "minute", "tokens"),
    "tokens_per_day": ("budgets", "day", "tokens"),
    "tokens_per_month": ("budgets", "month", "tokens"),
}
_COMMON_KEYS = ("scope", "on_store_error", "default_output_tokens")
_SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "rate_limits": ("requests_per_minute", "tokens_per_minute", "max_wait_s", *_COMMON_KEYS),
    "budgets": ("tokens_per_day", "tokens_per_month", *_COMMON_KEYS),
}


# ----------------------------------------------------------------------------- configuration


@dataclasses.dataclass(frozen=True, slots=True)
class LimitSpec:
    """One limit: ``rate_limits.tokens_per_minute = 1_000_000`` scoped per ``team``."""

    name: str
    period: Period
    unit: Literal["requests", "tokens"]
    limit: int
    scope: Scope


@dataclasses.dataclass(frozen=True, slots=True)
class LimitsConfig:
    """Both sections, validated."""

    limits: tuple[LimitSpec, ...]
    max_wait_s: float = 0.0
    on_store_error: Literal["deny", "allow"] = "deny"
    default_output_tokens: int = DEFAULT_OUTPUT_TOKENS
    cooldown_scope: Scope = "team"

    @property
    def scopes(self) -> tuple[Scope, ...]:
        """The scopes in use, in order of first use."""
        return tuple(dict.fromkeys(spec.scope for spec in self.limits))


@dataclasses.dataclass(slots=True)
class _Parsed:
    limits: list[LimitSpec] = dataclasses.field(default_factory=list)
    scopes: dict[str, Scope] = dataclasses.field(default_factory=dict)
    stores: dict[str, str] = dataclasses.field(default_factory=dict)
    outputs: dict[str, int] = dataclasses.field(default_factory=dict)
    max_wait: float = 0.0


_Problem = Callable[[str, str, str], None]


def parse_limits(sections: Mapping[str, Any], *, locate: Callable[[str], str]) -> LimitsConfig:
    """Validate the raw ``rate_limits``/``budgets`` tables; ConfigError lists every problem."""
    problems: list[ConfigProblem] = []

    def problem(field: str, message: str, fix: str) -> None:
        problems.append(
            ConfigProblem(field=field, message=message, source=_safe(locate, field), fix=fix)
        )

    parsed = _Parsed()
    for section in ("rate_limits", "budgets"):
        if section not in sections:
            continue
        table = sections[section]
        if not isinstance(table, Mapping):
            problem(
                section,
                f"must be a table, got {_kind(table)}",
                f"write it as a [{section}] table of keys",
            )
            continue
        _unknown_keys(section, table, problem)
        _parse_section(section, table, parsed, problem)
    if len(set(parsed.stores.values())) > 1:
        problem(
            "budgets.on_store_error",
            "differs from rate_limits.on_store_error",
            "set the same value in both sections (one check covers both)",
        )
    if len(set(parsed.outputs.values())) > 1:
        problem(
            "budgets.default_output_tokens",
            "differs from rate_limits.default_output_tokens",
            "set the same value in both sections (one estimate covers both)",
        )
    if problems:
        raise ConfigError(problems)
    return LimitsConfig(
        limits=tuple(parsed.limits),
        max_wait_s=parsed.max_wait,
        on_store_error="allow" if "allow" in parsed.stores.values() else "deny",
        default_output_tokens=next(iter(parsed.outputs.values()), DEFAULT_OUTPUT_TOKENS),
        cooldown_scope=parsed.scopes.get("rate_limits", parsed.scopes.get("budgets", "team")),
    )


def _unknown_keys(section: str, table: Mapping[str, Any], problem: _Problem) -> None:
    known = _SECTION_KEYS[section]
    for key in table:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key), known, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        other = next((s for s, keys in _SECTION_KEYS.items() if s != section and key in keys), None)
        if other:
            hint = f"{key} belongs in [{other}]; "
        problem(
            f"{section}.{key}",
            "unknown key",
            f"{hint}known keys of [{section}]: {', '.join(known)}",
        )


def _parse_section(
    section: str, table: Mapping[str, Any], parsed: _Parsed, problem: _Problem
) -> None:
    scope = table.get("scope", "team")
    if scope not in SCOPES:
        problem(f"{section}.scope", f"unknown scope {scope!r}", f"use one of: {', '.join(SCOPES)}")
        scope = "team"
    parsed.scopes[section] = scope
    own = [key for key, (owner, _, _) in _PERIODS.items() if owner == section]
    for key in own:
        if key in table:
            _, period, unit = _PERIODS[key]
            value = _whole(table[key], f"{section}.{key}", unit, problem)
            if value is not None:
                parsed.limits.append(LimitSpec(f"{section}.{key}", period, unit, value, scope))
    if not any(key in table for key in own):
        problem(section, "sets no limit", f"add one of: {', '.join(own)}, or remove [{section}]")
    if "on_store_error" in table:
        choice = table["on_store_error"]
        if choice in ("deny", "allow"):
            parsed.stores[section] = choice
        else:
            problem(
                f"{section}.on_store_error",
                f'must be "deny" or "allow", got {choice!r}',
                "deny (the default) refuses calls while the state store is unreachable; "
                "allow lets them through unlimited",
            )
    if "default_output_tokens" in table:
        value = _whole(
            table["default_output_tokens"], f"{section}.default_output_tokens", "tokens", problem
        )
        if value is not None:
            parsed.outputs[section] = value
    if "max_wait_s" in table:
        parsed.max_wait = _seconds(table["max_wait_s"], f"{section}.max_wait_s", problem)


def _whole(value: Any, field: str, unit: str, problem: _Problem) -> int | None:
    example = f"{field.rsplit('.', 1)[1]} = 1_000_000"
    if isinstance(value, str):
        problem(
            field,
            f"wrong unit: {value!r} is text; the unit ({unit}{_per(field)}) is in the key's name",
            f"write a plain number: {example}",
        )
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        problem(
            field,
            f"must be a whole number of {unit}, got {_kind(value)}",
            f"write a plain number: {example}",
        )
        return None
    if isinstance(value, float) and not value.is_integer():
        problem(
            field,
            f"must be a whole number of {unit}, got {value}",
            f"round it: {field.rsplit('.', 1)[1]} = {math.floor(value)}",
        )
        return None
    if value <= 0:
        problem(
            field,
            f"must be greater than 0, got {value:g}",
            "remove the key to have no such limit; 0 would refuse every call",
        )
        return None
    if value > MAX_LIMIT:
        problem(
            field,
            f"must be at most {MAX_LIMIT:_}, got {value:_}",
            "remove the key to have no such limit",
        )
        return None
    return int(value)


def _per(field: str) -> str:
    for suffix in ("minute", "day", "month"):
        if field.endswith(suffix):
            return f" per {suffix}"
    return ""


def _seconds(value: Any, field: str, problem: _Problem) -> float:
    if isinstance(value, str):
        problem(
            field,
            f"wrong unit: {value!r} is text; the unit (seconds) is in the key's name",
            "write a number of seconds: max_wait_s = 5",
        )
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        problem(
            field,
            f"must be a number of seconds, got {_kind(value)}",
            "write a number of seconds: max_wait_s = 5",
        )
        return 0.0
    if not 0 <= value <= MAX_WAIT_S:
        problem(
            field,
            f"must be between 0 and {MAX_WAIT_S} seconds, got {value:g}",
            "0 denies at once; a few seconds smooths short bursts",
        )
        return 0.0
    return float(value)


def _kind(value: Any) -> str:
    return {bool: "true/false", list: "a list", dict: "a table"}.get(
        type(value), type(value).__name__
    )


def _safe(locate: Callable[[str], str], field: str) -> str:
    try:
        return locate(field)
    except Exception:  # noqa: BLE001 - a failing locator must not hide the real problem
        return ""


def check_state_url(settings: Settings) -> tuple[StateURL | None, list[ConfigProblem]]:
    """The parsed ``state_url``, or the problems with it (also used by ``budget status``)."""
    source = "GOLDEN_PATH_STATE_URL"
    try:
        state = parse_state_url(settings.state_url)
    except StateURLError as exc:
        return None, [ConfigProblem("state_url", exc.message, source, exc.fix)]
    if state.kind == "redis" and not redis_available():
        return None, [
            ConfigProblem(
                "state_url",
                "redis:// needs the redis client, which is not installed",
                source,
                REDIS_EXTRA_HINT,
            )
        ]
    return state, []


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
                        _safe(locate, f"{section}.scope"),
                        f"set GOLDEN_PATH_{who.upper()}, or pick another scope",
                    )
                )
    if problems or config is None or state is None:
        raise ConfigError(problems)
    if not config.limits:
        return []
    return [LimitsPolicy(config, open_store(state), prefix=state.prefix, clock=clock)]


# ----------------------------------------------------------------------------- keys and windows


def scope_label(scope: Scope, *, team: str | None, app: str | None, model: str | None) -> str:
    """``team=ml`` or ``app=chat+model=gemini-2.5-flash``: the scope part of a counter's key."""
    who = scope.split("+")[0]
    label = f"{who}={_quote(team if who == 'team' else app)}"
    if scope.endswith("+model"):
        label += f"+model={_quote(model)}"
    return label


def _quote(value: str | None) -> str:
    # Keys must stay unambiguous whatever a team or model is called.
    return urllib.parse.quote(value or "-", safe="-._~@")


@dataclasses.dataclass(frozen=True, slots=True)
class _Window:
    current: str
    previous: str | None
    weight: float
    ttl_ms: int
    elapsed: float
    length: float  # seconds from the window's start to its end
    ends_in: float


def window(period: Period, now: float) -> _Window:
    """The window a counter of this period is in at ``now`` (seconds since the epoch, UTC)."""
    if period == "minute":
        index = math.floor(now / 60)
        elapsed = now - index * 60
        # Kept through the next minute, where it is the "previous" window, plus some slack.
        ttl = (120 - elapsed + 5) * 1000
        return _Window(
            f"m{index}",
            f"m{index - 1}",
            1 - elapsed / 60,
            math.ceil(ttl),
            elapsed,
            60.0,
            60 - elapsed,
        )
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    if period == "day":
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + dt.timedelta(days=1)
        name = f"d{start:%Y-%m-%d}"
    else:
        start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        days = calendar.monthrange(start.year, start.month)[1]
        end = start + dt.timedelta(days=days)
        name = f"mo{start:%Y-%m}"
    ends_in = end.timestamp() - now
    # A response that finishes just after midnight still finds its reservation to reconcile.
    ttl = (ends_in + 3600) * 1000
    return _Window(
        name,
        None,
        0.0,
        math.ceil(ttl),
        now - start.timestamp(),
        end.timestamp() - start.timestamp(),
        ends_in,
    )


def counter_key(prefix: str, spec: LimitSpec, label: str, window_name: str) -> str:
    """``golden-path:team=ml:tokens:d2025-01-30``."""
    return f"{prefix}:{label}:{spec.unit}:{window_name}"


# ----------------------------------------------------------------------------- estimates


def estimate_tokens(request: GenAIRequest, default_output: int = DEFAULT_OUTPUT_TOKENS) -> int:
    """Tokens a request may cost, before it is sent.

    Prompt characters / 4, media parts at a flat rate, plus the request's output cap
    (``maxOutputTokens``, ``max_tokens``) or ``default_output``.
    """
    body = request.body
    chars, media = _measure(body)
    prompt = math.ceil(chars / 4) + media * MEDIA_PART_TOKENS
    if request.api_method not in GENERATION_METHODS:
        return max(prompt, 1)
    return max(prompt + _output_cap(body, default_output), 1)


_MEDIA_KEYS = frozenset(
    {"inlineData", "inline_data", "fileData", "file_data", "image_url", "input_audio"}
)
_SKIP_KEYS = frozenset(
    {
        "generationConfig",
        "safetySettings",
        "model",
        "role",
        "mimeType",
        "responseMimeType",
        "stream",
        "cachedContent",
    }
)


def _measure(value: Any, depth: int = 0) -> tuple[int, int]:
    if depth > 64:
        return 0, 0
    if isinstance(value, str):
        return len(value), 0
    chars = media = 0
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _MEDIA_KEYS:
                media += 1
            elif key not in _SKIP_KEYS:
                c, m = _measure(item, depth + 1)
                chars, media = chars + c, media + m
    elif isinstance(value, list):
        for item in value:
            c, m = _measure(item, depth + 1)
            chars, media = chars + c, media + m
    return chars, media


def _output_cap(body: Any, default: int) -> int:
    if not isinstance(body, dict):
        return default
    config = body.get("generationConfig")
    if isinstance(config, dict):
        cap = _positive(config.get("maxOutputTokens"))
        count = _positive(config.get("candidateCount")) or 1
    else:
        cap = _positive(body.get("max_completion_tokens")) or _positive(body.get("max_tokens"))
        count = _positive(body.get("n")) or 1
    return (cap or default) * count


def _positive(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value


def _tokens(usage: Usage | None) -> int | None:
    if usage is None:
        return None
    if usage.total_tokens is not None:
        return usage.total_tokens
    parts = [usage.prompt_tokens, usage.output_tokens, usage.thoughts_tokens]
    if all(p is None for p in parts):
        return None
    return sum(p or 0 for p in parts)


# ----------------------------------------------------------------------------- the policy


@dataclasses.dataclass(slots=True)
class _Plan:
    counters: list[Counter]
    specs: list[LimitSpec]
    windows: list[_Window]
    labels: list[str]
    cooldown_key: str
    cooldown_label: str
    estimate: int


class LimitsPolicy:
    """Reserve before, reconcile after, against a :class:`StateStore`."""

    name = "limits"

    def __init__(
        self,
        config: LimitsConfig,
        store: StateStore,
        *,
        prefix: str = "golden-path",
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.prefix = prefix
        self._clock = clock or time.time

    # -- before

    def on_request(self, request: GenAIRequest) -> None:
        """Reserve, sleeping up to ``max_wait_s`` for capacity (never on an event loop)."""
        if request.api_method not in LIMITED_METHODS:
            return
        plan = self._plan(request)
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

    async def aon_request(self, request: GenAIRequest) -> None:
        """The async form: awaits instead of sleeping, for a chain that awaits its hooks."""
        if request.api_method not in LIMITED_METHODS:
            return
        plan = self._plan(request)
        deadline = time.monotonic() + self.config.max_wait_s
        waited = 0.0
        while True:
            wait = self._attempt(request, plan, deadline, on_loop=False)
            if wait is None:
                break
            await asyncio.sleep(wait)
            waited += wait
            plan = self._plan(request)
        self._record_wait(request, waited)

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
            found = self.store.reserve(plan.counters, plan.cooldown_key)
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
                f"Google answered 429 for {plan.cooldown_label}; cooling down for "
                f"{seconds:.3f}s more, as its retry delay asked",
            )
        spec = plan.specs[found.index]
        win = plan.windows[found.index]
        amount = plan.counters[found.index].amount
        label = plan.labels[found.index]
        used = found.used + math.floor(found.prev * win.weight)
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

    def _plan(self, request: GenAIRequest) -> _Plan:
        now = self._clock()
        identity = request.identity
        estimate = estimate_tokens(request, self.config.default_output_tokens)
        counters, specs, windows, labels = [], [], [], []
        for spec in self.config.limits:
            label = scope_label(
                spec.scope, team=identity.team, app=identity.app, model=request.model
            )
            win = window(spec.period, now)
            counters.append(
                Counter(
                    key=counter_key(self.prefix, spec, label, win.current),
                    limit=spec.limit,
                    amount=1 if spec.unit == "requests" else estimate,
                    ttl_ms=win.ttl_ms,
                    prev_key=counter_key(self.prefix, spec, label, win.previous)
                    if win.previous
                    else None,
                    prev_weight=win.weight,
                )
            )
            specs.append(spec)
            windows.append(win)
            labels.append(label)
        cooldown_label = scope_label(
            self.config.cooldown_scope, team=identity.team, app=identity.app, model=request.model
        )
        return _Plan(
            counters,
            specs,
            windows,
            labels,
            f"{self.prefix}:{cooldown_label}:cooldown",
            cooldown_label,
            estimate,
        )

    # -- after

    def on_chunk(self, request: GenAIRequest, chunk: Any) -> None:
        """Keep the latest usage of a stream, in case it is cut before the end."""
        if _STATE in request.state:
            usage = usage_from(chunk)
            if usage is not None:
                request.state[_USAGE] = usage

    def on_response(self, request: GenAIRequest, response: GenAIResponse) -> None:
        """Charge real usage instead of the estimate; honour a 429's retry delay."""
        if response.status_code == 429 and request.api_method in LIMITED_METHODS:
            self._cooldown(request, response)
        plan = request.state.pop(_STATE, None)
        if not isinstance(plan, _Plan):
            return
        actual = _tokens(response.usage) if response.usage is not None else None
        if actual is None:
            # An error costs nothing; a success without usage (embeddings) keeps the estimate.
            actual = 0 if response.status_code >= 400 else plan.estimate
        self._settle(request, plan, actual, release_requests=False)

    def on_error(self, request: GenAIRequest, error: BaseException) -> None:
        """Give back the reservation: a failed call costs its real usage if known, else 0."""
        plan = request.state.pop(_STATE, None)
        if not isinstance(plan, _Plan):
            return
        usage = request.state.get(_USAGE)
        actual = _tokens(usage) if isinstance(usage, Usage) else None
        # A request refused further down the chain was never sent: it costs no request either.
        self._settle(
            request, plan, actual or 0, release_requests=isinstance(error, PolicyViolation)
        )

    def _settle(
        self, request: GenAIRequest, plan: _Plan, actual: int, *, release_requests: bool
    ) -> None:
        changes = []
        for counter, spec in zip(plan.counters, plan.specs, strict=True):
            if spec.unit == "tokens" and actual != plan.estimate:
                changes.append((counter.key, actual - plan.estimate, counter.ttl_ms))
            elif spec.unit == "requests" and release_requests:
                changes.append((counter.key, -1, counter.ttl_ms))
        if not changes:
            return
        try:
            self.store.adjust(changes)
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
            self.store.cooldown(plan.cooldown_key, delay)
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
            f"Google answered 429; {plan.cooldown_label} waits {delay:g}s as its retry delay asked",
        )


def _retry_after(spec: LimitSpec, win: _Window, used: int, prev: int, amount: int) -> float:
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


# ----------------------------------------------------------------------------- status


@dataclasses.dataclass(frozen=True, slots=True)
class UsageRow:
    """One line of ``golden-path budget status``."""

    limit: str
    scope: str
    used: int
    allowed: int
    window: str
    resets_in_s: float


def usage_rows(
    config: LimitsConfig,
    store: StateStore,
    *,
    prefix: str,
    team: str | None,
    app: str | None,
    model: str | None,
    clock: Callable[[], float] | None = None,
) -> list[UsageRow]:
    """Usage against each limit for one scope, now. Raises StoreUnavailable."""
    now = (clock or time.time)()
    keys: list[str] = []
    parts: list[tuple[LimitSpec, str, _Window]] = []
    for spec in config.limits:
        label = scope_label(spec.scope, team=team, app=app, model=model)
        win = window(spec.period, now)
        keys.append(counter_key(prefix, spec, label, win.current))
        keys.append(counter_key(prefix, spec, label, win.previous) if win.previous else "")
        parts.append((spec, label, win))
    values = store.read([k for k in keys if k])
    found = dict(zip([k for k in keys if k], values, strict=True))
    rows = []
    for index, (spec, label, win) in enumerate(parts):
        used = found.get(keys[2 * index], 0)
        prev_key = keys[2 * index + 1]
        if prev_key:
            used += math.floor(found.get(prev_key, 0) * win.weight)
        name = {
            "minute": "last 60 s (sliding)",
            "day": f"{win.current[1:]} (UTC day)",
            "month": f"{win.current[2:]} (UTC month)",
        }[spec.period]
        rows.append(UsageRow(spec.name, label, used, spec.limit, name, round(win.ends_in, 1)))
    return rows
