"""The Interactions API (``client.interactions``) and its Live websocket (3.5.0+).

Create (plain or streamed), get, cancel, delete, auth tokens, and ``interactions/live``.

Answers follow the same deterministic rules as ``generateContent``: the model output step echoes
the last user text. ``previous_interaction_id`` must name a stored interaction; ``agent`` is
accepted as the name of an agent (the emulator treats it like a model). Streams send
``interaction.created``, ``step.start``, ``step.delta`` (text in three pieces), ``step.stop`` and
``interaction.completed`` server-sent events.

Live Interactions (``/{v}/interactions/live``, Gemini API only): the client opens with
``interaction.connect`` naming a stored interaction (or ``interaction.create`` with a model),
and the emulator answers ``interaction.connected`` (``interaction.created``). Each ``input`` gets
a model step: ``step.start``, ``step.delta`` pieces and ``step.stop`` carrying the step's
``step_usage``. ``interaction.complete`` gets ``interaction.completed`` with the session's
cumulative ``usage``, ``interaction.cancel`` gets ``interaction.cancelled``; both end the
session, as ``interaction.disconnect`` does. An auth token (``POST .../auth_tokens``, honouring
``expire_time``) authenticates the websocket for its own interaction only, until it expires or
is deleted.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from typing import Any

from golden_path.emulator import _answers, _catalogue
from golden_path.emulator._clock import parse_rfc3339, rfc3339
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


_TOKEN_DEFAULT_S = 30 * 60
_TOKEN_MAX_S = 20 * 3600


def _auth_token(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    if where.vertex:
        return google_error(404, "Live Interactions is served by the Gemini API only.")
    body = _body(incoming)
    unknown = sorted(set(body) - {"expire_time"})
    if unknown:
        return _bad(
            f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.'
        )
    now = store.clock.now()
    expires = now + _TOKEN_DEFAULT_S
    if "expire_time" in body:
        when = parse_rfc3339(body["expire_time"])
        if when is None:
            return _bad("expire_time must be an RFC 3339 timestamp.")
        if when <= now or when > now + _TOKEN_MAX_S:
            return _bad("expire_time must be in the future and at most 20 hours away.")
        expires = when
    with store.lock:
        known = m["id"] in store.interactions
        if known:
            secret = secrets.token_hex(24)
            store.interaction_tokens[secret] = {"interaction": m["id"], "expires": expires}
    if not known:
        return google_error(404, f"Interaction {m['id']} not found.")
    return json_reply({"auth_token": f"auth_tokens/{secret}", "expires_at": rfc3339(expires)})


def _delete_auth_token(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    with store.lock:
        found = store.interaction_tokens.get(m["token"])
        if found is not None and found["interaction"] == m["id"]:
            del store.interaction_tokens[m["token"]]
        else:
            found = None
    if found is None:
        return google_error(404, f"Auth token {m['token']} not found.")
    return json_reply({})


def token_interaction(store: Store, key: str) -> str | None:
    """The interaction an unexpired ``auth_tokens/...`` key was minted for (None: not valid)."""
    secret = key.removeprefix("auth_tokens/")
    with store.lock:
        found = store.interaction_tokens.get(secret)
        if found is None or found["expires"] <= store.clock.now():
            return None
        return str(found["interaction"])


LIVE_PATH = re.compile(r"^/(v1|v1beta|v1alpha)/interactions/live$")
_CLIENT_EVENTS = frozenset({
    "interaction.connect", "interaction.create", "input", "interaction.complete",
    "interaction.cancel", "interaction.disconnect", "user_action", "world_setup",
})  # fmt: skip


class LiveInteraction:
    """One Live Interactions websocket; pure like ``_live.Session``: events in, events out.

    ``only`` is the interaction an auth token restricts the session to ("" for an API key).
    """

    def __init__(self, store: Store, *, only: str = "") -> None:
        self.store = store
        self.only = only
        self.interaction: dict[str, Any] | None = None
        self.closed_reason: str | None = None
        self.finished = False
        self.usage = {"total_input_tokens": 0, "total_output_tokens": 0, "total_tokens": 0}

    def receive(self, message: Any) -> list[dict[str, Any]]:
        """Answer one client frame: one event, or a batch ``{"events": [...]}``."""
        if isinstance(message, dict) and isinstance(message.get("events"), list):
            events: list[Any] = message["events"]
        else:
            events = [message]
        out: list[dict[str, Any]] = []
        for event in events:
            out += self._event(event)
            if self.closed_reason is not None or self.finished:
                break
        return out

    def _fail(self, reason: str) -> list[dict[str, Any]]:
        self.closed_reason = reason[:120]
        return []

    def _event(self, event: Any) -> list[dict[str, Any]]:  # noqa: PLR0911 -- one per kind
        kind = event.get("event_type") if isinstance(event, dict) else None
        if kind not in _CLIENT_EVENTS:
            return self._fail(f"Unknown client event_type {kind!r}.")
        assert isinstance(event, dict)
        if self.interaction is None:
            if kind == "interaction.connect":
                return self._connect(event)
            if kind == "interaction.create":
                return self._create(event)
            return self._fail("The first event must be interaction.connect or interaction.create.")
        if kind == "interaction.connect":
            return self._fail("interaction.connect may only be sent first.")
        if kind == "interaction.create":
            return self._create(event)  # the session moves on to a new interaction
        if kind == "input":
            return self._input(event)
        if kind == "interaction.complete":
            return self._end("interaction.completed", "completed")
        if kind == "interaction.cancel":
            return self._end("interaction.cancelled", "cancelled")
        if kind == "interaction.disconnect":
            self.finished = True
        return []  # user_action, world_setup: accepted, not modelled

    def _connect(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        rid = event.get("id")
        if not isinstance(rid, str) or not rid:
            return self._fail("interaction.connect.id is required.")
        if self.only and rid != self.only:
            return self._fail("The auth token is not valid for this interaction.")
        with self.store.lock:
            found = self.store.interactions.get(rid)
        if found is None:
            return self._fail(f"Interaction {rid} not found.")
        self.interaction = found
        return [{"event_type": "interaction.connected"}]

    def _create(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        if self.only:
            return self._fail("An auth token cannot create interactions.")
        model = event.get("model")
        if not isinstance(model, str) or not _catalogue.is_served(model.rsplit("/", 1)[-1]):
            return self._fail(f"Model {model} is not found.")
        now = self.store.clock.now()
        interaction: dict[str, Any] = {
            "id": f"v1_{secrets.token_urlsafe(18)}",
            "status": "in_progress",
            "created": rfc3339(now),
            "updated": rfc3339(now),
            "model": model,
            "steps": [],
        }
        for key in ("system_instruction", "tools", "previous_interaction_id"):
            if key in event:
                interaction[key] = event[key]
        with self.store.lock:
            self.store.interactions[interaction["id"]] = interaction
        self.interaction = interaction
        return [{"event_type": "interaction.created", "interaction_id": interaction["id"]}]

    def _input(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        assert self.interaction is not None
        content = event.get("content")
        if not isinstance(content, list):
            return self._fail("input.content must be a list.")
        heard = _input_text(content)
        text = _answers.echo(heard)
        prompt, output = _answers.estimate_tokens(heard), _answers.estimate_tokens(text)
        step_usage = {
            "total_input_tokens": prompt,
            "total_output_tokens": output,
            "total_tokens": prompt + output,
        }
        for key, value in step_usage.items():
            self.usage[key] += value
        with self.store.lock:
            steps = self.interaction.setdefault("steps", [])
            index = len(steps) + 1
            steps.append({"type": "user_input", "content": content})
            steps.append({"type": "model_output", "content": [{"type": "text", "text": text}]})
        out: list[dict[str, Any]] = [
            {"event_type": "step.start", "index": index,
             "step": {"type": "model_output", "content": []}}
        ]  # fmt: skip
        out += [
            {"event_type": "step.delta", "index": index, "delta": {"type": "text", "text": piece}}
            for piece in _answers.split_text(text)
        ]
        out.append({"event_type": "step.stop", "index": index, "step_usage": step_usage})
        return out

    def _end(self, kind: str, status: str) -> list[dict[str, Any]]:
        assert self.interaction is not None
        now = self.store.clock.now()
        with self.store.lock:
            self.interaction["status"] = status
            self.interaction["updated"] = rfc3339(now)
            self.interaction["usage"] = dict(self.usage)
        self.finished = True
        # ``status`` of these events is a google.rpc.Status (an error), absent when all went well.
        return [{"event_type": kind, "usage": dict(self.usage), "updated": rfc3339(now)}]


_ID = r"(?P<id>[A-Za-z0-9_.-]+)"
ROUTES: list[Route] = [
    _r("POST", "interactions", _create, _GV),
    _r("GET", f"interactions/{_ID}", _get, _GV),
    _r("DELETE", f"interactions/{_ID}", _delete, _GV),
    _r("POST", f"interactions/{_ID}/cancel", _cancel, _GV),
    _r("POST", f"interactions/{_ID}/auth_tokens", _auth_token, _GV),
    _r(
        "DELETE",
        f"interactions/{_ID}/auth_tokens/(?P<token>[A-Za-z0-9_-]+)",
        _delete_auth_token,
        _GV,
    ),
]
