"""The hook protocol: what a policy sees before a request is sent and after it comes back.

A policy is any object with a ``name`` and any subset of these hooks::

    on_request(request: GenAIRequest) -> None           inspect, rewrite, or raise Deny(...)
    on_chunk(request: GenAIRequest, chunk: Any) -> None  each parsed stream event, as it arrives
    on_response(request: GenAIRequest, response: GenAIResponse) -> None
    on_error(request: GenAIRequest, error: BaseException) -> None

Semantics (pluggy's, see docs/policies.md): ``on_request`` hooks run in the configured order;
a ``Deny`` stops the chain and nothing is sent. After-hooks (``on_chunk``, ``on_response``,
``on_error``) run in reverse order, and only for the policies whose ``on_request`` ran, so
a policy that reserved something before the call always gets to release it. A denied request
gives every policy that already ran an ``on_error`` with the ``PolicyViolation``.
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

# The model is the transport's data; re-exported here because the hooks are typed against it.
from golden_path._model import Decision, GenAIRequest, GenAIResponse, Identity, Usage, usage_from

__all__ = [
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

Mode = Literal["enforce", "report"]


class Deny(Exception):  # a signal, like StopIteration, not an error of the policy
    """Raised by an ``on_request`` hook to refuse the request.

    ``retry_after``/``limit`` turn the resulting error into ``BudgetExceeded``.
    """

    def __init__(
        self, reason: str, *, limit: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.limit = limit
        self.retry_after = retry_after


@runtime_checkable
class Policy(Protocol):
    """The least a policy has: a name. Hooks are optional methods (see the module docstring)."""

    name: str
