"""LangChain on the golden path: the real langchain-google-genai over the emulator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic
import pytest

from golden_path import BudgetExceeded, GoldenPathError, PolicyViolation
from golden_path.emulator import Emulator
from golden_path.policies import Deny
from tests.conftest import AuditCapture

langchain = pytest.importorskip(
    "golden_path.integrations.langchain",
    reason="needs golden-path[langchain]",
    exc_type=ImportError,
)
from langchain_core.messages import HumanMessage, ToolMessage  # noqa: E402
from langchain_google_genai.chat_models import (  # noqa: E402
    ChatGoogleGenerativeAIError,
    GooglePermissionDeniedError,
    GoogleRateLimitError,
)

MODEL = "gemini-2.5-flash"


def _one_event_per_request(audit: AuditCapture, emulator: Emulator) -> None:
    assert len(audit.events) == len(emulator.api_requests()) > 0
    for request in emulator.api_requests():
        assert "golden-path" in request.headers["x-goog-api-client"]


def test_text_and_streaming(
    make_client: Callable[..., Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """invoke and stream go through golden-path's client: one audit event per request."""
    llm = langchain.chat_model(MODEL, client=make_client())
    assert llm.invoke("hello there").content == "Echo: hello there"
    chunks = [chunk.content for chunk in llm.stream("stream this")]
    assert "".join(str(c) for c in chunks) == "Echo: stream this"
    _one_event_per_request(audit, emulator)
    assert len(emulator.api_requests()) == 2


def test_async_calls_on_two_event_loops(
    make_client: Callable[..., Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """ainvoke works again on a second asyncio.run: the shared client is bound to no loop."""
    llm = langchain.chat_model(MODEL, client=make_client())
    for prompt in ("first loop", "second loop"):
        assert asyncio.run(llm.ainvoke(prompt)).content == f"Echo: {prompt}"
    _one_event_per_request(audit, emulator)


def get_weather(city: str) -> str:
    """Return the weather for a city."""
    return f"sunny in {city}"


def test_tool_call_round_trip(
    make_client: Callable[..., Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """The model asks for a tool, the app answers it, the model describes the result."""
    llm = langchain.chat_model(MODEL, client=make_client()).bind_tools([get_weather])
    question = HumanMessage("please call get_weather")
    asked = llm.invoke([question])
    [call] = asked.tool_calls
    assert call["name"] == "get_weather"
    answer = ToolMessage(get_weather(**call["args"]), tool_call_id=call["id"])
    final = llm.invoke([question, asked, answer])
    assert "get_weather" in str(final.content)
    _one_event_per_request(audit, emulator)


class Verdict(pydantic.BaseModel):
    """A structured answer."""

    label: str
    score: int


def test_structured_output(make_client: Callable[..., Any]) -> None:
    """with_structured_output returns the pydantic model LangChain parsed from the JSON answer."""
    llm = langchain.chat_model(MODEL, client=make_client())
    verdict = llm.with_structured_output(Verdict).invoke("judge this")
    assert isinstance(verdict, Verdict)


def test_embeddings_sync_and_async(
    make_client: Callable[..., Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """embed_documents and aembed_query return vectors, each request audited once."""
    vectors = langchain.embeddings(client=make_client(), output_dimensionality=16)
    documents = vectors.embed_documents(["one", "two"])
    assert [len(v) for v in documents] == [16, 16]
    assert len(asyncio.run(vectors.aembed_query("three"))) == 16
    _one_event_per_request(audit, emulator)


def test_policy_denial_is_langchains_error_with_the_violation(
    make_client: Callable[..., Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """A denied call raises LangChain's permission error carrying the PolicyViolation."""

    class NoPro:
        name = "models"

        def on_request(self, request: Any) -> None:
            raise Deny("gemini-2.5-pro is not allowed for this app")

    llm = langchain.chat_model("gemini-2.5-pro", client=make_client(policies=[NoPro()]))
    with pytest.raises(GooglePermissionDeniedError) as caught:
        llm.invoke("hi")
    assert isinstance(caught.value, ChatGoogleGenerativeAIError)
    violation = caught.value.policy_violation
    assert isinstance(violation, PolicyViolation)
    assert caught.value.__cause__ is violation
    assert violation.policy == "models"
    assert emulator.api_requests() == []
    assert [e.outcome for e in audit.events] == ["denied"]


def test_a_spent_rate_limit_is_langchains_rate_limit_error_in_streams(
    make_client: Callable[..., Any], emulator: Emulator, tmp_path: Path
) -> None:
    """Streams, sync and async, raise GoogleRateLimitError once the limit is spent."""
    policy = tmp_path / "policies.toml"
    policy.write_text('[rate_limits]\nrequests_per_minute = 1\nscope = "app"\nmax_wait_s = 0\n')
    llm = langchain.chat_model(MODEL, client=make_client(policy_file=str(policy), app="checkout"))
    assert "".join(str(chunk.content) for chunk in llm.stream("hi")) == "Echo: hi"

    async def astream() -> list[Any]:
        return [chunk async for chunk in llm.astream("hi")]

    for consume in (lambda: list(llm.stream("hi")), lambda: asyncio.run(astream())):
        with pytest.raises(GoogleRateLimitError) as caught:
            consume()
        violation = caught.value.policy_violation  # type: ignore[attr-defined]
        assert isinstance(violation, BudgetExceeded)
        assert caught.value.__cause__ is violation
    assert len(emulator.api_requests()) == 1


def test_google_api_key_in_the_environment_changes_nothing(
    make_client: Callable[..., Any],
    audit: AuditCapture,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The LangChain trap: with GOOGLE_API_KEY set, calls still go through golden-path."""
    monkeypatch.setenv("GOOGLE_API_KEY", "a-developer-key")
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    llm = langchain.chat_model(MODEL, client=make_client())
    vectors = langchain.embeddings(client=make_client())
    assert llm.invoke("still governed").content == "Echo: still governed"
    assert vectors.embed_query("x")
    assert all(r.principal == "api_key:test-key" for r in emulator.api_requests())
    _one_event_per_request(audit, emulator)


def test_a_replaced_client_is_refused(make_client: Callable[..., Any], emulator: Emulator) -> None:
    """Code (or LangChain) swapping in a plain SDK client after construction is refused."""
    from google import genai

    llm = langchain.chat_model(MODEL, client=make_client())
    llm.client = genai.Client(api_key="k", http_options={"base_url": emulator.url})
    with pytest.raises(GoldenPathError, match="client was replaced after construction"):
        llm.invoke("hi")
    assert emulator.api_requests() == []


def test_an_ungoverned_client_is_refused_at_construction(emulator: Emulator) -> None:
    """Passing a plain google.genai.Client is an error naming the fix, not a silent bypass."""
    from google import genai

    plain = genai.Client(api_key="k", http_options={"base_url": emulator.url})
    with pytest.raises(GoldenPathError, match="did not build was passed"):
        langchain.chat_model(MODEL, client=plain)
    with pytest.raises(GoldenPathError, match="did not build was given"):
        langchain.GovernedChatGoogleGenerativeAI(model=MODEL, client=plain)


def test_the_shared_client_survives_a_collected_model(make_client: Callable[..., Any]) -> None:
    """LangChain closes its own client when a model is collected; golden-path's stays open."""
    import gc

    client = make_client()
    langchain.chat_model(MODEL, client=client).invoke("hi")
    gc.collect()
    assert client.models.generate_content(model=MODEL, contents="after").text == "Echo: after"
