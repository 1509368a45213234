"""pydantic-ai on the golden path: the real pydantic-ai over the emulator.

pydantic-ai-slim 2.68 requires google-genai<3, so tests/run runs this file in its own venv
(.venv-fw-2x, google-genai 2.x from the supported range); elsewhere it is skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pydantic
import pytest

from golden_path import GoldenPathError, PolicyViolation
from golden_path.emulator import Emulator
from golden_path.policies import Deny
from tests.conftest import AuditCapture

adapter = pytest.importorskip(
    "golden_path.integrations.pydantic_ai",
    reason="needs golden-path[pydantic-ai]",
    exc_type=ImportError,
)
from pydantic_ai import Agent  # noqa: E402
from pydantic_ai.exceptions import ModelHTTPError  # noqa: E402

MODEL = "gemini-2.5-flash"
# Each asyncio.run below is a new event loop; connections pooled on a loop that has ended are
# closed by the garbage collector, which Python reports as ResourceWarning at some later test.
pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def _one_event_per_request(audit: AuditCapture, emulator: Emulator) -> None:
    assert len(audit.events) == len(emulator.api_requests()) > 0
    for request in emulator.api_requests():
        assert "golden-path" in request.headers["x-goog-api-client"]


def test_text_and_streaming(
    make_client: Callable[..., Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """run_sync and run_stream go through golden-path's client, one audit event per request."""
    agent = Agent(adapter.google_model(MODEL, client=make_client()))
    assert agent.run_sync("hello there").output == "Echo: hello there"

    async def stream() -> str:
        async with agent.run_stream("stream this") as result:
            return "".join([chunk async for chunk in result.stream_text(delta=True)])

    assert asyncio.run(stream()) == "Echo: stream this"
    assert asyncio.run(agent.run("second loop")).output == "Echo: second loop"
    _one_event_per_request(audit, emulator)


def test_tool_call_round_trip(
    make_client: Callable[..., Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """The model calls the agent's tool; its result goes back and is described."""
    agent = Agent(adapter.google_model(MODEL, client=make_client()))
    called = []

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """Return the weather for a city."""
        called.append(city)
        return f"sunny in {city}"

    result = agent.run_sync("please call get_weather")
    assert called
    assert "get_weather" in result.output
    assert len(emulator.api_requests()) == 2
    _one_event_per_request(audit, emulator)


class Verdict(pydantic.BaseModel):
    """A structured answer."""

    label: str
    score: int


def test_structured_output(make_client: Callable[..., Any]) -> None:
    """output_type gives a validated pydantic model."""
    agent = Agent(adapter.google_model(MODEL, client=make_client()), output_type=Verdict)
    assert isinstance(agent.run_sync("judge this").output, Verdict)


def test_policy_denial_is_a_model_http_error_with_the_violation(
    make_client: Callable[..., Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """A denied call is pydantic-ai's ModelHTTPError 403 carrying the PolicyViolation."""

    class NoPro:
        name = "models"

        def on_request(self, request: Any) -> None:
            raise Deny("gemini-2.5-pro is not allowed for this app")

    agent = Agent(adapter.google_model("gemini-2.5-pro", client=make_client(policies=[NoPro()])))
    with pytest.raises(ModelHTTPError) as caught:
        agent.run_sync("hi")
    assert caught.value.status_code == 403
    violation = caught.value.policy_violation  # type: ignore[attr-defined]
    assert isinstance(violation, PolicyViolation)
    assert caught.value.__cause__ is violation
    assert emulator.api_requests() == []
    assert [e.outcome for e in audit.events] == ["denied"]


def test_the_provider_refuses_to_leave_the_golden_path(
    make_client: Callable[..., Any], emulator: Emulator
) -> None:
    """Swapping the HTTP client, a second client, or an ungoverned client are all refused."""
    import httpx2
    from google import genai

    provider = adapter.google_provider(make_client())
    with pytest.raises(GoldenPathError, match="replace the SDK's HTTP client"):
        provider._set_http_client(httpx2.AsyncClient())
    with pytest.raises(GoldenPathError, match="second client"):
        provider._client_for_api_version("v1alpha")
    provider._client = genai.Client(api_key="k", http_options={"base_url": emulator.url})
    with pytest.raises(GoldenPathError, match="was replaced"):
        Agent(adapter.GovernedGoogleModel(MODEL, provider=provider)).run_sync("hi")
    with pytest.raises(GoldenPathError, match="did not build"):
        adapter.google_provider(genai.Client(api_key="k"))
    assert emulator.api_requests() == []
