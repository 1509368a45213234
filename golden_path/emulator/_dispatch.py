"""From a decoded request to a reply: routing, authentication, recording, latency and faults."""

from __future__ import annotations

import collections
import dataclasses
import functools
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from golden_path._routes import Route, UnsafePath
from golden_path._routes import match as match_route
from golden_path.emulator import _gemini, _interactions, _jobs, _live, _openai, _resources
from golden_path.emulator._faults import MALFORMED_BODY, Fault, Faults
from golden_path.emulator._http import (
    DEFAULT_MESSAGES,
    Incoming,
    ModelCall,
    Reply,
    error_info,
    front_end_404,
    google_error,
    not_served,
    retry_info,
)
from golden_path.emulator._oauth import Authority, unauthenticated
from golden_path.emulator._records import MODEL_API_KINDS, RecordedRequest, RequestKind

_GEMINI = re.compile(r"^/(v1|v1beta|v1alpha)/models(?:/([^/:]+))?(?::([A-Za-z]+))?$")
_VERTEX_PROJECT = re.compile(
    r"^/(v1|v1beta1)/projects/([^/]+)/locations/([^/]+)/publishers/([a-z0-9-]+)/models/([^/:]+)"
    r":([A-Za-z]+)$"
)
"""Google's models and partners' (Model Garden MaaS: ``publishers/meta/models/llama-...``)."""
_VERTEX_ENDPOINT = re.compile(
    r"^/(v1|v1beta1)/projects/([^/]+)/locations/([^/]+)/endpoints/([0-9]+)"
    r":(generateContent|streamGenerateContent|countTokens)$"
)
"""A deployed model's endpoint (what a finished tuning job names in ``tunedModel.endpoint``)."""
_VERTEX_PUBLISHER = re.compile(
    r"^/(v1|v1beta1)/publishers/google/models(?:/([^/:]+))?(?::([A-Za-z]+))?$"
)
_GEMINI_OPENAI = re.compile(
    r"^/(v1beta)/openai/(chat/completions|embeddings|images/generations|models|responses)(?:/(.+))?$"
)
_VERTEX_OPENAI = re.compile(
    r"^/(v1|v1beta1)/projects/([^/]+)/locations/([^/]+)/endpoints/openapi/"
    r"(chat/completions|embeddings|images/generations|models|responses)(?:/(.+))?$"
)
_IAM = re.compile(r"^/v1/projects/-/serviceAccounts/([^/]+):generateAccessToken$")
_TOKEN_PATHS = frozenset({"/token", "/v1/token"})
_RESOURCE_ROUTES = _resources.ROUTES + _jobs.ROUTES + _interactions.ROUTES
"""Stateful routes, matched before the model methods (batch and video actions included)."""

_NOT_SERVED = b"golden-path emulator does not serve"
MAX_RECORDS = 100_000
"""Only the latest requests are kept, so a long-running ``golden-path emulator`` stays small."""

_GEMINI_SERVICE = "generativelanguage.googleapis.com"
_VERTEX_SERVICE = "aiplatform.googleapis.com"


class State:
    """The emulator's mutable state, shared by every serving thread."""

    def __init__(self, api_keys: Iterable[str] | None, token_lifetime_s: int) -> None:
        self.authority = Authority(token_lifetime_s)
        self.faults = Faults()
        self.store = _resources.Store()
        self.go_away = _live.GoAway()
        self._lock = threading.Lock()
        self._accept_any_key = api_keys is None
        self._keys = set(api_keys or ())
        self._records: collections.deque[RecordedRequest] = collections.deque(maxlen=MAX_RECORDS)

    def add_api_key(self, key: str) -> None:
        """Accept ``key`` from now on."""
        with self._lock:
            self._keys.add(key)

    def accepts_key(self, key: str) -> bool:
        """Whether ``key`` authenticates (any non-empty key when no keys were configured)."""
        with self._lock:
            return bool(key) and (self._accept_any_key or key in self._keys)

    def record(self, request: RecordedRequest) -> None:
        """Remember one request."""
        with self._lock:
            self._records.append(request)

    def records(self) -> list[RecordedRequest]:
        """Return a snapshot of every request so far."""
        with self._lock:
            return list(self._records)

    def clear_records(self) -> None:
        """Forget the requests seen so far."""
        with self._lock:
            self._records.clear()


