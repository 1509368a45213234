"""Fixtures for policy tests: write a policy file, build a client on the emulator with it."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

FULL_POLICY = """
[models]
allow = ["gemini-2.5-*", "gemini-embedding-*"]
[models.aliases]
fast = "gemini-2.5-flash"
[generation]
max_output_tokens = 8192
on_exceed = "clamp"
[safety]
minimum = "BLOCK_MEDIUM_AND_ABOVE"
[tools]
deny = ["google_search", "code_execution", "url_context"]
[vertex]
locations = ["europe-west4", "eu"]
[labels]
team = "{team}"
app = "{app}"
[pii]
action = "redact"
detect = ["email", "phone", "credit_card", "iban", "us_ssn", "secret"]
[limits]
max_request_bytes = 1_000_000
"""


@pytest.fixture(name="policy_file")
def _policy_file(tmp_path: Path) -> Callable[[str], Path]:
    """Write TOML text (dedented) to a fresh file; return its path."""
    count = 0

    def write(text: str, name: str | None = None) -> Path:
        nonlocal count
        count += 1
        path = tmp_path / (name or f"policy-{count}.toml")
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture(name="governed")
def _governed(
    make_client: Callable[..., Any], policy_file: Callable[[str], Path]
) -> Callable[..., Any]:
    """An AI Studio client on the emulator governed by the given policy text."""

    def make(text: str, **overrides: Any) -> Any:
        return make_client(policy_file=str(policy_file(text)), **overrides)

    return make


@pytest.fixture(name="vertex_governed")
def _vertex_governed(
    emulator: Any, audit: Any, policy_file: Callable[[str], Path], tmp_path: Path
) -> Callable[..., Any]:
    """A Vertex client (service-account key issued by the emulator) with a policy file."""
    import golden_path

    key = tmp_path / "sa.json"
    emulator.create_service_account_key(key)

    def make(text: str, **overrides: Any) -> Any:
        settings: dict[str, Any] = {
            "backend": "vertex",
            "project": "emu-project",
            "location": "europe-west4",
            "credentials_file": str(key),
            "base_url": emulator.url,
            "retry_attempts": 1,
            "policy_file": str(policy_file(text)),
            "team": "ML Platform",
            "app": "chat-bot",
        }
        settings.update(overrides)
        return golden_path.create_client(audit_sinks=[audit], **settings)

    return make
