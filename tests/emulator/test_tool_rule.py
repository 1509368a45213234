"""The emulator's tool rule (docs/testing.md) through golden_path.client(), on both backends.

A prompt calls the declared functions it is about, in parallel, with arguments read from its
own words by each function's schema; the answer after the responses names every call and its
result; mode ANY keeps calling. Python tools run through the SDK's automatic function calling.
"""

import asyncio
import json
from typing import Any

import httpx2
import pydantic
import pytest
from google.genai import errors, types

from golden_path.emulator import Emulator

MODEL = "gemini-2.5-flash"


class City(pydantic.BaseModel):
    city_name: str


def _no_afc(**extra: Any) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True), **extra
    )


def test_one_call_per_sentence_in_parallel_then_an_answer_from_both(gp_client: Any) -> None:
    seen: list[tuple[str, str]] = []

    def get_weather(city: str) -> str:
        seen.append(("get_weather", city))
        return f"The weather in {city} is sunny."

    def get_stock_price(symbol: str) -> str:
        seen.append(("get_stock_price", symbol))
        return "1000" if symbol == "GOOG" else "100"

    answer = gp_client.models.generate_content(
        model=MODEL,
        contents="What is the price of GOOG? And what is the weather in Boston?",
        config={"tools": [get_weather, get_stock_price]},
    )
    # Both calls arrive in one model turn, in the order the prompt asks.
    assert seen == [("get_stock_price", "GOOG"), ("get_weather", "Boston")]
    calls_turn = answer.automatic_function_calling_history[1]
    assert [p.function_call.name for p in calls_turn.parts] == ["get_stock_price", "get_weather"]
    assert answer.text == (
        'The function get_stock_price(symbol="GOOG") returned "1000". '
        'The function get_weather(city="Boston") returned '
        '"The weather in Boston is sunny.".'
    )


def test_numbers_fill_numeric_parameters_in_order(gp_client: Any) -> None:
    def divide(numerator: int, denominator: int) -> int:
        """Divide two integers."""
        return numerator // denominator

    answer = gp_client.models.generate_content(
        model=MODEL, contents="what is the result of 1000/2?", config={"tools": [divide]}
    )
    assert answer.text == ("The function divide(numerator=1000, denominator=2) returned 500.")


def test_objects_lists_and_booleans_are_read_from_the_prompt(gp_client: Any) -> None:
    def weather_for(cities: list[City], is_winter: bool) -> str:
        """Weather for several cities."""
        return ", ".join(f"{c.city_name}: {'cold' if is_winter else 'warm'}" for c in cities)

    config = _no_afc(tools=[weather_for])
    winter = gp_client.models.generate_content(
        model=MODEL,
        contents="It is winter, what is the weather in Boston and New York?",
        config=config,
    )
    (call,) = winter.function_calls
    assert call.args == {
        "cities": [{"city_name": "Boston"}, {"city_name": "New York"}],
        "is_winter": True,
    }
    summer = gp_client.models.generate_content(
        model=MODEL, contents="And the weather in Rome?", config=config
    )
    assert summer.function_calls[0].args == {"cities": [{"city_name": "Rome"}], "is_winter": False}


def test_enums_optional_parameters_and_quoted_text(gp_client: Any) -> None:
    search = types.FunctionDeclaration(
        name="search_flights",
        description="Search flights to a destination",
        parameters_json_schema={
            "type": "object",
            "properties": {
                "destination": {"type": "string"},
                "cabin": {"type": "string", "enum": ["economy", "business"]},
                "passengers": {"type": "integer"},
            },
            "required": ["destination", "cabin"],
        },
    )
    config = _no_afc(tools=[types.Tool(function_declarations=[search])])
    named = gp_client.models.generate_content(
        model=MODEL, contents="search flights to 'Rio de Janeiro' in business for 3", config=config
    )
    assert named.function_calls[0].args == {
        "destination": "Rio de Janeiro",
        "cabin": "business",
        "passengers": 3,
    }
    # Not required and not in the prompt: left out, as a model leaves out what it was not told.
    bare = gp_client.models.generate_content(
        model=MODEL, contents="find me flights to Oslo", config=config
    )
    assert bare.function_calls[0].args == {"destination": "Oslo", "cabin": "economy"}


