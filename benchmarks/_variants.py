"""The clients being compared, each behind the same three calls: sync, stream, async.

A variant that cannot be built here (LiteLLM not installed, a policy set not landed or not
loading) is kept with the reason, so the table shows a visible "not available" row.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODEL = "gemini-2.5-flash"
API_KEY = "bench-key-not-a-secret"
REPO = Path(__file__).resolve().parent.parent
DEFAULT_POLICIES = REPO / "policies"
# A directory: the loader merges 10-builtins.toml and 20-limits.toml in name order.
ALL_BUILTINS = Path(__file__).resolve().parent / "all_builtins"

SMALL_PROMPT = "Say hello to the benchmark."
# About 10 KB of ordinary prose, no PII: every scanner reads all of it and none fires.
_SENTENCE = (
    "The quarterly planning review covers roadmap items, staffing, open risks and the "
    "migration of batch jobs to the new scheduler; owners report status in turn. "
)
LARGE_PROMPT = (_SENTENCE * (10_240 // len(_SENTENCE) + 1))[:10_240]


@dataclass
class Variant:
    """One client under test; ``error`` set means it could not be built."""

    key: str
    label: str
    sync: Callable[[str], Any] | None = None
    stream: Callable[[str], Iterator[Any]] | None = None
    make_async: Callable[[], Callable[[str], Awaitable[Any]]] | None = None
    error: str | None = None
    info: dict[str, str] = field(default_factory=dict)
    # Share of the samples this variant gets: LiteLLM is slow enough that full sample counts
    # would blow the run's five-minute budget; its median is stable with a quarter of them.
    weight: float = 1.0

    @property
    def available(self) -> bool:
        return self.error is None


def _genai_calls(
    client: Any,
) -> tuple[
    Callable[[str], Any],
    Callable[[str], Iterator[Any]],
    Callable[[], Callable[[str], Awaitable[Any]]],
]:
    models = client.models

    def sync(prompt: str) -> Any:
        return models.generate_content(model=MODEL, contents=prompt)

    def stream(prompt: str) -> Iterator[Any]:
        return iter(models.generate_content_stream(model=MODEL, contents=prompt))

    def make_async() -> Callable[[str], Awaitable[Any]]:
        aio = client.aio.models

        async def call(prompt: str) -> Any:
            return await aio.generate_content(model=MODEL, contents=prompt)

        return call

    return sync, stream, make_async


def raw(url: str) -> Variant:
    """The plain SDK, as an app would build it without golden-path."""
    from google import genai
    from google.genai import types

    client = genai.Client(api_key=API_KEY, http_options=types.HttpOptions(base_url=url))
    sync, stream, make_async = _genai_calls(client)
    return Variant("raw", "raw google-genai SDK", sync, stream, make_async)


def raw_async_httpx2(url: str) -> Variant:
    """The plain SDK with its async calls on httpx2, the stack golden-path uses.

    With aiohttp installed (LiteLLM pulls it in) the SDK sends async calls through aiohttp
    unless a transport is given; this pins httpx2 so the ratio isolates golden-path's cost.
    """
    import httpx2
    from google import genai
    from google.genai import types

    def make_async() -> Callable[[str], Awaitable[Any]]:
        # Built inside the running loop: an SDK async client is bound to its first loop.
        client = genai.Client(
            api_key=API_KEY,
            http_options=types.HttpOptions(
                base_url=url, async_client_args={"transport": httpx2.AsyncHTTPTransport()}
            ),
        )
        return _genai_calls(client)[2]()

    return Variant("raw_httpx2", "raw google-genai SDK (async on httpx2)", make_async=make_async)


def raw_async_default(url: str) -> Variant | None:
    """The plain SDK's default async stack when aiohttp is importable (else None: same as raw)."""
    import importlib.util

    if importlib.util.find_spec("aiohttp") is None:
        return None
    from google import genai
    from google.genai import types

    def make_async() -> Callable[[str], Awaitable[Any]]:
        client = genai.Client(api_key=API_KEY, http_options=types.HttpOptions(base_url=url))
        return _genai_calls(client)[2]()

    return Variant(
        "raw_aiohttp",
        "raw google-genai SDK (async on aiohttp, its default here)",
        make_async=make_async,
    )


def golden_path(
    url: str,
    key: str,
    label: str,
    policy_file: Path | None = None,
    prompt: str = SMALL_PROMPT,
    *,
    audit: bool = False,
    async_transport: str = "auto",
    sync_transport: str = "auto",
) -> Variant:
    """golden-path's client with the given policy set.

    ``audit`` writes the audit trail to a JSON-lines file, as a deployment would (stderr would
    flood the terminal); without it the audit trail is off and only the transport is timed.
    """
    import tempfile

    import golden_path as gp

    audit_sink = "none"
    if audit:
        folder = tempfile.mkdtemp(prefix="golden-path-bench-")
        audit_sink = f"file:{folder}/audit.jsonl"
    overrides: dict[str, Any] = {}
    if policy_file is not None:
        if not policy_file.exists():
            return Variant(key, label, error=f"{_rel(policy_file)} does not exist yet")
        overrides["policy_file"] = policy_file
    try:
        client = gp.create_client(
            backend="ai_studio",
            api_key=API_KEY,
            base_url=url,
            audit_sink=audit_sink,
            app="bench-app",
            team="bench-team",
            async_transport=async_transport,
            sync_transport=sync_transport,
            **overrides,
        )
        sync, stream, make_async = _genai_calls(client)
        sync(prompt)  # a policy that denies the benchmark's own request would measure nothing
    except Exception as exc:
        return Variant(key, label, error=_reason(exc))
    return Variant(key, label, sync, stream, make_async)


def litellm(url: str) -> Variant:
    """LiteLLM's Gemini provider pointed at the same server."""
    try:
        import litellm as llm
    except ImportError:
        return Variant(
            "litellm",
            "LiteLLM",
            error="litellm is not installed (pip install 'golden-path[bench]')",
        )
    api_base = url + "/v1beta"  # LiteLLM appends /models/{m}:generateContent
    model = f"gemini/{MODEL}"

    def messages(prompt: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": prompt}]

    def sync(prompt: str) -> Any:
        return llm.completion(
            model=model, api_base=api_base, api_key=API_KEY, messages=messages(prompt)
        )

    def stream(prompt: str) -> Iterator[Any]:
        return iter(
            llm.completion(
                model=model,
                api_base=api_base,
                api_key=API_KEY,
                messages=messages(prompt),
                stream=True,
            )
        )

    def make_async() -> Callable[[str], Awaitable[Any]]:
        async def call(prompt: str) -> Any:
            return await llm.acompletion(
                model=model, api_base=api_base, api_key=API_KEY, messages=messages(prompt)
            )

        return call

    try:
        sync(SMALL_PROMPT)
    except Exception as exc:
        return Variant("litellm", "LiteLLM", error=_reason(exc))
    version = getattr(llm, "version", None) or _dist_version("litellm")
    return Variant(
        "litellm", "LiteLLM", sync, stream, make_async, info={"version": str(version)}, weight=0.25
    )


def _dist_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if len(text) > 160:
        text = text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def clean_environment() -> None:
    """Forget settings the machine may carry, so every client is configured only here."""
    for name in list(os.environ):
        if name.startswith(("GOOGLE_", "GEMINI_", "GOLDEN_PATH_")):
            del os.environ[name]
