"""The public API as callers write it; `mypy --strict` on this file is a test (test_typing.py).

Nothing here runs: it only has to type-check, so a change that breaks callers' types fails CI.
"""

from __future__ import annotations

import httpx2
import openai
from google import genai

import golden_path
from golden_path.audit import AuditEvent, AuditSink
from golden_path.emulator import Emulator, RecordedRequest
from golden_path.policies import Deny, GenAIRequest, GenAIResponse
from golden_path.testing import AuditCapture, capture_audit, emulated


def app_code() -> str | None:
    client: genai.Client = golden_path.client()
    response = client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    return response.text


def platform_code(settings: golden_path.Settings) -> genai.Client:
    return golden_path.create_client(settings, team="payments", timeout_s=30.0)


def other_paths() -> tuple[openai.OpenAI, openai.AsyncOpenAI, httpx2.Client, httpx2.AsyncClient]:
    return (
        golden_path.openai_client(),
        golden_path.async_openai_client(),
        golden_path.http_client(),
        golden_path.async_http_client(),
    )


class TeamPolicy:
    """A custom policy as a platform team writes one."""

    name = "team-only"
    mode = "enforce"

    def on_request(self, request: GenAIRequest) -> None:
        if request.identity.team is None:
            raise Deny("requests must name a team")

    def on_response(self, request: GenAIRequest, response: GenAIResponse) -> None:
        if response.usage is not None and response.usage.total_tokens:
            request.state["tokens"] = response.usage.total_tokens


class CountingSink:
    def __init__(self) -> None:
        self.count = 0

    def write(self, event: AuditEvent) -> None:
        self.count += 1


def wiring() -> genai.Client:
    sink: AuditSink = CountingSink()
    return golden_path.create_client(policies=[TeamPolicy()], audit_sinks=[sink])


def errors(exc: golden_path.GoldenPathError) -> str:
    if isinstance(exc, golden_path.BudgetExceeded):
        return f"{exc.limit} {exc.retry_after}"
    if isinstance(exc, golden_path.PolicyViolation):
        return f"{exc.policy} {exc.reason} {exc.request_id}"
    if isinstance(exc, golden_path.ConfigError):
        return "; ".join(f"{p.field} {p.source} {p.fix}" for p in exc.problems)
    return str(exc)


def tests() -> list[RecordedRequest]:
    with Emulator() as emu, emulated(emu), capture_audit() as audit:
        capture: AuditCapture = audit
        golden_path.client().models.count_tokens(model="gemini-2.5-flash", contents="x")
        assert capture.outcomes() == ["ok"]
        return emu.api_requests()
