"""What golden-path routes but does not intercept yet is refused: 3.5's Live Interactions."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from golden_path import PolicyViolation
from golden_path._surface import REFUSED
from golden_path.emulator import Emulator
from tests import _sdk as sdk


def test_refusal_is_only_for_the_realtime_interaction_entry_points() -> None:
    """Refusal is the exception: only 3.5's websocket and its auth tokens are refused today."""
    assert REFUSED == ("interactions.connect", "interactions.auth_tokens")


needs_live_interactions = pytest.mark.skipif(
    not sdk.at_least("3.5"), reason="Live Interactions arrived in google-genai 3.5.0"
)


@needs_live_interactions
def test_building_a_client_on_3_5_plus_emits_no_warning(
    make_client: Callable[..., Any],
) -> None:
    """Refusing 3.5's entry points does not trigger the SDK's experimental UserWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client = make_client()
        assert client.models.generate_content(model="gemini-2.5-flash", contents="hi").text


@needs_live_interactions
def test_interactions_connect_is_refused_before_any_connection(
    make_client: Callable[..., Any], emulator: Emulator
) -> None:
    """The Live Interactions websocket (outside httpx) raises PolicyViolation, no warning."""
    client = make_client()

    async def connect() -> None:
        async with client.aio.interactions.connect("interactions/i1"):
            pass

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(PolicyViolation, match=r"interactions\.connect is not governed"):
            asyncio.run(connect())
    assert emulator.api_requests() == []


@needs_live_interactions
def test_interaction_auth_tokens_are_refused_on_every_accessor(
    make_client: Callable[..., Any], emulator: Emulator
) -> None:
    """Tokens usable outside the golden path cannot be minted: plain, raw and async accessors."""
    client = make_client()
    attempts = [
        lambda: client.interactions.auth_tokens.create("i1"),
        lambda: client.interactions.with_raw_response.auth_tokens.create("i1"),
        lambda: client.interactions.auth_tokens.delete("i1", "t1"),
        lambda: asyncio.run(client.aio.interactions.auth_tokens.create("i1")),
    ]
    for attempt in attempts:
        with pytest.raises(PolicyViolation, match=r"interactions\.auth_tokens\.\w+ is not"):
            attempt()
    assert emulator.api_requests() == []
