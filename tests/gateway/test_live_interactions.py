"""Live Interactions (google-genai 3.5+'s ``interactions.connect``) through the gateway.

The real SDK, pointed at the gateway with ``base_url`` and authenticated with its gateway key,
against the emulator as the upstream: the gateway judges the interaction a session runs with
the in-process guard's rules (models and agents, tools, generation caps, PII), then every app
message, meters the server's usage, writes one audit event per session, and connects upstream
with its own Google key only. Interaction auth tokens are minted under ``[routes]
ephemeral_token_max_s`` as in-process, and refused as a gateway credential.

The main suite runs the pinned 3.4.0, which has no ``interactions.connect``: there the tests
with a plain websocket client run, and `tests/run` runs the whole module in its core run on the
newest release of the range (3.6.1).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests import _sdk as sdk
from tests.gateway.conftest import Running, genai_client

# The in-process tests' policy: the same rules must hold through the gateway.
from tests.policies.test_live_interactions import (
    ALLOWED,
    DENIED,
    POLICY,
    TOKENS,
    _talk,
    assert_session_metered,
)

pytestmark = pytest.mark.filterwarnings("ignore:Live Interactions usage:UserWarning")
# The SDK's own interactions.connect and auth_tokens; the tests without it speak the protocol
# with a plain websocket client, so they run on every release.
needs_connect = pytest.mark.skipif(
    not sdk.at_least("3.5"), reason="Live Interactions arrived in google-genai 3.5.0"
)

GOOGLE_KEY = "google-secret"


@pytest.fixture(name="gateway")
def _gateway(
    start_gateway: Callable[..., Running], emulator: Any, tmp_path: Path
) -> Callable[..., Running]:
    """A gateway holding Google's key (the emulator accepts only it) under a policy file."""
    emulator.add_api_key(GOOGLE_KEY)

    def start(policy: str = POLICY) -> Running:
        path = tmp_path / f"policy-{len(list(tmp_path.glob('policy-*')))}.toml"
        path.write_text(policy, encoding="utf-8")
        # Most interactions here are made at the upstream directly (the gateway never saw
        # them, so they have no owner): the guard's reads and rules are what is tested.
        return start_gateway(
            settings={"backend": "ai_studio", "api_key": GOOGLE_KEY, "policy_file": str(path)},
            unowned_resources="allow",
        )

    return start


def _direct(emulator: Any, key: str = GOOGLE_KEY) -> Any:
    """The SDK straight at the upstream with Google's key: what exists outside the gateway."""
    return genai_client(emulator.url, key)


def _sessions(emulator: Any) -> list[Any]:
    return [r for r in emulator.api_requests() if r.path.endswith("/interactions/live")]


