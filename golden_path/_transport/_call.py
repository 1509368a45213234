"""The call lifecycle: policies, then the wire, then audit, for one request.

One :class:`Call` follows one HTTP request from start to end and writes exactly one audit
event, whichever way the request ends: sent and answered, denied, failed, cut mid-stream or
abandoned by the caller.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import math
import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx2

from golden_path._json import dumps
from golden_path._model import (
    BODY_DECODED,
    BODY_PROBLEM,
    INSERT_EVENTS,
    UNSAFE_PATH,
    GenAIRequest,
    GenAIResponse,
    Identity,
    Usage,
    usage_from,
)
from golden_path._prices import PriceCatalog, billed_units, request_cost_parts
from golden_path._routes import Route, classify, normalize_model
from golden_path._transport._credentials import Endpoint
from golden_path._transport._decode import (
    JSONArrayParser,
    SSEParser,
    decode,
    google_status,
    parse_json,
    stream_parser,
)
from golden_path.audit._events import Outcome
from golden_path.audit._sinks import Auditor
from golden_path.exceptions import AuditUnavailable, PolicyViolation
from golden_path.policies._chain import Chain
from golden_path.policies._routing import with_route_gate

__all__ = ["REQUEST_ID_HEADER", "Call", "ContentHook", "Pipeline"]

REQUEST_ID_HEADER = "x-golden-path-request-id"
# (request, response, the parsed stream events or None) -> the audit event's ``content``.
ContentHook = Callable[
    [GenAIRequest, GenAIResponse | None, list[Any] | None], dict[str, Any] | None
]
# Stream events kept for content capture (the captured text itself is capped much lower).
_MAX_KEPT_EVENTS = 4096
# The answers the route gate reads itself: an upload's file, an interaction created or read
# (streamed too), which later requests on it are judged by.
_GATE_READS = frozenset({"files.upload", "interactions.create", "interactions.get"})
_DONE = b"data: [DONE]\n\n"
_DEFAULT_PORTS = {"https": 443, "http": 80}


class Pipeline:
    """What every request of one client shares: who it is, its policies and its audit sinks."""

    def __init__(
        self,
        *,
        identity: Identity,
        chain: Chain,
        auditor: Auditor,
        sdk_version: str,
        version: str,
        user_agent_tokens: str,
        content: ContentHook | None = None,
        audit_required: bool = False,
        prices: PriceCatalog | None = None,
        endpoint: str | None = None,
    ) -> None:
        self.identity = identity
        self.audit_required = audit_required
        self.prices = prices
        self.chain = with_route_gate(chain)
        # Where credentials may go: the endpoint plus the platform's [routes] origins.
        self.endpoint = (
            Endpoint(endpoint, self.chain.policies[0].origins) if endpoint is not None else None
        )
        self.auditor = auditor
        self.sdk_version = sdk_version
        self.version = version
        self.client_id = identity.client_id
        # The audit event's server address and port, of the last URL seen (see server).
        self._server: tuple[httpx2.URL | None, tuple[str | None, int | None]] = (None, (None, None))
        self.user_agent_tokens = user_agent_tokens
        self.content = content
        self._identified: dict[tuple[str, str], tuple[str, str]] = {}
        # Whether a policy reads what comes back. The route gate (first) reads only the answer
        # to a file upload; with no other reader and no audit, answers need not be parsed.
        # A policy whose after-hooks are switched off says so (``reads_responses = False``:
        # [pii] with responses = "off").
        readers = [
            p
            for p in self.chain.policies[1:]
            if getattr(p, "reads_responses", True)
            and any(hasattr(p, name) for name in ("on_response", "on_chunk", "on_error"))
        ]
        self._hooks_read_answers = bool(readers)
        # A policy that reads only usage, status and counts says so (``reads_usage_only``:
        # the limiter); with no other reader, orjson's faster parse reads answers the same.
        self._exact_readers = any(not getattr(p, "reads_usage_only", False) for p in readers)

    def reads_answers(self, route: Route | None) -> bool:
        """Whether anyone reads what comes back for ``route``: policies, audit, content capture.

        Asked per call: an app may add an audit sink process-wide at any time.
        """
        return (
            self._hooks_read_answers
            or bool(self.auditor.sinks)
            or self.content is not None
            or route is None
            or route.name in _GATE_READS
        )

    def usage_only(self, route: Route | None) -> bool:
        """Whether answers on ``route`` are read only for usage, status and tools.

        By the audit event and by policies that say so (``reads_usage_only``), never by a
        policy that may read or rewrite the body itself, nor by content capture.
        """
        return (
            not self._exact_readers
            and self.content is None
            and route is not None
            and route.name != "files.upload"
        )

    def server(self, url: httpx2.URL) -> tuple[str | None, int | None]:
        """``(server.address, server.port)`` of ``url``, for the audit event.

        The gateway sends every call of a model method with one URL object (parsed once per
        path), so the last one's answer is kept: three httpx2 properties less per event.
        """
        last, found = self._server
        if last is not url:
            found = (url.host or None, url.port or _DEFAULT_PORTS.get(url.scheme))
            self._server = (url, found)
        return found

    def start(self, request: httpx2.Request) -> Call:
        """Begin following one request."""
        return Call(self, request)

    def identified(self, sent: tuple[str, str]) -> tuple[str, str]:
        """``(x-goog-api-client, user-agent)`` as sent, with our identification ensured."""
        found = self._identified.get(sent)
        if found is None:
            api_client, user_agent = sent
            client_id = self.client_id
            if client_id not in api_client.split():
                api_client = f"{api_client} {client_id}".strip()
            if client_id not in user_agent.split():
                user_agent = f"{user_agent} {client_id}".strip()
            tokens = self.user_agent_tokens
            if tokens and tokens not in user_agent:
                user_agent = f"{user_agent} {tokens}"
            found = (api_client, user_agent)
            # The SDK sends the same few header values on every request; a bound keeps an app
            # that varies its user-agent per request from growing this without limit.
            if len(self._identified) < 256:
                self._identified[sent] = found
        return found


class Call:
    """One HTTP request from before it is sent until its audit event is written."""

    __slots__ = (
        "_done",
        "_events",
        "_held",
        "_http",
        "_inside",
        "_lock",
        "_mark",
        "_pending",
        "_sent",
        "_sse",
        "entered",
        "first_byte",
        "pipeline",
        "request",
        "response",
        "started",
        "tools_pending",
        "wall",
    )

    def __init__(self, pipeline: Pipeline, http: httpx2.Request) -> None:
        # The answer asks for a function call: the SDK may run a tool next (see _log).
        self.tools_pending = False
        # overhead_us: nanoseconds spent inside golden-path so far (closed stages), and when
        # the open stage began (0: none open, the call is waiting on the network or the app).
        self.started = time.perf_counter()
        self._mark = time.perf_counter_ns()
        self._inside = 0
        self.pipeline = pipeline
        self.wall = time.time()
        self.first_byte: float | None = None
        self.entered: list[Any] = []
        self.response: GenAIResponse | None = None
        self._done = False
        self._lock = threading.Lock()
        self._sse: SSEParser | JSONArrayParser | None = None
        # A streamed response's status and headers, whose stream_started waits until after
        # the first chunk. Not the response: it holds the stream, which must stay collectable.
        self._pending: tuple[int, httpx2.Headers] | None = None
        # A stream chunk already handed to the caller whose hooks have not run yet (see hold).
        self._held: bytes | None = None
        # Stream events kept for the audit content hook (GOLDEN_PATH_AUDIT_CONTENT), else None.
        self._events: list[Any] | None = [] if pipeline.content is not None else None
        self._http = http
        url = http.url
        raw_path, _, query = url.raw_path.decode("ascii", "replace").partition("?")
        wire = classify(http.method, raw_path, query)
        # The SDK's own request, headers and all: when no policy rewrites it, it is what is sent.
        headers = http.headers
        # What identification and decoding read, in one pass (see _headers_named).
        self._sent = _headers_named(headers, _READ)
        self.request = GenAIRequest(
            request_id=_request_id(),
            identity=pipeline.identity,
            method=http.method,
            url=url,
            headers=headers,
            raw=http.content,
            surface=wire.surface,
            api_method=wire.api_method,
            model=wire.model,
            stream=wire.stream,
            route=wire.route,
        )
        if wire.unsafe is not None:
            self.request.state[UNSAFE_PATH] = wire.unsafe
        route = wire.route
        if route is not None and route.body != "none" and http.content:
            _decode_request(self.request, self._sent.get(b"content-encoding", ""))
            if route.model_call and (wire.model is None or route.stream == "sse?"):
                _from_body(self.request, route)

    # ------------------------------------------------------------------ before sending

    def before(self) -> httpx2.Request:
        """Identify, run the request hooks, and build what goes on the wire.

        Raises PolicyViolation (with its audit event written) when a policy denies.
        """
        request = self.request
        self._identify(request.headers)
        self._pinned()
        try:
            if self.pipeline.audit_required:
                self._audit_ready()
            self.entered = self.pipeline.chain.before(request)
        except PolicyViolation as violation:
            self._finish("denied", error_type=type(violation).__name__)
            raise
        outgoing = self._outgoing()
        self._leave()
        return outgoing

    async def abefore(self) -> httpx2.Request:
        """:meth:`before` on an event loop: policies that wait for capacity await."""
        request = self.request
        self._identify(request.headers)
        self._pinned()
        try:
            if self.pipeline.audit_required:
                self._audit_ready()
            self.entered = await self.pipeline.chain.abefore(request)
        except PolicyViolation as violation:
            self._finish("denied", error_type=type(violation).__name__)
            raise
        except asyncio.CancelledError:
            self.cancelled()
            raise
        outgoing = self._outgoing()
        self._leave()
        return outgoing

    def _enter(self) -> None:
        # A stage of golden-path's own work begins (hooks, parsing, audit). One already open
        # (a hook raised mid-stage and the failure path took over) goes on.
        if not self._mark:
            self._mark = time.perf_counter_ns()

    def _leave(self) -> None:
        # The stage ends: what follows is the network's time or the caller's.
        if self._mark:
            self._inside += time.perf_counter_ns() - self._mark
            self._mark = 0

    def _audit_ready(self) -> None:
        # No audit, no call: a sink that cannot write now would lose this request's event.
        broken = self.pipeline.auditor.ready()
        if broken is None and not self.pipeline.auditor.sinks:
            broken = ("none", "no audit sink is configured")
        if broken is not None:
            sink, reason = broken
            raise AuditUnavailable(sink, reason, request_id=self.request.request_id)

    def _pinned(self) -> None:
        """Refuse, before any policy runs, a request for an origin credentials may not go to."""
        endpoint = self.pipeline.endpoint
        request = self.request
        if endpoint is None or endpoint.allows(request.url):
            return
        reason = endpoint.refusal(request.url)
        request.record("routes", "deny", reason)
        self._finish("denied", error_type="PolicyViolation")
        raise PolicyViolation("routes", reason, request_id=request.request_id)

    def _outgoing(self) -> httpx2.Request:
        request = self.request
        http = self._http
        if not request.modified and request.url is http.url and BODY_DECODED not in request.state:
            # Identification went into its headers in place; nothing else changed.
            return http
        # What the policies changed goes into the SDK's own request too, as identification
        # did: a new httpx2.Request copies and re-validates every header, about ten times
        # the cost of these assignments. Its extensions (the SDK's timeout) stay as they are.
        content = request.serialize()
        headers = request.headers
        if request.modified:
            _set_length(headers, len(content))
        http.method = request.method
        http.url = request.url
        http.headers = headers
        http.stream = httpx2.ByteStream(content)
        http._content = content  # what Request.read() caches; readers of .content see the sent body
        return http

    def _identify(self, headers: httpx2.Headers) -> None:
        # The SDK puts our client id after its own label; a per-request user-agent from app code
        # replaces it, so it is added back here, at send time, where app code cannot reach.
        found = self._sent
        sent = (found.get(_API_CLIENT_KEY, ""), found.get(_USER_AGENT_KEY, ""))
        api_client, user_agent = self.pipeline.identified(sent)
        if api_client != sent[0]:
            _put(headers, found, _API_CLIENT_KEY, api_client)
        if user_agent != sent[1]:
            _put(headers, found, _USER_AGENT_KEY, user_agent)
        # Replaces the caller's, every copy.
        _put(headers, found, _REQUEST_ID_KEY, self.request.request_id)

    # ------------------------------------------------------------------ after sending

    def response_headers(self, response: httpx2.Response) -> httpx2.Headers:
        """The server's headers plus our request id.

        An SDK APIError then carries it: ``err.response.headers["x-golden-path-request-id"]``.
        """
        # The inner response is discarded after this, so its headers are reused, not copied.
        headers = response.headers
        request_id = self.request.request_id
        if _REQUEST_ID_KEY in [key for _, key, _ in headers._list]:
            headers[REQUEST_ID_HEADER] = request_id  # the server's copy is replaced
        else:
            headers._list.append((_REQUEST_ID_KEY, _REQUEST_ID_KEY, request_id.encode()))
        return headers

    def streamed_in_place(
        self, response: httpx2.Response, stream: httpx2.SyncByteStream | httpx2.AsyncByteStream
    ) -> httpx2.Response:
        """Response headers of a streamed request arrived: the response itself is handed on.

        Its body becomes ``stream``, which runs the chunk hooks as the caller reads. The inner
        response is fresh from the pool (or the async wire) and read by no one else; a new
        ``httpx2.Response`` would copy its headers and check them again before the first chunk.
        """
        self._enter()
        self._stream_headers(response)
        response.stream = stream
        self._leave()
        return response

    def _stream_headers(self, response: httpx2.Response) -> httpx2.Headers:
        # What the caller must see on the response itself: our request id, and no encoding
        # or length when the events are sent again. Nothing else runs before the first chunk
        # can go out: the parser and the response record start with the first chunk's hooks
        # (see _started), which wait until the caller has that chunk when no policy rewrites.
        headers = self.response_headers(response)
        if self._rewrites():
            _plain(headers)  # events are sent again, decoded, as the policies left them
        self._pending = (response.status_code, headers)
        return headers

    def _started(self) -> None:
        """Run the :meth:`stream_started` a streamed response left for its first use."""
        pending = self._pending
        if pending is not None:
            self._pending = None
            self.stream_started(*pending)

    def read(self, response: httpx2.Response) -> httpx2.Response:
        """A complete response the transport has read (``read()``/``aread()``): hooks, audit.

        httpx2 decoded the body into ``response.content`` as it would for the SDK, so the
        same response is handed on: the SDK's own read returns those bytes, not a second
        copy through a new response. Only a body a policy rewrote goes out in a new one.
        """
        self._enter()
        content = response.content
        rewritten = self._buffered(response.status_code, response.headers, content, content)
        self.response_headers(response)
        return response if rewritten is None else _rebuilt(response, rewritten, True)

    def _rewrites(self) -> bool:
        return self.pipeline.chain.rewrites_responses and bool(self.entered)

    def _buffered(
        self, status: int, headers: httpx2.Headers, raw: bytes, content: bytes
    ) -> bytes | None:
        """Run the hooks and audit; the body to send instead, when a policy rewrote it.

        ``raw`` is the body as it came, ``content`` the same decompressed (empty when it
        did not decompress).
        """
        self.first_byte = time.perf_counter()
        pipeline = self.pipeline
        route = self.request.route
        parsed = pipeline.reads_answers(route)
        if parsed:
            # Read only for usage and status (by the audit event, the limiter; no content
            # capture): a faster parse reads the fields they need the same (see parse_json).
            body = parse_json(content, usage_only=pipeline.usage_only(route))
            self.tools_pending = _asks_for_tools(body)
        else:
            # No policy, sink or capture reads the answer: it is not parsed. Only whether it
            # asks for a function call matters (the log context waits for the tool).
            body = None
            if b"unctionCall" in content or b"unction_call" in content:
                self.tools_pending = _asks_for_tools(parse_json(content))
        response = GenAIResponse(
            status_code=status, headers=headers, body=body, usage=usage_from(body)
        )
        self.response = response
        self.pipeline.chain.after_response(self.entered, self.request, response)
        outcome: Outcome = "ok" if status < 400 else "error"
        error_type = None
        if status >= 400:
            error_type = google_status(body) or f"HTTP {status}"
        elif body is None and raw and parsed:
            outcome, error_type = "error", "MalformedResponse"
        self._finish(outcome, error_type=error_type)
        if response.modified and self._rewrites():
            return _dumps(response.body)
        return None

    def stream_started(self, status: int, headers: httpx2.Headers) -> None:
        """Response headers of a streamed request arrived; chunks follow."""
        self.response = GenAIResponse(status_code=status, headers=headers, stream=True)
        if not self.pipeline.reads_answers(self.request.route):
            return  # no parser: nobody reads the events, chunks pass untouched (see chunk)
        # Before the first chunk: one pass over the header list, not a get() per name.
        found = _headers_named(headers, _STREAM_READ)
        encoding = found.get(b"content-encoding")
        # An error status comes with one JSON body (read whole at the end), not a stream.
        self._sse = (
            stream_parser(found.get(b"content-type"), encoding)
            if status < 400
            else SSEParser(encoding)
        )

    def chunk(self, data: bytes) -> bytes:
        """Some bytes of a stream: parse whole events, give them to the chunk hooks.

        Returns the bytes to pass on: ``data`` itself, or, when a policy rewrites responses,
        the whole events seen so far as the hooks left them (a partial event waits).
        """
        self._enter()
        if self.first_byte is None:
            self.first_byte = time.perf_counter()
        self._started()
        response = self.response
        sse = self._sse
        assert response is not None  # set by stream_started
        if sse is None:
            self._leave()
            return data
        done = sse.done
        events = sse.feed(data)
        if not self._rewrites() or response.status_code >= 400:
            for event in events:
                self._event(response, event)
            self._leave()
            return data
        out = b""
        state = self.request.state
        for event in events:
            self._event(response, event)
            inserted = state.pop(INSERT_EVENTS, None)
            if inserted:
                out += b"".join(_sse(e) for e in inserted)
            out += _sse(event)
        if sse.done and not done:
            out += _DONE
        self._leave()
        return out

    def passes_chunks_through(self) -> bool:
        """Whether stream chunks go to the caller as they came (no policy rewrites responses).

        Then a chunk can be handed on first and its hooks run after (:meth:`hold`): the
        caller gets it without waiting on parsing and chunk hooks, which cannot change it.
        """
        return not self._rewrites()

    def hold(self, data: bytes) -> None:
        """``data`` goes to the caller now; its hooks run at :meth:`release`.

        :meth:`release` runs when the caller asks for the next chunk; the end of the stream,
        a failure and cancellation (close, or the stream garbage collected) release it first,
        so the audit event and after-hooks always see every chunk the caller was given.
        """
        self.release()
        if self.first_byte is None:
            self.first_byte = time.perf_counter()  # ttft is when it arrived, not its hooks
        self._held = data

    def release(self) -> None:
        """Run the hooks of the held chunk, if any."""
        held = self._held
        if held is not None:
            self._held = None  # before the hooks: a finalizer running inside them sees none
            self.chunk(held)

    def _event(self, response: GenAIResponse, event: Any) -> None:
        if not response.chunks:
            response.first = event
        response.chunks += 1
        usage = usage_from(event)
        if usage is not None:
            response.usage = usage
        if isinstance(event, dict) and "error" in event:
            response.error = _StreamError(google_status(event) or "StreamError")
        elif event is None and response.error is None:
            # A data: line that is not JSON; the SDK raises on it.
            response.error = _StreamError("MalformedResponse")
        if self._events is not None and len(self._events) < _MAX_KEPT_EVENTS:
            self._events.append(event)
        self.pipeline.chain.after_chunk(self.entered, self.request, event)

    def live_usage(self, event: Any) -> None:
        """A Live server message with ``usageMetadata``: the session's usage, summed per turn.

        The turn's usage goes to the policies' ``on_live_turn`` first (budgets settle it and
        reserve the next turn): PolicyViolation when one denies, and the session must end
        (see :meth:`live_denied`).
        """
        usage = usage_from(event)
        if usage is not None:
            self.live_turn(usage)

    def live_turn(self, usage: Usage) -> None:
        """One turn's usage, however the websocket reported it (see :meth:`live_usage`)."""
        response = self.response
        if response is None:
            return
        self._add_usage(response, usage)
        self.pipeline.chain.live_turn(self.entered, self.request, usage)

    def live_denied(self, violation: PolicyViolation) -> None:
        """A policy ended the Live session between turns: the event says denied, and why."""
        if self._done:
            return
        self._enter()
        self.pipeline.chain.after_error(self.entered, self.request, violation)
        self._finish("denied", error_type=type(violation).__name__)

    @staticmethod
    def _add_usage(response: GenAIResponse, usage: Usage) -> None:
        if response.usage is None:
            response.usage = dataclasses.replace(usage)
            return
        total = response.usage
        for field in (
            "prompt_tokens",
            "output_tokens",
            "cached_tokens",
            "thoughts_tokens",
            "total_tokens",
        ):
            add = getattr(usage, field)
            if add is not None:
                setattr(total, field, (getattr(total, field) or 0) + add)

    def stream_ended(self) -> bytes:
        """The stream was read to its end; returns the bytes still to pass on, if any."""
        self.release()
        self._enter()
        self._started()
        response = self.response
        assert response is not None
        done = self._sse.done if self._sse is not None else False
        events, rest = self._sse.finish() if self._sse is not None else ([], b"")
        for event in events:
            self._event(response, event)
        self.pipeline.chain.after_response(self.entered, self.request, response)
        out = b""
        if self._rewrites() and response.status_code < 400:
            # What is left: the last events, text a policy held back, bytes that were no event.
            out = b"".join(_sse(event) for event in (*events, *response.trailer)) + rest
            if self._sse is not None and self._sse.done and not done:
                out += _DONE
        self._stream_outcome(response, rest)
        return out

    def _stream_outcome(self, response: GenAIResponse, rest: bytes) -> None:
        if response.status_code >= 400:
            # An error status on a streamed call comes with a plain JSON body, not SSE.
            status = google_status(parse_json(rest))
            self._finish("error", error_type=status or f"HTTP {response.status_code}")
        elif rest.strip() and response.error is None:
            # Bytes that never formed an SSE event (a proxy's page, a cut JSON body).
            self._finish("error", error_type="MalformedResponse")
        elif response.error is not None:
            self._finish("error", error_type=str(response.error))
        else:
            self._finish("ok")

    def failed(self, error: BaseException) -> None:
        """The request or its stream failed: transport error, timeout, cut connection."""
        if self._done:
            return
        self.release()
        self._enter()
        self._started()
        # httpx errors reach the caller unchanged; a note (PEP 678, shown in the traceback and
        # in __notes__) is how the id of the audit event travels with them.
        note = f"golden-path request id: {self.request.request_id}"
        if note not in getattr(error, "__notes__", ()):
            error.add_note(note)
        if self.response is not None:
            self.response.error = error
        self.pipeline.chain.after_error(self.entered, self.request, error)
        self._finish("error", error_type=type(error).__name__)

    def cancelled(self) -> None:
        """The caller gave up (stream abandoned, task cancelled) before the end."""
        if self._done:
            return
        self.release()
        self._enter()
        self._started()
        if self._sse is not None and self._sse.done:
            # OpenAI streams end with `data: [DONE]`; openai's sync Stream closes the response
            # right after it, without reading on to EOF. The answer was complete.
            self.stream_ended()
            return
        response = self.response
        if response is not None and response.error is not None:
            # The server sent an error event and the SDK stopped reading: that is an error,
            # not the caller walking away.
            self.pipeline.chain.after_error(self.entered, self.request, response.error)
            self._finish("error", error_type=str(response.error))
            return
        self.pipeline.chain.after_error(self.entered, self.request, _Cancelled())
        self._finish("cancelled", error_type="Cancelled")

    # ------------------------------------------------------------------ the audit event

    def _finish(self, outcome: Outcome, *, error_type: str | None = None) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        pipeline = self.pipeline
        if not pipeline.auditor.sinks and pipeline.content is None:
            return  # audit_sink=none: nobody would read the event
        request, response = self.request, self.response
        identity = request.identity
        usage = (response.usage if response is not None else None) or Usage()
        content = None
        if self.pipeline.content is not None:
            try:
                content = self.pipeline.content(request, response, self._events)
            except Exception as exc:  # noqa: BLE001 - content capture must never lose the event
                content = {"error": f"content capture failed ({type(exc).__name__})"}
        cost = None
        prices = pipeline.prices
        route = request.route
        meter = route.meter if route is not None else "tokens"
        # Images and video are billed in their own units (the route table's meter): the
        # event says how many, priced or not.
        unit_route = meter in ("images", "video_seconds")
        billed = None
        if outcome != "denied":
            request_body = request.body if unit_route else None
            response_body = response.body if response is not None else None
            if unit_route:
                billed = billed_units(meter, request_body, response_body)
            if prices is not None:
                # (usd, units): the event needs the two values, not a Cost object.
                cost = request_cost_parts(
                    prices,
                    request.model,
                    request.api_method,
                    response.usage if response is not None else None,
                    request_body=request_body,
                    response_body=response_body,
                    meter=meter,
                )
        # Both clocks read together, so the overhead is always a part of the latency.
        inside = self._inside + (time.perf_counter_ns() - self._mark if self._mark else 0)
        now = time.perf_counter()
        url = request.url
        server = pipeline.server(url)
        # AuditEvent's fields in field order: a sink that takes the object gets
        # AuditEvent(*fields); the file and stderr sinks get the line rendered from them.
        fields = (
            _timestamp(self.wall),
            request.request_id,
            identity.app,
            identity.team,
            identity.client_id,
            identity.backend,
            identity.project,
            identity.location,
            request.surface,
            request.model,
            request.api_method,
            request.method,
            url.path,
            request.stream,
            outcome,
            response.status_code if response is not None else None,
            error_type,
            round((now - self.started) * 1000, 3),
            round((self.first_byte - self.started) * 1000, 3)
            if request.stream and self.first_byte is not None
            else None,
            usage.prompt_tokens,
            usage.output_tokens,
            usage.cached_tokens,
            usage.thoughts_tokens,
            usage.total_tokens,
            tuple([d.as_dict() for d in request.decisions]) if request.decisions else (),
            pipeline.sdk_version,
            pipeline.version,
            content,
            *server,
            cost[0] if cost is not None else None,
            cost[1] if cost is not None else billed,
            # Writing this event itself is the one stage the figure cannot include.
            round(inside / 1000, 1),
        )
        pipeline.auditor.emit_fields(fields)


