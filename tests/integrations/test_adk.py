"""Google ADK on the golden path: real ADK agents naming a model string, over the emulator.

google-adk 2.x requires google-genai<3, so tests/run runs this file in its own venv
(.venv-fw-2x); elsewhere it is skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from golden_path import GoldenPathError, PolicyViolation
from golden_path.emulator import Emulator
from golden_path.policies import Deny
from tests.conftest import AuditCapture

adapter = pytest.importorskip(
    "golden_path.integrations.adk", reason="needs golden-path[adk]", exc_type=ImportError
)
from google.adk.agents import Agent  # noqa: E402
from google.adk.models.registry import LLMRegistry  # noqa: E402
from google.adk.runners import InMemoryRunner  # noqa: E402
from google.genai import errors, types  # noqa: E402

MODEL = "gemini-2.5-flash"
# Each asyncio.run below is a new event loop; connections pooled on a loop that has ended are
# closed by the garbage collector, which Python reports as ResourceWarning at some later test.
pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(name="governed_registry")
def _governed_registry(
    monkeypatch: pytest.MonkeyPatch, make_client: Callable[..., Any]
) -> Iterator[Callable[..., Any]]:
    """golden_path.client() is the emulator's; ADK's registry resolves to GovernedGemini."""
    clients: list[Any] = []

    def use(**overrides: Any) -> Any:
        client = make_client(**overrides)
        clients.append(client)
        monkeypatch.setattr("golden_path.client", lambda: clients[-1])
        return client

    adapter.register()
    yield use
    adapter.unregister()


async def _ask(agent: Agent, text: str) -> str:
    runner = InMemoryRunner(agent=agent, app_name="golden-path-test")
    session = await runner.session_service.create_session(app_name="golden-path-test", user_id="u")
    message = types.Content(role="user", parts=[types.Part(text=text)])
    replies = []
    async for event in runner.run_async(user_id="u", session_id=session.id, new_message=message):
        if event.content and event.content.parts:
            replies += [part.text for part in event.content.parts if part.text]
    return " ".join(replies)


def test_a_model_string_resolves_to_the_governed_class(
    governed_registry: Callable[..., Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """Agent(model="gemini-...") runs on golden-path's client, on two event loops in a row."""
    governed_registry()
    assert LLMRegistry.resolve(MODEL) is adapter.GovernedGemini
    agent = Agent(name="helper", model=MODEL, instruction="be brief")
    assert "Echo: first" in asyncio.run(_ask(agent, "first"))
    assert "Echo: second" in asyncio.run(_ask(agent, "second"))
    requests = emulator.api_requests()
    assert len(requests) == len(audit.events) == 2
    assert all("golden-path" in r.headers["x-goog-api-client"] for r in requests)


def test_tool_call_round_trip(
    governed_registry: Callable[..., Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """ADK runs the tool the model asks for and sends the result back, each request audited."""
    governed_registry()
    called = []

    def get_weather(city: str) -> str:
        """Return the weather for a city."""
        called.append(city)
        return f"sunny in {city}"

    agent = Agent(name="helper", model=MODEL, tools=[get_weather])
    reply = asyncio.run(_ask(agent, "please call get_weather"))
    assert called
    assert "get_weather" in reply
    assert len(emulator.api_requests()) == len(audit.events) == 2


def test_policy_denial_is_the_sdks_error_with_the_violation(
    governed_registry: Callable[..., Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """A denied model call reaches ADK as ClientError 403 carrying the PolicyViolation."""

    class NoPro:
        name = "models"

        def on_request(self, request: Any) -> None:
            raise Deny("gemini-2.5-pro is not allowed for this app")

    governed_registry(policies=[NoPro()])
    agent = Agent(name="helper", model="gemini-2.5-pro")
    with pytest.raises(errors.ClientError) as caught:
        asyncio.run(_ask(agent, "hi"))
    assert caught.value.code == 403
    violation = caught.value.policy_violation  # type: ignore[attr-defined]
    assert isinstance(violation, PolicyViolation)
    assert emulator.api_requests() == []
    assert [e.outcome for e in audit.events] == ["denied"]


def test_an_ungoverned_client_is_refused(emulator: Emulator) -> None:
    """GovernedGemini(client=<plain SDK client>) refuses to send anything."""
    from google import genai

    model = adapter.GovernedGemini(
        model=MODEL, client=genai.Client(api_key="k", http_options={"base_url": emulator.url})
    )
    with pytest.raises(GoldenPathError, match="did not build"):
        _ = model.api_client
    assert emulator.api_requests() == []
