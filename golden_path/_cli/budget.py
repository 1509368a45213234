"""``golden-path budget status``: usage against each rate limit and budget, now."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from golden_path.exceptions import ConfigError, ConfigProblem, StoreUnavailable
from golden_path.policies._limits._config import MICRO

if TYPE_CHECKING:
    from golden_path._settings import Settings

_SECTIONS = ("rate_limits", "budgets")
_SCOPE_KEYS = ("team", "app", "model")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``budget`` command group."""
    parser = subparsers.add_parser(
        "budget",
        help="show usage against the configured rate limits and budgets",
        description="Rate limits and budgets come from [rate_limits] and [budgets] of the "
        "policy file (GOLDEN_PATH_POLICY_FILE); usage from the state store "
        "(GOLDEN_PATH_STATE_URL).",
    )
    sub = parser.add_subparsers(dest="budget_command", metavar="SUBCOMMAND")
    status = sub.add_parser(
        "status",
        help="usage against each limit for one scope",
        description="Show usage against each rate limit and budget. With memory:// the "
        "counters live inside each app process, so a fresh process shows 0; use redis:// to "
        "see a fleet's usage.",
    )
    status.add_argument(
        "--scope",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="whose usage: team=NAME, app=NAME, model=NAME (repeatable or comma-separated; "
        "default: GOLDEN_PATH_TEAM and GOLDEN_PATH_APP)",
    )
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(handler=run_status)

    def usage(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(handler=usage)


def run_status(args: argparse.Namespace) -> int:
    """Print usage against each limit; 0 on success."""
    from golden_path._settings import read_settings
    from golden_path._state import open_store
    from golden_path.policies._limits import check_state_url, parse_limits, usage_rows

    resolved = read_settings()
    settings = resolved.settings
    source = resolved.sources.get("policy_file", "env GOLDEN_PATH_POLICY_FILE")
    sections, locate, where = _policy_sections(settings, source)
    config = parse_limits(sections, locate=locate)
    state, problems = check_state_url(settings)
    if problems or state is None:
        raise ConfigError(problems)
    scope = _scope(args.scope, settings)
    needed = {part for spec in config.limits for part in spec.scope.split("+")}
    missing = sorted(needed - {k for k, v in scope.items() if v})
    if missing:
        raise ConfigError(
            [
                ConfigProblem(
                    "--scope",
                    f"the limits are per {'+'.join(sorted(needed))}; no {', '.join(missing)} given",
                    "command line",
                    "pass --scope " + ",".join(f"{m}=NAME" for m in missing),
                )
            ]
        )
    store = open_store(state)
    try:
        rows = usage_rows(
            config,
            store,
            prefix=state.prefix,
            team=scope.get("team"),
            app=scope.get("app"),
            model=scope.get("model"),
        )
        cooldown = _cooldown(store, state.prefix, config, scope)
    except StoreUnavailable as exc:
        raise StoreUnavailable(
            f"cannot read usage: state store unreachable ({exc})", store=state.display
        ) from None
    if args.json:
        print(
            json.dumps(
                {
                    "policy_file": where,
                    "state_url": state.display,
                    "cooldown_s": cooldown,
                    "limits": [
                        {
                            "limit": r.limit,
                            "scope": r.scope,
                            "used": r.used / MICRO if r.unit == "usd" else r.used,
                            "allowed": r.allowed / MICRO if r.unit == "usd" else r.allowed,
                            "unit": r.unit,
                            "window": r.window,
                            "resets_in_s": r.resets_in_s,
                        }
                        for r in rows
                    ],
                },
                indent=2,
            )
        )
        return 0
    print(f"limits from {where}; usage from {state.display}")
    if state.kind == "memory":
        print("note: memory:// counts inside each app process only; this process made no calls")
    table = [("LIMIT", "SCOPE", "USED", "ALLOWED", "USED %", "WINDOW", "RESETS IN")]
    table += [
        (
            r.limit,
            r.scope,
            _amount(r.used, r.unit),
            _amount(r.allowed, r.unit),
            f"{100 * r.used / r.allowed:.1f}%",
            r.window,
            _duration(r.resets_in_s),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    if cooldown:
        print(f"cooling down after a 429 from Google: {cooldown:.1f}s left")
    return 0


def _policy_sections(settings: Settings, source: str) -> tuple[dict[str, Any], Any, str]:
    """The ``[rate_limits]``/``[budgets]`` tables, read and merged as the client reads them."""
    from golden_path.policies._files import read_policy_files

    path = settings.policy_file
    if path is None:
        raise ConfigError(
            [
                ConfigProblem(
                    "policy_file",
                    "no policy file is configured, so there are no limits to show",
                    "default",
                    "set GOLDEN_PATH_POLICY_FILE to the policy file or directory",
                )
            ]
        )
    tables = read_policy_files([path], source=source)
    sections = {name: tables.data[name] for name in _SECTIONS if name in tables.data}
    if not sections:
        raise ConfigError(
            [
                ConfigProblem(
                    "policy_file",
                    "has no [rate_limits] or [budgets] table",
                    str(path),
                    "add the limits (see docs/limits.md)",
                )
            ]
        )
    return sections, tables.locate, str(path)


def _scope(values: list[str], settings: Settings) -> dict[str, str | None]:
    scope: dict[str, str | None] = {"team": settings.team, "app": settings.app, "model": None}
    for value in values:
        for part in value.split(","):
            key, sep, name = part.partition("=")
            key, name = key.strip(), name.strip()
            if not sep or key not in _SCOPE_KEYS or not name:
                raise ConfigError(
                    [
                        ConfigProblem(
                            "--scope",
                            f"{part!r} is not KEY=VALUE with KEY one of {', '.join(_SCOPE_KEYS)}",
                            "command line",
                            "e.g. --scope team=ml",
                        )
                    ]
                )
            if key == "model":
                from golden_path._routes import normalize_model

                name = normalize_model(name) or name
            scope[key] = name
    return scope


def _cooldown(store: Any, prefix: str, config: Any, scope: dict[str, str | None]) -> float:
    from golden_path.policies._limits._windows import cooldown_key, hash_tag, scope_label

    if "model" in config.cooldown_scope and not scope.get("model"):
        return 0.0
    label = scope_label(
        config.cooldown_scope,
        team=scope.get("team"),
        app=scope.get("app"),
        model=scope.get("model"),
    )
    tag = hash_tag(team=scope.get("team"), app=scope.get("app"))
    return float(store.cooldown_left(cooldown_key(prefix, tag, label)))


def _duration(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def _amount(value: int, unit: str) -> str:
    # Money budgets count micro-dollars; people read dollars and cents.
    return f"${value / MICRO:,.2f}" if unit == "usd" else f"{value:,}"
