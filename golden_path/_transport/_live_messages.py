"""Live client messages after the setup: each one through the policies that inspect them.

The SDK sends every client message of a session (``send_client_content``,
``send_realtime_input``, ``send_tool_response``, ``send``) as one JSON text frame on the
session's websocket. :class:`GuardedSocket` stands in for that websocket: a message is parsed
into a ``GenAIRequest`` (``api_method="live.message"``, the session's id, model and identity)
and given to the ``on_request`` of each policy with ``inspects_live_messages = True``
(``[models]``, ``[tools]``, ``[generation]``, ``[safety]``, ``[pii]``, and any custom policy
that says so): a rewrite is what is sent, a deny raises PolicyViolation and nothing is sent.
The decisions join the session's one audit event.

A message can change what the session may do: ``contextUpdate`` declares new tools, and a
second ``setup`` names a model and tools of its own. So each message is judged whole, and what
cannot be judged is refused (policy ``routes``): a frame that is not one JSON object with one
known message field (:data:`CLIENT_MESSAGES`), a key repeated in one object, or a fragmented
frame the SDK never sends.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from golden_path._model import GenAIRequest, Usage, interaction_usage
from golden_path.exceptions import PolicyViolation
from golden_path.policies._body import interaction_events
from golden_path.policies._types import Deny

if TYPE_CHECKING:
    from golden_path._transport._call import Call

__all__ = ["GuardedSocket", "message_policies"]

_MAX_DECISIONS = 64  # a long session records its first findings, not one per message forever

CLIENT_MESSAGES: dict[str, frozenset[str]] = {
    # BidiGenerateContent (both backends), in both spellings the server parses.
    "live.connect": frozenset({
        "setup", "clientContent", "client_content", "realtimeInput", "realtime_input",
        "toolResponse", "tool_response", "contextUpdate", "context_update",
    }),
    # BidiGenerateMusic.
    "live.music.connect": frozenset({
        "setup", "clientContent", "client_content", "musicGenerationConfig",
        "music_generation_config", "playbackControl", "playback_control",
    }),
    # Live Interactions: the event_type of each event (alone, or in an {"events": [...]} batch).
    # interaction.connect is not here: the SDK sends it once, as the connect that was judged;
    # another one would move the session to an interaction nobody judged.
    "interactions.connect": frozenset({
        "interaction.create", "input", "interaction.complete", "interaction.cancel",
        "interaction.disconnect", "user_action", "world_setup",
    }),
}  # fmt: skip
"""The client message fields golden-path can judge, per websocket; any other is refused."""

# Server events that end a Live Interaction (their usage is the session's total).
_TERMINAL = frozenset({
    "interaction.completed", "interaction.canceled", "interaction.cancelled",
    "reconnection_required",
})  # fmt: skip
_INTERACTION_MARKERS: tuple[tuple[str, ...], tuple[bytes, ...]] = (
    ("usage", "interaction.c", "reconnection", "error"),
    (b"usage", b"interaction.c", b"reconnection", b"error"),
)
_LIVE_MARKERS: tuple[tuple[str, ...], tuple[bytes, ...]] = (("usageMetadata",), (b"usageMetadata",))
_USAGE_FIELDS = ("prompt_tokens", "output_tokens", "cached_tokens", "thoughts_tokens",
                 "total_tokens", "tool_prompt_tokens")  # fmt: skip


def message_policies(policies: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """The policies that inspect Live client messages, and those that read server messages."""
    senders = [p for p in policies if getattr(p, "inspects_live_messages", False)]
    readers = [p for p in policies if callable(getattr(p, "on_live_event", None))]
    return senders, readers


class GuardedSocket:
    """The session's websocket, with each outgoing message inspected first."""

    def __init__(
        self,
        inner: Any,
        call: Call,
        senders: Sequence[Any],
        readers: Sequence[Any],
        on_close: Callable[[], object] | None = None,
    ) -> None:
        self._inner = inner
        self._call = call
        self._policies = tuple(senders)
        self._readers = tuple(readers)
        self._on_close = on_close
        self._interactions = call.request.api_method == "interactions.connect"
        # The usage already metered, to meter only the rest of a cumulative total.
        self._seen = Usage()
        # How a Live Interaction ended, for its audit event: the server's terminal event, or
        # what the client sent last (cancel, disconnect).
        self._ending = ""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def close(self, *args: Any, **kwargs: Any) -> None:
        """Close the websocket; the session's end (its audit event) follows."""
        try:
            await self._inner.close(*args, **kwargs)
        finally:
            on_close, self._on_close = self._on_close, None
            if on_close is not None:
                self._call.request.record("session", "end", self._ending or "closed")
                on_close()

    async def recv(self, *args: Any, **kwargs: Any) -> Any:
        """One server message, as the policies that rewrite responses left it."""
        message = await self._inner.recv(*args, **kwargs)
        readers = self._readers
        if not isinstance(message, (str, bytes)):
            return message
        # Live: usageMetadata. Live Interactions: usage, and the events that end the session
        # (how it ended goes into the audit). A substring test: most frames are not parsed.
        markers = _INTERACTION_MARKERS if self._interactions else _LIVE_MARKERS
        if isinstance(message, str):
            metered = any(m in message for m in markers[0])
        else:
            metered = any(m in message for m in markers[1])
        if not readers and not metered:
            return message
        try:
            event = json.loads(message)
        except ValueError:
            return message  # the SDK raises on it, as it would have
        if metered and self._interactions:
            self._interaction_usage(event)
        elif metered:
            # The session is metered from the server's own usage messages.
            self._call.live_usage(event)
        if not readers:
            return message
        for policy in readers:
            policy.on_live_event(self._call.request, event)
        if not any(getattr(p, "rewrites_responses", False) for p in readers):
            return message
        out = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        return out if isinstance(message, str) else out.encode("utf-8")

    def _interaction_usage(self, frame: Any) -> None:
        """Meter a Live Interaction's usage events.

        Each step's ``step_usage`` counts; of a cumulative ``usage`` (a step's, or the terminal
        event's) only what the steps did not count already.
        """
        for event in interaction_events(frame):
            kind = event.get("event_type")
            if kind in _TERMINAL or kind == "error":
                self._ending = str(kind)
            step = event.get("step_usage") if kind == "step.stop" else None
            total = event.get("usage")
            if isinstance(step, dict):
                self._turn(interaction_usage(step))
            elif isinstance(total, dict):
                self._turn(_remainder(interaction_usage(total), self._seen))

    def _turn(self, usage: Usage) -> None:
        if all(getattr(usage, field) is None for field in _USAGE_FIELDS):
            return
        for field in _USAGE_FIELDS:
            add = getattr(usage, field)
            if add is not None:
                setattr(self._seen, field, (getattr(self._seen, field) or 0) + add)
        self._call.live_turn(usage)

    async def send(self, message: Any, *args: Any, **kwargs: Any) -> None:
        """Inspect one client message, then send it (or what the policies made of it)."""
        if isinstance(message, (str, bytes)):
            message = self._inspect(message)
            if self._interactions and not self._ending:
                sent = message if isinstance(message, str) else message.decode("utf-8", "replace")
                if "interaction.cancel" in sent:
                    self._ending = "cancelled by the client"
                elif "interaction.disconnect" in sent:
                    self._ending = "detached by the client"
        elif self._policies:
            # An iterable of fragments is one message the policies would only see in pieces.
            self._refuse("a fragmented Live message cannot be judged; send each message as one str")
        await self._inner.send(message, *args, **kwargs)

    def _refuse(self, reason: str) -> NoReturn:
        session = self._call.request
        if len(session.decisions) < _MAX_DECISIONS:
            session.record("routes", "deny", f"live message: {reason}")
        raise PolicyViolation("routes", reason, request_id=session.request_id)

    def _inspect(self, message: str | bytes) -> str | bytes:
        if not self._policies:
            return message
        raw = message.encode("utf-8") if isinstance(message, str) else message
        session = self._call.request
        request = session.part(raw, method="WS", api_method="live.message", stream=True)
        self._check_shape(request)
        for policy in self._policies:
            try:
                policy.on_request(request)
            except Deny as deny:
                name = getattr(policy, "name", type(policy).__name__)
                if getattr(policy, "mode", "enforce") == "report":
                    request.record(name, "deny", f"live message: {deny.reason}", enforced=False)
                    continue
                self._note(request, name, deny.reason)
                raise PolicyViolation(name, deny.reason, request_id=session.request_id) from None
        self._note(request)
        if not request.modified:
            return message
        out = request.serialize()
        return out.decode("utf-8") if isinstance(message, str) else out

    def _check_shape(self, request: GenAIRequest) -> None:
        """Refuse a message the policies cannot read the way the server will."""
        known = CLIENT_MESSAGES.get(self._call.request.api_method, CLIENT_MESSAGES["live.connect"])
        try:
            body = request.parse_strictly()
        except (ValueError, RecursionError) as exc:
            reason = str(exc) if "twice" in str(exc) else "it is not JSON"
            self._refuse(f"the Live message cannot be judged: {reason}")
        if self._interactions:
            self._check_events(body, known)
            return
        if not isinstance(body, dict) or len(body) != 1:
            self._refuse(
                "the Live message cannot be judged: it must be a JSON object with exactly one "
                f"of the fields {', '.join(sorted(known))}"
            )
        field = next(iter(body))
        if field not in known:
            self._refuse(
                f"the Live message field {field!r} cannot be judged; golden-path reads "
                f"{', '.join(sorted(known))}. If google-genai added it, upgrade golden-path"
            )

    def _check_events(self, body: Any, known: frozenset[str]) -> None:
        """A Live Interactions frame: one event, or ``{"events": [...]}``, each of a known type."""
        batch = body.get("events") if isinstance(body, dict) else None
        if isinstance(body, dict) and "events" in body:
            if len(body) != 1 or not isinstance(batch, list) or not batch:
                self._refuse(
                    'the Live Interactions batch cannot be judged: send {"events": [...]} '
                    "with at least one event and nothing else"
                )
            events: list[Any] = batch
        else:
            events = [body]
        for event in events:
            kind = event.get("event_type") if isinstance(event, dict) else None
            if kind not in known:
                self._refuse(
                    f"the Live Interactions event_type {kind!r} cannot be judged; golden-path "
                    f"reads {', '.join(sorted(known))} (a new interaction.connect needs a new "
                    "connect). If google-genai added it, upgrade golden-path"
                )

    def _note(self, request: GenAIRequest, denied_by: str = "", reason: str = "") -> None:
        decisions = self._call.request.decisions
        if denied_by:
            request.record(denied_by, "deny", f"live message: {reason}")
        for decision in request.decisions:
            if len(decisions) < _MAX_DECISIONS:
                decisions.append(decision)


def _remainder(total: Usage, seen: Usage) -> Usage:
    """What ``total`` counts beyond ``seen`` (None where ``total`` does not say)."""
    rest = Usage()
    for field in _USAGE_FIELDS:
        value = getattr(total, field)
        if value is not None:
            left = value - (getattr(seen, field) or 0)
            setattr(rest, field, left if left > 0 else None)
    return rest
