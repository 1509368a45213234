"""The Gemini Developer API, driven by the real google-genai SDK over loopback HTTP."""

from __future__ import annotations

import asyncio
import math
import typing

import httpx2
import pydantic
import pytest
from google import genai
from google.genai import errors, types

from golden_path.emulator import Emulator
from tests._sdk import GEMINI_API_VERSION, at_least

from .conftest import MODEL, http_options


def test_generate_echoes_the_prompt(gemini: genai.Client, emu: Emulator) -> None:
    """generateContent answers "Echo: <prompt>" with usage counted at four characters a token."""
    response = gemini.models.generate_content(
        model=MODEL, contents="hello there", config={"system_instruction": "be brief"}
    )
    assert response.text == "Echo: hello there"
    usage = response.usage_metadata
    assert usage is not None
    assert usage.prompt_token_count == math.ceil(len("be briefhello there") / 4)
    assert usage.candidates_token_count == math.ceil(len("Echo: hello there") / 4)
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count
    assert response.model_version == MODEL
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    [request] = emu.api_requests()
    assert request.path == f"/{GEMINI_API_VERSION}/models/{MODEL}:generateContent"
    assert request.principal == "api_key:test-key"
    assert request.headers["x-goog-api-key"] == "test-key"
    assert request.body["contents"][0]["parts"][0]["text"] == "hello there"


def test_long_prompts_are_echoed_shortened(gemini: genai.Client) -> None:
    """A long prompt is echoed up to 200 characters followed by an ellipsis."""
    response = gemini.models.generate_content(model=MODEL, contents="x" * 500)
    assert response.text == "Echo: " + "x" * 200 + "..."


# aiohttp (installed alongside) carries the SDK's async calls and warns about the SDK subclassing
# its session; that is the SDK's business, not the emulator's.
AIOHTTP_SUBCLASS = "ignore:Inheritance class AiohttpClientSession:DeprecationWarning"


@pytest.mark.filterwarnings(AIOHTTP_SUBCLASS)
def test_async_generate(gemini: genai.Client) -> None:
    """client.aio answers like the sync client."""

    async def call() -> str | None:
        async with gemini.aio as aio:
            response = await aio.models.generate_content(model=MODEL, contents="from async")
        return response.text

    assert asyncio.run(call()) == "Echo: from async"


def test_stream_arrives_in_chunks(gemini: genai.Client, emu: Emulator) -> None:
    """streamGenerateContent sends at least three SSE chunks that concatenate to the answer."""
    chunks = list(gemini.models.generate_content_stream(model=MODEL, contents="stream me please"))
    assert len(chunks) >= 3
    assert "".join(c.text or "" for c in chunks) == "Echo: stream me please"
    last = chunks[-1]
    assert last.usage_metadata is not None
    assert last.usage_metadata.candidates_token_count == math.ceil(
        len("Echo: stream me please") / 4
    )
    assert last.candidates is not None
    assert last.candidates[0].finish_reason == types.FinishReason.STOP
    [request] = emu.api_requests()
    assert request.query == {"alt": "sse"}


@pytest.mark.filterwarnings(AIOHTTP_SUBCLASS)
def test_async_stream(gemini: genai.Client) -> None:
    """client.aio streams the same chunks."""

    async def call() -> list[str]:
        async with gemini.aio as aio:
            stream = await aio.models.generate_content_stream(model=MODEL, contents="async s")
            return [chunk.text or "" async for chunk in stream]

    texts = asyncio.run(call())
    assert len(texts) >= 3
    assert "".join(texts) == "Echo: async s"


def test_count_tokens_matches_prompt_tokens(gemini: genai.Client) -> None:
    """countTokens answers the promptTokenCount a generate call would report."""
    count = gemini.models.count_tokens(model=MODEL, contents="count these words")
    response = gemini.models.generate_content(model=MODEL, contents="count these words")
    assert response.usage_metadata is not None
    assert count.total_tokens == response.usage_metadata.prompt_token_count == 5


def test_embeddings_have_the_requested_dimension(gemini: genai.Client) -> None:
    """batchEmbedContents answers one unit vector per input, of outputDimensionality values."""
    result = gemini.models.embed_content(
        model="gemini-embedding-001", contents=["a", "b"], config={"output_dimensionality": 64}
    )
    assert result.embeddings is not None
    first, second = (e.values or [] for e in result.embeddings)
    assert len(first) == len(second) == 64
    assert math.isclose(sum(v * v for v in first), 1.0)
    assert first != second
    again = gemini.models.embed_content(
        model="gemini-embedding-001", contents="a", config={"output_dimensionality": 64}
    )
    assert again.embeddings is not None
    assert again.embeddings[0].values == first


def test_embedding_default_dimension(gemini: genai.Client) -> None:
    """gemini-embedding-001 vectors have 3072 values unless asked otherwise."""
    result = gemini.models.embed_content(model="gemini-embedding-001", contents="x")
    assert result.embeddings is not None
    assert len(result.embeddings[0].values or []) == 3072


