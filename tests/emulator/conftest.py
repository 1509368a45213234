"""Fixtures for the emulator tests: a fresh emulator per test and real clients wired to it."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from google import genai
from google.genai import types
from google.oauth2 import service_account

from golden_path.emulator import Emulator

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
MODEL = "gemini-2.5-flash"

# One SSL context for every client: the SDK otherwise loads the CA bundle for each Client
# (~150 ms), which would dominate these tests although the emulator speaks plain HTTP.
_SSL_CONTEXT = ssl.create_default_context()


def http_options(emu: Emulator) -> types.HttpOptions:
    """HttpOptions that point the SDK at ``emu`` without paying for a new CA bundle."""
    return types.HttpOptions(
        base_url=emu.url,
        client_args={"verify": _SSL_CONTEXT},
        async_client_args={"verify": _SSL_CONTEXT, "ssl": _SSL_CONTEXT},
    )


def raw_client(url: str) -> httpx2.Client:
    """A plain HTTP client for ``url`` that reuses the shared SSL context."""
    return httpx2.Client(base_url=url, timeout=10, verify=_SSL_CONTEXT)


@pytest.fixture(name="emu")
def _emu() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


@pytest.fixture(name="gemini")
def _gemini(emu: Emulator) -> Iterator[genai.Client]:
    client = genai.Client(api_key="test-key", http_options=http_options(emu))
    yield client
    client.close()


@pytest.fixture(name="raw")
def _raw(emu: Emulator) -> Iterator[httpx2.Client]:
    with raw_client(emu.url) as client:
        yield client


@pytest.fixture(name="sa_key")
def _sa_key(emu: Emulator, tmp_path: Path) -> Path:
    path = tmp_path / "sa.json"
    emu.create_service_account_key(path)
    return path


@pytest.fixture(name="make_vertex")
def _make_vertex(emu: Emulator) -> Iterator[Callable[[Any], genai.Client]]:
    clients: list[genai.Client] = []

    def make(credentials: Any) -> genai.Client:
        client = genai.Client(
            vertexai=True,
            project="emu-project",
            location="us-central1",
            credentials=credentials,
            http_options=http_options(emu),
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture(name="sa_credentials")
def _sa_credentials(sa_key: Path) -> Any:
    return service_account.Credentials.from_service_account_file(
        str(sa_key), scopes=[CLOUD_PLATFORM]
    )


@pytest.fixture(name="vertex")
def _vertex(make_vertex: Callable[[Any], genai.Client], sa_credentials: Any) -> genai.Client:
    return make_vertex(sa_credentials)


def configure_golden_path(
    monkeypatch: pytest.MonkeyPatch, emu: Emulator, backend: str, tmp: Path
) -> None:
    """Point golden_path.client() at ``emu`` on ``backend`` (ai_studio, or vertex with a key)."""
    monkeypatch.setenv("GOLDEN_PATH_BASE_URL", emu.url)
    monkeypatch.setenv("GOLDEN_PATH_AUDIT_SINK", "none")
    monkeypatch.setenv("GOLDEN_PATH_RETRY_ATTEMPTS", "1")
    if backend == "vertex":
        key = tmp / "sa.json"
        emu.create_service_account_key(key)
        monkeypatch.setenv("GOLDEN_PATH_BACKEND", "vertex")
        monkeypatch.setenv("GOLDEN_PATH_PROJECT", "emu-project")
        monkeypatch.setenv("GOLDEN_PATH_LOCATION", "us-central1")
        monkeypatch.setenv("GOLDEN_PATH_CREDENTIALS_FILE", str(key))
    else:
        monkeypatch.setenv("GOLDEN_PATH_BACKEND", "ai_studio")
        monkeypatch.setenv("GOLDEN_PATH_API_KEY", "test-key")


@pytest.fixture(name="gp_client", params=["ai_studio", "vertex"])
def _gp_client(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, emu: Emulator, tmp_path: Path
) -> Any:
    """golden_path.client() on ``emu``, once per backend."""
    import golden_path

    configure_golden_path(monkeypatch, emu, request.param, tmp_path)
    return golden_path.client()
