"""The one exception tree of golden-path.

Every error golden-path raises on purpose derives from :class:`GoldenPathError`; each carries
the context a caller needs, as attributes (listed after the name)::

    GoldenPathError
    ├── ConfigError (ValueError)  .problems: each ConfigProblem's .field, .source, .message, .fix
    ├── PolicyViolation           .policy, .reason, .request_id   (nothing was sent)
    │   ├── BudgetExceeded        + .limit, .retry_after          (a rate limit or budget is full)
    │   └── AuditUnavailable      + .sink                         (audit_required, sink down)
    ├── AuditSinkError (OSError)  .sink                 a built-in audit sink cannot write
    ├── StoreUnavailable          .store                the limits' state store did not answer
    ├── RemoteError               .status, .request_id  the API answered an error (the CLI's)
    ├── EmulatorError             the embedded emulator could not start (port in use, ...)
    ├── VersionDriftError         installed distributions differ from the lock / the pinned SDK
    ├── UngovernedClient          .kind, .target, .caller, .via   (strict mode: not built by us)
    └── Unauthenticated           the gateway refused a caller (golden_path.gateway, answered 401)

``tests/test_exceptions.py`` checks this drawing against the classes. Where golden-path handles
an error itself it never reaches the caller: a sink error is counted and reported (unless
``audit_required``), an unreachable store applies ``on_store_error``.

Errors raised by google-genai itself (``google.genai.errors.APIError`` and friends) and by httpx
reach callers unchanged: app code written against the SDK's documentation keeps working.

No exception here ever carries a secret: messages name fields, sources and fixes, never values
of secret fields.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

__all__ = [
    "AuditSinkError",
    "AuditUnavailable",
    "BudgetExceeded",
    "ConfigError",
    "ConfigProblem",
    "EmulatorError",
    "GoldenPathError",
    "PolicyViolation",
    "RemoteError",
    "StoreUnavailable",
    "UngovernedClient",
    "VersionDriftError",
]


class GoldenPathError(Exception):
    """Base class of every error golden-path raises on purpose."""


@dataclasses.dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with the configuration.

    ``field`` is the setting or key (``backend``, ``models.allow``), ``source`` where the value
    came from (``env GOLDEN_PATH_BACKEND``, ``/etc/golden-path/config.toml:12``, ``default``),
    ``message`` what is wrong and ``fix`` what to do about it.
    """

    field: str
    message: str
    source: str = ""
    fix: str = ""

    def __str__(self) -> str:
        where = f" (from {self.source})" if self.source else ""
        fix = f"; fix: {self.fix}" if self.fix else ""
        return f"{self.field}{where}: {self.message}{fix}"


class ConfigError(GoldenPathError, ValueError):
    """The configuration is invalid; ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: Iterable[ConfigProblem] | str) -> None:
        if isinstance(problems, str):
            problems = [ConfigProblem(field="config", message=problems)]
        self.problems: Sequence[ConfigProblem] = tuple(problems)
        super().__init__(self._render())

    def _render(self) -> str:
        if len(self.problems) == 1:
            return f"invalid golden-path configuration: {self.problems[0]}"
        lines = [f"invalid golden-path configuration ({len(self.problems)} problems):"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields named by the problems, in order."""
        return tuple(p.field for p in self.problems)


class PolicyViolation(GoldenPathError):
    """A policy denied a request; nothing was sent to the network.

    ``policy`` names the policy, ``reason`` says why, ``request_id`` matches the audit event.
    """

    def __init__(self, policy: str, reason: str, *, request_id: str | None = None) -> None:
        self.policy = policy
        self.reason = reason
        self.request_id = request_id
        rid = f" [request {request_id}]" if request_id else ""
        super().__init__(f"denied by policy {policy!r}: {reason}{rid}")


class BudgetExceeded(PolicyViolation):
    """A rate limit or budget has no capacity left.

    Retry after ``retry_after`` seconds; ``None`` means not in this budget period.
    """

    def __init__(
        self,
        policy: str,
        reason: str,
        *,
        limit: str,
        retry_after: float | None,
        request_id: str | None = None,
    ) -> None:
        self.limit = limit
        self.retry_after = retry_after
        super().__init__(policy, reason, request_id=request_id)


class EmulatorError(GoldenPathError):
    """The embedded Gemini API emulator could not start or serve."""


class VersionDriftError(GoldenPathError):
    """Installed distributions differ from what golden-path was locked or pinned against."""


class UngovernedClient(GoldenPathError):
    """Strict mode: code built a Gemini client (or sent a request) golden-path does not govern.

    ``kind`` names what was built (``google.genai.Client``, ``openai.OpenAI``,
    ``httpx2.Client request``), ``target`` where it would send, ``caller`` the user code's
    ``file:line`` and ``via`` the first line outside the client's library (a framework's
    validator, say); nothing was sent.
    """

    def __init__(self, *, kind: str, target: str, caller: str, via: str = "") -> None:
        self.kind = kind
        self.target = target
        self.caller = caller
        self.via = via
        through = f" (via {via})" if via and via != caller else ""
        super().__init__(
            f"strict mode: {kind} for {target}, from {caller or 'an unknown place'}{through}, "
            "is not governed by golden-path (no policies, no audit); build it with "
            "golden_path.client(), golden_path.openai_client() or golden_path.http_client(), "
            "or use an adapter from golden_path.integrations (docs/frameworks.md#strict-mode)"
        )


class AuditUnavailable(PolicyViolation):
    """``audit_required`` is on and a sink cannot take the event: no audit, no call.

    ``sink`` names the sink; nothing was sent.
    """

    def __init__(self, sink: str, reason: str, *, request_id: str | None = None) -> None:
        self.sink = sink
        super().__init__(
            "audit",
            f"audit_required is on and the audit sink {sink} cannot write: {reason}; "
            "fix the sink (disk space, permissions, the collector) or turn audit_required off",
            request_id=request_id,
        )


class AuditSinkError(GoldenPathError, OSError):
    """A built-in audit sink cannot deliver; the message names the target and the fix.

    ``sink`` names the sink (``file:/var/log/audit.jsonl``).
    """

    def __init__(self, message: str, *, sink: str = "") -> None:
        super().__init__(message)
        self.sink = sink


class StoreUnavailable(GoldenPathError):
    """The state store of the limits could not be reached, or not in time.

    ``store`` is its URL without a password. Calls apply ``on_store_error``; ``budget status``
    reports it.
    """

    def __init__(self, message: str, *, store: str = "") -> None:
        super().__init__(message)
        self.store = store


class RemoteError(GoldenPathError):
    """The API answered with an error or could not be reached (the CLI's one-line message).

    ``status`` is the HTTP status (None when nothing answered), ``request_id`` the audit
    event's id when there was one.
    """

    def __init__(
        self, message: str, *, status: int | None = None, request_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.request_id = request_id