def test_a_sentence_about_no_function_calls_nothing(gp_client: Any) -> None:
    def get_weather(city: str) -> str:
        """Returns the weather in a city."""
        return "sunny"

    answer = gp_client.models.generate_content(
        model=MODEL,
        contents="What is the weather like in Sunnyvale? Answer in a short sentence.",
        config=_no_afc(tools=[get_weather]),
    )
    assert [(c.name, c.args) for c in answer.function_calls] == [
        ("get_weather", {"city": "Sunnyvale"})
    ]


def test_a_prompt_giving_a_function_nothing_is_answered_in_text(gp_client: Any) -> None:
    calls: list[tuple[int, int]] = []

    def divide(numerator: int, denominator: int) -> int:
        """Divide two integers."""
        calls.append((numerator, denominator))
        return numerator // denominator

    chat = gp_client.chats.create(model=MODEL, config={"tools": [divide]})
    assert chat.send_message("hello").text == "Echo: hello"
    assert calls == []
    # No word in common either, but numbers to work on: the only function is called.
    assert "returned" in chat.send_message("what is the result of 100/2?").text
    assert calls == [(100, 2)]


def test_mode_any_calls_every_function_and_keeps_calling(gp_client: Any) -> None:
    done: list[str] = []

    def power_disco_ball(power: bool) -> bool:
        """Powers the spinning disco ball."""
        done.append("disco")
        return power

    def dim_lights(brightness: float) -> bool:
        """Dim the lights."""
        done.append("lights")
        return True

    chat = gp_client.chats.create(
        model=MODEL,
        config={
            "tools": [power_disco_ball, dim_lights],
            "tool_config": {"function_calling_config": {"mode": "ANY"}},
            "automatic_function_calling": {"maximum_remote_calls": 2},
        },
    )
    chat.send_message("Turn this place into a party!")
    # Nothing in the prompt points at one function, so ANY calls both; after the responses it
    # must call again, so the turn ends on calls once the SDK's budget is spent.
    assert done[:2] == ["disco", "lights"]
    assert done == ["disco", "lights"] * (len(done) // 2)
    history = chat.get_history()
    assert [len(c.parts) for c in history[1:]] == [2] * (len(history) - 1)
    assert all(p.function_call for p in history[-1].parts)


def test_async_and_streamed_calls_travel_whole(gp_client: Any) -> None:
    weather = types.FunctionDeclaration(
        name="get_current_weather",
        description="Get the current weather in a city",
        parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}},
    )
    config = _no_afc(tools=[types.Tool(function_declarations=[weather])])

    async def go() -> list[Any]:
        stream = await gp_client.aio.models.generate_content_stream(
            model=MODEL, contents="what is the weather in San Francisco?", config=config
        )
        return [chunk async for chunk in stream]

    calls = [c for chunk in asyncio.run(go()) for c in chunk.function_calls or []]
    assert [(c.name, c.args) for c in calls] == [("get_current_weather", {"city": "San Francisco"})]


def test_openai_tool_calls_follow_the_same_rule(emu: Emulator) -> None:
    def tool(name: str, description: str, prop: str, kind: str) -> dict[str, Any]:
        schema = {"type": "object", "properties": {prop: {"type": kind}}, "required": [prop]}
        return {
            "type": "function",
            "function": {"name": name, "description": description, "parameters": schema},
        }

    tools = [
        tool("get_stock_price", "Latest stock price", "symbol", "string"),
        tool("get_weather", "Weather in a city", "city", "string"),
    ]
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "What is the price of GOOG? And the weather in Paris?"}
    ]
    url = f"{emu.url}/v1beta/openai/chat/completions"
    headers = {"authorization": "Bearer k"}
    with httpx2.Client(timeout=30) as http:
        body = {"model": MODEL, "messages": messages, "tools": tools}
        calls = http.post(url, json=body, headers=headers).json()["choices"][0]["message"]
        one = http.post(url, json={**body, "parallel_tool_calls": False}, headers=headers).json()
        assert len(one["choices"][0]["message"]["tool_calls"]) == 1
        named = [
            (c["function"]["name"], json.loads(c["function"]["arguments"]))
            for c in calls["tool_calls"]
        ]
        assert named == [
            ("get_stock_price", {"symbol": "GOOG"}),
            ("get_weather", {"city": "Paris"}),
        ]
        results = [
            {"role": "tool", "tool_call_id": c["id"], "content": r}
            for c, r in zip(calls["tool_calls"], ["1000", "sunny"], strict=True)
        ]
        messages += [calls, *results]
        answer = http.post(url, json={**body, "messages": messages}, headers=headers).json()
    assert answer["choices"][0]["message"]["content"] == (
        'The function get_stock_price(symbol="GOOG") returned "1000". '
        'The function get_weather(city="Paris") returned "sunny".'
    )


