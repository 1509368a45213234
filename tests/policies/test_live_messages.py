"""Each Live client message after the setup passes [models], [tools], [generation] and [safety].

The real SDK talks to the emulator's websocket on loopback; what the emulator received is its
recorded list of client messages, so "nothing sent" is checked where it matters.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from google.genai import types

import golden_path

MODEL = "gemini-2.5-flash"
POLICY = """
[models]
allow = ["gemini-2.5-*"]
[tools]
deny = ["google_search", "code_execution"]
[generation]
max_output_tokens = 256
"""

Talk = Callable[[Any], Awaitable[None]]


def _has_context_update() -> bool:
    from google.genai.live import AsyncSession

    return hasattr(AsyncSession, "send_context_update")


# google-genai 3.x sends contextUpdate; older releases cannot (a hand-sent setup still can).
needs_context_update = pytest.mark.skipif(
    not _has_context_update(), reason="send_context_update arrived in google-genai 3"
)


def _run(client: Any, talk: Talk) -> None:
    async def run() -> None:
        async with client.aio.live.connect(
            model=MODEL, config={"response_modalities": ["TEXT"]}
        ) as session:
            await talk(session)

    asyncio.run(run())


def _received(emulator: Any) -> list[dict[str, Any]]:
    """The client messages of the emulator's last Live session, setup first."""
    sessions = [r for r in emulator.requests if r.path.startswith("/ws/")]
    assert sessions, "no Live session reached the emulator"
    return list(sessions[-1].body)


@pytest.fixture(name="live")
def _live(governed: Callable[..., Any]) -> Any:
    return governed(POLICY)


@needs_context_update
def test_context_update_with_a_denied_tool_is_not_sent(
    live: Any, emulator: Any, audit: Any
) -> None:
    """send_context_update(tools=[google_search]) is refused by [tools]; nothing reaches Google."""
    caught: list[golden_path.PolicyViolation] = []

    async def talk(session: Any) -> None:
        try:
            await session.send_context_update(
                tools=[types.Tool(google_search=types.GoogleSearch())]
            )
        except golden_path.PolicyViolation as exc:
            caught.append(exc)
        # The session stays usable: an allowed update goes through.
        await session.send_context_update(system_instruction="Be brief.")

    _run(live, talk)
    assert [exc.policy for exc in caught] == ["tools"]
    assert "google_search" in str(caught[0])
    kinds = [next(iter(m)) for m in _received(emulator)]
    assert kinds == ["setup", "contextUpdate"]
    assert "googleSearch" not in json.dumps(_received(emulator)[1:])
    event = audit.only()
    assert event.method == "live.connect"
    assert any(
        d["policy"] == "tools" and d["action"] == "deny" and "live message" in d["reason"]
        for d in event.policy
    )


@needs_context_update
def test_context_update_with_allowed_tools_is_sent(live: Any, emulator: Any) -> None:
    """A function declaration is not a denied tool: the update reaches the server unchanged."""

    async def talk(session: Any) -> None:
        await session.send_context_update(
            tools=[
                types.Tool(function_declarations=[types.FunctionDeclaration(name="lookup_order")])
            ]
        )

    _run(live, talk)
    update = _received(emulator)[1]
    assert "lookup_order" in json.dumps(update)


def test_second_setup_naming_a_denied_model_is_refused(live: Any, emulator: Any) -> None:
    """A setup sent by hand after the session opened is judged: a denied model is not sent."""
    caught: list[golden_path.PolicyViolation] = []

    async def talk(session: Any) -> None:
        try:
            await session._ws.send(json.dumps({"setup": {"model": "models/gemini-1.5-pro"}}))
        except golden_path.PolicyViolation as exc:
            caught.append(exc)

    _run(live, talk)
    assert [exc.policy for exc in caught] == ["models"]
    assert "gemini-1.5-pro" in str(caught[0])
    assert [next(iter(m)) for m in _received(emulator)] == ["setup"]


