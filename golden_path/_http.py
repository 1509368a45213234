"""Direct REST on the golden path: an ``httpx2`` client with base URL, auth, policies and audit.

For the calls the SDK does not wrap (or wraps differently): the client speaks the backend's own
REST API, rooted at its versioned base URL, and every request passes the same governed
transport as the SDK's (policy chain, then the wire, then one audit event).

Credentials are applied *after* the policy chain, inside the governed transport, so a request a
policy refuses never fetches a token, and no policy or audit content hook ever sees a secret.
The OpenAI-compatible clients (``_openai.py``) are built from the same parts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx2

from golden_path._auth import Auth
from golden_path._factory import _resolve, async_wire, build_pipeline, runtime_for, sync_wire
from golden_path._settings import ResolvedSettings, Settings
from golden_path._strict import building
from golden_path._transport._credentials import (
    Authorizer,
    governed_async_transport,
    governed_transport,
)

if TYPE_CHECKING:
    from golden_path._transport import Pipeline
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
    with building():  # strict mode lets golden-path's own clients through
        return httpx2.Client(
            transport=governed_transport(pipeline, authorizer, wire=sync_wire(resolved)),
            **options,
        )


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
    with building():
        return httpx2.AsyncClient(
            transport=governed_async_transport(pipeline, authorizer, wire=async_wire(resolved)),
            **options,
        )


def _parts(
    resolved: ResolvedSettings,
    policies: Sequence[Policy] | None,
    audit_sinks: Sequence[AuditSink] | None,
) -> tuple[Pipeline, Authorizer, dict[str, Any]]:
    settings = resolved.settings
    auth, endpoint, _ = runtime_for(resolved)
    # No product suffix: the partner guide identifies direct REST traffic like the SDK's.
    pipeline = build_pipeline(
        settings,
        policies=policies,
        audit_sinks=audit_sinks,
        sources=resolved.sources,
        endpoint=endpoint,
        resolved=resolved,
    )
    user_agent = " ".join(filter(None, [pipeline.client_id, pipeline.user_agent_tokens]))
    options: dict[str, Any] = {
        "base_url": rest_base_url(settings, auth, endpoint),
        "headers": {"x-goog-api-client": pipeline.client_id, "user-agent": user_agent},
        "timeout": settings.timeout_s,
        "follow_redirects": True,
    }
    return pipeline, Authorizer(auth, endpoint=pipeline.endpoint), options
