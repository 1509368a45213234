"""Who an app is to the gateway: issued keys (hashes only, rotatable), OIDC tokens, mTLS."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest

from golden_path.cli import main
from golden_path.exceptions import ConfigError
from golden_path.gateway import issue_key, load_gateway_config, revoke_key
from golden_path.gateway._identity import KeyRing, OIDCVerifier, Unauthenticated, key_digest
from tests.gateway.conftest import make_pki

COUNT = "/v1beta/models/gemini-2.5-flash:countTokens"
BODY = {"contents": [{"parts": [{"text": "a"}]}]}


def _call(running: Any, key: str) -> httpx2.Response:
    return httpx2.post(running.url + COUNT, json=BODY, headers={"x-goog-api-key": key})


def test_keys_file_holds_only_hashes(tmp_path: Path) -> None:
    """The issued key appears nowhere on disk; its SHA-256 does."""
    path = tmp_path / "keys.toml"
    key, key_id = issue_key(path, app="checkout", team="payments")
    text = path.read_text()
    assert key not in text
    assert key_digest(key) in text
    assert key_digest(key).startswith(key_id)
    caller = KeyRing(path).lookup(key)
    assert caller is not None
    assert (caller.app, caller.team, caller.via) == ("checkout", "payments", "key")


def test_rotation_two_keys_then_revoke(gw: Any, audit: Any) -> None:
    """An app may hold two keys during a rotation; revoking the old one locks it out at once
    (the file is re-read on change), while the new one keeps working, without a restart."""
    new = gw.issue("checkout", team="payments")
    assert _call(gw, gw.key).status_code == 200
    assert _call(gw, new).status_code == 200
    old_id = key_digest(gw.key)[:12]
    assert revoke_key(gw.keys_file, old_id) == 1
    time.sleep(1.1)  # the gateway stats the keys file at most once a second on a known key
    response = _call(gw, gw.key)
    assert response.status_code == 401
    assert _call(gw, new).status_code == 200
    assert [e.app for e in audit.events] == ["checkout", "checkout", None, "checkout"]


def test_expired_key_is_refused(tmp_path: Path) -> None:
    """A key past its expiry no longer identifies anybody."""
    path = tmp_path / "keys.toml"
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    key, _ = issue_key(path, app="old", expires=past)
    assert KeyRing(path).lookup(key) is None


_HASH = "a" * 64


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ('[[key]]\napp = "x"\nsha256 = "short"\n', "key[0].sha256", "64 hex characters"),
        ("[[key]\n", "keys_file", "is not valid TOML"),
        ('key = "x"\n', "key", "[[key]] must be an array of tables"),
        ("key = [1]\n", "key[0]", "must be a table"),
        (f'[[key]]\nsha256 = "{_HASH}"\napp = ""\n', "key[0].app", "non-empty string"),
        (f'[[key]]\nsha256 = "{_HASH}"\napp = "x"\nteam = 3\n', "key[0].team", "a string"),
        (
            f'[[key]]\nsha256 = "{_HASH}"\napp = "x"\nexpires = "tomorrow"\n',
            "key[0].expires",
            "TOML date-time",
        ),
    ],
)
def test_broken_keys_file_is_a_config_error_naming_the_entry(
    tmp_path: Path, text: str, field: str, words: str
) -> None:
    """A keys file with a bad entry is refused at start-up with the entry and the file named."""
    path = tmp_path / "keys.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        KeyRing(path)
    assert caught.value.fields == (field,)
    assert words in str(caught.value)
    assert str(path) in str(caught.value)
    assert "golden-path gateway keys issue" in str(caught.value)


def test_missing_keys_file_is_refused_at_start(tmp_path: Path) -> None:
    """A gateway pointed at a keys file that is not there does not start."""
    with pytest.raises(ConfigError) as caught:
        KeyRing(tmp_path / "nope.toml")
    assert "cannot read it" in str(caught.value)


def test_a_keys_file_broken_while_running_keeps_the_last_good_keys(tmp_path: Path) -> None:
    """A half-written or removed keys file must not lock every app out: the gateway keeps
    serving the keys it last read, and picks up the file again once it is whole."""
    path = tmp_path / "keys.toml"
    key, _ = issue_key(path, app="shop")
    ring = KeyRing(path)
    good = path.read_text()
    path.write_text(good + "[[key]\n")
    assert ring.lookup("unknown-key") is None  # an unknown key re-reads the file
    caller = ring.lookup(key)
    assert caller is not None
    assert caller.app == "shop"
    path.unlink()
    assert ring.lookup("unknown-key") is None
    caller = ring.lookup(key)
    assert caller is not None
    assert caller.app == "shop"
    new_key, _ = issue_key(path, app="billing")
    caller = ring.lookup(new_key)
    assert caller is not None
    assert caller.app == "billing"


def test_gateway_config_needs_an_authentication_method() -> None:
    """A gateway no app could authenticate to does not start; the error says what to set."""
    with pytest.raises(ConfigError) as caught:
        load_gateway_config()
    assert "keys_file" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        load_gateway_config(keys_file="k.toml", prot=1)
    assert caught.value.fields == ("prot",)


@pytest.mark.parametrize(
    ("settings", "field", "words"),
    [
        ({"oidc_issuer": "https://idp.example"}, "oidc_issuer", "oidc_audience and oidc_jwks"),
        ({"tls_certfile": "gw.pem"}, "tls_certfile", "tls_certfile and tls_keyfile together"),
        ({"tls_client_ca": "ca.pem"}, "tls_client_ca", "mTLS needs the gateway to terminate TLS"),
    ],
)
def test_gateway_config_refuses_half_configured_authentication(
    settings: dict[str, str], field: str, words: str
) -> None:
    """OIDC without audience and JWKS, a certificate without its key, or mTLS without TLS
    would run a gateway that cannot check callers: it does not start, naming the setting."""
    with pytest.raises(ConfigError) as caught:
        load_gateway_config(keys_file="k.toml", **settings)
    assert field in caught.value.fields
    assert words in str(caught.value)


def test_gateway_config_file_errors_name_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A missing or malformed config file (argument or GOLDEN_PATH_GATEWAY_CONFIG) is a
    ConfigError naming the file; a good file's [gateway] table is read and env overrides it."""
    with pytest.raises(ConfigError) as caught:
        load_gateway_config(tmp_path / "nope.toml")
    assert "cannot read it" in str(caught.value)
    assert "nope.toml" in str(caught.value)
    bad = tmp_path / "bad.toml"
    bad.write_text("[gateway\n")
    monkeypatch.setenv("GOLDEN_PATH_GATEWAY_CONFIG", str(bad))
    with pytest.raises(ConfigError) as caught:
        load_gateway_config()
    assert "is not valid TOML" in str(caught.value)
    assert str(bad) in str(caught.value)
    good = tmp_path / "gateway.toml"
    good.write_text('[gateway]\nkeys_file = "keys.toml"\nport = 8123\n')
    monkeypatch.setenv("GOLDEN_PATH_GATEWAY_CONFIG", str(good))
    monkeypatch.setenv("GOLDEN_PATH_GATEWAY_PORT", "9123")
    config = load_gateway_config()
    assert str(config.keys_file) == "keys.toml"
    assert config.port == 9123


