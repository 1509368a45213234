"""A policy denial as google-genai's own error: for frameworks that let the SDK's errors through.

ADK and LlamaIndex handle (and retry) ``google.genai.errors.ClientError``; a denial arrives as
one (403, or 429 for a budget or rate limit), with the PolicyViolation attached.
"""

from __future__ import annotations

from google.genai import errors

from golden_path.exceptions import BudgetExceeded, PolicyViolation

__all__ = ["genai_client_error"]


def genai_client_error(violation: PolicyViolation) -> errors.ClientError:
    """The SDK's ``ClientError`` for ``violation``, attached as ``policy_violation``."""
    budget = isinstance(violation, BudgetExceeded)
    code = 429 if budget else 403
    status = "RESOURCE_EXHAUSTED" if budget else "PERMISSION_DENIED"
    error = errors.ClientError(
        code, {"error": {"code": code, "status": status, "message": str(violation)}}
    )
    # The attribute is what apps read the policy from; ClientError has no field for it.
    setattr(error, "policy_violation", violation)  # noqa: B010
    return error
