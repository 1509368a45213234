"""Live websockets through the gateway: the policies at the first frame, then frames both ways.

The app opens the websocket it would open to Google, with its gateway identity (key in
``x-goog-api-key`` or ``?key=``, a bearer token, a client certificate):

- the Live API (``/ws/...BidiGenerateContent``, both backends): the first frame is the setup
  (``{"setup": {...}}``), judged exactly as the in-process Live guard judges it (body: the model
  plus the setup's fields, generation config flattened, as the SDK's ``LiveConnectConfig``
  spells them), with the policies' rewrites applied;
- Live Interactions (``/{v}/interactions/live``, google-genai 3.5+'s ``interactions.connect``;
  Gemini API only): the first frame is ``{"event_type": "interaction.connect", "id": ...}``,
  judged as the in-process guard judges it: ``[routes]`` ties the session to what the
  interaction runs (read through the gateway first, a governed GET, when this replica never
  saw it), then the model or agent allowlists, ``[tools]`` and the rest. A denial is sent as an
  ``error`` event (the SDK hands it to the app; it hides close reasons) and the socket closes.

Only then does the gateway connect upstream, with Google's credentials (never the app's), and
pass frames both ways until either side closes: each app frame through the policies that judge
Live messages, each server frame through those that read them (usage metered and settled by
the budgets, model text redacted), as in-process (``_transport._live_messages``). One audit
event per session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote

import httpx2

from golden_path._log import Diagnostics
from golden_path._routes import UnsafePath, match, normalize_model
from golden_path._transport._live_messages import GuardedSocket, message_policies
from golden_path.exceptions import PolicyViolation
from golden_path.gateway._identity import Unauthenticated

if TYPE_CHECKING:
    from golden_path._model import GenAIRequest
    from golden_path._transport import Call
    from golden_path.gateway._app import Gateway
    from golden_path.gateway._identity import Caller

__all__ = ["serve_live"]

diagnostics = Diagnostics("golden_path.gateway")

_POLICY_VIOLATION = 1008
_INTERACTIONS = "interactions.connect"
_GENERATION_KEYS = frozenset(
    {
        "temperature",
        "topP",
        "topK",
        "maxOutputTokens",
        "candidateCount",
        "presencePenalty",
        "frequencyPenalty",
        "responseModalities",
        "seed",
        "speechConfig",
        "mediaResolution",
        "thinkingConfig",
        "enableAffectiveDialog",
    }
)


async def serve_live(gateway: Gateway, scope: Any, receive: Any, send: Any) -> None:
    """One Live session, from the app's handshake to the last frame."""
    opened = await _open(gateway, scope, receive, send)
    if opened is None:
        return
    caller, route_name, upstream_url = opened
    first = await receive()
    if first["type"] != "websocket.receive":
        return
    raw = first.get("text") or first.get("bytes") or b""
    if route_name == _INTERACTIONS:
        outcome = await _interaction(
            gateway, caller, scope, upstream_url, raw, receive=receive, send=send
        )
    else:
        outcome = await _live(
            gateway, caller, route_name, upstream_url, raw, receive=receive, send=send
        )
    if gateway.metrics is not None:
        gateway.metrics.live_sessions.labels(caller.app, outcome).inc()


async def _live(
    gateway: Gateway,
    caller: Caller,
    route_name: str,
    upstream_url: str,
    raw: str | bytes,
    *,
    receive: Any,
    send: Any,
) -> str:
    """A Live API session: the setup judged, then relayed; the metrics' outcome."""
    try:
        setup = json.loads(raw)["setup"]
        model = str(setup["model"])
    except (ValueError, KeyError, TypeError):
        await _close(send, 'the first message must be {"setup": {"model": ...}}')
        return "denied"
    call = gateway.pipeline_for(caller).start(
        httpx2.Request("GET", upstream_url, content=json.dumps(_flat(setup)).encode())
    )
    request = call.request
    request.api_method = route_name
    request.model = normalize_model(model)
    request.stream = True
    try:
        await call.abefore()
    except PolicyViolation as violation:
        await _close(send, str(violation))
        return "denied"
    wire = _setup(request.body)
    wire["setup"]["model"] = _upstream_model(gateway, str(wire["setup"].get("model", model)))
    return await _relay(
        gateway, call, upstream_url, receive, send, first=json.dumps(wire, separators=(",", ":"))
    )


