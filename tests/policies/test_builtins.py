"""Every built-in policy, enforce and report mode, sync/async/streaming, over real HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from google.genai import types

import golden_path
from tests.policies._calls import MODES, generate

Governed = Callable[..., Any]


def _sent(emulator: Any) -> Any:
    requests = emulator.api_requests()
    assert len(requests) == 1, requests
    return requests[0]


def _decisions(audit: Any, policy: str) -> list[dict[str, Any]]:
    return [d for event in audit.events for d in event.policy if d["policy"] == policy]


@pytest.mark.parametrize("mode", MODES)
def test_alias_resolves_before_the_allowlist(
    governed: Governed, emulator: Any, audit: Any, mode: str
) -> None:
    """An alias is rewritten in the URL and the allowlist judges the model it resolves to."""
    client = governed(
        '[models]\nallow = ["gemini-2.5-*"]\n[models.aliases]\nfast = "gemini-2.5-flash"\n'
    )
    generate(client, mode, "fast", "hello")
    assert "/models/gemini-2.5-flash:" in _sent(emulator).path
    assert _decisions(audit, "models") == [
        {
            "policy": "models",
            "action": "alias",
            "reason": "fast -> gemini-2.5-flash",
            "enforced": True,
        }
    ]


@pytest.mark.parametrize("mode", MODES)
def test_allowlist_denies_before_the_network(
    governed: Governed, emulator: Any, audit: Any, mode: str
) -> None:
    """A model outside the allowlist raises PolicyViolation naming policy, reason and request."""
    client = governed('[models]\nallow = ["gemini-2.5-*"]\n')
    with pytest.raises(golden_path.PolicyViolation) as caught:
        generate(client, mode, "gemini-2.0-flash", "hello")
    assert caught.value.policy == "models"
    assert "gemini-2.0-flash" in caught.value.reason
    assert caught.value.request_id == audit.only().request_id
    assert audit.only().outcome == "denied"
    assert emulator.requests == []


@pytest.mark.parametrize("mode", MODES)
def test_models_report_mode_changes_nothing(
    governed: Governed, emulator: Any, audit: Any, mode: str
) -> None:
    """In report mode a disallowed model and an alias are recorded, not enforced."""
    client = governed(
        '[models]\nmode = "report"\nallow = ["gemini-2.5-pro"]\n'
        '[models.aliases]\nfast = "gemini-2.5-pro"\n'
    )
    generate(client, mode, "gemini-2.5-flash", "hello")
    assert "/models/gemini-2.5-flash:" in _sent(emulator).path
    decisions = _decisions(audit, "models")
    assert [(d["action"], d["enforced"]) for d in decisions] == [("deny", False)]


@pytest.mark.parametrize("mode", MODES)
def test_generation_clamps_output_tokens(governed: Governed, emulator: Any, mode: str) -> None:
    """A larger maxOutputTokens is clamped to the cap; a missing one is set to it."""
    client = governed("[generation]\nmax_output_tokens = 100\n")
    generate(
        client, mode, "gemini-2.5-flash", "hi", types.GenerateContentConfig(max_output_tokens=5000)
    )
    generate(client, mode, "gemini-2.5-flash", "hi")
    bodies = [r.body for r in emulator.api_requests()]
    assert [b["generationConfig"]["maxOutputTokens"] for b in bodies] == [100, 100]


@pytest.mark.parametrize("mode", MODES)
def test_generation_deny_on_exceed(governed: Governed, emulator: Any, mode: str) -> None:
    """With on_exceed = "deny" a request above the cap is refused; one below it passes as is."""
    client = governed('[generation]\nmax_output_tokens = 100\non_exceed = "deny"\n')
    with pytest.raises(golden_path.PolicyViolation, match="exceeds the limit of 100"):
        generate(
            client,
            mode,
            "gemini-2.5-flash",
            "hi",
            types.GenerateContentConfig(max_output_tokens=101),
        )
    generate(
        client, mode, "gemini-2.5-flash", "hi", types.GenerateContentConfig(max_output_tokens=99)
    )
    assert _sent(emulator).body["generationConfig"]["maxOutputTokens"] == 99


def test_generation_clamps_snake_case_spelling(governed: Governed, emulator: Any) -> None:
    """The cap also applies to max_output_tokens, the spelling Google's parser also accepts."""
    client = governed("[generation]\nmax_output_tokens = 100\n")
    client.models.generate_content(
        model="gemini-2.5-flash",
        contents="hi",
        config=types.GenerateContentConfig(
            http_options=types.HttpOptions(
                extra_body={"generation_config": {"max_output_tokens": 9999}}
            )
        ),
    )
    assert _sent(emulator).body["generationConfig"] == {"max_output_tokens": 100}


