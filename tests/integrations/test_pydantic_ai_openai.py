"""pydantic-ai on Gemini's OpenAI-compatible endpoint: the real package over the emulator.

pydantic-ai-slim 2.68 requires google-genai<3, so tests/run runs this file in the framework venv
(.venv-fw-2x); elsewhere it is skipped.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pydantic
import pytest

import golden_path
from golden_path import GoldenPathError, PolicyViolation
from golden_path.emulator import Emulator
from tests.conftest import AuditCapture
from tests.integrations.conftest import Allowlist

adapter = pytest.importorskip(
    "golden_path.integrations.pydantic_ai_openai",
    reason="needs golden-path[pydantic-ai]",
    exc_type=ImportError,
)
from pydantic_ai import Agent  # noqa: E402
from pydantic_ai.exceptions import ModelHTTPError  # noqa: E402

MODEL = "gemini-2.5-flash"
pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def governed(ai_studio: dict[str, Any], audit: AuditCapture, *policies: Any) -> Any:
    return golden_path.async_openai_client(
        policies=list(policies), audit_sinks=[audit], **ai_studio
    )


def _one_event_per_request(audit: AuditCapture, emulator: Emulator) -> None:
    paths = [r.path for r in emulator.api_requests()]
    assert paths
    assert all(p.endswith("/chat/completions") for p in paths)
    assert len(audit.events) == len(paths)


def test_text_and_streaming(
    ai_studio: dict[str, Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """run_sync and run_stream use chat completions on golden-path's client."""
    agent = Agent(adapter.openai_model(MODEL, client=governed(ai_studio, audit)))
    assert "hello there" in agent.run_sync("hello there").output

    async def stream() -> str:
        async with agent.run_stream("stream this") as result:
            return "".join([chunk async for chunk in result.stream_text(delta=True)])

    assert "stream this" in asyncio.run(stream())
    _one_event_per_request(audit, emulator)


def test_tool_call_round_trip(
    ai_studio: dict[str, Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """The model calls the agent's tool; its result goes back in a second request."""
    agent = Agent(adapter.openai_model(MODEL, client=governed(ai_studio, audit)))
    called = []

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """Return the weather for a city."""
        called.append(city)
        return f"sunny in {city}"

    agent.run_sync("call get_weather for Paris")
    assert called
    requests = emulator.api_requests()
    assert len(requests) == 2
    assert any(m.get("role") == "tool" for m in requests[1].body["messages"])
    _one_event_per_request(audit, emulator)


class Verdict(pydantic.BaseModel):
    """A structured answer."""

    label: str
    score: int


def test_structured_output(ai_studio: dict[str, Any], audit: AuditCapture) -> None:
    """output_type gives a validated pydantic model."""
    agent = Agent(
        adapter.openai_model(MODEL, client=governed(ai_studio, audit)), output_type=Verdict
    )
    assert isinstance(agent.run_sync("judge this").output, Verdict)


def test_policy_denial_is_a_model_http_error_with_the_violation(
    ai_studio: dict[str, Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """A denied model is pydantic-ai's ModelHTTPError 403 carrying the PolicyViolation."""
    client = governed(ai_studio, audit, Allowlist(MODEL))
    agent = Agent(adapter.openai_model("gemini-2.5-pro", client=client))
    with pytest.raises(ModelHTTPError) as caught:
        agent.run_sync("hi")
    assert caught.value.status_code == 403
    violation = caught.value.policy_violation  # type: ignore[attr-defined]
    assert isinstance(violation, PolicyViolation)
    assert caught.value.__cause__ is violation
    assert emulator.api_requests() == []
    assert [e.outcome for e in audit.events] == ["denied"]


def test_the_provider_refuses_to_leave_the_golden_path(
    ai_studio: dict[str, Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """Swapping the HTTP client, replacing the client, or an ungoverned client are refused."""
    import httpx2
    import openai

    provider = adapter.openai_provider(governed(ai_studio, audit))
    with pytest.raises(GoldenPathError, match="HTTP client"):
        provider._set_http_client(httpx2.AsyncClient())
    plain = openai.AsyncOpenAI(api_key="k", base_url=emulator.url + "/v1beta/openai/")
    provider._client = plain
    with pytest.raises(GoldenPathError, match="was replaced"):
        Agent(adapter.GovernedOpenAIChatModel(MODEL, provider=provider)).run_sync("hi")
    with pytest.raises(GoldenPathError, match="did not build"):
        adapter.openai_provider(plain)
    assert emulator.api_requests() == []
