"""LlamaIndex's Google GenAI LLM and embeddings on golden-path's client.

``GoogleGenAI`` and ``GoogleGenAIEmbedding`` take no client: each builds its own
``google.genai.Client`` from its arguments and the environment (``GOOGLE_API_KEY``,
``GOOGLE_GENAI_USE_VERTEXAI``), and ``GoogleGenAI`` even calls ``models.get`` on it while being
constructed. :func:`llm` and :func:`embedding` return subclasses that never let that client send
anything: the constructor runs on fixed placeholder settings (anonymous credentials, nothing
read from the environment, no request made) inside golden-path's builder scope, and the client
is then replaced by golden-path's; the model metadata LlamaIndex wants is fetched through the
governed client (audited like any call). Every call checks first that the client is still
golden-path's.

A policy denial reaches LlamaIndex code as the SDK's own ``google.genai.errors.ClientError``
(403, or 429 for a budget or rate limit), which LlamaIndex lets through and retries like a
refusal from Google, with the PolicyViolation as ``policy_violation`` and ``__cause__``.

Needs ``golden-path[llamaindex]`` (both packages require ``google-genai<3``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

try:
    from google.auth.credentials import AnonymousCredentials
    from llama_index.embeddings.google_genai import GoogleGenAIEmbedding
    from llama_index.llms.google_genai import GoogleGenAI
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "golden_path.integrations.llamaindex needs LlamaIndex's Google GenAI packages: "
        "pip install 'golden-path[llamaindex]'"
    ) from exc

from golden_path._governed import is_governed
from golden_path._strict import building
from golden_path.exceptions import GoldenPathError, PolicyViolation
from golden_path.integrations._errors import genai_client_error

__all__ = ["GovernedGoogleGenAI", "GovernedGoogleGenAIEmbedding", "embedding", "llm"]

# What LlamaIndex would build a client from: golden-path's configuration decides these instead.
_REFUSED = ("api_key", "vertexai_config", "http_options", "debug_config")
# The throwaway client's settings: Vertex with anonymous credentials reads no variable, looks up
# no default credentials and is never used (strict mode lets it through: building()).
_PLACEHOLDER = {"project": "golden-path-placeholder", "location": "global"}


def _client(client: Any) -> Any:
    if client is None:
        import golden_path

        return golden_path.client()
    if not is_governed(client):
        raise GoldenPathError(
            f"a google.genai client golden-path did not build was passed to LlamaIndex "
            f"({type(client).__module__}.{type(client).__qualname__}); pass "
            "golden_path.client() or leave it out"
        )
    return client


def _refuse_client_options(kwargs: dict[str, Any]) -> None:
    given = [name for name in _REFUSED if kwargs.get(name) is not None]
    if given:
        raise GoldenPathError(
            f"{', '.join(given)}: LlamaIndex would build its own client from these; configure "
            "golden-path instead (GOLDEN_PATH_* settings, docs/configuration.md)"
        )


def llm(
    model: str = "gemini-2.5-flash", *, client: Any = None, **kwargs: Any
) -> GovernedGoogleGenAI:
    """LlamaIndex's ``GoogleGenAI`` for ``model`` on golden-path's client."""
    return GovernedGoogleGenAI(model=model, client=client, **kwargs)


def embedding(
    model: str = "gemini-embedding-001", *, client: Any = None, **kwargs: Any
) -> GovernedGoogleGenAIEmbedding:
    """LlamaIndex's ``GoogleGenAIEmbedding`` for ``model`` on golden-path's client."""
    return GovernedGoogleGenAIEmbedding(model_name=model, client=client, **kwargs)


def _mapped(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` with the client checked first and denials turned into the SDK's ClientError."""

    async def agen(results: AsyncIterator[Any]) -> AsyncIterator[Any]:
        try:
            async for item in results:
                yield item
        except PolicyViolation as violation:
            raise genai_client_error(violation) from violation

    def gen(results: Iterator[Any]) -> Iterator[Any]:
        try:
            yield from results
        except PolicyViolation as violation:
            raise genai_client_error(violation) from violation

    def wrap(result: Any) -> Any:
        if inspect.isasyncgen(result):
            return agen(result)
        if inspect.isgenerator(result):
            return gen(result)
        return result

    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def call_async(self: Any, *args: Any, **kwargs: Any) -> Any:
            self._checked()
            try:
                return wrap(await method(self, *args, **kwargs))
            except PolicyViolation as violation:
                raise genai_client_error(violation) from violation

        return call_async

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        self._checked()
        try:
            return wrap(method(self, *args, **kwargs))
        except PolicyViolation as violation:
            raise genai_client_error(violation) from violation

    return call


