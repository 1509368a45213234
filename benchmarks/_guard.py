"""Loopback only: any attempt to resolve or reach another host fails loudly and is counted.

Installed as a ``sys.addaudithook`` so it sees every socket of every library (httpx2, httpx,
aiohttp, requests, urllib) in every thread, whatever its proxy settings. LiteLLM in particular
fetches price maps and other data at import or first use unless told not to (see ENV).
"""

from __future__ import annotations

import os
import sys
from typing import Any

# LiteLLM's switches for data it would otherwise fetch at import or first use.
ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True",
}
_LOOPBACK = ("127.", "::1", "localhost", "0:0:0:0:0:0:0:1")
_EVENTS = (
    "socket.connect",
    "socket.getaddrinfo",
    "socket.gethostbyname",
    "socket.gethostbyname_ex",
    "socket.sendto",
)

attempts: list[str] = []


class NetworkEscape(RuntimeError):
    """Something tried to reach a host other than loopback."""


def _host(event: str, args: tuple[Any, ...]) -> str | None:
    if event in ("socket.connect", "socket.sendto"):
        address = args[1]
        if isinstance(address, tuple) and address:
            return str(address[0])
        return None  # a Unix socket path
    return str(args[0]) if args and args[0] is not None else None


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event not in _EVENTS:
        return
    host = _host(event, args)
    if host is None or host.startswith(_LOOPBACK) or host == "":
        return
    attempts.append(f"{event} {host}")
    sys.stderr.write(f"benchmarks: blocked a network attempt: {event} {host}\n")
    raise NetworkEscape(f"{event} to {host}: benchmarks run on loopback only")


def install() -> None:
    """Block non-loopback sockets in this process (cannot be undone: audit hooks are forever)."""
    for name, value in ENV.items():
        os.environ.setdefault(name, value)
    sys.addaudithook(_hook)


# The line a child process runs first; kept tiny so it does not move a cold-start figure.
CHILD_PRELUDE = (
    "import sys\n"
    "def _g(e, a, _ev=" + repr(_EVENTS) + "):\n"
    "    if e in _ev:\n"
    "        h = a[1][0] if e in ('socket.connect', 'socket.sendto') and isinstance(a[1], tuple) "
    "else (a[0] if e not in ('socket.connect', 'socket.sendto') else None)\n"
    "        if h is not None and not str(h).startswith(" + repr(_LOOPBACK) + ") and h != '':\n"
    "            sys.stderr.write(f'NETWORK-ESCAPE {e} {h}\\n'); raise RuntimeError('network')\n"
    "sys.addaudithook(_g)\n"
)
