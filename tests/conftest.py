"""Fixtures shared by every test: a clean environment, the emulator, clients wired to it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from golden_path.audit import AuditEvent
from golden_path.testing import AuditCapture as _Capture

_PREFIXES = ("GOOGLE_", "GEMINI_", "GOLDEN_PATH_", "CLOUDSDK_")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Tests never depend on the machine: no GOOGLE_*/GEMINI_*/GOLDEN_PATH_* variables, no
    config file from the working directory, no ADC from the home directory, no cached client."""
    for name in list(os.environ):
        if name.startswith(_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    # ADC must never probe the metadata server (that would leave loopback).
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    yield
    from golden_path.testing import reset

    reset()


class AuditCapture(_Capture):
    """An audit sink that keeps events in memory, for assertions."""

    def only(self) -> AuditEvent:
        assert len(self.events) == 1, self.events
        return self.events[0]


@pytest.fixture(name="audit")
def _audit() -> AuditCapture:
    return AuditCapture()


@pytest.fixture(name="emulator")
def _emulator() -> Iterator[Any]:
    from golden_path.emulator import Emulator

    with Emulator() as emu:
        yield emu


@pytest.fixture(name="make_client")
def _make_client(emulator: Any, audit: AuditCapture) -> Callable[..., Any]:
    """A factory of AI Studio clients on the emulator, auditing into `audit`."""
    import golden_path

    def make(**overrides: Any) -> Any:
        settings: dict[str, Any] = {
            "backend": "ai_studio",
            "api_key": "test-key",
            "base_url": emulator.url,
            "retry_attempts": 1,
        }
        settings.update(overrides)
        policies = settings.pop("policies", None)
        return golden_path.create_client(audit_sinks=[audit], policies=policies, **settings)

    return make
