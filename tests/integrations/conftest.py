"""Fixtures for the OpenAI-compatible and direct-REST paths: both backends on one emulator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from golden_path.policies import Deny, GenAIRequest

CLIENT_ID = "acme-golden-path/1.4.0"
OAI_CLIENT_ID = "acme-golden-path-oai/1.4.0"
MODEL = "gemini-2.5-flash"
PROJECT = "emu-project"
LOCATION = "europe-west4"


class Allowlist:
    """A small model allowlist: records an allow, or denies, on every request naming a model."""

    name = "allowlist"

    def __init__(self, *models: str) -> None:
        self.models = set(models)

    def on_request(self, request: GenAIRequest) -> None:
        if request.model is None:
            return
        if request.model not in self.models:
            raise Deny(f"model {request.model} is not allowed")
        request.record(self.name, "allow", f"model {request.model} is allowed")


@pytest.fixture(name="ai_studio")
def _ai_studio(emulator: Any) -> dict[str, Any]:
    """Settings for AI Studio on the emulator (passed as keyword overrides)."""
    return {
        "backend": "ai_studio",
        "api_key": "test-key",
        "base_url": emulator.url,
        "retry_attempts": 1,
        "client_id": CLIENT_ID,
        "app": "checkout",
        "team": "payments",
    }


@pytest.fixture(name="vertex_env")
def _vertex_env(emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Vertex AI configured the way a deployment does it: environment variables and a key file."""
    key_file = tmp_path / "sa.json"
    emulator.create_service_account_key(key_file)
    for name, value in {
        "BACKEND": "vertex",
        "CREDENTIALS_FILE": str(key_file),
        "PROJECT": PROJECT,
        "LOCATION": LOCATION,
        "BASE_URL": emulator.url,
        "RETRY_ATTEMPTS": "1",
        "CLIENT_ID": CLIENT_ID,
    }.items():
        monkeypatch.setenv(f"GOLDEN_PATH_{name}", value)
    return key_file


@pytest.fixture(name="token_requests")
def _token_requests(emulator: Any) -> Callable[[], int]:
    """How many OAuth token requests the emulator has answered so far."""

    def count() -> int:
        return sum(1 for r in emulator.requests if r.kind == "oauth")

    return count
