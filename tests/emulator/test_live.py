"""The Live API over real websockets with TLS: golden_path.client() end to end, both backends."""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any

import pytest
from google.genai import errors, types

from golden_path.emulator import Emulator

MODEL = "gemini-2.5-flash"
WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="The weather in a city",
    parameters_json_schema={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)


@pytest.fixture(name="client")
def _client(gp_client: Any) -> Any:
    return gp_client


async def _turn(session: Any) -> list[Any]:
    """Every message up to and including the turn's end."""
    messages = []
    async for message in session.receive():
        messages.append(message)
        if message.server_content and message.server_content.turn_complete:
            break
        if message.tool_call:
            break
    return messages


def test_text_turn_streams_parts_then_usage(client: Any, emu: Emulator) -> None:
    async def go() -> list[Any]:
        async with client.aio.live.connect(
            model=MODEL, config={"response_modalities": ["TEXT"]}
        ) as session:
            await session.send_client_content(
                turns={"role": "user", "parts": [{"text": "hello live"}]}, turn_complete=True
            )
            return await _turn(session)

    messages = asyncio.run(go())
    assert "".join(m.text or "" for m in messages) == "Echo: hello live"
    assert any(m.server_content and m.server_content.generation_complete for m in messages)
    last = messages[-1]
    assert last.server_content.turn_complete
    assert last.usage_metadata.total_token_count > 0
    (ws,) = [r for r in emu.api_requests() if r.path.startswith("/ws/")]
    assert ws.headers["upgrade"].lower() == "websocket"
    setup = ws.body[0]["setup"]
    assert setup["model"].endswith(f"models/{MODEL}")
    if ws.kind == "vertex":
        assert ws.principal == "app@emu-project.iam.gserviceaccount.com"
        assert setup["model"].startswith("projects/emu-project/locations/us-central1/")


def test_tool_call_and_response(client: Any) -> None:
    config = types.LiveConnectConfig(
        response_modalities=[types.Modality.TEXT],
        tools=[types.Tool(function_declarations=[WEATHER])],
    )

    async def go() -> tuple[Any, list[Any]]:
        async with client.aio.live.connect(model=MODEL, config=config) as session:
            await session.send_realtime_input(text="Please call get_weather for Paris")
            (call_message,) = await _turn(session)
            call = call_message.tool_call.function_calls[0]
            await session.send_tool_response(
                function_responses=types.FunctionResponse(
                    id=call.id, name=call.name, response={"temperature_c": 21}
                )
            )
            return call, await _turn(session)

    call, answer = asyncio.run(go())
    assert call.name == "get_weather"
    assert call.args == {"city": "Paris"}
    text = "".join(m.text or "" for m in answer)
    assert text == 'The function get_weather(city="Paris") returned {"temperature_c": 21}.'


def test_audio_in_audio_out_with_transcription(client: Any) -> None:
    config = {"response_modalities": ["AUDIO"], "output_audio_transcription": {}}
    pcm = b"\x01\x00" * 1600

    async def go() -> list[Any]:
        async with client.aio.live.connect(model=MODEL, config=config) as session:
            await session.send_realtime_input(
                audio=types.Blob(data=pcm, mime_type="audio/pcm;rate=16000")
            )
            await session.send_realtime_input(audio_stream_end=True)
            return await _turn(session)

    messages = asyncio.run(go())
    audio = b"".join(m.data or b"" for m in messages)
    assert len(audio) > 0
    transcripts = [
        m.server_content.output_transcription.text
        for m in messages
        if m.server_content and m.server_content.output_transcription
    ]
    assert transcripts == [f"Echo: [{len(pcm)} bytes of audio]"]


def test_go_away_after_the_turn(client: Any, emu: Emulator) -> None:
    emu.live_go_away(time_left_s=5)

    async def go() -> tuple[list[Any], list[Any]]:
        async with client.aio.live.connect(model=MODEL) as session:
            await session.send_realtime_input(text="hi")
            turn = await _turn(session)
            after = []
            async for message in session.receive():
                after.append(message)
                break
        return turn, after

    turn, after = asyncio.run(go())
    assert turn[-1].server_content.turn_complete
    assert [m.go_away.time_left for m in after] == ["5s"]


def test_unknown_model_closes_with_policy_violation(client: Any) -> None:
    async def go() -> None:
        async with client.aio.live.connect(model="gemini-0.1-nonexistent") as session:
            await session.send_realtime_input(text="hi")
            async for _ in session.receive():
                pass

    with pytest.raises(errors.APIError) as caught:
        asyncio.run(go())
    assert caught.value.code == 1008
    assert "not found" in str(caught.value)


def test_emulator_ca_is_limited_to_loopback(emu: Emulator) -> None:
    """The emulator's CA vouches for 127.0.0.1 but for no other name."""
    context = ssl.create_default_context(cadata=emu.ca_pem)
    with socket.create_connection(("127.0.0.1", emu.port)) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
    with socket.create_connection(("127.0.0.1", emu.port)) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            context.wrap_socket(raw, server_hostname="generativelanguage.googleapis.com")


def test_plain_http_get_on_the_live_path_is_refused(emu: Emulator) -> None:
    import httpx2

    path = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    with httpx2.Client(base_url=emu.url) as http:
        answer = http.get(path, headers={"x-goog-api-key": "k"})
    assert answer.status_code == 400
    assert "websocket" in answer.json()["error"]["message"]


def test_bad_frames_close_the_session_not_the_server(emu: Emulator) -> None:
    """Invalid JSON in a frame ends that session with 1008; the emulator keeps serving."""
    from websockets.sync.client import connect

    path = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    context = ssl.create_default_context(cadata=emu.ca_pem)
    url = f"wss://127.0.0.1:{emu.port}{path}"
    with connect(url, ssl=context, additional_headers={"x-goog-api-key": "k"}) as ws:
        ws.send("{not json")
        with pytest.raises(Exception, match="1008"):
            ws.recv(timeout=5)
    with connect(url, ssl=context, additional_headers={"x-goog-api-key": "k"}) as ws:
        ws.send('{"setup": {"model": "models/gemini-2.5-flash"}}')
        assert ws.recv(timeout=5) in ('{"setupComplete": {}}', b'{"setupComplete": {}}')
