"""The request/response model: the transport's own data, read by policies and audit alike.

One :class:`GenAIRequest` is built per HTTP request (or Live session) by the transport; policy
hooks read and rewrite it, and the audit event is written from it and its
:class:`GenAIResponse`. It sits below the transport, ``policies`` and ``audit`` so that none of
them imports another for it (see docs/architecture.md).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from golden_path._json import INEXACT, dumps, loads_exact

if TYPE_CHECKING:
    import httpx2

    from golden_path._routes import Route

__all__ = [
    "BODY_DECODED",
    "BODY_PROBLEM",
    "INSERT_EVENTS",
    "INTERACTION",
    "UNSAFE_PATH",
    "Decision",
    "GenAIRequest",
    "GenAIResponse",
    "Identity",
    "Usage",
    "interaction_usage",
    "usage_from",
]


# Keys of GenAIRequest.state the transport sets for the routes policy to judge.
UNSAFE_PATH = "golden_path.unsafe_path"  # why the path was not classified (str)
BODY_PROBLEM = "golden_path.body_problem"  # (field, problem, fix) of an unreadable body
BODY_DECODED = "golden_path.body_decoded"  # the request content-encoding that was undone
# Stream events a policy that rewrites responses wants sent before the current one (a list);
# the transport takes and clears it after each event's chunk hooks.
INSERT_EVENTS = "golden_path.insert_events"
# The interaction a request acts on (a Live Interactions session, an interaction auth token):
# {"id", "model", "agent", "tools"} as golden-path last read it; set by the routes policy for the
# models and tools policies to judge what the interaction will run.
INTERACTION = "golden_path.interaction"


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """One thing a policy decided about one request; goes into the audit event as is.

    ``action``: ``allow``, ``deny``, ``rewrite``, ``clamp``, ``redact``, ``error``...;
    ``enforced`` is False in report mode (it would have happened, it did not).
    """

    policy: str
    action: str
    reason: str = ""
    enforced: bool = True

    def as_dict(self) -> dict[str, Any]:
        """The audit trail's shape."""
        return {
            "policy": self.policy,
            "action": self.action,
            "reason": self.reason,
            "enforced": self.enforced,
        }


