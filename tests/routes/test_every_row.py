"""Every row of the route table, over real HTTP to the emulator, on each backend that serves it.

Parametrized from the table itself, so a new row is tested the moment it is added: an allowed
request is sent and audited with the row's surface, API method and model; a request naming a
model outside the allowlist sends nothing. (Whether the emulator answers the route is the
emulator's business: a 404 from it still proves the request went out, classified.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

import golden_path
from golden_path._routes import ROUTES, Route

ALLOWED = "gemini-2.5-flash"
DENIED = "gemini-1.5-pro"
# Tuned models and endpoints keep their collection in the allowlist (tunedmodels/x).
POLICY = """
[models]
allow = ["gemini-2.5-*", "tunedmodels/gemini-2.5-*", "endpoints/gemini-2.5-*"]
agents = ["deep-research-*"]
[routes]
ephemeral_token_max_s = 600
"""
_VARIABLE = re.compile(r"\{([a-z_]+)\}", re.IGNORECASE)


def _cases() -> Iterator[Any]:
    for route in ROUTES:
        if route.http == "WS":
            continue  # websockets: tests/policies/test_live.py and test_credentials.py
        for backend, templates in (("gemini", route.gemini), ("vertex", route.vertex)):
            for template in templates:
                yield pytest.param(
                    route, backend, template, id=f"{backend}:{route.http}:{template}"
                )


def _path(route: Route, backend: str, template: str, model: str) -> str:
    def fill(found: re.Match[str]) -> str:
        name = found.group(1)
        if name in ("model", "endpoint"):
            return model
        if name == "publisher":
            return "google"
        return f"{name}1"

    rest = _VARIABLE.sub(fill, template)
    if backend == "gemini":
        version = "/v1beta/"
    else:
        version = "/v1beta1/projects/emu-project/locations/europe-west4/"
    return ("/upload" if route.upload else "") + version + rest


def _body(route: Route, model: str) -> bytes | None:
    if route.body == "none":
        return None
    if route.body == "media":
        return b"file bytes"
    fields: dict[str, Any] = {}
    if route.name == "auth_tokens.create":
        import datetime as dt

        expire = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60)
        fields["bidiGenerateContentSetup"] = {"model": f"models/{model}"}
        fields["expireTime"] = expire.isoformat().replace("+00:00", "Z")
    if route.name == "interactions.auth_tokens.create":
        import datetime as dt

        expire = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60)
        fields["expire_time"] = expire.isoformat().replace("+00:00", "Z")
    if "model" in route.models:
        fields["model"] = f"models/{model}"
    if "baseModel" in route.models:
        fields["baseModel"] = model
    import json

    return json.dumps(fields).encode()


@pytest.fixture(name="rig", scope="module")
def _rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One emulator and a client per backend for the whole module (hundreds of rows)."""
    from golden_path.emulator import Emulator
    from tests.conftest import AuditCapture

    tmp = tmp_path_factory.mktemp("rows")
    audit = AuditCapture()
    with Emulator() as emulator:
        key = tmp / "sa.json"
        emulator.create_service_account_key(key)
        policy_file = tmp / "policy.toml"
        policy_file.write_text(POLICY)
        common = {"base_url": emulator.url, "policy_file": str(policy_file), "audit_sinks": [audit]}
        gemini = golden_path.http_client(backend="ai_studio", api_key="k", **common)
        vertex = golden_path.http_client(
            backend="vertex",
            project="emu-project",
            location="europe-west4",
            credentials_file=str(key),
            **common,
        )
        yield {
            "gemini": gemini,
            "vertex": vertex,
            "url": emulator.url,
            "emulator": emulator,
            "audit": audit,
        }
        gemini.close()
        vertex.close()


@pytest.fixture(name="clients")
def _clients(rig: dict[str, Any]) -> dict[str, Any]:
    # A fresh view per test: the first request of a Vertex test may fetch a token; that is fine.
    rig["emulator"].clear_requests()
    rig["audit"].events.clear()
    return rig


def _send(
    clients: dict[str, Any], route: Route, backend: str, path: str, body: bytes | None
) -> Any:
    http = clients[backend]
    headers = {"content-type": "application/json"} if route.body != "media" else {}
    return http.request(route.http, clients["url"] + path, content=body, headers=headers)


