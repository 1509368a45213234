"""Live Interactions (google-genai 3.5+): ``interactions.connect`` and interaction auth tokens.

The real SDK over real websockets on the emulator, through golden_path.create_client(): the
chain judges the interaction a session runs (its model or agent, its tools) before anything
connects, then every client message; the server's usage is metered; one audit event per
session says how it ended. Tokens are minted only under ``[routes] ephemeral_token_max_s``,
for an interaction whose model is allowed, with a capped ``expire_time``.

The main suite runs the pinned 3.4.0, which has none of this: these tests run in `tests/run`'s
core run on the newest release of the range (3.6.1), where tests/policies is part of the core.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import golden_path
from golden_path.emulator import Emulator
from tests import _sdk as sdk

pytestmark = [
    pytest.mark.skipif(
        not sdk.at_least("3.5"), reason="Live Interactions arrived in google-genai 3.5.0"
    ),
    # The SDK warns once per process that Live Interactions are experimental.
    pytest.mark.filterwarnings("ignore:Live Interactions usage:UserWarning"),
]

KEY = "platform-key"
ALLOWED = "gemini-2.5-flash"
DENIED = "gemini-2.5-pro"
POLICY = f"""
[models]
allow = ["{ALLOWED}"]
agents = ["deep-research-*"]
[tools]
deny = ["google_search"]
[pii]
action = "deny"
[generation]
max_output_tokens = 100
on_exceed = "deny"
"""
TOKENS = "[routes]\nephemeral_token_max_s = 600\n"


@pytest.fixture(name="emu")
def _emu() -> Iterator[Emulator]:
    # Only the platform's key authenticates: a placeholder credential is refused.
    with Emulator(api_keys=[KEY]) as emu:
        yield emu


@pytest.fixture(name="client")
def _client(emu: Emulator, audit: Any, policy_file: Callable[[str], Path]) -> Callable[..., Any]:
    def make(policy: str = POLICY, **overrides: Any) -> Any:
        settings: dict[str, Any] = {
            "backend": "ai_studio",
            "api_key": KEY,
            "base_url": emu.url,
            "retry_attempts": 1,
            "policy_file": str(policy_file(policy)),
            "audit_sinks": [audit],
            "app": "live-interactions",
            "client_id": "acme-live/1.0",
        }
        settings.update(overrides)
        return golden_path.create_client(**settings)

    return make


_KEEP: list[Any] = []


def _raw(emu: Emulator, key: str = KEY) -> Any:
    """The SDK with no golden-path: what another tool holding the key could do."""
    from google import genai

    client = genai.Client(api_key=key, http_options={"base_url": emu.url})
    # A genai.Client closes its HTTP pools when collected: keep it for the test's length.
    _KEEP.append(client)
    return client


@pytest.fixture(autouse=True)
def _release_raw_clients() -> Iterator[None]:
    yield
    while _KEEP:
        _KEEP.pop().close()


def _sessions(emu: Emulator) -> list[Any]:
    return [r for r in emu.api_requests() if r.path.endswith("/interactions/live")]


def _expire(seconds: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)


async def _talk(client: Any, interaction_id: str, *messages: Any) -> list[Any]:
    """Open a session, send each message, complete it; the server's events, in order."""
    async with client.aio.interactions.connect(interaction_id) as connection:
        for message in messages:
            await connection.send(message)
        await connection.complete()
        return [event async for event in connection.receive()]


# ---------------------------------------------------------------------------- a session


def test_allowed_session_is_sent_metered_and_audited(
    client: Callable[..., Any], emu: Emulator, audit: Any
) -> None:
    """A session on an allowed interaction runs end to end: one audit event, named
    interactions.connect with the interaction's model, the server's usage and how it ended;
    the websocket authenticates with the platform's key and identifies the client."""
    governed = client()
    interaction = governed.interactions.create(model=ALLOWED, input="start")
    audit.events.clear()
    events = asyncio.run(_talk(governed, interaction.id, "hello live", "and again"))
    kinds = [e.event_type for e in events]
    assert kinds[0] == "interaction.connected"
    assert kinds.count("step.stop") == 2
    assert kinds[-1] == "interaction.completed"
    final = events[-1].usage
    (session,) = _sessions(emu)
    assert session.principal == f"api_key:{KEY}"
    assert "acme-live/1.0" in session.headers["x-goog-api-client"].split()
    assert [m["event_type"] for m in session.body] == [
        "interaction.connect",
        "input",
        "input",
        "interaction.complete",
    ]
    event = audit.only()
    assert (event.surface, event.method, event.model, event.outcome) == (
        "interactions",
        "interactions.connect",
        ALLOWED,
        "ok",
    )
    assert_session_metered(event, final)


