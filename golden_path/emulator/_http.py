"""The emulator's small vocabulary for HTTP: what came in, what goes out, Google's error shape."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from typing import Any

JSON_TYPE = "application/json; charset=UTF-8"
SSE_TYPE = "text/event-stream"

# Google's canonical status for each HTTP code the emulator answers with.
CANONICAL_STATUS: Mapping[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    411: "LENGTH_REQUIRED",
    413: "PAYLOAD_TOO_LARGE",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

DEFAULT_MESSAGES: Mapping[int, str] = {
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    502: "The service is currently unavailable.",
    503: "The model is overloaded. Please try again later.",
    504: "The request timed out. Please try again.",
}


@dataclasses.dataclass(frozen=True, slots=True)
class Incoming:
    """A request, read and decoded once so every route sees the same thing."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw_body: bytes
    body: Any
    json_error: str | None
    """Why ``raw_body`` is not JSON (None when it is, or when it is empty)."""
    scheme: str = "http"
    """``https`` when the request came over the emulator's TLS listener."""


@dataclasses.dataclass(frozen=True, slots=True)
class Reply:
    """What to send back: a plain body, a chunked stream of pre-framed events, or nothing."""

    status: int = 200
    body: bytes = b""
    content_type: str = JSON_TYPE
    headers: tuple[tuple[str, str], ...] = ()
    stream: Iterable[bytes] | None = None
    drop: bool = False
    """Close the connection without answering (a fault)."""
    live: Any = None
    """For an accepted websocket upgrade: the Live session to run (a ``_live.Session``)."""
    on_message: Any = None
    """Called with each client message of an accepted websocket (recording)."""


def json_reply(obj: Any, status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    """Answer ``obj`` as JSON."""
    return Reply(status=status, body=json.dumps(obj).encode(), headers=headers)


def google_error_body(
    code: int, message: str, *, status: str | None = None, details: Iterable[Any] = ()
) -> dict[str, Any]:
    """Build Google's error envelope, as every googleapis.com JSON API answers it."""
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "status": status or CANONICAL_STATUS.get(code, "UNKNOWN"),
    }
    listed = list(details)
    if listed:
        error["details"] = listed
    return {"error": error}


def google_error(
    code: int, message: str, *, status: str | None = None, details: Iterable[Any] = ()
) -> Reply:
    """Answer with a Google-shaped error."""
    return json_reply(google_error_body(code, message, status=status, details=details), code)


def error_info(reason: str, service: str, **metadata: str) -> dict[str, Any]:
    """Build a ``google.rpc.ErrorInfo`` detail, which clients match on ``reason``."""
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": service, **metadata},
    }


def retry_info(seconds: float) -> dict[str, Any]:
    """Build a ``google.rpc.RetryInfo`` detail; Google writes the delay as seconds plus "s"."""
    return {
        "@type": "type.googleapis.com/google.rpc.RetryInfo",
        "retryDelay": f"{seconds:g}s",
    }


def sse_event(obj: Any) -> bytes:
    """Frame one server-sent event; Google uses CRLF, which every client accepts."""
    payload = obj if isinstance(obj, str) else json.dumps(obj)
    return f"data: {payload}\r\n\r\n".encode()


@dataclasses.dataclass(frozen=True, slots=True)
class ModelCall:
    """A model API request after routing, authentication and fault selection."""

    incoming: Incoming
    backend: str
    """``gemini`` (Developer API) or ``vertex``; OpenAI-compatible calls keep their host's."""
    version: str
    model: str
    action: str
    project: str = ""
    location: str = ""
    script_body: Any = None
    script_status: int | None = None
    """Set when a scripted response replaces the computed answer."""
    stream_error_after: int | None = None
    """Set when a stream must break with an error event after this many chunks."""
    store: Any = None
    """The emulator's resource store (cached contents, files), for answers that read it."""

    @property
    def scripted(self) -> bool:
        """Whether a scripted response applies to this call."""
        return self.script_status is not None


def not_served(incoming: Incoming, row: str = "") -> Reply:
    """One clear line for a route the emulator does not serve, in Google's envelope.

    ``row`` names the route-table row the request calls, when it calls one.
    """
    what = f" ({row}, a row of golden-path's route table)" if row else ""
    return google_error(
        404,
        f"The golden-path emulator does not serve {incoming.method} {incoming.path}{what} "
        "(docs/testing.md lists the routes it emulates).",
    )


def front_end_404(incoming: Incoming, why: str) -> Reply:
    """Google's front end for a URL no API behind it serves: a non-JSON 404 page, one line."""
    line = f"Error 404 (Not Found): the requested URL {incoming.path} was not found on this server"
    return Reply(status=404, body=f"{line} ({why}).\n".encode(), content_type="text/html")