def test_models_list_and_get(gemini: genai.Client) -> None:
    """models.list pages through the catalogue and models.get returns one model."""
    names = [m.name for m in gemini.models.list(config={"page_size": 2})]
    assert "models/gemini-2.5-flash" in names
    assert "models/gemini-embedding-001" in names
    assert len(names) == len(set(names)) >= 5
    model = gemini.models.get(model=MODEL)
    assert model.display_name == "Gemini 2.5 Flash"
    assert model.output_token_limit == 65536


def test_unknown_model_is_404(gemini: genai.Client) -> None:
    """A model name Google would not serve answers 404 NOT_FOUND naming the API version."""
    with pytest.raises(errors.ClientError) as caught:
        gemini.models.generate_content(model="gpt-4o", contents="hi")
    assert caught.value.code == 404
    assert "models/gpt-4o is not found for API version v1" in str(caught.value.message)


def test_max_output_tokens_truncates(gemini: genai.Client) -> None:
    """maxOutputTokens cuts the answer and reports finishReason MAX_TOKENS."""
    response = gemini.models.generate_content(
        model=MODEL, contents="a fairly long prompt", config={"max_output_tokens": 2}
    )
    assert response.text == "Echo: a "
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS


def test_candidate_count(gemini: genai.Client) -> None:
    """candidateCount yields that many candidates."""
    response = gemini.models.generate_content(
        model=MODEL, contents="hi", config={"candidate_count": 3}
    )
    assert response.candidates is not None
    assert [c.index for c in response.candidates] == [0, 1, 2]


def get_weather(city: str) -> str:
    """Return the weather for a city."""
    return f"sunny in {city}"


if not at_least("2.34"):
    # Before 2.34 the SDK's automatic function calling cannot read string annotations (this
    # module's `from __future__ import annotations`): apps on those releases need real ones.
    get_weather.__annotations__ = typing.get_type_hints(get_weather)


def test_automatic_function_calling(gemini: genai.Client, emu: Emulator) -> None:
    """A prompt naming a declared function gets a functionCall; its result is then described."""
    response = gemini.models.generate_content(
        model=MODEL,
        contents="please call get_weather",
        config={"tools": [get_weather]},
    )
    assert response.text == (
        'The function get_weather(city="emulated") returned "sunny in emulated".'
    )
    calls = emu.api_requests()
    assert len(calls) == 2
    assert calls[1].body["contents"][-1]["parts"][0]["functionResponse"]["name"] == "get_weather"


def test_function_call_without_automatic_calling(gemini: genai.Client) -> None:
    """With automatic calling off the SDK surfaces the functionCall and its schema-derived args."""
    declaration = types.FunctionDeclaration(
        name="lookup",
        parameters_json_schema={
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
        },
    )
    response = gemini.models.generate_content(
        model=MODEL,
        contents="run lookup now",
        config={
            "tools": [types.Tool(function_declarations=[declaration])],
            "automatic_function_calling": {"disable": True},
        },
    )
    assert response.function_calls is not None
    [call] = response.function_calls
    assert call.name == "lookup"
    assert call.args == {"id": 0, "tags": ["emulated"]}


class Recipe(pydantic.BaseModel):
    """A structured answer."""

    name: str
    minutes: int
    vegan: bool
    steps: list[str]


def test_json_schema_answer_parses(gemini: genai.Client) -> None:
    """responseMimeType application/json with a schema answers JSON the SDK parses into it."""
    response = gemini.models.generate_content(
        model=MODEL,
        contents="a recipe",
        config={"response_mime_type": "application/json", "response_schema": Recipe},
    )
    assert isinstance(response.parsed, Recipe)
    assert response.parsed == Recipe(name="emulated", minutes=0, vegan=True, steps=["emulated"])


def test_v1beta_and_query_key(raw: httpx2.Client, emu: Emulator) -> None:
    """The v1beta surface answers too, and ?key= authenticates like the header."""
    response = raw.post(
        f"/v1beta/models/{MODEL}:generateContent",
        params={"key": "k2"},
        json={"contents": [{"role": "user", "parts": [{"text": "beta"}]}]},
    )
    assert response.status_code == 200
    assert response.json()["candidates"][0]["content"]["parts"][0]["text"] == "Echo: beta"
    assert emu.api_requests()[0].principal == "api_key:k2"


def test_invalid_api_key_is_400() -> None:
    """A key the emulator was not given answers 400 INVALID_ARGUMENT with reason API_KEY_INVALID."""
    with Emulator(api_keys=["good"]) as emu:
        client = genai.Client(api_key="bad", http_options=http_options(emu))
        with pytest.raises(errors.ClientError) as caught:
            client.models.generate_content(model=MODEL, contents="hi")
        client.close()
        assert caught.value.code == 400
        assert caught.value.status == "INVALID_ARGUMENT"
        assert caught.value.message == "API key not valid. Please pass a valid API key."
        assert caught.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"
        emu.add_api_key("bad")
        client = genai.Client(api_key="bad", http_options=http_options(emu))
        assert client.models.generate_content(model=MODEL, contents="hi").text == "Echo: hi"
        client.close()


def test_missing_credentials_is_403(raw: httpx2.Client) -> None:
    """A Developer API request without any credentials answers 403 PERMISSION_DENIED."""
    response = raw.post(f"/v1/models/{MODEL}:generateContent", json={"contents": []})
    assert response.status_code == 403
    assert response.json()["error"]["status"] == "PERMISSION_DENIED"