def test_awaited_connection_is_audited_when_it_closes(
    client: Callable[..., Any], emu: Emulator, audit: Any
) -> None:
    """``await connect(id)`` (no ``async with``): the event is written when the app detaches."""
    governed = client()
    interaction = governed.interactions.create(model=ALLOWED, input="start")
    audit.events.clear()

    async def run() -> None:
        connection = await governed.aio.interactions.connect(interaction.id)
        await connection.send("hi")
        async for event in connection.receive():
            if event.event_type == "step.stop":
                break
        assert audit.events == []  # still open
        await connection.detach()

    asyncio.run(run())
    event = audit.only()
    assert (event.method, event.outcome) == ("interactions.connect", "ok")
    assert event.total_tokens is not None
    assert event.total_tokens > 0
    assert any(d["reason"] == "detached by the client" for d in event.policy)
    assert [m["event_type"] for m in _sessions(emu)[0].body][-1] == "interaction.disconnect"


def test_an_interaction_read_elsewhere_is_read_before_connecting(
    client: Callable[..., Any], emu: Emulator, audit: Any
) -> None:
    """An interaction golden-path never saw is read first (a governed GET), then judged."""
    interaction = _raw(emu).interactions.create(model=ALLOWED, input="made elsewhere")
    emu.clear_requests()
    asyncio.run(_talk(client(), interaction.id, "hi"))
    assert [r.method for r in emu.api_requests()] == ["GET", "GET"]  # the read, the websocket
    assert [e.method for e in audit.events] == ["interactions.get", "interactions.connect"]


def test_an_interaction_created_streaming_is_judged_without_a_read(
    client: Callable[..., Any], emu: Emulator, audit: Any
) -> None:
    """create(stream=True) is remembered from its interaction.created event, like a plain
    create: a token for it is minted and a session opens with no extra read."""
    governed = client(POLICY + TOKENS)
    events = list(governed.interactions.create(model=ALLOWED, input="streamed", stream=True))
    created = next(e for e in events if e.event_type == "interaction.created")
    emu.clear_requests()
    assert governed.interactions.auth_tokens.create(created.interaction.id, expire_time=_expire(60))
    asyncio.run(_talk(governed, created.interaction.id, "hi"))
    assert [r.method for r in emu.api_requests()] == ["POST", "GET"]  # the token, the websocket
    assert [(e.method, e.model) for e in audit.events[-2:]] == [
        ("interactions.auth_tokens.create", ALLOWED),
        ("interactions.connect", ALLOWED),
    ]


def test_session_spends_the_rate_limit(client: Callable[..., Any], emu: Emulator) -> None:
    """Sessions count: with one request a minute, the second session is refused unopened."""
    policy = POLICY + '[rate_limits]\nrequests_per_minute = 2\nscope = "app"\nmax_wait_s = 0\n'
    governed = client(policy)
    interaction = governed.interactions.create(model=ALLOWED, input="start")
    asyncio.run(_talk(governed, interaction.id, "first"))
    with pytest.raises(golden_path.BudgetExceeded):
        asyncio.run(_talk(governed, interaction.id, "second"))
    assert len(_sessions(emu)) == 1


