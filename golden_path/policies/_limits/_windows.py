"""Time windows and counter keys: which counter a request lands in, and for how long it lives.

Per-minute limits are sliding-window counters (this minute's count plus the previous minute's,
weighted by how much of it still overlaps the last 60 s). Budgets are UTC calendar days and
months.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import math
import urllib.parse
from typing import NamedTuple

from golden_path.policies._limits._config import LimitSpec, Period, Scope

__all__ = [
    "Window",
    "cooldown_key",
    "counter_key",
    "hash_tag",
    "hold_keys",
    "scope_label",
    "window",
]


def scope_label(scope: Scope, *, team: str | None, app: str | None, model: str | None) -> str:
    """``team=ml`` or ``app=chat+model=gemini-2.5-flash``: the scope part of a counter's key."""
    who = scope.split("+")[0]
    label = f"{who}={_quote(team if who == 'team' else app)}"
    if scope.endswith("+model"):
        label += f"+model={_quote(model)}"
    return label


@functools.lru_cache(maxsize=1024)  # the same few teams, apps and models on every request
def _quote(value: str | None) -> str:
    # Keys must stay unambiguous whatever a team or model is called.
    return urllib.parse.quote(value or "-", safe="-._~@")


class Window(NamedTuple):
    """The window a counter is in: its key's name, the previous one's, and where ``now`` falls.

    A named tuple, not a frozen dataclass: one is made per limit per request, and a frozen
    dataclass sets each field through ``object.__setattr__`` (about four times the cost).
    """

    current: str
    previous: str | None
    weight: float
    ttl_ms: int
    elapsed: float
    length: float  # seconds from the window's start to its end
    ends_in: float


def window(period: Period, now: float) -> Window:
    """The window a counter of this period is in at ``now`` (seconds since the epoch, UTC)."""
    if period == "minute":
        index = math.floor(now / 60)
        elapsed = now - index * 60
        weight, ttl_ms = weight_ttl(period, now)
        return Window(f"m{index}", f"m{index - 1}", weight, ttl_ms, elapsed, 60.0, 60 - elapsed)
    name, start, end = _calendar(period, math.floor(now / 86400))
    ends_in = end - now
    # A response that finishes just after midnight still finds its reservation to reconcile.
    ttl = (ends_in + 3600) * 1000
    return Window(name, None, 0.0, math.ceil(ttl), now - start, end - start, ends_in)


def weight_ttl(period: Period, now: float) -> tuple[float, int]:
    """``window(period, now)``'s ``weight`` and ``ttl_ms``: all a reservation needs of it.

    Asked once per limit per request; the window's names are in the caller's key table (see
    ``LimitsPolicy._keys``), so a minute window is not named again each time.
    """
    if period == "minute":
        elapsed = now - math.floor(now / 60) * 60
        # Kept through the next minute, where it is the "previous" window, plus some slack.
        return 1 - elapsed / 60, math.ceil((120 - elapsed + 5) * 1000)
    found = window(period, now)
    return found.weight, found.ttl_ms


@functools.lru_cache(maxsize=8)
def _calendar(period: Period, day: int) -> tuple[str, float, float]:
    """``(name, start, end)`` of the UTC day or month holding UTC day number ``day``.

    The same all day long: worked out once a day, not with strftime on every request.
    """
    moment = dt.datetime.fromtimestamp(day * 86400, dt.UTC)
    if period == "day":
        start = moment
        end = start + dt.timedelta(days=1)
        name = f"d{start:%Y-%m-%d}"
    else:
        start = moment.replace(day=1)
        days = calendar.monthrange(start.year, start.month)[1]
        end = start + dt.timedelta(days=days)
        name = f"mo{start:%Y-%m}"
    return name, start.timestamp(), end.timestamp()


def hash_tag(*, team: str | None, app: str | None) -> str:
    """The caller's Redis Cluster hash tag: ``{ml}`` (the team, else the app).

    Every key one reservation touches carries it, so they sit in one slot and one script can
    check and add them atomically on a cluster too. An app belongs to one team, so its counters
    always carry the same tag.
    """
    return "{" + _quote(team or app) + "}"


def counter_key(prefix: str, spec: LimitSpec, label: str, window_name: str, tag: str) -> str:
    """``golden-path:{ml}:team=ml:tokens:d2025-01-30``."""
    return f"{prefix}:{tag}:{label}:{spec.unit}:{window_name}"


def cooldown_key(prefix: str, tag: str, label: str) -> str:
    """The key whose time to live is a scope's cooldown after Google answered 429."""
    return f"{prefix}:{tag}:{label}:cooldown"


def hold_keys(prefix: str, tag: str, request_id: str) -> tuple[str, str]:
    """``(record, inflight)``: one reservation's record, and the tag's index of open ones."""
    return f"{prefix}:{tag}:hold:{request_id}", f"{prefix}:{tag}:inflight"
