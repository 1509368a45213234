"""Who is calling the gateway: per-app keys, OIDC tokens or mTLS client certificates.

The gateway alone holds Google credentials. Apps present their own identity, and that identity
(app and team) is what policies, limits and audit see:

- **Per-app keys** (``gpk_...``) the platform issues with ``golden-path gateway keys issue``.
  Only the SHA-256 of each key is stored. A key is 32 random bytes, so a fast hash is as safe as
  a slow one (nothing to guess) and costs microseconds per request where scrypt would cost tens
  of milliseconds. Several keys per app may be active at once: rotation is issue, roll out,
  revoke. The keys file is re-read when it changes, so a rotation needs no restart.
- **OIDC** (``Authorization: Bearer <JWT>``): signature checked with google-auth's JWT tools
  against a JWKS file or URL, issuer and audience pinned; claims name the app and team.
- **mTLS**: the verified client certificate's subject (CN = app, OU = team) when the gateway
  terminates TLS with a client CA.

An app's credential is read from ``x-goog-api-key``, ``Authorization: Bearer`` or the ``key``
query parameter (what each SDK sends), and is never forwarded upstream.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import secrets
import threading
import time
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from golden_path.exceptions import ConfigError, ConfigProblem, GoldenPathError

__all__ = [
    "Caller",
    "KeyRing",
    "MTLSIdentities",
    "OIDCVerifier",
    "Unauthenticated",
    "issue_key",
    "revoke_key",
]

KEY_PREFIX = "gpk_"
_RELOAD_EVERY_S = 1.0


class Unauthenticated(GoldenPathError):
    """The caller presented no credential the gateway accepts (answered 401)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated app: what sets ``app`` and ``team`` for policies, limits and audit.

    ``via`` is ``key``, ``oidc`` or ``mtls``; ``key_id`` names the key or subject used (never
    the secret itself).
    """

    app: str
    team: str | None
    via: str
    key_id: str


def key_digest(key: str) -> str:
    """The stored form of a key: its SHA-256, hex.

    From a copy of one fresh SHA-256 state: a new one looks the algorithm up in OpenSSL each
    time (every request of every app is authenticated this way).
    """
    state = _SHA256.copy()
    state.update(key.encode())
    return state.hexdigest()


_SHA256 = hashlib.sha256()  # never updated: only copied


@dataclasses.dataclass(frozen=True, slots=True)
class _KeyEntry:
    caller: Caller  # the same for every request with this key: made once
    expires: dt.datetime | None


class KeyRing:
    """The issued app keys, by hash; re-read when the file changes (rotation without restart)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._checked = 0.0
        self._entries: dict[str, _KeyEntry] = {}
        self._reload(force=True)

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: str) -> Caller | None:
        """The app a key belongs to, or None (unknown, revoked or expired)."""
        now = time.monotonic()
        if now - self._checked > _RELOAD_EVERY_S:
            self._reload()
        digest = key_digest(key)
        entry = self._entries.get(digest)
        if entry is None:
            # A key issued a moment ago: look at the file again (a stat, unless it changed).
            self._reload()
            entry = self._entries.get(digest)
            if entry is None:
                return None
        if entry.expires is not None and entry.expires <= dt.datetime.now(dt.UTC):
            return None
        return entry.caller

    def _reload(self, *, force: bool = False) -> None:
        with self._lock:
            self._checked = time.monotonic()
            try:
                st = self.path.stat()
            except OSError as exc:
                if force:
                    raise _keys_problem(self.path, f"cannot read it ({exc.strerror})") from None
                return  # keep the keys we have: a remount in progress must not lock apps out
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
            if stamp == self._stamp and not force:
                return
            try:
                self._entries = _read_keys(self.path)
            except ConfigError:
                if force:
                    raise
                return  # a half-written file: keep serving the last good set
            self._stamp = stamp


def _keys_problem(path: Path, message: str, field: str = "keys_file") -> ConfigError:
    fix = "create it with `golden-path gateway keys issue --keys-file PATH --app NAME`"
    return ConfigError([ConfigProblem(field, message, str(path), fix)])


