"""`golden-path config`: the resolved settings and where each value came from."""

from __future__ import annotations

import argparse
import json
from typing import Any

from golden_path._cli._common import display_value

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `config` command."""
    parser = sub.add_parser(
        "config",
        help="show the resolved settings and their sources",
        description="Show every setting, its value (secrets masked) and "
        "where it came from, in precedence order.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the settings; a ConfigError propagates to main (exit 2, every problem listed)."""
    from golden_path._settings import Settings, load_settings

    resolved = load_settings()
    settings = resolved.settings
    rows: list[dict[str, Any]] = []
    for field in Settings.model_fields:
        value = getattr(settings, field)
        rows.append(
            {
                "setting": field,
                "env": f"GOLDEN_PATH_{field.upper()}",
                "value": display_value(
                    field, value if not hasattr(value, "get_secret_value") else "secret"
                ),
                "source": resolved.sources.get(field, "default"),
            }
        )
    if args.json:
        print(
            json.dumps({"config_file": str(resolved.config_file or ""), "settings": rows}, indent=2)
        )
        return 0
    print(f"config file: {resolved.config_file or '(none)'}")
    width = max(len(r["setting"]) for r in rows)
    vwidth = min(48, max(len(r["value"]) for r in rows))
    for r in rows:
        print(f"{r['setting']:<{width}}  {r['value']:<{vwidth}}  {r['source']}")
    return 0
