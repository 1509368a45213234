"""Policy hooks: the protocol (``Policy``, ``HOOKS``, ``Deny``), the request model and the chain.

The built-in policies and the policy-file loader are configured through policy files (see
docs/policies.md), not imported. ``Detector`` and ``Finding`` are what an app's own PII engine
(``[pii] engines``) implements and returns.
"""

from golden_path._pii import Detector, Finding
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
    "Detector",
    "Finding",
    "GenAIRequest",
    "GenAIResponse",
    "Identity",
    "Mode",
    "Policy",
    "Usage",
    "usage_from",
]
