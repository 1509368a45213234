"""Settings -> a preconfigured ``google.genai.Client``.

Everything the SDK would otherwise pick up from the machine (``GOOGLE_*``/``GEMINI_*``
variables, default API versions, its own HTTP client) is passed explicitly, so what the
configuration says is what goes on the wire.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

from golden_path import _process
from golden_path._auth import Auth, resolve_auth
from golden_path._log import Diagnostics
from golden_path._process import STATE
from golden_path._settings import (
    AUTO_WIRES,
    DEFAULT_CONFIG_PATHS,
    DEFAULT_SECRETS_DIR,
    SYNC_AUTO_WIRES,
    ResolvedSettings,
    Settings,
    load_settings,
    locked_override,
    resolve_explicit,
)
from golden_path._version import VERSION
from golden_path.exceptions import ConfigError, VersionDriftError

if TYPE_CHECKING:
    from google import genai

    from golden_path._transport import Pipeline
    from golden_path.audit import AuditSink
    from golden_path.emulator import Emulator
    from golden_path.policies import Policy

__all__ = ["build_pipeline", "client", "create_client", "reset", "runtime_for"]

diagnostics = Diagnostics("golden_path")

# Pinned per backend so GOOGLE_GENAI_API_VERSION on a machine changes nothing.
DEFAULT_API_VERSIONS = {"ai_studio": "v1", "vertex": "v1beta1", "emulator": "v1"}
_MULTI_REGION = ("us", "eu")


def client() -> genai.Client:
    """The process-wide client for the current configuration (built once, then reused).

    A changed configuration gives a new client; the same configuration gives the same client,
    from any thread. Settings are read again only when something they come from changed
    (``GOLDEN_PATH_*`` variables, the working directory, the config, .env and secret files),
    so apps may call this per request.
    """
    fingerprint = _fingerprint()
    last = STATE.last_client
    if last is not None and last[0] == fingerprint:
        found: genai.Client = last[1]
        return found
    resolved = load_settings()
    key = resolved.settings.model_dump_json(exclude={"api_key"}) + _secret_digest(resolved.settings)
    with STATE.lock:
        cached = STATE.clients.get(key)
        if cached is None:
            cached = STATE.clients[key] = _build(resolved)
        STATE.last_client = (fingerprint, cached)
        return cast("genai.Client", cached)


def _fingerprint() -> tuple[Any, ...]:
    """Everything load_settings reads, cheaply: variables, cwd, and the files' stat results."""
    environ = os.environ
    variables = tuple(
        sorted(
            (k, v)
            for k, v in environ.items()
            if k.startswith(("GOLDEN_PATH_", "GOOGLE_APPLICATION_CREDENTIALS"))
        )
    )
    files = [
        ".env",
        *map(str, DEFAULT_CONFIG_PATHS),
        environ.get("GOLDEN_PATH_CONFIG", ""),
        environ.get("GOLDEN_PATH_SECRETS_DIR", str(DEFAULT_SECRETS_DIR)),
    ]
    stats = []
    for name in files:
        try:
            st = os.stat(name) if name else None
        except OSError:
            st = None
        stats.append((st.st_mtime_ns, st.st_size, st.st_ino) if st else None)
    return (os.getcwd(), variables, tuple(stats))


def create_client(
    settings: Settings | None = None,
    *,
    policies: Sequence[Policy] | None = None,
    audit_sinks: Sequence[AuditSink] | None = None,
    **overrides: Any,
) -> genai.Client:
    """A new client. ``settings`` (else the configured sources) with ``overrides`` on top.

    ``policies`` replaces the policy chain of the policy file; ``audit_sinks`` the configured
    audit sinks. Both are for tests and for platform teams wiring golden-path programmatically,
    and both obey the platform's locks (on ``policy_file`` and ``audit_sink``), as keyword
    settings and a ``settings`` object do.
    """
    return _build(_resolve(settings, overrides), policies=policies, audit_sinks=audit_sinks)


def reset() -> None:
    """Forget cached clients, stop the embedded emulator, close stores (``_process.reset``)."""
    _process.reset()


def _resolve(settings: Settings | None, overrides: dict[str, Any]) -> ResolvedSettings:
    if settings is None:
        return load_settings(**overrides)
    return resolve_explicit(settings, overrides)


def _programmatic(
    resolved: ResolvedSettings,
    policies: Sequence[Any] | None,
    audit_sinks: Sequence[AuditSink] | None,
) -> tuple[Sequence[Any] | None, Sequence[AuditSink] | None]:
    """``policies=`` and ``audit_sinks=`` obey the platform's locks like any other setting."""
    if policies is not None and not locked_override(resolved, "policy_file", "policies"):
        policies = None
    if audit_sinks is not None and not locked_override(resolved, "audit_sink", "audit_sinks"):
        audit_sinks = None
    return policies, audit_sinks


