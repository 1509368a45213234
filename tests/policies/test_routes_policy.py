"""``[routes]``: unknown routes are refused by default, reported or allowed when configured."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest

import golden_path


def _http(
    emulator: Any, audit: Any, policy_file: Callable[..., Path], text: str | None
) -> httpx2.Client:
    """golden_path.http_client on the emulator, with a policy file when text is given."""
    settings: dict[str, Any] = {"backend": "ai_studio", "api_key": "k", "base_url": emulator.url}
    if text is not None:
        settings["policy_file"] = str(policy_file(text))
    return golden_path.http_client(audit_sinks=[audit], **settings)


def test_unknown_route_denied_without_any_policy_file(
    emulator: Any, audit: Any, policy_file: Callable[..., Path]
) -> None:
    """With no policy file at all, a path no row matches is refused, audited, never sent."""
    with (
        _http(emulator, audit, policy_file, None) as http,
        pytest.raises(golden_path.PolicyViolation, match="golden-path routes") as caught,
    ):
        http.post("models/gemini-2.5-flash:summonDragons", json={})
    assert caught.value.policy == "routes"
    assert emulator.requests == []
    event = audit.only()
    assert (event.outcome, event.surface, event.method, event.model) == (
        "denied",
        "rest",
        "post",
        None,
    )


def test_report_mode_sends_and_audits_method_and_path(
    emulator: Any, audit: Any, policy_file: Callable[..., Path]
) -> None:
    """unknown = "report" lets the request through; the event has method and path only."""
    with _http(emulator, audit, policy_file, '[routes]\nunknown = "report"\n') as http:
        http.get("somethingNew/x1")
    assert len(emulator.requests) == 1
    event = audit.only()
    assert (event.method, event.model, event.path) == ("get", None, "/v1beta/somethingNew/x1")
    assert [d["action"] for d in event.policy] == ["unknown-route"]
    assert event.policy[0]["enforced"] is False


def test_allow_mode_lets_unknown_through_but_never_unsafe_paths(
    emulator: Any, audit: Any, policy_file: Callable[..., Path]
) -> None:
    """unknown = "allow" passes unknown routes; dot segments are refused whatever it says."""
    with _http(emulator, audit, policy_file, '[routes]\nunknown = "allow"\n') as http:
        http.get("somethingNew/x1")
        assert len(emulator.requests) == 1
        with pytest.raises(golden_path.PolicyViolation, match="dot segment"):
            http.get("models/%2e%2e/files")
    assert len(emulator.requests) == 1


def test_known_routes_pass(emulator: Any, audit: Any, policy_file: Callable[..., Path]) -> None:
    """A known route is sent and audited with the table's API method and model."""
    with _http(emulator, audit, policy_file, None) as http:
        response = http.post(
            "models/gemini-2.5-flash:countTokens",
            json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        )
    assert response.status_code == 200
    event = audit.only()
    assert (event.surface, event.method, event.model) == (
        "genai",
        "countTokens",
        "gemini-2.5-flash",
    )


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('[routes]\nunknown = "maybe"\n', "unknown"),
        ('[routes]\nunknwon = "deny"\n', "unknwon"),
        ('[routes]\norigins = ["ftp://psc.example"]\n', "origins"),
        ('[routes]\norigins = ["https://"]\n', "origins"),
    ],
)
def test_bad_routes_section(
    emulator: Any, audit: Any, policy_file: Callable[..., Path], text: str, field: str
) -> None:
    """A bad [routes] key is a ConfigError naming the field, with a fix."""
    with pytest.raises(golden_path.ConfigError) as caught:
        _http(emulator, audit, policy_file, text)
    problem = caught.value.problems[0]
    assert problem.field.endswith(field)
    assert problem.fix