class _Recorder:
    """Records a request once, as soon as its kind and principal are known."""

    def __init__(self, state: State, incoming: Incoming, received: float) -> None:
        self._state, self._incoming, self._received = state, incoming, received
        self._done = False

    def __call__(self, kind: RequestKind, principal: str | None, body: Any = None) -> None:
        if self._done:
            return
        self._done = True
        i = self._incoming
        self._state.record(
            RecordedRequest(
                method=i.method, path=i.path, query=dict(i.query), headers=dict(i.headers),
                body=i.body if body is None else body, raw_body=i.raw_body, time=self._received,
                principal=principal, kind=kind,
            )
        )  # fmt: skip


def dispatch(state: State, incoming: Incoming, received: float) -> Reply:
    """Answer ``incoming``; the request is recorded before the reply is returned."""
    record = _Recorder(state, incoming, received)
    try:
        return _route(state, incoming, record)
    finally:
        record("other", None)


def _route(state: State, incoming: Incoming, record: _Recorder) -> Reply:
    path = incoming.path
    if path in _TOKEN_PATHS:
        record("oauth", None)
        return state.authority.token_endpoint(incoming)
    if m := _IAM.match(path):
        if incoming.method != "POST":
            return google_error(404, "Method not found.")
        reply, source = state.authority.generate_access_token(incoming, m[1])
        record("oauth", source)
        return reply
    # The API surface is golden-path's route table: what no row names is not served, and a
    # row with no handler below answers the same clear line, naming the row.
    row = _row(incoming)
    if row is None:
        return not_served(incoming)
    served = _serve(state, incoming, record)
    if served is None or (served.status == 404 and _NOT_SERVED in served.body):
        return _unserved(incoming, row)
    return served


def _unserved(incoming: Incoming, row: Route) -> Reply:
    """The answer for a row no handler serves: Vertex's own 404 where Vertex has no such path."""
    if lacking := _collection_vertex_lacks(incoming.path, row):
        # The table shares templates between backends (tunedModels/{model} is models.get on
        # the Gemini API); under a Vertex project Google's front end has no such collection.
        return front_end_404(incoming, f"Vertex AI has no {lacking} collection")
    return not_served(incoming, row.name)


_PROJECT_PATH = re.compile(r"^/v1[a-z0-9]*/projects/[^/]+/locations/[^/]+/([^/:]+)")


def _collection_vertex_lacks(path: str, row: Route) -> str | None:
    """The collection a Vertex project ``path`` names that none of ``row``'s Vertex paths has."""
    found = _PROJECT_PATH.match(path)
    if found is None:
        return None
    collections = {t.split("/", 1)[0].split(":", 1)[0] for t in row.vertex}
    if found[1] in collections or any(c.startswith("{") for c in collections):
        return None
    return found[1]


def _row(incoming: Incoming) -> Route | None:
    """The route-table row ``incoming`` calls, or None (no row, or a path that is not plain)."""
    method = "WS" if incoming.path.startswith("/ws/") else incoming.method
    try:
        found = match_route(method, incoming.path)
    except UnsafePath:
        return None
    return found.route if found is not None else None