def _secret_digest(settings: Settings) -> str:
    if settings.api_key is None:
        return ""
    import hashlib

    return hashlib.sha256(settings.api_key.get_secret_value().encode()).hexdigest()[:16]


def _embedded_emulator() -> Emulator:
    with STATE.lock:
        emulator = STATE.emulator
        if emulator is None:
            from golden_path.emulator import Emulator

            emulator = STATE.emulator = Emulator().start()
            diagnostics.warning(
                "golden_path.emulator.embedded",
                f"using the embedded Gemini API emulator at {emulator.url}: answers are "
                "synthetic; set GOLDEN_PATH_BACKEND to ai_studio or vertex for real ones",
                url=emulator.url,
            )
        return cast("Emulator", emulator)


def base_url_for(settings: Settings, auth: Auth) -> str:
    """The endpoint, computed here rather than by the SDK so no environment variable moves it."""
    if settings.base_url:
        return settings.base_url
    if settings.backend == "emulator":
        return _embedded_emulator().url
    if settings.backend == "ai_studio":
        return "https://generativelanguage.googleapis.com"
    location = settings.location
    if auth.mode == "vertex_express" or location == "global":
        return "https://aiplatform.googleapis.com"
    if location in _MULTI_REGION:
        return f"https://aiplatform.{location}.rep.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


def build_pipeline(
    settings: Settings,
    *,
    policies: Sequence[Policy] | None = None,
    audit_sinks: Sequence[AuditSink] | None = None,
    surface_suffix: str = "",
    sources: Mapping[str, str] | None = None,
    endpoint: str | None = None,
    resolved: ResolvedSettings | None = None,
) -> Pipeline:
    """The policy chain and audit sinks this configuration asks for.

    ``endpoint`` pins credentials to that base URL (and ``[routes] origins``). With
    ``resolved``, programmatic ``policies``/``audit_sinks`` obey its locks.
    """
    if resolved is not None:
        policies, audit_sinks = _programmatic(resolved, policies, audit_sinks)
    if settings.strict:  # the platform's strict = true: from the first client on
        from golden_path._strict import install

        install()
    from google.genai import version as sdk_version

    from golden_path._transport import Pipeline
    from golden_path.audit import Auditor
    from golden_path.policies import Chain, Identity

    # Google's partner guide suffixes the product, not the version: acme-framework-oai/1.2.0.
    product, _, client_version = settings.client_id.partition("/")
    identity = Identity(
        app=settings.app,
        team=settings.team,
        client_id=f"{product}{surface_suffix}/{client_version}",
        backend=settings.backend or "",
        project=settings.project if settings.backend == "vertex" else None,
        location=settings.location if settings.backend == "vertex" else None,
    )
    chain = Chain(policies) if policies is not None else _load_chain(settings, sources or {})
    sinks = list(audit_sinks) if audit_sinks is not None else _load_sinks(settings)
    tokens = " ".join(
        f"{label}/{value}"
        for label, value in (("app", settings.app), ("team", settings.team))
        if value
    )
    return Pipeline(
        identity=identity,
        chain=chain,
        auditor=Auditor(sinks),
        sdk_version=sdk_version.__version__,
        version=VERSION,
        user_agent_tokens=tokens,
        content=_content_hook(settings, chain),
        audit_required=settings.audit_required,
        prices=_prices(settings),
        endpoint=endpoint,
    )


def _load_chain(settings: Settings, sources: Mapping[str, str]) -> Any:
    if settings.policy_file is None and settings.app_policy_file is None:
        # No policy file, no policies: skip importing the loader, the built-ins and the PII
        # patterns (a measurable part of start-up).
        from golden_path.policies._chain import Chain

        return Chain()
    from golden_path.policies._loader import load_chain

    return load_chain(settings, sources)


def _load_sinks(settings: Settings) -> list[Any]:
    from golden_path.audit._sinks import sink_from_setting

    try:
        key = settings.audit_chain_key
        return sink_from_setting(
            settings.audit_sink,
            fsync=settings.audit_fsync,
            chain_key=key.get_secret_value().encode() if key is not None else None,
        )
    except ValueError as exc:
        from golden_path.exceptions import ConfigProblem

        fix = "use stderr, stdout, file:/path, logging, otel or none, or a comma-separated list"
        raise ConfigError(
            [ConfigProblem("audit_sink", str(exc), "GOLDEN_PATH_AUDIT_SINK", fix)]
        ) from None


def _prices(settings: Settings) -> Any:
    from golden_path._prices import load_catalog

    return load_catalog(settings.price_file)