async def _interaction(
    gateway: Gateway,
    caller: Caller,
    scope: Any,
    upstream_url: str,
    raw: str | bytes,
    *,
    receive: Any,
    send: Any,
) -> str:
    """A Live Interactions session: the interaction it connects to judged, then relayed."""
    pipeline = gateway.pipeline_for(caller)
    body = raw.encode() if isinstance(raw, str) else raw
    call = pipeline.start(httpx2.Request("GET", upstream_url, content=body))
    request = call.request
    request.stream = True
    interaction_id = _connect_id(request)
    if interaction_id is None:
        # Nothing else may open the session: whatever else the frame held would reach the
        # server unjudged (an input's text, an interaction.create's model).
        reason = (
            'the first message must be {"event_type": "interaction.connect", "id": ...} and '
            "nothing else (what google-genai's interactions.connect(id) sends)"
        )
        await gateway.audit_refusal(scope, reason, caller=caller, policy="routes")
        await _refuse_interaction(send, "routes", reason)
        return "denied"
    gate = pipeline.chain.policies[0]  # the route gate, always first (with_route_gate)
    if gate.interaction(interaction_id) is None:
        # This replica never read it (created through another one, or elsewhere): read it, a
        # governed GET under the app's identity, audited, so the chain can judge what it runs.
        unread = await _read_interaction(gateway, caller, upstream_url, interaction_id)
        if unread is not None:
            await _refuse_interaction(send, *unread)
            return "denied"
    try:
        await call.abefore()
    except PolicyViolation as violation:
        await _refuse_interaction(send, violation.policy, str(violation))
        return "denied"
    connect = {"event_type": "interaction.connect", "id": interaction_id}
    return await _relay(
        gateway,
        call,
        upstream_url,
        receive,
        send,
        first=json.dumps(connect, separators=(",", ":")),
        headers=[(k, v) for k, v in _app_headers(scope) if k == "api-revision"],
    )


def _connect_id(request: GenAIRequest) -> str | None:
    """The interaction id of an ``interaction.connect`` frame; None for any other frame."""
    try:
        body = request.parse_strictly()  # a repeated key means two things to two parsers
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict) or set(body) != {"event_type", "id"}:
        return None
    found = body["id"]
    if body["event_type"] != "interaction.connect" or not isinstance(found, str):
        return None
    return found if found.strip() else None


async def _read_interaction(
    gateway: Gateway, caller: Caller, upstream_url: str, interaction_id: str
) -> tuple[str, str] | None:
    """GET the interaction through the app's governed transport; (policy, why) when it failed.

    The id is percent-encoded whole: one holding a slash or dots is refused by ``[routes]``
    (an unsafe path) rather than read as another route.
    """
    scheme, _, rest = upstream_url.partition("://")
    base, _, _ = rest.rpartition("/interactions/live")
    http = "https" if scheme == "wss" else "http"
    url = f"{http}://{base}/interactions/{quote(interaction_id, safe='')}"
    timeout = gateway.config.upstream_timeout_s
    get = httpx2.Request(
        "GET",
        url,
        extensions={"timeout": {"connect": 10.0, "read": timeout, "write": timeout, "pool": 10.0}},
    )
    try:
        response = await gateway.transport_for(caller).handle_async_request(get)
    except PolicyViolation as violation:
        return violation.policy, str(violation)
    except httpx2.HTTPError as exc:
        return "routes", f"interaction {interaction_id!r} could not be read to judge it: {exc}"
    try:
        answer = await response.aread()
    finally:
        await response.aclose()
    if response.status_code < 400:
        return None
    return "routes", (
        f"interaction {interaction_id!r} could not be read to judge it: "
        f"HTTP {response.status_code} {_google_message(answer)}"
    ).rstrip()


