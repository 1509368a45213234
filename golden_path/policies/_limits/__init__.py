"""Rate limits and budgets: the ``limits`` policy built from ``[rate_limits]`` and ``[budgets]``.

Modules, one idea each: ``_config`` (the sections validated), ``_windows`` (time windows and
counter keys), ``_estimate`` (token estimates), ``_policy`` (reserve before, reconcile after),
``_status`` (the rows of ``golden-path budget status``). See docs/limits.md.
"""

from golden_path.policies._limits._config import (
    LimitsConfig,
    LimitSpec,
    check_state_url,
    parse_limits,
)
from golden_path.policies._limits._estimate import estimate_tokens
from golden_path.policies._limits._policy import LimitsPolicy, build_limit_policies
from golden_path.policies._limits._status import UsageRow, usage_rows
from golden_path.policies._limits._windows import scope_label

__all__ = [
    "LimitSpec",
    "LimitsConfig",
    "LimitsPolicy",
    "UsageRow",
    "build_limit_policies",
    "check_state_url",
    "estimate_tokens",
    "parse_limits",
    "scope_label",
    "usage_rows",
]
