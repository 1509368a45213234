"""Policy hooks: the protocol (``Policy``, ``HOOKS``, ``Deny``), the request model and the chain.

The built-in policies and the policy-file loader are configured through policy files (see
docs/policies.md), not imported.
"""

from golden_path.policies._chain import Chain
from golden_path.policies._types import (
    HOOKS,
    Decision,
    Deny,
    GenAIRequest,
    GenAIResponse,
    Identity,
    Mode,
    Policy,
    Usage,
    usage_from,
)

__all__ = [
    "HOOKS",
    "Chain",
    "Decision",
    "Deny",
    "GenAIRequest",
    "GenAIResponse",
    "Identity",
    "Mode",
    "Policy",
    "Usage",
    "usage_from",
]