def _serve(  # noqa: PLR0911 -- a router: one return per route
    state: State, incoming: Incoming, record: _Recorder
) -> Reply | None:
    """The handler's reply for a request the route table knows; None when none emulates it."""
    path = incoming.path
    if path.startswith("/ws/"):
        return _websocket(state, incoming, record)
    if _interactions.LIVE_PATH.match(path):
        return _live_interaction(state, incoming, record)
    if found := _resources.match(incoming, _base_url(incoming), _RESOURCE_ROUTES):
        return _resource_call(state, found, incoming, record)
    if m := _GEMINI.match(path):
        call = ModelCall(incoming, "gemini", m[1], m[2] or "", m[3] or "")
        return _model_call(state, call, record, "gemini", _key_auth(state, _GEMINI_SERVICE))
    if m := _VERTEX_PROJECT.match(path):
        model = m[5] if m[4] == "google" else f"{m[4]}/{m[5]}"
        call = ModelCall(incoming, "vertex", m[1], model, m[6], m[2], m[3])
        return _model_call(state, call, record, "vertex", _bearer_auth(state, _VERTEX_SERVICE))
    if m := _VERTEX_ENDPOINT.match(path):
        name = f"projects/{m[2]}/locations/{m[3]}/endpoints/{m[4]}"
        model = _jobs.endpoint_model(state.store, name)
        if model is None:
            auth = _bearer_auth(state, _VERTEX_SERVICE)
            principal = auth(incoming)
            record("vertex", None if isinstance(principal, Reply) else principal)
            return principal if isinstance(principal, Reply) else _endpoint_missing(name)
        call = ModelCall(incoming, "vertex", m[1], model, m[5], m[2], m[3])
        return _model_call(state, call, record, "vertex", _bearer_auth(state, _VERTEX_SERVICE))
    if m := _VERTEX_PUBLISHER.match(path):
        call = ModelCall(incoming, "vertex", m[1], m[2] or "", m[3] or "")
        auth = _key_auth(state, _VERTEX_SERVICE, missing=401)
        return _model_call(state, call, record, "vertex", auth)
    if m := _GEMINI_OPENAI.match(path):
        call = _openai.call_for(incoming, "gemini", m[1], m[2], m[3] or "")
        auth = _key_auth(state, _GEMINI_SERVICE, bearer_is_key=True)
        return _openai.as_openai_error(_model_call(state, call, record, "openai", auth))
    if m := _VERTEX_OPENAI.match(path):
        call = _openai.call_for(
            incoming, "vertex", m[1], m[4], m[5] or "", project=m[2], location=m[3]
        )
        auth = _bearer_auth(state, _VERTEX_SERVICE)
        return _openai.as_openai_error(_model_call(state, call, record, "openai", auth))
    return None


def _endpoint_missing(name: str) -> Reply:
    return google_error(404, f'The Endpoint "{name}" does not exist.')


def _websocket(state: State, incoming: Incoming, record: _Recorder) -> Reply | None:
    """Authenticate a Live API upgrade; the reply carries the session to run, or an error."""
    upgrade = incoming.headers.get("upgrade", "").lower() == "websocket"
    key = incoming.headers.get("sec-websocket-key", "")
    gemini = _live.GEMINI_LIVE.match(incoming.path)
    vertex = _live.VERTEX_LIVE.match(incoming.path)
    if (gemini is None and vertex is None) or (
        gemini is not None and gemini[2] == "BidiGenerateMusic"
    ):
        return None
    if not upgrade or not key or incoming.method != "GET":
        record("vertex" if vertex else "gemini", None)
        return google_error(400, "The Live API is a websocket: send an Upgrade: websocket GET.")
    kind: RequestKind = "vertex" if vertex else "gemini"
    if vertex is not None:
        principal: str | Reply = _bearer_auth(state, _VERTEX_SERVICE)(incoming)
    elif gemini is not None and gemini[2] == "BidiGenerateContentConstrained":
        principal = _ephemeral_auth(state, incoming)
    else:
        principal = _key_auth(state, _GEMINI_SERVICE)(incoming)
    if isinstance(principal, Reply):
        record(kind, None)
        return principal
    messages: list[Any] = []
    record(kind, principal, body=messages)
    accept = _live.accept_key(key)
    return Reply(
        status=101,
        headers=(
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept),
        ),
        live=_live.Session(vertex=vertex is not None),
        on_message=messages.append,
    )