def _govern_methods(cls: type, base: type, names: tuple[str, ...]) -> None:
    for name in names:
        for owner in base.__mro__:
            if name in vars(owner):
                setattr(cls, name, _mapped(vars(owner)[name]))
                break


class _Checked:
    _governed_client: Any

    def _checked(self) -> None:
        if getattr(self, "_client", None) is not self._governed_client:
            raise GoldenPathError(
                f"{type(self).__name__}'s google.genai client was replaced after construction; "
                "refusing to send an ungoverned request"
            )


class GovernedGoogleGenAI(_Checked, GoogleGenAI):
    """``GoogleGenAI`` whose only client is golden-path's; see the module docstring."""

    def __init__(
        self, model: str = "gemini-2.5-flash", *, client: Any = None, **kwargs: Any
    ) -> None:
        _refuse_client_options(kwargs)
        governed = _client(client)
        max_tokens = kwargs.pop("max_tokens", None)
        context_window = kwargs.pop("context_window", None)
        meta = None
        if max_tokens is None or context_window is None:
            meta = governed.models.get(model=model)  # what LlamaIndex asks, asked governed
        with building():
            # Both limits given, so the placeholder client is asked nothing; restored below.
            super().__init__(
                model=model,
                max_tokens=max_tokens or 1,
                context_window=context_window or 1,
                vertexai_config={**_PLACEHOLDER, "credentials": AnonymousCredentials()},
                **kwargs,
            )
        self._client = governed
        self._governed_client = governed
        self._model_meta = meta
        self.context_window = context_window
        if kwargs.get("generation_config") is None:
            self._generation_config["max_output_tokens"] = max_tokens
        self._max_tokens = (
            max_tokens or (meta and meta.output_token_limit) or self._max_tokens_default()
        )

    @staticmethod
    def _max_tokens_default() -> int:
        from llama_index.core.constants import DEFAULT_NUM_OUTPUTS

        return int(DEFAULT_NUM_OUTPUTS)


_govern_methods(
    GovernedGoogleGenAI,
    GoogleGenAI,
    (
        "complete",
        "acomplete",
        "stream_complete",
        "astream_complete",
        "chat",
        "achat",
        "stream_chat",
        "astream_chat",
        "structured_predict",
        "astructured_predict",
        "stream_structured_predict",
        "astream_structured_predict",
        "structured_predict_without_function_calling",
    ),
)


class GovernedGoogleGenAIEmbedding(_Checked, GoogleGenAIEmbedding):
    """``GoogleGenAIEmbedding`` whose only client is golden-path's."""

    def __init__(
        self, model_name: str = "gemini-embedding-001", *, client: Any = None, **kwargs: Any
    ) -> None:
        _refuse_client_options(kwargs)
        governed = _client(client)
        with building():
            super().__init__(
                model_name=model_name,
                vertexai_config={**_PLACEHOLDER, "credentials": AnonymousCredentials()},
                **kwargs,
            )
        self._client = governed
        self._governed_client = governed


_govern_methods(
    GovernedGoogleGenAIEmbedding,
    GoogleGenAIEmbedding,
    (
        "_get_query_embedding",
        "_get_text_embedding",
        "_get_text_embeddings",
        "_aget_query_embedding",
        "_aget_text_embedding",
        "_aget_text_embeddings",
    ),
)