def test_cli_issue_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`golden-path gateway keys` issues a key once, lists it without secrets, revokes it."""
    path = tmp_path / "keys.toml"
    assert main(["gateway", "keys", "issue", "--keys-file", str(path), "--app", "a"]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("gpk_")
    assert main(["gateway", "keys", "list", "--keys-file", str(path)]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["app"] == "a"
    assert key not in json.dumps(row)
    assert key_digest(key) not in json.dumps(row)
    assert main(["gateway", "keys", "revoke", "--keys-file", str(path), row["id"]]) == 0
    assert KeyRing(path).lookup(key) is None
    assert main(["gateway", "keys", "revoke", "--keys-file", str(path), row["id"]]) == 1


def test_cli_issue_with_an_expiry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`keys issue --expires` takes an ISO date-time (a naive one is UTC) and the key stops
    working then; anything else is a one-line error, exit 2, and no key is written."""
    path = tmp_path / "keys.toml"
    issue = ["gateway", "keys", "issue", "--keys-file", str(path), "--app", "a", "--expires"]
    assert main([*issue, "next tuesday"]) == 2
    assert "--expires 'next tuesday' is not an ISO date-time" in capsys.readouterr().err
    assert not path.exists()
    assert main([*issue, "2000-01-01T00:00:00"]) == 0
    expired = capsys.readouterr().out.strip()
    assert main([*issue, "2999-01-01T00:00:00"]) == 0
    valid = capsys.readouterr().out.strip()
    ring = KeyRing(path)
    assert ring.lookup(expired) is None
    caller = ring.lookup(valid)
    assert caller is not None
    assert caller.app == "a"


# ------------------------------------------------------------------------------------ OIDC