def test_token_budget_ends_the_session_after_the_turn_that_spends_it(
    client: Callable[..., Any], audit: Any
) -> None:
    """Each step's usage settles against the token budget; the session ends when it is spent."""
    policy = POLICY + (
        '[rate_limits]\ntokens_per_minute = 150\nscope = "app"\nmax_wait_s = 0\n'
        "default_output_tokens = 1\n"
    )
    governed = client(policy)
    interaction = governed.interactions.create(model=ALLOWED, input="s")
    audit.events.clear()
    long_text = "word " * 100

    async def run() -> None:
        async with governed.aio.interactions.connect(interaction.id) as connection:
            for _ in range(5):
                await connection.send(long_text)
                async for event in connection.receive():
                    if event.event_type == "step.stop":
                        break

    with pytest.raises(golden_path.BudgetExceeded):
        asyncio.run(run())
    event = audit.only()
    assert (event.method, event.outcome) == ("interactions.connect", "denied")
    assert event.total_tokens is not None


def test_session_edges_are_audited(client: Callable[..., Any], emu: Emulator, audit: Any) -> None:
    """An empty id is the SDK's ValueError (nothing audited); awaiting twice is one session; an
    app error inside the block and a connect that fails are each one event with the error."""
    governed = client()
    interaction = governed.interactions.create(model=ALLOWED, input="start")
    audit.events.clear()
    with pytest.raises(ValueError, match="non-empty interaction ID"):
        governed.aio.interactions.connect("  ")

    async def twice() -> None:
        pending = governed.aio.interactions.connect(interaction.id)
        first = await pending
        assert await pending is first
        await first.detach()

    asyncio.run(twice())

    async def app_error() -> None:
        async with governed.aio.interactions.connect(interaction.id):
            raise KeyError("the app's own bug")

    with pytest.raises(KeyError):
        asyncio.run(app_error())

    async def too_slow() -> None:
        # A deadline no handshake meets: the SDK gives up while connecting.
        async with governed.aio.interactions.connect(interaction.id, timeout=1e-9):
            pass  # pragma: no cover - never opened

    with pytest.raises(Exception, match="Timed out"):
        asyncio.run(too_slow())
    outcomes = [(e.method, e.outcome, e.error_type) for e in audit.events]
    assert outcomes == [
        ("interactions.connect", "ok", None),
        ("interactions.connect", "error", "KeyError"),
        ("interactions.connect", "error", "APIWebSocketError"),
    ]


# ---------------------------------------------------------------------------- refusals


def test_denied_model_connects_nothing(
    client: Callable[..., Any], emu: Emulator, audit: Any
) -> None:
    """An interaction running a model outside the allowlist: no websocket is opened."""
    interaction = _raw(emu).interactions.create(model=DENIED, input="elsewhere")
    with pytest.raises(golden_path.PolicyViolation) as caught:
        asyncio.run(_talk(client(), interaction.id, "hi"))
    assert caught.value.policy == "models"
    assert "the interaction's model" in str(caught.value)
    assert _sessions(emu) == []
    event = audit.events[-1]
    assert (event.method, event.model, event.outcome) == (
        "interactions.connect",
        DENIED,
        "denied",
    )


def test_denied_agent_connects_nothing(client: Callable[..., Any], emu: Emulator) -> None:
    """An interaction running an agent the platform does not list: no websocket is opened."""
    interaction = _raw(emu).interactions.create(agent="rogue-agent", input="elsewhere")
    with pytest.raises(golden_path.PolicyViolation, match="agent 'rogue-agent'"):
        asyncio.run(_talk(client(), interaction.id, "hi"))
    assert _sessions(emu) == []


def test_allowed_agent_connects(client: Callable[..., Any], emu: Emulator, audit: Any) -> None:
    """An interaction running a listed agent connects, audited with the agent."""
    interaction = _raw(emu).interactions.create(agent="deep-research-1", input="elsewhere")
    asyncio.run(_talk(client(), interaction.id, "hi"))
    assert len(_sessions(emu)) == 1
    assert audit.events[-1].model == "agent/deep-research-1"


def test_interaction_with_a_denied_tool_connects_nothing(
    client: Callable[..., Any], emu: Emulator
) -> None:
    """The interaction's own tools are judged at connect."""
    interaction = _raw(emu).interactions.create(
        model=ALLOWED, input="x", tools=[{"type": "google_search"}]
    )
    with pytest.raises(golden_path.PolicyViolation) as caught:
        asyncio.run(_talk(client(), interaction.id, "hi"))
    assert caught.value.policy == "tools"
    assert _sessions(emu) == []


