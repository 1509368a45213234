"""The ``golden-path`` command: one module per command group in ``golden_path/_cli/``.

Every GoldenPathError becomes a message on stderr and exit code 2 (1 for a failed check);
no traceback ever reaches a CLI user, and no secret is printed.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from golden_path.exceptions import ConfigError, GoldenPathError

__all__ = ["main"]

# Command modules, each with register(subparsers). Imported lazily by name so `--help` and one
# command do not pay for the others' imports.
COMMANDS = (
    "config",
    "doctor",
    "generate",
    "demo",
    "emulator",
    "policy",
    "audit",
    "budget",
    "versions",
    "routes",
    "gateway",
    "upgrade",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (used by main and by the docs test)."""
    parser = argparse.ArgumentParser(
        prog="golden-path",
        description="The sanctioned way to call Gemini: configuration, checks, policies, "
        "audit and a local emulator.",
    )
    from golden_path._version import VERSION

    parser.add_argument("--version", action="version", version=f"golden-path {VERSION}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"golden_path._cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.WARNING, format="golden-path: %(message)s")
    try:
        return int(handler(args))
    except ConfigError as exc:
        print(f"golden-path: {exc}", file=sys.stderr)
        return 2
    except GoldenPathError as exc:
        print(f"golden-path: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("golden-path: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
