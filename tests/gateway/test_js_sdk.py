"""The official JavaScript SDK (@google/genai from npm, run with node) through the gateway.

The SDK is installed once per lockfile into ~/.cache/golden-path/ (npm ci from the committed
package-lock.json), so a fresh clone needs only node and npm; after that the tests run offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.gateway.conftest import node


def test_generate(node_sdk: Path, gw: Any, audit: Any, emulator: Any) -> None:
    """generateContent from Node: answered, audited as the app, identified as the JS SDK."""
    assert node(node_sdk, gw.url, gw.key, "generate", "from node") == {"text": "Echo: from node"}
    event = audit.only()
    assert (event.app, event.method, event.outcome) == ("checkout", "generateContent", "ok")
    (sent,) = emulator.api_requests()
    client = {k.lower(): v for k, v in sent.headers.items()}["x-goog-api-client"]
    assert "google-genai-sdk/" in client
    assert "gl-node/" in client
    assert "golden-path/" in client


def test_stream(node_sdk: Path, gw: Any, audit: Any) -> None:
    """streamGenerateContent from Node arrives as several chunks; one audit event."""
    result = node(node_sdk, gw.url, gw.key, "stream", "one two three")
    assert len(result["chunks"]) > 1
    assert "".join(result["chunks"]) == "Echo: one two three"
    assert audit.only().stream is True


def test_count_tokens(node_sdk: Path, gw: Any) -> None:
    """countTokens from Node."""
    assert node(node_sdk, gw.url, gw.key, "count")["totalTokens"] > 0


def test_refused_key(node_sdk: Path, gw: Any) -> None:
    """The JS SDK surfaces the gateway's 401 as the API error it knows."""
    result = node(node_sdk, gw.url, "gpk_wrong", "generate")
    assert result["status"] == 401
    assert "UNAUTHENTICATED" in result["error"] or "not valid" in result["error"]


def test_files_upload(node_sdk: Path, gw: Any, audit: Any, tmp_path: Path) -> None:
    """files.upload from Node: the resumable protocol through the gateway, as the app."""
    path = tmp_path / "from-node.txt"
    path.write_text("twelve bytes")
    result = node(node_sdk, gw.url, gw.key, "upload", str(path))
    assert result.get("name", "").startswith("files/"), result
    assert result["sizeBytes"] == "12"
    assert {e.app for e in audit.events} == {"checkout"}