def _events(audit: Any, method: str = "interactions.connect", count: int = 1) -> list[Any]:
    """The audit events of ``method``; a session's is written when the gateway sees the close,
    which can be a moment after the client returned."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [e for e in audit.events if e.method == method]
        if len(found) >= count:
            return found
        time.sleep(0.02)
    return [e for e in audit.events if e.method == method]


async def _refused(client: Any, interaction_id: str, *messages: Any) -> tuple[list[Any], Any]:
    """A session the gateway ends: the events the app got, and the error that ended it."""
    from google.genai import _interactions_errors

    got: list[Any] = []

    async def run() -> None:
        async with client.aio.interactions.connect(interaction_id) as connection:
            for message in messages:
                await connection.send(message)
                async for event in connection.receive():
                    got.append(event)
                    if event.event_type == "step.stop":
                        break
            # One by one: the close that follows the error event raises mid-iteration.
            async for event in connection.receive():
                got.append(event)  # noqa: PERF401

    with pytest.raises(_interactions_errors.APIWebSocketError) as caught:
        await run()
    return got, caught.value


def _errors(events: list[Any]) -> list[str]:
    return [e.error.message for e in events if e.event_type == "error"]


# ---------------------------------------------------------------------------- a session


@needs_connect
def test_session_runs_end_to_end_metered_audited_with_the_gateway_key(
    gateway: Callable[..., Running], emulator: Any, audit: Any
) -> None:
    """interactions.connect through the gateway: steps stream back, one audit event names the
    app, the interaction's model, the server's usage and how it ended; upstream the websocket
    carries the gateway's Google key, never the app's."""
    running = gateway()
    client = genai_client(running.url, running.key)
    interaction = client.interactions.create(model=ALLOWED, input="start")
    events = asyncio.run(_talk(client, interaction.id, "hello live", "and again"))
    kinds = [e.event_type for e in events]
    assert kinds[0] == "interaction.connected"
    assert kinds.count("step.stop") == 2
    assert kinds[-1] == "interaction.completed"
    assert "hello live" in "".join(e.delta.text for e in events if e.event_type == "step.delta")
    (session,) = _sessions(emulator)
    assert session.principal == f"api_key:{GOOGLE_KEY}"
    assert running.key not in repr(session)
    # The API revision the SDK asks for is passed on; the identification is golden-path's.
    assert session.headers["api-revision"]
    assert "golden-path/" in session.headers["x-goog-api-client"]
    assert [m["event_type"] for m in session.body] == [
        "interaction.connect",
        "input",
        "input",
        "interaction.complete",
    ]
    (event,) = _events(audit)
    assert (event.app, event.team, event.surface, event.model, event.outcome) == (
        "checkout",
        "payments",
        "interactions",
        ALLOWED,
        "ok",
    )
    assert_session_metered(event, events[-1].usage)


@needs_connect
def test_an_interaction_the_gateway_never_saw_is_read_before_connecting(
    gateway: Callable[..., Running], emulator: Any, audit: Any
) -> None:
    """Created elsewhere (another replica, Google's console): the gateway reads it first, a
    governed GET under the app's identity, then judges and connects."""
    running = gateway()
    interaction = _direct(emulator).interactions.create(model=ALLOWED, input="elsewhere")
    emulator.clear_requests()
    events = asyncio.run(_talk(genai_client(running.url, running.key), interaction.id, "hi"))
    assert events[-1].event_type == "interaction.completed"
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in emulator.api_requests()] == [
        ("GET", interaction.id),
        ("GET", "live"),
    ]
    (read,) = _events(audit, "interactions.get")
    assert (read.app, read.outcome) == ("checkout", "ok")
    assert _events(audit)[0].outcome == "ok"


@needs_connect
def test_an_interaction_created_streaming_through_the_gateway_needs_no_read(
    gateway: Callable[..., Running], emulator: Any, audit: Any
) -> None:
    """create(stream=True) through the gateway is remembered from its interaction.created
    event: the session on it is judged with no extra read upstream."""
    running = gateway()
    client = genai_client(running.url, running.key)
    events = list(client.interactions.create(model=ALLOWED, input="streamed", stream=True))
    created = next(e for e in events if e.event_type == "interaction.created")
    emulator.clear_requests()
    asyncio.run(_talk(client, created.interaction.id, "hi"))
    assert [r.path.rsplit("/", 1)[-1] for r in emulator.api_requests()] == ["live"]
    assert _events(audit)[0].model == ALLOWED


@needs_connect
def test_an_unknown_interaction_is_refused_saying_why(
    gateway: Callable[..., Running], emulator: Any
) -> None:
    """An id the upstream does not know: the read fails, the app is told why, nothing opens."""
    running = gateway()
    got, error = asyncio.run(_refused(genai_client(running.url, running.key), "v1_nosuch"))
    assert error.close_code == 1008
    (message,) = _errors(got)
    assert "interaction 'v1_nosuch' could not be read to judge it: HTTP 404" in message
    assert _sessions(emulator) == []