def _read_keys(path: Path) -> dict[str, _KeyEntry]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise _keys_problem(path, f"cannot read it ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise _keys_problem(path, f"is not valid TOML ({exc})") from None
    rows = data.get("key", [])
    if not isinstance(rows, list):
        raise _keys_problem(path, "[[key]] must be an array of tables", "key")
    entries: dict[str, _KeyEntry] = {}
    for index, row in enumerate(rows):
        where = f"key[{index}]"
        if not isinstance(row, dict):
            raise _keys_problem(path, "must be a table", where)
        digest = row.get("sha256")
        app = row.get("app")
        if not isinstance(digest, str) or len(digest) != 64:
            raise _keys_problem(path, "sha256 must be 64 hex characters", f"{where}.sha256")
        if not isinstance(app, str) or not app:
            raise _keys_problem(path, "app must be a non-empty string", f"{where}.app")
        team = row.get("team")
        if team is not None and not isinstance(team, str):
            raise _keys_problem(path, "team must be a string", f"{where}.team")
        expires = row.get("expires")
        if expires is not None and not isinstance(expires, dt.datetime):
            raise _keys_problem(path, "expires must be a TOML date-time", f"{where}.expires")
        if isinstance(expires, dt.datetime) and expires.tzinfo is None:
            expires = expires.replace(tzinfo=dt.UTC)
        caller = Caller(app=app, team=team, via="key", key_id=digest[:12].lower())
        entries[digest.lower()] = _KeyEntry(caller, expires)
    return entries


def issue_key(
    path: Path, *, app: str, team: str | None = None, expires: dt.datetime | None = None
) -> tuple[str, str]:
    """Create a key for ``app``, store its hash in ``path``; returns ``(key, key_id)``.

    The key itself is shown once and stored nowhere.
    """
    key = KEY_PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    digest = key_digest(key)
    lines = ["", "[[key]]", f"app = {json.dumps(app)}"]
    if team:
        lines.append(f"team = {json.dumps(team)}")
    lines.append(f'sha256 = "{digest}"')
    created = dt.datetime.now(dt.UTC).replace(microsecond=0)
    lines.append(f"created = {created.isoformat().replace('+00:00', 'Z')}")
    if expires is not None:
        lines.append(f"expires = {expires.isoformat().replace('+00:00', 'Z')}")
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    if existing:
        _read_keys(path)  # refuse to append to a file we could not read back
    _write_atomically(path, existing.rstrip("\n") + "\n".join(lines) + "\n")
    return key, digest[:12]


def revoke_key(path: Path, key_id: str) -> int:
    """Remove every key whose id (hash prefix) starts with ``key_id``; returns how many."""
    if len(key_id) < 8:
        raise _keys_problem(path, "give at least 8 characters of the key id", "key_id")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    rows = data.get("key", [])
    kept = [row for row in rows if not str(row.get("sha256", "")).startswith(key_id.lower())]
    removed = len(rows) - len(kept)
    if removed:
        _write_atomically(path, _dump_rows(kept))
    return removed


def list_keys(path: Path) -> list[dict[str, Any]]:
    """The keys of ``path`` without their hashes: app, team, id, created, expires."""
    data = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return [
        {
            "id": str(row.get("sha256", ""))[:12],
            "app": row.get("app"),
            "team": row.get("team"),
            "created": row.get("created"),
            "expires": row.get("expires"),
        }
        for row in data.get("key", [])
    ]


def _dump_rows(rows: list[dict[str, Any]]) -> str:
    out = ["# golden-path gateway app keys: SHA-256 hashes only (golden-path gateway keys)"]
    for row in rows:
        out += ["", "[[key]]"]
        for name, value in row.items():
            if isinstance(value, dt.datetime):
                out.append(f"{name} = {value.isoformat().replace('+00:00', 'Z')}")
            else:
                out.append(f"{name} = {json.dumps(value)}")
    return "\n".join(out) + "\n"


def _write_atomically(path: Path, text: str) -> None:
    # Replace, never rewrite in place: a gateway reading the file sees the old or the new set.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, 0o640)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------ OIDC


class OIDCVerifier:
    """Verifies OIDC bearer tokens against a JWKS (file or URL), pinned issuer and audience."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks: str,
        app_claim: str = "sub",
        team_claim: str | None = "team",
        subjects: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.jwks = jwks
        self.app_claim = app_claim
        self.team_claim = team_claim
        self.subjects = dict(subjects or {})
        self._lock = threading.Lock()
        self._keys: dict[str, bytes] = {}
        self._fetched = 0.0
        self._load()

    def _load(self) -> None:
        raw = _read_jwks(self.jwks)
        try:
            document = json.loads(raw)
            keys = {str(k.get("kid", "")): _jwk_to_pem(k) for k in document["keys"]}
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                [
                    ConfigProblem(
                        "oidc_jwks",
                        f"is not a JWKS document ({type(exc).__name__}: {exc})",
                        self.jwks,
                        'serve {"keys": [...]} as your identity provider publishes it',
                    )
                ]
            ) from None
        self._keys = keys
        self._fetched = time.monotonic()

    def verify(self, token: str) -> Caller:
        """The caller a token names; Unauthenticated when it is not valid here."""
        import google.auth.exceptions
        from google.auth import jwt

        try:
            header = json.loads(_b64(token.split(".", 1)[0]))
        except (ValueError, IndexError):
            raise Unauthenticated("the bearer token is not a JWT") from None
        kid = str(header.get("kid", ""))
        if kid not in self._keys and time.monotonic() - self._fetched > 60:
            # Key rotation at the identity provider: look again, at most once a minute.
            with self._lock, contextlib.suppress(ConfigError, OSError):
                self._load()
        try:
            claims = jwt.decode(token, certs=self._keys, audience=self.audience)
        except (google.auth.exceptions.GoogleAuthError, ValueError) as exc:
            raise Unauthenticated(f"the OIDC token was refused: {exc}") from None
        if claims.get("iss") != self.issuer:
            raise Unauthenticated(
                f"the OIDC token's issuer {claims.get('iss')!r} is not {self.issuer!r}"
            )
        subject = str(claims.get("sub", ""))
        if self.subjects:
            mapped = self.subjects.get(subject)
            if mapped is None:
                raise Unauthenticated(f"the OIDC subject {subject!r} is not a registered app")
            return Caller(mapped["app"], mapped.get("team"), "oidc", subject)
        app = claims.get(self.app_claim)
        if not isinstance(app, str) or not app:
            raise Unauthenticated(f"the OIDC token has no {self.app_claim!r} claim naming the app")
        team = claims.get(self.team_claim) if self.team_claim else None
        return Caller(app, str(team) if team is not None else None, "oidc", subject)


def _read_jwks(source: str) -> bytes:
    if source.startswith(("http://", "https://")):
        import httpx2

        from golden_path._tls import ensure_trust

        try:
            response = httpx2.get(source, timeout=10, verify=ensure_trust())
            response.raise_for_status()
        except httpx2.HTTPError as exc:
            raise ConfigError(
                [ConfigProblem("oidc_jwks", f"cannot fetch it ({exc})", source, "check the URL")]
            ) from None
        return response.content
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem("oidc_jwks", f"cannot read it ({exc.strerror})", source, "")]
        ) from None


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _jwk_to_pem(jwk: Mapping[str, Any]) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    kty = jwk.get("kty")
    public: Any
    if kty == "RSA":
        n = int.from_bytes(_b64(jwk["n"]), "big")
        e = int.from_bytes(_b64(jwk["e"]), "big")
        public = rsa.RSAPublicNumbers(e, n).public_key()
    elif kty == "EC" and jwk.get("crv") == "P-256":
        x = int.from_bytes(_b64(jwk["x"]), "big")
        y = int.from_bytes(_b64(jwk["y"]), "big")
        public = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    else:
        raise ValueError(f"unsupported key type {kty!r} (RSA or EC P-256)")
    pem: bytes = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem


# ------------------------------------------------------------------------------------ mTLS


class MTLSIdentities:
    """Client certificates verified by the TLS layer: subject CN is the app, OU the team.

    ``subjects`` (optional) maps a CN to ``{app, team}`` and then admits only those CNs.
    """

    def __init__(self, subjects: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.subjects = dict(subjects or {})

    def identify(self, peer: Mapping[str, Any]) -> Caller:
        """The caller of a verified peer certificate (``ssl.getpeercert()`` shape)."""
        fields: dict[str, str] = {}
        for rdn in peer.get("subject", ()):
            for name, value in rdn:
                fields.setdefault(name, value)
        cn = fields.get("commonName", "")
        if not cn:
            raise Unauthenticated("the client certificate has no common name")
        if self.subjects:
            mapped = self.subjects.get(cn)
            if mapped is None:
                raise Unauthenticated(f"the client certificate {cn!r} is not a registered app")
            return Caller(mapped["app"], mapped.get("team"), "mtls", cn)
        return Caller(cn, fields.get("organizationalUnitName"), "mtls", cn)