def _on_interaction(
    clients: dict[str, Any], route: Route, backend: str, path: str, reader: Any = None
) -> str:
    """``path`` naming an interaction ``reader`` has read (rows on one interaction need one).

    Created with the rig's client, read with ``reader`` (a GET costs nothing), so golden-path
    knows the model it runs; the emulator's records and the audit are cleared after.
    """
    if "interaction" not in route.models or route.http == "WS":
        return path
    version = path.split("/interactions/", maxsplit=1)[0]
    base = clients["url"] + version + "/interactions"
    created = clients[backend].post(base, json={"model": ALLOWED, "input": "hi"}).json()
    (reader or clients[backend]).get(f"{base}/{created['id']}").raise_for_status()
    clients["emulator"].clear_requests()
    clients["audit"].events.clear()
    return path.replace("/interactions/id1/", f"/interactions/{created['id']}/")


def _expected_model(route: Route) -> str | None:
    if "interaction" in route.models:
        return ALLOWED  # the interaction's model
    if "url" in route.models or (route.model_call and "model" in route.models):
        return ALLOWED
    if "baseModel" in route.models:
        return None  # tuning names its base model in the body; the audit reads the URL's
    return None


@pytest.mark.parametrize(("route", "backend", "template"), list(_cases()))
def test_row_is_sent_and_attributed(
    clients: dict[str, Any], route: Route, backend: str, template: str
) -> None:
    """An allowed request on this row reaches the server and is audited as this row."""
    path = _on_interaction(clients, route, backend, _path(route, backend, template, ALLOWED))
    emulator, audit = clients["emulator"], clients["audit"]
    _send(clients, route, backend, path, _body(route, ALLOWED))
    sent = [r for r in emulator.requests if r.path not in ("/token", "/v1/token")]
    assert len(sent) == 1, (path, emulator.requests)
    event = audit.events[-1]
    assert (event.surface, event.method) == (route.surface, route.name)
    if _expected_model(route) is not None:
        assert event.model == ALLOWED


@pytest.mark.parametrize(
    ("route", "backend", "template"),
    [
        case
        for case in _cases()
        if "{model}" in case.values[2]
        or (case.values[0].model_call and "model" in case.values[0].models)
    ],
)
def test_row_with_a_denied_model_sends_nothing(
    clients: dict[str, Any], route: Route, backend: str, template: str
) -> None:
    """Naming a model outside the allowlist on this row sends nothing at all."""
    path = _path(route, backend, template, DENIED)
    with pytest.raises(golden_path.PolicyViolation) as caught:
        _send(clients, route, backend, path, _body(route, DENIED))
    assert caught.value.policy == "models"
    assert clients["emulator"].requests == []


METERED_POLICY = (
    POLICY
    + """
[rate_limits]
requests_per_minute = 1
scope = "app"
max_wait_s = 0
"""
)


def _metered_cases() -> Iterator[Any]:
    seen: set[tuple[str, str]] = set()
    for case in _cases():
        route, backend, _ = case.values
        if route.meter != "none" and (route.name, backend) not in seen:
            seen.add((route.name, backend))
            yield case


@pytest.mark.parametrize(("route", "backend", "template"), list(_metered_cases()))
def test_metered_row_is_counted(
    rig: dict[str, Any], tmp_path: Any, route: Route, backend: str, template: str
) -> None:
    """A row that costs spends the rate limit: with one request a minute, the second waits."""
    emulator = rig["emulator"]
    policy_file = tmp_path / "metered.toml"
    policy_file.write_text(METERED_POLICY)
    settings: dict[str, Any] = {
        "base_url": emulator.url,
        "policy_file": str(policy_file),
        "app": f"{backend}-{route.name}",
        "audit_sinks": [],
    }
    if backend == "gemini":
        http = golden_path.http_client(backend="ai_studio", api_key="k", **settings)
    else:
        key = tmp_path / "sa.json"
        emulator.create_service_account_key(key)
        http = golden_path.http_client(
            backend="vertex",
            project="emu-project",
            location="europe-west4",
            credentials_file=str(key),
            **settings,
        )
    clients = {backend: http, "url": emulator.url}
    path = _path(route, backend, template, ALLOWED)
    with http:
        path = _on_interaction(rig, route, backend, path, reader=http)
        _send(clients, route, backend, path, _body(route, ALLOWED))
        with pytest.raises(golden_path.BudgetExceeded):
            _send(clients, route, backend, path, _body(route, ALLOWED))