@pytest.fixture(name="idp")
def _idp(tmp_path: Path) -> Any:
    """An identity provider: an RSA key, its JWKS on disk, and a token minter (google-auth)."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.auth import crypt, jwt

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = private.public_key().public_numbers()

    def b64(n: int) -> str:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    jwks = tmp_path / "jwks.json"
    jwks.write_text(
        json.dumps(
            {"keys": [{"kty": "RSA", "kid": "k1", "n": b64(numbers.n), "e": b64(numbers.e)}]}
        )
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    signer = crypt.RSASigner.from_string(pem, key_id="k1")

    class IdP:
        jwks_path = str(jwks)

        def token(self, **claims: Any) -> str:
            now = int(time.time())
            payload = {
                "iss": "https://idp.example",
                "aud": "golden-path-gateway",
                "sub": "system:serviceaccount:shop:checkout",
                "iat": now,
                "exp": now + 300,
                **claims,
            }
            return jwt.encode(signer, payload).decode()

    return IdP()


def test_oidc_token_identifies_the_app(start_gateway: Any, idp: Any, audit: Any) -> None:
    """A workload's OIDC token (Kubernetes service account) is mapped to its app and team."""
    running = start_gateway(
        oidc_issuer="https://idp.example",
        oidc_audience="golden-path-gateway",
        oidc_jwks=idp.jwks_path,
        oidc_subjects={"system:serviceaccount:shop:checkout": {"app": "shop", "team": "retail"}},
    )
    response = httpx2.post(
        running.url + COUNT, json=BODY, headers={"authorization": f"Bearer {idp.token()}"}
    )
    assert response.status_code == 200, response.text
    event = audit.only()
    assert (event.app, event.team) == ("shop", "retail")


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"aud": "someone-else"}, "refused"),
        ({"iss": "https://evil.example"}, "issuer"),
        ({"exp": int(time.time()) - 10, "iat": int(time.time()) - 400}, "refused"),
        ({"sub": "system:serviceaccount:shop:unknown"}, "not a registered app"),
    ],
)
def test_oidc_refusals(idp: Any, claims: dict[str, Any], message: str) -> None:
    """Wrong audience, wrong issuer, expired token and unregistered subject are all refused."""
    verifier = OIDCVerifier(
        issuer="https://idp.example",
        audience="golden-path-gateway",
        jwks=idp.jwks_path,
        subjects={"system:serviceaccount:shop:checkout": {"app": "shop"}},
    )
    assert verifier.verify(idp.token()).app == "shop"
    with pytest.raises(Unauthenticated, match=message):
        verifier.verify(idp.token(**claims))


def test_oidc_claims_name_app_and_team(idp: Any) -> None:
    """Without a subject table, the configured claims name the app and team."""
    verifier = OIDCVerifier(
        issuer="https://idp.example",
        audience="golden-path-gateway",
        jwks=idp.jwks_path,
        app_claim="app",
    )
    caller = verifier.verify(idp.token(app="search", team="discovery"))
    assert (caller.app, caller.team, caller.via) == ("search", "discovery", "oidc")


def test_token_signed_by_another_key_is_refused(idp: Any, tmp_path: Path) -> None:
    """A token whose signature does not verify against the JWKS is refused."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.auth import crypt, jwt

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    forged = jwt.encode(
        crypt.RSASigner.from_string(other, key_id="k1"),
        {"iss": "https://idp.example", "aud": "golden-path-gateway", "sub": "x", "app": "x"},
    ).decode()
    verifier = OIDCVerifier(
        issuer="https://idp.example", audience="golden-path-gateway", jwks=idp.jwks_path
    )
    with pytest.raises(Unauthenticated):
        verifier.verify(forged)


# ------------------------------------------------------------------------------------ mTLS


def test_mtls_client_certificate_identifies_the_app(
    start_gateway: Any, tmp_path: Path, audit: Any
) -> None:
    """Over TLS with a client CA, a verified client certificate is the app (CN) and team (OU);
    without one (and without a key) the request is refused."""
    import ssl

    pki = make_pki(tmp_path)
    running = start_gateway(
        tls_certfile=pki["server"], tls_keyfile=pki["server_key"], tls_client_ca=pki["ca"]
    )
    context = ssl.create_default_context(cafile=str(pki["ca"]))
    context.load_cert_chain(str(pki["client"]), str(pki["client_key"]))
    with httpx2.Client(verify=context) as client:
        response = client.post(running.url + COUNT, json=BODY)
    assert response.status_code == 200, response.text
    event = audit.only()
    assert (event.app, event.team) == ("billing", "finance")
    anonymous = ssl.create_default_context(cafile=str(pki["ca"]))
    with httpx2.Client(verify=anonymous) as client:
        assert client.post(running.url + COUNT, json=BODY).status_code == 401
