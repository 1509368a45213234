"""The chain: runs policies' hooks in order, stops on deny, tears down in reverse.

Modelled on pluggy's caller loop (``pluggy/_callers.py``): the hook lists are computed once,
when the chain is built, so a request pays for the hooks it has and nothing else.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from golden_path._log import Diagnostics
from golden_path._model import GenAIRequest, GenAIResponse
from golden_path.exceptions import BudgetExceeded, PolicyViolation
from golden_path.policies._types import Deny, Policy, check_policy

__all__ = ["Chain"]

diagnostics = Diagnostics("golden_path.policies")

_AfterHook = Callable[..., None]


class Chain:
    """An ordered set of policies.

    ``fail_open`` lets a request through when a policy crashes (recorded and logged);
    by default a crashing policy denies, because an unchecked request is the worse failure.
    A policy can also carry its own ``fail_open`` attribute.
    """

    __slots__ = (
        "_arequest",
        "_chunk",
        "_error",
        "_fail_open",
        "_request",
        "_response",
        "policies",
        "rewrites_responses",
    )

    def __init__(self, policies: Sequence[Policy] = (), *, fail_open: bool = False) -> None:
        self.policies: tuple[Any, ...] = tuple(policies)
        for policy in self.policies:
            check_policy(policy)
        self._fail_open = fail_open
        # Every policy, hook or None: the chain enters a policy when it reaches it, so one with
        # only after-hooks (a usage recorder) sees every request the chain let through.
        self._request = [(p, getattr(p, "on_request", None)) for p in self.policies]
        # Policies that can wait (a rate limiter) offer ``aon_request``; the async transport
        # awaits it so waiting never blocks the event loop. None when no policy needs it.
        self._arequest = (
            [
                (p, getattr(p, "aon_request", None) or getattr(p, "on_request", None))
                for p in self.policies
            ]
            if any(hasattr(p, "aon_request") for p in self.policies)
            else None
        )
        self._chunk = {id(p): p.on_chunk for p in self.policies if hasattr(p, "on_chunk")}
        self._response = {id(p): p.on_response for p in self.policies if hasattr(p, "on_response")}
        self._error = {id(p): p.on_error for p in self.policies if hasattr(p, "on_error")}
        # Only then does the transport re-serialise what comes back (see GenAIResponse).
        self.rewrites_responses = any(
            getattr(p, "rewrites_responses", False) for p in self.policies
        )

    def __bool__(self) -> bool:
        return bool(self.policies)

    @property
    def fail_open(self) -> bool:
        """Whether a crashing policy lets the request through."""
        return self._fail_open

    @property
    def names(self) -> tuple[str, ...]:
        """The policies' names, in order."""
        return tuple(getattr(p, "name", type(p).__name__) for p in self.policies)

    def before(self, request: GenAIRequest) -> list[Any]:
        """Run every ``on_request`` in order; return the policies entered, for the after-hooks.

        Raises PolicyViolation (after tearing down what was entered) when a policy denies.
        """
        entered: list[Any] = []
        for policy, hook in self._request:
            entered.append(policy)
            if hook is None:
                continue
            try:
                hook(request)
            except Deny as deny:
                self._denied(policy, deny, entered, request)
            except Exception as exc:  # noqa: BLE001 - a crashing policy is handled, not raised
                self._crashed(policy, exc, entered, request)
        return entered

    async def abefore(self, request: GenAIRequest) -> list[Any]:
        """:meth:`before` for the async transport: ``aon_request`` hooks are awaited."""
        if self._arequest is None:
            return self.before(request)
        entered: list[Any] = []
        for policy, hook in self._arequest:
            entered.append(policy)
            if hook is None:
                continue
            try:
                result = hook(request)
                # A plain on_request returns None: only what returned something is asked.
                if result is not None and inspect.isawaitable(result):
                    await result
            except Deny as deny:
                self._denied(policy, deny, entered, request)
            except Exception as exc:  # noqa: BLE001 - a crashing policy is handled, not raised
                self._crashed(policy, exc, entered, request)
        return entered

    def _denied(self, policy: Any, deny: Deny, entered: list[Any], request: GenAIRequest) -> None:
        name = getattr(policy, "name", type(policy).__name__)
        if getattr(policy, "mode", "enforce") == "report":
            request.record(name, "deny", deny.reason, enforced=False)
            return
        request.record(name, "deny", deny.reason)
        violation = self._violation(name, deny, request.request_id)
        self.after_error(entered, request, violation)
        raise violation from None

    def _crashed(
        self, policy: Any, exc: Exception, entered: list[Any], request: GenAIRequest
    ) -> None:
        name = getattr(policy, "name", type(policy).__name__)
        reason = f"policy raised {type(exc).__name__}"
        diagnostics.error(
            "golden_path.policy.crashed",
            f"policy {name} failed on request {request.request_id}",
            exc_info=exc,
            policy=name,
            request_id=request.request_id,
        )
        if self._fail_open or getattr(policy, "fail_open", False):
            request.record(name, "error", f"{reason}; allowed (fail open)", enforced=False)
            return
        request.record(name, "deny", f"{reason}; denied (fail closed)")
        violation = PolicyViolation(name, f"{reason} (fail closed)", request_id=request.request_id)
        self.after_error(entered, request, violation)
        raise violation from None

    @staticmethod
    def _violation(name: str, deny: Deny, request_id: str) -> PolicyViolation:
        if deny.limit is not None or deny.retry_after is not None:
            return BudgetExceeded(
                name,
                deny.reason,
                limit=deny.limit or name,
                retry_after=deny.retry_after,
                request_id=request_id,
            )
        return PolicyViolation(name, deny.reason, request_id=request_id)

    def live_turn(self, entered: list[Any], request: GenAIRequest, usage: Any) -> None:
        """A Live turn's usage, to the entered policies in reverse order.

        Raises PolicyViolation (BudgetExceeded for a limit) when one denies: the session ends.
        """
        for policy in reversed(entered):
            hook = getattr(policy, "on_live_turn", None)
            if hook is None:
                continue
            try:
                hook(request, usage)
            except Deny as deny:
                name = getattr(policy, "name", type(policy).__name__)
                request.record(name, "deny", f"live turn: {deny.reason}")
                raise self._violation(name, deny, request.request_id) from None

    def after_chunk(self, entered: list[Any], request: GenAIRequest, chunk: Any) -> None:
        """Each stream event, to the entered policies in reverse order."""
        self._after(self._chunk, entered, request, chunk)

    def after_response(
        self, entered: list[Any], request: GenAIRequest, response: GenAIResponse
    ) -> None:
        """The finished response (a stream's once it ended), in reverse order."""
        self._after(self._response, entered, request, response)

    def after_error(self, entered: list[Any], request: GenAIRequest, error: BaseException) -> None:
        """A failure (transport error, cut stream, denial further down), in reverse order."""
        self._after(self._error, entered, request, error)

    @staticmethod
    def _after(
        hooks: dict[int, _AfterHook], entered: list[Any], request: GenAIRequest, arg: Any
    ) -> None:
        if not hooks:
            return
        for policy in reversed(entered):
            hook = hooks.get(id(policy))
            if hook is None:
                continue
            try:
                hook(request, arg)
            except Exception as exc:  # noqa: BLE001 - after-hooks never break a response
                name = getattr(policy, "name", type(policy).__name__)
                diagnostics.error(
                    "golden_path.policy.after_hook_failed",
                    f"policy {name} failed after request {request.request_id}",
                    exc_info=exc,
                    policy=name,
                    request_id=request.request_id,
                )
                request.record(
                    name, "error", f"after-hook raised {type(exc).__name__}", enforced=False
                )