def _request_id() -> str:
    """16 random hex digits from ``os.urandom``, drawn 128 at a time rather than one per call.

    A ``getrandom`` syscall per call costs more inside a whole call than the 8 bytes are
    worth. ``list.pop`` is atomic, so two threads never get the same id; a forked child
    forgets the ids its parent drew (``register_at_fork``), so workers never share one.
    """
    try:
        return _IDS.pop()
    except IndexError:
        block = os.urandom(8 * _ID_BATCH).hex()
        _IDS.extend([block[at : at + 16] for at in range(16, len(block), 16)])
        return block[:16]


_ID_BATCH = 128
_IDS: list[str] = []
if hasattr(os, "register_at_fork"):  # POSIX; Windows has no fork, so nothing to forget
    os.register_at_fork(after_in_child=_IDS.clear)


def _timestamp(wall: float) -> str:
    """``wall`` as RFC 3339 UTC to the millisecond, as ``datetime.isoformat`` writes it.

    The date and time to the second are formatted once per second, not once per event.
    """
    global _second  # noqa: PLW0603 - a one-entry cache, replaced whole (thread-safe)
    # datetime.fromtimestamp's rounding: to the microsecond, half to even, then truncated.
    fraction, whole = math.modf(wall)
    micro = round(fraction * 1e6)
    second = int(whole)
    if micro >= 1_000_000:
        second, micro = second + 1, micro - 1_000_000
    cached = _second
    if cached[0] != second:
        text = dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        cached = _second = (second, text)
    return f"{cached[1]}.{micro // 1000:03d}Z"