def test_code_execution_runs_code_printing_the_answer(gp_client: Any) -> None:
    answer = gp_client.models.generate_content(
        model=MODEL,
        contents="Sum the first 50 primes.",
        config=types.GenerateContentConfig(
            tools=[types.Tool(code_execution=types.ToolCodeExecution())]
        ),
    )
    assert answer.executable_code == 'print("Echo: Sum the first 50 primes.")'
    assert answer.code_execution_result == "Echo: Sum the first 50 primes.\n"
    assert answer.text == "Echo: Sum the first 50 primes."


def test_search_with_function_calling_needs_server_side_invocations(gp_client: Any) -> None:
    stocks = types.FunctionDeclaration(name="get_stock_price", description="Stock price")
    tools = [
        types.Tool(google_search=types.GoogleSearch()),
        types.Tool(function_declarations=[stocks]),
    ]
    with pytest.raises(errors.ClientError, match="include_server_side_tool_invocations") as caught:
        gp_client.models.generate_content(
            model=MODEL, contents="GOOG price?", config=_no_afc(tools=tools)
        )
    assert caught.value.code == 400
    if not gp_client._api_client.vertexai:  # the SDK sends the flag to the Gemini API only
        config = _no_afc(
            tools=tools, tool_config=types.ToolConfig(include_server_side_tool_invocations=True)
        )
        answer = gp_client.models.generate_content(
            model=MODEL, contents="What is the price of GOOG?", config=config
        )
        assert answer.function_calls[0].name == "get_stock_price"


def test_vertex_tools_are_one_kind_each(gp_client: Any) -> None:
    empty_and_search = [types.Tool(), types.Tool(google_search=types.GoogleSearch())]
    config = types.GenerateContentConfig(tools=empty_and_search)
    if gp_client._api_client.vertexai:
        with pytest.raises(errors.ClientError, match="exactly one type of Tool") as caught:
            gp_client.models.generate_content(model=MODEL, contents="hi", config=config)
        assert caught.value.code == 400
    else:  # the Gemini API takes an empty tool
        assert gp_client.models.generate_content(model=MODEL, contents="hi", config=config).text


def test_a_wrapped_result_is_said_plainly_and_floats_rounded(gp_client: Any) -> None:
    def add_numbers(a: float, b: float) -> float:
        """Adds two numbers and returns the sum."""
        return a + b  # 11111111.100000001 in binary floating point

    answer = gp_client.models.generate_content(
        model=MODEL,
        contents="Calculate the sum of 1234567.89 and 9876543.21. Use the add_numbers tool.",
        config={"tools": [add_numbers]},
    )
    assert answer.text == (
        "The function add_numbers(a=1234567.89, b=9876543.21) returned 11111111.1."
    )


def test_tuples_unions_and_formats_in_declared_schemas(gp_client: Any) -> None:
    place = types.FunctionDeclaration(
        name="place_pin",
        description="Place a pin at coordinates",
        parameters_json_schema={
            "type": "object",
            "properties": {
                "latlng": {
                    "type": "array",
                    "prefixItems": [{"type": "number"}, {"type": "number"}],
                    "minItems": 2,
                    "maxItems": 2,
                },
                "label": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                "kind": {"const": "pin"},
                "when": {"type": "string", "format": "date"},
            },
            "required": ["latlng", "kind", "when"],
        },
    )
    answer = gp_client.models.generate_content(
        model=MODEL,
        contents="Place a pin at (51.509, -0.118) named \u201cBig Ben\u201d.",
        config=_no_afc(tools=[types.Tool(function_declarations=[place])]),
    )
    assert answer.function_calls[0].args == {
        "latlng": [51.509, -0.118],
        "label": "Big Ben",
        "kind": "pin",
        "when": "2025-01-01",
    }