def _live_interaction(state: State, incoming: Incoming, record: _Recorder) -> Reply:
    """A Live Interactions upgrade: an API key, or an auth token minted for one interaction."""
    if incoming.headers.get("upgrade", "").lower() != "websocket" or incoming.method != "GET":
        record("gemini", None)
        return google_error(
            400, "Live Interactions is a websocket: send an Upgrade: websocket GET."
        )
    key = incoming.headers.get("x-goog-api-key", "")
    only = ""
    if key.startswith("auth_tokens/"):
        found = _interactions.token_interaction(state.store, key)
        if found is None:
            record("gemini", None)
            return unauthenticated("ACCESS_TOKEN_EXPIRED", _GEMINI_SERVICE)
        principal: str | Reply = f"auth_token:{key}"
        only = found
    else:
        principal = _key_auth(state, _GEMINI_SERVICE)(incoming)
    if isinstance(principal, Reply):
        record("gemini", None)
        return principal
    messages: list[Any] = []
    record("gemini", principal, body=messages)
    return Reply(
        status=101,
        headers=(
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            (
                "Sec-WebSocket-Accept",
                _live.accept_key(incoming.headers.get("sec-websocket-key", "")),
            ),
        ),
        live=_interactions.LiveInteraction(state.store, only=only),
        on_message=messages.append,
    )


def _ephemeral_auth(state: State, incoming: Incoming) -> str | Reply:
    scheme, _, token = incoming.headers.get("authorization", "").partition(" ")
    token = token.strip() if scheme.lower() == "token" else incoming.query.get("access_token", "")
    with state.store.lock:
        found = state.store.auth_tokens.get(token)
        if found is not None:
            uses = found.get("uses", 1)
            if isinstance(uses, int) and uses > 0:
                found["uses"] = uses - 1
                return f"auth_token:{token}"
    return unauthenticated("ACCESS_TOKEN_TYPE_UNSUPPORTED", _GEMINI_SERVICE)


def _base_url(incoming: Incoming) -> str:
    """The scheme and authority the client used, for URLs the emulator hands out."""
    host = incoming.headers.get("host", "127.0.0.1")
    return f"{incoming.scheme}://{host}"


def _api_key_only(incoming: Incoming) -> bool:
    headers = incoming.headers
    has_key = "x-goog-api-key" in headers or "key" in incoming.query
    return has_key and "authorization" not in headers


def _resource_call(
    state: State,
    found: tuple[str, _resources.Where, _resources.Route, re.Match[str]],
    incoming: Incoming,
    record: _Recorder,
) -> Reply:
    backend, where, route, hit = found
    if backend == "vertex" and _api_key_only(incoming):
        # An API key on a project path comes from a Gemini API client: that host has no such
        # paths, and its front end answers 404 (Vertex AI takes no API keys on them).
        record("gemini", None)
        return front_end_404(incoming, "the Gemini API has no project resources")
    if backend == "vertex":
        auth = _bearer_auth(state, _VERTEX_SERVICE)
    else:
        auth = _key_auth(state, _GEMINI_SERVICE)
    kind: RequestKind = "vertex" if backend == "vertex" else "gemini"
    # An upload URL is its own credential (Google's resumable protocol): chunks carry no key.
    session = state.store.upload_principal(incoming.query.get("upload_id"))
    principal = session if session is not None else auth(incoming)
    if isinstance(principal, Reply):
        record(kind, None)
        return principal
    record(kind, principal)
    latency = state.faults.latency_s
    if latency:
        time.sleep(latency)
    fault = state.faults.take(generation=False, stream=False, model="")
    if fault is not None and fault.kind in ("drop", "malformed", "fail"):
        call = ModelCall(incoming, backend, where.version, "", "")
        return _apply(fault, call, lambda c: google_error(500, "unreachable"))
    reply = route.handler(state.store, where, incoming, hit)
    state.store.remember_upload_principal(reply, principal)
    return reply


Authenticator = Callable[[Incoming], "str | Reply"]