_second: tuple[int, str] = (-1, "")


# Request headers the Call reads (lower case, as httpx2 keeps them beside the name as sent).
_REQUEST_ID_KEY = REQUEST_ID_HEADER.encode()
_API_CLIENT_KEY = b"x-goog-api-client"
_USER_AGENT_KEY = b"user-agent"
_READ = frozenset((b"content-encoding", _API_CLIENT_KEY, _USER_AGENT_KEY, _REQUEST_ID_KEY))
# Response headers a stream's parser needs.
_STREAM_READ = frozenset((b"content-encoding", b"content-type"))


def _headers_named(headers: httpx2.Headers, names: frozenset[bytes]) -> dict[bytes, str]:
    """The headers in ``names`` (lower case), as ``headers.get`` gives them.

    One pass over httpx2's header list instead of a ``get`` per name: each ``get`` walks the
    whole list and works out the encoding of every header first (about 1 µs a lookup).
    Repeated headers are joined with ", ", as httpx2 does.
    """
    found: dict[bytes, str] = {}
    for _, key, value in headers._list:
        if key in names:
            text = value.decode("ascii") if value.isascii() else value.decode(headers.encoding)
            found[key] = f"{found[key]}, {text}" if key in found else text
    return found


def _put(headers: httpx2.Headers, found: dict[bytes, str], key: bytes, value: str) -> None:
    """``headers[key] = value``, ``found`` saying which of the names read are there.

    A name not there is appended as ``Headers.__setitem__`` would append it, without its
    search of the whole list (the SDK sends no request id; an app on plain REST no
    x-goog-api-client either).
    """
    if key in found:
        headers[key.decode()] = value
    else:
        headers._list.append((key, key, value.encode(headers._encoding or "utf-8")))


