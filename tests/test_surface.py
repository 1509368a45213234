"""The refusal mechanism: an SDK entry point golden-path cannot govern raises, sends nothing.

Nothing is refused today (3.5's Live Interactions are governed: tests/policies/
test_live_interactions.py). The mechanism stays for the next release that adds an entry point
outside the governed transport; these tests drive it with names of the installed SDK.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from golden_path import PolicyViolation, _upgrade
from golden_path._surface import REFUSED, refuse_ungoverned
from golden_path.emulator import Emulator
from tests import _sdk as sdk


def test_the_live_interaction_entry_points_are_no_longer_refused(
    make_client: Callable[..., Any],
) -> None:
    """On 3.5+ interactions.connect is golden-path's guard, not a refusal."""
    assert REFUSED == ()
    if not sdk.at_least("3.5"):
        pytest.skip("Live Interactions arrived in google-genai 3.5.0")
    connect = make_client().aio.interactions.connect
    assert connect.__qualname__.startswith("_guarded_interaction")


def test_a_refused_method_raises_before_anything_is_sent(
    make_client: Callable[..., Any], emulator: Emulator
) -> None:
    """A refused method raises PolicyViolation on the sync and async client; nothing is sent."""
    client = refuse_ungoverned(make_client(), ["models.generate_content"])
    with pytest.raises(PolicyViolation, match=r"models\.generate_content is not governed"):
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    with pytest.raises(PolicyViolation):
        asyncio.run(client.aio.models.generate_content(model="gemini-2.5-flash", contents="hi"))
    assert emulator.api_requests() == []
    # The rest of the client is untouched.
    assert client.models.count_tokens(model="gemini-2.5-flash", contents="hi").total_tokens


def test_a_refused_sub_resource_refuses_every_method(
    make_client: Callable[..., Any], emulator: Emulator
) -> None:
    """A refused sub-resource behind a read-only property has every public method refused."""
    client = refuse_ungoverned(make_client(), ["files", "no.such.resource"])
    attempts = [
        lambda: list(client.files.list()),
        lambda: client.files.get(name="files/x"),
        lambda: asyncio.run(client.aio.files.get(name="files/x")),
    ]
    for attempt in attempts:
        with pytest.raises(PolicyViolation, match=r"files\.\w+ is not governed"):
            attempt()
    assert emulator.api_requests() == []


def test_a_refused_sub_resource_attribute_is_replaced_whole(
    make_client: Callable[..., Any], emulator: Emulator
) -> None:
    """A sub-resource held as an attribute is replaced whole: raw accessors are refused too."""
    if not sdk.at_least("3.5"):
        pytest.skip("interactions.auth_tokens arrived in google-genai 3.5.0")
    client = refuse_ungoverned(make_client(), ["interactions.auth_tokens"])
    attempts = [
        lambda: client.interactions.auth_tokens.create("i1"),
        lambda: client.interactions.auth_tokens.with_raw_response.create("i1"),
        lambda: asyncio.run(client.aio.interactions.auth_tokens.delete("i1", "t1")),
    ]
    for attempt in attempts:
        with pytest.raises(PolicyViolation, match=r"interactions\.auth_tokens\.\w+ is not"):
            attempt()
    assert emulator.api_requests() == []
    (check,) = _upgrade._refusals(client, "ai_studio", emulator, ["interactions.auth_tokens"])
    assert check["ok"] is True


def test_the_upgrade_check_proves_refusals_and_catches_a_missing_one(
    make_client: Callable[..., Any], emulator: Emulator
) -> None:
    """`golden-path upgrade-check` calls each refused entry point: refused and silent is ok;
    one that is not refused (it reached the SDK) is reported."""
    client = refuse_ungoverned(make_client(), ["models.generate_content"])
    checks = _upgrade._refusals(
        client, "ai_studio", emulator, ["models.generate_content", "models.list", "no.such"]
    )
    verdicts = {c["call"]: c["ok"] for c in checks}
    assert verdicts == {
        "ai_studio models.generate_content refused": True,
        "ai_studio models.list refused": False,
    }
    assert _upgrade._refusals(client, "ai_studio", emulator) == []  # REFUSED is empty


def test_the_upgrade_check_runs_a_governed_live_interaction(
    make_client: Callable[..., Any], emulator: Emulator, audit: Any
) -> None:
    """On 3.5+, `golden-path upgrade-check` proves a Live Interactions session is governed:
    one websocket on the route table's row, one audit event, the key sent as on HTTP calls."""
    client = make_client(client_id=_upgrade._CLIENT_ID)  # the id the check looks for
    checks = _upgrade._live_interaction(client, "vertex", emulator, audit)
    assert checks == []  # Gemini API only
    if not sdk.at_least("3.5"):
        assert _upgrade._live_interaction(client, "ai_studio", emulator, audit) == []
        return
    (check,) = _upgrade._live_interaction(client, "ai_studio", emulator, audit)
    assert check["ok"] is True, check
    assert (check["route"], check["auth"]) == ("interactions.connect", "x-goog-api-key")
    assert audit.events[-1].method == "interactions.connect"
