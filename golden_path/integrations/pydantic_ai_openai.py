"""pydantic-ai on Gemini's OpenAI-compatible endpoint, through golden-path's async OpenAI client.

``OpenAIProvider`` defaults to api.openai.com with ``OPENAI_API_KEY``, and every
OpenAI-SDK provider has ``_set_http_client``, which swaps the client's HTTP client (the governed
transport) for another. :func:`openai_provider` gives an ``OpenAICompatibleProvider`` on
``golden_path.async_openai_client()`` that refuses the swap and checks, whenever a model asks
for its client, that it is still one golden-path built; :func:`openai_model` an
``OpenAIChatModel`` on it (chat completions: Gemini serves no Responses API).

A policy denial reaches the agent as pydantic-ai's ``ModelHTTPError`` (403, or 429 with
``retry_after``), with the PolicyViolation as ``policy_violation`` and ``__cause__``, as on the
Gemini path (:mod:`golden_path.integrations.pydantic_ai`).

Needs ``golden-path[pydantic-ai]`` (``pydantic-ai-slim[google,openai]``).
"""

from __future__ import annotations

from typing import Any

try:
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai_compatible import OpenAICompatibleProvider
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "golden_path.integrations.pydantic_ai_openai needs pydantic-ai with OpenAI support: "
        "pip install 'golden-path[pydantic-ai]'"
    ) from exc

from golden_path.integrations.pydantic_ai import DenialsAsModelHTTPError, PinnedClient, refusal

__all__ = ["GovernedOpenAIChatModel", "GovernedOpenAIProvider", "openai_model", "openai_provider"]

# The name pydantic-ai records as the provider of messages (and routes provider data by).
PROVIDER_NAME = "golden-path-gemini-openai"


def openai_provider(client: Any = None) -> GovernedOpenAIProvider:
    """An OpenAI-compatible provider on golden-path's async OpenAI client (default: a new one)."""
    return GovernedOpenAIProvider(client=client)


def openai_model(model_name: str, *, client: Any = None, **kwargs: Any) -> GovernedOpenAIChatModel:
    """An ``OpenAIChatModel`` for ``model_name`` on golden-path's client; kwargs as the model's."""
    return GovernedOpenAIChatModel(model_name, provider=openai_provider(client), **kwargs)


def _default_client() -> Any:
    import golden_path

    return golden_path.async_openai_client()


class GovernedOpenAIProvider(PinnedClient, OpenAICompatibleProvider):
    """``OpenAICompatibleProvider`` that only ever uses golden-path's async OpenAI client."""

    def __init__(self, *, client: Any = None) -> None:
        pinned = self._pin(client, _default_client, "golden_path.async_openai_client()")
        super().__init__(PROVIDER_NAME, openai_client=pinned)

    def _set_http_client(self, http_client: Any) -> None:
        raise refusal("replace the OpenAI client's HTTP client (the governed transport)")


class GovernedOpenAIChatModel(DenialsAsModelHTTPError, OpenAIChatModel):
    """``OpenAIChatModel`` whose policy denials arrive as pydantic-ai's ``ModelHTTPError``."""
