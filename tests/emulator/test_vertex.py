"""Vertex AI and its credentials, driven by the real google-genai SDK and google-auth."""

from __future__ import annotations

import asyncio
import base64
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
from google import genai
from google.auth import identity_pool, impersonated_credentials
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request
from google.genai import errors
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

from golden_path.emulator import Emulator
from tests._sdk import vertex_embed_action

from .conftest import CLOUD_PLATFORM, MODEL, http_options

VERTEX_PREFIX = "/v1beta1/projects/emu-project/locations/us-central1/publishers/google/models"
SA_EMAIL = "app@emu-project.iam.gserviceaccount.com"
AIOHTTP_SUBCLASS = "ignore:Inheritance class AiohttpClientSession:DeprecationWarning"


def test_generate_with_service_account_key(vertex: genai.Client, emu: Emulator) -> None:
    """A service-account key file gets a token via jwt-bearer, then generateContent answers."""
    response = vertex.models.generate_content(model=MODEL, contents="vertex hello")
    assert response.text == "Echo: vertex hello"
    assert response.create_time is not None
    token, call = emu.requests
    assert (token.kind, token.path) == ("oauth", "/token")
    assert token.body["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert call.path == f"{VERTEX_PREFIX}/{MODEL}:generateContent"
    assert call.principal == SA_EMAIL
    [issued] = emu.issued_tokens
    assert issued.subject == SA_EMAIL
    assert issued.scopes == (CLOUD_PLATFORM,)
    assert call.headers["authorization"] == f"Bearer {issued.token}"


def test_stream_count_and_async(vertex: genai.Client) -> None:
    """Vertex streams in >= 3 chunks, counts tokens, and answers client.aio."""
    chunks = list(vertex.models.generate_content_stream(model=MODEL, contents="vertex stream"))
    assert len(chunks) >= 3
    assert "".join(c.text or "" for c in chunks) == "Echo: vertex stream"
    assert vertex.models.count_tokens(model=MODEL, contents="vertex stream").total_tokens == 4


@pytest.mark.filterwarnings(AIOHTTP_SUBCLASS)
def test_async_vertex(vertex: genai.Client) -> None:
    """client.aio on Vertex refreshes the token and answers."""

    async def call() -> str | None:
        async with vertex.aio as aio:
            response = await aio.models.generate_content(model=MODEL, contents="vertex async")
        return response.text

    assert asyncio.run(call()) == "Echo: vertex async"


@pytest.mark.parametrize(
    ("model", "contents"),
    [
        ("gemini-embedding-001", "one"),
        ("gemini-embedding-001", ["one", "two"]),
        ("text-embedding-004", ["one", "two"]),
    ],
)
def test_embeddings_each_vertex_method(
    vertex: genai.Client, emu: Emulator, model: str, contents: Any
) -> None:
    """The SDK picks embedContent, batchEmbedContents or predict; each answers its own shape."""
    action = vertex_embed_action(model, 1 if isinstance(contents, str) else len(contents))
    result = vertex.models.embed_content(
        model=model, contents=contents, config={"output_dimensionality": 32}
    )
    assert result.embeddings is not None
    assert len(result.embeddings) == (1 if isinstance(contents, str) else len(contents))
    for embedding in result.embeddings:
        assert len(embedding.values or []) == 32
        assert math.isclose(sum(v * v for v in embedding.values or []), 1.0)
    assert emu.api_requests()[-1].path == f"{VERTEX_PREFIX}/{model}:{action}"


def test_models_list_and_get(vertex: genai.Client, emu: Emulator) -> None:
    """Vertex lists publisher models (no project in the path) and gets one."""
    names = [m.name for m in vertex.models.list()]
    assert "publishers/google/models/gemini-2.5-pro" in names
    assert vertex.models.get(model=MODEL).name == f"publishers/google/models/{MODEL}"
    assert emu.api_requests()[0].path == "/v1beta1/publishers/google/models"


def _vertex_with_key(emu: Emulator, tmp_path: Path) -> genai.Client:
    """A Vertex client on ``emu`` authenticated by a fresh service-account key file."""
    path = tmp_path / "sa.json"
    emu.create_service_account_key(path)
    creds = service_account.Credentials.from_service_account_file(
        str(path), scopes=[CLOUD_PLATFORM]
    )
    return genai.Client(
        vertexai=True,
        project="emu-project",
        location="us-central1",
        credentials=creds,
        http_options=http_options(emu),
    )


def test_short_lived_tokens_are_refreshed(
    make_vertex: Callable[[Any], genai.Client], tmp_path: Path
) -> None:
    """With a lifetime under google-auth's 225 s margin, every call fetches a fresh token."""
    with Emulator(token_lifetime_s=200) as emu:
        client = _vertex_with_key(emu, tmp_path)
        for _ in range(3):
            client.models.generate_content(model=MODEL, contents="again")
        client.close()
        token_requests = [r for r in emu.requests if r.path == "/token"]
        assert len(token_requests) == 3
        tokens = [r.headers["authorization"] for r in emu.api_requests()]
        assert len(set(tokens)) == 3
        assert [t.token for t in emu.issued_tokens] == [t.removeprefix("Bearer ") for t in tokens]


def test_long_lived_token_is_reused(vertex: genai.Client, emu: Emulator) -> None:
    """With the default hour-long lifetime, one token serves many calls."""
    for _ in range(3):
        vertex.models.generate_content(model=MODEL, contents="again")
    assert len(emu.issued_tokens) == 1


def test_unknown_token_is_401(make_vertex: Callable[[Any], genai.Client]) -> None:
    """A Bearer token the emulator did not issue answers 401 UNAUTHENTICATED."""
    client = make_vertex(user_credentials.Credentials(token="forged"))  # type: ignore[no-untyped-call]
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model=MODEL, contents="hi")
    assert caught.value.code == 401
    assert caught.value.status == "UNAUTHENTICATED"
    assert caught.value.details["error"]["details"][0]["reason"] == "ACCESS_TOKEN_TYPE_UNSUPPORTED"


