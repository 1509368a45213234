"""The Live API: ``BidiGenerateContent`` over websockets, for both backends.

One session per websocket. The client's first message is ``setup``; the emulator answers
``setupComplete``, then for each turn (``clientContent`` with ``turnComplete``, ``realtimeInput``
text, or the end of realtime audio) it streams ``serverContent.modelTurn`` parts, then
``generationComplete``, then ``turnComplete`` with ``usageMetadata``. A turn whose prompt makes
the tool rule call a declared function (see ``_answers``) answers ``toolCall`` instead; the
client's ``toolResponse`` then gets a text turn describing the result. With
``responseModalities: ["AUDIO"]`` model turns carry PCM audio (``audio/pcm;rate=24000``) and, if
asked, ``outputTranscription``. ``sessionResumption`` in the setup adds a
``sessionResumptionUpdate`` after each turn. ``Emulator.live_go_away()`` makes open sessions send
``goAway`` after each turn (the session stays open; clients are expected to reconnect).

The framing is the ``websockets`` package's sans-I/O protocol (a google-genai dependency), so
masking, fragmentation, ping/pong and closing follow RFC 6455; this module only speaks JSON.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
from collections.abc import Callable
from typing import Any
from typing import Protocol as _Protocol

from golden_path.emulator import _answers, _calls, _catalogue

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE_BYTES = 16 * 1024 * 1024

GEMINI_LIVE = re.compile(
    r"^/ws/google\.ai\.generativelanguage\.(v1|v1beta|v1alpha)\.GenerativeService\."
    r"(BidiGenerateContent|BidiGenerateContentConstrained|BidiGenerateMusic)$"
)
VERTEX_LIVE = re.compile(
    r"^/ws/google\.cloud\.aiplatform\.(v1|v1beta1)\.LlmBidiService/BidiGenerateContent$"
)
_POLICY_VIOLATION = 1008
_NORMAL_CLOSURE = 1000
_AUDIO_RATE = _answers.SPEECH_RATE


class GoAway:
    """How many open sessions should still be told to go away (``Emulator.live_go_away``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._time_left_s: float | None = None

    def request(self, time_left_s: float) -> None:
        """Every session sends ``goAway`` after its next turn, then closes."""
        with self._lock:
            self._time_left_s = time_left_s

    def pending(self) -> float | None:
        """The time left to announce, or None when no goAway is asked for."""
        with self._lock:
            return self._time_left_s

    def clear(self) -> None:
        """Stop asking sessions to go away."""
        with self._lock:
            self._time_left_s = None


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value for a client's ``Sec-WebSocket-Key`` (RFC 6455)."""
    digest = hashlib.sha1((key + _GUID).encode(), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode()


class Session:
    """The conversation of one Live websocket; pure: messages in, messages out."""

    def __init__(self, *, vertex: bool) -> None:
        self.vertex = vertex
        self.setup: dict[str, Any] | None = None
        self.model = ""
        self.history: list[dict[str, Any]] = []
        self.audio_bytes = 0
        self.closed_reason: str | None = None
        self.pending_calls: dict[str, str] = {}

    def receive(self, message: Any) -> list[dict[str, Any]]:  # noqa: PLR0911 -- one per kind
        """Answer one client message; sets ``closed_reason`` when the session must end."""
        from golden_path.emulator._gemini import camel_keys

        # Google's parser takes proto names in either spelling; the SDK sends snake_case here.
        message = camel_keys(message)
        if not isinstance(message, dict) or len(message) != 1:
            return self._fail("Each client message must be a JSON object with exactly one field.")
        kind, value = next(iter(message.items()))
        if self.setup is None:
            if kind != "setup":
                return self._fail("The first message must be setup.")
            return self._setup(value)
        if not isinstance(value, dict):
            return self._fail(f"{kind} must be an object.")
        if kind == "setup":
            return self._fail("setup may only be sent once.")
        if kind == "clientContent":
            return self._client_content(value)
        if kind == "realtimeInput":
            return self._realtime(value)
        if kind == "toolResponse":
            return self._tool_response(value)
        if kind == "contextUpdate":
            return []
        return self._fail(
            f'Invalid JSON payload received. Unknown name "{kind}": Cannot find field.'
        )

    def _fail(self, reason: str) -> list[dict[str, Any]]:
        self.closed_reason = reason[:120]  # close reasons are limited to 123 bytes
        return []

    def _setup(self, value: Any) -> list[dict[str, Any]]:
        if not isinstance(value, dict) or not isinstance(value.get("model"), str):
            return self._fail("setup.model is required.")
        model = value["model"]
        bare = model.rsplit("/", 1)[-1]
        if not _catalogue.is_served(bare):
            return self._fail(f"{model} is not found for bidiGenerateContent.")
        self.setup = value
        self.model = bare
        return [{"setupComplete": {"sessionId": secrets.token_hex(8)} if self.vertex else {}}]

    def _config(self) -> dict[str, Any]:
        return _answers.as_dict(_answers.as_dict(self.setup).get("generationConfig"))

    def _client_content(self, value: dict[str, Any]) -> list[dict[str, Any]]:
        turns = value.get("turns")
        if turns is not None and not isinstance(turns, list):
            return self._fail("clientContent.turns must be a list.")
        self.history += [t for t in turns or [] if isinstance(t, dict)]
        if value.get("turnComplete") is not True:
            return []
        return self._turn()

    def _realtime(self, value: dict[str, Any]) -> list[dict[str, Any]]:
        if isinstance(value.get("text"), str):
            self.history.append({"role": "user", "parts": [{"text": value["text"]}]})
            return self._turn()
        blobs = [_answers.as_dict(value.get(k)) for k in ("audio", "video", "media")]
        blobs += [_answers.as_dict(c) for c in _answers.as_list(value.get("mediaChunks"))]
        for blob in blobs:
            if "data" in blob:
                try:
                    self.audio_bytes += len(base64.b64decode(blob["data"], validate=True))
                except (TypeError, ValueError):
                    return self._fail("realtimeInput media data must be base64.")
        if value.get("audioStreamEnd") is True or "activityEnd" in value:
            heard = f"[{self.audio_bytes} bytes of audio]"
            self.audio_bytes = 0
            self.history.append({"role": "user", "parts": [{"text": heard}]})
            return self._turn()
        return []

    def _tool_response(self, value: dict[str, Any]) -> list[dict[str, Any]]:
        responses = [
            r for r in _answers.as_list(value.get("functionResponses")) if isinstance(r, dict)
        ]
        if not responses:
            return self._fail("toolResponse.functionResponses must list at least one response.")
        for response in responses:
            if self.pending_calls and response.get("id") not in self.pending_calls:
                return self._fail(f"No pending function call has id {response.get('id')!r}.")
        self.pending_calls.clear()
        self.history.append({"role": "user", "parts": [{"functionResponse": r} for r in responses]})
        return self._model_turn(_calls.describe_results(self.history) or "")

    def _turn(self) -> list[dict[str, Any]]:
        from golden_path.emulator._gemini import function_calls

        setup = _answers.as_dict(self.setup)
        calls = function_calls({"tools": setup.get("tools"), "contents": self.history})
        if calls:
            calls = [{"id": f"function-call-{secrets.token_hex(8)}", **call} for call in calls]
            self.pending_calls.update((call["id"], call["name"]) for call in calls)
            # The history keeps the calls, so the answer to their responses names the arguments.
            self.history.append({"role": "model", "parts": [{"functionCall": c} for c in calls]})
            return [{"toolCall": {"functionCalls": calls}}]
        return self._model_turn(_answers.echo(_answers.last_user_text(self.history)))

    def _model_turn(self, text: str) -> list[dict[str, Any]]:
        self.history.append({"role": "model", "parts": [{"text": text}]})
        config = self._config()
        modalities = [str(m).upper() for m in _answers.as_list(config.get("responseModalities"))]
        messages: list[dict[str, Any]] = []
        if "AUDIO" in modalities:
            pcm = _answers.speech_pcm(text)
            messages.append({"serverContent": {"modelTurn": {"parts": [
                {"inlineData": {"mimeType": f"audio/pcm;rate={_AUDIO_RATE}",
                                "data": base64.b64encode(pcm).decode()}}
            ]}}})  # fmt: skip
            if "outputAudioTranscription" in _answers.as_dict(self.setup):
                messages.append({"serverContent": {"outputTranscription": {"text": text}}})
        else:
            messages += [
                {"serverContent": {"modelTurn": {"parts": [{"text": piece}]}}}
                for piece in _answers.split_text(text)
            ]
        prompt = _answers.estimate_tokens(
            "".join(" ".join(_answers.content_texts(c)) for c in self.history[:-1])
        )
        response = _answers.estimate_tokens(text)
        messages.append({"serverContent": {"generationComplete": True}})
        messages.append(
            {
                "serverContent": {"turnComplete": True},
                "usageMetadata": {
                    "promptTokenCount": prompt,
                    "responseTokenCount": response,
                    "totalTokenCount": prompt + response,
                    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
                    "responseTokensDetails": [
                        {"modality": "AUDIO" if "AUDIO" in modalities else "TEXT",
                         "tokenCount": response}
                    ],
                },
            }
        )  # fmt: skip
        if "sessionResumption" in _answers.as_dict(self.setup):
            messages.append(
                {"sessionResumptionUpdate": {"newHandle": secrets.token_hex(12), "resumable": True}}
            )
        return messages


class Conversation(_Protocol):
    """What :func:`run` drives: a Live session, or a Live Interaction (``_interactions``)."""

    closed_reason: str | None

    def receive(self, message: Any) -> list[dict[str, Any]]: ...


class _Readable(_Protocol):
    def read1(self, size: int = -1, /) -> bytes: ...


def run(
    session: Conversation,
    rfile: _Readable,
    write: Callable[[bytes], None],
    *,
    on_message: Callable[[Any], None],
    go_away: GoAway,
) -> None:
    """Drive ``session`` over an accepted websocket until either side closes."""
    from websockets.frames import Frame, Opcode
    from websockets.protocol import Protocol, Side, State

    protocol = Protocol(Side.SERVER, max_size=MAX_MESSAGE_BYTES)
    fragments: list[bytes] = []

    def flush() -> None:
        for data in protocol.data_to_send():
            if data:
                write(data)

    def handle(payload: bytes) -> bool:
        try:
            message = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            message = None
            session.closed_reason = "Invalid JSON payload received."
        on_message(message)
        replies = session.receive(message) if message is not None else []
        if protocol.state is not State.OPEN:
            # The client closed right after this message (a cancel): nothing more can be sent,
            # but the messages that came before its close are still read (and recorded).
            return True
        for reply in replies:
            protocol.send_text(json.dumps(reply).encode())
        if session.closed_reason is not None:
            protocol.send_close(_POLICY_VIOLATION, session.closed_reason)
            flush()
            return False
        if getattr(session, "finished", False):
            protocol.send_close(_NORMAL_CLOSURE, "")
            flush()
            return False
        left = go_away.pending()
        if left is not None and any(
            r.get("serverContent", {}).get("turnComplete") for r in replies
        ):
            # Google keeps the session open for timeLeft; the client should reconnect.
            protocol.send_text(json.dumps({"goAway": {"timeLeft": f"{left:g}s"}}).encode())
        flush()
        return True

    while protocol.state is not State.CLOSED:
        data = rfile.read1(65536)
        if not data:
            protocol.receive_eof()
            flush()
            break
        protocol.receive_data(data)
        for frame in protocol.events_received():
            if not isinstance(frame, Frame):  # a server protocol receives frames only
                continue
            if frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                fragments.append(bytes(frame.data))
                if not frame.fin:
                    continue
                payload, fragments = b"".join(fragments), []
                if not handle(payload):
                    return
        flush()
        if protocol.state is State.CLOSING and protocol.close_rcvd is not None:
            break
