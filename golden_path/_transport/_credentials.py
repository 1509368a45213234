"""Credentials, pinned to the endpoint and set at send time, after the policies.

Every golden-path client (SDK, OpenAI-compatible, REST, Live) hands its library a placeholder
credential; the real API key or access token is put on a request here, inside the governed
transport, only when the request's origin is the configured endpoint (scheme, host, port and
path prefix) or one the platform listed in ``[routes] origins``. So:

- a per-call ``base_url``, an absolute URL on another host, or a redirect to another origin
  is refused before anything is sent, and never carries a credential;
- a per-call ``x-goog-api-key``/``Authorization`` header (or ``?key=``) cannot replace the
  configured credential: it is removed and the configured one set;
- policies and audit content hooks see only the placeholder;
- a denied request never fetches an OAuth token (the refresh happens here, after the chain).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import httpx2

if TYPE_CHECKING:
    from golden_path._auth import Auth
    from golden_path._transport._call import Pipeline
    from golden_path._transport._http import GovernedAsyncTransport, GovernedTransport

__all__ = [
    "PLACEHOLDER_KEY",
    "Authorizer",
    "Endpoint",
    "governed_async_transport",
    "governed_transport",
    "placeholder_credentials",
]

PLACEHOLDER_KEY = "golden-path-sets-the-credential-at-send-time"
"""What libraries are given instead of the API key; never valid anywhere."""
_CREDENTIAL_HEADERS = ("x-goog-api-key", "authorization", "proxy-authorization")
_CREDENTIAL_KEYS = frozenset(name.encode() for name in _CREDENTIAL_HEADERS)
_DEFAULT_PORTS = {"https": 443, "http": 80}
_SCHEMES = {"wss": "https", "ws": "http"}


def _origin(url: str) -> tuple[str, str, int, str]:
    parts = urlsplit(url)
    scheme = _SCHEMES.get(parts.scheme, parts.scheme)
    host = (parts.hostname or "").rstrip(".").lower()
    port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    return scheme, host, port, parts.path.rstrip("/")


class Endpoint:
    """Where credentials may go: the configured endpoint and any extra origins."""

    __slots__ = ("_allowed", "_last", "_verdicts", "base_url")

    def __init__(self, base_url: str, extra: Iterable[str] = ()) -> None:
        self.base_url = base_url.rstrip("/")
        self._allowed = [_origin(u) for u in (base_url, *extra)]
        # The last URL found allowed: the Call checks a request's URL before the policies,
        # the Authorizer the same URL object after them. httpx2 URLs are immutable.
        self._last: httpx2.URL | None = None
        # Verdicts by parsed URL (scheme, authority, path, query...): a URL httpx2 built anew
        # for each call (query parameters merged in, as for ?alt=sse) is judged once.
        self._verdicts: dict[Any, bool] = {}

    def __repr__(self) -> str:
        return f"Endpoint({self.base_url!r})"

    def allows(self, url: httpx2.URL) -> bool:
        """Whether ``url`` is under the endpoint or an extra origin (exact host, port, prefix)."""
        if url is self._last:
            return True
        # httpx2 keeps the parsed URL as a named tuple of its parts: what the verdict reads.
        key = url._uri_reference
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self._judge(url)
            if len(self._verdicts) < 256:  # an app calls a few methods of a few models
                self._verdicts[key] = verdict
        if verdict:
            self._last = url
        return verdict

    def _judge(self, url: httpx2.URL) -> bool:
        scheme = _SCHEMES.get(url.scheme, url.scheme)
        host = url.host.rstrip(".").lower()
        port = url.port or _DEFAULT_PORTS.get(scheme, 0)
        path = url.raw_path.decode("ascii", "replace").partition("?")[0]
        for a_scheme, a_host, a_port, prefix in self._allowed:
            if (scheme, host, port) == (a_scheme, a_host, a_port) and (
                not prefix or path == prefix or path.startswith(prefix + "/")
            ):
                return True
        return False

    def refusal(self, url: httpx2.URL) -> str:
        """Why a request for ``url`` is refused, and what to do."""
        shown = f"{url.scheme}://{url.host}{f':{url.port}' if url.port else ''}"
        return (
            f"credentials go only to {self.base_url}; a request for {shown} was refused "
            "(drop the per-call base_url or absolute URL, or have the platform add the origin "
            "to [routes] origins)"
        )


class Authorizer:
    """Puts the configured credential on a request just before it goes on the wire.

    API keys go in ``x-goog-api-key`` (``bearer_key=True``: as ``Authorization: Bearer``, what
    the OpenAI-compatible endpoints expect). google-auth credentials are refreshed when
    ``not credentials.valid`` (google-auth counts a token as expired 225 s early), once for all
    threads; async callers refresh in a worker thread so the event loop is not blocked.
    """

    __slots__ = ("_auth", "_bearer_key", "_lock", "endpoint")

    def __init__(
        self, auth: Auth, *, bearer_key: bool = False, endpoint: Endpoint | None = None
    ) -> None:
        self._auth = auth
        self._bearer_key = bearer_key
        self._lock = threading.Lock()
        self.endpoint = endpoint

    def __repr__(self) -> str:
        return f"<Authorizer {self._auth.mode} {self._auth.principal!r}>"

    def apply(self, request: httpx2.Request) -> None:
        """Check the origin, drop caller credentials, set ours (refreshing a token first)."""
        self._check(request)
        credentials = self._auth.credentials
        if credentials is not None and not credentials.valid:
            self._refresh()
        self._set(request.headers)

    async def apply_async(self, request: httpx2.Request) -> None:
        """:meth:`apply` for the event loop: the refresh (blocking HTTP) runs in a thread."""
        self._check(request)
        credentials = self._auth.credentials
        if credentials is not None and not credentials.valid:
            await asyncio.to_thread(self._refresh)
        self._set(request.headers)

    async def headers_async(self) -> dict[str, str]:
        """The credential headers alone (for websockets, which httpx never sees)."""
        credentials = self._auth.credentials
        if credentials is not None and not credentials.valid:
            await asyncio.to_thread(self._refresh)
        headers = httpx2.Headers()
        self._set(headers)
        return dict(headers.items())

    def _check(self, request: httpx2.Request) -> None:
        endpoint = self.endpoint
        if endpoint is not None and not endpoint.allows(request.url):
            # The Call checked before the policies; this is the last line, after any rewrite.
            from golden_path.exceptions import PolicyViolation

            raise PolicyViolation("routes", endpoint.refusal(request.url))
        if b"key=" in request.url.query:
            params = [(k, v) for k, v in request.url.params.multi_items() if k != "key"]
            request.url = request.url.copy_with(params=params)

    def _refresh(self) -> None:
        credentials = self._auth.credentials
        assert credentials is not None
        with self._lock:
            # Another thread may have refreshed while this one waited.
            if not credentials.valid:
                import google.auth.transport.requests

                credentials.refresh(google.auth.transport.requests.Request())

    def _set(self, headers: httpx2.Headers) -> None:
        credentials = self._auth.credentials
        key = self._auth.api_key
        if credentials is None and key is not None:
            # Every credential header the caller sent goes, ours is added: one pass over
            # httpx2's list (its `in`, `del` and set walk the list once each).
            header = b"authorization" if self._bearer_key else b"x-goog-api-key"
            text = f"Bearer {key}" if self._bearer_key else key
            kept = [item for item in headers._list if item[1] not in _CREDENTIAL_KEYS]
            kept.append((header, header, text.encode(headers._encoding or "utf-8")))
            headers._list = kept
            return
        for name in _CREDENTIAL_HEADERS:
            if name in headers:
                del headers[name]
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


def governed_transport(
    pipeline: Pipeline,
    authorizer: Authorizer,
    make_inner: Callable[[], httpx2.BaseTransport] | None = None,
    *,
    wire: Literal["httptools", "httpx2"] = "httpx2",
) -> GovernedTransport:
    """Policies -> credentials -> the wire -> audit, for a sync ``httpx2`` client.

    ``wire`` picks the innermost hop when ``make_inner`` is not given: httpx2's own pool or
    the blocking httptools client (``_transport/_httptools_sync.py``).
    """
    from golden_path._tls import ensure_trust
    from golden_path._transport._http import GovernedTransport

    def pool() -> httpx2.BaseTransport:
        inner: httpx2.BaseTransport
        if make_inner is not None:
            inner = make_inner()
        elif wire == "httptools":
            from golden_path._transport._aiohttp import MAX_CONNECTIONS
            from golden_path._transport._httptools_sync import SyncUpstreamPool

            # httpx2's own pool defaults: as many connections, idle ones closed after 5 s.
            inner = SyncUpstreamPool(
                ensure_trust(), max_connections=MAX_CONNECTIONS, keepalive_expiry=5.0
            )
        else:
            inner = httpx2.HTTPTransport(verify=ensure_trust(), trust_env=True)
        return _Authorizing(inner, authorizer)

    return GovernedTransport(pipeline, pool)


def governed_async_transport(
    pipeline: Pipeline,
    authorizer: Authorizer,
    make_inner: Callable[[], httpx2.AsyncBaseTransport] | None = None,
    *,
    wire: Literal["aiohttp", "httptools", "httpx2"] = "httpx2",
) -> GovernedAsyncTransport:
    """The async twin; one pool per event loop, so a client survives ``asyncio.run()``.

    ``wire`` picks the innermost hop when ``make_inner`` is not given: httpx2's own pool, an
    aiohttp session (``_transport/_aiohttp.py``) or the httptools client
    (``_transport/_httptools.py``); everything that governs sits above it.
    """
    from golden_path._tls import ensure_trust
    from golden_path._transport._http import GovernedAsyncTransport

    def pool() -> httpx2.AsyncBaseTransport:
        inner: httpx2.AsyncBaseTransport
        if make_inner is not None:
            inner = make_inner()
        elif wire == "aiohttp":
            from golden_path._transport._aiohttp import AiohttpTransport

            inner = AiohttpTransport(ensure_trust())
        elif wire == "httptools":
            from golden_path._transport._aiohttp import MAX_CONNECTIONS
            from golden_path._transport._httptools import upstream_transport

            # httpx2's own pool defaults: as many connections, idle ones closed after 5 s.
            inner = upstream_transport(
                ensure_trust(), max_connections=MAX_CONNECTIONS, keepalive_expiry=5.0
            )
        else:
            inner = httpx2.AsyncHTTPTransport(verify=ensure_trust(), trust_env=True)
        return _AsyncAuthorizing(inner, authorizer)

    return GovernedAsyncTransport(pipeline, pool)


def placeholder_credentials() -> Any:
    """google-auth credentials that never leave the process: what the SDK is given on Vertex.

    The SDK puts ``Authorization: Bearer <placeholder>`` on each request without fetching a
    token; the governed transport replaces it with a real one after the policies allowed it.
    """
    from google.auth import credentials

    class _Placeholder(credentials.Credentials):
        def __init__(self) -> None:
            super().__init__()  # type: ignore[no-untyped-call]

        def refresh(self, request: Any) -> None:
            del request
            self.token = PLACEHOLDER_KEY
            self.expiry = dt.datetime(9999, 1, 1)

    return _Placeholder()