def _set_length(headers: httpx2.Headers, length: int) -> None:
    """``headers["content-length"] = str(length)``, in place where it is there once (as sent).

    Headers.__setitem__ encodes, lower-cases and searches the whole list; this is a third of it.
    """
    entries = headers._list
    index = -1
    for at, entry in enumerate(entries):
        if entry[1] == b"content-length":
            if index >= 0:
                headers["content-length"] = str(length)  # repeated: Headers drops the others
                return
            index = at
    if index >= 0:
        entries[index] = (entries[index][0], b"content-length", str(length).encode())
    else:
        entries.append((b"content-length", b"content-length", str(length).encode()))


def _decode_request(request: GenAIRequest, encoding: str) -> None:
    """Undo a request ``content-encoding`` so policies read the body the server will.

    gzip and deflate are decoded (and sent decoded); any other encoding, or a body that does
    not decompress, is left for the routes policy to refuse.
    """
    encoding = encoding.strip().lower()
    if not encoding or encoding == "identity":
        return
    if encoding not in ("gzip", "deflate"):
        request.state[BODY_PROBLEM] = (
            "content-encoding",
            f"the request body is {encoding}-encoded, which golden-path cannot inspect",
            "send it uncompressed, gzip or deflate",
        )
        return
    decoded = decode(request.raw, encoding)
    if not decoded and request.raw:
        request.state[BODY_PROBLEM] = (
            "content-encoding",
            f"the request body does not decompress as {encoding}",
            "send a valid body, or send it uncompressed",
        )
        return
    request.raw = decoded
    del request.headers["content-encoding"]
    request.headers["content-length"] = str(len(decoded))
    request.state[BODY_DECODED] = encoding


