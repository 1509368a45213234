"""``[pii]``: find personal data and secrets everywhere a request carries text; redact or deny.

Requests: every string of the JSON body and every key (function-call arguments, function
responses, labels and JSON written as keys carry user data too), at any depth, except binary
data and references: contents and every part kind, inline text data (decoded from base64),
system instructions, tool and schema descriptions, labels, display names, cached contents,
batch inline requests, Interactions input, Live messages and every OpenAI-compatible field.
Walking everything rather than a list of content fields means a field the SDK adds tomorrow is
scanned too; the route table's ``content`` fields are asserted to be walked by the tests.
Uploaded text (``files.upload`` of JSONL, CSV, plain text) is scanned in its bytes and masked
in place with same-length marks, so the upload protocol's declared sizes still hold.

Responses (``responses = "redact" | "report"``): buffered bodies are walked like requests;
streamed text is redacted chunk by chunk through a :class:`~golden_path._pii.StreamRedactor`
per candidate (or choice), which holds back a bounded tail so a value split across two events
is still caught, and releases it with the event that finishes the candidate.

What was found is recorded by kind and count, never by value.
"""

from __future__ import annotations

import base64
import binascii
import importlib
from collections import Counter
from collections.abc import Sequence
from typing import Any

from golden_path._model import INSERT_EVENTS, GenAIRequest, GenAIResponse
from golden_path._pii import BUILTIN_KINDS, Detector, Finding, Scanner, StreamRedactor
from golden_path.policies._config import Section
from golden_path.policies._types import Deny

__all__ = ["PiiPolicy", "load_engine"]

# Values that are never text: binary data, opaque signatures, references to resources.
_BINARY = frozenset({
    "data", "bytesBase64Encoded", "bytes_base64_encoded", "imageBytes", "image_bytes",
    "videoBytes", "video_bytes", "thoughtSignature", "thought_signature", "b64_json",
})  # fmt: skip
_REFERENCES = frozenset({"model", "baseModel", "base_model", "fileUri", "file_uri"})
_TEXT_MIME = ("text/", "application/json", "application/jsonl", "application/x-ndjson")
_SHORTEST = 6  # no kind fits in fewer characters
_STREAM_KEY = "golden_path.pii.stream"


def load_engine(spec: str) -> Detector:
    """The detector named ``spec``: ``presidio``, or ``package.module:attribute``.

    The attribute is a :class:`~golden_path._pii.Detector`, or a callable that returns one.
    Raises ValueError or TypeError (what to install or fix) when it cannot be loaded.
    """
    if spec == "presidio":
        from golden_path._pii_presidio import PresidioDetector

        return PresidioDetector()
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError("expected 'presidio' or 'package.module:attribute'")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load it ({type(exc).__name__}: {exc})") from None
    # A class or factory is called; an object that already is a detector is used as it is.
    made = isinstance(target, type) or (callable(target) and not isinstance(target, Detector))
    engine = target() if made else target
    if isinstance(engine, type) or not isinstance(engine, Detector):
        raise TypeError("it is not a detector (needs name, kinds and find(text, kinds))")
    return engine


