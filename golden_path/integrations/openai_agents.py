"""openai-agents on Gemini's OpenAI-compatible endpoint, through golden-path's OpenAI clients.

Left alone, openai-agents calls the Responses API (Gemini answers 404), builds its own
``AsyncOpenAI`` from ``OPENAI_API_KEY``, and exports every trace (prompts and answers
included) to api.openai.com. :func:`model` and :func:`provider` give agents a chat-completions
model on ``golden_path.async_openai_client()`` that checks before every call that its client is
still golden-path's; :func:`configure` does the same process-wide (model strings, the default
API) and replaces the trace processors: agent, tool and model spans go to OpenTelemetry (the
global tracer provider, like golden-path's ``otel`` audit sink), never to OpenAI. Spans carry
names, models, token counts and errors, never prompt or answer text.

A policy denial reaches agent code as the OpenAI SDK's own ``PermissionDeniedError`` (403, or
``RateLimitError`` 429 with ``retry-after`` for budgets), which is what openai-agents raises
for a refused model call, with the PolicyViolation as ``policy_violation`` and ``__cause__``.

Needs ``golden-path[openai-agents]`` (and ``[otel]`` for ``tracing="otel"``).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from typing import Any, Literal

try:
    import openai
    from agents import (
        ModelProvider,
        OpenAIChatCompletionsModel,
        TracingProcessor,
        set_default_openai_api,
        set_default_openai_client,
        set_trace_processors,
        set_tracing_disabled,
    )
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "golden_path.integrations.openai_agents needs openai-agents: "
        "pip install 'golden-path[openai-agents]'"
    ) from exc

from golden_path._governed import is_governed
from golden_path.exceptions import BudgetExceeded, GoldenPathError, PolicyViolation

__all__ = [
    "GovernedChatCompletionsModel",
    "GovernedModelProvider",
    "OTelTraceProcessor",
    "configure",
    "model",
    "provider",
]

Tracing = Literal["otel", "off"]


def _client(client: Any) -> Any:
    if client is None:
        import golden_path

        return golden_path.async_openai_client()
    if not is_governed(client):
        raise GoldenPathError(
            f"an OpenAI client golden-path did not build was passed to openai-agents "
            f"({type(client).__module__}.{type(client).__qualname__}); pass "
            "golden_path.async_openai_client() or leave it out"
        )
    return client


def model(name: str = "gemini-2.5-flash", *, client: Any = None) -> GovernedChatCompletionsModel:
    """A chat-completions model for ``name`` on golden-path's async OpenAI client."""
    return GovernedChatCompletionsModel(model=name, openai_client=_client(client))


def provider(*, client: Any = None) -> GovernedModelProvider:
    """A ``ModelProvider`` for ``RunConfig(model_provider=...)``: every model name, governed."""
    return GovernedModelProvider(_client(client))


def configure(*, client: Any = None, tracing: Tracing = "otel") -> GovernedModelProvider:
    """Process-wide: chat completions on golden-path's client, traces to OpenTelemetry or off.

    Model strings (``Agent(model="gemini-2.5-flash")``) then resolve through golden-path's
    client; the default OpenAI trace exporter is removed either way. Returns the provider.
    """
    if tracing not in ("otel", "off"):
        raise GoldenPathError(f"tracing={tracing!r}: use 'otel' or 'off'")
    governed = _client(client)
    processors: list[TracingProcessor] = [OTelTraceProcessor()] if tracing == "otel" else []
    set_default_openai_client(governed, use_for_tracing=False)
    set_default_openai_api("chat_completions")
    set_trace_processors(processors)
    set_tracing_disabled(tracing == "off")
    return GovernedModelProvider(governed)


def _framework_error(violation: PolicyViolation) -> openai.APIStatusError:
    import httpx2

    budget = isinstance(violation, BudgetExceeded)
    headers = {}
    if isinstance(violation, BudgetExceeded) and violation.retry_after is not None:
        headers["retry-after"] = str(max(1, round(violation.retry_after)))
    request = httpx2.Request("POST", "https://golden-path.invalid/chat/completions")
    response = httpx2.Response(429 if budget else 403, headers=headers, request=request)
    kind = openai.RateLimitError if budget else openai.PermissionDeniedError
    error = kind(str(violation), response=response, body=None)
    setattr(error, "policy_violation", violation)  # noqa: B010 - what apps read the policy from
    return error