def _content_hook(settings: Settings, chain: Any) -> Any:
    if settings.audit_content == "none":
        return None
    import functools

    from golden_path.audit._content import redacted_content

    # The audit trail redacts with the detector the [pii] policy uses (its engines too), for
    # every built-in kind at least, even those the policy lets through to the model.
    policy = next(
        (p for p in getattr(chain, "policies", ()) if getattr(p, "name", "") == "pii"), None
    )
    if policy is None:
        return redacted_content
    from golden_path._pii import BUILTIN_KINDS, Scanner

    used = policy.scanner
    scanner = Scanner(set(BUILTIN_KINDS) | used.kinds, used.engines)
    return functools.partial(redacted_content, scanner=scanner)


def runtime_for(resolved: ResolvedSettings) -> tuple[Auth, str, str]:
    """Credentials, base URL and API version: what `golden-path config` and doctor report."""
    settings = resolved.settings
    auth = resolve_auth(settings, sources=resolved.sources)
    backend = settings.backend or "ai_studio"
    api_version = settings.api_version or DEFAULT_API_VERSIONS[backend]
    return auth, base_url_for(settings, auth), api_version


def async_wire(resolved: ResolvedSettings) -> Literal["aiohttp", "httptools", "httpx2"]:
    """The wire under async calls, from ``async_transport`` (``auto``: the fastest installed).

    ``auto`` takes the first of AUTO_WIRES installed, else httpx2 (docs/benchmarks.md measures
    all three). aiohttp carries the raw SDK's async calls whenever
    it is importable; golden-path's wire sits below its governed transport either way. Asking
    for a wire that is not installed is refused, not quietly downgraded.
    """
    return _wire(resolved, "async_transport", AUTO_WIRES)  # type: ignore[return-value]


def sync_wire(resolved: ResolvedSettings) -> Literal["httptools", "httpx2"]:
    """The wire under sync calls, from ``sync_transport``, as :func:`async_wire` picks."""
    return _wire(resolved, "sync_transport", SYNC_AUTO_WIRES)  # type: ignore[return-value]


def _wire(
    resolved: ResolvedSettings, field: str, auto: tuple[Literal["aiohttp", "httptools"], ...]
) -> str:
    choice: str = getattr(resolved.settings, field)
    if choice == "auto":
        return _first_installed(auto)
    if choice == "httpx2" or _installed(choice):
        return choice
    from golden_path.exceptions import ConfigProblem

    extra = "aiohttp" if choice == "aiohttp" else "fast"
    raise ConfigError(
        [
            ConfigProblem(
                field,
                f"is {choice!r} but {choice} is not installed",
                resolved.sources.get(field, ""),
                f"pip install 'golden-path[{extra}]', or set it to auto or httpx2",
            )
        ]
    )


def auto_async_wire() -> Literal["aiohttp", "httptools", "httpx2"]:
    """What ``async_transport = "auto"`` picks here: the first of AUTO_WIRES installed."""
    return _first_installed(AUTO_WIRES)  # type: ignore[return-value]


def _first_installed(wires: tuple[Literal["aiohttp", "httptools"], ...]) -> str:
    return next((wire for wire in wires if _installed(wire)), "httpx2")


@functools.cache
def _installed(wire: Literal["aiohttp", "httptools"]) -> bool:
    # Found, not imported: a wire is imported by the first call that uses it, so an app that
    # never makes async calls does not carry aiohttp in memory (issue 18 holds peak RSS to
    # 1.05x the raw SDK's).
    try:
        return importlib.util.find_spec(wire) is not None
    except ValueError:  # a module in sys.modules without a spec: it was imported, so it is here
        return True


def _check_sdk_version(settings: Settings) -> None:
    """Refuse or warn about an SDK golden-path was not checked against.

    ``version_drift = "warn"`` (the default): any release inside the supported range is fine,
    one outside it warns once per process. ``"error"`` (the base image): only the locked release
    builds a client, since that is the one the image was tested with.
    """
    from golden_path._versions import sdk_placement

    placement = sdk_placement()
    if placement.on_pin or (placement.in_range and settings.version_drift == "warn"):
        return
    if settings.version_drift == "error":
        raise VersionDriftError(
            f"google-genai {placement.installed} is installed but golden-path {VERSION} is "
            f"locked to {placement.pinned} and version_drift is 'error'; "
            "run `golden-path versions --check`"
        )
    if not STATE.drift_warned:  # once per process, not once per client
        STATE.drift_warned = True
        warnings.warn(
            f"google-genai {placement.installed} is installed but golden-path {VERSION} "
            f"supports {placement.supported}; run `golden-path upgrade-check "
            f"{placement.installed}`",
            RuntimeWarning,
            stacklevel=3,
        )