class PiiPolicy:
    """Redact (``[REDACTED:<kind>]``), deny, or only report the kinds in ``detect``."""

    name = "pii"

    def __init__(
        self,
        *,
        action: str = "redact",
        detect: Sequence[str] | None = None,
        mode: str = "enforce",
        responses: str = "off",
        engines: Sequence[Detector] = (),
    ) -> None:
        self.action = action
        kinds = list(BUILTIN_KINDS) + [k for e in engines for k in sorted(e.kinds)]
        self.detect = frozenset(detect if detect is not None else kinds)
        self.mode = "report" if action == "report" else mode
        self.responses = responses
        self.scanner = Scanner(self.detect, engines)
        # The transport re-sends responses only when this policy may change them.
        self.rewrites_responses = responses == "redact" and self.mode == "enforce"
        # With responses = "off" the after-hooks return at once: the transport need not
        # parse answers for this policy.
        self.reads_responses = responses != "off"
        # Live client messages after the setup are scanned like requests.
        self.inspects_live_messages = True

    @classmethod
    def configure(cls, section: Section) -> PiiPolicy | None:
        """Build from ``[pii]``."""
        mode = section.mode()
        action = section.choice("action", ("redact", "deny", "report"), "redact")
        responses = section.choice("responses", ("off", "redact", "report"), "off")
        engine_specs = section.strings("engines", []) or []
        detect = section.strings("detect", None)
        section.finish()
        engines: list[Detector] = []
        for spec in engine_specs:
            try:
                engines.append(load_engine(spec))
            except (ValueError, TypeError) as exc:
                section.problem(
                    "engines",
                    f"engine {spec!r}: {exc}",
                    "install golden-path[presidio] for 'presidio', or name an importable "
                    "'package.module:attribute'",
                )
        known = list(BUILTIN_KINDS) + sorted({k for e in engines for k in e.kinds})
        for kind in detect or []:
            if kind not in known:
                section.problem(
                    "detect", f"unknown kind {kind!r}", f"use any of {', '.join(known)}"
                )
        if not section.ok:
            return None
        return cls(action=action, detect=detect, mode=mode, responses=responses, engines=engines)

    # ------------------------------------------------------------------------------ requests

    def on_request(self, request: GenAIRequest) -> None:
        """Scan, then redact, deny or record."""
        if not request.raw:
            return
        body = request.body
        if body is not None and self.scanner.finds_nothing(_texts(body)):
            return
        counts: Counter[str] = Counter()
        redact = self.action == "redact" and self.mode == "enforce"
        new_raw = self._raw(request, counts, redact) if body is None else None
        new = _Walk(self.scanner, counts, redact).node(body) if body is not None else None
        if not counts:
            return
        summary = _summary(counts)
        if self.action == "deny":
            raise Deny(f"request contains {summary}")
        request.record(self.name, "redact", f"found {summary}", enforced=redact)
        if redact and new_raw is not None:
            request.replace_raw(new_raw)
        elif redact:
            request.body = new

    def _raw(self, request: GenAIRequest, counts: Counter[str], redact: bool) -> bytes:
        """An upload's bytes: text is scanned and masked in place; binary passes."""
        raw = request.raw
        if "upload" not in request.headers.get("x-goog-upload-command", ""):
            return raw
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw  # images, PDFs, audio: not text this policy can read
        findings = self.scanner.find(text)
        counts.update(f.kind for f in findings)
        return _mask(text, findings).encode("utf-8") if redact and findings else raw

    # ----------------------------------------------------------------------------- responses

    def on_chunk(self, request: GenAIRequest, event: Any) -> None:
        """Each stream event: its text through the held-back redactors, the rest walked."""
        if self.responses == "off" or not isinstance(event, dict):
            return
        stream = request.state.get(_STREAM_KEY)
        if stream is None:
            stream = request.state[_STREAM_KEY] = _ResponseStream(self.scanner)
        if "event_type" in event:  # the Interactions API's step events
            before = stream.interaction_event(event, redact=self.rewrites_responses)
            if before:
                request.state.setdefault(INSERT_EVENTS, []).extend(before)
            return
        stream.event(event, redact=self.rewrites_responses)

    def on_live_event(self, request: GenAIRequest, event: Any) -> None:
        """A Live server message: model text and transcripts held back and redacted like a stream.

        Called by the Live guard for each message the server sends (``request`` is the
        session's); the session's ``on_response`` records what was found.
        """
        if self.responses == "off" or not isinstance(event, dict):
            return
        stream = request.state.get(_STREAM_KEY)
        if stream is None:
            stream = request.state[_STREAM_KEY] = _ResponseStream(self.scanner)
        batch = event.get("events")
        if isinstance(event.get("event_type"), str) or isinstance(batch, list):
            # A Live Interactions frame: step deltas held back like an Interactions stream; text
            # released early goes out in the same frame, before the event (as a batch).
            events = batch if isinstance(batch, list) else [dict(event)]
            out: list[Any] = []
            for item in events:
                if isinstance(item, dict):
                    out += stream.interaction_event(item, redact=self.rewrites_responses)
                out.append(item)
            event.clear()
            event.update({"events": out} if len(out) > 1 or batch is not None else out[0])
            return
        stream.live_event(event, redact=self.rewrites_responses)

    def on_response(self, request: GenAIRequest, response: GenAIResponse) -> None:
        """A whole body is walked; a stream's held-back text is released; findings recorded."""
        if self.responses == "off" or response.status_code >= 400:
            return
        redact = self.rewrites_responses
        counts: Counter[str] = Counter()
        if response.stream:
            stream = request.state.get(_STREAM_KEY)
            if stream is None:
                return
            response.trailer += stream.finish(redact=redact)
            counts = stream.counts
            response.modified = response.modified or (redact and bool(counts))
        elif response.body is not None and not self.scanner.finds_nothing(_texts(response.body)):
            new = _Walk(self.scanner, counts, redact).node(response.body)
            if counts and redact:
                response.body = new
                response.modified = True
        if counts:
            request.record(
                self.name, "redact", f"found {_summary(counts)} in the response", enforced=redact
            )