@pytest.mark.parametrize("mode", MODES)
def test_generation_report_mode(governed: Governed, emulator: Any, audit: Any, mode: str) -> None:
    """Report mode records the clamp with enforced=False and sends the caller's value."""
    client = governed('[generation]\nmode = "report"\nmax_output_tokens = 100\n')
    generate(
        client, mode, "gemini-2.5-flash", "hi", types.GenerateContentConfig(max_output_tokens=5000)
    )
    assert _sent(emulator).body["generationConfig"]["maxOutputTokens"] == 5000
    assert [(d["action"], d["enforced"]) for d in _decisions(audit, "generation")] == [
        ("clamp", False)
    ]


@pytest.mark.parametrize("mode", MODES)
def test_safety_raises_and_adds_thresholds(governed: Governed, emulator: Any, mode: str) -> None:
    """Lax settings are raised, missing categories added, stricter app settings kept."""
    client = governed('[safety]\nminimum = "BLOCK_MEDIUM_AND_ABOVE"\n')
    config = types.GenerateContentConfig(
        safety_settings=[
            types.SafetySetting(category="HARM_CATEGORY_HARASSMENT", threshold="BLOCK_NONE"),
            types.SafetySetting(
                category="HARM_CATEGORY_HATE_SPEECH", threshold="BLOCK_LOW_AND_ABOVE"
            ),
        ]
    )
    generate(client, mode, "gemini-2.5-flash", "hi", config)
    settings = {s["category"]: s["threshold"] for s in _sent(emulator).body["safetySettings"]}
    assert settings == {
        "HARM_CATEGORY_HARASSMENT": "BLOCK_MEDIUM_AND_ABOVE",
        "HARM_CATEGORY_HATE_SPEECH": "BLOCK_LOW_AND_ABOVE",
        "HARM_CATEGORY_SEXUALLY_EXPLICIT": "BLOCK_MEDIUM_AND_ABOVE",
        "HARM_CATEGORY_DANGEROUS_CONTENT": "BLOCK_MEDIUM_AND_ABOVE",
    }


def test_safety_report_mode(governed: Governed, emulator: Any, audit: Any) -> None:
    """Report mode leaves the safety settings alone and records what it would have raised."""
    client = governed('[safety]\nmode = "report"\nminimum = "BLOCK_ONLY_HIGH"\n')
    generate(client, "sync", "gemini-2.5-flash", "hi")
    assert "safetySettings" not in _sent(emulator).body
    assert [(d["action"], d["enforced"]) for d in _decisions(audit, "safety")] == [("raise", False)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "tool",
    [
        types.Tool(google_search=types.GoogleSearch()),
        types.Tool(code_execution=types.ToolCodeExecution()),
        types.Tool(url_context=types.UrlContext()),
    ],
)
def test_tools_deny(governed: Governed, emulator: Any, mode: str, tool: types.Tool) -> None:
    """Each denied tool refuses the request; nothing is sent."""
    client = governed('[tools]\ndeny = ["google_search", "code_execution", "url_context"]\n')
    with pytest.raises(golden_path.PolicyViolation) as caught:
        generate(client, mode, "gemini-2.5-flash", "hi", types.GenerateContentConfig(tools=[tool]))
    assert caught.value.policy == "tools"
    assert emulator.requests == []


