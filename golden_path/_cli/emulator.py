"""``golden-path emulator``: serve the Gemini API emulator in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``emulator`` command."""
    parser = subparsers.add_parser(
        "emulator",
        help="serve a local Gemini API emulator (no credentials, synthetic answers)",
        description="Serve the Gemini Developer API, Vertex AI, OpenAI-compatible and OAuth2 "
        "endpoints on loopback with deterministic answers, until Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=_port, default=8765, help="port to bind, 0 for any free one (default 8765)"
    )
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="accept only this API key (repeatable; default: accept any non-empty key)",
    )
    parser.add_argument(
        "--token-lifetime",
        type=_lifetime,
        default=3600,
        metavar="SECONDS",
        help="lifetime of issued OAuth2 access tokens (default 3600)",
    )
    parser.set_defaults(handler=run)


def _whole(low: int, high: int, what: str, example: str) -> Callable[[str], int]:
    # argparse turns ArgumentTypeError into "argument --port: ..." and exit 2, no traceback.
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of {what}") from None
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(
                f"{number} is outside {low}-{high} {what}; use {example}"
            )
        return number

    return parse


_port = _whole(0, 65535, "(port)", "a free port such as 8765, or 0 for any")
_lifetime = _whole(1, 86400, "seconds", "e.g. 3600")


def run(args: argparse.Namespace, *, stop: threading.Event | None = None) -> int:
    """Serve until interrupted (or until ``stop`` is set, which tests use); return 0."""
    from golden_path.emulator import Emulator

    emulator = Emulator(
        host=args.host,
        port=args.port,
        api_keys=args.api_keys,
        token_lifetime_s=args.token_lifetime,
    )
    with emulator:
        lines = [
            f"Gemini API emulator listening on {emulator.url}",
            f"  OAuth2 token endpoint: {emulator.token_url}",
            "Point golden-path at it:",
            "  export GOLDEN_PATH_BACKEND=emulator",
            f"  export GOLDEN_PATH_BASE_URL={emulator.url}",
        ]
        key = "any-key"
        if args.api_keys:
            key = "<one of your --api-key values>"
            lines.append(f"  export GOLDEN_PATH_API_KEY={key}")
        lines += [
            "or the bare SDK:",
            f"  export GOOGLE_GEMINI_BASE_URL={emulator.url} GEMINI_API_KEY={key}",
            "Press Ctrl-C to stop.",
        ]
        waiter = stop or threading.Event()
        previous = None
        if threading.current_thread() is threading.main_thread():
            # `docker stop` and process managers send SIGTERM: stop as cleanly as on Ctrl-C.
            # Installed before the URL is printed, so a supervisor that reacts to the URL at
            # once cannot send SIGTERM while the default (kill) disposition still stands.
            previous = signal.signal(signal.SIGTERM, lambda *_: waiter.set())
        print("\n".join(lines), flush=True)
        try:
            while not waiter.wait(0.5):
                pass
        except KeyboardInterrupt:
            print("\nemulator stopped", file=sys.stderr)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
    return 0