def _create(running: Running, model: str = ALLOWED) -> str:
    """An interaction created through the gateway over plain REST; its id."""
    import httpx2

    response = httpx2.post(
        f"{running.url}/v1beta/interactions",
        headers={"x-goog-api-key": running.key},
        json={"model": model, "input": "start"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def test_a_raw_session_through_the_gateway(
    gateway: Callable[..., Running], emulator: Any, audit: Any
) -> None:
    """The protocol with a plain websocket client (any language's): connect, input, complete;
    the events stream back, upstream sees Google's key only, one event with the usage."""
    from websockets.sync.client import connect

    running = gateway()
    interaction_id = _create(running)
    url = running.url.replace("http://", "ws://") + "/v1beta/interactions/live?key=" + running.key
    with connect(url) as socket:
        for event in (
            {"event_type": "interaction.connect", "id": interaction_id},
            {"event_type": "input", "content": [{"type": "text", "text": "raw hello"}]},
            {"event_type": "interaction.complete"},
        ):
            socket.send(json.dumps(event))
        kinds: list[str] = []
        while not kinds or kinds[-1] != "interaction.completed":
            kinds.append(json.loads(socket.recv(timeout=10))["event_type"])
    assert kinds[0] == "interaction.connected"
    assert "step.stop" in kinds
    (session,) = _sessions(emulator)
    assert session.principal == f"api_key:{GOOGLE_KEY}"
    assert running.key not in repr(session)
    assert "key=" not in session.path
    (event,) = _events(audit)
    assert (event.app, event.model, event.outcome) == ("checkout", ALLOWED, "ok")
    assert event.total_tokens is not None
    assert event.total_tokens > 0


# ---------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("create", "policy", "says"),
    [
        pytest.param({"model": DENIED}, "models", "the interaction's model", id="model"),
        pytest.param({"agent": "rogue-agent"}, "models", "agent 'rogue-agent'", id="agent"),
        pytest.param(
            {"model": ALLOWED, "tools": [{"type": "google_search"}]}, "tools", "", id="tool"
        ),
    ],
)
@needs_connect
def test_a_denied_interaction_connects_nothing_and_the_app_is_told(
    gateway: Callable[..., Running],
    emulator: Any,
    audit: Any,
    create: dict[str, Any],
    policy: str,
    says: str,
) -> None:
    """The interaction's model, agent and tools are judged before anything connects upstream:
    the app gets an error event naming the policy and the reason, then the close (1008); one
    denied event."""
    running = gateway()
    interaction = _direct(emulator).interactions.create(input="elsewhere", **create)
    got, error = asyncio.run(_refused(genai_client(running.url, running.key), interaction.id))
    assert error.close_code == 1008
    (refusal,) = [e for e in got if e.event_type == "error"]
    assert refusal.error.code == f"golden-path/{policy}"
    assert says in refusal.error.message
    assert _sessions(emulator) == []
    (event,) = _events(audit)
    assert (event.app, event.outcome) == ("checkout", "denied")
    assert event.policy[-1]["policy"] == policy


@pytest.mark.parametrize(
    ("message", "policy"),
    [
        pytest.param("my email is ann@example.com", "pii", id="pii"),
        pytest.param(
            {"event_type": "interaction.create", "model": DENIED}, "models", id="create-model"
        ),
        pytest.param(
            {"event_type": "interaction.create", "model": ALLOWED,
             "generation_config": {"max_output_tokens": 5000}},
            "generation",
            id="generation-cap",
        ),
        pytest.param({"event_type": "interaction.connect", "id": "other"}, "routes", id="switch"),
        pytest.param({"event_type": "summon"}, "routes", id="unknown-event"),
    ],
)  # fmt: skip
@needs_connect
def test_a_later_message_is_refused_and_never_reaches_upstream(
    gateway: Callable[..., Running], emulator: Any, audit: Any, message: Any, policy: str
) -> None:
    """Each app message mid-session passes the chain: a denied one is not sent, the app gets an
    error event saying why and the close; the session's one event says denied."""
    running = gateway()
    client = genai_client(running.url, running.key)
    interaction = client.interactions.create(model=ALLOWED, input="start")
    got, error = asyncio.run(_refused(client, interaction.id, "fine", message))
    assert error.close_code == 1008
    assert [e.error.code for e in got if e.event_type == "error"] == [f"golden-path/{policy}"]
    (session,) = _sessions(emulator)
    sent = [m["event_type"] for m in session.body]
    assert sent[:2] == ["interaction.connect", "input"]
    assert "interaction.create" not in sent
    assert "summon" not in sent
    assert sent.count("interaction.connect") == 1
    assert "example.com" not in json.dumps(session.body)
    (event,) = _events(audit)
    assert event.outcome == "denied"
    assert (policy, "deny") in [(d["policy"], d["action"]) for d in event.policy]


@needs_connect
def test_pii_is_redacted_both_ways_when_the_policy_redacts(
    gateway: Callable[..., Running], emulator: Any, audit: Any
) -> None:
    """[pii] action = "redact", responses = "redact": the app's message reaches upstream
    redacted, and the model's text comes back redacted, as in-process."""
    running = gateway(f'[models]\nallow = ["{ALLOWED}"]\n[pii]\naction = "redact"\n'
                      'responses = "redact"\n')  # fmt: skip
    client = genai_client(running.url, running.key)
    interaction = client.interactions.create(model=ALLOWED, input="start")
    # The line breaks hide the card number from the request scan; the echo joins the lines.
    events = asyncio.run(
        _talk(client, interaction.id, "mail ann@example.com", "card 4111\n1111\n1111\n1111 ok")
    )
    (session,) = _sessions(emulator)
    assert "ann@example.com" not in json.dumps(session.body)
    text = "".join(e.delta.text for e in events if e.event_type == "step.delta")
    assert "[REDACTED:credit_card]" in text
    assert "4111" not in text
    assert "ann@example.com" not in text
    (event,) = _events(audit)
    assert {d["policy"] for d in event.policy if d["action"] == "redact"} == {"pii"}


def test_a_first_frame_other_than_connect_is_refused(
    gateway: Callable[..., Running], emulator: Any, audit: Any
) -> None:
    """A raw client opening with anything but {"event_type": "interaction.connect", "id"}
    (an input, a create, extra fields, a repeated key) is refused with the reason; nothing is
    sent upstream."""
    from websockets.sync.client import connect

    running = gateway()
    interaction_id = _create(running)
    url = running.url.replace("http://", "ws://") + "/v1beta/interactions/live"
    firsts = [
        {"event_type": "input", "id": interaction_id, "content": [{"type": "text", "text": "x"}]},
        {"event_type": "interaction.create", "model": DENIED},
        {"event_type": "interaction.connect", "id": interaction_id, "extra": 1},
        f'{{"event_type": "interaction.connect", "id": "{interaction_id}", "id": "x"}}',
        {"event_type": "interaction.connect", "id": "  "},
        {"event_type": "interaction.connect", "id": 5},
        {"event_type": "input", "id": interaction_id},
        "not json",
    ]
    for first in firsts:
        with connect(url, additional_headers={"x-goog-api-key": running.key}) as socket:
            socket.send(first if isinstance(first, str) else json.dumps(first))
            error = json.loads(socket.recv(timeout=10))
            assert error["event_type"] == "error"
            assert "must be {" in error["error"]["message"]
            with pytest.raises(Exception, match="1008"):
                socket.recv(timeout=10)
    assert _sessions(emulator) == []
    denied = _events(audit, count=len(firsts))
    assert [(e.app, e.outcome) for e in denied] == [("checkout", "denied")] * len(firsts)


@needs_connect
def test_sessions_spend_the_rate_limit(gateway: Callable[..., Running], emulator: Any) -> None:
    """Sessions count against the app's limit: with two requests a minute (the create and one
    session), the second session is refused before it connects."""
    running = gateway(
        POLICY + '[rate_limits]\nrequests_per_minute = 2\nscope = "app"\nmax_wait_s = 0\n'
    )
    client = genai_client(running.url, running.key)
    interaction = client.interactions.create(model=ALLOWED, input="start")
    asyncio.run(_talk(client, interaction.id, "first"))
    got, error = asyncio.run(_refused(client, interaction.id))
    assert error.close_code == 1008
    assert [e.error.code for e in got if e.event_type == "error"] == ["golden-path/limits"]
    assert len(_sessions(emulator)) == 1


class _NoReads:
    """A platform policy that refuses reading interactions."""

    name = "no-reads"

    def on_request(self, request: Any) -> None:
        from golden_path.policies import Deny

        if request.route is not None and request.route.name == "interactions.get":
            raise Deny("reading interactions is not allowed here")


@needs_connect
def test_the_read_before_connecting_is_governed_too(
    start_gateway: Callable[..., Running], emulator: Any, audit: Any
) -> None:
    """The read of an interaction the gateway never saw passes the chain like any call: when
    a policy refuses it, the app is told why and no session opens."""
    running = start_gateway(policies=[_NoReads()], unowned_resources="allow")
    elsewhere = _direct(emulator).interactions.create(model=ALLOWED, input="elsewhere")
    emulator.clear_requests()
    got, error = asyncio.run(_refused(genai_client(running.url, running.key), elsewhere.id))
    assert error.close_code == 1008
    (refusal,) = [e for e in got if e.event_type == "error"]
    assert refusal.error.code == "golden-path/no-reads"
    assert "reading interactions is not allowed here" in refusal.error.message
    assert emulator.api_requests() == []
    (read,) = _events(audit, "interactions.get")
    assert (read.app, read.outcome) == ("checkout", "denied")


@needs_connect
def test_token_budget_ends_the_session_after_the_turn_that_spends_it(
    gateway: Callable[..., Running], audit: Any
) -> None:
    """Each step's usage settles against the token budget; when it is spent the gateway ends
    the session, saying why, and audits it denied with the usage so far."""
    running = gateway(
        POLICY + '[rate_limits]\ntokens_per_minute = 150\nscope = "app"\nmax_wait_s = 0\n'
        "default_output_tokens = 1\n"
    )
    client = genai_client(running.url, running.key)
    interaction = client.interactions.create(model=ALLOWED, input="s")
    long_text = "word " * 100
    got, error = asyncio.run(_refused(client, interaction.id, *[long_text] * 5))
    assert error.close_code == 1008
    assert [e.error.code for e in got if e.event_type == "error"] == ["golden-path/limits"]
    (event,) = _events(audit)
    assert event.outcome == "denied"
    assert event.total_tokens is not None


# ---------------------------------------------------------------------------- auth tokens


def _later(seconds: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)


@needs_connect
def test_minting_a_token_through_the_gateway_is_off_unless_allowed(
    gateway: Callable[..., Running], emulator: Any, audit: Any
) -> None:
    """Without [routes] ephemeral_token_max_s the gateway mints no token: a 403 naming the
    setting, nothing sent upstream, one denied event."""
    running = gateway()
    client = genai_client(running.url, running.key)
    interaction = client.interactions.create(model=ALLOWED, input="start")
    emulator.clear_requests()
    with pytest.raises(Exception, match="ephemeral_token_max_s") as caught:
        client.interactions.auth_tokens.create(interaction.id, expire_time=_later(60))
    assert getattr(caught.value, "status_code", None) == 403
    assert emulator.api_requests() == []
    (event,) = _events(audit, "interactions.auth_tokens.create")
    assert (event.app, event.outcome) == ("checkout", "denied")


@needs_connect
def test_token_expiry_is_clamped_or_refused_as_in_process(
    gateway: Callable[..., Running], emulator: Any, audit: Any
) -> None:
    """With the cap at 600 s: a longer expire_time is refused naming the fix; none is set to
    the cap; an allowed one is minted and audited with the interaction's model."""
    running = gateway(POLICY + TOKENS)
    client = genai_client(running.url, running.key)
    interaction = client.interactions.create(model=ALLOWED, input="start")
    emulator.clear_requests()
    with pytest.raises(Exception, match="set expire_time at most 600 s from now"):
        client.interactions.auth_tokens.create(interaction.id, expire_time=_later(3600))
    assert emulator.api_requests() == []
    before = dt.datetime.now(dt.UTC)
    assert client.interactions.auth_tokens.create(interaction.id).auth_token
    (sent,) = emulator.api_requests()
    expires = dt.datetime.fromisoformat(sent.body["expire_time"].replace("Z", "+00:00"))
    assert before + dt.timedelta(seconds=590) <= expires <= before + dt.timedelta(seconds=610)
    assert sent.headers["x-goog-api-key"] == GOOGLE_KEY
    minted = _events(audit, "interactions.auth_tokens.create", count=2)
    assert [(e.model, e.outcome) for e in minted] == [(ALLOWED, "denied"), (ALLOWED, "ok")]


@needs_connect
def test_a_token_for_a_denied_model_is_refused(
    gateway: Callable[..., Running], emulator: Any
) -> None:
    """A token opens the interaction's model: one outside the allowlist gets none."""
    running = gateway(POLICY + TOKENS)
    client = genai_client(running.url, running.key)
    interaction = _direct(emulator).interactions.create(model=DENIED, input="elsewhere")
    client.interactions.get(id=interaction.id)
    emulator.clear_requests()
    with pytest.raises(Exception, match="the interaction's model"):
        client.interactions.auth_tokens.create(interaction.id, expire_time=_later(60))
    assert emulator.api_requests() == []


@needs_connect
def test_a_token_is_not_a_gateway_credential(
    gateway: Callable[..., Running], emulator: Any, audit: Any
) -> None:
    """A minted token opens its session at Google directly; presented to the gateway it is
    refused at the handshake, the audit saying why, and nothing reaches upstream."""
    from google.genai import _interactions_errors

    running = gateway(POLICY + TOKENS)
    client = genai_client(running.url, running.key)
    interaction = client.interactions.create(model=ALLOWED, input="start")
    token = client.interactions.auth_tokens.create(interaction.id, expire_time=_later(300))
    emulator.clear_requests()
    with pytest.raises(_interactions_errors.APIWebSocketError):
        asyncio.run(_talk(genai_client(running.url, token.auth_token), interaction.id, "hi"))
    assert _sessions(emulator) == []
    refused = [e for e in audit.events if e.outcome == "denied"]
    assert refused
    assert refused[-1].app is None
    assert "opens a session at Google directly" in refused[-1].policy[-1]["reason"]
    # What it is for: straight at the upstream, it opens its interaction's session.
    events = asyncio.run(_talk(_direct(emulator, token.auth_token), interaction.id, "direct"))
    assert events[-1].event_type == "interaction.completed"


def test_a_vertex_gateway_refuses_live_interactions_at_the_handshake(
    start_gateway: Callable[..., Running], emulator: Any, audit: Any, tmp_path: Path
) -> None:
    """Live Interactions is the Gemini API's alone: a gateway fronting Vertex AI answers the
    handshake 403, audited under the app with the reason; nothing reaches upstream."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    key_file = tmp_path / "sa.json"
    emulator.create_service_account_key(key_file)
    running = start_gateway(
        settings={
            "backend": "vertex",
            "project": "platform-project",
            "location": "europe-west4",
            "credentials_file": str(key_file),
        }
    )
    url = running.url.replace("http://", "ws://") + "/v1beta/interactions/live"
    with (
        pytest.raises(InvalidStatus) as refused,
        connect(url, additional_headers={"x-goog-api-key": running.key}),
    ):
        pass  # pragma: no cover - the handshake is refused
    assert refused.value.response.status_code == 403
    (event,) = _events(audit)
    assert (event.app, event.outcome) == ("checkout", "denied")
    assert "Gemini Developer API only" in event.policy[-1]["reason"]
    assert _sessions(emulator) == []


@needs_connect
def test_another_app_cannot_open_a_session_on_an_interaction(
    gateway: Callable[..., Running], emulator: Any
) -> None:
    """Resource ownership: the interaction a session's first frame names must be the app's
    own; another app's is refused before anything connects upstream, the app told why."""
    running = gateway()
    mine = genai_client(running.url, running.key)
    theirs = genai_client(running.url, running.issue("fraud", team="risk"))
    made = mine.interactions.create(model=ALLOWED, input="start")
    got, error = asyncio.run(_refused(theirs, made.id))
    assert error.close_code == 1008
    (refusal,) = [e for e in got if e.event_type == "error"]
    assert refusal.error.code == "golden-path/gateway.ownership"
    assert "is not a resource of app 'fraud'" in refusal.error.message
    assert _sessions(emulator) == []
