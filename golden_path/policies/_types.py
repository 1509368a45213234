"""The hook protocol: what a policy sees before a request is sent and after it comes back.

A policy is any object with a ``name`` and any subset of these hooks (:data:`HOOKS`)::

    on_request(request: GenAIRequest) -> None           inspect, rewrite, or raise Deny(...)
    aon_request(request: GenAIRequest) -> Awaitable | None   the same for async clients, which
                                                        await what it returns (None: nothing)
    on_chunk(request: GenAIRequest, chunk: Any) -> None  each parsed stream event, as it arrives
    on_response(request: GenAIRequest, response: GenAIResponse) -> None
    on_error(request: GenAIRequest, error: BaseException) -> None
    on_live_event(request: GenAIRequest, event: Any) -> None  each Live server message
    on_live_turn(request: GenAIRequest, usage: Usage) -> None  a Live turn's usage; Deny ends
                                                        the session (budgets settle per turn)

A policy is checked when it is registered (``Chain(...)``, ``create_client(policies=...)``, a
policy file): a method that looks like a hook (``on_*``, ``aon_*``) but is none of them, a
hook that is not callable or takes the wrong arguments, or an object without any hook is a
``ConfigError`` naming the policy and the attribute, as pluggy refuses an unknown hook.

Semantics (pluggy's, see docs/policies.md): ``on_request`` hooks run in the configured order;
a ``Deny`` stops the chain and nothing is sent. After-hooks (``on_chunk``, ``on_response``,
``on_error``) run in reverse order, for the policies the chain reached (whose ``on_request``
ran, or that have none), so a policy that reserved something before the call always gets to
release it, and one with only after-hooks sees every request the chain let through. A denied request
gives every policy that already ran an ``on_error`` with the ``PolicyViolation``.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Awaitable
from typing import Any, Final, Literal, Protocol, runtime_checkable

# The model is the transport's data; re-exported here because the hooks are typed against it.
from golden_path._model import Decision, GenAIRequest, GenAIResponse, Identity, Usage, usage_from
from golden_path.exceptions import ConfigError, ConfigProblem

__all__ = [
    "HOOKS",
    "AsyncRequestHook",
    "Decision",
    "Deny",
    "GenAIRequest",
    "GenAIResponse",
    "Identity",
    "Mode",
    "Policy",
    "RequestHook",
    "Usage",
    "check_policy",
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


class RequestHook(Protocol):
    """``on_request``: inspect or rewrite the request, or raise :class:`Deny`."""

    def __call__(self, request: GenAIRequest, /) -> None: ...


class AsyncRequestHook(Protocol):
    """``aon_request``: the same, for policies that wait (async clients await what it returns).

    A coroutine function fits; so does a plain one that returns an awaitable only when it must
    wait, and None otherwise (the limiter: most requests reserve at the first try).
    """

    def __call__(self, request: GenAIRequest, /) -> Awaitable[None] | None: ...


# The one list of hooks: name -> the arguments a hook takes. The chain, the loader and the
# registration check all read it.
HOOKS: Final[dict[str, tuple[str, ...]]] = {
    "on_request": ("request",),
    "aon_request": ("request",),
    "on_chunk": ("request", "chunk"),
    "on_response": ("request", "response"),
    "on_error": ("request", "error"),
    # Each message a Live server sends, before the SDK reads it (the session's request).
    "on_live_event": ("request", "event"),
    # The usage a Live server reported for one turn; a Deny closes the session there.
    "on_live_turn": ("request", "usage"),
}
_HOOK_PREFIXES = ("on_", "aon_")


def check_policy(policy: Any, *, source: str = "policies argument") -> None:
    """Refuse a policy whose hooks cannot be what it meant (ConfigError listing each problem)."""
    name = getattr(policy, "name", None)
    label = name if isinstance(name, str) and name else type(policy).__qualname__
    problems: list[ConfigProblem] = []

    def problem(attr: str, message: str, fix: str) -> None:
        problems.append(ConfigProblem(f"{label}.{attr}" if attr else label, message, source, fix))

    if name is not None and (not isinstance(name, str) or not name):
        problem("name", f"must be a non-empty string, got {name!r}", 'set name = "my-policy"')
    found = 0
    for attr in dir(policy):
        if not attr.startswith(_HOOK_PREFIXES):
            continue
        params = HOOKS.get(attr)
        if params is None:
            if not callable(getattr(policy, attr, None)):
                continue  # a setting such as ``on_exceed = "clamp"``, not a hook
            close = difflib.get_close_matches(attr, HOOKS, n=1)
            problem(
                attr,
                "is not a hook: golden-path would never call it",
                f"did you mean {close[0]}?" if close else f"hooks are: {', '.join(HOOKS)}",
            )
            continue
        hook = getattr(policy, attr)
        if not callable(hook):
            problem(attr, f"must be a method, got {type(hook).__name__}", "define it with def")
            continue
        found += 1
        try:
            inspect.signature(hook).bind(*params)
        except TypeError:
            problem(attr, "takes the wrong arguments", f"define {attr}(self, {', '.join(params)})")
        except ValueError:  # builtins without a signature: nothing to check
            pass
    if found == 0 and not problems:
        problem("", "has none of the hooks", f"define at least one of: {', '.join(HOOKS)}")
    if problems:
        raise ConfigError(problems)
