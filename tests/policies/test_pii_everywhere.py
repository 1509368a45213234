"""[pii] over the emulator with the real SDK: every place a request carries text, and responses."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from typing import Any

import pytest
from google.genai import types

import golden_path
from tests.policies._calls import MODES, generate

MODEL = "gemini-2.5-flash"
# One distinct value per place, so each assertion names the place that leaked.
CARD = "4111 1111 1111 1111"
AMEX = "3782 822463 10005"
EMAIL = "jane.doe@example.com"
IBAN = "de89 3704 0044 0532 0130 00"
PHONE = "+44 20 7946 0958"
SSN = "123-45-6789"
KEY = "AIzaSyXq81vLmZ0pRt5sWc9YbN2kJ4hGdFqwPzL"
GH = "ghp_Xq81vLmZ0pRt5sWc9YbN2kJ4hGdFqwPzLx7T"
STRIPE = "sk_live_Xq81vLmZ0pRt5sWc9YbN2kJ4"
JWT_LIKE = "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"
FULLWIDTH = "jane\uff20example.org"


def text_response(text: str, *, finish: bool = True) -> dict[str, Any]:
    """A GenerateContentResponse (one stream event) carrying ``text``."""
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}}
    if finish:
        candidate["finishReason"] = "STOP"
    return {"candidates": [candidate]}


def oai_chunk(text: str, finish: str | None = None) -> dict[str, Any]:
    """A chat.completion.chunk carrying ``text``."""
    choice = {"index": 0, "delta": {"content": text}, "finish_reason": finish}
    return {"id": "c", "object": "chat.completion.chunk", "model": MODEL, "choices": [choice]}


@pytest.fixture(name="make_openai")
def _make_openai(emulator: Any, audit: Any, policy_file: Any) -> Any:
    """An OpenAI client on the emulator governed by the given policy text."""

    def make(text: str) -> Any:
        return golden_path.openai_client(
            backend="ai_studio",
            api_key="test-key",
            base_url=emulator.url,
            retry_attempts=1,
            policy_file=str(policy_file(text)),
            audit_sinks=[audit],
        )

    return make


def _raw(emulator: Any) -> str:
    (request,) = emulator.api_requests()
    return request.raw_body.decode()


def _last_body(emulator: Any) -> str:
    return emulator.requests[-1].raw_body.decode("utf-8", "replace")


def _decision(audit: Any) -> dict[str, Any]:
    found = [d for e in audit.events for d in e.policy if d["policy"] == "pii"]
    assert found, "no pii decision recorded"
    return found[0]


@pytest.mark.parametrize("mode", MODES)
def test_every_part_of_a_generate_request(
    governed: Any, emulator: Any, audit: Any, mode: str
) -> None:
    """Text, call args (keys too), response keys and values, inline text, system, tools, schema."""
    client = governed("[pii]\n")
    contents = [
        types.Content(role="user", parts=[types.Part(text=f"card {CARD}")]),
        types.Content(
            role="model",
            parts=[
                types.Part(
                    function_call=types.FunctionCall(
                        name="lookup", args={"customer": EMAIL, PHONE: "by phone"}
                    )
                )
            ],
        ),
        types.Content(
            role="user",
            parts=[
                types.Part(
                    function_response=types.FunctionResponse(
                        name="lookup", response={"result": {"iban": IBAN}, SSN: "ssn as key"}
                    )
                ),
                types.Part.from_bytes(data=f"notes: {STRIPE}".encode(), mime_type="text/plain"),
            ],
        ),
    ]
    tool = types.Tool(
        function_declarations=[
            types.FunctionDeclaration(
                name="lookup",
                description=f"Looks up a customer; escalate to {FULLWIDTH}",
                parameters=types.Schema(
                    type=types.Type.OBJECT,
                    properties={
                        "customer": types.Schema(type=types.Type.STRING, description=f"e.g. {AMEX}")
                    },
                ),
            )
        ]
    )
    config = types.GenerateContentConfig(
        system_instruction=f"Use key {KEY}",
        tools=[tool],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    generate(client, mode, MODEL, contents, config)
    raw = _raw(emulator)
    body = json.loads(raw)
    inline = body["contents"][2]["parts"][1]["inlineData"]["data"]
    assert base64.b64decode(inline).decode() == "notes: [REDACTED:secret]"
    for value in (CARD, EMAIL, PHONE, IBAN, SSN, KEY, AMEX, FULLWIDTH, "GdFqwPzL"):
        assert value not in raw, value
    assert "\\uff20" not in raw
    for kind in ("credit_card", "email", "phone", "iban", "us_ssn", "secret"):
        assert f"[REDACTED:{kind}]" in raw, kind
    decision = _decision(audit)
    assert decision["action"] == "redact"
    assert "jane" not in decision["reason"]


def test_inline_text_whose_base64_shows_nothing(governed: Any, emulator: Any, audit: Any) -> None:
    """Personal data only inside inline text data is found, though its base64 has no sign of it.

    The policy first tests every string of a body at once and skips the walk when none could
    hold a finding; base64 of ``jane@example.com`` has no "@" and no digit, so that test alone
    would pass it: inline data must always be decoded and scanned.
    """
    data = b"jane@example.com"
    assert not any(c in base64.b64encode(data) for c in b"@0123456789")
    client = governed("[pii]\n")
    part = types.Part.from_bytes(data=data, mime_type="text/plain")
    client.models.generate_content(
        model=MODEL, contents=[types.Content(role="user", parts=[types.Part(text="hi"), part])]
    )
    inline = json.loads(_raw(emulator))["contents"][0]["parts"][1]["inlineData"]["data"]
    assert base64.b64decode(inline).decode() == "[REDACTED:email]"
    assert _decision(audit)["action"] == "redact"


def test_response_schema_and_labels_on_vertex(vertex_governed: Any, emulator: Any) -> None:
    """Schema descriptions and label values (a Vertex field) are scanned too."""
    client = vertex_governed("[pii]\n")
    config = types.GenerateContentConfig(
        labels={"owner": "jane.doe-example", "contact": EMAIL.replace("@", "-at-")},
        response_mime_type="application/json",
        response_schema=types.Schema(type=types.Type.STRING, description=f"like {GH}"),
        system_instruction=f"reach {PHONE}",
    )
    client.models.generate_content(model=MODEL, contents="hi", config=config)
    raw = _raw(emulator)
    assert GH not in raw
    assert PHONE not in raw
    assert "jane.doe-example" in raw  # not personal data by any rule: left alone


def test_labels_with_personal_data(vertex_governed: Any, emulator: Any) -> None:
    """A label value that is an e-mail is redacted (labels are not exempt)."""
    client = vertex_governed("[pii]\n")
    config = types.GenerateContentConfig(labels={"requester": EMAIL})
    client.models.generate_content(model=MODEL, contents="hi", config=config)
    assert json.loads(_raw(emulator))["labels"] == {"requester": "[REDACTED:email]"}


def test_count_tokens_and_embeddings(governed: Any, emulator: Any) -> None:
    """countTokens and embedContent bodies carry text too."""
    client = governed("[pii]\n")
    client.models.count_tokens(model=MODEL, contents=f"my ssn {SSN}")
    client.models.embed_content(model="gemini-embedding-001", contents=[f"mail {EMAIL}", CARD])
    raws = [r.raw_body.decode() for r in emulator.api_requests()]
    assert all(SSN not in r and EMAIL not in r and CARD not in r for r in raws)


def test_caches_batches_and_interactions(governed: Any, emulator: Any) -> None:
    """Cached contents, display names, batch inline requests and Interactions input."""
    client = governed("[pii]\n")
    client.caches.create(
        model=MODEL,
        config=types.CreateCachedContentConfig(
            display_name=f"cache for {EMAIL}",
            system_instruction=f"key {KEY}",
            contents=[types.Content(role="user", parts=[types.Part(text=f"card {CARD}")])],
        ),
    )
    sent = _last_body(emulator)
    for value in (EMAIL, KEY, CARD):
        assert value not in sent, value
    client.batches.create(
        model=MODEL,
        src=[{"contents": [{"role": "user", "parts": [{"text": f"iban {IBAN}"}]}]}],
        config={"display_name": f"batch {PHONE}"},
    )
    sent = _last_body(emulator)
    assert "[REDACTED:iban]" in sent
    assert IBAN not in sent
    assert PHONE not in sent
    client.interactions.create(model=MODEL, input=f"my card is {AMEX}")
    sent = _last_body(emulator)
    assert "[REDACTED:credit_card]" in sent
    assert AMEX not in sent


@pytest.mark.parametrize("mime", ["text/plain", "application/jsonl"])
def test_uploaded_text_files(governed: Any, emulator: Any, mime: str) -> None:
    """Uploaded text and JSONL (batch input) is masked in place with same-length marks."""
    client = governed("[pii]\n")
    line = {"request": {"contents": [{"parts": [{"text": f"mail {EMAIL}, card {AMEX}"}]}]}}
    data = (json.dumps(line) + "\n").encode() * 3
    client.files.upload(file=io.BytesIO(data), config={"mime_type": mime})
    (chunk,) = [
        r
        for r in emulator.api_requests()
        if r.headers.get("x-goog-upload-command", "").startswith("upload")
    ]
    assert len(chunk.raw_body) == len(data)  # the size the upload declared still holds
    text = chunk.raw_body.decode()
    assert EMAIL not in text
    assert AMEX not in text
    for row in text.splitlines():
        assert json.loads(row)["request"]["contents"][0]["parts"][0]["text"].startswith(
            "mail [REDACTED:email]"
        )


def test_binary_upload_passes_untouched(governed: Any, emulator: Any) -> None:
    """Bytes that are not UTF-8 text (a PDF, an image) are not this policy's to change."""
    client = governed("[pii]\n")
    data = b"%PDF-1.7\xff\xfe jane.doe@example.com"
    client.files.upload(file=io.BytesIO(data), config={"mime_type": "application/pdf"})
    uploads = [r.raw_body for r in emulator.api_requests() if r.path.startswith("/upload/")]
    assert data in uploads


