"""[pii] on Live client messages after the setup, over a real TLS websocket on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from google.genai import types
from websockets.asyncio.server import ServerConnection, serve

import golden_path
from golden_path._tls import trust_emulator_ca
from golden_path.emulator._certs import make_certificates

EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"


async def _session(
    client: Any,
    received: list[Any],
    talk: Callable[[Any], Any],
    port_box: list[int],
    answer: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> None:
    """Serve one Live session (setup, the ``answer`` messages, then record client messages)."""

    async def handler(ws: ServerConnection) -> None:
        received.append(json.loads(await ws.recv()))  # the setup
        await ws.send(json.dumps({"setupComplete": {}}))
        for message in answer:
            await ws.send(json.dumps(message))
        received.extend([json.loads(message) async for message in ws])

    certificates = make_certificates("127.0.0.1")
    trust_emulator_ca(certificates.ca_pem)
    async with serve(handler, "127.0.0.1", 0, ssl=certificates.server_context) as server:
        port_box.append(server.sockets[0].getsockname()[1])
        live = client(f"https://127.0.0.1:{port_box[0]}")
        async with live.aio.live.connect(model="gemini-2.5-flash") as session:
            await talk(session)
        await asyncio.sleep(0.05)  # let the handler read the last frame


@pytest.fixture(name="make_live")
def _make_live(audit: Any, policy_file: Callable[[str], Path]) -> Callable[[str], Any]:
    def make(text: str) -> Callable[[str], Any]:
        def client(base_url: str) -> Any:
            return golden_path.create_client(
                backend="ai_studio",
                api_key="k",
                base_url=base_url,
                retry_attempts=1,
                policy_file=str(policy_file(text)),
                audit_sinks=[audit],
            )

        return client

    return make


def test_every_client_message_is_redacted(make_live: Any, audit: Any) -> None:
    """Client content, realtime text and tool responses are redacted before they are sent."""
    received: list[Any] = []

    async def talk(session: Any) -> None:
        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text=f"mail {EMAIL}")])
        )
        await session.send_realtime_input(text=f"card {CARD}")
        await session.send_tool_response(
            function_responses=types.FunctionResponse(
                id="1", name="lookup", response={"iban": "DE89 3704 0044 0532 0130 00"}
            )
        )

    asyncio.run(_session(make_live("[pii]\n"), received, talk, []))
    sent = json.dumps(received[1:])
    for value in (EMAIL, CARD, "DE89 3704"):
        assert value not in sent
    assert [k for m in received[1:] for k in m] == [
        "client_content",
        "realtime_input",
        "tool_response",
    ]
    for kind in ("email", "credit_card", "iban"):
        assert f"[REDACTED:{kind}]" in sent
    event = audit.only()
    assert event.method == "live.connect"
    assert {d["reason"] for d in event.policy if d["policy"] == "pii"} == {
        "found 1 email", "found 1 credit_card", "found 1 iban"
    }  # fmt: skip


def test_deny_stops_one_message(make_live: Any) -> None:
    """action = "deny": the message is refused and not sent; the session itself stays usable."""
    received: list[Any] = []
    caught: list[BaseException] = []

    async def talk(session: Any) -> None:
        try:
            await session.send_realtime_input(text=f"card {CARD}")
        except golden_path.PolicyViolation as exc:
            caught.append(exc)
        await session.send_realtime_input(text="no personal data here")

    asyncio.run(_session(make_live('[pii]\naction = "deny"\n'), received, talk, []))
    assert len(caught) == 1
    assert "credit_card" in str(caught[0])
    assert received[1:] == [{"realtime_input": {"text": "no personal data here"}}]


def _text(text: str) -> dict[str, Any]:
    return {"serverContent": {"modelTurn": {"role": "model", "parts": [{"text": text}]}}}


def test_model_output_redacted_across_messages(make_live: Any, audit: Any) -> None:
    """responses = "redact": Live model text split over messages is redacted, nothing lost."""
    answer = [
        _text("Card 4111 1111 "),
        _text("1111 1111, mail jane."),
        _text("doe@example.com. Bye"),
        {"serverContent": {"outputTranscription": {"text": "call 415-555-0132"}}},
        {"serverContent": {"turnComplete": True}},
    ]
    texts: list[str] = []
    transcripts: list[str] = []

    async def talk(session: Any) -> None:
        async for message in session.receive():
            content = message.server_content
            if content and content.model_turn:
                texts.extend(p.text or "" for p in content.model_turn.parts or [])
            if content and content.output_transcription:
                transcripts.append(content.output_transcription.text or "")
            if content and content.turn_complete:
                break

    client = make_live('[pii]\nresponses = "redact"\n')
    asyncio.run(_session(client, [], talk, [], answer))
    assert "".join(texts) == "Card [REDACTED:credit_card], mail [REDACTED:email]. Bye"
    assert "".join(transcripts) == "call [REDACTED:phone]"
    reasons = {d["reason"] for d in audit.only().policy if d["policy"] == "pii"}
    assert "found 1 credit_card, 1 email, 1 phone in the response" in reasons