def _build(
    resolved: ResolvedSettings,
    *,
    policies: Sequence[Policy] | None = None,
    audit_sinks: Sequence[AuditSink] | None = None,
) -> genai.Client:
    from google import genai
    from google.genai import types
    from google.genai.client import DebugConfig

    from golden_path._strict import building
    from golden_path._tls import shared_context
    from golden_path._transport import guard_live
    from golden_path._transport._credentials import (
        PLACEHOLDER_KEY,
        Authorizer,
        governed_async_transport,
        governed_transport,
        placeholder_credentials,
    )
    from golden_path._transport._http import SDKAsyncClient, SDKClient

    settings = resolved.settings
    _check_sdk_version(settings)
    auth, base_url, api_version = runtime_for(resolved)
    pipeline = build_pipeline(
        settings,
        policies=policies,
        audit_sinks=audit_sinks,
        sources=resolved.sources,
        endpoint=base_url,
        resolved=resolved,
    )
    context = shared_context()
    authorizer = Authorizer(auth, endpoint=pipeline.endpoint)

    # Built inside building(): strict mode (golden_path/_strict.py) lets these through.
    with building():
        # The SDK passes timeout=None per request; HttpOptions.timeout (ms) is what applies. The SDK
        # holds only placeholder credentials: the transport sets the real ones after the policies.
        sync_client = SDKClient(
            transport=governed_transport(pipeline, authorizer, wire=sync_wire(resolved)),
            follow_redirects=True,
        )
        async_client = SDKAsyncClient(
            transport=governed_async_transport(pipeline, authorizer, wire=async_wire(resolved)),
            follow_redirects=True,
        )
        user_agent = " ".join(filter(None, [settings.client_id, pipeline.user_agent_tokens]))
        http_options = types.HttpOptions(
            base_url=base_url + "/",
            api_version=api_version,
            headers={"x-goog-api-client": settings.client_id, "user-agent": user_agent},
            timeout=round(settings.timeout_s * 1000),
            retry_options=types.HttpRetryOptions(
                attempts=settings.retry_attempts,
                initial_delay=settings.retry_initial_delay_s,
                max_delay=settings.retry_max_delay_s,
                exp_base=2,
                jitter=1,
                http_status_codes=list(settings.retry_status_codes),
            ),
            httpx_client=sync_client,
            httpx_async_client=async_client,
            # Given our own clients the SDK only needs a context for Live websockets; this one is
            # shared, so no certificates are loaded while constructing.
            async_client_args={"ssl": context},
        )
        vertex = settings.backend == "vertex"
        express = auth.mode == "vertex_express"
        with _sdk_environment():
            client = genai.Client(
                vertexai=vertex,
                api_key=PLACEHOLDER_KEY if auth.api_key is not None else None,
                credentials=placeholder_credentials() if auth.credentials is not None else None,
                # Express mode must pass neither, or GOOGLE_CLOUD_PROJECT would make it project
                # mode.
                project=settings.project if vertex and not express else None,
                location=settings.location if vertex and not express else None,
                http_options=http_options,
                # Explicit, so GOOGLE_GENAI_CLIENT_MODE=replay cannot swap in a replay client.
                debug_config=DebugConfig(client_mode=None, replays_directory=None, replay_id=None),
            )
    # Live API websockets bypass httpx: the policy chain runs at connect time instead. What the
    # SDK release has and golden-path cannot govern yet (golden_path/_surface.py) is refused.
    from golden_path._governed import mark
    from golden_path._surface import refuse_ungoverned

    return mark(refuse_ungoverned(guard_live(client, pipeline, authorizer)))


_env_lock = threading.Lock()
_HTTP_CLIENT_VAR = "GOOGLE_GENAI_HTTP_CLIENT"


def _sdk_has(library: str) -> bool:
    """Whether the SDK itself could import ``library`` (it keeps None where the import failed)."""
    from google.genai import _api_client

    module = getattr(_api_client, library, _api_client)
    if module is not _api_client:
        return module is not None
    try:
        return importlib.util.find_spec(library) is not None
    except (ImportError, ValueError):
        return False


@contextlib.contextmanager
def _sdk_environment() -> Iterator[None]:
    """Hide GOOGLE_GENAI_HTTP_CLIENT from the SDK's constructor when it would crash it.

    golden-path hands the SDK its own httpx2 clients, so the variable decides nothing; but the
    constructor reads it first and raises ImportError when it names a library that is not
    installed (``httpx`` on a machine with only httpx2). Only in that case, and only while the
    constructor runs, under a lock, is the variable set aside and then restored.
    """
    wanted = os.environ.get(_HTTP_CLIENT_VAR, "").strip().lower()
    if wanted not in ("httpx", "httpx2") or _sdk_has(wanted):
        yield
        return
    with _env_lock:
        saved = os.environ.pop(_HTTP_CLIENT_VAR, None)
        try:
            yield
        finally:
            if saved is not None:
                os.environ[_HTTP_CLIENT_VAR] = saved