def test_expired_token_is_401(tmp_path: Path) -> None:
    """A token past its lifetime answers 401 with reason ACCESS_TOKEN_EXPIRED."""
    with Emulator(token_lifetime_s=0) as emu:
        client = _vertex_with_key(emu, tmp_path)
        with pytest.raises(errors.ClientError) as caught:
            client.models.generate_content(model=MODEL, contents="hi")
        client.close()
    assert caught.value.code == 401
    assert caught.value.details["error"]["details"][0]["reason"] == "ACCESS_TOKEN_EXPIRED"


def test_forged_jwt_is_invalid_grant(emu: Emulator, tmp_path: Path) -> None:
    """A key the emulator did not register cannot get a token: 400 invalid_grant."""
    info = emu.create_service_account_key()
    other = Emulator().create_service_account_key(email="other@emu-project.iam.gserviceaccount.com")
    info["private_key"], info["private_key_id"] = other["private_key"], other["private_key_id"]
    creds = service_account.Credentials.from_service_account_info(info, scopes=[CLOUD_PLATFORM])
    with pytest.raises(RefreshError, match="invalid_grant"):
        creds.refresh(Request())
    assert emu.issued_tokens == []


def test_impersonation(
    make_vertex: Callable[[Any], genai.Client], sa_credentials: Any, emu: Emulator
) -> None:
    """Impersonated credentials get a token for the target from the IAM endpoint here."""
    target = "target@emu-project.iam.gserviceaccount.com"
    creds = impersonated_credentials.Credentials(
        source_credentials=sa_credentials,
        target_principal=target,
        target_scopes=[CLOUD_PLATFORM],
        delegates=["projects/-/serviceAccounts/middle@emu-project.iam.gserviceaccount.com"],
        lifetime=600,
        iam_endpoint_override=emu.iam_endpoint.format(target),
    )
    client = make_vertex(creds)
    assert client.models.generate_content(model=MODEL, contents="as target").text == (
        "Echo: as target"
    )
    source, impersonated = emu.issued_tokens
    assert (source.subject, source.grant) == (SA_EMAIL, "jwt-bearer")
    assert (impersonated.subject, impersonated.grant) == (target, "impersonation")
    assert impersonated.source == SA_EMAIL
    assert impersonated.delegates == ("middle@emu-project.iam.gserviceaccount.com",)
    iam_call = next(r for r in emu.requests if r.path.endswith(":generateAccessToken"))
    assert iam_call.principal == SA_EMAIL
    assert emu.api_requests()[0].principal == target


def test_unformatted_iam_endpoint_is_explained(
    make_vertex: Callable[[Any], genai.Client], sa_credentials: Any, emu: Emulator
) -> None:
    """google-auth uses iam_endpoint_override verbatim, so the template must be formatted first."""
    creds = impersonated_credentials.Credentials(
        source_credentials=sa_credentials,
        target_principal="target@emu-project.iam.gserviceaccount.com",
        target_scopes=[CLOUD_PLATFORM],
        iam_endpoint_override=emu.iam_endpoint,
    )
    with pytest.raises(RefreshError, match=r"emu.iam_endpoint.format\(email\)"):
        creds.refresh(Request())


