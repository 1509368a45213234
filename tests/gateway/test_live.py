"""Live API websockets through the gateway: the Python SDK over wss, the JS SDK over ws."""

from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest
from google import genai
from google.genai import types

from tests.gateway.conftest import in_flight, make_pki, node

MODEL = "gemini-2.5-flash"


def _settled(audit: Any) -> Any:
    """The session's one audit event; written when the gateway sees the socket close, which can
    be a moment after the client returned."""
    deadline = time.monotonic() + 10
    while not audit.events and time.monotonic() < deadline:
        time.sleep(0.02)
    return audit.only()


async def _one_turn(client: genai.Client, text: str) -> list[Any]:
    messages = []
    config = types.LiveConnectConfig(response_modalities=[types.Modality.TEXT])
    async with client.aio.live.connect(model=MODEL, config=config) as session:
        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text=text)]), turn_complete=True
        )
        async for message in session.receive():
            messages.append(message)
            if message.server_content and message.server_content.turn_complete:
                break
    return messages


def _turn_text(messages: list[Any]) -> str:
    """The model's text across a turn's server messages."""
    return "".join(
        part.text or ""
        for m in messages
        if m.server_content and m.server_content.model_turn
        for part in m.server_content.model_turn.parts or []
    )


@pytest.fixture(name="tls_gw")
def _tls_gw(start_gateway: Any, tmp_path: Path) -> tuple[Any, ssl.SSLContext]:
    """A gateway serving TLS (the Python SDK's Live API always uses wss://)."""
    pki = make_pki(tmp_path)
    running = start_gateway(tls_certfile=pki["server"], tls_keyfile=pki["server_key"])
    return running, ssl.create_default_context(cafile=str(pki["ca"]))


def _tls_gateway(start_gateway: Any, tmp_path: Path, policy: str) -> tuple[Any, ssl.SSLContext]:
    """A TLS gateway (the Python SDK's Live API is wss://) under the policy file ``policy``."""
    path = tmp_path / "policy.toml"
    path.write_text(policy, encoding="utf-8")
    pki = make_pki(tmp_path)
    running = start_gateway(
        settings={"policy_file": str(path)},
        tls_certfile=pki["server"],
        tls_keyfile=pki["server_key"],
    )
    return running, ssl.create_default_context(cafile=str(pki["ca"]))


def _sdk(running: Any, context: ssl.SSLContext) -> genai.Client:
    return genai.Client(
        api_key=running.key,
        vertexai=False,
        http_options=types.HttpOptions(
            base_url=running.url,
            client_args={"verify": context},
            async_client_args={"ssl": context},
        ),
    )


def test_python_sdk_live_session(tls_gw: Any, audit: Any, emulator: Any) -> None:
    """A Live session from google-genai runs end to end through the gateway, audited once as
    the app, and upstream sees the gateway's credentials, not the app's key."""
    running, context = tls_gw
    text = _turn_text(asyncio.run(_one_turn(_sdk(running, context), "hello live")))
    assert "hello live" in text
    event = _settled(audit)
    assert (event.app, event.method, event.model, event.outcome) == (
        "checkout",
        "live.connect",
        MODEL,
        "ok",
    )
    assert event.total_tokens, "the session's usageMetadata is summed into its audit event"
    ws = [r for r in emulator.requests if r.path.startswith("/ws/")]
    assert ws
    assert running.key not in str(ws[-1].headers)


def test_live_session_counts_as_in_flight(tls_gw: Any) -> None:
    """/metrics counts an open Live session as in flight, and no longer once it closed."""
    running, context = tls_gw

    async def session() -> float:
        config = types.LiveConnectConfig(response_modalities=[types.Modality.TEXT])
        async with _sdk(running, context).aio.live.connect(model=MODEL, config=config):
            return await asyncio.to_thread(in_flight, running.url, context)

    assert asyncio.run(session()) == 1
    deadline = time.monotonic() + 5
    while in_flight(running.url, context) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert in_flight(running.url, context) == 0


