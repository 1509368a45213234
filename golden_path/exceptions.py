"""The one exception tree of golden-path.

Every error golden-path raises on purpose derives from :class:`GoldenPathError`::

    GoldenPathError
    ├── ConfigError            settings, credentials or policy files are wrong (lists every problem)
    ├── PolicyViolation        a policy refused a request before it reached the network
    │   ├── BudgetExceeded     a rate limit or budget has no capacity left (carries retry_after)
    │   └── AuditUnavailable   audit_required is on and the audit event cannot be written
    ├── EmulatorError          the embedded emulator could not start (port in use, ...)
    └── VersionDriftError      installed distributions differ from the lock / the pinned SDK

Errors raised by google-genai itself (``google.genai.errors.APIError`` and friends) reach callers
unchanged: app code written against the SDK's documentation keeps working.

No exception here ever carries a secret: messages name fields, sources and fixes, never values
of secret fields.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

__all__ = [
    "AuditUnavailable",
    "BudgetExceeded",
    "ConfigError",
    "ConfigProblem",
    "EmulatorError",
    "GoldenPathError",
    "PolicyViolation",
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