class GovernedChatCompletionsModel(OpenAIChatCompletionsModel):
    """``OpenAIChatCompletionsModel`` that sends only through golden-path's client."""

    def __init__(self, model: str, openai_client: Any) -> None:
        if not is_governed(openai_client):
            raise GoldenPathError(
                "GovernedChatCompletionsModel needs golden_path.async_openai_client()"
            )
        super().__init__(model=model, openai_client=openai_client)
        self._governed_client = openai_client

    def _checked(self) -> None:
        if self._client is not self._governed_client:
            raise GoldenPathError(
                "the agents model's OpenAI client was replaced after construction; refusing to "
                "send an ungoverned request"
            )

    async def get_response(self, *args: Any, **kwargs: Any) -> Any:
        """openai-agents' get_response, on golden-path's client only."""
        self._checked()
        try:
            return await super().get_response(*args, **kwargs)
        except PolicyViolation as violation:
            raise _framework_error(violation) from violation

    async def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        """openai-agents' stream_response, on golden-path's client only."""
        self._checked()
        try:
            async for event in super().stream_response(*args, **kwargs):
                yield event
        except PolicyViolation as violation:
            raise _framework_error(violation) from violation


class GovernedModelProvider(ModelProvider):
    """Every model name becomes a :class:`GovernedChatCompletionsModel` on one client."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def get_model(self, model_name: str | None) -> GovernedChatCompletionsModel:
        """The governed model for ``model_name`` (golden-path's default model when None)."""
        if model_name is None:
            from golden_path._settings import load_settings

            model_name = load_settings().settings.model
        return GovernedChatCompletionsModel(model=model_name, openai_client=self._client)


# Span fields that are names, models and numbers: never prompt, answer or tool argument text.
_SAFE_FIELDS = ("name", "model", "type", "from_agent", "to_agent", "server", "triggered")


class OTelTraceProcessor(TracingProcessor):
    """openai-agents traces and spans as OpenTelemetry spans, parent to child, no content."""

    def __init__(self, tracer: Any = None) -> None:
        try:
            from opentelemetry import trace
        except ImportError as exc:
            raise GoldenPathError(
                "openai-agents tracing='otel' needs OpenTelemetry: pip install "
                "'golden-path[otel]', or configure(tracing='off')"
            ) from exc
        self._trace = trace
        self._tracer = tracer or trace.get_tracer("golden_path.integrations.openai_agents")
        self._open: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _start(self, key: str, name: str, parent: str | None, attributes: dict[str, Any]) -> None:
        with self._lock:
            parent_span = self._open.get(parent) if parent else None
        context = self._trace.set_span_in_context(parent_span) if parent_span is not None else None
        span = self._tracer.start_span(name, context=context, attributes=attributes)
        with self._lock:
            self._open[key] = span

    def _end(self, key: str, attributes: dict[str, Any], error: Any = None) -> None:
        with self._lock:
            span = self._open.pop(key, None)
        if span is None:
            return
        span.set_attributes(attributes)
        if error:
            from opentelemetry.trace import Status, StatusCode

            span.set_status(Status(StatusCode.ERROR, str(error.get("message", ""))))
        span.end()

    def on_trace_start(self, trace: Any) -> None:
        """A root span per agent run (workflow)."""
        self._start(trace.trace_id, f"agents.trace {trace.name}", None, {})

    def on_trace_end(self, trace: Any) -> None:
        """End the run's root span."""
        self._end(trace.trace_id, {})

    def on_span_start(self, span: Any) -> None:
        """A child span (agent, generation, function, handoff, guardrail...)."""
        data = span.span_data
        name = getattr(data, "name", None)
        title = f"agents.{data.type}" + (f" {name}" if name else "")
        self._start(span.span_id, title, span.parent_id or span.trace_id, {})

    def on_span_end(self, span: Any) -> None:
        """End it, with the span's names, model and token usage (never its text)."""
        exported = span.span_data.export()
        attributes: dict[str, Any] = {
            f"agents.{field}": str(exported[field])
            for field in _SAFE_FIELDS
            if exported.get(field) is not None
        }
        for key, value in (exported.get("usage") or {}).items():
            if isinstance(value, int | float):
                attributes[f"gen_ai.usage.{key}"] = value
        self._end(span.span_id, attributes, span.error)

    def shutdown(self) -> None:
        """End whatever is still open (a run interrupted by shutdown)."""
        with self._lock:
            spans = list(self._open.values())
            self._open.clear()
        for span in spans:
            span.end()

    def force_flush(self) -> None:
        """Nothing is buffered here: the tracer provider's processors flush themselves."""