def _google_message(answer: bytes) -> str:
    try:
        return str(json.loads(answer)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return ""


def _app_headers(scope: Any) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", ())]


async def _refuse_interaction(send: Any, policy: str, reason: str) -> None:
    """Tell a Live Interactions app why, in an ``error`` event, then close (1008).

    google-genai raises on a close without its reason; the event is what the app can read.
    """
    await _error_event(send, policy, reason)
    await _close(send, reason)


async def _error_event(send: Any, policy: str, reason: str) -> None:
    event = {
        "event_type": "error",
        "error": {"code": f"golden-path/{policy}", "message": reason},
    }
    with contextlib.suppress(Exception):  # the app may be gone already
        await send({"type": "websocket.send", "text": json.dumps(event)})


async def _open(
    gateway: Gateway, scope: Any, receive: Any, send: Any
) -> tuple[Caller, str, str] | None:
    """Authenticate and route the handshake, then accept it; None when it was refused."""
    opened = _admit(gateway, scope)
    message = await receive()
    if message["type"] != "websocket.connect":
        return None
    if isinstance(opened, _Refused):
        diagnostics.warning(
            "golden_path.gateway.live_refused",
            f"refused Live websocket {scope['path']}: {opened.reason}",
            path=scope["path"],
            reason=opened.reason,
        )
        # One audit event, as for any refused request: no app when the credential failed.
        await gateway.audit_refusal(
            scope, opened.reason, caller=opened.caller, policy=opened.policy
        )
        await _close(send, opened.reason)  # before accepting: the handshake is answered 403
        return None
    await send({"type": "websocket.accept"})
    return opened


class _Refused(NamedTuple):
    """Why a handshake is refused, by which gateway check, and who asked (when known)."""

    reason: str
    policy: str
    caller: Caller | None = None


def _admit(gateway: Gateway, scope: Any) -> tuple[Caller, str, str] | _Refused:
    """The caller, route name and upstream URL of a handshake, or why it is refused."""
    try:
        caller = gateway.authenticate(scope)
    except Unauthenticated as exc:
        if gateway.metrics is not None:
            gateway.metrics.refused_credentials.inc()
        return _Refused(str(exc), "gateway.authentication")
    path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
    # The JavaScript SDK joins a base URL ending in '/' with '/ws/...': a leading '//' means
    # nothing else, so it is read as '/'. Any other empty segment is refused by the match.
    path = "/" + path.lstrip("/")
    try:
        found = match("GET", path)
    except UnsafePath as exc:
        return _Refused(str(exc), "gateway.routing", caller)
    if found is None or (found.route.surface != "live" and found.route.name != _INTERACTIONS):
        return _Refused(f"{path} is not a Live API websocket", "gateway.routing", caller)
    if found.route.name == _INTERACTIONS and gateway.upstream.backend == "vertex":
        return _Refused(
            f"{path}: Live Interactions is served by the Gemini Developer API only, and this "
            f"gateway fronts {gateway.upstream.describe()}",
            "gateway.routing",
            caller,
        )
    upstream_url = _upstream_url(gateway, found.backend or "gemini", path)
    if upstream_url is None:
        return _Refused(
            f"{path} is not served by {gateway.upstream.describe()}", "gateway.routing", caller
        )
    return caller, found.route.name, upstream_url


def _upstream_url(gateway: Gateway, shape: str, path: str) -> str | None:
    upstream = gateway.upstream
    endpoint = upstream.endpoint
    scheme, _, rest = endpoint.partition("://")
    base = f"{'wss' if scheme == 'https' else 'ws'}://{rest}"
    want = "vertex" if upstream.backend == "vertex" else "gemini"
    if upstream.backend == "emulator" or shape == want:
        return base + path.split("?", 1)[0]
    if want == "vertex":
        return f"{base}/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"
    if "BidiGenerateContent" not in path:
        return None
    return f"{base}/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"


def _upstream_model(gateway: Gateway, model: str) -> str:
    """``setup.model`` in the spelling the upstream backend expects."""
    upstream = gateway.upstream
    if upstream.backend == "emulator":
        return model
    bare = model.rsplit("/", 1)[-1]
    if upstream.backend == "ai_studio":
        return f"models/{bare}"
    if upstream.express:
        return f"publishers/google/models/{bare}"
    return (
        f"projects/{upstream.project}/locations/{upstream.location}/publishers/google/models/{bare}"
    )


def _flat(setup: dict[str, Any]) -> dict[str, Any]:
    """The setup as the in-process guard's policies see it (LiveConnectConfig's spelling)."""
    body = {k: v for k, v in setup.items() if k != "generationConfig"}
    generation = setup.get("generationConfig")
    if isinstance(generation, dict):
        body.update(generation)
    return body


def _setup(body: Any) -> dict[str, Any]:
    """The wire setup again, after the policies (which may have rewritten the body)."""
    setup: dict[str, Any] = {}
    generation: dict[str, Any] = {}
    for key, value in dict(body).items():
        (generation if key in _GENERATION_KEYS else setup)[key] = value
    if generation:
        setup["generationConfig"] = generation
    return {"setup": setup}


async def _relay(
    gateway: Gateway,
    call: Call,
    url: str,
    receive: Any,
    send: Any,
    *,
    first: str,
    headers: Sequence[tuple[str, str]] = (),
) -> str:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidHandshake

    from golden_path._tls import ensure_trust

    request = call.request
    upstream_headers = httpx2.Headers(list(headers))
    for name in ("x-goog-api-client", "user-agent"):
        value = request.headers.get(name)
        if value:
            upstream_headers[name] = value
    outgoing = httpx2.Request("GET", url, headers=upstream_headers)
    await gateway.authorize(outgoing)
    try:
        upstream = await connect(
            url,
            additional_headers=list(outgoing.headers.multi_items()),
            ssl=ensure_trust() if url.startswith("wss:") else None,
            max_size=gateway.config.max_body_bytes,
            open_timeout=30,
        )
    except (TimeoutError, OSError, ConnectionClosed, InvalidHandshake) as exc:
        call.failed(exc)
        await _close(send, f"upstream Live API refused or unavailable: {exc}", code=1011)
        return "error"
    call.stream_started(101, httpx2.Headers())
    interactions = request.api_method == _INTERACTIONS
    # The app's later messages pass the policies that judge Live messages, and the server's
    # the policies that read them (usage metered, text redacted), as in-process. A Live
    # Interaction's end (its terminal event, or the app's cancel or detach) is recorded when
    # the socket closes.
    senders, readers = message_policies(call.pipeline.chain.policies)
    guarded = GuardedSocket(upstream, call, senders, readers, _ending if interactions else None)
    ended_by: list[PolicyViolation] = []
    async with upstream:
        await upstream.send(first)

        async def google_to_app() -> None:
            with contextlib.suppress(ConnectionClosed):
                while True:
                    try:
                        frame = await guarded.recv()
                    except PolicyViolation as violation:
                        # A budget settled this turn and has no room for the next one.
                        ended_by.append(violation)
                        return
                    if isinstance(frame, str):
                        await send({"type": "websocket.send", "text": frame})
                    else:
                        await send({"type": "websocket.send", "bytes": frame})

        tasks = [
            asyncio.ensure_future(_app_to_google(receive, send, guarded, interactions)),
            asyncio.ensure_future(google_to_app()),
        ]
        try:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            call.cancelled()
            raise
        for task in pending:
            task.cancel()
        errors = [t.exception() for t in done if not t.cancelled() and t.exception()]
        with contextlib.suppress(Exception):  # however the close goes, the session is audited
            await guarded.close()
    end = (upstream.close_code or 1000, upstream.close_reason or "")
    return await _ended(call, send, errors, ended_by, end, interactions=interactions)


def _ending() -> None:
    """A Live Interaction's end was recorded (GuardedSocket.close); the event follows."""


async def _ended(
    call: Call,
    send: Any,
    errors: list[Any],
    ended_by: list[PolicyViolation],
    end: tuple[int, str],
    *,
    interactions: bool,
) -> str:
    """Close the app's side as the session ended; one audit event; the metrics' outcome."""
    if errors and isinstance(errors[0], PolicyViolation):
        call.live_denied(errors[0])  # an app message a policy refused (the app was told)
        return "denied"
    if errors:
        call.failed(errors[0])
        return "error"
    if ended_by:
        violation = ended_by[0]
        if interactions:
            await _error_event(send, violation.policy, str(violation))
        with contextlib.suppress(Exception):  # the app may be gone already
            await _close(send, str(violation))
        call.live_denied(violation)
        return "denied"
    with contextlib.suppress(Exception):  # the app may be gone already
        await _close(send, end[1], code=end[0])
    call.stream_ended()
    return "ok"


async def _app_to_google(
    receive: Any, send: Any, guarded: GuardedSocket, interactions: bool = False
) -> None:
    """Relay the app's messages, each judged first."""
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        text = message.get("text")
        try:
            await guarded.send(text if text is not None else message.get("bytes") or b"")
        except PolicyViolation as violation:
            # The app cannot catch an exception here: the session ends, saying why.
            if interactions:
                await _error_event(send, violation.policy, str(violation))
            await _close(send, str(violation))
            raise


async def _close(send: Any, reason: str, *, code: int = _POLICY_VIOLATION) -> None:
    # A close reason is at most 123 bytes on the wire.
    await send(
        {
            "type": "websocket.close",
            "code": code,
            "reason": reason.encode()[:120].decode("utf-8", "ignore"),
        }
    )
