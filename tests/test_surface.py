"""Every public SDK method is governed somehow; what golden-path cannot govern is refused."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from golden_path import PolicyViolation
from golden_path._surface import SURFACE, check_surface, governance_of, sdk_methods
from golden_path.emulator import Emulator
from tests import _sdk as sdk


def test_every_public_method_of_the_installed_sdk_has_a_row(
    make_client: Callable[..., Any],
) -> None:
    """The walk finds the SDK's methods (sync and aio) and the table places every one."""
    methods, _ = sdk_methods(make_client())
    assert {"models.generate_content", "aio.models.generate_content", "aio.live.connect"} <= set(
        methods
    )
    report = check_surface(methods)
    assert report.ok, f"ungoverned SDK methods: {report.ungoverned}"
    assert report.governed["aio.live.connect"] == "websocket"


def test_the_check_fails_when_a_method_is_missing_from_the_table(
    make_client: Callable[..., Any],
) -> None:
    """A table without generate_content makes the check fail and name both spellings."""
    methods, _ = sdk_methods(make_client())

    def lookup(method: str) -> Any:
        return None if method.endswith("models.generate_content") else governance_of(method)

    report = check_surface(methods, lookup)
    assert not report.ok
    assert report.ungoverned == ("aio.models.generate_content", "models.generate_content")


def test_walking_the_sdk_emits_no_warning(make_client: Callable[..., Any]) -> None:
    """Experimental resources warn when touched; the walk collects that instead of emitting it."""
    client = make_client()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        methods, _ = sdk_methods(client)
    assert "agents.create" in methods or not sdk.at_least("3.4")


def test_refused_rows_are_only_the_realtime_interaction_routes() -> None:
    """Refusal is the exception: only 3.5's Live Interactions entry points are refused today."""
    refused = sorted(m for m, g in SURFACE.items() if g == "refused")
    assert refused == [
        "interactions.auth_tokens.create",
        "interactions.auth_tokens.delete",
        "interactions.connect",
    ]


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
