"""structlog as golden-path uses it: the request id in contextvars, and the audit processors.

While a call runs, ``golden_path_request_id`` is bound with ``structlog.contextvars``, so an
app whose structlog configuration includes ``structlog.contextvars.merge_contextvars`` (the
default one does) gets the id of the audit event on every line it logs meanwhile, and
:func:`current_request_id` gives it to code on stdlib logging. When an answer asks for a
function call, the id stays bound for the tool the SDK runs next (automatic function calling),
until the follow-up request binds its own; once the call sequence ends, what was bound before
it is restored.

Audit events pass through the processors apps add with ``golden_path.audit.add_processor``
(structlog's processor signature) before every JSON rendering, and the ``structlog`` sink hands
them to the app's own structlog configuration.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, MutableMapping
from typing import Any

__all__ = ["REQUEST_ID_KEY", "Processor", "bind_request", "current_request_id", "release_request"]

REQUEST_ID_KEY = "golden_path_request_id"
Processor = Callable[[Any, str, MutableMapping[str, Any]], MutableMapping[str, Any]]

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "golden_path_request_id", default=None
)
# The tokens of the first binding of a call sequence (resetting them restores what the app had
# bound before), and whether the id bound now was left for a tool the SDK runs next.
_first: contextvars.ContextVar[tuple[Any, Any] | None] = contextvars.ContextVar(
    "golden_path_first_binding", default=None
)
_lingering: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "golden_path_request_id_lingering", default=False
)


def current_request_id() -> str | None:
    """The request id of the golden-path call running in this context, if any."""
    return _current.get()


def bind_request(request_id: str) -> None:
    """Bind ``request_id`` for the call about to run in this context."""
    import structlog.contextvars

    tokens = structlog.contextvars.bind_contextvars(**{REQUEST_ID_KEY: request_id})
    own = _current.set(request_id)
    if not _lingering.get():
        _first.set((tokens, own))
    _lingering.set(False)


def release_request(*, tools_pending: bool) -> None:
    """The call ended: restore what was bound before, unless a tool is about to run."""
    import structlog.contextvars

    if tools_pending:
        _lingering.set(True)
        return
    _lingering.set(False)
    first = _first.get()
    _first.set(None)
    if first is None:
        return
    tokens, own = first
    try:
        structlog.contextvars.reset_contextvars(**tokens)
        _current.reset(own)
    except (ValueError, RuntimeError):
        # Bound in another context (a stream finished elsewhere): forget it here instead.
        structlog.contextvars.unbind_contextvars(REQUEST_ID_KEY)
        _current.set(None)