def test_iam_needs_a_valid_source_token(raw: httpx2.Client, emu: Emulator) -> None:
    """generateAccessToken without an issued Bearer token answers 401."""
    url = emu.iam_endpoint_for("x@p.iam.gserviceaccount.com").removeprefix(emu.url)
    response = raw.post(url, json={"scope": [CLOUD_PLATFORM]})
    assert response.status_code == 401


def test_external_account_with_impersonation(
    make_vertex: Callable[[Any], genai.Client], emu: Emulator, tmp_path: Path
) -> None:
    """Workload identity federation: STS exchange of a file-sourced token, then impersonation."""
    subject_token = tmp_path / "token.txt"
    subject_token.write_text("opaque-oidc-token-from-ci")
    config = tmp_path / "wif.json"
    emu.create_external_account_file(config, subject_token, impersonate=SA_EMAIL)
    creds = identity_pool.Credentials.from_file(str(config), scopes=[CLOUD_PLATFORM])
    client = make_vertex(creds)
    assert client.models.generate_content(model=MODEL, contents="wif").text == "Echo: wif"
    federated, impersonated = emu.issued_tokens
    assert federated.grant == "token-exchange"
    assert federated.subject.startswith(
        "principal://iam.googleapis.com/projects/123456789/locations/global/"
        "workloadIdentityPools/emu-pool/subject/"
    )
    assert (impersonated.subject, impersonated.source) == (SA_EMAIL, federated.subject)
    sts = next(r for r in emu.requests if r.path == "/v1/token")
    assert sts.body["subject_token"] == "opaque-oidc-token-from-ci"


def test_external_account_without_impersonation(
    make_vertex: Callable[[Any], genai.Client], emu: Emulator, tmp_path: Path
) -> None:
    """A federated token is accepted directly; its subject is the JWT's sub claim."""
    subject_token = tmp_path / "token.jwt"
    claims = json.dumps({"sub": "repo:acme/app:ref:refs/heads/main"}).encode()
    payload = base64.urlsafe_b64encode(claims).decode().rstrip("=")
    subject_token.write_text(f"e30.{payload}.sig")
    config = tmp_path / "wif.json"
    emu.create_external_account_file(config, subject_token)
    creds = identity_pool.Credentials.from_file(str(config), scopes=[CLOUD_PLATFORM])
    client = make_vertex(creds)
    client.models.generate_content(model=MODEL, contents="wif")
    [federated] = emu.issued_tokens
    assert federated.subject.endswith("/subject/repo:acme/app:ref:refs/heads/main")
    assert emu.api_requests()[0].principal == federated.subject


def test_authorized_user_refresh_token(
    make_vertex: Callable[[Any], genai.Client], emu: Emulator, tmp_path: Path
) -> None:
    """ADC user credentials refresh against the emulator when given its token_uri."""
    info = emu.create_authorized_user_file(tmp_path / "adc.json", email="dev@example.com")
    creds = user_credentials.Credentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token=info["refresh_token"],
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        token_uri=emu.token_url,
    )
    client = make_vertex(creds)
    client.models.generate_content(model=MODEL, contents="as a user")
    [issued] = emu.issued_tokens
    assert (issued.subject, issued.grant) == ("dev@example.com", "refresh_token")
    assert json.loads((tmp_path / "adc.json").read_text())["type"] == "authorized_user"


def test_express_mode_with_api_key(emu: Emulator) -> None:
    """Vertex express mode (vertexai=True with an API key) uses the publisher path and the key."""
    client = genai.Client(vertexai=True, api_key="express-key", http_options=http_options(emu))
    assert client.models.generate_content(model=MODEL, contents="express").text == "Echo: express"
    client.close()
    [call] = emu.api_requests()
    assert call.path == f"/v1beta1/publishers/google/models/{MODEL}:generateContent"
    assert call.principal == "api_key:express-key"


def test_vertex_without_credentials_is_401(raw: httpx2.Client) -> None:
    """A Vertex project path without a Bearer token answers 401 CREDENTIALS_MISSING."""
    response = raw.post(
        f"{VERTEX_PREFIX}/{MODEL}:generateContent",
        headers={"x-goog-api-key": "k"},
        json={"contents": [{"role": "user", "parts": [{"text": "x"}]}]},
    )
    assert response.status_code == 401
    assert response.json()["error"]["details"][0]["reason"] == "CREDENTIALS_MISSING"