def _key_auth(
    state: State, service: str, *, missing: int = 403, bearer_is_key: bool = False
) -> Authenticator:
    """Accept an API key (header or ``?key=``) or an issued Bearer token.

    OpenAI clients send the API key as the Bearer value, hence ``bearer_is_key``.
    """

    def authenticate(incoming: Incoming) -> str | Reply:
        key = incoming.headers.get("x-goog-api-key") or incoming.query.get("key", "")
        scheme, _, bearer = incoming.headers.get("authorization", "").partition(" ")
        bearer = bearer.strip() if scheme.lower() == "bearer" else ""
        if not key and bearer:
            checked = state.authority.check_token(bearer)
            if not isinstance(checked, str):
                return checked.subject
            if not bearer_is_key:
                return unauthenticated(checked, service)
            key = bearer
        if key:
            return f"api_key:{key}" if state.accepts_key(key) else _invalid_key(service)
        if missing == 401:
            return unauthenticated("CREDENTIALS_MISSING", service)
        return google_error(
            403,
            "Method doesn't allow unregistered callers (callers without established identity). "
            "Please use API Key or other form of API consumer identity to call this API.",
        )

    return authenticate


def _bearer_auth(state: State, service: str) -> Authenticator:
    def authenticate(incoming: Incoming) -> str | Reply:
        checked = state.authority.bearer(incoming, service)
        return checked if isinstance(checked, Reply) else checked.subject

    return authenticate


def _invalid_key(service: str) -> Reply:
    message = "API key not valid. Please pass a valid API key."
    localized = {
        "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
        "locale": "en-US",
        "message": message,
    }
    return google_error(400, message, details=[error_info("API_KEY_INVALID", service), localized])


def _model_call(
    state: State, call: ModelCall, record: _Recorder, kind: RequestKind, auth: Authenticator
) -> Reply:
    principal = auth(call.incoming)
    if isinstance(principal, Reply):
        record(kind, None)
        return principal
    record(kind, principal)
    if kind not in MODEL_API_KINDS:  # pragma: no cover - every caller passes a model kind
        raise AssertionError(kind)
    latency = state.faults.latency_s
    if latency:
        time.sleep(latency)
    call = dataclasses.replace(call, store=state.store)
    handler: Callable[[ModelCall], Reply] = _openai.handle if kind == "openai" else _gemini.handle
    if kind != "openai" and (
        call.action in _jobs.MODEL_ACTIONS
        or (call.action == "predict" and _jobs.is_image_model(call.model))
    ):
        handler = functools.partial(_jobs.handle_model_action, store=state.store)
    generation = call.action in _gemini.GENERATION_ACTIONS or call.action == "chat/completions"
    stream = call.action in _gemini.STREAM_ACTIONS or (
        call.action == "chat/completions" and _openai.wants_stream(call.incoming)
    )
    fault = state.faults.take(generation=generation, stream=stream, model=call.model)
    if fault is None:
        return handler(call)
    return _apply(fault, call, handler)


def _apply(fault: Fault, call: ModelCall, handler: Callable[[ModelCall], Reply]) -> Reply:
    if fault.kind == "drop":
        return Reply(drop=True)
    if fault.kind == "malformed":
        return Reply(body=MALFORMED_BODY)
    if fault.kind == "script":
        script: Any = fault.body
        return handler(_replace(call, script_body=script, script_status=fault.status))
    if fault.kind == "stream_error":
        return handler(_replace(call, stream_error_after=fault.chunks))
    return _failure(fault, call)


def _failure(fault: Fault, call: ModelCall) -> Reply:
    status = fault.status
    message = fault.message or DEFAULT_MESSAGES.get(status, f"Injected failure ({status}).")
    details: list[dict[str, Any]] = []
    delay = fault.retry_delay_s
    if status == 429:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": f"{_GEMINI_SERVICE}/generate_content_requests",
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
                        "quotaDimensions": {"location": "global", "model": call.model},
                        "quotaValue": "10",
                    }
                ],
            }
        )
        delay = 1.0 if delay is None else delay
    if delay is not None:
        details.append(retry_info(delay))
    reply = google_error(status, message, details=details)
    if delay is not None:
        reply = Reply(
            status=reply.status, body=reply.body, headers=(("retry-after", f"{delay:g}"),)
        )
    return reply


def _replace(call: ModelCall, **changes: Any) -> ModelCall:
    return dataclasses.replace(call, **changes)
