"""Policy files -> a Chain. (Minimal until the declarative loader lands: no file, no policies.)"""

from __future__ import annotations

from collections.abc import Mapping

from golden_path._settings import Settings
from golden_path.exceptions import ConfigError, ConfigProblem
from golden_path.policies._chain import Chain

__all__ = ["load_chain"]


def load_chain(settings: Settings, sources: Mapping[str, str] | None = None) -> Chain:
    """The chain the configured policy file describes."""
    if settings.policy_file is None:
        return Chain()
    raise ConfigError([ConfigProblem("policy_file", "policy files are not supported yet",
                                     (sources or {}).get("policy_file", "default"),
                                     "unset GOLDEN_PATH_POLICY_FILE")])
