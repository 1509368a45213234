"""Google-shaped errors: what an SDK pointed at the gateway expects to parse.

Every refusal is ``{"error": {"code", "message", "status", "details": [...]}}`` as
googleapis.com answers, so each SDK raises its usual error type. A policy denial is 403
``PERMISSION_DENIED`` (400 ``INVALID_ARGUMENT`` when the request itself could not be judged)
with an ``ErrorInfo`` naming the policy and the request id; a rate limit or budget is 429
``RESOURCE_EXHAUSTED`` with ``RetryInfo`` (and ``Retry-After``), which clients that honour it
wait on.
"""

from __future__ import annotations

import json
from typing import Any

from golden_path._transport import REQUEST_ID_HEADER
from golden_path.exceptions import BudgetExceeded, PolicyViolation

__all__ = ["ErrorResponse", "error_response", "violation_response"]

DOMAIN = "golden-path.gateway"
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
ErrorResponse = tuple[int, list[tuple[bytes, bytes]], bytes]


def error_response(
    code: int,
    message: str,
    *,
    reason: str,
    request_id: str | None = None,
    details: list[dict[str, Any]] | None = None,
    metadata: dict[str, str] | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> ErrorResponse:
    """Status, headers and body of one Google-shaped error."""
    info_metadata = dict(metadata or {})
    if request_id:
        info_metadata["request_id"] = request_id
    all_details = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": DOMAIN,
            "metadata": info_metadata,
        },
        *(details or []),
    ]
    if request_id:
        all_details.append(
            {"@type": "type.googleapis.com/google.rpc.RequestInfo", "requestId": request_id}
        )
    body = json.dumps(
        {
            "error": {
                "code": code,
                "message": message,
                "status": _STATUS.get(code, "UNKNOWN"),
                "details": all_details,
            }
        },
        separators=(",", ":"),
    ).encode()
    out = [
        (b"content-type", b"application/json; charset=UTF-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    if request_id:
        out.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
    out += headers or []
    return code, out, body


def violation_response(violation: PolicyViolation) -> ErrorResponse:
    """The answer to a request a policy refused (the audit event is already written)."""
    metadata = {"policy": violation.policy}
    if isinstance(violation, BudgetExceeded):
        metadata["limit"] = violation.limit
        details: list[dict[str, Any]] = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{"subject": violation.limit, "description": violation.reason}],
            }
        ]
        headers = []
        if violation.retry_after is not None:
            delay = max(violation.retry_after, 0.0)
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{delay:.3f}s",
                }
            )
            headers.append((b"retry-after", str(max(1, round(delay + 0.4999))).encode()))
        return error_response(
            429,
            str(violation),
            reason="RATE_LIMIT_EXCEEDED",
            request_id=violation.request_id,
            details=details,
            metadata=metadata,
            headers=headers,
        )
    # A request the policies could not judge (unparseable body, unknown route) is the caller's
    # mistake to fix; any other refusal is a permission the caller does not have.
    unjudgeable = "fail closed" in violation.reason
    return error_response(
        400 if unjudgeable else 403,
        str(violation),
        reason="REQUEST_NOT_JUDGEABLE" if unjudgeable else "POLICY_DENIED",
        request_id=violation.request_id,
        metadata=metadata,
    )