def test_second_setup_with_a_denied_tool_is_refused(live: Any, emulator: Any) -> None:
    """An allowed model does not carry a denied tool past [tools] in a hand-made setup."""
    message = {"setup": {"model": f"models/{MODEL}", "tools": [{"codeExecution": {}}]}}
    caught: list[golden_path.PolicyViolation] = []

    async def talk(session: Any) -> None:
        try:
            await session._ws.send(json.dumps(message))
        except golden_path.PolicyViolation as exc:
            caught.append(exc)

    _run(live, talk)
    assert [exc.policy for exc in caught] == ["tools"]
    assert len(_received(emulator)) == 1


def test_second_setup_is_capped_like_the_first(live: Any, emulator: Any) -> None:
    """[generation] clamps maxOutputTokens in a later setup, as it does at connect."""
    message = {"setup": {"model": f"models/{MODEL}", "generationConfig": {"maxOutputTokens": 9999}}}

    async def talk(session: Any) -> None:
        await session._ws.send(json.dumps(message))

    # The emulator (like Google) closes a session that sends setup twice; that is its business.
    _run(live, talk)
    sent = _received(emulator)[1]
    assert sent["setup"]["generationConfig"]["maxOutputTokens"] == 256


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ('{"modelSwitch": {"model": "gemini-1.5-pro"}}', "'modelSwitch' cannot be judged"),
        ("not json", "it is not JSON"),
        ('{"clientContent": {}, "setup": {}}', "exactly one"),
        ('["clientContent"]', "exactly one"),
        (
            '{"contextUpdate": {"tools": [{"functionDeclarations": []}], '
            '"tools": [{"googleSearch": {}}]}}',
            "appears twice",
        ),
        (b"\xff\xfe", "it is not JSON"),
    ],
    ids=["unknown-field", "not-json", "two-fields", "not-an-object", "repeated-key", "binary"],
)
def test_what_cannot_be_judged_is_refused(
    live: Any, emulator: Any, frame: str | bytes, reason: str
) -> None:
    """A frame the policies cannot read as the server would is refused by `routes`, not sent."""
    caught: list[golden_path.PolicyViolation] = []

    async def talk(session: Any) -> None:
        try:
            await session._ws.send(frame)
        except golden_path.PolicyViolation as exc:
            caught.append(exc)

    _run(live, talk)
    assert [exc.policy for exc in caught] == ["routes"]
    assert reason in str(caught[0])
    assert len(_received(emulator)) == 1


def test_fragmented_frames_are_refused(live: Any, emulator: Any) -> None:
    """A message sent as fragments would be judged in pieces: it is refused whole."""
    caught: list[golden_path.PolicyViolation] = []

    async def talk(session: Any) -> None:
        try:
            await session._ws.send(['{"setup": {"model": ', '"models/gemini-1.5-pro"}}'])
        except golden_path.PolicyViolation as exc:
            caught.append(exc)

    _run(live, talk)
    assert [exc.policy for exc in caught] == ["routes"]
    assert len(_received(emulator)) == 1


@needs_context_update
def test_report_mode_records_and_sends(
    governed: Callable[..., Any], emulator: Any, audit: Any
) -> None:
    """[tools] in report mode lets the update through and records what it would have refused."""
    client = governed('[tools]\nmode = "report"\ndeny = ["google_search"]\n')

    async def talk(session: Any) -> None:
        await session.send_context_update(tools=[types.Tool(google_search=types.GoogleSearch())])

    _run(client, talk)
    assert "googleSearch" in json.dumps(_received(emulator)[1])
    decisions = [d for d in audit.only().policy if d["policy"] == "tools"]
    assert decisions
    assert decisions[0]["enforced"] is False


def test_ordinary_messages_pass_untouched(live: Any, emulator: Any, audit: Any) -> None:
    """Content, realtime text and a full turn flow as before: the judging adds no decisions."""

    async def talk(session: Any) -> None:
        await session.send_client_content(
            turns={"role": "user", "parts": [{"text": "hello"}]}, turn_complete=True
        )
        async for message in session.receive():
            if message.server_content and message.server_content.turn_complete:
                break
        await session.send_realtime_input(text="more")

    _run(live, talk)
    assert [next(iter(m)) for m in _received(emulator)] == [
        "setup",
        "client_content",
        "realtime_input",
    ]
    event = audit.only()
    assert event.outcome == "ok"
    assert all(d["action"] != "deny" for d in event.policy)
