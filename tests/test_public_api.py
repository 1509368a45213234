"""The public surface: what `import golden_path` offers, and what it costs."""

from __future__ import annotations

import subprocess
import sys

import golden_path


def test_exported_names() -> None:
    """__all__ is the documented API, every name resolves, nothing private leaks."""
    expected = {
        "BudgetExceeded",
        "ConfigError",
        "EmulatorError",
        "GoldenPathError",
        "PolicyViolation",
        "Settings",
        "VersionDriftError",
        "__version__",
        "client",
        "create_client",
        "load_settings",
        "openai_client",
        "async_openai_client",
        "http_client",
        "async_http_client",
    }
    assert set(golden_path.__all__) == expected
    for name in golden_path.__all__:
        assert getattr(golden_path, name) is not None
    assert golden_path.__version__ == golden_path._version.VERSION


def test_exception_tree() -> None:
    """One base class: everything golden-path raises on purpose is a GoldenPathError."""
    for name in (
        "ConfigError",
        "PolicyViolation",
        "BudgetExceeded",
        "EmulatorError",
        "VersionDriftError",
    ):
        assert issubclass(getattr(golden_path, name), golden_path.GoldenPathError)
    assert issubclass(golden_path.BudgetExceeded, golden_path.PolicyViolation)


def test_import_is_lazy() -> None:
    """`import golden_path` loads neither the SDK nor pydantic-settings nor opentelemetry."""
    code = (
        "import sys, golden_path; heavy = [m for m in ('google.genai', 'pydantic_settings', "
        "'opentelemetry', 'redis', 'openai') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def test_client_is_a_real_google_genai_client() -> None:
    """What apps get is the SDK's own Client class, not a wrapper."""
    from google import genai

    client = golden_path.create_client(backend="emulator", audit_sink="none")
    assert type(client) is genai.Client
