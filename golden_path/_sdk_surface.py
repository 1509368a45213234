"""Which google-genai methods the route table governs: the check behind SDK upgrades.

Every public resource method of ``google.genai.Client`` and ``.aio`` must call a row of the
route table (``Route.sdk``) or be listed as client-side (``CLIENT_SIDE``). A method in neither
is a surface golden-path has never judged: :func:`ungoverned` names it, the test suite fails on
it, and ``golden-path routes --check-sdk`` (and the SDK upgrade check) report it.

The client is built offline (a placeholder key; constructing it sends nothing) and walked by
attribute, so resources the SDK adds behind lazy properties are found too.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

from golden_path._routes import CLIENT_SIDE, RETIRED, ROUTES

__all__ = ["covered_methods", "sdk_methods", "ungoverned"]

# Plumbing every resource object carries, not API methods.
_SKIP = frozenset({
    "vertexai", "with_raw_response", "with_streaming_response", "aio", "parent_ref",
    "sdk_configuration", "do_request", "do_request_async", "dynamic_import",
})  # fmt: skip
# Base classes whose methods are plumbing (the SDK's module base, the GAOS SDK base).
_BASE_MODULES = frozenset({"basesdk", "_api_module", "_common"})
_MAX_DEPTH = 3


def sdk_methods(client: Any = None) -> list[str]:
    """Every public resource method, ``resource.method`` (async ones as ``aio.resource.method``)."""
    with warnings.catch_warnings():
        # The experimental resources warn on first use; inspecting them is not using them.
        warnings.simplefilter("ignore")
        if client is None:
            from google import genai

            from golden_path._strict import building

            with building():  # inspected, never sent: strict mode need not refuse it
                client = genai.Client(api_key="placeholder-for-inspection")
        found = _walk(client, "", 0)
        found += _walk(client.aio, "aio.", 0)
    return sorted(set(found))


def _walk(obj: Any, prefix: str, depth: int) -> list[str]:
    out: list[str] = []
    cls = type(obj)
    names = set(dir(cls)) | {n for n in getattr(obj, "__dict__", {}) if not n.startswith("_")}
    for name in sorted(names):
        if name.startswith("_") or name in _SKIP:
            continue
        owner = next((base for base in cls.__mro__ if name in base.__dict__), None)
        if owner is not None and owner.__module__.rsplit(".", 1)[-1] in _BASE_MODULES:
            continue
        static = inspect.getattr_static(obj, name)
        if callable(static) and not isinstance(static, type) and owner is not None:
            out.append(prefix + name)
            continue
        try:
            value = getattr(obj, name)
        except Exception:  # noqa: BLE001, S112 - a property that needs a backend is not a resource
            continue
        if depth < _MAX_DEPTH and type(value).__module__.startswith("google.genai."):
            out += _walk(value, f"{prefix}{name}.", depth + 1)
    return out


def covered_methods() -> dict[str, str]:
    """``resource.method`` -> the route (or client-side reason) that governs it."""
    covered = dict(CLIENT_SIDE) | RETIRED
    for route in ROUTES:
        for name in route.sdk:
            covered.setdefault(name, f"{route.http} {route.name}")
    return covered


def ungoverned(methods: list[str] | None = None) -> list[str]:
    """The SDK methods that map to no row and are not marked client-side."""
    covered = covered_methods()
    found = sdk_methods() if methods is None else methods
    return [m for m in found if m.removeprefix("aio.") not in covered]