@pytest.mark.parametrize(
    ("message", "policy"),
    [
        pytest.param(
            {"event_type": "interaction.create", "model": ALLOWED,
             "tools": [{"type": "google_search"}]},
            "tools",
            id="denied-tool",
        ),
        pytest.param({"event_type": "interaction.create", "model": DENIED}, "models", id="model"),
        pytest.param(
            {"event_type": "interaction.create", "agent": "rogue-agent"}, "models", id="agent"
        ),
        pytest.param(
            {"events": [{"event_type": "input", "content": [{"type": "text", "text": "x"}]},
                        {"event_type": "interaction.create", "model": f"models/{DENIED}"}]},
            "models",
            id="batched-model",
        ),
        pytest.param(
            {"event_type": "interaction.create", "model": ALLOWED,
             "generation_config": {"max_output_tokens": 5000}},
            "generation",
            id="generation-cap",
        ),
        pytest.param("my email is ann@example.com", "pii", id="pii"),
        pytest.param(
            {"event_type": "input",
             "content": [{"type": "text", "text": "card 4111 1111 1111 1111"}]},
            "pii",
            id="pii-event",
        ),
        pytest.param({"event_type": "interaction.connect", "id": "other"}, "routes", id="switch"),
        pytest.param({"event_type": "summon"}, "routes", id="unknown-event"),
        pytest.param(
            {"events": [{"event_type": "interaction.complete"}], "also": 1}, "routes", id="batch"
        ),
    ],
)  # fmt: skip
def test_a_later_message_is_refused_and_not_sent(
    client: Callable[..., Any], emu: Emulator, audit: Any, message: Any, policy: str
) -> None:
    """Each client message passes the chain: a denied one raises and never reaches the server;
    the session's one event says it was denied."""
    governed = client()
    interaction = governed.interactions.create(model=ALLOWED, input="start")
    audit.events.clear()

    async def run() -> None:
        async with governed.aio.interactions.connect(interaction.id) as connection:
            await connection.send("fine")
            # The server answered the first input: it has recorded it (no race with the check).
            async for event in connection.receive():
                if event.event_type == "step.stop":
                    break
            await connection.send(message)

    with pytest.raises(golden_path.PolicyViolation) as caught:
        asyncio.run(run())
    assert caught.value.policy == policy
    (session,) = _sessions(emu)
    assert [m["event_type"] for m in session.body][:2] == ["interaction.connect", "input"]
    assert all(m.get("event_type") not in ("interaction.create", "summon") for m in session.body)
    assert not any("example.com" in str(m) or "4111" in str(m) for m in session.body)
    event = audit.only()
    assert (event.method, event.outcome) == ("interactions.connect", "denied")


def test_allowed_create_event_switches_the_session(
    client: Callable[..., Any], emu: Emulator
) -> None:
    """An interaction.create event naming an allowed model and no denied tool is sent."""
    governed = client()
    interaction = governed.interactions.create(model=ALLOWED, input="start")
    events = asyncio.run(
        _talk(governed, interaction.id, {"event_type": "interaction.create", "model": ALLOWED})
    )
    assert "interaction.created" in [e.event_type for e in events]
    assert any(m.get("event_type") == "interaction.create" for m in _sessions(emu)[0].body)


# ---------------------------------------------------------------------------- credentials


def test_per_call_headers_cannot_replace_the_key(
    client: Callable[..., Any], emu: Emulator, audit: Any
) -> None:
    """connect(extra_headers=...) cannot swap in another key: the configured one is sent."""
    governed = client()
    interaction = governed.interactions.create(model=ALLOWED, input="start")

    async def run() -> None:
        async with governed.aio.interactions.connect(
            interaction.id,
            api_version="v1beta",
            extra_headers={"x-goog-api-key": "someone-else", "x-extra": "1"},
        ):
            pass

    asyncio.run(run())
    (session,) = _sessions(emu)
    assert session.principal == f"api_key:{KEY}"
    assert session.headers["x-extra"] == "1"
    # The version asked for is the one opened, and the one audited.
    assert session.path == "/v1beta/interactions/live"
    assert audit.events[-1].path == "/v1beta/interactions/live"