def _summary(counts: Counter[str]) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))


def _mask(text: str, findings: list[Finding]) -> str:
    """Each finding replaced by a mark of the same UTF-8 length (``[REDACTED:kind]***``)."""
    pieces: list[str] = []
    at = 0
    for finding in findings:
        size = len(text[finding.start : finding.end].encode("utf-8"))
        label = f"[REDACTED:{finding.kind}]"
        pieces += (text[at : finding.start], (label + "*" * size)[:size])
        at = finding.end
    pieces.append(text[at:])
    return "".join(pieces)


def _texts(node: Any) -> list[str]:
    """Every string and key in a JSON value, for one test of them all before any walk.

    A value with inline binary data answers ``["0"]`` (a digit: never "nothing to find"):
    base64 hides what its text says, so only the walk, which decodes text types, can tell.
    """
    texts: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, dict):
            if not _BINARY.isdisjoint(item):
                return ["0"]
            texts.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return texts


class _Walk:
    """One pass over a JSON value: every string and key scanned, a copy where anything changed."""

    __slots__ = ("counts", "redact", "scanner")

    def __init__(self, scanner: Scanner, counts: Counter[str], redact: bool) -> None:
        self.scanner = scanner
        self.counts = counts
        self.redact = redact

    def text(self, value: str) -> str:
        if len(value) < _SHORTEST:
            return value
        if value.startswith("data:") and ";base64," in value[:100]:
            return value  # an inline image or audio as a data URL
        if self.redact:
            new, findings = self.scanner.redact(value)
        else:
            new, findings = value, self.scanner.find(value)
        self.counts.update(f.kind for f in findings)
        return new

    def node(self, node: Any) -> Any:
        if isinstance(node, str):
            return self.text(node)
        if isinstance(node, list):
            items = [self.node(item) for item in node]
            return items if any(a is not b for a, b in zip(items, node, strict=True)) else node
        if not isinstance(node, dict):
            return node
        changed: dict[str, Any] | None = None
        for key, value in node.items():
            new_key = self.text(key) if isinstance(key, str) else key
            new = self._value(node, key, value)
            if new is not value or new_key is not key:
                if changed is None:
                    # The keys before this one, in their order.
                    keys = list(node)
                    changed = {k: node[k] for k in keys[: keys.index(key)]}
                while new_key in changed or (new_key != key and new_key in node):
                    new_key += "*"  # two keys redacted alike stay two keys
                changed[new_key] = new
            elif changed is not None:
                changed[key] = value
        return node if changed is None else changed

    def _value(self, container: dict[str, Any], key: str, value: Any) -> Any:
        if key in _REFERENCES:
            return value
        if key in _BINARY:
            return self._inline(container, value)
        if isinstance(value, (str, dict, list)):
            return self.node(value)
        return value

    def _inline(self, container: dict[str, Any], value: Any) -> Any:
        """Inline data: text types are decoded, scanned and encoded again; the rest passes."""
        mime = container.get("mimeType") or container.get("mime_type") or ""
        if not isinstance(value, str) or not str(mime).startswith(_TEXT_MIME):
            return value
        try:
            text = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return value
        new = self.text(text)
        return value if new is text else base64.b64encode(new.encode("utf-8")).decode("ascii")


