"""The OpenAI-compatible path: a real ``openai.OpenAI`` on the golden path (extra ``openai``).

Google serves an OpenAI-compatible API on both backends (docs/integration-paths.md):

- AI Studio: ``https://generativelanguage.googleapis.com/v1beta/openai/``, the API key as the
  Bearer token;
- Vertex AI: ``https://{location}-aiplatform.googleapis.com/v1beta1/projects/{p}/locations/{l}/
  endpoints/openapi/``, a google-auth access token as the Bearer token.

The ``openai`` package knows nothing of Google credentials, so the token is set per request by
the governed transport (after the policy chain) and refreshed before it expires. Requests carry
``x-goog-api-client: <product>-oai/<version>``, as Google's partner guide asks of OpenAI-SDK
traffic, and pass the same policy chain and audit as the SDK's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx2

from golden_path._factory import _resolve, async_wire, build_pipeline, runtime_for, sync_wire
from golden_path._settings import ResolvedSettings, Settings
from golden_path._transport._credentials import (
    PLACEHOLDER_KEY,
    Authorizer,
    governed_async_transport,
    governed_transport,
)
from golden_path.exceptions import ConfigError, ConfigProblem

if TYPE_CHECKING:
    import openai

    from golden_path._auth import Auth
    from golden_path._transport import Pipeline
    from golden_path.audit import AuditSink
    from golden_path.policies import Policy

__all__ = ["OPENAI_SUFFIX", "async_openai_client", "openai_base_url", "openai_client"]

OPENAI_SUFFIX = "-oai"


def openai_client(
    settings: Settings | None = None,
    *,
    policies: Sequence[Policy] | None = None,
    audit_sinks: Sequence[AuditSink] | None = None,
    **overrides: Any,
) -> openai.OpenAI:
    """A real ``openai.OpenAI`` for the configured backend, governed like the SDK client.

    ``settings``, ``policies``, ``audit_sinks`` and ``overrides`` work as for ``create_client``.
    Raises ImportError without the ``openai`` extra, ConfigError for Vertex express mode (the
    OpenAI-compatible endpoint needs a project and location).
    """
    import openai

    resolved, auth, base_url, kwargs, pipeline = _prepare(
        settings, policies, audit_sinks, overrides
    )
    from golden_path._governed import mark
    from golden_path._strict import building

    with building():
        http = httpx2.Client(
            transport=governed_transport(
                pipeline, _authorizer(auth, pipeline), wire=sync_wire(resolved)
            ),
            timeout=resolved.settings.timeout_s,
            follow_redirects=True,
        )
        return mark(
            openai.OpenAI(
                base_url=base_url,
                http_client=http,
                default_headers={"x-goog-api-client": pipeline.client_id},
                **kwargs,
            )
        )


def async_openai_client(
    settings: Settings | None = None,
    *,
    policies: Sequence[Policy] | None = None,
    audit_sinks: Sequence[AuditSink] | None = None,
    **overrides: Any,
) -> openai.AsyncOpenAI:
    """The ``openai.AsyncOpenAI`` twin of :func:`openai_client` (usable across event loops)."""
    import openai

    resolved, auth, base_url, kwargs, pipeline = _prepare(
        settings, policies, audit_sinks, overrides
    )
    from golden_path._governed import mark
    from golden_path._strict import building

    with building():
        http = httpx2.AsyncClient(
            transport=governed_async_transport(
                pipeline, _authorizer(auth, pipeline), wire=async_wire(resolved)
            ),
            timeout=resolved.settings.timeout_s,
            follow_redirects=True,
        )
        return mark(
            openai.AsyncOpenAI(
                base_url=base_url,
                http_client=http,
                default_headers={"x-goog-api-client": pipeline.client_id},
                **kwargs,
            )
        )


def _prepare(
    settings: Settings | None,
    policies: Sequence[Policy] | None,
    audit_sinks: Sequence[AuditSink] | None,
    overrides: dict[str, Any],
) -> tuple[ResolvedSettings, Auth, str, dict[str, Any], Pipeline]:
    # What the sync and async clients share: settings, credentials, endpoint, pipeline.
    _require_openai()
    resolved = _resolve(settings, overrides)
    auth, base_url, kwargs, endpoint = _common(resolved)
    pipeline = build_pipeline(
        resolved.settings,
        policies=policies,
        audit_sinks=audit_sinks,
        surface_suffix=OPENAI_SUFFIX,
        sources=resolved.sources,
        endpoint=endpoint,
        resolved=resolved,
    )
    return resolved, auth, base_url, kwargs, pipeline


def openai_base_url(
    settings: Settings, auth: Auth, endpoint: str, sources: Mapping[str, str] | None = None
) -> str:
    """The OpenAI-compatible root of the configured backend, with a trailing slash.

    ``sources`` (field -> where its value came from) only improves the error message.
    """
    endpoint = endpoint.rstrip("/")
    if settings.backend != "vertex":
        # Only v1beta serves the OpenAI layer on AI Studio, whatever the SDK's version pin.
        return f"{endpoint}/v1beta/openai/"
    if auth.mode == "vertex_express":
        raise ConfigError(
            [
                ConfigProblem(
                    field="project",
                    message="Vertex AI's OpenAI-compatible endpoint needs a project and location; "
                    "express mode (an API key and no project) does not serve it",
                    source="project not set; api_key from "
                    + (sources or {}).get("api_key", "settings"),
                    fix="set GOLDEN_PATH_PROJECT and use Google Cloud credentials, or use "
                    "backend ai_studio with the API key",
                )
            ]
        )
    version = settings.api_version or "v1beta1"
    return (
        f"{endpoint}/{version}/projects/{settings.project}/locations/{settings.location}"
        "/endpoints/openapi/"
    )


def _common(resolved: ResolvedSettings) -> tuple[Auth, str, dict[str, Any], str]:
    settings = resolved.settings
    auth, endpoint, _ = runtime_for(resolved)
    base_url = openai_base_url(settings, auth, endpoint, resolved.sources)
    kwargs = {
        # A placeholder: the governed transport sets the real key or token at send time.
        "api_key": PLACEHOLDER_KEY,
        # OpenAI's own retries, with golden-path's attempt count (1 = no retries).
        "max_retries": settings.retry_attempts - 1,
        "timeout": settings.timeout_s,
    }
    return auth, base_url, kwargs, endpoint


def _authorizer(auth: Auth, pipeline: Pipeline) -> Authorizer:
    # The openai package sends a placeholder Bearer token; the transport replaces it after the
    # policies, and only for the configured endpoint.
    return Authorizer(auth, bearer_key=True, endpoint=pipeline.endpoint)


def _require_openai() -> None:
    try:
        import openai
    except ImportError:
        raise ImportError(
            "golden_path.openai_client() needs the openai package: "
            "pip install 'golden-path[openai]'"
        ) from None
    if not hasattr(openai, "DefaultHttpx2Client"):
        version = getattr(openai, "__version__", "unknown")
        raise ImportError(
            f"openai {version} is built on the classic httpx package; "
            "golden-path needs a release built on httpx2: "
            "pip install -U 'golden-path[openai]'"
        )
