"""Direct REST on the golden path: an ``httpx2`` client with base URL, auth, policies and audit.

For the calls the SDK does not wrap (or wraps differently): the client speaks the backend's own
REST API, rooted at its versioned base URL, and every request passes the same governed
transport as the SDK's (policy chain, then the wire, then one audit event).

Credentials are applied *after* the policy chain, inside the governed transport, so a request a
policy refuses never fetches a token, and no policy or audit content hook ever sees a secret.
The OpenAI-compatible clients (``_openai.py``) are built from the same parts.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx2

from golden_path._auth import Auth
from golden_path._factory import _resolve, build_pipeline, runtime_for
from golden_path._settings import ResolvedSettings, Settings

if TYPE_CHECKING:
    from golden_path._transport import GovernedAsyncTransport, GovernedTransport, Pipeline
    from golden_path.audit import AuditSink
    from golden_path.policies import Policy

__all__ = [
    "Authorizer",
    "async_http_client",
    "governed_async_transport",
    "governed_transport",
    "http_client",
    "rest_base_url",
]

# The REST versions with the widest surface: the SDK pins v1 for AI Studio, but files,
# cachedContents, batches and the OpenAI-compatible layer live under v1beta.
DEFAULT_REST_VERSIONS = {"ai_studio": "v1beta", "emulator": "v1beta", "vertex": "v1beta1"}


class Authorizer:
    """Puts the credentials on a request just before it goes on the wire.

    API keys go in ``x-goog-api-key`` (``bearer_key=True``: as ``Authorization: Bearer``, what
    the OpenAI-compatible endpoints expect). google-auth credentials are refreshed when
    ``not credentials.valid`` (google-auth counts a token as expired 225 s early), once for all
    threads; async callers refresh in a worker thread so the event loop is not blocked.
    """

    __slots__ = ("_auth", "_bearer_key", "_lock")

    def __init__(self, auth: Auth, *, bearer_key: bool = False) -> None:
        self._auth = auth
        self._bearer_key = bearer_key
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Authorizer {self._auth.mode} {self._auth.principal!r}>"

    def apply(self, request: httpx2.Request) -> None:
        """Set the auth headers (refreshing a token first if it is about to expire)."""
        credentials = self._auth.credentials
        if credentials is not None and not credentials.valid:
            self._refresh()
        self._set(request)

    async def apply_async(self, request: httpx2.Request) -> None:
        """:meth:`apply` for the event loop: the refresh (blocking HTTP) runs in a thread."""
        credentials = self._auth.credentials
        if credentials is not None and not credentials.valid:
            await asyncio.to_thread(self._refresh)
        self._set(request)

    def _refresh(self) -> None:
        credentials = self._auth.credentials
        assert credentials is not None
        with self._lock:
            # Another thread may have refreshed while this one waited.
            if not credentials.valid:
                import google.auth.transport.requests

                credentials.refresh(google.auth.transport.requests.Request())

    def _set(self, request: httpx2.Request) -> None:
        headers = request.headers
        credentials = self._auth.credentials
        if credentials is not None:
            applied: dict[str, str] = {}
            # Authorization, plus x-goog-user-project when the credentials carry a quota project.
            credentials.apply(applied)
            for name, value in applied.items():
                headers[name] = value
            return
        key = self._auth.api_key
        if key is None:
            return
        if self._bearer_key:
            headers["authorization"] = f"Bearer {key}"
        else:
            headers["x-goog-api-key"] = key


class _Authorizing(httpx2.BaseTransport):
    def __init__(self, inner: httpx2.BaseTransport, authorizer: Authorizer) -> None:
        self._inner = inner
        self._authorizer = authorizer

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        self._authorizer.apply(request)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


class _AsyncAuthorizing(httpx2.AsyncBaseTransport):
    def __init__(self, inner: httpx2.AsyncBaseTransport, authorizer: Authorizer) -> None:
        self._inner = inner
        self._authorizer = authorizer

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await self._authorizer.apply_async(request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def governed_transport(pipeline: Pipeline, authorizer: Authorizer) -> GovernedTransport:
    """Policies -> credentials -> the wire -> audit, for a sync ``httpx2`` client."""
    from golden_path._tls import ensure_trust
    from golden_path._transport import GovernedTransport

    def pool() -> httpx2.BaseTransport:
        inner = httpx2.HTTPTransport(verify=ensure_trust(), trust_env=True)
        return _Authorizing(inner, authorizer)

    return GovernedTransport(pipeline, pool)


def governed_async_transport(pipeline: Pipeline, authorizer: Authorizer) -> GovernedAsyncTransport:
    """The async twin; one pool per event loop, so a client survives ``asyncio.run()``."""
    from golden_path._tls import ensure_trust
    from golden_path._transport import GovernedAsyncTransport

    def pool() -> httpx2.AsyncBaseTransport:
        inner = httpx2.AsyncHTTPTransport(verify=ensure_trust(), trust_env=True)
        return _AsyncAuthorizing(inner, authorizer)

    return GovernedAsyncTransport(pipeline, pool)


def rest_base_url(settings: Settings, auth: Auth, endpoint: str) -> str:
    """The versioned API root, with a trailing slash, that relative REST paths start from.

    AI Studio ``{endpoint}/v1beta/``; Vertex AI ``{endpoint}/v1beta1/projects/{p}/locations/{l}/``;
    Vertex express mode ``{endpoint}/v1beta1/`` (express paths carry no project).
    ``api_version`` in the settings replaces the version.
    """
    backend = settings.backend or "ai_studio"
    version = settings.api_version or DEFAULT_REST_VERSIONS[backend]
    root = f"{endpoint.rstrip('/')}/{version}/"
    if backend == "vertex" and auth.mode != "vertex_express":
        root += f"projects/{settings.project}/locations/{settings.location}/"
    return root


def http_client(
    settings: Settings | None = None,
    *,
    policies: Sequence[Policy] | None = None,
    audit_sinks: Sequence[AuditSink] | None = None,
    **overrides: Any,
) -> httpx2.Client:
    """An ``httpx2.Client`` for direct REST calls, governed like the SDK client.

    Relative URLs start at :func:`rest_base_url`::

        with golden_path.http_client() as http:
            http.post("models/gemini-2.5-flash:countTokens", json={...}).json()

    ``settings``, ``policies``, ``audit_sinks`` and ``overrides`` work as for ``create_client``.
    """
    resolved = _resolve(settings, overrides)
    pipeline, authorizer, options = _parts(resolved, policies, audit_sinks)
    return httpx2.Client(transport=governed_transport(pipeline, authorizer), **options)


def async_http_client(
    settings: Settings | None = None,
    *,
    policies: Sequence[Policy] | None = None,
    audit_sinks: Sequence[AuditSink] | None = None,
    **overrides: Any,
) -> httpx2.AsyncClient:
    """The ``httpx2.AsyncClient`` twin of :func:`http_client` (usable across event loops)."""
    resolved = _resolve(settings, overrides)
    pipeline, authorizer, options = _parts(resolved, policies, audit_sinks)
    return httpx2.AsyncClient(transport=governed_async_transport(pipeline, authorizer), **options)


def _parts(
    resolved: ResolvedSettings,
    policies: Sequence[Policy] | None,
    audit_sinks: Sequence[AuditSink] | None,
) -> tuple[Pipeline, Authorizer, dict[str, Any]]:
    settings = resolved.settings
    auth, endpoint, _ = runtime_for(resolved)
    # No product suffix: the partner guide identifies direct REST traffic like the SDK's.
    pipeline = build_pipeline(
        settings, policies=policies, audit_sinks=audit_sinks, sources=resolved.sources
    )
    user_agent = " ".join(filter(None, [pipeline.client_id, pipeline.user_agent_tokens]))
    options: dict[str, Any] = {
        "base_url": rest_base_url(settings, auth, endpoint),
        "headers": {"x-goog-api-client": pipeline.client_id, "user-agent": user_agent},
        "timeout": settings.timeout_s,
        "follow_redirects": True,
    }
    return pipeline, Authorizer(auth), options