_FILE_BATCH = {"batch": {"displayName": "b", "inputConfig": {"fileName": "files/abc"}}}
_INLINE_BATCH = {
    "batch": {
        "inputConfig": {
            "requests": {
                "requests": [
                    {"request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}}
                ]
            }
        }
    }
}


def test_batch_from_a_file_is_refused_by_default(
    emulator: Any, audit: Any, policy_file: Callable[..., Path]
) -> None:
    """A batch reading a file that was not uploaded through golden-path is refused."""
    with (
        _http(emulator, audit, policy_file, None) as http,
        pytest.raises(golden_path.PolicyViolation, match=r"\[batches\] sources"),
    ):
        http.post("models/gemini-2.5-flash:batchGenerateContent", json=_FILE_BATCH)
    assert emulator.requests == []


def test_inline_batch_passes_by_default(
    emulator: Any, audit: Any, policy_file: Callable[..., Path]
) -> None:
    """An inline batch (every request in the body, each checked) is sent."""
    with _http(emulator, audit, policy_file, None) as http:
        http.post("models/gemini-2.5-flash:batchGenerateContent", json=_INLINE_BATCH)
    assert len(emulator.requests) == 1
    assert audit.only().method == "batchGenerateContent"


def test_listed_batch_source_is_allowed(
    emulator: Any, audit: Any, policy_file: Callable[..., Path]
) -> None:
    """[batches] sources = ["inline", "files"] lets file batches through."""
    text = '[batches]\nsources = ["inline", "files"]\n'
    with _http(emulator, audit, policy_file, text) as http:
        http.post("models/gemini-2.5-flash:batchGenerateContent", json=_FILE_BATCH)
    assert len(emulator.requests) == 1


def test_vertex_gcs_batch_is_refused_by_default(
    emulator: Any, audit: Any, policy_file: Callable[..., Path]
) -> None:
    """A Vertex batch job reading Cloud Storage is refused unless gcs is a listed source."""
    body = {
        "displayName": "b",
        "model": "publishers/google/models/gemini-2.5-flash",
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://b/in.jsonl"]}},
    }
    with (
        _http(emulator, audit, policy_file, None) as http,
        pytest.raises(golden_path.PolicyViolation, match="gcs"),
    ):
        http.post("batchPredictionJobs", json=body)
    assert emulator.requests == []


def test_bad_batch_source(emulator: Any, audit: Any, policy_file: Callable[..., Path]) -> None:
    """An unknown [batches] source is a ConfigError naming the field."""
    with pytest.raises(golden_path.ConfigError) as caught:
        _http(emulator, audit, policy_file, '[batches]\nsources = ["ftp"]\n')
    assert caught.value.problems[0].field.endswith("sources")


def test_batch_from_a_file_uploaded_through_golden_path_passes(
    emulator: Any, audit: Any, policy_file: Callable[..., Path]
) -> None:
    """By default a batch may read a file this client uploaded (its bytes passed the chain)."""
    import io

    client = golden_path.create_client(
        backend="ai_studio",
        api_key="k",
        base_url=emulator.url,
        retry_attempts=1,
        audit_sinks=[audit],
    )
    line = b'{"key": "a", "request": {"contents": [{"parts": [{"text": "hi"}]}]}}'
    source = client.files.upload(file=io.BytesIO(line), config={"mime_type": "application/jsonl"})
    client.batches.create(model="gemini-2.5-flash", src=source.name)
    with pytest.raises(golden_path.PolicyViolation, match="files"):
        client.batches.create(model="gemini-2.5-flash", src="files/someone-elses")


def _token_body(model: str | None, seconds: int | None) -> dict[str, Any]:
    import datetime as dt

    body: dict[str, Any] = {"uses": 1}
    if model is not None:
        body["bidiGenerateContentSetup"] = {"model": f"models/{model}"}
    if seconds is not None:
        when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
        body["expireTime"] = when.isoformat().replace("+00:00", "Z")
    return body


_TOKENS_ON = '[routes]\nephemeral_token_max_s = 600\n[models]\nallow = ["gemini-2.5-*"]\n'


@pytest.mark.parametrize(
    ("text", "body", "match"),
    [
        (None, _token_body("gemini-2.5-flash", 60), "ephemeral_token_max_s"),
        (_TOKENS_ON, _token_body(None, 60), "bound to a model"),
        # The body is built at collection: on a loaded machine the test runs seconds later.
        (_TOKENS_ON, _token_body("gemini-2.5-flash", 86_400), r"expireTime is 8\d{4} s away"),
        (_TOKENS_ON, _token_body("gemini-1.5-pro", 60), "not allowed"),
    ],
    ids=["off-by-default", "unconstrained", "too-long", "denied-model"],
)
def test_ephemeral_tokens_are_constrained(
    emulator: Any,
    audit: Any,
    policy_file: Callable[..., Path],
    text: str | None,
    body: dict[str, Any],
    match: str,
) -> None:
    """Live tokens are minted only when allowed, bound to an allowed model, short-lived."""
    with (
        _http(emulator, audit, policy_file, text) as http,
        pytest.raises(golden_path.PolicyViolation, match=match),
    ):
        http.post(emulator.url + "/v1alpha/auth_tokens", json=body)
    assert emulator.requests == []


@pytest.mark.parametrize(("cap", "expected"), [(600, 600), (7200, 1800)])
def test_ephemeral_token_without_expiry_gets_one_within_the_cap(
    emulator: Any, audit: Any, policy_file: Callable[..., Path], cap: int, expected: int
) -> None:
    """No expireTime: golden-path sets the API's own default (30 minutes), or the platform's cap
    when shorter, instead of refusing; the audit event says so."""
    import datetime as dt

    text = _TOKENS_ON.replace("= 600", f"= {cap}")
    before = dt.datetime.now(dt.UTC)
    with _http(emulator, audit, policy_file, text) as http:
        http.post(emulator.url + "/v1alpha/auth_tokens", json=_token_body("gemini-2.5-flash", None))
    (sent,) = emulator.requests
    expires = dt.datetime.fromisoformat(sent.body["expireTime"].replace("Z", "+00:00"))
    low, high = (before + dt.timedelta(seconds=expected + s) for s in (-10, 10))
    assert low <= expires <= high
    decisions = [(d["policy"], d["action"]) for d in audit.only().policy]
    assert ("routes", "clamp") in decisions


def test_ephemeral_token_within_the_rules_is_minted_and_audited(
    emulator: Any, audit: Any, policy_file: Callable[..., Path]
) -> None:
    """A constrained, short-lived token is sent, and audited with the model it is bound to."""
    with _http(emulator, audit, policy_file, _TOKENS_ON) as http:
        http.post(emulator.url + "/v1alpha/auth_tokens", json=_token_body("gemini-2.5-flash", 60))
    assert len(emulator.requests) == 1
    event = audit.only()
    assert (event.method, event.model) == ("auth_tokens.create", "gemini-2.5-flash")


@pytest.mark.parametrize(
    ("first", "remembered"),
    [
        pytest.param(
            {"event_type": "interaction.created", "interaction": {"id": "i1", "status": "x"}},
            {"model": "gemini-2.5-flash"},
            id="partial-event-gets-the-request-model",
        ),
        pytest.param(
            {"event_type": "interaction.created",
             "interaction": {"id": "i1", "model": "gemini-2.5-pro", "tools": []}},
            {"model": "gemini-2.5-pro", "tools": []},
            id="the-server-says-what-runs",
        ),
        pytest.param({"event_type": "error", "error": {"message": "no"}}, None, id="error"),
        pytest.param({"event_type": "interaction.created", "interaction": "i1"}, None, id="shape"),
        pytest.param(None, None, id="no-event"),
    ],
)  # fmt: skip
def test_a_streamed_create_is_remembered_from_its_created_event(
    first: Any, remembered: dict[str, Any] | None
) -> None:
    """The route gate remembers what a create(stream=True) made from its first event, the
    request filling what the partial event leaves out; any other first event records nothing
    (a later session or token on that id is then refused until it is read)."""
    import json

    from golden_path._routes import route_named
    from golden_path.policies import GenAIRequest, GenAIResponse, Identity
    from golden_path.policies._routing import RoutesPolicy

    gate = RoutesPolicy()
    request = GenAIRequest(
        request_id="r1",
        identity=Identity(
            app="a", team=None, client_id="c/1", backend="ai_studio", project=None, location=None
        ),
        method="POST",
        url=httpx2.URL("http://127.0.0.1/v1beta/interactions"),
        headers=httpx2.Headers(),
        raw=json.dumps({"model": "gemini-2.5-flash", "input": "x", "stream": True}).encode(),
        surface="interactions",
        api_method="interactions.create",
        model="gemini-2.5-flash",
        stream=True,
        route=route_named("interactions.create"),
    )
    gate.on_response(request, GenAIResponse(status_code=200, headers={}, stream=True, first=first))
    assert gate.interaction("i1") == remembered
