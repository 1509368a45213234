"""The bypass battery: ways an app might reach a denied model or tool. All are refused before
the network: the emulator records no request at all."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
from google.genai import types

import golden_path
from tests import _sdk as sdk

POLICY = """
[models]
allow = ["gemini-2.5-*", "gemini-embedding-*"]
[tools]
deny = ["google_search", "code_execution"]
"""
DENIED = "gemini-1.5-pro"
SEARCH = types.Tool(google_search=types.GoogleSearch())


@pytest.fixture(name="client")
def _client(governed: Callable[..., Any]) -> Any:
    return governed(POLICY)


def _refused(
    emulator: Any,
    attempt: Callable[[], Any],
    policy: str = "models",
) -> None:
    with pytest.raises(golden_path.PolicyViolation) as caught:
        attempt()
    assert caught.value.policy == policy
    # Nothing at all: on Vertex not even the OAuth token request (credentials come after).
    assert emulator.requests == []


@pytest.mark.parametrize(
    ("name", "policy"),
    [
        (DENIED, "models"),
        (f"models/{DENIED}", "models"),
        (DENIED.upper(), "models"),
        (f"  {DENIED} ", "models"),
        # The SDK sends these as models/publishers/... on the Gemini API: no such route.
        (f"publishers/google/models/{DENIED}", "routes"),
        (f"projects/p/locations/us-central1/publishers/google/models/{DENIED}", "routes"),
        ("gemini%2D1.5-pro", "models"),
        ("gemini%252D1.5-pro", "routes"),  # double encoding: refused before any allowlist
        ("Models/Gemini-1.5-Pro", "routes"),  # sent as models/Models/...: no such route
        ("tunedModels/my-tuned-model", "models"),
    ],
)
def test_name_variants(client: Any, emulator: Any, name: str, policy: str) -> None:
    """Prefixes, case, whitespace, URL encoding and tuned-model names cannot dodge the allowlist."""
    _refused(emulator, lambda: client.models.generate_content(model=name, contents="hi"), policy)


def test_stream(client: Any, emulator: Any) -> None:
    """Streaming is checked before the stream opens."""
    _refused(
        emulator, lambda: list(client.models.generate_content_stream(model=DENIED, contents="hi"))
    )


def test_count_tokens(client: Any, emulator: Any) -> None:
    """countTokens names the model in its URL and is checked."""
    _refused(emulator, lambda: client.models.count_tokens(model=DENIED, contents="hi"))


def test_embed(client: Any, emulator: Any) -> None:
    """An embedding model outside the allowlist is refused."""
    _refused(
        emulator, lambda: client.models.embed_content(model="text-embedding-004", contents="hi")
    )


def test_batch_embed_per_request_model(client: Any, emulator: Any) -> None:
    """batchEmbedContents' per-request model fields are checked, not only the URL's model."""
    extra = {
        "requests": [{"model": "models/text-embedding-004", "content": {"parts": [{"text": "hi"}]}}]
    }
    _refused(
        emulator,
        lambda: client.models.embed_content(
            model="gemini-embedding-001",
            contents="hi",
            config=types.EmbedContentConfig(http_options=types.HttpOptions(extra_body=extra)),
        ),
    )


def test_body_model_field(client: Any, emulator: Any) -> None:
    """A model named in the body of an allowed URL is checked too."""
    _refused(
        emulator,
        lambda: client.models.generate_content(
            model="gemini-2.5-flash",
            contents="hi",
            config=types.GenerateContentConfig(
                http_options=types.HttpOptions(extra_body={"model": f"models/{DENIED}"})
            ),
        ),
    )


def test_models_get(client: Any, emulator: Any) -> None:
    """models.get of a denied model is refused like any request naming it."""
    _refused(emulator, lambda: client.models.get(model=DENIED))


def test_cached_contents_create(client: Any, emulator: Any) -> None:
    """A cache for a denied model (usable later by name only) is refused at creation."""
    config = types.CreateCachedContentConfig(contents=["a long document"])
    _refused(emulator, lambda: client.caches.create(model=DENIED, config=config))


def test_batches_create(client: Any, emulator: Any) -> None:
    """A batch job for a denied model is refused."""
    src = [{"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}]
    _refused(emulator, lambda: client.batches.create(model=DENIED, src=src))


def test_tunings(client: Any, emulator: Any) -> None:
    """Tuning a denied base model is refused (baseModel in the body)."""
    import warnings

    from google.genai.errors import ExperimentalWarning

    dataset = types.TuningDataset(examples=[types.TuningExample(text_input="a", output="b")])
    # The SDK warns once per process, so another test may already have had the warning.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        _refused(emulator, lambda: client.tunings.tune(base_model=DENIED, training_dataset=dataset))


@pytest.mark.parametrize(
    ("options", "policy"),
    [
        ({"api_version": "v1beta"}, "models"),
        ({"headers": {"x-goog-api-key": "another-key", "user-agent": "not-golden-path"}}, "models"),
        ({"base_url": "http://127.0.0.1:9/"}, "routes"),  # another origin: refused first
    ],
)
def test_per_request_http_options(
    client: Any, emulator: Any, options: dict[str, Any], policy: str
) -> None:
    """Per-request api_version, headers or base_url still go through the governed transport."""
    config = types.GenerateContentConfig(http_options=types.HttpOptions(**options))
    _refused(
        emulator,
        lambda: client.models.generate_content(model=DENIED, contents="hi", config=config),
        policy,
    )


def test_chats(client: Any, emulator: Any) -> None:
    """A chat session on a denied model is refused at its first message."""
    chat = client.chats.create(model=DENIED)
    _refused(emulator, lambda: chat.send_message("hi"))


def test_async_and_async_stream(client: Any, emulator: Any) -> None:
    """The async client and async streams are governed the same way."""

    async def generate() -> None:
        await client.aio.models.generate_content(model=DENIED, contents="hi")

    async def stream() -> None:
        async for _ in await client.aio.models.generate_content_stream(model=DENIED, contents="hi"):
            pass

    _refused(emulator, lambda: asyncio.run(generate()))
    _refused(emulator, lambda: asyncio.run(stream()))


def test_live_connect(client: Any, emulator: Any) -> None:
    """A Live session on a denied model is refused before any connection."""

    async def connect() -> None:
        async with client.aio.live.connect(model=DENIED):
            pass

    _refused(emulator, lambda: asyncio.run(connect()))


def test_tools_in_generate_chats_caches_and_live(client: Any, emulator: Any) -> None:
    """A denied tool is refused in generate, a chat's config, a cache and a Live setup."""
    config = types.GenerateContentConfig(tools=[SEARCH])
    _refused(
        emulator,
        lambda: client.models.generate_content(
            model="gemini-2.5-flash", contents="hi", config=config
        ),
        "tools",
    )
    chat = client.chats.create(model="gemini-2.5-flash", config=config)
    _refused(emulator, lambda: chat.send_message("hi"), "tools")
    _refused(
        emulator,
        lambda: client.caches.create(
            model="gemini-2.5-flash",
            config=types.CreateCachedContentConfig(contents=["doc"], tools=[SEARCH]),
        ),
        "tools",
    )

    async def live() -> None:
        async with client.aio.live.connect(
            model="gemini-2.5-flash", config={"tools": [{"code_execution": {}}]}
        ):
            pass

    _refused(emulator, lambda: asyncio.run(live()), "tools")


