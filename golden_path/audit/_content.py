"""Prompt and response text for the audit event, after PII redaction (opt-in).

Only with ``GOLDEN_PATH_AUDIT_CONTENT=redacted``. Text is redacted *before* it is cut to size,
so a cut never leaves the first half of a key behind. Non-text parts (images, files, function
calls) are named by kind only: a file URI or a function argument can carry anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from golden_path._model import GenAIRequest, GenAIResponse
from golden_path._pii import Scanner, default_scanner

__all__ = ["MAX_MESSAGES", "MAX_TEXT", "redacted_content"]

MAX_TEXT = 2000
"""Characters kept of each text (the system instruction, each message, the response)."""
MAX_MESSAGES = 16
"""Messages kept of a conversation: the most recent ones, which say what was asked."""

_PART_KINDS = (
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
    "inline_data",
    "file_data",
    "function_call",
    "function_response",
)


def redacted_content(
    request: GenAIRequest,
    response: GenAIResponse | None,
    events: Sequence[Any] | None = None,
    *,
    scanner: Scanner | None = None,
) -> dict[str, Any] | None:
    """The ``content`` of an audit event: redacted, capped texts, or None when there is none.

    ``scanner`` is the ``[pii]`` policy's detector (its engines too), else the built-in one.

    ``events`` are the parsed events of a streamed response, whose text is joined.
    """
    counts: dict[str, int] = {}
    state = {"truncated": False}
    own = _credentials(request)

    def clean(text: str) -> str:
        for secret in own:
            if secret in text:
                counts["secret"] = counts.get("secret", 0) + text.count(secret)
                text = text.replace(secret, "[REDACTED:secret]")
        redacted, findings = (scanner or default_scanner()).redact(text)
        for finding in findings:
            counts[finding.kind] = counts.get(finding.kind, 0) + 1
        if len(redacted) > MAX_TEXT:
            state["truncated"] = True
            return redacted[:MAX_TEXT] + "…"
        return redacted

    body = request.body
    content: dict[str, Any] = {}
    system = _system_text(body)
    if system:
        content["system"] = clean(system)
    messages = _messages(body)
    if len(messages) > MAX_MESSAGES:
        state["truncated"] = True
        content["messages_omitted"] = len(messages) - MAX_MESSAGES
        messages = messages[-MAX_MESSAGES:]
    if messages:
        content["messages"] = [{"role": role, "text": clean(text)} for role, text in messages]
    answer = _response_text(response, events)
    if answer:
        content["response"] = clean(answer)
    if not content:
        return None
    if counts:
        content["redactions"] = counts
    if state["truncated"]:
        content["truncated"] = True
    return content


# ------------------------------------------------------------------------------ requests


def _credentials(request: GenAIRequest) -> list[str]:
    """The key or token this very request carries, to remove verbatim whatever its shape.

    A pattern only knows the shapes it was written for.
    """
    found = []
    key = request.headers.get("x-goog-api-key")
    if key:
        found.append(key)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        found.append(token)
    # Too short to be a credential; replacing it would shred ordinary words.
    return [secret for secret in found if len(secret) >= 8]


def _system_text(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    system = body.get("systemInstruction") or body.get("system_instruction")
    if isinstance(system, str):
        return system
    if isinstance(system, dict):
        return _parts_text(system.get("parts"))
    return ""


def _messages(body: Any) -> list[tuple[str, str]]:
    """(role, text) pairs from a Gemini, Vertex or OpenAI-compatible request body."""
    if not isinstance(body, dict):
        return []
    if isinstance(body.get("generateContentRequest"), dict):  # countTokens
        body = body["generateContentRequest"]
    if "contents" in body:
        out = _gemini_messages(body["contents"])
    elif isinstance(body.get("content"), dict):  # embedContent
        out = [("user", _parts_text(body["content"].get("parts")))]
    elif isinstance(body.get("requests"), list):  # batchEmbedContents
        out = [
            ("user", _parts_text(item["content"].get("parts")))
            for item in body["requests"]
            if isinstance(item, dict) and isinstance(item.get("content"), dict)
        ]
    elif isinstance(body.get("messages"), list):  # OpenAI chat
        out = [
            (str(m.get("role") or "user"), _openai_text(m.get("content")))
            for m in body["messages"]
            if isinstance(m, dict)
        ]
    elif "input" in body:  # OpenAI embeddings
        items = body["input"]
        out = [
            ("user", item)
            for item in (items if isinstance(items, list) else [items])
            if isinstance(item, str)
        ]
    else:
        out = []
    return [(role, text) for role, text in out if text]


def _gemini_messages(contents: Any) -> list[tuple[str, str]]:
    out = []
    for item in contents if isinstance(contents, list) else [contents]:
        if isinstance(item, dict):
            out.append((str(item.get("role") or "user"), _parts_text(item.get("parts"))))
        elif isinstance(item, str):
            out.append(("user", item))
    return out


def _parts_text(parts: Any) -> str:
    if isinstance(parts, dict):
        parts = [parts]
    if not isinstance(parts, list):
        return ""
    pieces = []
    for part in parts:
        if not isinstance(part, dict):
            continue
        if part.get("thought") is True:
            continue  # the model's thinking is not what it answered
        text = part.get("text")
        if isinstance(text, str):
            pieces.append(text)
            continue
        kind = next((k for k in _PART_KINDS if k in part), None)
        if kind is not None:
            pieces.append(f"[{kind}]")
    return "".join(pieces)


def _openai_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        pieces = []
        for part in content:
            if isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    pieces.append(part["text"])
                elif isinstance(part.get("type"), str):
                    pieces.append(f"[{part['type']}]")
        return "".join(pieces)
    return ""


# ----------------------------------------------------------------------------- responses


def _response_text(response: GenAIResponse | None, events: Sequence[Any] | None) -> str:
    if response is None or response.status_code >= 400:
        return ""
    if response.stream:
        return "".join(_event_text(event) for event in events or ())
    return _event_text(response.body)


def _event_text(body: Any) -> str:
    """The first candidate's (or choice's) text in one body or stream event."""
    if not isinstance(body, dict):
        return ""
    candidates = body.get("candidates")
    if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict):
        content = candidates[0].get("content")
        return _parts_text(content.get("parts")) if isinstance(content, dict) else ""
    choices = body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        choice = choices[0]
        for key in ("message", "delta"):
            message = choice.get(key)
            if isinstance(message, dict):
                return _openai_text(message.get("content"))
        if isinstance(choice.get("text"), str):
            return str(choice["text"])
    return ""
