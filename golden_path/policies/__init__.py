"""Policy hooks: the protocol, the chain and (later) the built-ins and the policy-file loader."""

from golden_path.policies._chain import Chain
from golden_path.policies._types import (
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