def test_tools_snake_case_and_batches(client: Any, emulator: Any) -> None:
    """snake_case tool keys and tools inside a batch's inline requests are refused."""
    extra = {"tools": [{"google_search": {}}]}
    _refused(
        emulator,
        lambda: client.models.generate_content(
            model="gemini-2.5-flash",
            contents="hi",
            config=types.GenerateContentConfig(http_options=types.HttpOptions(extra_body=extra)),
        ),
        "tools",
    )
    src = [
        {
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "config": {"tools": [{"code_execution": {}}]},
        }
    ]
    _refused(emulator, lambda: client.batches.create(model="gemini-2.5-flash", src=src), "tools")


@pytest.fixture(name="openai_http")
def _openai_http(emulator: Any, audit: Any, policy_file: Callable[..., Path]) -> httpx2.Client:
    """A real httpx2 client on the governed transport, as the OpenAI-surface client uses it."""
    from golden_path._factory import build_pipeline
    from golden_path._settings import load_settings
    from golden_path._transport import GovernedTransport

    settings = load_settings(
        backend="ai_studio", api_key="k", policy_file=str(policy_file(POLICY))
    ).settings
    pipeline = build_pipeline(settings, audit_sinks=[audit])
    transport = GovernedTransport(pipeline, httpx2.HTTPTransport)
    return httpx2.Client(
        transport=transport, base_url=emulator.url, headers={"authorization": "Bearer k"}
    )


