"""LangChain on Gemini's OpenAI-compatible endpoint, through golden-path's OpenAI clients.

``ChatOpenAI`` needs four arguments to use someone else's client (``client`` is
``.chat.completions``, not the root client, plus the async twins), and given ``root_client``
with an ``api_key`` it silently builds a client for api.openai.com instead. It may also switch
to the Responses API, which Gemini does not serve. ``OpenAIEmbeddings`` downloads tiktoken data
from the internet to count tokens before sending. :func:`chat_model` and :func:`embeddings`
wire all of that to ``golden_path.openai_client()`` / ``async_openai_client()``: chat
completions only, raw text to the embeddings endpoint (``check_embedding_ctx_length=False``),
and a check before every call that the clients are still golden-path's.

A policy denial reaches LangChain code as langchain-core's ``ModelPermissionDeniedError`` (or
``ModelRateLimitError`` for budgets) with the PolicyViolation as ``policy_violation``.

Needs ``golden-path[langchain]`` (with ``[openai]``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager
from typing import Any

try:
    from langchain_core.exceptions import ModelPermissionDeniedError, ModelRateLimitError
    from langchain_openai import ChatOpenAI, OpenAIEmbeddings
    from pydantic import PrivateAttr, model_validator
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "golden_path.integrations.langchain_openai needs langchain-openai: "
        "pip install 'golden-path[langchain,openai]'"
    ) from exc

from golden_path._governed import is_governed
from golden_path.exceptions import GoldenPathError
from golden_path.integrations._errors import denials_as

__all__ = ["GovernedChatOpenAI", "GovernedOpenAIEmbeddings", "chat_model", "embeddings"]


def _clients(client: Any, async_client: Any) -> tuple[Any, Any]:
    for given in (client, async_client):
        if given is not None and not is_governed(given):
            raise GoldenPathError(
                f"an OpenAI client golden-path did not build was passed to LangChain "
                f"({type(given).__module__}.{type(given).__qualname__}); pass "
                "golden_path.openai_client() / async_openai_client() or leave them out"
            )
    import golden_path

    sync = client if client is not None else golden_path.openai_client()
    asynchronous = async_client if async_client is not None else golden_path.async_openai_client()
    return sync, asynchronous


def chat_model(
    model: str, *, client: Any = None, async_client: Any = None, **kwargs: Any
) -> GovernedChatOpenAI:
    """A ``ChatOpenAI`` for ``model`` on golden-path's OpenAI-compatible clients."""
    sync, asynchronous = _clients(client, async_client)
    return GovernedChatOpenAI(
        model=model,
        root_client=sync,
        root_async_client=asynchronous,
        client=sync.chat.completions,
        async_client=asynchronous.chat.completions,
        use_responses_api=False,
        **kwargs,
    )


def embeddings(
    model: str = "gemini-embedding-001",
    *,
    client: Any = None,
    async_client: Any = None,
    **kwargs: Any,
) -> GovernedOpenAIEmbeddings:
    """``OpenAIEmbeddings`` on golden-path's clients, sending raw text (no tiktoken download)."""
    sync, asynchronous = _clients(client, async_client)
    return GovernedOpenAIEmbeddings(
        model=model,
        client=sync.embeddings,
        async_client=asynchronous.embeddings,
        check_embedding_ctx_length=False,
        **kwargs,
    )


def _denials() -> AbstractContextManager[None]:
    return denials_as(ModelRateLimitError, ModelPermissionDeniedError)


def _replaced(owner: object) -> GoldenPathError:
    return GoldenPathError(
        f"{type(owner).__name__}'s OpenAI client was replaced after construction; refusing to "
        "send an ungoverned request"
    )


class GovernedChatOpenAI(ChatOpenAI):
    """``ChatOpenAI`` pinned to golden-path's clients and to chat completions."""

    _governed: tuple[Any, Any] = PrivateAttr(default=(None, None))

    @model_validator(mode="after")
    def _pin_governed(self) -> GovernedChatOpenAI:
        if not (is_governed(self.root_client) and is_governed(self.root_async_client)):
            raise GoldenPathError("GovernedChatOpenAI needs golden-path's OpenAI clients")
        self._governed = (self.root_client, self.root_async_client)
        return self

    def _checked(self) -> None:
        sync, asynchronous = self._governed
        if (
            self.root_client is not sync
            or self.root_async_client is not asynchronous
            or self.client is not sync.chat.completions
            or self.async_client is not asynchronous.chat.completions
            or self.use_responses_api
        ):
            raise _replaced(self)

    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        self._checked()
        with _denials():
            return super()._generate(*args, **kwargs)

    async def _agenerate(self, *args: Any, **kwargs: Any) -> Any:
        self._checked()
        with _denials():
            return await super()._agenerate(*args, **kwargs)

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        self._checked()
        with _denials():
            yield from super()._stream(*args, **kwargs)

    async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        self._checked()
        with _denials():
            async for chunk in super()._astream(*args, **kwargs):
                yield chunk


class GovernedOpenAIEmbeddings(OpenAIEmbeddings):
    """``OpenAIEmbeddings`` pinned to golden-path's clients, raw text only."""

    _governed: tuple[Any, Any] = PrivateAttr(default=(None, None))

    @model_validator(mode="after")
    def _pin_governed(self) -> GovernedOpenAIEmbeddings:
        self._governed = (self.client, self.async_client)
        return self

    def _checked(self) -> None:
        if (self.client, self.async_client) != self._governed or self.check_embedding_ctx_length:
            raise _replaced(self)

    def embed_documents(self, *args: Any, **kwargs: Any) -> list[list[float]]:
        """LangChain's embed_documents, on golden-path's client only."""
        self._checked()
        with _denials():
            return super().embed_documents(*args, **kwargs)

    async def aembed_documents(self, *args: Any, **kwargs: Any) -> list[list[float]]:
        """LangChain's aembed_documents, on golden-path's client only."""
        self._checked()
        with _denials():
            return await super().aembed_documents(*args, **kwargs)
