"""A Live session is one audit event carrying the usage the server reported, and it is metered."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import golden_path
from golden_path.emulator import Emulator

MODEL = "gemini-2.5-flash"


@pytest.fixture(name="emu")
def _emu() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


def _client(emu: Emulator, audit: Any, tmp_path: Path, policy: str) -> Any:
    path = tmp_path / "policy.toml"
    path.write_text(policy)
    return golden_path.create_client(
        backend="ai_studio",
        api_key="k",
        base_url=emu.url,
        retry_attempts=1,
        policy_file=str(path),
        audit_sinks=[audit],
        app="live-app",
    )


async def _one_turn(client: Any, text: str) -> None:
    async with client.aio.live.connect(
        model=MODEL, config={"response_modalities": ["TEXT"]}
    ) as session:
        await session.send_client_content(
            turns={"role": "user", "parts": [{"text": text}]}, turn_complete=True
        )
        async for message in session.receive():
            if message.server_content and message.server_content.turn_complete:
                break


def test_session_event_carries_server_usage(emu: Emulator, audit: Any, tmp_path: Path) -> None:
    """One event per session, named live.connect with its model and the server's token counts."""
    client = _client(emu, audit, tmp_path, '[models]\nallow = ["gemini-2.5-*"]\n')
    asyncio.run(_one_turn(client, "hello live"))
    event = audit.only()
    assert (event.surface, event.method, event.model, event.outcome) == (
        "live",
        "live.connect",
        MODEL,
        "ok",
    )
    assert event.total_tokens is not None
    assert event.total_tokens > 0


def test_session_spends_the_token_budget(emu: Emulator, audit: Any, tmp_path: Path) -> None:
    """Live sessions count against the rate limit: the session after the limit is refused."""
    policy = '[rate_limits]\nrequests_per_minute = 1\nscope = "app"\nmax_wait_s = 0\n'
    client = _client(emu, audit, tmp_path, policy)
    asyncio.run(_one_turn(client, "first"))
    with pytest.raises(golden_path.BudgetExceeded):
        asyncio.run(_one_turn(client, "second"))