@pytest.mark.parametrize(
    "body",
    [
        {"model": DENIED, "messages": [{"role": "user", "content": "hi"}]},
        {"model": f"google/{DENIED.upper()}", "messages": [{"role": "user", "content": "hi"}]},
        {
            "model": "gemini-2.5-flash",
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "code_interpreter"}],
        },
        {
            "model": "gemini-2.5-flash",
            "messages": [{"role": "user", "content": "hi"}],
            "web_search_options": {},
        },
    ],
)
def test_openai_surface(openai_http: httpx2.Client, emulator: Any, body: dict[str, Any]) -> None:
    """OpenAI-compatible chat completions get the same model and tool rules."""

    def post() -> None:
        openai_http.post("/v1beta/openai/chat/completions", json=body)

    _refused(
        emulator, post, "tools" if "tools" in body or "web_search_options" in body else "models"
    )


def test_duplicate_json_keys_are_refused(openai_http: httpx2.Client, emulator: Any) -> None:
    """A body repeating "model" is refused: two parsers could read two different models."""
    raw = (
        b'{"model": "gemini-1.5-pro", "model": "gemini-2.5-flash", '
        b'"messages": [{"role": "user", "content": "hi"}]}'
    )
    with pytest.raises(golden_path.PolicyViolation, match="'model' appears twice") as caught:
        openai_http.post(
            "/v1beta/openai/chat/completions",
            content=raw,
            headers={"content-type": "application/json"},
        )
    assert caught.value.policy == "routes"
    assert emulator.requests == []


def test_vertex_path_variants(vertex_governed: Callable[..., Any], emulator: Any) -> None:
    """On Vertex the project/location/publisher path is checked the same way."""
    client = vertex_governed(POLICY)
    _refused(
        emulator,
        lambda: client.models.generate_content(model=DENIED, contents="hi"),
    )
    _refused(
        emulator,
        lambda: client.models.generate_content(
            model=f"projects/emu-project/locations/europe-west4/publishers/google/models/{DENIED}",
            contents="hi",
        ),
    )


# ----------------------------------------------------------------- what cannot be judged


def _post_raw(
    http: httpx2.Client, path: str, raw: bytes, headers: dict[str, str] | None = None
) -> Callable[[], Any]:
    return lambda: http.post(
        path, content=raw, headers={"content-type": "application/json", **(headers or {})}
    )


_GEN = "/v1beta/models/gemini-2.5-flash:generateContent"
_HI = b'"contents":[{"role":"user","parts":[{"text":"hi"}]}]'
_PAD = b"padding: " * 500