def test_openai_compatible_fields(make_openai: Any, emulator: Any) -> None:
    """Messages (string and parts), names, tool call arguments, tool descriptions, user."""
    oai = make_openai("[pii]\n")
    oai.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": f"key {KEY}"},
            {"role": "user", "name": "jane", "content": [{"type": "text", "text": f"ssn {SSN}"}]},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "f", "arguments": json.dumps({"to": EMAIL})},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": f"iban {IBAN}"},
        ],
        tools=[
            {
                "type": "function",
                "function": {"name": "f", "description": f"call {PHONE}", "parameters": {}},
            }
        ],
        user=f"user-{CARD}",
    )
    raw = _raw(emulator)
    for value in (KEY, SSN, EMAIL, IBAN, PHONE, CARD):
        assert value not in raw, value


def test_deny_names_kinds_not_values(governed: Any, emulator: Any) -> None:
    """action = "deny" refuses before sending and says what kinds were found."""
    import golden_path

    client = governed('[pii]\naction = "deny"\n')
    with pytest.raises(golden_path.PolicyViolation) as caught:
        client.models.generate_content(model=MODEL, contents=f"{EMAIL} {CARD}")
    assert "1 credit_card, 1 email" in caught.value.reason
    assert EMAIL not in str(caught.value)
    assert emulator.api_requests() == []


