"""The Live API guard: the policy chain at connect time, for websockets httpx never sees.

``client.aio.live.connect(model=..., config=...)`` (and ``client.aio.live.music.connect``)
open a websocket outside the governed HTTP transport. :func:`guard_live` replaces ``connect``
on the instances of one client with a guarded async context manager: it builds a
``GenAIRequest`` for the setup (``api_method="live.connect"``, body = the model plus the
LiveConnectConfig in its camelCase wire spelling), runs the chain (a deny raises
PolicyViolation, nothing is connected), applies rewrites (an alias, a clamped token cap, added
safety settings, redacted system instruction) and only then connects. Client messages after
the setup pass the policies that inspect them (``_live_messages``). One audit event per
session: written when it is denied, fails to connect, or closes.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from golden_path.exceptions import PolicyViolation

if TYPE_CHECKING:
    from google import genai

    from golden_path._transport._call import Call, Pipeline
    from golden_path._transport._credentials import Authorizer

__all__ = ["guard_live"]


def guard_live(
    client: genai.Client, pipeline: Pipeline, authorizer: Authorizer | None = None
) -> genai.Client:
    """Put the chain in front of ``client``'s Live connects; returns ``client``.

    The client's own API client holds only placeholder credentials, so a connect that does not
    pass here (through the class, or a new ``AsyncLive`` on the same API client) cannot
    authenticate. A guarded connect runs on a per-session copy of the API client that carries
    the real credentials, made after the policies allowed the session.
    """
    live = client.aio.live
    api_client = client._api_client
    live.connect = _guarded(live.connect, pipeline, api_client, authorizer, music=False)  # type: ignore[method-assign]
    music = live.music
    music.connect = _guarded(music.connect, pipeline, api_client, authorizer, music=True)  # type: ignore[method-assign]
    if _has_live_interactions():
        # google-genai 3.5+: the Live Interactions websocket, through the same guard.
        interactions = client.aio.interactions
        guarded = _guarded_interaction(interactions, pipeline, api_client, authorizer)
        setattr(interactions, "connect", guarded)  # noqa: B010 - not in every SDK's stubs
    return client


def _has_live_interactions() -> bool:
    import importlib.util

    return importlib.util.find_spec("google.genai._live_interactions_experimental") is not None


def _guarded(
    original: Callable[..., Any],
    pipeline: Pipeline,
    api_client: Any,
    authorizer: Authorizer | None,
    *,
    music: bool,
) -> Callable[..., Any]:
    @contextlib.asynccontextmanager
    async def connect(*, model: str, config: Any = None) -> AsyncIterator[Any]:
        from golden_path._tls import ensure_trust

        config = _without_credentials(config)
        call = _start(pipeline, api_client, model, config, music=music)
        call.before()  # PolicyViolation: audited, nothing connected
        model, config = _applied(call, model, config)
        # The shared SSL context loads its CA certificates lazily; websockets needs them now.
        ensure_trust()
        kwargs: dict[str, Any] = {"model": model}
        if not music:
            kwargs["config"] = config
        target = original
        if authorizer is not None:
            try:
                session_client = await _authorized(api_client, authorizer)
            except BaseException as exc:
                call.failed(exc)
                raise
            # The same resource class, on the copy that carries the real credentials.
            resource = type(original.__self__)  # type: ignore[attr-defined]
            target = resource(session_client).connect
        try:
            async with target(**kwargs) as session:
                call.stream_started(101, _headers())
                _guard_messages(session, call, pipeline)
                yield session
        except PolicyViolation as violation:
            # A policy ended the session (a budget after a turn, a refused message).
            call.live_denied(violation)
            raise
        except BaseException as exc:
            call.failed(exc)
            raise
        call.stream_ended()

    return connect


def _guarded_interaction(
    resource: Any, pipeline: Pipeline, api_client: Any, authorizer: Authorizer | None
) -> Callable[..., Any]:
    """``interactions.connect`` behind the chain: awaitable and an async context manager."""

    def connect(
        id: str,
        *,
        api_version: str | None = None,
        extra_headers: Any = None,
        timeout: float = 30.0,
    ) -> _InteractionSession:
        return _InteractionSession(
            resource,
            pipeline,
            api_client,
            authorizer,
            interaction_id=id,
            options={
                "api_version": api_version,
                "extra_headers": extra_headers,
                "timeout": timeout,
            },
        )

    return connect


class _InteractionSession:
    """One guarded Live Interactions session, opened by ``await`` or ``async with``.

    The chain judges the interaction (its model or agent and tools, as golden-path read it:
    the routes policy ties the session to it) before anything connects; each client message
    then passes the message policies, the server's usage is metered, and the one audit event
    is written when the websocket closes, however the session ended.
    """

    def __init__(
        self,
        resource: Any,
        pipeline: Pipeline,
        api_client: Any,
        authorizer: Authorizer | None,
        *,
        interaction_id: Any,
        options: dict[str, Any],
    ) -> None:
        if not isinstance(interaction_id, str) or not interaction_id.strip():
            raise ValueError("A non-empty interaction ID is required to connect.")
        self._resource = resource
        self._pipeline = pipeline
        self._api_client = api_client
        self._authorizer = authorizer
        self._id = interaction_id
        self._options = options
        self._context: Any = None
        self._connection: Any = None
        self._call: Call | None = None

    def __await__(self) -> Any:
        return self._open().__await__()

    async def __aenter__(self) -> Any:
        return await self._open()

    async def __aexit__(self, exc_type: Any, exc: Any, traceback: Any) -> Any:
        call = self._call
        if call is not None and isinstance(exc, PolicyViolation):
            call.live_denied(exc)
        elif call is not None and exc is not None:
            call.failed(exc)
        if self._context is None:
            return False
        return await self._context.__aexit__(exc_type, exc, traceback)

    async def _open(self) -> Any:
        if self._connection is not None:
            return self._connection
        from golden_path._tls import ensure_trust

        gate = self._pipeline.chain.policies[0]
        if gate.interaction(self._id) is None:
            # Never read here: read it (a governed GET, audited) so the chain can judge what it
            # runs. A failure (no such interaction, a denied read) is the caller's answer.
            await self._resource.get(id=self._id)
        call = self._call = _start_interaction(
            self._pipeline, self._api_client, self._id, self._options["api_version"]
        )
        call.before()  # PolicyViolation: audited, nothing connected
        ensure_trust()
        options = dict(self._options)
        options["extra_headers"] = _plain_headers(options["extra_headers"])
        session_client = self._api_client
        try:
            if self._authorizer is not None:
                session_client = await _authorized(self._api_client, self._authorizer)
            # The same resource class, on the copy that carries the real credentials.
            resource = type(self._resource)(session_client)
            self._context = type(self._resource).connect(resource, self._id, **options)
            connection = await self._context.__aenter__()
        except BaseException as exc:
            call.failed(exc)
            raise
        call.stream_started(101, _headers())
        if not hasattr(connection, "_websocket"):
            # Its messages could not be judged, nor its end seen (the audit event): not kept.
            await self._context.__aexit__(None, None, None)
            violation = PolicyViolation(
                "routes", "this google-genai's Live Interaction cannot be inspected"
            )
            call.live_denied(violation)
            raise violation
        _guard_messages(connection, call, self._pipeline, socket="_websocket")
        self._connection = connection
        return connection


def _plain_headers(headers: Any) -> Any:
    """Per-session headers without credentials (the configured ones are set by golden-path)."""
    if not headers:
        return headers
    return {
        k: v
        for k, v in dict(headers).items()
        if k.lower() not in ("x-goog-api-key", "authorization")
    }


def _start_interaction(
    pipeline: Pipeline, api_client: Any, interaction_id: str, api_version: str | None
) -> Call:
    import httpx2

    options = api_client._http_options
    version = api_version or options.api_version
    base = str(options.base_url or "").rstrip("/")
    scheme, sep, rest = base.partition("://")
    ws_scheme = "ws" if scheme == "http" else "wss"
    # The websocket the SDK opens, so the route table classifies the session like any request.
    url = f"{f'{ws_scheme}://{rest}' if sep else base}/{version}/interactions/live"
    # What the session judged at connect is the interaction.connect event the SDK sends first.
    body = {"event_type": "interaction.connect", "id": interaction_id}
    raw = json.dumps(body, separators=(",", ":")).encode()
    call = pipeline.start(httpx2.Request("GET", url, content=raw))
    call.request.stream = True
    return call


async def _authorized(api_client: Any, authorizer: Authorizer) -> Any:
    """A shallow copy of ``api_client`` whose headers carry the real credentials."""
    import copy

    headers = dict(api_client._http_options.headers or {})
    for name in list(headers):
        if name.lower() in ("x-goog-api-key", "authorization"):
            del headers[name]
    headers.update(await authorizer.headers_async())
    if "authorization" in headers:
        # The SDK's Vertex Live path adds its own "Authorization" (the placeholder credential)
        # unless that exact key is present; a lowercase twin made two Authorization headers.
        headers["Authorization"] = headers.pop("authorization")
    session_client = copy.copy(api_client)
    session_client._http_options = api_client._http_options.model_copy(update={"headers": headers})
    if not api_client.vertexai and "x-goog-api-key" in headers:
        # The Gemini API reads the key from the client as well (ephemeral-token detection).
        session_client.api_key = headers["x-goog-api-key"]
    return session_client


def _guard_messages(session: Any, call: Call, pipeline: Pipeline, socket: str = "_ws") -> None:
    """Route the session's client messages through the policies that inspect them."""
    from golden_path._transport._live_messages import GuardedSocket, message_policies

    senders, readers = message_policies(pipeline.chain.policies)
    # Every send_* method of the SDK's AsyncSession writes to ``_ws`` and receive() reads from
    # it (a Live Interaction's connection: ``_websocket``); without one, messages could not be
    # inspected, and such a session is not opened.
    if not hasattr(session, socket):
        if not senders and not readers:
            return  # nothing inspects messages; usage is then not metered per message
        from golden_path.exceptions import PolicyViolation

        name = (senders or readers)[0].name
        raise PolicyViolation(name, "this google-genai's Live session cannot be inspected")
    # A Live Interaction ends when its websocket closes (a terminal event, cancel, detach):
    # that is when its one audit event is written.
    on_close = call.stream_ended if socket == "_websocket" else None
    setattr(
        session, socket, GuardedSocket(getattr(session, socket), call, senders, readers, on_close)
    )


