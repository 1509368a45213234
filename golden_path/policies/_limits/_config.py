"""Limit configuration: ``[rate_limits]`` and ``[budgets]`` validated into a ``LimitsConfig``."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any, Literal

from golden_path._settings import Settings
from golden_path._state import (
    REDIS_EXTRA_HINT,
    StateURL,
    StateURLError,
    parse_state_url,
    redis_available,
)
from golden_path.exceptions import ConfigError, ConfigProblem
from golden_path.policies._config import Section

__all__ = [
    "DEFAULT_OUTPUT_TOKENS",
    "MICRO",
    "SCOPES",
    "LimitSpec",
    "LimitsConfig",
    "Period",
    "Scope",
    "check_state_url",
    "locate_safely",
    "parse_limits",
]

Scope = Literal["team", "app", "team+model", "app+model"]
SCOPES: tuple[str, ...] = ("team", "app", "team+model", "app+model")
Period = Literal["minute", "day", "month"]

DEFAULT_OUTPUT_TOKENS = 1024
# The largest limit whose counters stay exact as Lua numbers (doubles) in Redis.
MAX_LIMIT = 10**15
MAX_WAIT_S = 300

Unit = Literal["requests", "tokens", "usd", "images", "video_seconds"]
_PERIODS: dict[str, tuple[str, Period, Unit]] = {
    # key: (section, period, counted unit)
    "requests_per_minute": ("rate_limits", "minute", "requests"),
    "tokens_per_minute": ("rate_limits", "minute", "tokens"),
    "tokens_per_day": ("budgets", "day", "tokens"),
    "tokens_per_month": ("budgets", "month", "tokens"),
    # Money: counted in micro-dollars, so counters stay whole numbers (and exact in Redis).
    "usd_per_day": ("budgets", "day", "usd"),
    "usd_per_month": ("budgets", "month", "usd"),
    # Imagen and Veo, in the units Google bills them (the route table's meter).
    "images_per_day": ("budgets", "day", "images"),
    "images_per_month": ("budgets", "month", "images"),
    "video_seconds_per_day": ("budgets", "day", "video_seconds"),
    "video_seconds_per_month": ("budgets", "month", "video_seconds"),
}
MICRO = 1_000_000
_COMMON_KEYS = ("scope", "on_store_error", "default_output_tokens")
_SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "rate_limits": ("requests_per_minute", "tokens_per_minute", "max_wait_s", *_COMMON_KEYS),
    "budgets": (
        "tokens_per_day",
        "tokens_per_month",
        "usd_per_day",
        "usd_per_month",
        "images_per_day",
        "images_per_month",
        "video_seconds_per_day",
        "video_seconds_per_month",
        *_COMMON_KEYS,
    ),
}


@dataclasses.dataclass(frozen=True, slots=True)
class LimitSpec:
    """One limit: ``rate_limits.tokens_per_minute = 1_000_000`` scoped per ``team``."""

    name: str
    period: Period
    unit: Unit
    # Requests, tokens, or micro-dollars for "usd" (usd_per_day = 50 is 50_000_000 here).
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
            ConfigProblem(
                field=field, message=message, source=locate_safely(locate, field), fix=fix
            )
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
        elsewhere = {k: s for s, keys in _SECTION_KEYS.items() if s != section for k in keys}
        Section(section, dict(table), lambda f: locate_safely(locate, f), problems).finish(
            _SECTION_KEYS[section],
            elsewhere={k: v for k, v in elsewhere.items() if k not in _SECTION_KEYS[section]},
        )
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
            value = _limit_value(table[key], f"{section}.{key}", unit, problem)
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


def _limit_value(value: Any, field: str, unit: Unit, problem: _Problem) -> int | None:
    if unit == "usd":
        return _money(value, field, problem)
    return _whole(value, field, unit, problem)


def _money(value: Any, field: str, problem: _Problem) -> int | None:
    """Dollars (``usd_per_day = 12.50``) as whole micro-dollars."""
    example = f"{field.rsplit('.', 1)[1]} = 50.0"
    if isinstance(value, str):
        problem(
            field,
            f"wrong unit: {value!r} is text; the unit (US dollars{_per(field)}) is in the key's "
            "name",
            f"write a plain number of dollars: {example}",
        )
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        problem(field, f"must be a number of dollars, got {_kind(value)}", f"write {example}")
        return None
    if not math.isfinite(value) or value <= 0:
        problem(
            field,
            f"must be a finite amount greater than 0, got {value:g}",
            "remove the key to have no such budget; 0 would refuse every call",
        )
        return None
    micro = round(value * MICRO)
    if micro > MAX_LIMIT:
        problem(field, f"must be at most {MAX_LIMIT // MICRO:_} dollars", "remove the key")
        return None
    return max(micro, 1)


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


def locate_safely(locate: Callable[[str], str], field: str) -> str:
    try:
        return locate(field)
    except Exception:  # noqa: BLE001 - a failing locator must not hide the real problem
        return ""


def check_state_url(settings: Settings) -> tuple[StateURL | None, list[ConfigProblem]]:
    """The parsed ``state_url``, or the problems with it (also used by ``budget status``)."""
    source = "GOLDEN_PATH_STATE_URL"
    try:
        state = parse_state_url(settings.state_url.get_secret_value())
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