def test_clean_request_is_sent_byte_for_byte(governed: Any, emulator: Any, audit: Any) -> None:
    """Nothing found: the SDK's own bytes go out unchanged, no decision recorded."""
    client = governed("[pii]\n")
    client.models.generate_content(model=MODEL, contents="Summarise order 20240115-0001 ✓")
    raw = _raw(emulator)
    assert "20240115-0001 \\u2713" in raw  # the SDK's own escaping: not serialised again
    assert not [d for e in audit.events for d in e.policy if d["policy"] == "pii"]


# ------------------------------------------------------------------------------- responses


@pytest.mark.parametrize("mode", MODES)
def test_responses_redacted(governed: Any, emulator: Any, audit: Any, mode: str) -> None:
    """responses = "redact": model output is redacted whole or streamed."""
    client = governed('[pii]\nresponses = "redact"\n')
    answer = f"Sure: card {CARD}, mail {EMAIL}, key {KEY}."
    emulator.script_response(text_response(answer))
    text = generate(client, mode, MODEL, "hello")
    assert (
        text == "Sure: card [REDACTED:credit_card], mail [REDACTED:email], key [REDACTED:secret]."
    )
    reasons = [d["reason"] for e in audit.events for d in e.policy if d["policy"] == "pii"]
    assert reasons == ["found 1 credit_card, 1 email, 1 secret in the response"]


