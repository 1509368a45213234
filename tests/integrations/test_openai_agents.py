"""openai-agents on the golden path: the real package over the emulator's OpenAI-compatible API.

openai-agents pins websockets<17 (through mcp), unlike the main test venv, so tests/run runs
this file in the framework venv (.venv-fw-2x); elsewhere it is skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest

import golden_path
from golden_path import GoldenPathError, PolicyViolation
from golden_path.emulator import Emulator
from tests.conftest import AuditCapture
from tests.integrations.conftest import Allowlist

adapter = pytest.importorskip(
    "golden_path.integrations.openai_agents",
    reason="needs golden-path[openai-agents]",
    exc_type=ImportError,
)
import agents  # noqa: E402
import openai  # noqa: E402
from agents import Agent, Runner, function_tool  # noqa: E402
from agents.tracing import processors as agent_processors  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

MODEL = "gemini-2.5-flash"
pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(autouse=True)
def _no_tracing_to_openai() -> Iterator[None]:
    """Every test starts with tracing off; the default processors come back afterwards."""
    agents.set_trace_processors([])
    try:
        yield
    finally:
        agents.set_trace_processors([agent_processors.default_processor()])
        agents.set_tracing_disabled(False)


def governed(ai_studio: dict[str, Any], audit: AuditCapture, *policies: Any) -> Any:
    return golden_path.async_openai_client(
        policies=list(policies), audit_sinks=[audit], **ai_studio
    )


def _one_event_per_request(audit: AuditCapture, emulator: Emulator) -> None:
    paths = [r.path for r in emulator.api_requests()]
    assert paths
    assert all(p.endswith("/chat/completions") for p in paths)  # never the Responses API
    assert len(audit.events) == len(paths)


def test_text_and_streaming(
    ai_studio: dict[str, Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """Runner.run_sync and run_streamed use chat completions on golden-path's client."""
    agent = Agent(name="helper", model=adapter.model(MODEL, client=governed(ai_studio, audit)))
    assert "hello there" in Runner.run_sync(agent, "hello there").final_output

    async def stream() -> str:
        result = Runner.run_streamed(agent, "stream this")
        deltas = [
            event.data.delta
            async for event in result.stream_events()
            if event.type == "raw_response_event" and hasattr(event.data, "delta")
        ]
        assert "stream this" in str(result.final_output)
        return "".join(str(d) for d in deltas)

    assert "stream this" in asyncio.run(stream())
    _one_event_per_request(audit, emulator)


@function_tool
def get_weather(city: str) -> str:
    """Return the weather for a city."""
    return f"sunny in {city}"


def test_tool_call_round_trip(
    ai_studio: dict[str, Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """The model calls the tool, the agent sends its result back: two audited requests."""
    agent = Agent(
        name="helper",
        model=adapter.model(MODEL, client=governed(ai_studio, audit)),
        tools=[get_weather],
    )
    result = Runner.run_sync(agent, "call get_weather for Paris")
    assert "sunny in" in str(result.final_output)
    requests = emulator.api_requests()
    assert len(requests) == 2
    assert any(m.get("role") == "tool" for m in requests[1].body["messages"])
    _one_event_per_request(audit, emulator)


class Verdict(pydantic.BaseModel):
    """A structured answer."""

    verdict: str
    score: int


def test_structured_output(ai_studio: dict[str, Any], audit: AuditCapture) -> None:
    """output_type gives a validated pydantic object over the governed client."""
    agent = Agent(
        name="judge",
        model=adapter.model(MODEL, client=governed(ai_studio, audit)),
        output_type=Verdict,
    )
    assert isinstance(Runner.run_sync(agent, "judge this").final_output, Verdict)


def test_policy_denial_is_the_openai_permission_error(
    ai_studio: dict[str, Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """A denied model raises openai.PermissionDeniedError with the PolicyViolation attached."""
    client = governed(ai_studio, audit, Allowlist(MODEL))
    agent = Agent(name="helper", model=adapter.model("gemini-2.5-pro", client=client))
    with pytest.raises(openai.PermissionDeniedError) as caught:
        Runner.run_sync(agent, "hi")
    violation = caught.value.policy_violation  # type: ignore[attr-defined]
    assert isinstance(violation, PolicyViolation)
    assert caught.value.__cause__ is violation
    assert emulator.api_requests() == []
    assert len(audit.events) == 1  # the denial is audited too


def test_configure_routes_model_strings_and_traces_to_opentelemetry(
    ai_studio: dict[str, Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """configure(): Agent(model="...") runs governed; spans reach OpenTelemetry, no text in them."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    processor = adapter.OTelTraceProcessor(tracer_provider.get_tracer("test"))
    adapter.configure(client=governed(ai_studio, audit))
    agents.set_trace_processors([processor])  # the same processor, on a provider we can read
    agent = Agent(name="helper", model=MODEL, tools=[get_weather])
    Runner.run_sync(agent, "call get_weather for Paris")
    _one_event_per_request(audit, emulator)
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert "agents.trace Agent workflow" in spans
    assert "agents.function get_weather" in spans
    generation = next(s for name, s in spans.items() if name.startswith("agents.generation"))
    assert generation.attributes["agents.model"] == MODEL
    assert generation.parent is not None
    text = repr([dict(s.attributes or {}) for s in spans.values()])
    assert "Paris" not in text  # prompts, answers and tool arguments stay out of traces


def test_configure_removes_the_openai_exporter(
    ai_studio: dict[str, Any], audit: AuditCapture
) -> None:
    """After configure(), OpenAI's trace exporter is no longer a processor, whatever the mode."""
    for mode in ("otel", "off"):
        agents.set_trace_processors([agent_processors.default_processor()])
        adapter.configure(client=governed(ai_studio, audit), tracing=mode)
        installed = agents.tracing.get_trace_provider()._multi_processor._processors
        assert agent_processors.default_processor() not in installed
    with pytest.raises(GoldenPathError, match="'otel' or 'off'"):
        adapter.configure(client=governed(ai_studio, audit), tracing="openai")  # type: ignore[arg-type]


def test_the_model_refuses_to_leave_the_golden_path(
    ai_studio: dict[str, Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """A plain AsyncOpenAI is refused; a client swapped in after construction is refused."""
    plain = openai.AsyncOpenAI(api_key="sk-test", base_url=emulator.url)
    with pytest.raises(GoldenPathError, match="did not build"):
        adapter.model(MODEL, client=plain)
    with pytest.raises(GoldenPathError, match="did not build"):
        adapter.configure(client=plain)
    model = adapter.model(MODEL, client=governed(ai_studio, audit))
    model._client = plain  # what a later openai-agents (or app code) might do
    with pytest.raises(GoldenPathError, match="replaced after construction"):
        Runner.run_sync(Agent(name="helper", model=model), "hi")
    assert emulator.api_requests() == []
    provider = adapter.provider(client=governed(ai_studio, audit))
    assert isinstance(provider.get_model("gemini-2.5-pro"), adapter.GovernedChatCompletionsModel)