def test_live_policy_denial_closes_before_connecting(
    start_gateway: Any, tmp_path: Path, audit: Any, emulator: Any
) -> None:
    """A policy that refuses the setup closes the socket with 1008 and the reason; the
    upstream Live API is never contacted."""
    from golden_path.policies import Deny

    class NoLive:
        name = "no-live"

        def on_request(self, request: Any) -> None:
            if request.api_method == "live.connect":
                raise Deny("Live sessions are not allowed for this app")

    pki = make_pki(tmp_path)
    running = start_gateway(
        policies=[NoLive()], tls_certfile=pki["server"], tls_keyfile=pki["server_key"]
    )
    context = ssl.create_default_context(cafile=str(pki["ca"]))
    with pytest.raises(Exception, match="not allowed") as caught:
        asyncio.run(_one_turn(_sdk(running, context), "hello"))
    assert "1008" in str(caught.value)
    assert _settled(audit).outcome == "denied"
    assert not [r for r in emulator.requests if r.path.startswith("/ws/")]


def test_js_sdk_live_session(node_sdk: Path, gw: Any, audit: Any) -> None:
    """A Live session from @google/genai in Node (ws://, key in the query) through the gateway."""
    result = node(node_sdk, gw.url, gw.key, "live", MODEL)
    assert "hello" in result.get("text", ""), result
    event = _settled(audit)
    assert (event.app, event.method, event.outcome) == ("checkout", "live.connect", "ok")


_LIVE_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"


def _handshake(url: str, headers: dict[str, str]) -> int:
    """Open a websocket as any client would; the HTTP status a refused handshake got."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    try:
        with connect(url, additional_headers=headers, open_timeout=30):
            return 101
    except InvalidStatus as refused:
        return int(refused.response.status_code)


def test_live_handshake_with_a_bad_key_is_refused_and_audited(
    gw: Any, audit: Any, emulator: Any
) -> None:
    """A handshake whose key is not valid is answered 403 and written as one denied event of no
    app (policy gateway.authentication); nothing reaches the upstream Live API."""
    ws_url = gw.url.replace("http://", "ws://") + _LIVE_PATH
    assert _handshake(ws_url, {"x-goog-api-key": "gpk_not-a-key"}) == 403
    event = _settled(audit)
    assert (event.app, event.outcome) == (None, "denied")
    assert event.policy[-1]["policy"] == "gateway.authentication"
    assert "not valid" in event.policy[-1]["reason"]
    assert event.surface == "live"
    assert not [r for r in emulator.requests if r.path.startswith("/ws/")]


def test_live_handshake_on_a_path_that_is_no_live_socket_is_refused_and_audited(
    gw: Any, audit: Any, emulator: Any
) -> None:
    """A valid app asking for a websocket that is not the Live API gets 403 and one denied
    event under its own identity; nothing reaches upstream."""
    ws_url = gw.url.replace("http://", "ws://") + "/v1beta/models/gemini-2.5-flash:generateContent"
    assert _handshake(ws_url, {"x-goog-api-key": gw.key}) == 403
    event = _settled(audit)
    assert (event.app, event.team, event.outcome) == ("checkout", "payments", "denied")
    # The route table's gate is the first to judge it: a GET of generateContent is no route.
    assert [d["policy"] for d in event.policy] == ["routes"]
    assert "is not a route golden-path knows" in event.policy[0]["reason"]
    assert not [r for r in emulator.requests if r.path.startswith("/ws/")]


def test_live_message_with_a_denied_tool_ends_the_session(
    start_gateway: Any, tmp_path: Path, audit: Any, emulator: Any
) -> None:
    """A message after the setup passes the policies too: a contextUpdate declaring a denied
    tool is not relayed, and the gateway closes the session with 1008 saying why."""
    running, context = _tls_gateway(start_gateway, tmp_path, '[tools]\ndeny = ["google_search"]\n')

    async def run() -> None:
        config = types.LiveConnectConfig(response_modalities=[types.Modality.TEXT])
        async with _sdk(running, context).aio.live.connect(model=MODEL, config=config) as s:
            await s.send_context_update(tools=[types.Tool(google_search=types.GoogleSearch())])
            async for _ in s.receive():
                pass

    with pytest.raises(Exception, match="google_search") as caught:
        asyncio.run(asyncio.wait_for(run(), 60))  # unguarded, the session would stay open
    assert "1008" in str(caught.value)
    event = _settled(audit)
    assert any(d["policy"] == "tools" and d["action"] == "deny" for d in event.policy)
    ws = [r for r in emulator.requests if r.path.startswith("/ws/")]
    assert [next(iter(m)) for m in ws[-1].body] == ["setup"]


async def _turns(client: genai.Client, texts: list[str]) -> tuple[list[str], BaseException | None]:
    """One session, one turn per text; each turn's text, and what ended the session early."""
    config = types.LiveConnectConfig(response_modalities=[types.Modality.TEXT])
    answers: list[str] = []
    try:
        async with client.aio.live.connect(model=MODEL, config=config) as session:
            for text in texts:
                await session.send_client_content(
                    turns=types.Content(role="user", parts=[types.Part(text=text)]),
                    turn_complete=True,
                )
                parts = []
                async for message in session.receive():
                    content = message.server_content
                    if content and content.model_turn:
                        parts += [p.text or "" for p in content.model_turn.parts or []]
                    if content and content.turn_complete:
                        break
                else:
                    return answers, None  # the server closed the session
                answers.append("".join(parts))
    except Exception as exc:
        return answers, exc
    return answers, None