def test_stream_split_across_chunks_is_caught(governed: Any, emulator: Any) -> None:
    """A value split over two (or many) stream events is still redacted, nothing else lost."""
    client = governed('[pii]\nresponses = "redact"\n')
    answer = f"Your card {CARD} is on file; write to {EMAIL} or call {PHONE}. Thanks!"
    pieces = [answer[i : i + 3] for i in range(0, len(answer), 3)]
    events = [text_response(p, finish=False) for p in pieces[:-1]] + [text_response(pieces[-1])]
    emulator.script_response(events)
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="hi"))
    text = "".join(c.text or "" for c in chunks)
    assert text == (
        "Your card [REDACTED:credit_card] is on file; write to [REDACTED:email] or call "
        "[REDACTED:phone]. Thanks!"
    )
    assert len(chunks) > 3  # passed on as it came, not buffered to the end


def test_stream_without_a_finish_event_loses_nothing(governed: Any, emulator: Any) -> None:
    """Held-back text of a stream that never says it finished is sent at its end."""
    client = governed('[pii]\nresponses = "redact"\n')
    events = [
        text_response("call me at ", finish=False),
        text_response("415-555-0132 tomorrow", finish=False),
    ]
    emulator.script_response(events)
    text = "".join(
        c.text or "" for c in client.models.generate_content_stream(model=MODEL, contents="hi")
    )
    assert text == "call me at [REDACTED:phone] tomorrow"


def test_async_stream_is_redacted(governed: Any, emulator: Any) -> None:
    """The async stream goes through the same redactor."""
    client = governed('[pii]\nresponses = "redact"\n')
    emulator.script_response([text_response("ssn 123-", finish=False), text_response("45-6789 ok")])

    async def run() -> str:
        stream = await client.aio.models.generate_content_stream(model=MODEL, contents="hi")
        return "".join([c.text or "" async for c in stream])

    assert asyncio.run(run()) == "ssn [REDACTED:us_ssn] ok"


def test_response_report_mode_changes_nothing(governed: Any, emulator: Any, audit: Any) -> None:
    """responses = "report": the answer arrives as sent; the finding is recorded, not enforced."""
    client = governed('[pii]\nresponses = "report"\n')
    emulator.script_response(
        [text_response(f"mail {EMAIL[:6]}", finish=False), text_response(EMAIL[6:])]
    )
    text = "".join(
        c.text or "" for c in client.models.generate_content_stream(model=MODEL, contents="hi")
    )
    assert text == f"mail {EMAIL}"
    decision = _decision(audit)
    assert decision == {
        "policy": "pii",
        "action": "redact",
        "reason": "found 1 email in the response",
        "enforced": False,
    }


