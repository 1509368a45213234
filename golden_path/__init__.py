"""golden-path: the sanctioned way to call Gemini.

``golden_path.client()`` returns a real, preconfigured ``google.genai.Client``; everything else
here configures, governs, audits or tests that client. Heavy modules (the SDK, pydantic-settings)
load on first use, so ``import golden_path`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from golden_path.exceptions import (
    BudgetExceeded,
    ConfigError,
    EmulatorError,
    GoldenPathError,
    PolicyViolation,
    VersionDriftError,
)

if TYPE_CHECKING:
    from golden_path._factory import client, create_client
    from golden_path._http import async_http_client, http_client
    from golden_path._openai import async_openai_client, openai_client
    from golden_path._settings import Settings, load_settings

__all__ = [
    "BudgetExceeded",
    "ConfigError",
    "EmulatorError",
    "GoldenPathError",
    "PolicyViolation",
    "Settings",
    "VersionDriftError",
    "__version__",
    "async_http_client",
    "async_openai_client",
    "client",
    "create_client",
    "http_client",
    "load_settings",
    "openai_client",
]

_LAZY = {
    "client": ("golden_path._factory", "client"),
    "create_client": ("golden_path._factory", "create_client"),
    "http_client": ("golden_path._http", "http_client"),
    "async_http_client": ("golden_path._http", "async_http_client"),
    "openai_client": ("golden_path._openai", "openai_client"),
    "async_openai_client": ("golden_path._openai", "async_openai_client"),
    "Settings": ("golden_path._settings", "Settings"),
    "load_settings": ("golden_path._settings", "load_settings"),
    "__version__": ("golden_path._version", "VERSION"),
}


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'golden_path' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


# Strict mode starts as soon as golden-path is imported (the base image starts it earlier, from
# golden_path_strict.pth); golden_path._strict needs only the standard library.
if __import__("os").environ.get("GOLDEN_PATH_STRICT"):
    from golden_path._strict import from_environment as _strict_from_environment

    _strict_from_environment()