class _ResponseStream:
    """The held-back text of one streamed response, per candidate or choice and field."""

    def __init__(self, scanner: Scanner) -> None:
        self.scanner = scanner
        self.redactors: dict[tuple[Any, ...], StreamRedactor] = {}
        self.walked: Counter[str] = Counter()
        self.shape = ""

    @property
    def counts(self) -> Counter[str]:
        total = Counter(self.walked)
        for redactor in self.redactors.values():
            total.update(redactor.counts)
        return total

    def event(self, event: dict[str, Any], *, redact: bool) -> None:
        for key, holder, field, finished in _text_fields(event):
            if not self.shape:
                self.shape = "openai" if "choices" in event else "gemini"
            redactor = self.redactors.get(key)
            if redactor is None:
                redactor = self.redactors[key] = self.scanner.stream()
            out = redactor.feed(holder[field])
            if finished:
                out += redactor.flush()
            if redact:
                holder[field] = out
        # Everything else in the event (function calls, tool results) arrives whole.
        rest = _Walk(self.scanner, self.walked, redact)
        for container, field in _other_fields(event):
            container[field] = rest.node(container[field])

    def interaction_event(self, event: dict[str, Any], *, redact: bool) -> list[dict[str, Any]]:
        """One Interactions event; returns events to send before it (text held until now)."""
        self.shape = "interactions"
        kind = event.get("event_type")
        index = event.get("index", 0)
        delta = event.get("delta")
        if kind == "step.delta" and isinstance(delta, dict) and isinstance(delta.get("text"), str):
            key = ("i", index)
            redactor = self.redactors.get(key)
            if redactor is None:
                redactor = self.redactors[key] = self.scanner.stream()
            out = redactor.feed(delta["text"])
            if redact:
                delta["text"] = out
            return []
        # Whole events (created, completed with every output, step.start) are walked whole.
        rest = _Walk(self.scanner, self.walked, redact)
        for name, value in list(event.items()):
            event[name] = rest.node(value)
        redactor = self.redactors.get(("i", index))
        if kind == "step.stop" and redactor is not None:
            text = redactor.flush()
            if text and redact:
                return [_tail_event(self.shape, ("i", index), text)]
        return []

    def live_event(self, event: dict[str, Any], *, redact: bool) -> None:
        content = event.get("serverContent") or event.get("server_content")
        if not isinstance(content, dict):
            rest = _Walk(self.scanner, self.walked, redact)
            for name, value in list(event.items()):  # tool calls and the like arrive whole
                event[name] = rest.node(value)
            return
        self.shape = "live"
        finished = any(
            content.get(k) for k in ("turnComplete", "generationComplete", "interrupted")
        )
        turn = content.get("modelTurn")
        parts = turn.get("parts") if isinstance(turn, dict) else None
        fields: list[_TextField] = [
            (("live", bool(part.get("thought"))), part, "text", False)
            for part in (parts if isinstance(parts, list) else [])
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        ]
        for name in ("outputTranscription", "inputTranscription"):
            transcript = content.get(name)
            if isinstance(transcript, dict) and isinstance(transcript.get("text"), str):
                fields.append((("live", name), transcript, "text", False))
        for key, holder, field, _ in fields:
            redactor = self.redactors.get(key)
            if redactor is None:
                redactor = self.redactors[key] = self.scanner.stream()
            out = redactor.feed(holder[field])
            if redact:
                holder[field] = out
        if finished:
            self._release_live(content, redact=redact)

    def _release_live(self, content: dict[str, Any], *, redact: bool) -> None:
        """The turn ended: whatever is held goes out with the message that says so."""
        for key, redactor in self.redactors.items():
            text = redactor.flush()
            if not (text and redact and key[0] == "live"):
                continue
            if key[1] in ("outputTranscription", "inputTranscription"):
                holder = content.setdefault(key[1], {})
                holder["text"] = holder.get("text", "") + text
            else:
                turn = content.setdefault("modelTurn", {"role": "model"})
                part: dict[str, Any] = {"text": text}
                if key[1]:
                    part["thought"] = True
                turn.setdefault("parts", []).append(part)

    def finish(self, *, redact: bool) -> list[dict[str, Any]]:
        """Events carrying whatever text is still held (a stream that never said it finished)."""
        out = []
        for key, redactor in self.redactors.items():
            text = redactor.flush()
            if text and redact and self.shape != "live":  # a Live session that ended mid-turn
                out.append(_tail_event(self.shape, key, text))
        return out


