"""Policy layers: the platform's policy set is the floor; an app's policy files may only tighten.

:data:`RULES` is the one table saying, key by key, how an app's value combines with the
platform's: allowlists must stay inside the platform's (the result is the app's narrower
list), caps and limits take the minimum, deny lists and PII kinds add up, orders (``mode``,
``on_exceed``, ``action``, safety thresholds) may only move towards strict. An app value that
would loosen is a ConfigProblem naming both places; a key this table does not know may only
repeat the platform's value (fail closed). Both inputs are already-merged policy data (the
loader reads and merges each layer's files), with a function locating each dotted key.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable, Mapping
from typing import Any

from golden_path.exceptions import ConfigProblem

__all__ = ["RULES", "Layered", "tighten"]

Locate = Callable[[str], str]

# Strictness orders: later is stricter.
_ORDERS: dict[str, tuple[str, ...]] = {
    "mode": ("report", "enforce"),
    "on_exceed": ("clamp", "deny"),
    "pii_action": ("report", "redact", "deny"),
    "on_store_error": ("allow", "deny"),
    "unknown": ("allow", "report", "deny"),
    "threshold": (
        "OFF",
        "BLOCK_NONE",
        "BLOCK_ONLY_HIGH",
        "BLOCK_MEDIUM_AND_ABOVE",
        "BLOCK_LOW_AND_ABOVE",
    ),
    "fail_open": (True, False),  # type: ignore[dict-item]
}

# section -> key -> rule. "*" is every key of a section not listed ([labels] keys are labels).
# Rules: subset (allowlist: the app's list, inside the platform's), union (deny lists, kinds),
# min/max (numbers), order:NAME (towards strict in _ORDERS[NAME]), each-order:NAME (a table
# whose values follow an order), add (a table the app may add keys to, never change), any (the
# app's choice: no effect on what is allowed).
RULES: dict[str, dict[str, str]] = {
    "limits": {"mode": "order:mode", "max_request_bytes": "min"},
    "models": {
        "mode": "order:mode",
        "allow": "subset",
        "deny": "union",
        "aliases": "add",
        "agents": "subset",
    },
    "routes": {
        "mode": "order:mode",
        "unknown": "order:unknown",
        "origins": "subset",
        "ephemeral_token_max_s": "min",
    },
    "vertex": {"mode": "order:mode", "locations": "subset"},
    "tools": {"mode": "order:mode", "deny": "union"},
    "generation": {
        "mode": "order:mode",
        "max_output_tokens": "min",
        "on_exceed": "order:on_exceed",
    },
    "safety": {
        "mode": "order:mode",
        "minimum": "order:threshold",
        "categories": "union",
        "thresholds": "each-order:threshold",
    },
    "labels": {"mode": "order:mode", "*": "add-key"},
    "pii": {"mode": "order:mode", "action": "order:pii_action", "detect": "union"},
    "chain": {"fail_open": "order:fail_open"},
    "rate_limits": {
        "requests_per_minute": "min",
        "tokens_per_minute": "min",
        "max_wait_s": "any",
        "scope": "same",
        "on_store_error": "order:on_store_error",
        "default_output_tokens": "max",
    },
    "budgets": {
        "tokens_per_day": "min",
        "tokens_per_month": "min",
        "usd_per_day": "min",
        "usd_per_month": "min",
        "images_per_day": "min",
        "images_per_month": "min",
        "video_seconds_per_day": "min",
        "video_seconds_per_month": "min",
        "scope": "same",
        "on_store_error": "order:on_store_error",
        "default_output_tokens": "max",
    },
}
# Sections in force even when the platform's files leave them out (the route gate and the
# chain's settings always apply): an app's values are checked against their defaults.
_ALWAYS = ("routes", "chain")
# Values a key has when a section leaves it out, where that matters for "may only tighten".
_DEFAULTS: dict[str, Any] = {
    "mode": "enforce",
    "generation.on_exceed": "clamp",
    "pii.action": "redact",
    "chain.fail_open": False,
    "models.agents": [],  # no Interactions agent unless the platform lists it
    "routes.unknown": "deny",
    "routes.origins": [],  # credentials go to the configured endpoint only
    "routes.ephemeral_token_max_s": 0,  # minting Live tokens is off
    "rate_limits.on_store_error": "deny",
    "rate_limits.scope": "team",
    "budgets.scope": "team",
    "budgets.on_store_error": "deny",
}


@dataclasses.dataclass
class Layered:
    """The combined data, where each key now comes from, and which layers each section has."""

    data: dict[str, Any]
    where: dict[str, str]
    layers: dict[str, str]


def tighten(
    platform: Mapping[str, Any],
    platform_at: Locate,
    app: Mapping[str, Any],
    app_at: Locate,
    problems: list[ConfigProblem],
) -> Layered:
    """The platform's data with the app's tightening applied; loosening goes to ``problems``."""
    data: dict[str, Any] = {k: _copy(v) for k, v in platform.items()}
    where: dict[str, str] = {}
    layers = dict.fromkeys(platform, "platform")
    for section, value in app.items():
        if section == "custom":
            # More policies only ever add refusals: the app's run after the platform's.
            mine = value if isinstance(value, list) else [value]
            theirs = data.get("custom", [])
            data["custom"] = [*(theirs if isinstance(theirs, list) else [theirs]), *mine]
            layers["custom"] = "platform+app" if "custom" in platform else "app"
            continue
        if section not in platform and section not in _ALWAYS:
            data[section] = _copy(value)
            layers[section] = "app"
            where[section] = app_at(section)
            continue
        ours = data.setdefault(section, {})
        if not isinstance(value, dict) or not isinstance(ours, dict):
            if value != ours:
                _loosen(problems, section, app_at(section), platform_at(section), "replaces")
            continue
        layers[section] = "platform+app" if section in platform else "app"
        rules = RULES.get(section, {})
        for key, mine in value.items():
            dotted = f"{section}.{key}"
            rule = rules.get(key, rules.get("*", "same"))
            merged = _combine(rule, ours.get(key, _default(section, key)), mine)
            if isinstance(merged, _Loose):
                _loosen(
                    problems,
                    dotted,
                    app_at(dotted),
                    _platform_place(section, platform, platform_at, dotted),
                    merged.why,
                )
                continue
            if merged is not _KEEP:
                ours[key] = merged
                where[dotted] = app_at(dotted)
    return Layered(data, where, layers)


class _Loose:
    def __init__(self, why: str) -> None:
        self.why = why


_KEEP = object()
_ABSENT = object()


def _default(section: str, key: str) -> Any:
    return _DEFAULTS.get(f"{section}.{key}", _DEFAULTS.get(key, _ABSENT))


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return list(value)
    return value


def _combine(rule: str, ours: Any, mine: Any) -> Any:
    """The combined value, _KEEP (the platform's stays), or _Loose(why)."""
    kind, _, order = rule.partition(":")
    combine = _COMBINERS.get(kind)
    if rule == "any" or (ours is _ABSENT and combine is not None):
        return mine  # the app adds a rule where the platform has none
    if combine is None and ours is _ABSENT:
        return _Loose("sets a key only the platform's policy files may set")
    if combine is None:
        # "same", and any rule this table does not know: only the platform's value may repeat.
        return _KEEP if mine == ours else _Loose(f"changes the platform's value {ours!r}")
    return combine(order, ours, mine)


def _bound(kind: str) -> Callable[[str, Any, Any], Any]:
    def combine(_: str, ours: Any, mine: Any) -> Any:
        if not _number(ours) or not _number(mine):
            return mine  # type errors are the section reader's to report
        if (mine > ours) if kind == "min" else (mine < ours):
            word = "above" if kind == "min" else "below"
            return _Loose(f"sets {mine}, {word} the platform's {ours}")
        return mine

    return combine


def _subset(_: str, ours: Any, mine: Any) -> Any:
    if not isinstance(mine, list) or not isinstance(ours, list):
        return mine
    outside = [m for m in mine if not any(_covers(p, m) for p in ours)]
    if outside:
        return _Loose(f"allows {', '.join(map(repr, outside))}, outside the platform's list")
    return mine


def _union(_: str, ours: Any, mine: Any) -> Any:
    if not isinstance(mine, list) or not isinstance(ours, list):
        return mine
    return [*ours, *(m for m in mine if m not in ours)]


def _each_order(order: str, ours: Any, mine: Any) -> Any:
    if not isinstance(mine, dict) or not isinstance(ours, dict):
        return mine
    result = dict(ours)
    for name, value in mine.items():
        step = _ordered(order, ours.get(name, _ABSENT), value)
        if isinstance(step, _Loose):
            return _Loose(f"{name}: {step.why}")
        result[name] = value
    return result


def _add(_: str, ours: Any, mine: Any) -> Any:
    if not isinstance(mine, dict) or not isinstance(ours, dict):
        return mine
    changed = [k for k, v in mine.items() if k in ours and ours[k] != v]
    if changed:
        return _Loose(f"changes the platform's {', '.join(changed)}")
    return {**ours, **mine}


def _add_key(_: str, ours: Any, mine: Any) -> Any:
    return _KEEP if mine == ours else _Loose(f"changes the platform's value {ours!r}")


def _ordered(name: str, ours: Any, mine: Any) -> Any:
    order = _ORDERS[name]
    if ours is _ABSENT:
        return mine
    if mine not in order or ours not in order:
        return mine  # invalid values are the section reader's to report
    if order.index(mine) < order.index(ours):
        return _Loose(f"sets {_toml(mine)}, laxer than the platform's {_toml(ours)}")
    return mine


def _toml(value: Any) -> str:
    """A value as the policy file spells it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_COMBINERS: dict[str, Callable[[str, Any, Any], Any]] = {
    "min": _bound("min"),
    "max": _bound("max"),
    "subset": _subset,
    "union": _union,
    "order": _ordered,
    "each-order": _each_order,
    "add": _add,
    "add-key": _add_key,
}


def _covers(pattern: Any, entry: Any) -> bool:
    """Whether the platform's allow ``pattern`` admits everything the app's ``entry`` does."""
    if not isinstance(pattern, str) or not isinstance(entry, str):
        return False
    return fnmatch.fnmatchcase(entry.lower(), pattern.lower())


def _platform_place(
    section: str, platform: Mapping[str, Any], platform_at: Locate, dotted: str
) -> str:
    if section in platform:
        return platform_at(dotted)
    return "golden-path's default"


def _loosen(
    problems: list[ConfigProblem], key: str, app_at: str, platform_at: str, why: str
) -> None:
    problems.append(
        ConfigProblem(
            key,
            f"an app policy file may only tighten the platform's; this {why} "
            f"(platform: {platform_at})",
            app_at,
            "remove it from the app's policy file, or ask the platform team to change "
            f"{platform_at.rpartition(':')[0]}"
            if ":" in platform_at
            else "remove it from the app's policy file; only the platform's files may set it",
        )
    )