def test_connect_through_the_class_has_no_credential(
    client: Callable[..., Any], emu: Emulator, audit: Any
) -> None:
    """The resource class, or a new resource on the same API client, skips the guard and so
    holds only the placeholder: the platform's key never leaves through it."""
    from google.genai import _interactions_errors

    governed = client()
    interaction = governed.interactions.create(model=ALLOWED, input="start")
    resource = governed.aio.interactions
    cls = type(resource)
    attempts = [
        lambda: cls.connect(resource, interaction.id),
        lambda: cls(governed._api_client).connect(interaction.id),
    ]
    for attempt in attempts:

        async def run(make: Callable[[], Any] = attempt) -> None:
            async with make():
                pass  # pragma: no cover - the handshake is refused

        with pytest.raises(_interactions_errors.APIWebSocketError):
            asyncio.run(run())
    assert all(r.principal is None for r in _sessions(emu))


# ---------------------------------------------------------------------------- auth tokens


def test_minting_is_off_unless_the_platform_allows_it(
    client: Callable[..., Any], emu: Emulator, audit: Any
) -> None:
    """Without [routes] ephemeral_token_max_s no token is minted, on any accessor."""
    governed = client()
    interaction = governed.interactions.create(model=ALLOWED, input="start")
    emu.clear_requests()
    attempts = [
        lambda: governed.interactions.auth_tokens.create(interaction.id, expire_time=_expire(60)),
        lambda: governed.interactions.auth_tokens.with_raw_response.create(
            interaction.id, expire_time=_expire(60)
        ),
        lambda: asyncio.run(
            governed.aio.interactions.auth_tokens.create(interaction.id, expire_time=_expire(60))
        ),
    ]
    for attempt in attempts:
        with pytest.raises(
            golden_path.PolicyViolation, match="Live Interactions auth tokens is off"
        ):
            attempt()
    assert emu.api_requests() == []
    assert {e.method for e in audit.events[-3:]} == {"interactions.auth_tokens.create"}


def test_allowed_token_is_minted_audited_usable_and_revocable(
    client: Callable[..., Any], emu: Emulator, audit: Any
) -> None:
    """A token for an allowed interaction, within the cap: minted and audited with its model;
    it opens that interaction's session as an API key; deleting it is audited and revokes it."""
    from google.genai import _interactions_errors

    governed = client(POLICY + TOKENS)
    interaction = governed.interactions.create(model=ALLOWED, input="start")
    token = governed.interactions.auth_tokens.create(interaction.id, expire_time=_expire(300))
    assert token.auth_token.startswith("auth_tokens/")
    minted = audit.events[-1]
    assert (minted.surface, minted.method, minted.model, minted.outcome) == (
        "interactions",
        "interactions.auth_tokens.create",
        ALLOWED,
        "ok",
    )
    events = asyncio.run(_talk(_raw(emu, token.auth_token), interaction.id, "by token"))
    assert events[-1].event_type == "interaction.completed"
    governed.interactions.auth_tokens.delete(interaction.id, token.auth_token)
    deleted = audit.events[-1]
    assert (deleted.method, deleted.model, deleted.outcome) == (
        "interactions.auth_tokens.delete",
        ALLOWED,
        "ok",
    )
    with pytest.raises(_interactions_errors.APIWebSocketError):
        asyncio.run(_talk(_raw(emu, token.auth_token), interaction.id, "revoked"))


def test_token_lifetime_is_capped(client: Callable[..., Any], emu: Emulator) -> None:
    """A token living longer than the platform allows: refused, naming the field and the fix;
    nothing is sent."""
    governed = client(POLICY + TOKENS)
    interaction = governed.interactions.create(model=ALLOWED, input="start")
    emu.clear_requests()
    reason = r"expire_time is \d+ s away; set expire_time at most 600 s from now"
    with pytest.raises(golden_path.PolicyViolation, match=reason) as caught:
        governed.interactions.auth_tokens.create(interaction.id, expire_time=_expire(3600))
    assert caught.value.policy == "routes"
    assert emu.api_requests() == []