@pytest.mark.parametrize(
    ("path", "raw", "headers"),
    [
        ("/v1beta/models/gemini-2.5-flash:summonDragons", b"{" + _HI + b"}", {}),
        ("/v1beta/models/%2e%2e/tunedModels/x:generateContent", b"{" + _HI + b"}", {}),
        ("/v1beta/models/gemini-2.5-flash%2F..%2Fgemini-1.5-pro:generateContent",
         b"{" + _HI + b"}", {}),
        ("/v1beta/models/gemini%252D1.5-pro:generateContent", b"{" + _HI + b"}", {}),
        ("/upload/v1beta/models/gemini-2.5-flash:generateContent", b"{" + _HI + b"}", {}),
        ("/v1beta/models//gemini-1.5-pro:generateContent", b"{" + _HI + b"}", {}),
        ("/v1beta/projects/p/locations/l/files", b"{}", {}),
        (_GEN, b"{" + _HI + b",}", {}),  # trailing comma
        (_GEN, b'{"generationConfig":{"maxOutputTokens":' + b"9" * 5000 + b"}," + _HI + b"}",
         {}),  # an integer literal beyond Python's parser limit
        (_GEN, b'{"generationConfig":{"temperature":NaN},' + _HI + b"}", {}),
        (_GEN, b"[{" + _HI + b"}]", {}),  # not an object
        (_GEN, b"{" + _HI + b"}", {"content-encoding": "br"}),
        (_GEN, b"\x1f\x8b not really gzip", {"content-encoding": "gzip"}),
        (_GEN, b'{"generationConfig":{"maxOutputTokens":10},'
         b'"generation_config":{"max_output_tokens":99999},' + _HI + b"}", {}),
        (_GEN, b'{"generationConfig":{"maxOutputTokens":10,"max_output_tokens":99999},'
         + _HI + b"}", {}),
        # The second spelling's "_" written as an escape: not in the raw bytes.
        (_GEN, b'{"generationConfig":{"maxOutputTokens":10},'
         b'"generation\\u005fconfig":{"maxOutputTokens":99999},' + _HI + b"}", {}),
        (_GEN, b'{"safetySettings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":4}],'
         + _HI + b"}", {}),
        (_GEN, b'{"safetySettings":[{"category":7,"threshold":"BLOCK_NONE"}],' + _HI + b"}",
         {}),
        (_GEN, b'{"safety_settings":[{"category":"HARM_CATEGORY_HARASSMENT",'
         b'"threshold":"4"}],' + _HI + b"}", {}),
        (_GEN, b'{"model":"a","model":"b",' + _HI + b"}", {}),
        # Long bodies are parsed by orjson when it reads them exactly as the strict parse.
        (_GEN, b'{"x":"' + _PAD + b'","model":"a","model":"b",' + _HI + b"}", {}),
        (_GEN, b'{"x":"' + _PAD + b'","generationConfig":{"maxOutputTokens":'
         + b"9" * 5000 + b"}," + _HI + b"}", {}),
        (_GEN, b'{"x":"' + _PAD + b'","generationConfig":{"temperature":NaN},' + _HI + b"}",
         {}),
    ],
    ids=[
        "unknown-verb", "encoded-dot-segment", "encoded-slash", "double-encoding",
        "upload-prefix", "empty-segment", "gemini-route-under-vertex-parent", "trailing-comma",
        "huge-int", "nan", "array-body", "brotli", "bad-gzip", "two-config-spellings",
        "two-field-spellings", "escaped-underscore-spelling", "numeric-threshold",
        "numeric-category", "numeric-string-enum",
        "repeated-key", "repeated-key-long-body", "huge-int-long-body", "nan-long-body",
    ],
)  # fmt: skip
def test_what_cannot_be_judged_is_refused(
    openai_http: httpx2.Client, emulator: Any, path: str, raw: bytes, headers: dict[str, str]
) -> None:
    """Unknown routes, unsafe paths and bodies the policies cannot read never reach the wire."""
    _refused(emulator, _post_raw(openai_http, path, raw, headers), "routes")


def test_gzip_body_is_judged_decoded(openai_http: httpx2.Client, emulator: Any) -> None:
    """A gzip request body is decoded before the policies run: its denied model is refused."""
    import gzip

    raw = gzip.compress(b'{"model":"gemini-1.5-pro","messages":[{"role":"user","content":"hi"}]}')
    _refused(
        emulator,
        _post_raw(
            openai_http, "/v1beta/openai/chat/completions", raw, {"content-encoding": "gzip"}
        ),
    )


