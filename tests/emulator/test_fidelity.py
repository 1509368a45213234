"""Answers that behave like Gemini's, through golden_path.client() on both backends.

Tools are called for ordinary prompts, JSON comes back when asked (by config or by prompt),
candidates and thoughts are counted, thought signatures round-trip, unknown models and bad
bodies fail as Google fails them, answers are gzipped for clients that accept it.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from typing import Any

import httpx2
import pytest
from google.genai import errors, types

from golden_path.emulator import Emulator

MODEL = "gemini-2.5-flash"
WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="Current weather for a city",
    parameters_json_schema={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)
STOCKS = types.FunctionDeclaration(
    name="get_stock_price",
    description="Latest stock price for a ticker symbol",
    parameters_json_schema={"type": "object", "properties": {"ticker": {"type": "string"}}},
)


@pytest.fixture(name="client")
def _client(gp_client: Any) -> Any:
    return gp_client


def _tools_config(**extra: Any) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[STOCKS, WEATHER])],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        **extra,
    )


def test_an_ordinary_prompt_calls_the_matching_tool(client: Any) -> None:
    answer = client.models.generate_content(
        model=MODEL, contents="What's the weather in Paris?", config=_tools_config()
    )
    (call,) = answer.function_calls
    assert call.name == "get_weather"
    assert call.args == {"city": "Paris"}


def test_tool_rule_async_and_mode_none(client: Any) -> None:
    async def go() -> Any:
        return await client.aio.models.generate_content(
            model=MODEL, contents="How is ACME stock doing?", config=_tools_config()
        )

    assert asyncio.run(go()).function_calls[0].name == "get_stock_price"
    none = _tools_config(
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(
                mode=types.FunctionCallingConfigMode.NONE
            )
        )
    )
    answer = client.models.generate_content(model=MODEL, contents="weather?", config=none)
    assert answer.function_calls is None
    assert answer.text == "Echo: weather?"


def test_automatic_function_calling_runs_the_python_tool(client: Any) -> None:
    seen: list[str] = []

    def get_weather(city: str) -> dict[str, Any]:
        """Current weather for a city."""
        seen.append(city)
        return {"temperature_c": 18}

    answer = client.models.generate_content(
        model=MODEL, contents="Weather in Lyon please", config={"tools": [get_weather]}
    )
    assert seen == ["Lyon"]
    assert answer.text == ('The function get_weather(city="Lyon") returned {"temperature_c": 18}.')


def test_json_by_schema_and_by_prompt(client: Any, emu: Emulator) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 3}},
        "required": ["name", "age"],
    }
    by_config = client.models.generate_content(
        model=MODEL,
        contents="a person",
        config={"response_mime_type": "application/json", "response_json_schema": schema},
    )
    assert json.loads(by_config.text) == {"name": "emulated", "age": 3}
    prompt = f"Describe a person. Respond only with JSON matching this schema: {json.dumps(schema)}"
    by_prompt = client.models.generate_content(model=MODEL, contents=prompt)
    assert json.loads(by_prompt.text) == {"name": "emulated", "age": 3}
    emu.prompted_json = False
    assert client.models.generate_content(model=MODEL, contents=prompt).text.startswith("Echo: ")


def test_candidate_count(client: Any) -> None:
    answer = client.models.generate_content(
        model=MODEL, contents="two please", config={"candidate_count": 2}
    )
    assert [c.index for c in answer.candidates] == [0, 1]
    assert all(c.content.parts[0].text == "Echo: two please" for c in answer.candidates)


def test_thoughts_and_signatures_round_trip(client: Any, emu: Emulator) -> None:
    config = types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=128)
    )
    chat = client.chats.create(model=MODEL, config=config)
    first = chat.send_message("plan a trip")
    parts = first.candidates[0].content.parts
    assert parts[0].thought is True
    assert parts[1].text == "Echo: plan a trip"
    assert parts[1].thought_signature
    assert first.usage_metadata.thoughts_token_count > 0
    second = chat.send_message("and back")  # the history carries the signature back
    assert second.text == "Echo: and back"
    sent = emu.api_requests()[-1].body["contents"]
    assert any("thoughtSignature" in p for c in sent for p in c["parts"])
    forged = [
        {"role": "user", "parts": [{"text": "hi"}]},
        {"role": "model", "parts": [{"text": "Echo: hi", "thought_signature": b"forged"}]},
        {"role": "user", "parts": [{"text": "again"}]},
    ]
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model=MODEL, contents=forged)
    assert caught.value.code == 400
    assert "Thought signature is not valid" in caught.value.message


def test_unknown_model_is_not_found(client: Any) -> None:
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model="gemini-9.9-imaginary", contents="hi")
    assert caught.value.code == 404
    assert caught.value.status == "NOT_FOUND"


def test_openai_n_and_auto_tool_choice(emu: Emulator) -> None:
    import openai

    client = openai.OpenAI(api_key="k", base_url=f"{emu.url}/v1beta/openai/")
    answer = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], n=3
    )
    assert [c.index for c in answer.choices] == [0, 1, 2]
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    called = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Weather in Oslo?"}], tools=tools
    )
    call = called.choices[0].message.tool_calls[0]
    assert json.loads(call.function.arguments) == {"city": "Oslo"}
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    prompted = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": f"Reply in JSON: {json.dumps(schema)}"},
            {"role": "user", "content": "status?"},
        ],
    )
    assert json.loads(prompted.choices[0].message.content or "") == {"ok": True}


def test_gzip_for_clients_that_accept_it(emu: Emulator) -> None:
    path = f"/v1beta/models/{MODEL}:generateContent"
    body = {"contents": [{"parts": [{"text": "compress me " * 30}]}]}
    with httpx2.Client(base_url=emu.url) as http:
        zipped = http.post(
            path, json=body, headers={"x-goog-api-key": "k", "accept-encoding": "gzip"}
        )
        plain = http.post(
            path, json=body, headers={"x-goog-api-key": "k", "accept-encoding": "identity"}
        )
        sent_zipped = http.post(
            path,
            content=gzip.compress(json.dumps(body).encode()),
            headers={"x-goog-api-key": "k", "content-encoding": "gzip",
                     "content-type": "application/json"},
        )  # fmt: skip
    assert zipped.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert zipped.json()["candidates"][0]["content"] == plain.json()["candidates"][0]["content"]
    assert sent_zipped.status_code == 200


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b'{"contents": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested"),
        (b'{"contents": [{"parts": [{"text": "x"}]}], "n": ' + b"9" * 6000 + b"}", "Invalid value"),
        (b'{"contents": [}', "Unexpected token"),
        (b'{"contents": ' + b'[{"parts": [' * 60 + b"]}]" * 60 + b"}", "nested"),
    ],
)
def test_malformed_bodies_are_400_and_recorded(emu: Emulator, raw: bytes, why: str) -> None:
    with httpx2.Client(base_url=emu.url) as http:
        answer = http.post(
            f"/v1beta/models/{MODEL}:generateContent",
            content=raw,
            headers={"x-goog-api-key": "k", "content-type": "application/json"},
        )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert why in error["message"]
    assert emu.requests[-1].raw_body == raw


def test_continuation_segments_are_followed_by_the_sdk(client: Any, emu: Emulator) -> None:
    emu.continuation_segments = 3
    answer = client.models.generate_content(model=MODEL, contents="a long answer please")
    assert answer.text.endswith("please")
    sent = [r.body for r in emu.api_requests() if r.path.endswith(":generateContent")]
    assert len(sent) == 3
    assert "continuationToken" not in sent[0]
    assert all("continuationToken" in b for b in sent[1:])
    first = client.models.generate_content(
        model=MODEL, contents="stop early", config={"automatic_continuation": False}
    )
    assert first.candidates[0].finish_reason == types.FinishReason.CONTINUATION
