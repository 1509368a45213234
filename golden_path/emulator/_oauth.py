"""Credentials the emulator issues and checks: OAuth2 token endpoint, STS and IAM impersonation.

Each grant is answered the way google-auth expects to parse it (``google/oauth2/_client.py``,
``sts.py``, ``impersonated_credentials.py``). ``cryptography`` is imported only when a key is made
or a JWT is checked, so importing the emulator stays cheap.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any

from golden_path.emulator._answers import as_list
from golden_path.emulator._http import Incoming, Reply, error_info, google_error, json_reply
from golden_path.emulator._records import IssuedToken

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

# Grant and token-type URNs and a URL, not secrets (hence the S105 waivers).
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105
CLOCK_SKEW_S = 300
"""How far a JWT's ``iat`` may be in the future, as Google tolerates."""
_IAM_SERVICE = "iamcredentials.googleapis.com"

# A 2048-bit RSA key takes ~100 ms to generate, too slow for a fixture run per test; each account
# email gets one key per process, shared by every emulator in it (each registers it under a new
# key id, and an emulator accepts only keys registered with it).
_KEY_CACHE: dict[str, RSAPrivateKey] = {}
_KEY_CACHE_LOCK = threading.Lock()


@dataclasses.dataclass(frozen=True, slots=True)
class _RefreshGrant:
    subject: str
    client_id: str
    client_secret: str


