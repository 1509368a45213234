"""The public methods of ``google.genai.Client`` and how golden-path governs each of them.

An SDK release can add a way to reach Google that golden-path never sees (google-genai 3.5.0
added ``client.aio.interactions.connect``, a websocket outside the injected httpx2 client, and
interaction auth tokens usable outside the golden path). This module is what finds such
surfaces: :func:`sdk_methods` walks a real client and lists every public method,
:data:`SURFACE` says how each known one is governed, and :func:`check_surface` lists what the
table does not cover. ``golden-path upgrade-check`` runs it against a candidate release.

A method's governance is one of:

``http``
    every request it makes goes through golden-path's httpx2 transport (policies, audit); which
    route a request is and how it is judged is the route table's business.
``websocket``
    it opens a websocket outside httpx; golden-path guards the connect (``policies/_live.py``).
``local``
    it sends nothing (a chat session object, closing the client).
``refused``
    golden-path cannot govern it yet, so :func:`refuse_ungoverned` makes it raise
    :class:`~golden_path.exceptions.PolicyViolation` before the SDK does anything.

Sync and ``aio`` methods share a row: ``aio.models.generate_content`` is looked up as
``models.generate_content``. The route table can answer instead of :data:`SURFACE` by passing
its own lookup to :func:`check_surface`.
"""

from __future__ import annotations

import dataclasses
import inspect
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from golden_path.exceptions import PolicyViolation

if TYPE_CHECKING:
    from google import genai

__all__ = [
    "SURFACE",
    "Governance",
    "SurfaceReport",
    "check_surface",
    "governance_of",
    "refuse_ungoverned",
    "sdk_methods",
]

Governance = Literal["http", "websocket", "local", "refused"]

_CRUD = ("create", "delete", "get", "list")


def _rows(group: str, governance: Governance, *names: str) -> dict[str, Governance]:
    return {f"{group}.{name}": governance for name in names}


SURFACE: Mapping[str, Governance] = {
    "close": "local",
    "aclose": "local",
    "chats.create": "local",
    **_rows(
        "models",
        "http",
        "generate_content",
        "generate_content_stream",
        "count_tokens",
        "compute_tokens",
        "embed_content",
        "generate_images",
        "edit_image",
        "upscale_image",
        "recontext_image",
        "segment_image",
        "generate_videos",
        "get",
        "list",
        "update",
        "delete",
    ),
    **_rows("files", "http", "upload", "download", "register_files", "get", "list", "delete"),
    **_rows("caches", "http", *_CRUD, "update"),
    **_rows("batches", "http", *_CRUD, "cancel", "create_embeddings"),
    **_rows("tunings", "http", "tune", "get", "list", "cancel", "validate_reward"),
    "operations.get": "http",
    # Ephemeral Live API tokens (v1alpha auth_tokens): minted over HTTP, so the transport sees
    # them; constraining what a token allows is the route table's and the Live guard's job.
    "auth_tokens.create": "http",
    **_rows(
        "file_search_stores",
        "http",
        *_CRUD,
        "import_file",
        "upload_to_file_search_store",
        "download_media",
        "documents.get",
        "documents.list",
        "documents.delete",
    ),
    **_rows("interactions", "http", "create", "get", "delete", "cancel"),
    # 3.5.0+: a websocket outside httpx and tokens that work without golden-path's credentials.
    "interactions.connect": "refused",
    "interactions.auth_tokens.create": "refused",
    "interactions.auth_tokens.delete": "refused",
    **_rows("agents", "http", *_CRUD),
    **_rows("credentials", "http", *_CRUD, "update"),
    "decisions.create": "http",
    **_rows(
        "environments",
        "http",
        *_CRUD,
        "create_environment",
        "delete_environment",
        "get_environment",
        "list_environments",
        "get_environment_files",
        "files.upload",
        "files.download",
        "files.list",
    ),
    **_rows("triggers", "http", *_CRUD, "update", "run", "list_executions"),
    **_rows("voices", "http", *_CRUD),
    **_rows("webhooks", "http", *_CRUD, "update", "ping", "rotate_signing_secret"),
    "live.connect": "websocket",
    "live.music.connect": "websocket",
}

# Plumbing of the generated (GAOS) resources, not API methods; the raw/streaming accessors
# mirror the methods already listed.
_SKIP = frozenset(
    {
        "do_request",
        "do_request_async",
        "dynamic_import",
        "parent_ref",
        "sdk_configuration",
        "with_raw_response",
        "with_streaming_response",
    }
)


