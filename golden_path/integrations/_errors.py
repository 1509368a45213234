"""A policy denial as the framework's own error, with the PolicyViolation attached.

ADK and LlamaIndex handle (and retry) ``google.genai.errors.ClientError``; a denial arrives as
one (403, or 429 for a budget or rate limit). LangChain's adapters raise langchain-core's
permission / rate-limit errors through :func:`denials_as`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from google.genai import errors

from golden_path.exceptions import BudgetExceeded, PolicyViolation

__all__ = ["denials_as", "genai_client_error"]


@contextmanager
def denials_as(
    limit: Callable[[str], Exception], denied: Callable[[str], Exception]
) -> Iterator[None]:
    """Re-raise a denial inside the block as ``limit`` (budgets, rate limits) or ``denied``.

    Works around ``yield`` too, so one block guards a whole (async) stream. The
    PolicyViolation is the new error's ``__cause__`` and its ``policy_violation`` attribute,
    which is what apps read the policy from (the frameworks' classes have no field for it).
    """
    try:
        yield
    except PolicyViolation as violation:
        kind = limit if isinstance(violation, BudgetExceeded) else denied
        error = kind(str(violation))
        setattr(error, "policy_violation", violation)  # noqa: B010
        raise error from violation


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