class Authority:
    """Everything about identities: registered keys, refresh tokens, issued access tokens."""

    def __init__(self, token_lifetime_s: int) -> None:
        self.token_lifetime_s = token_lifetime_s
        self.token_urls: tuple[str, ...] = (GOOGLE_TOKEN_URL,)
        self._lock = threading.Lock()
        self._keys_by_id: dict[str, RSAPublicKey] = {}
        self._keys_by_email: dict[str, list[RSAPublicKey]] = {}
        self._refresh: dict[str, _RefreshGrant] = {}
        self._tokens: dict[str, IssuedToken] = {}
        self._issued: list[IssuedToken] = []

    # -- registration ----------------------------------------------------------------------------

    def new_service_account_key(self, email: str) -> tuple[str, str]:
        """Make an RSA key for ``email``; return its id and PEM private key."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        with _KEY_CACHE_LOCK:
            key = _KEY_CACHE.get(email)
            if key is None:
                key = _KEY_CACHE[email] = rsa.generate_private_key(
                    public_exponent=65537, key_size=2048
                )
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        key_id = secrets.token_hex(20)
        with self._lock:
            self._keys_by_id[key_id] = key.public_key()
            self._keys_by_email.setdefault(email, []).append(key.public_key())
        return key_id, pem

    def new_refresh_token(self, subject: str, client_id: str, client_secret: str) -> str:
        """Register an authorized user; return the refresh token to put in its ADC file."""
        token = "1//emu-" + secrets.token_urlsafe(24)
        with self._lock:
            self._refresh[token] = _RefreshGrant(subject, client_id, client_secret)
        return token

    # -- tokens ----------------------------------------------------------------------------------

    @property
    def issued(self) -> list[IssuedToken]:
        """Every access token issued so far, oldest first."""
        with self._lock:
            return list(self._issued)

    def issue(
        self,
        subject: str,
        grant: str,
        scopes: tuple[str, ...] = (),
        *,
        delegates: tuple[str, ...] = (),
        source: str | None = None,
    ) -> IssuedToken:
        """Issue an access token for ``subject`` that lives ``token_lifetime_s`` seconds."""
        now = time.time()
        issued = IssuedToken(
            token="ya29.emu-" + secrets.token_urlsafe(32),
            subject=subject,
            grant=grant,
            scopes=scopes,
            issued_at=now,
            expires_at=now + self.token_lifetime_s,
            delegates=delegates,
            source=source,
        )
        with self._lock:
            self._tokens[issued.token] = issued
            self._issued.append(issued)
        return issued

    def check_token(self, token: str) -> IssuedToken | str:
        """Return the issued token, or the ErrorInfo reason it is not acceptable."""
        with self._lock:
            issued = self._tokens.get(token)
        if issued is None:
            return "ACCESS_TOKEN_TYPE_UNSUPPORTED"
        if time.time() >= issued.expires_at:
            return "ACCESS_TOKEN_EXPIRED"
        return issued

    # -- the token endpoint ----------------------------------------------------------------------

    def token_endpoint(self, incoming: Incoming) -> Reply:
        """``POST /token`` (and the STS ``/v1/token``): one grant per ``grant_type``."""
        form = incoming.body if isinstance(incoming.body, dict) else {}
        grant_type = form.get("grant_type", "")
        if incoming.method != "POST":
            return _oauth_error(405, "invalid_request", "Token requests must be POSTed.")
        if grant_type == JWT_BEARER:
            return self._jwt_bearer(str(form.get("assertion", "")))
        if grant_type == "refresh_token":
            return self._refresh_grant(form)
        if grant_type == TOKEN_EXCHANGE:
            return self._token_exchange(form)
        return _oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    def _jwt_bearer(self, assertion: str) -> Reply:
        claims = self._verify_jwt(assertion)
        if isinstance(claims, str):
            return _oauth_error(400, "invalid_grant", claims)
        scopes = tuple(str(claims.get("scope", "")).split())
        issued = self.issue(str(claims.get("sub") or claims["iss"]), "jwt-bearer", scopes)
        return json_reply(
            {
                "access_token": issued.token,
                "expires_in": self.token_lifetime_s,
                "token_type": "Bearer",
            }
        )

    def _verify_jwt(  # noqa: PLR0911 -- one return per check, first failure wins
        self, assertion: str
    ) -> dict[str, Any] | str:
        """Return the JWT's claims once signature and times check out, else Google's message."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            header_b64, payload_b64, signature_b64 = assertion.split(".")
            header = json.loads(_b64decode(header_b64))
            claims = json.loads(_b64decode(payload_b64))
            signature = _b64decode(signature_b64)
        except (ValueError, binascii.Error):
            return "Invalid JWT: the assertion is not a well-formed JWT."
        if not isinstance(header, dict) or not isinstance(claims, dict):
            return "Invalid JWT: the assertion is not a well-formed JWT."
        if header.get("alg") != "RS256":
            return "Invalid JWT Signature."
        with self._lock:
            key = self._keys_by_id.get(str(header.get("kid")))
            candidates = [key] if key else list(self._keys_by_email.get(str(claims.get("iss")), []))
        signed = f"{header_b64}.{payload_b64}".encode()
        for candidate in candidates:
            try:
                candidate.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
                break
            except InvalidSignature:
                continue
        else:
            return "Invalid JWT Signature."
        now = time.time()
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int | float) or not isinstance(iat, int | float):
            return "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe."
        if exp <= now or iat > now + CLOCK_SKEW_S or exp - iat > 3600:
            return (
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
                "timeframe. Check your iat and exp values in the JWT claim."
            )
        if claims.get("aud") not in self.token_urls:
            return f"Invalid JWT: audience {claims.get('aud')!r} is not this token endpoint."
        return claims

    def _refresh_grant(self, form: dict[str, Any]) -> Reply:
        with self._lock:
            grant = self._refresh.get(str(form.get("refresh_token", "")))
        if grant is None:
            return _oauth_error(400, "invalid_grant", "Bad Request")
        if (form.get("client_id"), form.get("client_secret")) != (
            grant.client_id,
            grant.client_secret,
        ):
            return _oauth_error(401, "invalid_client", "The OAuth client was not found.")
        scopes = tuple(str(form.get("scope", "")).split())
        issued = self.issue(grant.subject, "refresh_token", scopes)
        return json_reply(
            {
                "access_token": issued.token,
                "expires_in": self.token_lifetime_s,
                "token_type": "Bearer",
                "scope": " ".join(scopes),
            }
        )

    def _token_exchange(self, form: dict[str, Any]) -> Reply:
        subject_token = str(form.get("subject_token", ""))
        audience = str(form.get("audience", ""))
        if not subject_token or not form.get("subject_token_type"):
            return _oauth_error(400, "invalid_request", "subject_token and its type are required")
        if not audience.startswith("//iam.googleapis.com/"):
            return _oauth_error(400, "invalid_request", f"Invalid value for audience: {audience!r}")
        pool = audience.removeprefix("//iam.googleapis.com/").split("/providers/")[0]
        subject = (
            f"principal://iam.googleapis.com/{pool}/subject/{_external_subject(subject_token)}"
        )
        issued = self.issue(subject, "token-exchange", tuple(str(form.get("scope", "")).split()))
        return json_reply(
            {
                "access_token": issued.token,
                "issued_token_type": ACCESS_TOKEN_TYPE,
                "token_type": "Bearer",
                "expires_in": self.token_lifetime_s,
            }
        )

    # -- IAM impersonation -----------------------------------------------------------------------

    def generate_access_token(self, incoming: Incoming, target: str) -> tuple[Reply, str | None]:
        """Answer IAM ``generateAccessToken`` for ``target``; also return the caller's subject."""
        source = self.bearer(incoming)
        if isinstance(source, Reply):
            return source, None
        if "@" not in target:
            return google_error(
                400,
                f"Invalid service account email {target!r}: the IAM endpoint must embed the "
                "target principal, e.g. emu.iam_endpoint.format(email).",
            ), source.subject
        body = incoming.body if isinstance(incoming.body, dict) else {}
        delegates = tuple(str(d).rsplit("/", 1)[-1] for d in as_list(body.get("delegates")))
        scopes = tuple(str(s) for s in as_list(body.get("scope")))
        issued = self.issue(
            target, "impersonation", scopes, delegates=delegates, source=source.subject
        )
        expire = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(issued.expires_at))
        return json_reply({"accessToken": issued.token, "expireTime": expire}), source.subject

    def bearer(self, incoming: Incoming, service: str = _IAM_SERVICE) -> IssuedToken | Reply:
        """Return the valid issued token in ``Authorization: Bearer``, or Google's 401."""
        header = incoming.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return unauthenticated("CREDENTIALS_MISSING", service)
        checked = self.check_token(token.strip())
        if isinstance(checked, str):
            return unauthenticated(checked, service)
        return checked


def unauthenticated(reason: str, service: str) -> Reply:
    """Google's 401 for a missing, unknown or expired access token."""
    return google_error(
        401,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
        "cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project.",
        details=[error_info(reason, service)],
    )


def _oauth_error(status: int, error: str, description: str) -> Reply:
    return json_reply({"error": error, "error_description": description}, status)


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _external_subject(subject_token: str) -> str:
    """Return the ``sub`` of a JWT subject token, else a stable digest of an opaque one."""
    pieces = subject_token.split(".")
    if len(pieces) == 3:
        try:
            claims = json.loads(_b64decode(pieces[1]))
        except (ValueError, binascii.Error):
            claims = None
        if isinstance(claims, dict) and isinstance(claims.get("sub"), str):
            return str(claims["sub"])
    return hashlib.sha256(subject_token.encode()).hexdigest()[:16]