def test_tools_allows_function_declarations(governed: Governed, emulator: Any) -> None:
    """Tools not on the deny list (function declarations) pass untouched."""
    client = governed('[tools]\ndeny = ["google_search"]\n')
    tool = types.Tool(function_declarations=[types.FunctionDeclaration(name="lookup")])
    generate(client, "sync", "gemini-2.5-flash", "hi", types.GenerateContentConfig(tools=[tool]))
    assert _sent(emulator).body["tools"] == [{"functionDeclarations": [{"name": "lookup"}]}]


def test_tools_report_mode(governed: Governed, emulator: Any, audit: Any) -> None:
    """Report mode sends the denied tool and records the deny with enforced=False."""
    client = governed('[tools]\nmode = "report"\ndeny = ["google_search"]\n')
    generate(
        client,
        "sync",
        "gemini-2.5-flash",
        "hi",
        types.GenerateContentConfig(tools=[types.Tool(google_search=types.GoogleSearch())]),
    )
    assert _sent(emulator).body["tools"] == [{"googleSearch": {}}]
    assert [(d["action"], d["enforced"]) for d in _decisions(audit, "tools")] == [("deny", False)]


@pytest.mark.parametrize("mode", MODES)
def test_pii_redacts_every_text(governed: Governed, emulator: Any, audit: Any, mode: str) -> None:
    """Contents, system instruction and function responses are redacted; values never logged."""
    client = governed('[pii]\naction = "redact"\n')
    contents = [
        types.Content(role="user", parts=[types.Part(text="mail jane.doe@example.com")]),
        types.Content(
            role="model",
            parts=[
                types.Part(
                    function_call=types.FunctionCall(
                        name="lookup", args={"card": "4111 1111 1111 1111"}
                    )
                )
            ],
        ),
        types.Content(
            role="user",
            parts=[
                types.Part(
                    function_response=types.FunctionResponse(
                        name="lookup",
                        response={"result": '{"iban": "DE89 3704 0044 0532 0130 00"}'},
                    )
                )
            ],
        ),
    ]
    config = types.GenerateContentConfig(system_instruction="Key AKIAZ7QPLM3X4WBN2KTR")
    generate(client, mode, "gemini-2.5-flash", contents, config)
    raw = _sent(emulator).raw_body.decode()
    for secret in ("jane.doe@example.com", "4111 1111 1111 1111", "DE89 3704", "AKIAZ7QPLM3X4"):
        assert secret not in raw
    for kind in ("email", "credit_card", "iban", "secret"):
        assert f"[REDACTED:{kind}]" in raw
    (decision,) = _decisions(audit, "pii")
    assert decision["action"] == "redact"
    assert decision["enforced"] is True
    assert "jane" not in decision["reason"]


def test_pii_deny(governed: Governed, emulator: Any) -> None:
    """With action = "deny" a request carrying personal data is refused, naming the kind."""
    client = governed('[pii]\naction = "deny"\ndetect = ["us_ssn"]\n')
    with pytest.raises(golden_path.PolicyViolation, match="us_ssn"):
        generate(client, "sync", "gemini-2.5-flash", "my ssn is 123-45-6789")
    assert emulator.requests == []


def test_pii_report_mode(governed: Governed, emulator: Any, audit: Any) -> None:
    """action = "report" sends the text unchanged and records the finding, not enforced."""
    client = governed('[pii]\naction = "report"\n')
    generate(client, "sync", "gemini-2.5-flash", "call +44 20 7946 0958")
    assert "+44 20 7946 0958" in _sent(emulator).raw_body.decode()
    assert [(d["action"], d["enforced"]) for d in _decisions(audit, "pii")] == [("redact", False)]