def _headers() -> Any:
    import httpx2

    return httpx2.Headers()


def _start(pipeline: Pipeline, api_client: Any, model: str, config: Any, *, music: bool) -> Call:
    import httpx2

    from golden_path._routes import normalize_model

    body: dict[str, Any] = {"model": model}
    body.update(_config_body(config))
    options = api_client._http_options
    session = getattr(config, "http_options", None)
    # A session-level base_url is where the websocket would go: it is what gets pinned.
    base = str((session.base_url if session is not None else None) or options.base_url or "")
    base = base.rstrip("/")
    scheme, sep, rest = base.partition("://")
    # The websocket the SDK opens, so the route table classifies the session like any request.
    if api_client.vertexai:
        path = (
            f"ws/google.cloud.aiplatform.{options.api_version}.LlmBidiService/BidiGenerateContent"
        )
    else:
        service = "BidiGenerateMusic" if music else "BidiGenerateContent"
        path = f"ws/google.ai.generativelanguage.{options.api_version}.GenerativeService.{service}"
    ws_scheme = "ws" if scheme == "http" else "wss"
    url = f"{f'{ws_scheme}://{rest}' if sep else base}/{path}"
    raw = json.dumps(body, separators=(",", ":"), default=str).encode()
    # A websocket opens with a GET (the upgrade); the setup message is its "body".
    call = pipeline.start(httpx2.Request("GET", url, content=raw))
    request = call.request
    request.api_method = "live.music.connect" if music else "live.connect"
    request.model = normalize_model(model)
    request.stream = True
    return call