def test_token_without_expiry_gets_the_cap(client: Callable[..., Any], emu: Emulator) -> None:
    """No expire_time: golden-path sets one at the platform's cap (600 s, under the API's 30
    minutes), so the token is minted and still cannot outlive the rule."""
    governed = client(POLICY + TOKENS)
    interaction = governed.interactions.create(model=ALLOWED, input="start")
    emu.clear_requests()
    before = dt.datetime.now(dt.UTC)
    assert governed.interactions.auth_tokens.create(interaction.id)
    (sent,) = emu.api_requests()
    expires = dt.datetime.fromisoformat(sent.body["expire_time"].replace("Z", "+00:00"))
    assert before + dt.timedelta(seconds=590) <= expires <= before + dt.timedelta(seconds=610)


def test_token_for_a_denied_model_is_refused(
    client: Callable[..., Any], emu: Emulator, audit: Any
) -> None:
    """A token opens the interaction's model: one outside the allowlist gets none."""
    governed = client(POLICY + TOKENS)
    interaction = _raw(emu).interactions.create(model=DENIED, input="elsewhere")
    governed.interactions.get(id=interaction.id)  # read through golden-path: allowed
    emu.clear_requests()
    with pytest.raises(golden_path.PolicyViolation) as caught:
        governed.interactions.auth_tokens.create(interaction.id, expire_time=_expire(60))
    assert caught.value.policy == "models"
    assert emu.api_requests() == []
    assert (audit.events[-1].model, audit.events[-1].outcome) == (DENIED, "denied")


def test_token_for_an_interaction_never_read_names_the_fix(
    client: Callable[..., Any], emu: Emulator
) -> None:
    """golden-path cannot judge an interaction it never read: the refusal says how to fix it."""
    governed = client(POLICY + TOKENS)
    interaction = _raw(emu).interactions.create(model=ALLOWED, input="elsewhere")
    emu.clear_requests()
    with pytest.raises(golden_path.PolicyViolation, match=r"client\.interactions\.get"):
        governed.interactions.auth_tokens.create(interaction.id, expire_time=_expire(60))
    assert emu.api_requests() == []
    governed.interactions.get(id=interaction.id)
    assert governed.interactions.auth_tokens.create(interaction.id, expire_time=_expire(60))


def test_model_output_is_redacted_across_deltas(
    client: Callable[..., Any], emu: Emulator, audit: Any
) -> None:
    """[pii] responses = "redact": the model's text is held back per step like a stream, so a
    value split across deltas is still redacted; what was held goes out before step.stop."""
    policy = f'[models]\nallow = ["{ALLOWED}"]\n[pii]\nresponses = "redact"\n'
    governed = client(policy)
    interaction = governed.interactions.create(model=ALLOWED, input="start")
    audit.events.clear()
    # Line breaks hide the number from the request scan; the emulator's echo joins the lines,
    # so the number appears in the answer only, split over its three deltas.
    events = asyncio.run(_talk(governed, interaction.id, "card 4111\n1111\n1111\n1111 noted"))
    deltas = [e.delta.text for e in events if e.event_type == "step.delta"]
    text = "".join(deltas)
    assert text == "Echo: card [REDACTED:credit_card] noted"
    assert not any("1111" in d for d in deltas)
    kinds = [e.event_type for e in events]
    assert kinds.index("step.stop") > max(i for i, k in enumerate(kinds) if k == "step.delta")
    reasons = [d["reason"] for d in audit.only().policy if d["policy"] == "pii"]
    assert any("credit_card" in r for r in reasons)


def assert_session_metered(event: Any, final: Any) -> None:
    """A completed session's one audit event: streamed, its tokens the server's own total."""
    assert event.stream is True
    # Metered from the server's own usage: the steps' usage, which adds up to the total.
    assert (event.prompt_tokens, event.output_tokens, event.total_tokens) == (
        final.total_input_tokens,
        final.total_output_tokens,
        final.total_tokens,
    )
    assert {"policy": "session", "action": "end", "reason": "interaction.completed"} in [
        {k: d[k] for k in ("policy", "action", "reason")} for d in event.policy
    ]
