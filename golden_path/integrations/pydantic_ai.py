"""pydantic-ai on the golden path: a Google model and provider that keep golden-path's client.

``GoogleProvider(client=golden_path.client())`` keeps the client it is given, but pydantic-ai
has two ways to move off it: ``_set_http_client`` swaps the SDK's async httpx client (the
governed transport) for another, and ``_client_for_api_version`` builds a second client from an
API key. The governed provider refuses both (``GoldenPathError``) and checks, whenever the model
asks for its client, that it is still one golden-path built.

A policy denial reaches the agent as pydantic-ai's own ``ModelHTTPError`` (403, or 429 for a
budget or rate limit, with ``retry_after``), so its retries and fallback models handle it, with
the :class:`~golden_path.PolicyViolation` as ``policy_violation`` and ``__cause__``.

Needs ``pydantic-ai-slim[google]`` (2.68 requires ``google-genai<3``: see docs/frameworks.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

try:
    from pydantic_ai.exceptions import ModelHTTPError
    from pydantic_ai.models.google import GoogleModel
    from pydantic_ai.providers.google import GoogleProvider
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "golden_path.integrations.pydantic_ai needs pydantic-ai: "
        "pip install 'golden-path[pydantic-ai]'"
    ) from exc

from golden_path._governed import is_governed
from golden_path.exceptions import BudgetExceeded, GoldenPathError, PolicyViolation

__all__ = [
    "DenialsAsModelHTTPError",
    "GovernedGoogleModel",
    "GovernedGoogleProvider",
    "PinnedClient",
    "google_model",
    "google_provider",
    "refusal",
]


def google_provider(client: Any = None) -> GovernedGoogleProvider:
    """A pydantic-ai Google provider on golden-path's client (default: ``client()``)."""
    return GovernedGoogleProvider(client=client)


def google_model(model_name: str, *, client: Any = None, **kwargs: Any) -> GovernedGoogleModel:
    """A pydantic-ai model for ``model_name`` on golden-path's client; ``kwargs`` as GoogleModel."""
    return GovernedGoogleModel(model_name, provider=google_provider(client), **kwargs)


def refusal(what: str) -> GoldenPathError:
    """The error for pydantic-ai trying to ``what`` (leave golden-path's client)."""
    return GoldenPathError(
        f"pydantic-ai tried to {what}; requests through it would skip every policy and the "
        "audit, so golden-path refuses (use golden_path.integrations.pydantic_ai as documented)"
    )


class PinnedClient:
    """Provider mixin: the governed client given at construction, or a refusal on every use."""

    _client: Any
    _governed: Any = None

    def _pin(self, client: Any, default: Callable[[], Any], pass_instead: str) -> Any:
        """``client`` (default: ``default()``) if golden-path built it; remembered as the pin."""
        if client is None:
            client = default()
        if not is_governed(client):
            raise GoldenPathError(
                "a client golden-path did not build was given to a pydantic-ai provider "
                f"({type(client).__module__}.{type(client).__qualname__}); pass "
                f"{pass_instead} or leave client out"
            )
        self._governed = client
        return client

    @property
    def client(self) -> Any:
        """The governed client; GoldenPathError if anything replaced it."""
        if self._client is not self._governed or not is_governed(self._client):
            raise refusal("use a client golden-path did not build (the provider's was replaced)")
        return self._client


def _default_client() -> Any:
    import golden_path

    return golden_path.client()


class GovernedGoogleProvider(PinnedClient, GoogleProvider):
    """``GoogleProvider`` that only ever uses golden-path's client; see the module docstring."""

    def __init__(self, *, client: Any = None) -> None:
        super().__init__(client=self._pin(client, _default_client, "golden_path.client()"))

    def _set_http_client(self, http_client: Any) -> None:
        raise refusal("replace the SDK's HTTP client (the governed transport)")

    def _client_for_api_version(self, api_version: str) -> Any:
        raise refusal(f"build a second client for API version {api_version}")


def _framework_error(violation: PolicyViolation, model_name: str) -> ModelHTTPError:
    budget = isinstance(violation, BudgetExceeded)
    error = ModelHTTPError(
        429 if budget else 403,
        model_name,
        body={"error": {"status": "golden-path policy", "message": str(violation)}},
        provider_error_code="RESOURCE_EXHAUSTED" if budget else "PERMISSION_DENIED",
        retry_after=violation.retry_after if isinstance(violation, BudgetExceeded) else None,
    )
    # The attribute is what apps read the policy from; ModelHTTPError has no field for it.
    setattr(error, "policy_violation", violation)  # noqa: B010
    return error


# The mixin's super() is the pydantic-ai model it is mixed into; mypy sees that as Any.
_ModelBase: Any = object


class DenialsAsModelHTTPError(_ModelBase):
    """Mixin for a pydantic-ai model: policy denials arrive as ``ModelHTTPError``."""

    model_name: str

    async def request(self, *args: Any, **kwargs: Any) -> Any:
        """pydantic-ai's request, with denials as ModelHTTPError."""
        try:
            return await super().request(*args, **kwargs)
        except PolicyViolation as violation:
            raise _framework_error(violation, self.model_name) from violation

    async def count_tokens(self, *args: Any, **kwargs: Any) -> Any:
        """pydantic-ai's count_tokens, with denials as ModelHTTPError."""
        try:
            return await super().count_tokens(*args, **kwargs)
        except PolicyViolation as violation:
            raise _framework_error(violation, self.model_name) from violation

    @asynccontextmanager
    async def request_stream(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        """pydantic-ai's request_stream, with denials as ModelHTTPError."""
        try:
            async with super().request_stream(*args, **kwargs) as stream:
                yield stream
        except PolicyViolation as violation:
            raise _framework_error(violation, self.model_name) from violation


class GovernedGoogleModel(DenialsAsModelHTTPError, GoogleModel):
    """``GoogleModel`` whose policy denials arrive as pydantic-ai's ``ModelHTTPError``."""
