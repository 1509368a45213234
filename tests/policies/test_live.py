"""The Live API guard: the chain runs at connect time, before any websocket is opened."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import golden_path

POLICY = '[models]\nallow = ["gemini-2.5-*"]\n[models.aliases]\nlive = "gemini-2.5-flash"\n[pii]\n'


class Listener:
    """A loopback TCP port that accepts connections, counts them and hangs up."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture(name="listener")
def _listener() -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.close()


@pytest.fixture(name="live_client")
def _live_client(listener: Listener, audit: Any, policy_file: Callable[[str], Path]) -> Any:
    return golden_path.create_client(
        backend="ai_studio",
        api_key="k",
        base_url=f"http://127.0.0.1:{listener.port}",
        retry_attempts=1,
        policy_file=str(policy_file(POLICY)),
        audit_sinks=[audit],
    )


def _connect(client: Any, model: str, config: Any = None) -> None:
    async def run() -> None:
        async with client.aio.live.connect(model=model, config=config):
            pass

    asyncio.run(run())


def test_denied_model_never_connects(live_client: Any, listener: Listener, audit: Any) -> None:
    """A disallowed Live model raises PolicyViolation and no TCP connection is attempted."""
    with pytest.raises(golden_path.PolicyViolation) as caught:
        _connect(live_client, "gemini-1.5-pro")
    assert caught.value.policy == "models"
    assert listener.accepted == 0
    event = audit.only()
    assert (event.method, event.outcome, event.request_id) == (
        "live.connect",
        "denied",
        caught.value.request_id,
    )


def test_allowed_model_reaches_the_network(
    live_client: Any, listener: Listener, audit: Any
) -> None:
    """An allowed (aliased) model passes the chain and the websocket connect is attempted."""
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the listener hangs up: any error
        _connect(live_client, "live", {"system_instruction": "I am jane@example.com"})
    assert not isinstance(caught.value, golden_path.PolicyViolation)
    assert listener.accepted == 1
    event = audit.only()
    assert (event.method, event.model, event.outcome) == (
        "live.connect",
        "gemini-2.5-flash",
        "error",
    )
    assert [d["action"] for d in event.policy] == ["alias", "redact"]


def test_music_connect_is_guarded(live_client: Any, listener: Listener) -> None:
    """client.aio.live.music.connect goes through the chain as well."""

    async def run() -> None:
        async with live_client.aio.live.music.connect(model="lyria-realtime-exp"):
            pass

    with pytest.raises(golden_path.PolicyViolation):
        asyncio.run(run())
    assert listener.accepted == 0


def get_weather(city: str) -> str:
    """A tool given as a Python function, as the SDK allows for Live sessions."""
    return f"sunny in {city}"


@pytest.mark.parametrize(
    ("deny", "denied_kind"),
    [("function_declarations", "function_declarations"), ("google_search", "google_search")],
)
def test_live_tools_given_as_python_functions_are_judged(
    deny: str,
    denied_kind: str,
    listener: Listener,
    audit: Any,
    policy_file: Callable[[str], Path],
) -> None:
    """A Live setup whose tools mix a Python function and a Tool object is judged by
    ``[tools]`` like any request: the denied kind is named and nothing connects."""
    from google.genai import types

    client = golden_path.create_client(
        backend="ai_studio",
        api_key="k",
        base_url=f"http://127.0.0.1:{listener.port}",
        retry_attempts=1,
        policy_file=str(policy_file(f'[tools]\ndeny = ["{deny}"]\n')),
        audit_sinks=[audit],
    )
    config = types.LiveConnectConfig(
        tools=[get_weather, types.Tool(google_search=types.GoogleSearch())]
    )
    with pytest.raises(golden_path.PolicyViolation) as caught:
        _connect(client, "gemini-2.5-flash", config)
    assert (caught.value.policy, caught.value.reason) == (
        "tools",
        f"tool {denied_kind!r} is not allowed",
    )
    assert listener.accepted == 0
    assert audit.only().outcome == "denied"
