"""LangChain's OpenAI classes on Gemini's OpenAI-compatible endpoint, through golden-path."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import golden_path
from golden_path import GoldenPathError, PolicyViolation
from golden_path.emulator import Emulator
from tests.conftest import AuditCapture
from tests.integrations.conftest import Allowlist

adapter = pytest.importorskip(
    "golden_path.integrations.langchain_openai",
    reason="needs golden-path[langchain,openai]",
    exc_type=ImportError,
)
from langchain_core.exceptions import ModelPermissionDeniedError  # noqa: E402

MODEL = "gemini-2.5-flash"


def _clients(ai_studio: dict[str, Any], audit: AuditCapture, *policies: Any) -> dict[str, Any]:
    return {
        "client": golden_path.openai_client(
            policies=list(policies), audit_sinks=[audit], **ai_studio
        ),
        "async_client": golden_path.async_openai_client(
            policies=list(policies), audit_sinks=[audit], **ai_studio
        ),
    }


def test_chat_sync_async_and_stream_on_chat_completions(
    ai_studio: dict[str, Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """invoke, ainvoke and stream use /chat/completions (never the Responses API), audited."""
    llm = adapter.chat_model(MODEL, **_clients(ai_studio, audit))
    assert "hello" in str(llm.invoke("hello").content)
    assert "again" in str(asyncio.run(llm.ainvoke("again")).content)
    assert "".join(str(c.content) for c in llm.stream("streamed"))
    paths = [r.path for r in emulator.api_requests()]
    assert paths
    assert all(p.endswith("/chat/completions") for p in paths)
    assert len(audit.events) == len(paths)


def test_embeddings_send_raw_text_without_tiktoken(
    ai_studio: dict[str, Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """Embeddings go to /embeddings as text: no tokenizer download is attempted."""
    vectors = adapter.embeddings(**_clients(ai_studio, audit))
    assert len(vectors.embed_documents(["one", "two"])) == 2
    assert vectors.embed_query("three")
    [first, _] = emulator.api_requests()
    assert first.path.endswith("/embeddings")
    assert first.body["input"] == ["one", "two"]


def test_denial_is_langchains_permission_error(
    ai_studio: dict[str, Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """A denied model raises ModelPermissionDeniedError carrying the PolicyViolation."""
    llm = adapter.chat_model(
        "gemini-2.5-pro", **_clients(ai_studio, audit, Allowlist("gemini-2.5-flash"))
    )
    with pytest.raises(ModelPermissionDeniedError) as caught:
        llm.invoke("hi")
    assert isinstance(caught.value.policy_violation, PolicyViolation)  # type: ignore[attr-defined]
    assert emulator.api_requests() == []


def test_a_swapped_root_client_or_responses_api_is_refused(
    ai_studio: dict[str, Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """The ChatOpenAI trap: a root client for api.openai.com, or the Responses API, is refused."""
    import openai

    llm = adapter.chat_model(MODEL, **_clients(ai_studio, audit))
    llm.root_client = openai.OpenAI(api_key="sk-test", base_url=emulator.url)
    with pytest.raises(GoldenPathError, match="replaced after construction"):
        llm.invoke("hi")
    other = adapter.chat_model(MODEL, **_clients(ai_studio, audit))
    other.use_responses_api = True
    with pytest.raises(GoldenPathError, match="replaced after construction"):
        other.invoke("hi")
    with pytest.raises(GoldenPathError, match="did not build"):
        adapter.chat_model(MODEL, client=openai.OpenAI(api_key="sk-test"))
    assert emulator.api_requests() == []