def test_gzip_body_is_sent_as_judged(openai_http: httpx2.Client, emulator: Any) -> None:
    """An allowed gzip body goes on the wire decoded, exactly as the policies read it."""
    import gzip

    plain = b'{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]}'
    response = _post_raw(
        openai_http,
        "/v1beta/openai/chat/completions",
        gzip.compress(plain),
        {"content-encoding": "gzip"},
    )()
    assert response.status_code == 200
    (sent,) = emulator.api_requests()
    assert json.loads(sent.raw_body) == json.loads(plain)
    assert "content-encoding" not in {k.lower() for k in sent.headers}


# ------------------------------------------------------------ other surfaces of the table


def test_interactions_agent_not_listed(client: Any, emulator: Any) -> None:
    """An Interactions agent the platform did not list is refused (agents are allowlisted)."""
    _refused(emulator, lambda: client.interactions.create(agent="deep-research-x", input="hi"))


def test_interactions_denied_model(client: Any, emulator: Any) -> None:
    """An interaction on a denied model is refused like generateContent."""
    _refused(emulator, lambda: client.interactions.create(model=DENIED, input="hi"))


def test_interactions_denied_tool(client: Any, emulator: Any) -> None:
    """Interactions tools ({"type": "google_search"}) pass the tools policy."""
    _refused(
        emulator,
        lambda: client.interactions.create(
            model="gemini-2.5-flash", input="hi", tools=[{"type": "google_search"}]
        ),
        "tools",
    )


def test_live_music_denied_model(client: Any, emulator: Any) -> None:
    """Live music connects through the same guard: a denied model connects nothing."""

    async def run() -> None:
        async with client.aio.live.music.connect(model=DENIED):
            pass

    _refused(emulator, lambda: asyncio.run(run()))


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (  # minting is off unless the platform enables it: refused by routes first
            "/v1alpha/auth_tokens",
            {"bidiGenerateContentSetup": {"model": f"models/{DENIED}"}},
        ),
        (f"/v1beta/dynamic/{DENIED}:generateContent", {"contents": []}),
        (f"/v1beta/models/{DENIED}:streamGenerateContent?alt=sse", {"contents": []}),
        (
            "/v1beta/models/gemini-2.5-flash:batchGenerateContent",
            {
                "batch": {
                    "inputConfig": {
                        "requests": {
                            "requests": [{"request": {"model": f"models/{DENIED}", "contents": []}}]
                        }
                    }
                }
            },
        ),
        ("/v1beta/cachedContents", {"model": f"models/{DENIED}", "contents": []}),
        ("/v1beta/interactions", {"agent": "not-listed", "input": "hi"}),
        ("/v1beta/tunedModels", {"baseModel": f"models/{DENIED}"}),
    ],
    ids=[
        "ephemeral-token", "dynamic-path", "sse-query", "batch-inline-model", "cache-create",
        "interactions-agent", "tuned-base-model",
    ],
)  # fmt: skip
def test_raw_routes_name_denied_models(
    openai_http: httpx2.Client, emulator: Any, path: str, body: dict[str, Any]
) -> None:
    """Wherever a row says a model is named, a denied one is refused on raw HTTP too."""
    policy = "routes" if path.endswith("auth_tokens") else "models"
    _refused(emulator, lambda: openai_http.post(path, json=body), policy)


# -- Live Interactions (google-genai 3.5+; run on 3.6.1 by tests/run's newest-release core run)

needs_live_interactions = pytest.mark.skipif(
    not sdk.at_least("3.5"), reason="Live Interactions arrived in google-genai 3.5.0"
)
_NOT_READ = "v1_never-read-here"


def _live_sessions(emulator: Any) -> list[Any]:
    return [r for r in emulator.api_requests() if r.path.endswith("/interactions/live")]


def _allowed_interaction(client: Any, emulator: Any) -> str:
    interaction_id = str(client.interactions.create(model="gemini-2.5-flash", input="hi").id)
    emulator.clear_requests()
    return interaction_id


