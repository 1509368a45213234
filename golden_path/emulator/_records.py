"""What the emulator remembers: the requests it saw and the access tokens it issued."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

RequestKind = Literal["gemini", "vertex", "openai", "oauth", "other"]
"""Which surface a request hit; ``oauth`` covers the token, STS and IAM endpoints."""

MODEL_API_KINDS: frozenset[str] = frozenset({"gemini", "vertex", "openai"})


@dataclasses.dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One HTTP request as the emulator received it.

    ``path`` is percent-decoded and has no query string (that is in ``query``).
    ``headers`` has lower-case names; a repeated header's values are joined with ", ".
    ``body`` is the parsed JSON (or form fields for the token endpoint), None when absent or
    unparsable; ``raw_body`` keeps the exact bytes. ``principal`` names who authenticated:
    ``api_key:<key>`` or the subject of an access token (a service-account email, ...).
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    raw_body: bytes
    time: float
    principal: str | None = None
    kind: RequestKind = "other"


@dataclasses.dataclass(frozen=True, slots=True)
class IssuedToken:
    """An access token the emulator issued, and for whom.

    ``grant`` is how it was obtained: ``jwt-bearer`` (service-account key), ``refresh_token``
    (authorized user), ``token-exchange`` (STS, workload identity federation) or
    ``impersonation`` (IAM generateAccessToken; ``source`` is the caller's subject).
    Times are ``time.time()`` seconds.
    """

    token: str
    subject: str
    grant: str
    scopes: tuple[str, ...]
    issued_at: float
    expires_at: float
    delegates: tuple[str, ...] = ()
    source: str | None = None
