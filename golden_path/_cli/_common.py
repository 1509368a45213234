"""Helpers shared by the command modules: printing, turning SDK errors into messages."""

from __future__ import annotations

import contextlib
import sys

from golden_path.exceptions import RemoteError

__all__ = ["describe_api_error", "err"]


def err(message: str) -> None:
    """A message for the user on stderr, prefixed with the command name."""
    print(f"golden-path: {message}", file=sys.stderr)


def describe_api_error(exc: BaseException) -> RemoteError | None:
    """A one-line, secret-free message for SDK and HTTP errors; None for anything else."""
    from google.genai import errors

    if isinstance(exc, errors.APIError):
        status = exc.status or ""
        message = (exc.message or "").splitlines()[0] if exc.message else ""
        rid = ""
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
        request_id = headers.get("x-golden-path-request-id") if headers is not None else None
        if request_id:
            rid = f" [request {request_id}]"
        return RemoteError(
            f"the API answered {exc.code} {status}: {message}{rid}".strip(),
            status=exc.code,
            request_id=request_id or None,
        )
    import httpx2

    if isinstance(exc, httpx2.TimeoutException):
        return RemoteError(
            f"the request timed out ({type(exc).__name__}); raise "
            "GOLDEN_PATH_TIMEOUT_S or check the endpoint"
        )
    if isinstance(exc, httpx2.TransportError):
        url = ""
        with contextlib.suppress(RuntimeError):  # an error raised before a request existed
            url = f" {exc.request.url.scheme}://{exc.request.url.host}:{exc.request.url.port}"
        return RemoteError(f"cannot reach the endpoint{url}: {type(exc).__name__}")
    return None