@needs_live_interactions
@pytest.mark.filterwarnings("ignore:Live Interactions usage:UserWarning")
@pytest.mark.parametrize(
    ("event", "policy"),
    [
        ({"event_type": "interaction.create", "model": DENIED}, "models"),
        ({"event_type": "interaction.create", "model": f"models/{DENIED.upper()}"}, "models"),
        ({"events": [{"event_type": "interaction.create", "model": DENIED}]}, "models"),
        ({"event_type": "interaction.create", "agent": "not-listed"}, "models"),
        ({"event_type": "interaction.create", "model": "gemini-2.5-flash",
          "tools": [{"type": "google_search"}]}, "tools"),
        ({"event_type": "interaction.create", "model": "gemini-2.5-flash",
          "tools": [{"code_execution": {}}]}, "tools"),
        ({"event_type": "interaction.connect", "id": _NOT_READ}, "routes"),
        ({"event_type": "interaction.create", "model": "gemini-2.5-flash",
          "model_": DENIED, "event_type_": "x"}, None),
    ],
    ids=["model", "model-prefix-case", "batched-model", "agent", "search-tool", "code-tool",
         "switch-interaction", "look-alike-keys"],
)  # fmt: skip
def test_live_interaction_events_name_nothing_denied(
    client: Any, emulator: Any, event: dict[str, Any], policy: str | None
) -> None:
    """A Live Interactions session cannot switch to a denied model, agent or tool (or another
    interaction) through a later client event: refused, never sent."""
    interaction_id = _allowed_interaction(client, emulator)

    async def run() -> None:
        async with client.aio.interactions.connect(interaction_id) as connection:
            await connection.send(event)

    if policy is None:  # keys that only look alike are data: sent as they are
        asyncio.run(run())
        assert any("model_" in m for m in _live_sessions(emulator)[0].body)
        return
    with pytest.raises(golden_path.PolicyViolation) as caught:
        asyncio.run(run())
    assert caught.value.policy == policy
    sent = _live_sessions(emulator)[0].body
    assert sent[0]["event_type"] == "interaction.connect"
    assert event not in sent


@needs_live_interactions
@pytest.mark.filterwarnings("ignore:Live Interactions usage:UserWarning")
def test_live_interaction_on_a_denied_model_opens_nothing(client: Any, emulator: Any) -> None:
    """An interaction created outside golden-path on a denied model: read, judged, not opened;
    a token for it is not minted either."""
    from google import genai

    raw = genai.Client(api_key="k", http_options={"base_url": emulator.url})
    interaction = raw.interactions.create(model=DENIED, input="elsewhere")
    raw.close()

    async def run() -> None:
        async with client.aio.interactions.connect(interaction.id):
            pass  # pragma: no cover - refused before the block

    with pytest.raises(golden_path.PolicyViolation) as caught:
        asyncio.run(run())
    assert caught.value.policy == "models"
    with pytest.raises(golden_path.PolicyViolation):
        client.interactions.auth_tokens.create(interaction.id)
    assert _live_sessions(emulator) == []
    assert not any("auth_tokens" in r.path for r in emulator.api_requests())


@needs_live_interactions
@pytest.mark.filterwarnings("ignore:Live Interactions usage:UserWarning")
def test_live_interaction_tokens_cannot_be_minted_unlisted(client: Any, emulator: Any) -> None:
    """Tokens work without golden-path: none is minted on any accessor unless the platform
    enables it, however the call is made."""
    import datetime as dt

    interaction_id = _allowed_interaction(client, emulator)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    attempts = [
        lambda: client.interactions.auth_tokens.create(interaction_id, expire_time=later),
        lambda: client.interactions.with_raw_response.auth_tokens.create(
            interaction_id, expire_time=later
        ),
        lambda: client.interactions.auth_tokens.create(
            interaction_id, extra_body={"expire_time": later.isoformat()}
        ),
        lambda: asyncio.run(
            client.aio.interactions.auth_tokens.create(interaction_id, expire_time=later)
        ),
    ]
    for attempt in attempts:
        _refused(emulator, attempt, "routes")