_TextField = tuple[tuple[Any, ...], dict[str, Any], str, bool]


def _text_fields(event: dict[str, Any]) -> list[_TextField]:
    """``(key, container, field, finished)`` of each streamed text in one event."""
    found: list[_TextField] = []
    candidates = event.get("candidates")
    for position, candidate in enumerate(candidates if isinstance(candidates, list) else ()):
        if isinstance(candidate, dict):
            found += _candidate_texts(candidate, candidate.get("index", position))
    choices = event.get("choices")
    for position, choice in enumerate(choices if isinstance(choices, list) else ()):
        if isinstance(choice, dict):
            found += _choice_texts(choice, choice.get("index", position))
    return found


def _candidate_texts(candidate: dict[str, Any], index: Any) -> list[_TextField]:
    finished = bool(candidate.get("finishReason") or candidate.get("finish_reason"))
    content = candidate.get("content")
    if not isinstance(content, dict):
        return []
    parts = content.get("parts")
    texts = [
        p
        for p in (parts if isinstance(parts, list) else [])
        if isinstance(p, dict) and isinstance(p.get("text"), str)
    ]
    found: list[_TextField] = [
        (("c", index, bool(part.get("thought"))), part, "text", finished and n == len(texts) - 1)
        for n, part in enumerate(texts)
    ]
    if finished and not texts:
        # Release held text with the event that finishes the candidate.
        part = {"text": ""}
        content.setdefault("parts", []).append(part)
        found.append((("c", index, False), part, "text", True))
    return found


def _choice_texts(choice: dict[str, Any], index: Any) -> list[_TextField]:
    finished = bool(choice.get("finish_reason"))
    delta = choice.get("delta")
    if not isinstance(delta, dict):
        return []
    found: list[_TextField] = []
    if isinstance(delta.get("content"), str) or finished:
        if not isinstance(delta.get("content"), str):
            delta["content"] = ""
        found.append((("o", index), delta, "content", finished))
    for call in delta.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            found.append((("t", index, call.get("index", 0)), function, "arguments", finished))
    return found


def _other_fields(event: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """The non-text parts of a stream event, walked whole."""
    out: list[tuple[dict[str, Any], str]] = []
    for candidate in event.get("candidates") or []:
        content = candidate.get("content") if isinstance(candidate, dict) else None
        for part in (content.get("parts") if isinstance(content, dict) else None) or []:
            if isinstance(part, dict):
                out += [(part, k) for k in part if k not in ("text", "thought", "thoughtSignature")]
    if "candidates" not in event and "choices" not in event:
        out += [(event, k) for k in event]  # Interactions, Live and other event shapes
    return out


def _tail_event(shape: str, key: tuple[Any, ...], text: str) -> dict[str, Any]:
    if shape == "interactions":
        return {
            "event_type": "step.delta",
            "index": key[1],
            "delta": {"type": "text", "text": text},
        }
    if shape == "openai":
        delta: dict[str, Any]
        if key[0] == "t":
            delta = {"tool_calls": [{"index": key[2], "function": {"arguments": text}}]}
        else:
            delta = {"content": text}
        return {"object": "chat.completion.chunk", "choices": [{"index": key[1], "delta": delta}]}
    part: dict[str, Any] = {"text": text}
    if key[2]:
        part["thought"] = True
    return {"candidates": [{"index": key[1], "content": {"role": "model", "parts": [part]}}]}
