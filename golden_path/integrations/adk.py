"""Google ADK on the golden path: a Gemini model class that only uses golden-path's client.

An ADK agent that names its model as a string (``Agent(model="gemini-2.5-flash")``) gets ADK's
``Gemini`` class from ``LLMRegistry``, which builds its own ``google.genai.Client`` per event
loop from the environment: no policies, no audit. :func:`register` puts :class:`GovernedGemini`
in the registry under every model pattern ``Gemini`` serves, so those strings resolve to the
governed class. Its REST and Live clients are golden-path's (``golden_path.client()``, whose
transports work on every event loop, or the client passed as ``client=``), and a client
golden-path did not build is refused with ``GoldenPathError``.

A policy denial reaches ADK as the SDK's own ``google.genai.errors.ClientError`` (403, or 429 for
a budget or rate limit), which is what ADK's callbacks and retries already handle, with the
:class:`~golden_path.PolicyViolation` as ``policy_violation`` and ``__cause__``.

Needs ``golden-path[adk]`` (google-adk 2.x requires ``google-genai<3``: see docs/frameworks.md).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

try:
    from google.adk.models import Gemini
    from google.adk.models.registry import LLMRegistry
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "golden_path.integrations.adk needs Google ADK: pip install 'golden-path[adk]'"
    ) from exc

from golden_path._governed import is_governed
from golden_path.exceptions import GoldenPathError, PolicyViolation
from golden_path.integrations._errors import genai_client_error

__all__ = ["GovernedGemini", "register", "unregister"]


class GovernedGemini(Gemini):
    """ADK's ``Gemini`` on golden-path's client; see the module docstring."""

    @property
    def api_client(self) -> Any:
        """golden-path's client (the one passed as ``client=``, else ``golden_path.client()``)."""
        return self._governed_client()

    @property
    def _live_api_client(self) -> Any:
        return self._governed_client()

    def _governed_client(self) -> Any:
        client = self.client
        if client is None:
            import golden_path

            client = golden_path.client()
        if not is_governed(client):
            raise GoldenPathError(
                f"an ADK Gemini model was given a client golden-path did not build "
                f"({type(client).__module__}.{type(client).__qualname__}); its requests would "
                "skip every policy and the audit: pass golden_path.client() or no client"
            )
        return client

    async def generate_content_async(self, *args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
        """ADK's generate_content_async, with policy denials as the SDK's ClientError."""
        try:
            async for response in super().generate_content_async(*args, **kwargs):
                yield response
        except PolicyViolation as violation:
            raise genai_client_error(violation) from violation


def register() -> None:
    """Make every model string ADK's Gemini serves resolve to :class:`GovernedGemini`."""
    LLMRegistry.register(GovernedGemini)


def unregister() -> None:
    """Give those model strings back to ADK's own ``Gemini`` (tests, reconfiguration)."""
    LLMRegistry.register(Gemini)