def test_live_model_text_is_redacted_through_the_gateway(
    start_gateway: Any, tmp_path: Path, audit: Any
) -> None:
    """[pii] responses = "redact" reads the server's messages through the gateway as it does
    in-process: the model's text reaches the app redacted, and the session's event says so."""
    running, context = _tls_gateway(start_gateway, tmp_path, '[pii]\nresponses = "redact"\n')
    # The emulator echoes the turn; the line breaks are the app's, the number is the model's.
    answers, error = asyncio.run(_turns(_sdk(running, context), ["card 4111\n1111\n1111\n1111 ok"]))
    assert error is None
    (text,) = answers
    assert "[REDACTED:credit_card]" in text
    assert "4111" not in text
    reasons = [d["reason"] for d in _settled(audit).policy if d["policy"] == "pii"]
    assert any("credit_card" in r for r in reasons)


def test_live_budget_settles_per_turn_and_ends_the_session(
    start_gateway: Any, tmp_path: Path, audit: Any
) -> None:
    """A daily token budget is charged each Live turn's real usage as the turn ends, and the
    session is closed (1008, the budget named) once the next turn would not fit: a long session
    cannot spend past its budget. The one audit event says denied, with the turns' tokens."""
    running, context = _tls_gateway(
        start_gateway,
        tmp_path,
        '[budgets]\ntokens_per_day = 400\nscope = "app"\ndefault_output_tokens = 150\n',
    )
    long_turn = "spend " * 120
    answers, ended = asyncio.run(
        _turns(_sdk(running, context), [long_turn, long_turn, long_turn, long_turn])
    )
    assert 1 <= len(answers) < 4, "the budget must end the session before its last turn"
    assert ended is not None
    assert "1008" in str(ended)
    assert "budgets.tokens_per_day" in str(ended)
    event = _settled(audit)
    assert event.outcome == "denied"
    denial = event.policy[-1]
    assert (denial["policy"], denial["action"]) == ("limits", "deny")
    # Every turn was charged its real usage as it ended: the counter holds exactly the tokens
    # the audit event sums, no estimate left behind.
    assert denial["reason"].startswith(
        f"live turn: budgets.tokens_per_day: {event.total_tokens} of 400 tokens used"
    )
    refused = httpx2.post(
        f"{running.url}/v1beta/models/{MODEL}:generateContent",
        json={"contents": [{"parts": [{"text": "one more"}]}]},
        headers={"x-goog-api-key": running.key},
        verify=context,
    )
    assert refused.status_code == 429


def test_gemini_shaped_live_session_on_a_vertex_gateway(
    start_gateway: Any, emulator: Any, audit: Any, tmp_path: Path
) -> None:
    """An app written for the Gemini API opens a Live session through a gateway fronting
    Vertex AI: the socket goes to Vertex's LlmBidiService, the model is named in the gateway's
    project and location, and the turn comes back."""
    key_file = tmp_path / "sa.json"
    emulator.create_service_account_key(key_file)
    pki = make_pki(tmp_path)
    running = start_gateway(
        tls_certfile=pki["server"],
        tls_keyfile=pki["server_key"],
        settings={
            "backend": "vertex",
            "project": "platform-project",
            "location": "europe-west4",
            "credentials_file": str(key_file),
        },
    )
    context = ssl.create_default_context(cafile=str(pki["ca"]))
    text = _turn_text(asyncio.run(_one_turn(_sdk(running, context), "hello vertex live")))
    assert "hello vertex live" in text
    event = _settled(audit)
    assert (event.backend, event.method, event.outcome) == ("vertex", "live.connect", "ok")
    sockets = [r for r in emulator.api_requests() if "BidiGenerateContent" in r.path]
    assert [r.path for r in sockets] == [
        "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"
    ]
