"""The three paths are governed alike: same policy decisions, same audit fields, same headers."""

from __future__ import annotations

import dataclasses
from typing import Any

import golden_path
from golden_path import PolicyViolation
from golden_path._transport import REQUEST_ID_HEADER
from tests.integrations.conftest import CLIENT_ID, MODEL, OAI_CLIENT_ID, Allowlist

# Fields that differ by design between paths or between any two requests.
_VARYING = {
    "timestamp",
    "request_id",
    "latency_ms",
    "overhead_us",
    "path",
    "surface",
    "method",
    "client_id",
    "sdk_version",
}


def _filled(event: Any) -> set[str]:
    return {f.name for f in dataclasses.fields(event) if getattr(event, f.name) is not None}


def _three_calls(ai_studio: dict[str, Any], audit: Any, model: str) -> list[Any]:
    policies = [Allowlist(MODEL)]
    sdk = golden_path.create_client(policies=policies, audit_sinks=[audit], **ai_studio)
    oai = golden_path.openai_client(policies=policies, audit_sinks=[audit], **ai_studio)
    rest = golden_path.http_client(policies=policies, audit_sinks=[audit], **ai_studio)
    outcomes: list[Any] = []
    for call in (
        lambda: sdk.models.generate_content(model=model, contents="hello there"),
        lambda: oai.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hello there"}]
        ),
        lambda: rest.post(
            f"models/{model}:generateContent",
            json={"contents": [{"parts": [{"text": "hello there"}]}]},
        ),
    ):
        try:
            outcomes.append(call())
        except PolicyViolation as violation:
            outcomes.append(violation)
    return outcomes


def test_allowed_call_is_audited_alike_on_every_path(
    ai_studio: dict[str, Any], audit: Any, emulator: Any
) -> None:
    """An allowed call through the SDK, the OpenAI client and raw REST gives events with the
    same fields filled, the same values where paths do not differ, and the same decisions."""
    _three_calls(ai_studio, audit, MODEL)

    sdk, oai, rest = audit.events
    assert _filled(sdk) == _filled(oai) == _filled(rest)
    for other in (oai, rest):
        for name in _filled(sdk) - _VARYING - {"prompt_tokens", "output_tokens", "total_tokens"}:
            assert getattr(other, name) == getattr(sdk, name), name
    assert [e.surface for e in audit.events] == ["genai", "openai", "genai"]
    assert [e.client_id for e in audit.events] == [CLIENT_ID, OAI_CLIENT_ID, CLIENT_ID]
    for seen, event in zip(emulator.api_requests(), audit.events, strict=True):
        assert seen.headers[REQUEST_ID_HEADER] == event.request_id
        assert event.client_id in seen.headers["x-goog-api-client"].split()
        assert {event.client_id, "app/checkout", "team/payments"} <= set(
            seen.headers["user-agent"].split()
        )


def test_denied_call_is_refused_alike_on_every_path(
    ai_studio: dict[str, Any], audit: Any, emulator: Any
) -> None:
    """A denied model raises the same PolicyViolation on all three paths, nothing is sent,
    and the three audit events carry the same decision."""
    model = "gemini-2.5-pro"
    outcomes = _three_calls(ai_studio, audit, model)

    assert all(isinstance(o, PolicyViolation) for o in outcomes)
    assert {(o.policy, o.reason) for o in outcomes} == {
        ("allowlist", f"model {model} is not allowed")
    }
    assert emulator.requests == []
    decision = {
        "policy": "allowlist",
        "action": "deny",
        "reason": f"model {model} is not allowed",
        "enforced": True,
    }
    assert [(e.outcome, e.model, e.policy) for e in audit.events] == [
        ("denied", model, (decision,))
    ] * 3
