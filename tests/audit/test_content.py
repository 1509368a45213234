"""GOLDEN_PATH_AUDIT_CONTENT=redacted: prompt and answer texts, redacted, capped; off by default."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
from google.genai import types

from golden_path.audit._content import MAX_MESSAGES, MAX_TEXT, redacted_content
from golden_path.policies import GenAIRequest, GenAIResponse, Identity
from tests.conftest import AuditCapture

MODEL = "gemini-2.5-flash"
# The shape of a real Google API key (AIza + 35 characters), made up.
REAL_SHAPED_KEY = "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"


def test_no_content_by_default(make_client: Callable[..., Any], audit: AuditCapture) -> None:
    """Without the setting, no prompt or answer text reaches the event."""
    make_client().models.generate_content(model=MODEL, contents="my secret plan")
    event = audit.only()
    assert event.content is None
    assert "secret plan" not in json.dumps(event.as_dict())


def test_redacted_prompt_system_and_answer(
    make_client: Callable[..., Any], audit: AuditCapture
) -> None:
    """With redacted content, the system instruction, the prompt and the answer are kept, with
    personal data replaced and counted."""
    client = make_client(audit_content="redacted")
    client.models.generate_content(
        model=MODEL,
        contents="mail jane.doe@example.com or call +44 20 7946 0958",
        config=types.GenerateContentConfig(system_instruction="You are terse."),
    )
    content = audit.only().content
    assert content is not None
    assert content["system"] == "You are terse."
    assert content["messages"] == [
        {"role": "user", "text": "mail [REDACTED:email] or call [REDACTED:phone]"}
    ]
    assert content["response"].startswith("Echo: mail [REDACTED:email]")
    assert content["redactions"] == {"email": 2, "phone": 2}


def test_stream_answer_is_joined(make_client: Callable[..., Any], audit: AuditCapture) -> None:
    """A streamed answer is captured whole, joined from its chunks, once the stream ends."""
    prompt = "one two three four five six seven eight nine ten"
    chunks = list(
        make_client(audit_content="redacted").models.generate_content_stream(
            model=MODEL, contents=prompt
        )
    )
    assert len(chunks) > 1
    content = audit.only().content
    assert content is not None
    assert content["response"] == "".join(c.text or "" for c in chunks)


def test_secret_is_redacted_before_the_cut(
    make_client: Callable[..., Any], audit: AuditCapture
) -> None:
    """Text is redacted before being capped, so a key straddling the cap leaves no prefix."""
    prompt = "x" * (MAX_TEXT - 10) + REAL_SHAPED_KEY + " tail"
    make_client(audit_content="redacted").models.generate_content(model=MODEL, contents=prompt)
    content = audit.only().content
    assert content is not None
    text = content["messages"][0]["text"]
    assert "AIza" not in json.dumps(content)
    assert len(text) == MAX_TEXT + 1  # the cap, and the ellipsis that says so
    assert content["truncated"] is True
    assert content["redactions"]["secret"] >= 1


def test_long_conversations_keep_the_latest_messages(
    make_client: Callable[..., Any], audit: AuditCapture
) -> None:
    """Only the most recent messages are kept, and how many were left out is said."""
    contents = [
        types.Content(role="user" if n % 2 == 0 else "model", parts=[types.Part(text=f"turn {n}")])
        for n in range(25)
    ]
    make_client(audit_content="redacted").models.generate_content(model=MODEL, contents=contents)
    content = audit.only().content
    assert content is not None
    assert len(content["messages"]) == MAX_MESSAGES
    assert content["messages"][-1] == {"role": "user", "text": "turn 24"}
    assert content["messages_omitted"] == 25 - MAX_MESSAGES


def test_non_text_parts_are_named_not_copied(
    make_client: Callable[..., Any], audit: AuditCapture
) -> None:
    """An image part appears as its kind, never its bytes."""
    image = types.Part.from_bytes(data=b"\x89PNG fake image bytes", mime_type="image/png")
    make_client(audit_content="redacted").models.generate_content(
        model=MODEL,
        contents=[types.Content(role="user", parts=[types.Part(text="what is "), image])],
    )
    content = audit.only().content
    assert content is not None
    assert content["messages"][0]["text"] == "what is [inlineData]"


def _request(
    body: dict[str, Any],
    path: str = "/v1beta/openai/chat/completions",
    headers: dict[str, str] | None = None,
) -> GenAIRequest:
    raw = json.dumps(body).encode()
    identity = Identity(
        app=None, team=None, client_id="c", backend="ai_studio", project=None, location=None
    )
    return GenAIRequest(
        request_id="r",
        identity=identity,
        method="POST",
        url=httpx2.URL(f"http://x{path}"),
        headers=httpx2.Headers(headers or {}),
        raw=raw,
        surface="openai",
        api_method="chat.completions",
        model=MODEL,
        stream=False,
    )


def test_openai_shapes() -> None:
    """OpenAI-compatible chat requests and answers (whole or streamed) are captured too."""
    request = _request(
        {
            "model": MODEL,
            "messages": [
                {"role": "system", "content": "be brief"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "hi from bob@example.org"},
                        {"type": "image_url", "image_url": {"url": "data:..."}},
                    ],
                },
            ],
        }
    )
    answer = GenAIResponse(200, {}, body={"choices": [{"message": {"content": "hello"}}]})
    content = redacted_content(request, answer)
    assert content == {
        "messages": [
            {"role": "system", "text": "be brief"},
            {"role": "user", "text": "hi from [REDACTED:email][image_url]"},
        ],
        "response": "hello",
        "redactions": {"email": 1},
    }
    stream = GenAIResponse(200, {}, stream=True)
    events = [
        {"choices": [{"delta": {"content": "hel"}}]},
        {"choices": [{"delta": {"content": "lo"}}]},
        None,
    ]
    assert redacted_content(request, stream, events)["response"] == "hello"  # type: ignore[index]


def test_own_credential_is_removed_whatever_its_shape() -> None:
    """The key the request itself carries is scrubbed even when no pattern knows its shape."""
    request = _request(
        {"messages": [{"role": "user", "content": "key=odd-shaped-key-1234"}]},
        headers={"x-goog-api-key": "odd-shaped-key-1234"},
    )
    content = redacted_content(request, None)
    assert content == {
        "messages": [{"role": "user", "text": "key=[REDACTED:secret]"}],
        "redactions": {"secret": 1},
    }


def test_nothing_to_capture_is_none() -> None:
    """A request without text (a models.list GET) has no content at all."""
    request = _request({}, path="/v1/models")
    assert redacted_content(request, GenAIResponse(200, {}, body={"models": []})) is None
