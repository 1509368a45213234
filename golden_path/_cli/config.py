"""`golden-path config`: the resolved settings, the layer each came from, and the locks."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `config` command."""
    parser = sub.add_parser(
        "config",
        help="show the resolved settings, their layers and locks",
        description="Show every setting, its value (secrets masked), the layer and source it "
        "came from, and whether the platform locked it; then any refused attempts to change a "
        "locked setting.",
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
        pinned = resolved.locks.get(field)
        rows.append(
            {
                "setting": field,
                "env": f"GOLDEN_PATH_{field.upper()}",
                "value": settings.display(field),
                "layer": resolved.layer(field),
                "source": resolved.sources.get(field, "default"),
                "lock": f"locked ({pinned.mode}) at {pinned.where}" if pinned else "",
            }
        )
    refused = [str(r) for r in resolved.refused]
    files = {
        "platform_file": str(resolved.platform_file or ""),
        "config_file": str(resolved.config_file or ""),
    }
    if args.json:
        print(json.dumps({**files, "settings": rows, "refused": refused}, indent=2))
        return 0
    print(f"platform file: {resolved.platform_file or '(none)'}")
    app_file = resolved.config_file if resolved.config_file != resolved.platform_file else None
    print(f"app file:      {app_file or '(none)'}")
    width = max(len(r["setting"]) for r in rows)
    vwidth = min(40, max(len(r["value"]) for r in rows))
    for r in rows:
        lock = f"  [{r['lock']}]" if r["lock"] else ""
        print(
            f"{r['setting']:<{width}}  {r['value']:<{vwidth}}  {r['layer']:<8}  {r['source']}{lock}"
        )
    for line in refused:
        print(f"refused: {line}")
    return 0
