"""Live API websockets through the gateway: the policies at setup, then frames both ways.

The app opens the websocket it would open to Google (``/ws/...BidiGenerateContent``, key in
``x-goog-api-key`` or ``?key=``, or any other gateway identity). The gateway reads the first
frame (``{"setup": {...}}``), runs the chain on it exactly as the in-process Live guard does
(body: the model plus the setup's fields, generation config flattened, as the SDK's
``LiveConnectConfig`` spells them), applies the policies' rewrites, and only then connects
upstream with Google's credentials and passes frames both ways until either side closes. One
audit event per session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any, NamedTuple

import httpx2

from golden_path._log import Diagnostics
from golden_path._routes import UnsafePath, match, normalize_model
from golden_path._transport._live_messages import GuardedSocket, message_policies
from golden_path.exceptions import PolicyViolation
from golden_path.gateway._identity import Unauthenticated

if TYPE_CHECKING:
    from golden_path._transport import Call
    from golden_path.gateway._app import Gateway
    from golden_path.gateway._identity import Caller

__all__ = ["serve_live"]

diagnostics = Diagnostics("golden_path.gateway")

_POLICY_VIOLATION = 1008
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
    try:
        setup = json.loads(raw)["setup"]
        model = str(setup["model"])
    except (ValueError, KeyError, TypeError):
        await _close(send, 'the first message must be {"setup": {"model": ...}}')
        return
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
        outcome = "denied"
        await _close(send, str(violation))
    else:
        wire = _setup(request.body)
        wire["setup"]["model"] = _upstream_model(gateway, str(wire["setup"].get("model", model)))
        outcome = await _relay(gateway, call, upstream_url, receive, send, setup=wire)
    if gateway.metrics is not None:
        gateway.metrics.live_sessions.labels(caller.app, outcome).inc()


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
    if found is None or found.route.surface != "live":
        return _Refused(f"{path} is not a Live API websocket", "gateway.routing", caller)
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
    gateway: Gateway, call: Call, url: str, receive: Any, send: Any, *, setup: dict[str, Any]
) -> str:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidHandshake

    from golden_path._tls import ensure_trust

    headers = httpx2.Headers()
    request = call.request
    for name in ("x-goog-api-client", "user-agent"):
        value = request.headers.get(name)
        if value:
            headers[name] = value
    outgoing = httpx2.Request("GET", url, headers=headers)
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
    # The app's later messages pass the policies that judge Live messages, as in-process.
    senders, _ = message_policies(call.pipeline.chain.policies)
    guarded = GuardedSocket(upstream, call, senders, ())
    ended_by: list[PolicyViolation] = []
    async with upstream:
        await upstream.send(json.dumps(setup, separators=(",", ":")))

        async def google_to_app() -> None:
            with contextlib.suppress(ConnectionClosed):
                async for frame in upstream:
                    if isinstance(frame, str):
                        await send({"type": "websocket.send", "text": frame})
                    else:
                        await send({"type": "websocket.send", "bytes": frame})
                    if b'"usageMetadata"' in (frame.encode() if isinstance(frame, str) else frame):
                        try:
                            _turn_used(call, frame)
                        except PolicyViolation as violation:
                            # A budget settled this turn and has no room for the next one.
                            ended_by.append(violation)
                            return

        tasks = [
            asyncio.ensure_future(_app_to_google(receive, send, guarded)),
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
    return await _ended(call, send, errors, ended_by, upstream.close_code or 1000)


async def _ended(
    call: Call, send: Any, errors: list[Any], ended_by: list[PolicyViolation], code: int
) -> str:
    """Close the app's side as the session ended; one audit event; the metrics' outcome."""
    if errors and isinstance(errors[0], PolicyViolation):
        call.live_denied(errors[0])  # an app message a policy refused (the app was told)
        return "denied"
    if errors:
        call.failed(errors[0])
        return "error"
    if ended_by:
        with contextlib.suppress(Exception):  # the app may be gone already
            await _close(send, str(ended_by[0]))
        call.live_denied(ended_by[0])
        return "denied"
    with contextlib.suppress(Exception):  # the app may be gone already
        await send({"type": "websocket.close", "code": code})
    call.stream_ended()
    return "ok"


async def _app_to_google(receive: Any, send: Any, guarded: GuardedSocket) -> None:
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
            await _close(send, str(violation))
            raise


def _turn_used(call: Call, frame: str | bytes) -> None:
    """A server message with ``usageMetadata``: one turn's tokens.

    Summed into the session's (its audit event) and settled by the budgets, which may end the
    session here (PolicyViolation).
    """
    try:
        event = json.loads(frame)
    except ValueError:
        return
    call.live_usage(event)


async def _close(send: Any, reason: str, *, code: int = _POLICY_VIOLATION) -> None:
    # A close reason is at most 123 bytes on the wire.
    await send(
        {
            "type": "websocket.close",
            "code": code,
            "reason": reason.encode()[:120].decode("utf-8", "ignore"),
        }
    )
