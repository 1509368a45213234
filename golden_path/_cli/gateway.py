"""``golden-path gateway``: serve the gateway, and issue, list and revoke app keys."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``gateway`` command and its ``keys`` subcommands."""
    parser = subparsers.add_parser(
        "gateway",
        help="serve the golden-path gateway (Gemini REST, SSE, uploads, Live, OpenAI layer)",
        description="Serve Gemini's native REST protocol (both backends' shapes), the "
        "OpenAI-compatible endpoints and Live websockets to apps in any language. Every request "
        "runs golden-path's policies, limits and audit under the calling app's identity; only "
        "the gateway holds Google credentials. Upstream, credentials, policies and audit come "
        "from golden-path's usual configuration (GOLDEN_PATH_*); the gateway's own settings "
        "from --config and GOLDEN_PATH_GATEWAY_*.",
    )
    add_serve_arguments(parser)
    parser.set_defaults(handler=run)
    sub = parser.add_subparsers(dest="gateway_command", metavar="SUBCOMMAND")
    keys = sub.add_parser("keys", help="issue, list and revoke per-app keys")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    issue = keys_sub.add_parser(
        "issue", help="create a key for an app (printed once; only its hash is stored)"
    )
    issue.add_argument("--keys-file", type=Path, required=True, help="TOML file of key hashes")
    issue.add_argument("--app", required=True, help="the app the key identifies")
    issue.add_argument("--team", help="the app's team (limits and audit)")
    issue.add_argument(
        "--expires", help="ISO date-time after which the key stops working (UTC if no offset)"
    )
    issue.set_defaults(handler=run_issue)
    listing = keys_sub.add_parser("list", help="list keys: id, app, team, created, expires")
    listing.add_argument("--keys-file", type=Path, required=True)
    listing.set_defaults(handler=run_list)
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its id (hash prefix)")
    revoke.add_argument("--keys-file", type=Path, required=True)
    revoke.add_argument("key_id", help="the id `keys list` shows (at least 8 characters)")
    revoke.set_defaults(handler=run_revoke)


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The serving options (shared with ``python -m golden_path.gateway``)."""
    parser.add_argument("--config", type=Path, help="gateway TOML ([gateway] table)")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8080)")
    parser.add_argument("--keys-file", type=Path, help="TOML of app key hashes")
    parser.add_argument(
        "--drain-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="on SIGTERM, report not-ready this long before refusing connections (pods: 5)",
    )
    parser.add_argument(
        "--log-level", default="warning", choices=["debug", "info", "warning", "error"]
    )


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT."""
    try:
        from golden_path.gateway import Gateway, load_gateway_config, serve
    except ImportError as exc:
        print(
            f"golden-path: the gateway needs its extra ({exc.name} is missing): "
            "pip install 'golden-path[gateway]'",
            file=sys.stderr,
        )
        return 2
    config = load_gateway_config(
        args.config, host=args.host, port=args.port, keys_file=args.keys_file
    )
    gateway = Gateway(config)
    scheme = "https" if config.tls_certfile else "http"
    print(
        f"golden-path gateway on {scheme}://{config.host}:{config.port} -> "
        f"{gateway.upstream.describe()} ({gateway.upstream.endpoint})",
        file=sys.stderr,
        flush=True,
    )
    serve(gateway, drain_delay_s=args.drain_delay, log_level=args.log_level)
    return 0


def run_issue(args: argparse.Namespace) -> int:
    """Print a new key once; store its hash."""
    from golden_path.gateway._identity import issue_key

    expires = None
    if args.expires:
        try:
            expires = dt.datetime.fromisoformat(args.expires)
        except ValueError:
            print(
                f"golden-path: --expires {args.expires!r} is not an ISO date-time "
                "(for example 2027-01-31T00:00:00Z)",
                file=sys.stderr,
            )
            return 2
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=dt.UTC)
    key, key_id = issue_key(args.keys_file, app=args.app, team=args.team, expires=expires)
    print(key)
    print(
        f"key {key_id} for app {args.app!r} stored (as a hash) in {args.keys_file}; "
        "this is the only time the key is shown",
        file=sys.stderr,
    )
    return 0


def run_list(args: argparse.Namespace) -> int:
    """One JSON object per key, no hashes."""
    from golden_path.gateway._identity import list_keys

    for row in list_keys(args.keys_file):
        print(json.dumps(row, default=str))
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    """Remove a key; exit 1 when no key has that id."""
    from golden_path.gateway._identity import revoke_key

    removed = revoke_key(args.keys_file, args.key_id)
    if not removed:
        print(f"golden-path: no key with id {args.key_id!r} in {args.keys_file}", file=sys.stderr)
        return 1
    print(f"revoked {removed} key(s) with id {args.key_id}", file=sys.stderr)
    return 0
