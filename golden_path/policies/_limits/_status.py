"""``golden-path budget status``: usage against each limit, read from the state store."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable

from golden_path._state import StateStore
from golden_path.policies._limits._config import LimitsConfig, LimitSpec
from golden_path.policies._limits._windows import (
    Window,
    counter_key,
    hash_tag,
    scope_label,
    window,
)

__all__ = ["UsageRow", "usage_rows"]


@dataclasses.dataclass(frozen=True, slots=True)
class UsageRow:
    """One line of ``golden-path budget status``."""

    limit: str
    scope: str
    used: int
    allowed: int
    window: str
    resets_in_s: float
    unit: str = "tokens"


def usage_rows(
    config: LimitsConfig,
    store: StateStore,
    *,
    prefix: str,
    team: str | None,
    app: str | None,
    model: str | None,
    clock: Callable[[], float] | None = None,
) -> list[UsageRow]:
    """Usage against each limit for one scope, now. Raises StoreUnavailable."""
    now = (clock or time.time)()
    keys: list[str] = []
    parts: list[tuple[LimitSpec, str, Window]] = []
    tag = hash_tag(team=team, app=app)
    for spec in config.limits:
        label = scope_label(spec.scope, team=team, app=app, model=model)
        win = window(spec.period, now)
        keys.append(counter_key(prefix, spec, label, win.current, tag))
        keys.append(counter_key(prefix, spec, label, win.previous, tag) if win.previous else "")
        parts.append((spec, label, win))
    values = store.read([k for k in keys if k])
    found = dict(zip([k for k in keys if k], values, strict=True))
    rows = []
    for index, (spec, label, win) in enumerate(parts):
        used = found.get(keys[2 * index], 0)
        prev_key = keys[2 * index + 1]
        if prev_key:
            used += math.ceil(found.get(prev_key, 0) * win.weight)
        name = {
            "minute": "last 60 s (sliding)",
            "day": f"{win.current[1:]} (UTC day)",
            "month": f"{win.current[2:]} (UTC month)",
        }[spec.period]
        rows.append(
            UsageRow(spec.name, label, used, spec.limit, name, round(win.ends_in, 1), spec.unit)
        )
    return rows