@dataclasses.dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling and where to: the same for every request of one client."""

    app: str | None
    team: str | None
    client_id: str
    backend: str
    project: str | None
    location: str | None


@dataclasses.dataclass(slots=True)
class Usage:
    """Token counts of one response (``None`` where the server did not say)."""

    prompt_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    thoughts_tokens: int | None = None
    total_tokens: int | None = None
    # Within prompt_tokens: audio is billed at its own rate (promptTokensDetails).
    audio_tokens: int | None = None
    # Tokens of tool results Google fed back to the model (billed as input).
    tool_prompt_tokens: int | None = None


class GenAIRequest:
    """One HTTP request on its way out; request hooks may read and change it.

    ``body`` is the parsed JSON (``None`` for GET or non-JSON bodies). Assigning ``body`` or
    calling :meth:`set_model` rewrites what goes on the wire. ``route`` is the row of the route
    table the request matched (None: an unknown route).
    """

    __slots__ = (
        "_body",
        "_body_parsed",
        "_dirty",
        "_raw_replaced",
        "api_method",
        "decisions",
        "headers",
        "identity",
        "method",
        "model",
        "raw",
        "request_id",
        "route",
        "state",
        "stream",
        "surface",
        "url",
    )

    def __init__(
        self,
        *,
        request_id: str,
        identity: Identity,
        method: str,
        url: httpx2.URL,
        headers: httpx2.Headers,
        raw: bytes,
        surface: str,
        api_method: str,
        model: str | None,
        stream: bool,
        route: Route | None = None,
    ) -> None:
        self.request_id = request_id
        self.identity = identity
        self.method = method
        self.url = url
        self.headers = headers
        self.raw = raw
        self.surface = surface
        self.api_method = api_method
        self.model = model
        self.stream = stream
        self.route = route
        self.decisions: list[Decision] = []
        # Per-request scratch space for policies (a limiter's reservation, say).
        self.state: dict[str, Any] = {}
        self._body: Any = None
        self._body_parsed = False
        self._dirty = False
        self._raw_replaced = False

    @property
    def body(self) -> Any:
        """The parsed JSON body, parsed on first use (most GETs never pay for it)."""
        if not self._body_parsed:
            self._body_parsed = True
            if self.raw:
                try:
                    self._body = json.loads(self.raw)
                except ValueError:
                    self._body = None
        return self._body

    @body.setter
    def body(self, value: Any) -> None:
        self._body = value
        self._body_parsed = True
        self._dirty = True

    def parse_strictly(self) -> Any:
        """Parse the body as Google's front end would, or raise ValueError saying why not.

        Stricter than :attr:`body`: a key repeated in one object is an error (Python keeps the
        last, another parser the first). The result becomes :attr:`body`.
        """
        raw = self.raw
        # orjson when it provably reads the same (see loads_exact): about twice as fast as the
        # stdlib's strict parse for a short prompt and for a long one.
        body = loads_exact(raw)
        if body is INEXACT:
            # json.loads(raw, object_pairs_hook=...) builds a new decoder per call; this is
            # that call with the decoder built once (same bytes-to-text step, same errors).
            body = (
                _STRICT.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
                if raw
                else None
            )
        self._body = body
        self._body_parsed = True
        return body

    @property
    def modified(self) -> bool:
        """Whether the body was changed and must be serialised again."""
        return self._dirty

    def mark_modified(self) -> None:
        """Say the parsed body was changed in place (``request.body["x"] = ...``)."""
        self._dirty = True

    def set_model(self, model: str) -> None:
        """Point the request at another model, in the URL path or the body, wherever it is named."""
        import httpx2

        if self.model is not None and self.surface != "openai":
            path = self.url.raw_path.decode("ascii")
            head, sep, tail = path.partition("?")
            marker = "/models/"
            index = head.rfind(marker)
            if index >= 0:
                end = head.find(":", index)
                end = len(head) if end < 0 else end
                head = head[: index + len(marker)] + model + head[end:]
                self.url = httpx2.URL(self.url, raw_path=(head + sep + tail).encode("ascii"))
        body = self.body
        if isinstance(body, dict) and isinstance(body.get("model"), str):
            body["model"] = model
            self._dirty = True
        self.model = model

    def part(self, raw: bytes, **changes: Any) -> GenAIRequest:
        """A request for one part of this one (a Live message, a line of an uploaded file).

        Same id, caller, URL and headers; ``raw`` as its body; ``changes`` override the other
        fields (``api_method``, ``method``, ``surface``, ``model``, ``stream``, ``route``).
        """
        fields: dict[str, Any] = {
            "method": self.method,
            "surface": self.surface,
            "api_method": self.api_method,
            "model": self.model,
            "stream": self.stream,
            "route": self.route,
        }
        fields.update(changes)
        return GenAIRequest(
            request_id=self.request_id,
            identity=self.identity,
            url=self.url,
            headers=self.headers,
            raw=raw,
            **fields,
        )

    def record(self, policy: str, action: str, reason: str = "", *, enforced: bool = True) -> None:
        """Add a decision to the audit trail of this request."""
        self.decisions.append(Decision(policy, action, reason, enforced))

    def replace_raw(self, raw: bytes) -> None:
        """Send ``raw`` instead of the body (a hook rewriting a non-JSON body, an upload)."""
        self.raw = raw
        self._body, self._body_parsed = None, True
        self._dirty = self._raw_replaced = True

    def serialize(self) -> bytes:
        """The body as it will be sent: the original bytes unless a hook changed it."""
        if not self._dirty or self._raw_replaced:
            return self.raw
        # For an ASCII body both spellings give the same bytes, and the ASCII encoder is about
        # twice as fast; other text stays UTF-8 rather than growing into \u escapes.
        return dumps(self._body, ascii_only=self.raw.isascii())


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        repeated = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"the key {repeated!r} appears twice in one object")
    return found


_STRICT = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_no_constant)


@dataclasses.dataclass(slots=True)
class GenAIResponse:
    """What came back: the after-hooks' view.

    ``body`` is the parsed JSON of a buffered response (``None`` for streams, or when it was
    not JSON); ``chunks`` counts stream events; ``usage`` is filled from the body or the stream.
    """

    status_code: int
    headers: Mapping[str, str]
    body: Any = None
    stream: bool = False
    chunks: int = 0
    usage: Usage | None = None
    error: BaseException | None = None
    # A stream's first event: what an Interactions stream says it created (``[routes]``).
    first: Any = None
    # A policy that rewrites responses (``rewrites_responses = True``) sets ``modified`` after
    # changing ``body`` (or stream events, in place), and may add events to send after the
    # stream's last one (text it held back); the transport sends what they hold.
    modified: bool = False
    trailer: list[Any] = dataclasses.field(default_factory=list)


def usage_from(body: Any) -> Usage | None:
    """Token usage from a Gemini (``usageMetadata``) or OpenAI (``usage``) shaped body."""
    if not isinstance(body, dict):
        return None
    meta = body.get("usageMetadata")
    if isinstance(meta, dict):
        get = meta.get
        counts: tuple[Any, ...] = (
            get("promptTokenCount"),
            # The Live API says responseTokenCount where generateContent says candidates.
            get("candidatesTokenCount", get("responseTokenCount")),
            get("cachedContentTokenCount"),
            get("thoughtsTokenCount"),
            get("totalTokenCount"),
            get("toolUsePromptTokenCount"),
        )
        if not _PLAIN.issuperset(map(type, counts)):
            # One type check in C for the usual case (every count an int or absent), instead
            # of a call per count: this runs for every answer the audit or a limit reads.
            counts = tuple(map(_int, counts))
        prompt, output, cached, thoughts, total, tool = counts
        details = get("promptTokensDetails")
        return Usage(
            prompt_tokens=prompt,
            output_tokens=output,
            cached_tokens=cached,
            thoughts_tokens=thoughts,
            total_tokens=total,
            audio_tokens=None if details is None else _modality(details, "AUDIO"),
            tool_prompt_tokens=tool,
        )
    usage = body.get("usage")
    if (
        isinstance(usage, dict)
        and "prompt_tokens" not in usage
        and ("total_input_tokens" in usage or "total_output_tokens" in usage)
    ):
        return interaction_usage(usage)
    if isinstance(usage, dict):
        prompt_details = usage.get("prompt_tokens_details")
        output_details = usage.get("completion_tokens_details")
        return Usage(
            prompt_tokens=_int(usage.get("prompt_tokens")),
            output_tokens=_int(usage.get("completion_tokens")),
            cached_tokens=_int(prompt_details.get("cached_tokens"))
            if isinstance(prompt_details, dict)
            else None,
            thoughts_tokens=_int(output_details.get("reasoning_tokens"))
            if isinstance(output_details, dict)
            else None,
            total_tokens=_int(usage.get("total_tokens")),
        )
    if "totalTokens" in body:  # countTokens
        return Usage(
            prompt_tokens=_int(body.get("totalTokens")), total_tokens=_int(body.get("totalTokens"))
        )
    return None


def interaction_usage(usage: dict[str, Any]) -> Usage:
    """The Interactions API's ``usage`` (``total_input_tokens``, ... in snake_case)."""
    return Usage(
        prompt_tokens=_int(usage.get("total_input_tokens")),
        output_tokens=_int(usage.get("total_output_tokens")),
        cached_tokens=_int(usage.get("total_cached_tokens")),
        thoughts_tokens=_int(usage.get("total_thought_tokens")),
        total_tokens=_int(usage.get("total_tokens")),
        tool_prompt_tokens=_int(usage.get("total_tool_use_tokens")),
    )


_PLAIN = frozenset((int, type(None)))  # the types a count passes through _int unchanged


def _int(value: Any) -> int | None:
    # Servers sometimes send int64 as strings; anything else is "unknown", never a crash.
    if type(value) is int or value is None:
        return value  # the usual two, with one test each
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _modality(details: Any, modality: str) -> int | None:
    # [{"modality": "AUDIO", "tokenCount": 40}, {"modality": "TEXT", ...}]
    if not isinstance(details, list):
        return None
    for item in details:
        if isinstance(item, dict) and item.get("modality") == modality:
            return _int(item.get("tokenCount"))
    return None
