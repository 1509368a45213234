"""The emulator's Live Interactions websocket and interaction auth tokens.

With the bare SDK where it has them (``client.aio.interactions.connect`` and
``interactions.auth_tokens``: google-genai 3.5+; `tests/run` runs this module in its core run
on the newest release of the range, 3.6.1), with a plain websocket and HTTP client elsewhere.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from golden_path.emulator import Emulator
from tests import _sdk as sdk

pytestmark = pytest.mark.filterwarnings("ignore:Live Interactions usage:UserWarning")
needs_live_interactions = pytest.mark.skipif(
    not sdk.at_least("3.5"), reason="Live Interactions arrived in google-genai 3.5.0"
)

KEY = "emu-key"


@pytest.fixture(name="emu")
def _emu() -> Iterator[Emulator]:
    with Emulator(api_keys=[KEY]) as emu:
        yield emu


@pytest.fixture(name="sdk_client")
def _sdk_client(emu: Emulator) -> Iterator[Any]:
    from google import genai

    client = genai.Client(api_key=KEY, http_options={"base_url": emu.url})
    yield client
    client.close()


def _token_client(emu: Emulator, token: str) -> Any:
    from google import genai

    return genai.Client(api_key=token, http_options={"base_url": emu.url})


def _later(seconds: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)


async def _session(client: Any, interaction_id: str, *inputs: Any, cancel: bool = False) -> Any:
    async with client.aio.interactions.connect(interaction_id) as connection:
        for item in inputs:
            await connection.send(item)
        if cancel:
            await connection.cancel()
            return []
        await connection.complete()
        return [event async for event in connection.receive()]


@needs_live_interactions
def test_a_session_streams_steps_with_usage_and_completes(sdk_client: Any, emu: Emulator) -> None:
    """connected; per input a model step (start, deltas, stop with step_usage); completed with
    the total usage; the stored interaction gains the steps."""
    interaction = sdk_client.interactions.create(model="gemini-2.5-flash", input="first")
    events = asyncio.run(_session(sdk_client, interaction.id, "hello there", "again"))
    kinds = [e.event_type for e in events]
    assert kinds[0] == "interaction.connected"
    assert kinds[-1] == "interaction.completed"
    text = "".join(e.delta.text for e in events if e.event_type == "step.delta")
    assert "hello there" in text
    assert "again" in text
    steps = [e.step_usage for e in events if e.event_type == "step.stop"]
    assert len(steps) == 2
    total = events[-1].usage
    assert total.total_tokens == sum(s.total_tokens for s in steps)
    stored = sdk_client.interactions.get(id=interaction.id)
    assert stored.status == "completed"


@needs_live_interactions
def test_cancel_ends_the_interaction(sdk_client: Any, emu: Emulator) -> None:
    """interaction.cancel: the session ends and the interaction is cancelled."""
    interaction = sdk_client.interactions.create(model="gemini-2.5-flash", input="first")
    asyncio.run(_session(sdk_client, interaction.id, "x", cancel=True))
    session = next(r for r in emu.api_requests() if r.path == "/v1/interactions/live")
    assert session.body[-1] == {"event_type": "interaction.cancel"}


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"event_type": "summon"}, "Unknown client event_type"),
        ({"event_type": "input", "content": "not a list"}, "input.content must be a list"),
        ({"event_type": "interaction.connect", "id": "other"}, "may only be sent first"),
        ({"event_type": "interaction.create", "model": "no-such-model"}, "not found"),
    ],
)
def test_bad_client_events_close_the_session(
    sdk_client: Any, emu: Emulator, message: Any, reason: str
) -> None:
    """What the server cannot take closes the websocket with 1008 and the reason (as Live)."""
    import json

    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    interaction = sdk_client.interactions.create(model="gemini-2.5-flash", input="first")
    url = emu.url.replace("http://", "ws://") + "/v1/interactions/live"
    with connect(url, additional_headers={"x-goog-api-key": KEY}, open_timeout=30) as ws:
        ws.send(json.dumps({"event_type": "interaction.connect", "id": interaction.id}))
        assert json.loads(ws.recv(timeout=30)) == {"event_type": "interaction.connected"}
        ws.send(json.dumps(message))
        with pytest.raises(ConnectionClosed) as caught:
            ws.recv(timeout=30)
    assert caught.value.rcvd is not None
    assert caught.value.rcvd.code == 1008
    assert reason in caught.value.rcvd.reason


@needs_live_interactions
def test_unknown_interaction_and_bad_key_are_refused(sdk_client: Any, emu: Emulator) -> None:
    """Connecting to an interaction that does not exist, or with a key the emulator does not
    accept, fails during setup."""
    from google import genai
    from google.genai import _interactions_errors

    with pytest.raises(_interactions_errors.APIWebSocketError):
        asyncio.run(_session(sdk_client, "v1_nothing", "x"))
    stranger = genai.Client(api_key="not-a-key", http_options={"base_url": emu.url})
    interaction = sdk_client.interactions.create(model="gemini-2.5-flash", input="first")
    with pytest.raises(_interactions_errors.APIWebSocketError):
        asyncio.run(_session(stranger, interaction.id, "x"))


def test_a_plain_get_is_not_a_websocket(emu: Emulator) -> None:
    """``GET /v1/interactions/live`` without the upgrade is a clear 400."""
    answer = httpx2.get(f"{emu.url}/v1/interactions/live", headers={"x-goog-api-key": KEY})
    assert answer.status_code == 400
    assert "websocket" in answer.json()["error"]["message"]


@needs_live_interactions
def test_tokens_open_their_own_interaction_until_revoked_or_expired(
    sdk_client: Any, emu: Emulator
) -> None:
    """A token authenticates the websocket for the interaction it was minted for, only; a
    deleted or expired one no longer does."""
    from google.genai import _interactions_errors

    mine = sdk_client.interactions.create(model="gemini-2.5-flash", input="mine")
    other = sdk_client.interactions.create(model="gemini-2.5-flash", input="other")
    token = sdk_client.interactions.auth_tokens.create(mine.id, expire_time=_later(120))
    by_token = _token_client(emu, token.auth_token)
    assert asyncio.run(_session(by_token, mine.id, "hi"))[-1].event_type == "interaction.completed"
    with pytest.raises(_interactions_errors.APIWebSocketError):
        asyncio.run(_session(by_token, other.id, "hi"))
    sdk_client.interactions.auth_tokens.delete(mine.id, token.auth_token)
    with pytest.raises(_interactions_errors.APIWebSocketError):
        asyncio.run(_session(by_token, mine.id, "hi"))
    short = sdk_client.interactions.auth_tokens.create(mine.id, expire_time=_later(60))
    emu.advance(120)
    with pytest.raises(_interactions_errors.APIWebSocketError):
        asyncio.run(_session(_token_client(emu, short.auth_token), mine.id, "hi"))


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"expire_time": "yesterday"}, 400),
        ({"expire_time": "2000-01-01T00:00:00Z"}, 400),
        ({"uses": 3}, 400),
    ],
)
def test_token_requests_are_validated(emu: Emulator, body: Any, status: int) -> None:
    """Bad expire_time values and unknown fields are refused like the API refuses them."""
    headers = {"x-goog-api-key": KEY}
    created = httpx2.post(
        f"{emu.url}/v1/interactions", json={"model": "gemini-2.5-flash", "input": "x"},
        headers=headers,
    ).json()  # fmt: skip
    url = f"{emu.url}/v1/interactions/{created['id']}/auth_tokens"
    assert httpx2.post(url, json=body, headers=headers).status_code == status


def test_tokens_of_unknown_interactions_and_tokens_are_404(emu: Emulator) -> None:
    headers = {"x-goog-api-key": KEY}
    assert (
        httpx2.post(f"{emu.url}/v1/interactions/nope/auth_tokens", json={}, headers=headers)
    ).status_code == 404
    assert (
        httpx2.delete(f"{emu.url}/v1/interactions/nope/auth_tokens/abc", headers=headers)
    ).status_code == 404