def test_responses_off_by_default(governed: Any, emulator: Any) -> None:
    """Without responses = ..., model output is not touched."""
    client = governed("[pii]\n")
    emulator.script_response(text_response(f"mail {EMAIL}"))
    assert client.models.generate_content(model=MODEL, contents="hi").text == f"mail {EMAIL}"


def test_function_call_in_a_response(governed: Any, emulator: Any) -> None:
    """Function-call arguments the model returns are redacted too."""
    client = governed('[pii]\nresponses = "redact"\n')
    emulator.script_response(
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [{"functionCall": {"name": "send", "args": {"to": EMAIL}}}],
                    },
                    "finishReason": "STOP",
                }
            ]
        }
    )
    response = client.models.generate_content(
        model=MODEL,
        contents="hi",
        config=types.GenerateContentConfig(
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)
        ),
    )
    assert response.function_calls is not None
    assert response.function_calls[0].args == {"to": "[REDACTED:email]"}


def test_openai_stream_redacted(make_openai: Any, emulator: Any) -> None:
    """OpenAI-compatible streams are redacted chunk by chunk, [DONE] still ends them."""
    oai = make_openai('[pii]\nresponses = "redact"\n')
    emulator.script_response(
        [oai_chunk("card 4111 1111 "), oai_chunk("1111 1111."), oai_chunk("", finish="stop")]
    )
    stream = oai.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "card [REDACTED:credit_card]."


def test_route_table_content_fields_are_walked() -> None:
    """No field the route table names as user content is one the walk skips."""
    from golden_path._routes import ROUTES
    from golden_path.policies._pii_policy import _BINARY, _REFERENCES

    skipped = _BINARY | _REFERENCES
    named = {
        segment.removesuffix("[]")
        for route in ROUTES
        for path in route.content
        for segment in path.split(".")
    }
    assert named
    assert not named & skipped


def test_interactions_stream_deltas_held_back() -> None:
    """Interactions step.delta text split mid-value is redacted; held text precedes step.stop."""
    import httpx2

    from golden_path._model import INSERT_EVENTS, GenAIRequest, Identity
    from golden_path.policies._pii_policy import PiiPolicy

    policy = PiiPolicy(responses="redact")
    request = GenAIRequest(
        request_id="r",
        identity=Identity(None, None, "c", "ai_studio", None, None),
        method="POST",
        url=httpx2.URL("https://x/v1beta/interactions"),
        headers=httpx2.Headers(),
        raw=b"{}",
        surface="genai",
        api_method="interactions.create",
        model=MODEL,
        stream=True,
    )
    pieces = ["mail jane.d", "oe@example.", "com now"]
    sent: list[str] = []
    for piece in pieces:
        event = {"event_type": "step.delta", "index": 0, "delta": {"type": "text", "text": piece}}
        policy.on_chunk(request, event)
        sent.append(event["delta"]["text"])
    stop = {"event_type": "step.stop", "index": 0}
    policy.on_chunk(request, stop)
    sent += [e["delta"]["text"] for e in request.state.pop(INSERT_EVENTS)]
    assert "".join(sent) == "mail [REDACTED:email] now"
    completed = {
        "event_type": "interaction.completed",
        "interaction": {"outputs": [{"text": EMAIL}]},
    }
    policy.on_chunk(request, completed)
    assert completed["interaction"]["outputs"][0]["text"] == "[REDACTED:email]"


def test_interactions_stream_still_parses_when_rewritten(governed: Any) -> None:
    """With responses = "redact", an Interactions stream is re-sent and the SDK reads it whole."""
    client = governed('[pii]\nresponses = "redact"\n')
    events = list(client.interactions.create(model=MODEL, input="hello there", stream=True))
    kinds = [e.event_type for e in events]
    assert kinds[0] == "interaction.created"
    assert kinds[-1] == "interaction.completed"
    assert "step.delta" in kinds