def _from_body(request: GenAIRequest, route: Route) -> None:
    """Model and streaming the body names (OpenAI `model`, Interactions `model`/`agent`)."""
    body = request.body
    if not isinstance(body, dict):
        return
    if request.model is None:
        for where in route.models:
            value = _dotted(body, where) if where != "url" and "[]" not in where else None
            if isinstance(value, str) and value:
                request.model = f"agent/{value}" if where == "agent" else normalize_model(value)
                break
    if route.stream == "sse?" and body.get("stream") is True:
        request.stream = True


def _dotted(body: dict[str, Any], where: str) -> Any:
    """``body["a"]["b"]`` for ``a.b`` (either spelling of each key), else None."""
    node: Any = body
    for key in where.split("."):
        if not isinstance(node, dict):
            return None
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()
        node = node.get(key, node.get(snake))
    return node


class _StreamError(Exception):
    """An error event inside a 200 stream (the SDK raises APIError for it)."""


class _Cancelled(Exception):
    """What after-hooks see when the caller abandoned the request."""


def _sse(event: Any) -> bytes:
    return b"data: " + _dumps(event) + b"\n\n"


def _dumps(body: Any) -> bytes:
    return dumps(body)


def _rebuilt(response: httpx2.Response, body: bytes, rewritten: bool) -> httpx2.Response:
    """A new response with ``response``'s status, headers and extensions around ``body``."""
    headers = response.headers
    if rewritten:
        _plain(headers)
        headers["content-length"] = str(len(body))
    return httpx2.Response(
        response.status_code,
        headers=headers,
        stream=httpx2.ByteStream(body),
        extensions=response.extensions,
    )


def _plain(headers: httpx2.Headers) -> None:
    # A rewritten body is sent decoded and its length is not the server's.
    for name in ("content-encoding", "content-length"):
        if name in headers:
            del headers[name]


def _asks_for_tools(body: Any) -> bool:
    """Whether a generateContent answer asks the caller to run a function."""
    candidates = body.get("candidates") if isinstance(body, dict) else None
    for candidate in candidates if isinstance(candidates, list) else ():
        content = candidate.get("content") if isinstance(candidate, dict) else None
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in parts if isinstance(parts, list) else ():
            if isinstance(part, dict) and ("functionCall" in part or "function_call" in part):
                return True
    return False
