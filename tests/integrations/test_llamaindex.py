"""LlamaIndex on the golden path: the real Google GenAI LLM and embeddings over the emulator.

Both packages require google-genai<3, so tests/run runs this file in the framework venv
(.venv-fw-2x); elsewhere it is skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pydantic
import pytest

from golden_path import GoldenPathError, PolicyViolation, _strict
from golden_path.emulator import Emulator
from tests.conftest import AuditCapture
from tests.integrations.conftest import Allowlist

adapter = pytest.importorskip(
    "golden_path.integrations.llamaindex",
    reason="needs golden-path[llamaindex]",
    exc_type=ImportError,
)
from google.genai import errors  # noqa: E402
from llama_index.core.llms import ChatMessage  # noqa: E402
from llama_index.core.tools import FunctionTool  # noqa: E402

MODEL = "gemini-2.5-flash"
pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def _one_event_per_request(audit: AuditCapture, emulator: Emulator) -> None:
    assert len(audit.events) == len(emulator.api_requests()) > 0
    for request in emulator.api_requests():
        assert "golden-path" in request.headers["x-goog-api-client"]


def test_text_streaming_and_async(
    make_client: Callable[..., Any],
    audit: AuditCapture,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """complete, chat, stream_chat and achat use golden-path's client, GOOGLE_API_KEY or not."""
    monkeypatch.setenv("GOOGLE_API_KEY", "developer-key")  # LlamaIndex's own client would use it
    llm = adapter.llm(MODEL, client=make_client())
    assert llm.metadata.num_output > 1  # from models.get, asked through the governed client
    assert str(llm.complete("hello there")) == "Echo: hello there"
    chat = llm.chat([ChatMessage(role="user", content="chat this")])
    assert chat.message.content == "Echo: chat this"
    streamed = "".join(
        r.delta or "" for r in llm.stream_chat([ChatMessage(role="user", content="stream this")])
    )
    assert streamed == "Echo: stream this"
    for prompt in ("first loop", "second loop"):
        reply = asyncio.run(llm.achat([ChatMessage(role="user", content=prompt)]))
        assert reply.message.content == f"Echo: {prompt}"
    _one_event_per_request(audit, emulator)
    assert all("developer-key" not in str(r.headers) for r in emulator.api_requests())


def get_weather(city: str) -> str:
    """Return the weather for a city."""
    return f"sunny in {city}"


def test_tool_call_round_trip(
    make_client: Callable[..., Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """predict_and_call: the model asks for the tool, LlamaIndex runs it and returns its output."""
    llm = adapter.llm(MODEL, client=make_client())
    tool = FunctionTool.from_defaults(fn=get_weather)
    response = llm.predict_and_call([tool], "call get_weather for Paris")
    assert "sunny in" in str(response)
    _one_event_per_request(audit, emulator)


class Verdict(pydantic.BaseModel):
    """A structured answer."""

    verdict: str
    score: int


def test_structured_output(make_client: Callable[..., Any]) -> None:
    """structured_predict gives a validated pydantic object over the governed client."""
    from llama_index.core.prompts import PromptTemplate

    llm = adapter.llm(MODEL, client=make_client())
    verdict = llm.structured_predict(Verdict, PromptTemplate("judge {thing}"), thing="this")
    assert isinstance(verdict, Verdict)


def test_embeddings(
    make_client: Callable[..., Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """Embeddings, sync and async, go through golden-path's client."""
    vectors = adapter.embedding(client=make_client())
    assert len(vectors.get_text_embedding_batch(["one", "two"])) == 2
    assert asyncio.run(vectors.aget_query_embedding("three"))
    _one_event_per_request(audit, emulator)


def test_policy_denial_is_the_sdks_client_error(
    make_client: Callable[..., Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """A denied model raises google.genai's ClientError (403) with the PolicyViolation attached."""
    client = make_client(policies=[Allowlist(MODEL)])
    llm = adapter.llm("gemini-2.5-pro", client=client, max_tokens=256, context_window=4096)
    with pytest.raises(errors.ClientError) as caught:
        llm.complete("hi")
    assert caught.value.code == 403
    violation = caught.value.policy_violation  # type: ignore[attr-defined]
    assert isinstance(violation, PolicyViolation)
    assert caught.value.__cause__ is violation
    assert emulator.api_requests() == []
    assert len(audit.events) == 1  # one attempt: a denial is not retried


def test_it_cannot_leave_the_golden_path(
    make_client: Callable[..., Any], emulator: Emulator
) -> None:
    """A plain client, client options, or a client swapped in later are refused."""
    from google import genai

    plain = genai.Client(api_key="k", http_options={"base_url": emulator.url})
    with pytest.raises(GoldenPathError, match="did not build"):
        adapter.llm(MODEL, client=plain)
    with pytest.raises(GoldenPathError, match="api_key"):
        adapter.llm(MODEL, client=make_client(), api_key="developer-key")
    with pytest.raises(GoldenPathError, match="vertexai_config"):
        adapter.embedding(client=make_client(), vertexai_config={"project": "p"})
    llm = adapter.llm(MODEL, client=make_client(), max_tokens=256, context_window=4096)
    llm._client = plain  # what a later LlamaIndex (or app code) might do
    with pytest.raises(GoldenPathError, match="replaced after construction"):
        llm.complete("hi")
    assert emulator.api_requests() == []


def test_strict_mode_allows_the_adapter_and_refuses_the_plain_class(
    make_client: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In strict mode the adapter works; LlamaIndex's own GoogleGenAI is refused, naming us."""
    from llama_index.llms.google_genai import GoogleGenAI

    monkeypatch.setenv("GOOGLE_API_KEY", "developer-key")
    client = make_client()
    _strict.install()
    try:
        assert str(adapter.llm(MODEL, client=client).complete("hi")) == "Echo: hi"
        with pytest.raises(GoldenPathError) as caught:
            GoogleGenAI(model=MODEL)
        assert "test_llamaindex.py" in str(caught.value)
    finally:
        _strict.uninstall()
