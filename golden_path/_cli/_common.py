"""Helpers shared by the command modules: printing, turning SDK errors into messages."""

from __future__ import annotations

import contextlib
import sys

from golden_path.exceptions import GoldenPathError

__all__ = ["describe_api_error", "err"]


def err(message: str) -> None:
    """A message for the user on stderr, prefixed with the command name."""
    print(f"golden-path: {message}", file=sys.stderr)


class RemoteError(GoldenPathError):
    """The endpoint answered with an error or could not be reached (for the CLI's message)."""


def describe_api_error(exc: BaseException) -> RemoteError | None:
    """A one-line, secret-free message for SDK and HTTP errors; None for anything else."""
    from google.genai import errors

    if isinstance(exc, errors.APIError):
        status = exc.status or ""
        message = (exc.message or "").splitlines()[0] if exc.message else ""
        rid = ""
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
        if headers is not None and headers.get("x-golden-path-request-id"):
            rid = f" [request {headers.get('x-golden-path-request-id')}]"
        return RemoteError(f"the API answered {exc.code} {status}: {message}{rid}".strip())
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