def _without_credentials(config: Any) -> Any:
    """``config`` without per-session credential headers (the configured ones are set later)."""
    if config is None:
        return None
    from google.genai import types

    if isinstance(config, dict):
        config = types.LiveConnectConfig(**config)
    session = config.http_options
    if session is None or not session.headers:
        return config
    headers = {
        k: v
        for k, v in session.headers.items()
        if k.lower() not in ("x-goog-api-key", "authorization")
    }
    return config.model_copy(
        update={"http_options": session.model_copy(update={"headers": headers})}
    )


def _config_body(config: Any) -> dict[str, Any]:
    if config is None:
        return {}
    from google.genai import types

    if isinstance(config, dict):
        config = types.LiveConnectConfig(**config)
    exclude = {"http_options"}
    try:
        return dict(
            config.model_dump(mode="json", by_alias=True, exclude_none=True, exclude=exclude)
        )
    except Exception:  # noqa: BLE001 - tools given as Python functions do not serialise
        body = dict(
            config.model_dump(
                mode="json", by_alias=True, exclude_none=True, exclude=exclude | {"tools"}
            )
        )
        body["tools"] = [_tool(tool) for tool in config.tools or []]
        return body


def _tool(tool: Any) -> Any:
    if callable(tool) and not hasattr(tool, "model_dump"):
        return {"functionDeclarations": [{"name": getattr(tool, "__name__", "function")}]}
    return tool.model_dump(mode="json", by_alias=True, exclude_none=True)


def _applied(call: Call, model: str, config: Any) -> tuple[str, Any]:
    """The model and config to connect with, after the policies' rewrites."""
    request = call.request
    if not request.modified:
        return model, config
    from google.genai import types

    body = dict(request.body)
    new_model = str(body.pop("model", model))
    if config is None and not body:
        return new_model, None
    original = types.LiveConnectConfig(**config) if isinstance(config, dict) else config
    tools = original.tools if original is not None else None
    body.pop("tools", None)  # policies deny tools, never rewrite them: keep the caller's objects
    rebuilt = types.LiveConnectConfig.model_validate(body)
    rebuilt.tools = tools
    if original is not None:
        rebuilt.http_options = original.http_options
    return new_model, rebuilt