def governance_of(method: str) -> Governance | None:
    """The row for ``method`` (``aio.`` prefix ignored), or None when the table lacks it."""
    return SURFACE.get(method.removeprefix("aio."))


def sdk_methods(client: genai.Client) -> tuple[list[str], list[str]]:
    """Every public method reachable from ``client``, and the warnings walking it raised.

    Some resources warn when first touched (3.4's agents, triggers, environments); those
    warnings are caught and returned, not emitted, so an app's ``filterwarnings = error`` never
    sees golden-path's walk.
    """
    found: set[str] = set()
    seen: set[int] = set()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _walk(client, "", found, seen, 0)
    messages = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    return sorted(found), messages


def _walk(obj: Any, prefix: str, found: set[str], seen: set[int], depth: int) -> None:
    if depth > 5 or id(obj) in seen:
        return
    seen.add(id(obj))
    for name in dir(obj):
        if name.startswith("_") or name in _SKIP:
            continue
        if inspect.isfunction(_static(obj, name)):
            found.add(prefix + name)
            continue
        try:
            value = getattr(obj, name)
        except Exception:  # noqa: BLE001, S112 - a property that fails is not a method we can call
            continue
        if inspect.ismethod(value) or inspect.isfunction(value):
            found.add(prefix + name)
        elif type(value).__module__.startswith("google.genai") and not isinstance(value, type):
            _walk(value, f"{prefix}{name}.", found, seen, depth + 1)


def _static(obj: Any, name: str) -> Any:
    try:
        return inspect.getattr_static(obj, name)
    except AttributeError:
        return None


@dataclasses.dataclass(frozen=True, slots=True)
class SurfaceReport:
    """The SDK's methods against the table: what is governed how, and what is not covered."""

    methods: tuple[str, ...]
    governed: Mapping[str, Governance]
    ungoverned: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether every public method has a row."""
        return not self.ungoverned


def check_surface(
    methods: Iterable[str],
    lookup: Callable[[str], Governance | None] = governance_of,
    *,
    warned: Iterable[str] = (),
) -> SurfaceReport:
    """Look up each method; the ones ``lookup`` cannot place are ungoverned."""
    methods = tuple(sorted(methods))
    governed: dict[str, Governance] = {}
    ungoverned = []
    for method in methods:
        found = lookup(method)
        if found is None:
            ungoverned.append(method)
        else:
            governed[method] = found
    return SurfaceReport(methods, governed, tuple(ungoverned), tuple(warned))


def refuse_ungoverned(client: genai.Client) -> genai.Client:
    """Make the ``refused`` methods this SDK release has raise PolicyViolation; returns client.

    Only releases that have them are touched (3.5.0+), so older ones pay nothing at start-up.
    A refused sub-resource (``interactions.auth_tokens``) is replaced whole, so its raw and
    streaming accessors are refused too.
    """
    import importlib.util

    if importlib.util.find_spec("google.genai._live_interactions_experimental") is None:
        return client
    refused = [m for m, g in SURFACE.items() if g == "refused"]
    resources = {m.rsplit(".", 1)[0] for m in refused if m.rsplit(".", 1)[0] in _RESOURCES}
    for prefix in ("", "aio."):
        for resource in resources:
            _replace(client, prefix + resource, _Refused(resource))
        for method in refused:
            if method.rsplit(".", 1)[0] not in resources:
                _replace(client, prefix + method, _refusal(method), must_exist=True)
    return client


# Sub-resources refused as a whole (every attribute of them raises).
_RESOURCES = frozenset({"interactions.auth_tokens"})


def _replace(client: Any, dotted: str, value: Any, *, must_exist: bool = False) -> None:
    *parents, name = dotted.split(".")
    owner = client
    for part in parents:
        owner = getattr(owner, part, None)
        if owner is None:
            return
    if must_exist and getattr(owner, name, None) is None:
        return
    setattr(owner, name, value)


def _refusal(method: str) -> Callable[..., Any]:
    def refused(*_args: Any, **_kwargs: Any) -> Any:
        raise PolicyViolation(
            "surface",
            f"{method} is not governed by golden-path (it would bypass the governed "
            "transport); it stays refused until the platform team enables it "
            "(docs/upgrading.md)",
        )

    refused.__name__ = method.rsplit(".", 1)[-1]
    return refused


class _Refused:
    """Stands in for a refused sub-resource: every method of it raises PolicyViolation."""

    def __init__(self, resource: str) -> None:
        self._resource = resource

    def __getattr__(self, name: str) -> Any:
        if name in ("with_raw_response", "with_streaming_response"):
            return self
        return _refusal(f"{self._resource}.{name}")
