"""The Interactions API (``client.interactions``): create (plain or streamed), get, cancel, delete.

Answers follow the same deterministic rules as ``generateContent``: the model output step echoes
the last user text. ``previous_interaction_id`` must name a stored interaction; ``agent`` is
accepted as the name of an agent (the emulator treats it like a model). Streams send
``interaction.created``, ``step.start``, ``step.delta`` (text in three pieces), ``step.stop`` and
``interaction.completed`` server-sent events.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from typing import Any

from golden_path.emulator import _answers, _catalogue
from golden_path.emulator._clock import rfc3339
from golden_path.emulator._http import (
    SSE_TYPE,
    Incoming,
    Reply,
    google_error,
    json_reply,
    sse_event,
)
from golden_path.emulator._resources import Route, Store, Where, _bad, _body, _public, _r

_GV = frozenset({"gemini", "vertex"})


def _input_text(value: Any) -> str:
    """The user's text in any of the input spellings (string, content list, steps, turns)."""
    if isinstance(value, str):
        return value
    texts: list[str] = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, dict):
            if isinstance(item.get("text"), str):
                texts.append(item["text"])
            for key in ("content", "parts"):
                inner = item.get(key)
                if inner is not None:
                    texts.append(_input_text(inner))
    return " ".join(t for t in texts if t)


def _create(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    body = _body(incoming)
    model = body.get("model")
    agent = body.get("agent")
    if not isinstance(model, str) and not isinstance(agent, str):
        return _bad("One of model or agent must be set.")
    if isinstance(model, str) and not _catalogue.is_served(model.rsplit("/", 1)[-1]):
        return google_error(404, f"Model {model} is not found.")
    if "input" not in body:
        return _bad("input is required.")
    previous = body.get("previous_interaction_id")
    if previous is not None:
        with store.lock:
            known = previous in store.interactions
        if not known:
            return google_error(404, f"Interaction {previous} not found.")
    text = _answers.echo(_input_text(body.get("input")))
    now = store.clock.now()
    prompt_tokens = _answers.estimate_tokens(_input_text(body.get("input")))
    output_tokens = _answers.estimate_tokens(text)
    interaction: dict[str, Any] = {
        "id": f"v1_{secrets.token_urlsafe(18)}",
        "status": "completed",
        "created": rfc3339(now),
        "updated": rfc3339(now),
        "steps": [
            {
                "type": "user_input",
                "content": [{"type": "text", "text": _input_text(body["input"])}],
            },
            {"type": "model_output", "content": [{"type": "text", "text": text}]},
        ],
        "usage": {
            "total_input_tokens": prompt_tokens,
            "total_output_tokens": output_tokens,
            "total_tokens": prompt_tokens + output_tokens,
        },
    }
    for key in ("model", "agent", "previous_interaction_id", "system_instruction", "tools"):
        if key in body:
            interaction[key] = body[key]
    if body.get("store", True) is not False:
        with store.lock:
            store.interactions[interaction["id"]] = interaction
    if body.get("stream") is True:
        return _stream(interaction, text)
    return json_reply(interaction)


def _stream(interaction: dict[str, Any], text: str) -> Reply:
    def events() -> Iterator[bytes]:
        started = {**interaction, "status": "in_progress", "steps": [], "usage": None}
        yield _event({"event_type": "interaction.created", "interaction": _public(started)})
        yield _event(
            {"event_type": "step.start", "index": 0,
             "step": {"type": "model_output", "content": []}}
        )  # fmt: skip
        for piece in _answers.split_text(text):
            yield _event({"event_type": "step.delta", "index": 0,
                          "delta": {"type": "text", "text": piece}})  # fmt: skip
        yield _event({"event_type": "step.stop", "index": 0})
        yield _event({"event_type": "interaction.completed", "interaction": interaction})

    return Reply(content_type=SSE_TYPE, stream=events(), headers=(("cache-control", "no-cache"),))


def _event(payload: dict[str, Any]) -> bytes:
    return sse_event(json.dumps({k: v for k, v in payload.items() if v is not None}))


def _get(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    with store.lock:
        found = store.interactions.get(m["id"])
    if found is None:
        return google_error(404, f"Interaction {m['id']} not found.")
    return json_reply(found)


def _delete(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    with store.lock:
        found = store.interactions.pop(m["id"], None)
    if found is None:
        return google_error(404, f"Interaction {m['id']} not found.")
    return json_reply({})


def _cancel(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    with store.lock:
        found = store.interactions.get(m["id"])
    if found is None:
        return google_error(404, f"Interaction {m['id']} not found.")
    if found["status"] in ("in_progress", "queued"):
        found["status"] = "cancelled"
    return json_reply(found)


def _auth_token(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    with store.lock:
        known = m["id"] in store.interactions
    if not known:
        return google_error(404, f"Interaction {m['id']} not found.")
    expires = store.clock.now() + 30 * 60
    return json_reply(
        {"auth_token": f"auth_tokens/{secrets.token_urlsafe(24)}", "expires_at": rfc3339(expires)}
    )


_ID = r"(?P<id>[A-Za-z0-9_.-]+)"
ROUTES: list[Route] = [
    _r("POST", "interactions", _create, _GV),
    _r("GET", f"interactions/{_ID}", _get, _GV),
    _r("DELETE", f"interactions/{_ID}", _delete, _GV),
    _r("POST", f"interactions/{_ID}/cancel", _cancel, _GV),
    _r("POST", f"interactions/{_ID}/auth_tokens", _auth_token, _GV),
]
