"""LangChain on the golden path: Gemini chat models and embeddings that cannot leave it.

``ChatGoogleGenerativeAI(client=golden_path.client())`` does not work as it reads:
langchain-google-genai's validator always builds its own ``google.genai.Client``, so without an
API key it fails ("API key required") and with ``GOOGLE_API_KEY`` set it silently replaces the
governed client with one aimed at Google (no policies, no audit). ``GoogleGenerativeAIEmbeddings``
does the same. Its cleanup hook would also close the client when the model is collected, which
for golden-path's shared client would break every other user.

:func:`chat_model` and :func:`embeddings` return subclasses of those classes whose validators
take golden-path's client and build nothing, and which check before every call that the client
is still one golden-path built (``GoldenPathError`` if anything replaced it). A policy denial
reaches the app as LangChain's own error (``GooglePermissionDeniedError``, or
``GoogleRateLimitError`` for budgets) with the :class:`~golden_path.PolicyViolation` as
``policy_violation`` and ``__cause__``.

Needs ``golden-path[langchain]``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, TypeVar

try:
    from langchain_google_genai import ChatGoogleGenerativeAI, GoogleGenerativeAIEmbeddings
    from langchain_google_genai.chat_models import (
        GooglePermissionDeniedError,
        GoogleRateLimitError,
        _is_gemini_3_or_later,
    )
    from pydantic import PrivateAttr, model_validator
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "golden_path.integrations.langchain needs LangChain: pip install 'golden-path[langchain]'"
    ) from exc

from golden_path._governed import is_governed
from golden_path.exceptions import GoldenPathError
from golden_path.integrations._errors import denials_as

__all__ = [
    "GovernedChatGoogleGenerativeAI",
    "GovernedGoogleGenerativeAIEmbeddings",
    "chat_model",
    "embeddings",
]

_T = TypeVar("_T")


def chat_model(model: str, *, client: Any = None, **kwargs: Any) -> GovernedChatGoogleGenerativeAI:
    """A LangChain chat model for ``model`` on golden-path's client (default: ``client()``)."""
    return GovernedChatGoogleGenerativeAI(model=model, client=_client(client), **kwargs)


def embeddings(
    model: str = "gemini-embedding-001", *, client: Any = None, **kwargs: Any
) -> GovernedGoogleGenerativeAIEmbeddings:
    """LangChain embeddings for ``model`` on golden-path's client (default: ``client()``)."""
    return GovernedGoogleGenerativeAIEmbeddings(model=model, client=_client(client), **kwargs)


def _client(client: Any) -> Any:
    if client is None:
        import golden_path

        client = golden_path.client()
    _require_governed(client, "was passed")
    return client


def _require_governed(client: Any, how: str) -> None:
    if not is_governed(client):
        raise GoldenPathError(
            f"a client golden-path did not build {how} to a LangChain model "
            f"({type(client).__module__}.{type(client).__qualname__}); its requests would "
            "skip every policy and the audit: use golden_path.integrations.langchain with "
            "golden_path.client()"
        )


def _denials() -> AbstractContextManager[None]:
    return denials_as(GoogleRateLimitError, GooglePermissionDeniedError)


class _Shared:
    """Stands in for LangChain's cleanup token: the client is shared, never closed here."""

    def register_async_loop(self) -> None:
        """Nothing to remember: golden-path's async transport works on every event loop."""

    async def aclose(self) -> None:
        """Nothing to close: other models and the app use the same client."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Shared)

    def __hash__(self) -> int:
        return 0


class _Guard:
    """The checks every call makes: still golden-path's client; denials as LangChain errors."""

    client: Any
    _governed: Any

    def _checked(self) -> None:
        if self.client is not self._governed or not is_governed(self.client):
            raise GoldenPathError(
                f"{type(self).__name__}'s client was replaced after construction (LangChain "
                "rebuilt it, or code assigned .client); refusing to send an ungoverned request"
            )

    def _call(self, method: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        self._checked()
        with _denials():
            return method(*args, **kwargs)

    async def _acall(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self._checked()
        with _denials():
            return await method(*args, **kwargs)


class GovernedChatGoogleGenerativeAI(_Guard, ChatGoogleGenerativeAI):
    """``ChatGoogleGenerativeAI`` on golden-path's client; see the module docstring."""

    _governed: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def validate_environment(self) -> GovernedChatGoogleGenerativeAI:
        """LangChain's parameter checks, without building (or replacing) a client."""
        _require_governed(self.client, "was given")
        if "temperature" not in self.model_fields_set and _is_gemini_3_or_later(self.model):
            self.temperature = None
        for name, low, high in (
            ("temperature", 0.0, 2.0),
            ("top_p", 0.0, 1.0),
            ("frequency_penalty", -2.0, 2.0),
            ("presence_penalty", -2.0, 2.0),
        ):
            value = getattr(self, name)
            if value is not None and not low <= value <= high:
                raise ValueError(f"{name} must be in the range [{low}, {high}]")
        if self.top_k is not None and self.top_k <= 0:
            raise ValueError("top_k must be positive")
        self.default_metadata = tuple((self.additional_headers or {}).items())
        self._governed = self.client
        self._client_cleanup = _Shared()  # type: ignore[assignment]
        return self

    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(super()._generate, *args, **kwargs)

    async def _agenerate(self, *args: Any, **kwargs: Any) -> Any:
        return await self._acall(super()._agenerate, *args, **kwargs)

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        self._checked()
        with _denials():
            yield from super()._stream(*args, **kwargs)

    async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        self._checked()
        with _denials():
            async for chunk in super()._astream(*args, **kwargs):
                yield chunk


class GovernedGoogleGenerativeAIEmbeddings(_Guard, GoogleGenerativeAIEmbeddings):
    """``GoogleGenerativeAIEmbeddings`` on golden-path's client; see the module docstring."""

    _governed: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _initialize_client(self) -> GovernedGoogleGenerativeAIEmbeddings:
        """Take golden-path's client instead of building one from the environment."""
        _require_governed(self.client, "was given")
        self._governed = self.client
        return self

    def embed_documents(self, *args: Any, **kwargs: Any) -> list[list[float]]:
        """LangChain's ``embed_documents``, on the governed client only."""
        return self._call(super().embed_documents, *args, **kwargs)

    def embed_query(self, *args: Any, **kwargs: Any) -> list[float]:
        """LangChain's ``embed_query``, on the governed client only."""
        return self._call(super().embed_query, *args, **kwargs)

    async def aembed_documents(self, *args: Any, **kwargs: Any) -> list[list[float]]:
        """LangChain's ``aembed_documents``, on the governed client only."""
        result: list[list[float]] = await self._acall(super().aembed_documents, *args, **kwargs)
        return result

    async def aembed_query(self, *args: Any, **kwargs: Any) -> list[float]:
        """LangChain's ``aembed_query``, on the governed client only."""
        result: list[float] = await self._acall(super().aembed_query, *args, **kwargs)
        return result
