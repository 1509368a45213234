"""The gateway as a plain ASGI application: authenticate, route, govern, pass through.

Each request: the app's identity (key, OIDC token or client certificate) is established, its
own credential stripped, the path mapped to the upstream's shape, and the request sent through
the very transport the in-process client uses (``golden_path._http.governed_async_transport``:
policies, then Google credentials, then the wire, then one audit event), with a pipeline whose
identity is the calling app. Responses, server-sent event streams included, are passed on chunk
by chunk as they arrive; nothing is buffered but a non-streamed body the policies must read.

No framework: a router of four fixed paths does not need one, and every microsecond here is
added to every call an app makes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx2

from golden_path._factory import _resolve, build_pipeline, runtime_for
from golden_path._http import Authorizer
from golden_path._log import Diagnostics
from golden_path._state import StoreUnavailable
from golden_path._transport import REQUEST_ID_HEADER, GovernedAsyncTransport, Pipeline
from golden_path.exceptions import PolicyViolation
from golden_path.gateway._config import GatewayConfig
from golden_path.gateway._errors import ErrorResponse, error_response, violation_response
from golden_path.gateway._identity import (
    Caller,
    KeyRing,
    MTLSIdentities,
    OIDCVerifier,
    Unauthenticated,
)
from golden_path.gateway._metrics import Metrics
from golden_path.gateway._routing import NotServed, Upstream, target
from golden_path.policies._chain import Chain
from golden_path.policies._routing import RoutesPolicy
from golden_path.policies._types import Deny, Identity

if TYPE_CHECKING:
    from golden_path._settings import Settings
    from golden_path.audit import AuditSink
    from golden_path.gateway._ownership import Owners, StreamedCreate

__all__ = ["Gateway"]

diagnostics = Diagnostics("golden_path.gateway")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

# Never forwarded: hop-by-hop headers, the app's own credentials (the gateway puts Google's on
# after the policies ran), and headers only the gateway may set.
_DROPPED = frozenset(
    {
        b"host",
        b"connection",
        b"keep-alive",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
        b"x-goog-api-key",
        b"authorization",
        b"cookie",
        b"x-goog-user-project",
        REQUEST_ID_HEADER.encode(),
    }
)
# Hop-by-hop headers, and those the gateway's server writes itself (uvicorn's Date: one
# answer with two Date headers is malformed).
_DROPPED_BACK = frozenset(
    {b"connection", b"keep-alive", b"transfer-encoding", b"trailer", b"upgrade", b"server", b"date"}
)
_INTERNAL = ("/healthz", "/readyz", "/metrics")
# Methods httpx2 gives "Content-Length: 0" when they have no body (see _request).
_EMPTY_BODY_LENGTH = frozenset({"POST", "PUT", "PATCH", "QUERY"})
_MAX_CACHED_URLS = 4096
# Concurrent upstream requests of one replica (streams included); each is kept alive when idle,
# so a burst does not end in a storm of new TLS handshakes.
_MAX_UPSTREAM_CONNECTIONS = 512
_REFUSAL = "gateway.refusal"  # request.state: why the gateway itself refused the request


class Gateway:
    """The ASGI application of one gateway replica.

    ``settings`` (else golden-path's configured sources) says where requests go and with which
    Google credentials, policies and audit sinks; ``config`` how apps authenticate.
    ``policies``/``audit_sinks`` replace the configured ones (tests, programmatic wiring).
    """

    def __init__(
        self,
        config: GatewayConfig,
        settings: Settings | None = None,
        *,
        policies: Sequence[Any] | None = None,
        audit_sinks: Sequence[AuditSink] | None = None,
    ) -> None:
        resolved = _resolve(settings, {})
        self.settings = resolved.settings
        self.config = config
        auth, endpoint, _ = runtime_for(resolved)
        backend = self.settings.backend or "ai_studio"
        self.upstream = Upstream(
            backend=backend,
            endpoint=endpoint.rstrip("/"),
            project=self.settings.project,
            location=self.settings.location,
            express=auth.mode == "vertex_express",
        )
        # One pipeline's chain and sinks, shared by every app: limits count across apps, and
        # one audit stream holds every request.
        # The policy loader checks that a limit scoped by app or team has one to count by; here
        # each request brings its own (the caller's), so the chain is built as if both were set.
        chain_settings = self.settings.model_copy(
            update={"app": self.settings.app or "*", "team": self.settings.team or "*"}
        )
        self._base = build_pipeline(
            chain_settings, policies=policies, audit_sinks=audit_sinks, sources=resolved.sources
        )
        self._chain = self._base.chain
        self.owners = _owners(config, self.settings)
        if self.owners is not None:
            from golden_path.gateway._ownership import OwnershipPolicy

            # Right after the route gate: a foreign resource is refused before limits reserve.
            first, *rest = self._chain.policies
            self._chain = Chain(
                (first, OwnershipPolicy(self.owners), *rest), fail_open=self._chain.fail_open
            )
        self._authorizer = Authorizer(auth)
        # AI Studio's OpenAI-compatible layer wants its key as a bearer token.
        self._bearer = Authorizer(auth, bearer_key=True)
        self._transports: dict[tuple[str, str | None], GovernedAsyncTransport] = {}
        self._pool: _Credentials | None = None
        self._urls: dict[tuple[str, bytes], httpx2.URL] = {}
        self._refusals: dict[tuple[str, str | None, str | None], Pipeline] = {}
        self._timeout = {
            "connect": 10.0,
            "read": config.upstream_timeout_s,
            "write": config.upstream_timeout_s,
            "pool": 10.0,
        }
        self.keys = KeyRing(config.keys_file) if config.keys_file is not None else None
        self.oidc = (
            OIDCVerifier(
                issuer=config.oidc_issuer,
                audience=config.oidc_audience or "",
                jwks=config.oidc_jwks or "",
                app_claim=config.oidc_app_claim,
                team_claim=config.oidc_team_claim,
                subjects=config.oidc_subjects,
            )
            if config.oidc_issuer
            else None
        )
        # Signs the upload URLs handed to apps; replicas behind one load balancer share it.
        self._upload_key = (
            config.upload_signing_key.get_secret_value().encode()
            if config.upload_signing_key is not None
            else os.urandom(32)
        )
        self.mtls = MTLSIdentities(config.mtls_subjects) if config.tls_client_ca else None
        self.metrics = Metrics(lambda: self.in_flight) if config.metrics else None
        self.ready = False
        self.draining = False
        self.in_flight = 0

    # ---------------------------------------------------------------------------- ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path = scope["path"]
            if path in _INTERNAL:
                await self._internal(path, send)
                return
            await self._http(scope, receive, send)
        elif kind == "websocket":
            from golden_path.gateway._live import serve_live

            self.in_flight += 1
            try:
                await serve_live(self, scope, receive, send)
            finally:
                self.in_flight -= 1
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.ready = True
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.draining = True
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def aclose(self) -> None:
        """Close the upstream connection pool."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close_pool()

    async def _internal(self, path: str, send: Send) -> None:
        if path == "/healthz":
            await _plain(send, 200, b"ok\n")
        elif path == "/readyz":
            # Not ready before start-up and from the first SIGTERM on, so the load balancer
            # stops sending new requests while in-flight streams finish.
            if self.ready and not self.draining:
                await _plain(send, 200, b"ready\n")
            else:
                await _plain(send, 503, b"draining\n" if self.draining else b"starting\n")
        elif self.metrics is None:
            await _plain(send, 404, b"metrics are off\n")
        else:
            body, content_type = self.metrics.exposition()
            await _plain(send, 200, body, content_type.encode())

    # ---------------------------------------------------------------------------- identity

    def authenticate(self, scope: Scope) -> Caller:
        """The calling app, from its key, OIDC token, client certificate or upload URL."""
        key, bearer = _credentials(scope)
        for token in (key, bearer):
            if not token:
                continue
            if self.keys is not None:
                caller = self.keys.lookup(token)
                if caller is not None:
                    return caller
            if self.oidc is not None and token.count(".") == 2:
                return self.oidc.verify(token)
        peer = scope.get("extensions", {}).get("tls", {}).get("client_cert")
        if peer and self.mtls is not None:
            return self.mtls.identify(peer)
        if key or bearer:
            if (key or bearer or "").startswith("auth_tokens/"):
                raise Unauthenticated(
                    "an auth_tokens/... token is Google's ephemeral token: it opens a session "
                    "at Google directly, not through the gateway; send the app's gateway "
                    "credential instead"
                )
            raise Unauthenticated("the app key is not valid (unknown, revoked or expired)")
        if b"gp_sig=" in scope.get("query_string", b""):
            caller = self._upload_caller(scope["query_string"].decode("latin-1"))
            if caller is not None:
                return caller
        raise Unauthenticated(
            "no app credential: send the key the platform issued as x-goog-api-key "
            "(or Authorization: Bearer), an OIDC token, or a client certificate"
        )

    async def authorize(self, request: httpx2.Request) -> None:
        """Put Google's credentials on ``request`` (Live websockets, which httpx does not send)."""
        await self._authorizer.apply_async(request)

    def pipeline_for(self, caller: Caller) -> Pipeline:
        """The pipeline of one app: the shared chain and sinks, the app's identity."""
        return self.transport_for(caller).pipeline

    def transport_for(self, caller: Caller) -> GovernedAsyncTransport:
        """The governed transport of one app (built once per app and team)."""
        key = (caller.app, caller.team)
        found = self._transports.get(key)
        if found is None:
            base = self._base
            identity = base.identity
            tokens = " ".join(
                f"{label}/{value}"
                for label, value in (("app", caller.app), ("team", caller.team))
                if value
            )
            pipeline = Pipeline(
                identity=Identity(
                    app=caller.app,
                    team=caller.team,
                    client_id=identity.client_id,
                    backend=identity.backend,
                    project=identity.project,
                    location=identity.location,
                ),
                chain=self._chain,
                auditor=base.auditor,
                sdk_version=base.sdk_version,
                version=base.version,
                user_agent_tokens=tokens,
                content=base.content,
            )
            found = self._transports[key] = GovernedAsyncTransport(pipeline, self._shared_pool)
        return found

    async def audit_refusal(
        self,
        scope: Scope,
        reason: str,
        *,
        caller: Caller | None = None,
        policy: str = "gateway.authentication",
    ) -> str | None:
        """Audit a request the gateway itself refuses, as any denied request; its request id.

        A refused credential has no app and is denied by ``gateway.authentication``; a Live
        handshake for a path the gateway does not serve is denied by ``gateway.routing`` under
        the caller's identity. One event each, nothing sent upstream.
        """
        key = (policy, caller.app if caller else None, caller.team if caller else None)
        pipeline = self._refusals.get(key)
        if pipeline is None:
            base = self._base
            pipeline = Pipeline(
                identity=Identity(
                    app=key[1],
                    team=key[2],
                    client_id=base.identity.client_id,
                    backend=base.identity.backend,
                    project=base.identity.project,
                    location=base.identity.location,
                ),
                chain=Chain([_RefusalGate(), _Refusal(policy)]),
                auditor=base.auditor,
                sdk_version=base.sdk_version,
                version=base.version,
                user_agent_tokens="",
            )
            if len(self._refusals) < 1024:  # bounded: app names come from verified credentials
                self._refusals[key] = pipeline
        path = scope["path"] if scope["path"].startswith("/") else "/"
        try:
            call = pipeline.start(
                httpx2.Request(scope.get("method", "GET"), self.upstream.endpoint + path)
            )
            call.request.state[_REFUSAL] = reason
            await call.abefore()
        except PolicyViolation as violation:
            return violation.request_id
        except Exception as exc:  # noqa: BLE001 - a path the transport cannot even classify
            diagnostics.warning(
                "golden_path.gateway.audit_failed",
                f"could not audit the refused request to {scope['path']}: {type(exc).__name__}",
                path=scope["path"],
                error=type(exc).__name__,
            )
        return None

    def _shared_pool(self) -> httpx2.AsyncBaseTransport:
        # Every app's transport shares one upstream pool (and its kept-alive connections).
        if self._pool is None:
            from golden_path._tls import ensure_trust
            from golden_path._transport._httptools import upstream_transport

            inner = upstream_transport(
                ensure_trust(), max_connections=_MAX_UPSTREAM_CONNECTIONS, keepalive_expiry=60.0
            )
            self._pool = _Credentials(inner, self._authorizer, self._bearer, self.upstream)
        return self._pool

    # ---------------------------------------------------------------------------- HTTP

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        self.in_flight += 1
        metrics = self.metrics
        app, team, method, code = "", None, "unknown", 500
        try:
            try:
                caller = self.authenticate(scope)
            except Unauthenticated as exc:
                if metrics is not None:
                    metrics.refused_credentials.inc()
                diagnostics.warning(
                    "golden_path.gateway.refused",
                    f"refused {scope['method']} {scope['path']}: {exc}",
                    method=scope["method"],
                    path=scope["path"],
                    reason=str(exc),
                )
                request_id = await self.audit_refusal(scope, str(exc))
                code = await _answer(
                    send,
                    error_response(401, str(exc), reason="UNAUTHENTICATED", request_id=request_id),
                )
                return
            app, team = caller.app, caller.team
            code, method = await self._proxy(caller, scope, receive, send)
        finally:
            self.in_flight -= 1
            if metrics is not None:
                metrics.observe(app, team, method, code, time.perf_counter() - started)

    async def _proxy(
        self, caller: Caller, scope: Scope, receive: Receive, send: Send
    ) -> tuple[int, str]:
        prepared = await self._request(scope, receive)
        if isinstance(prepared, int):
            return prepared, "unknown"  # the app went away before its body arrived
        if not isinstance(prepared, _Prepared):
            return await _answer(send, prepared), "unknown"
        request, method = prepared
        try:
            response = await self.transport_for(caller).handle_async_request(request)
        except PolicyViolation as violation:
            return await _answer(send, violation_response(violation)), method
        except httpx2.HTTPError as exc:
            return await _answer(send, _upstream_failed(exc)), method
        owners = self.owners
        if owners is not None and owners.wants(request.method, scope["path"]):
            return await self._owned(
                caller, scope=scope, receive=receive, send=send, request=request, response=response
            ), method
        out = []
        for name, value in response.headers.raw:
            lower = name.lower()
            if lower not in _DROPPED_BACK:
                out.append(
                    (lower, self._public_upload_url(scope, value, caller))
                    if lower == b"x-goog-upload-url"
                    else (lower, value)
                )
        await send({"type": "http.response.start", "status": response.status_code, "headers": out})
        stream = response.stream
        if isinstance(stream, httpx2.ByteStream):
            # A buffered body (the transport read it for the policies and the audit): its
            # bytes as they came, read without an async iterator.
            body = b"".join(stream)
            await send({"type": "http.response.body", "body": body})
        else:
            await self._pass_stream(response, receive, send)
        return response.status_code, method

    async def _owned(
        self,
        caller: Caller,
        *,
        scope: Scope,
        receive: Receive,
        send: Send,
        request: httpx2.Request,
        response: httpx2.Response,
    ) -> int:
        """Pass an answer the owner records read: a create, a list, a delete (see _ownership)."""
        from golden_path.gateway._ownership import StreamedCreate, decoded

        owners = self.owners
        assert owners is not None  # checked by the caller
        headers = [
            (name.lower(), value)
            for name, value in response.headers.raw
            if name.lower() not in _DROPPED_BACK
        ]
        upload = [v for k, v in headers if k == b"x-goog-upload-url"]
        if upload:
            headers = [(k, v) for k, v in headers if k != b"x-goog-upload-url"]
            headers.append(
                (b"x-goog-upload-url", self._public_upload_url(scope, upload[0], caller))
            )
        if not isinstance(response.stream, httpx2.ByteStream):
            # A streamed interaction create: its first event names what it made.
            await send(
                {"type": "http.response.start", "status": response.status_code, "headers": headers}
            )
            watcher = StreamedCreate(owners, caller.app, caller.team)
            await self._pass_stream(response, receive, send, watcher)
            return response.status_code
        raw = b"".join([part async for part in response.stream])
        body = decoded(raw, response.headers.get("content-encoding"))
        if body is None:
            return await _answer(
                send,
                error_response(
                    502,
                    "the upstream's answer is compressed in a way the gateway cannot read, so "
                    "it cannot tell whose resources it names",
                    reason="UPSTREAM_UNAVAILABLE",
                ),
            )
        try:
            replaced = owners.answered(
                caller.app,
                caller.team,
                method=request.method,
                path=scope["path"],
                status=response.status_code,
                body=body,
            )
        except StoreUnavailable as exc:
            return await _answer(
                send,
                error_response(
                    503, f"cannot read or record resource owners: {exc}", reason="STATE_UNAVAILABLE"
                ),
            )
        if replaced is not None or body is not raw:
            out = replaced if replaced is not None else body
            headers = [
                (k, v) for k, v in headers if k not in (b"content-length", b"content-encoding")
            ]
            headers.append((b"content-length", b"%d" % len(out)))
        else:
            out = raw
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": headers}
        )
        await send({"type": "http.response.body", "body": out})
        return response.status_code

    async def _request(self, scope: Scope, receive: Receive) -> _Prepared | ErrorResponse | int:
        """The upstream request, or the error to answer instead (499: the app went away)."""
        raw_path = scope.get("raw_path") or scope["path"].encode()
        try:
            where = target(scope["method"], raw_path.decode("latin-1"), self.upstream)
        except NotServed as exc:
            if exc.unsafe:
                return error_response(400, str(exc), reason="BAD_PATH")
            return error_response(404, str(exc), reason="NOT_SERVED")
        try:
            body = await _read_body(receive, self.config.max_body_bytes)
        except _ClientGone:
            return 499
        if body is None:
            return error_response(
                413,
                f"the request body is larger than {self.config.max_body_bytes} bytes",
                reason="BODY_TOO_LARGE",
            )
        if where.rewrite is not None:
            try:
                body = where.rewrite(body)
            except NotServed as exc:
                return error_response(400, str(exc), reason="BAD_REQUEST")
        query = scope.get("query_string") or b""
        if query and (b"key=" in query or b"gp_" in query):
            query = _without_credentials(query)
        url = self._url(where.path, query)
        method = scope["method"]
        # The same headers and body httpx2 makes of content=body (Host first, then its
        # Content-Length; the app's own Host and Content-Length are in _DROPPED), made directly:
        # its encode_request and header lookups cost ~9-13 us of CPU per proxied call.
        headers = [(b"Host", url.netloc)]
        headers += [(k, v) for k, v in scope["headers"] if k not in _DROPPED]
        if body:
            headers.append((b"Content-Length", b"%d" % len(body)))
        elif method in _EMPTY_BODY_LENGTH:
            headers.insert(1, (b"Content-Length", b"0"))
        request = httpx2.Request(
            method,
            url,
            headers=headers,
            stream=httpx2.ByteStream(body),
            extensions={"timeout": self._timeout},
        )
        request.read()  # the body is known: the policies and the audit read it as content
        return _Prepared(request, where.match.route.name)

    def _url(self, path: str, query: bytes) -> httpx2.URL:
        """The upstream URL, parsed once per distinct path and query.

        httpx2 checks a URL character by character, a sizeable share of a proxied call's cost;
        apps call the same few model paths over and over. Bounded: a new entry past the limit
        is parsed and not kept.
        """
        key = (path, query)
        url = self._urls.get(key)
        if url is None:
            url = httpx2.URL(
                self.upstream.endpoint + path + ("?" + query.decode("latin-1") if query else "")
            )
            if len(self._urls) < _MAX_CACHED_URLS:
                self._urls[key] = url
        return url

    async def _pass_stream(
        self,
        response: httpx2.Response,
        receive: Receive,
        send: Send,
        watcher: StreamedCreate | None = None,
    ) -> None:
        """Send each chunk on as it arrives; stop reading upstream when the app goes away."""
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            async for chunk in response.stream:  # type: ignore[union-attr]
                if gone.done():
                    break
                if watcher is not None and not watcher.done:
                    watcher.feed(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            else:
                await send({"type": "http.response.body", "body": b""})
        finally:
            gone.cancel()
            # Closing an unfinished stream records it as cancelled in the audit trail.
            await response.aclose()

    def _public_upload_url(self, scope: Scope, value: bytes, caller: Caller) -> bytes:
        # The upstream's resumable-upload URL names the upload session; the app must send its
        # chunks back through the gateway, so the host changes. Chunks carry no credential (the
        # URL is one, in Google's protocol), so the URL also carries the app it belongs to,
        # signed: any replica can take any chunk, and no other app can use it. Nothing is kept.
        parts = urlsplit(value.decode("latin-1"))
        base = self.config.public_url
        if not base:
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            base = f"{scope.get('scheme', 'http')}://{host}"
        query = parts.query
        signed = urlencode(
            {
                "gp_app": caller.app,
                "gp_team": caller.team or "",
                "gp_sig": self._sign(query, caller),
            }
        )
        query = f"{query}&{signed}" if query else signed
        return f"{base.rstrip('/')}{parts.path}?{query}".encode("latin-1")

    def _sign(self, upstream_query: str, caller: Caller) -> str:
        message = f"{upstream_query}\0{caller.app}\0{caller.team or ''}".encode()
        return hmac.new(self._upload_key, message, hashlib.sha256).hexdigest()[:32]

    def _upload_caller(self, query: str) -> Caller | None:
        """The app a signed upload URL belongs to (see _public_upload_url), else None."""
        pairs = parse_qsl(query, keep_blank_values=True)
        signed = {k: v for k, v in pairs if k.startswith("gp_")}
        if "gp_sig" not in signed:
            return None
        upstream_query = urlencode([(k, v) for k, v in pairs if not k.startswith("gp_")])
        caller = Caller(signed.get("gp_app", ""), signed.get("gp_team") or None, "upload", "")
        if not caller.app or not hmac.compare_digest(
            self._sign(upstream_query, caller), signed["gp_sig"]
        ):
            raise Unauthenticated("the upload URL's signature does not verify")
        return caller


class _Refusal:
    """What a request the gateway refuses itself meets: a denial, audited as any other."""

    def __init__(self, name: str) -> None:
        self.name = name

    def on_request(self, request: Any) -> None:
        raise Deny(str(request.state.get(_REFUSAL, "refused by the gateway")))


class _RefusalGate(RoutesPolicy):
    """``[routes]`` in front of a refusal: the route table's own reasons come first.

    Not what it asks of a request on one interaction: a refused handshake carries no body, and
    "names no interaction" would hide the refusal's own reason.
    """

    def _on_interaction(self, request: Any) -> str | None:
        return None


class _Credentials(httpx2.AsyncBaseTransport):
    """Google's credentials, put on after the policies ran (so a denied call never has them).

    Every app's transport holds the one shared pool through it, and none may close it: its
    ``aclose`` does nothing; the gateway closes the pool (``close_pool``) when it stops.
    """

    def __init__(
        self,
        inner: httpx2.AsyncBaseTransport,
        authorizer: Authorizer,
        bearer: Authorizer,
        upstream: Upstream,
    ) -> None:
        self._inner = inner
        self._authorizer = authorizer
        self._bearer = bearer
        self._openai_bearer = upstream.backend in ("ai_studio", "emulator")

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self._openai_bearer and "/openai/" in request.url.path:
            await self._bearer.apply_async(request)
        else:
            await self._authorizer.apply_async(request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        return None  # an app's transport closing: the shared pool stays open

    async def close_pool(self) -> None:
        """Close the shared pool (the gateway stops)."""
        await self._inner.aclose()


class _Prepared(NamedTuple):
    request: httpx2.Request
    method: str  # the route table's name of the call


class _ClientGone(Exception):
    """The app disconnected before its request body arrived."""


def _owners(config: GatewayConfig, settings: Settings) -> Owners | None:
    """The owner records of the gateway's state store, unless resources are shared by all."""
    if config.resource_sharing == "all":
        return None
    from golden_path._state import open_store, parse_state_url
    from golden_path.gateway._ownership import Owners

    # Settings validated the URL already (a bad one never reaches here).
    state = parse_state_url(settings.state_url.get_secret_value())
    return Owners(
        open_store(state),
        state.prefix,
        sharing=config.resource_sharing,
        unowned=config.unowned_resources,
    )


def _credentials(scope: Scope) -> tuple[str | None, str | None]:
    """The app's key and bearer token, wherever its SDK put them (header or ``?key=``)."""
    key = bearer = None
    for name, value in scope["headers"]:
        if name == b"x-goog-api-key":
            key = value.decode("latin-1")
        elif name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() in ("bearer", "token"):
                bearer = token.strip()
    if key is None and bearer is None and b"key=" in scope.get("query_string", b""):
        key = dict(parse_qsl(scope["query_string"].decode("latin-1"))).get("key")
    return key, bearer


def _upstream_failed(exc: httpx2.HTTPError) -> ErrorResponse:
    if isinstance(exc, httpx2.TimeoutException):
        return error_response(
            504,
            f"upstream timed out: {exc}",
            reason="UPSTREAM_TIMEOUT",
            request_id=_request_id(exc),
        )
    return error_response(
        502,
        f"upstream failed: {type(exc).__name__}: {exc}",
        reason="UPSTREAM_UNAVAILABLE",
        request_id=_request_id(exc),
    )


def _request_id(exc: BaseException) -> str | None:
    for note in getattr(exc, "__notes__", ()):
        if note.startswith("golden-path request id: "):
            return str(note.rsplit(" ", 1)[1])
    return None


def _without_credentials(query: bytes) -> bytes:
    """The query minus the app's ``key`` and the gateway's own upload signature."""
    pairs = [
        (k, v)
        for k, v in parse_qsl(query.decode("latin-1"), keep_blank_values=True)
        if k != "key" and not k.startswith("gp_")
    ]
    return urlencode(pairs).encode("latin-1")


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _disconnected(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _answer(send: Send, response: ErrorResponse) -> int:
    status, headers, body = response
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return status


async def _plain(
    send: Send, status: int, body: bytes, content_type: bytes = b"text/plain; charset=utf-8"
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