def test_pii_leaves_ordinary_numbers_alone(governed: Governed, emulator: Any, audit: Any) -> None:
    """Order numbers, dates and versions are not phones or cards: nothing is redacted."""
    client = governed("[pii]\n")
    text = "Order 1234567890123456 shipped 2024-03-14, build 10.0.19041.1, v2.5.1"
    generate(client, "sync", "gemini-2.5-flash", text)
    assert text in _sent(emulator).raw_body.decode()
    assert _decisions(audit, "pii") == []


def test_limits_max_request_bytes(governed: Governed, emulator: Any) -> None:
    """A body over max_request_bytes is refused before the network."""
    client = governed("[limits]\nmax_request_bytes = 1000\n")
    with pytest.raises(golden_path.PolicyViolation, match="limit is 1000"):
        generate(client, "sync", "gemini-2.5-flash", "x" * 2000)
    generate(client, "sync", "gemini-2.5-flash", "small")
    assert len(emulator.api_requests()) == 1


def test_limits_report_mode(governed: Governed, emulator: Any, audit: Any) -> None:
    """Report mode lets an oversized body through and records the deny as not enforced."""
    client = governed('[limits]\nmode = "report"\nmax_request_bytes = 1000\n')
    generate(client, "stream", "gemini-2.5-flash", "x" * 2000)
    assert len(emulator.api_requests()) == 1
    assert [(d["action"], d["enforced"]) for d in _decisions(audit, "limits")] == [("deny", False)]


@pytest.mark.parametrize("mode", MODES)
def test_vertex_labels_and_residency(
    vertex_governed: Governed, emulator: Any, audit: Any, mode: str
) -> None:
    """On Vertex, labels from the identity are added; an allowed location passes."""
    client = vertex_governed(
        '[vertex]\nlocations = ["europe-west4"]\n[labels]\nteam = "{team}"\napp = "{app}"\n'
    )
    generate(client, mode, "gemini-2.5-flash", "hi")
    sent = _sent(emulator)
    assert "/locations/europe-west4/" in sent.path
    assert sent.body["labels"] == {"team": "ml-platform", "app": "chat-bot"}


@pytest.mark.parametrize("mode", MODES)
def test_vertex_location_denied(vertex_governed: Governed, emulator: Any, mode: str) -> None:
    """A client in a location outside [vertex].locations is refused before the network."""
    client = vertex_governed('[vertex]\nlocations = ["europe-west4"]\n', location="us-central1")
    with pytest.raises(golden_path.PolicyViolation, match="us-central1"):
        generate(client, mode, "gemini-2.5-flash", "hi")
    assert emulator.api_requests() == []


def test_vertex_report_mode(vertex_governed: Governed, emulator: Any, audit: Any) -> None:
    """Report mode sends the request from a disallowed location and records the deny."""
    client = vertex_governed(
        '[vertex]\nmode = "report"\nlocations = ["eu"]\n'
        '[labels]\nmode = "report"\nteam = "{team}"\n'
    )
    generate(client, "sync", "gemini-2.5-flash", "hi")
    assert "labels" not in _sent(emulator).body
    assert [(d["policy"], d["action"], d["enforced"]) for d in audit.only().policy] == [
        ("vertex", "deny", False),
        ("labels", "label", False),
    ]


def test_labels_not_sent_to_ai_studio(governed: Governed, emulator: Any) -> None:
    """AI Studio rejects labels, so the labels policy leaves its requests alone."""
    client = governed('[labels]\nteam = "{team}"\n', team="ml")
    generate(client, "sync", "gemini-2.5-flash", "hi")
    assert "labels" not in _sent(emulator).body


def test_full_policy_file_on_a_normal_request(
    governed: Governed, emulator: Any, audit: Any
) -> None:
    """With every built-in on, an ordinary request goes through with its decisions audited."""
    from tests.policies.conftest import FULL_POLICY

    client = governed(FULL_POLICY)
    assert generate(client, "sync", "fast", "hello there")
    sent = _sent(emulator)
    assert "/models/gemini-2.5-flash:" in sent.path
    assert sent.body["generationConfig"]["maxOutputTokens"] == 8192
    assert {d["policy"] for d in audit.only().policy} == {"models", "generation", "safety"}
