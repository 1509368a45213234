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


async def _turns(client: Any, count: int) -> int:
    """Turns of one session until it ends; how many completed."""
    done = 0
    async with client.aio.live.connect(
        model=MODEL, config={"response_modalities": ["TEXT"]}
    ) as session:
        for _ in range(count):
            await session.send_client_content(
                turns={"role": "user", "parts": [{"text": "spend " * 120}]}, turn_complete=True
            )
            async for message in session.receive():
                if message.server_content and message.server_content.turn_complete:
                    break
            done += 1
    return done


def test_budget_settles_each_turn_and_ends_a_long_session(
    emu: Emulator, audit: Any, tmp_path: Path
) -> None:
    """Each turn is charged its real usage as it ends and the next turn is reserved first: when
    it does not fit, the session raises BudgetExceeded before the app's next turn, and its one
    event says denied with every turn's tokens charged."""
    policy = '[budgets]\ntokens_per_day = 400\nscope = "app"\ndefault_output_tokens = 150\n'
    client = _client(emu, audit, tmp_path, policy)
    with pytest.raises(golden_path.BudgetExceeded, match=r"budgets\.tokens_per_day"):
        asyncio.run(_turns(client, 4))
    event = audit.only()
    assert event.outcome == "denied"
    denial = event.policy[-1]
    assert (denial["policy"], denial["action"]) == ("limits", "deny")
    assert denial["reason"].startswith(
        f"live turn: budgets.tokens_per_day: {event.total_tokens} of 400 tokens used"
    )
