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

golden-path's own diagnostics (a sink that failed, a policy that crashed, a refused locked
setting) are structlog events with a stable name from :data:`DIAGNOSTICS`. Their processor
chain drops what the stdlib logger would not emit, merges structlog's contextvars (the request
id, and whatever the app bound) and hands the event to the stdlib logger named after the area:
the message is ``"<event>: <sentence>"`` and ``record.golden_path`` the event dict, so an app's
logging configuration (handlers, levels, structlog's ``ProcessorFormatter``) receives and routes
them as its own.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, Literal

__all__ = [
    "DIAGNOSTICS",
    "REQUEST_ID_KEY",
    "Diagnostics",
    "Processor",
    "bind_request",
    "current_request_id",
    "release_request",
]

REQUEST_ID_KEY = "golden_path_request_id"
Processor = Callable[[Any, str, MutableMapping[str, Any]], MutableMapping[str, Any]]

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "golden_path_request_id", default=None
)
# The tokens of the first binding of a call sequence (resetting them restores what the app had
# bound before), and whether the id bound now was left for a tool the SDK runs next: one
# variable, so a call sets it once on the way in and once on the way out.
_binding: contextvars.ContextVar[tuple[Any, Any, bool] | None] = contextvars.ContextVar(
    "golden_path_request_binding", default=None
)
# structlog's own variable for the key (see _structlog_var).
_bound: contextvars.ContextVar[Any] | None = None


def current_request_id() -> str | None:
    """The request id of the golden-path call running in this context, if any."""
    return _current.get()


def _structlog_var() -> contextvars.ContextVar[Any]:
    """The ContextVar ``structlog.contextvars`` binds ``golden_path_request_id`` in.

    Taken once from structlog's public API (a binding's token names its variable), so a call
    sets it directly instead of through ``bind_contextvars(**kw)`` each time; structlog's own
    functions (``merge_contextvars``, ``unbind_contextvars``, ``clear_contextvars``) still
    find it, because it is theirs.
    """
    global _bound  # noqa: PLW0603 - built once, then only read
    if _bound is None:
        import structlog.contextvars

        context = contextvars.copy_context()
        tokens = context.run(structlog.contextvars.bind_contextvars, **{REQUEST_ID_KEY: ...})
        _bound = tokens[REQUEST_ID_KEY].var
    return _bound


def bind_request(request_id: str) -> None:
    """Bind ``request_id`` for the call about to run in this context."""
    token = (_bound or _structlog_var()).set(request_id)
    own = _current.set(request_id)
    binding = _binding.get()
    if binding is None or not binding[2]:
        _binding.set((token, own, False))
    else:  # the follow-up of a tool call: the first binding is the one to undo at the end
        _binding.set((binding[0], binding[1], False))


def release_request(*, tools_pending: bool) -> None:
    """The call ended: restore what was bound before, unless a tool is about to run."""
    binding = _binding.get()
    if tools_pending:
        _binding.set((binding[0], binding[1], True) if binding else (None, None, True))
        return
    _binding.set(None)
    if binding is None or binding[0] is None:
        return
    token, own, _ = binding
    bound = _bound or _structlog_var()
    try:
        bound.reset(token)
        _current.reset(own)
    except (ValueError, RuntimeError):
        # Bound in another context (a stream finished elsewhere): forget it here instead,
        # as structlog.contextvars.unbind_contextvars does.
        bound.set(...)
        _current.set(None)


Event = Literal[
    "golden_path.audit.sink_failed",
    "golden_path.emulator.embedded",
    "golden_path.gateway.audit_failed",
    "golden_path.gateway.refused",
    "golden_path.gateway.live_refused",
    "golden_path.policy.crashed",
    "golden_path.policy.after_hook_failed",
    "golden_path.settings.lock_refused",
    "golden_path.state.store_failed",
    "golden_path.state.counter_reset",
    "golden_path.state.flush_failed",
]

# Every diagnostic golden-path emits, and when: apps filter and alert on these names, so they
# are part of the public surface (docs/audit.md lists them; a test keeps the two in step).
DIAGNOSTICS: Mapping[Event, str] = {
    "golden_path.audit.sink_failed": "an audit sink raised; the call went on (first failure "
    "of each sink only, the rest are counted)",
    "golden_path.emulator.embedded": "no backend is configured: calls go to the embedded "
    "emulator, whose answers are synthetic",
    "golden_path.gateway.audit_failed": "the gateway could not audit a request it refused",
    "golden_path.gateway.refused": "the gateway refused an HTTP request before forwarding it",
    "golden_path.gateway.live_refused": "the gateway refused a Live websocket",
    "golden_path.policy.crashed": "a policy's request hook raised; the request was denied "
    "(fail closed) or allowed (fail open)",
    "golden_path.policy.after_hook_failed": "a policy's response, chunk or error hook raised; "
    "the response went on",
    "golden_path.settings.lock_refused": "a layer tried to change a setting the platform "
    "locked; the platform's value was kept",
    "golden_path.state.store_failed": "the shared state store (Redis) failed; limits that "
    "need it fail closed until it answers",
    "golden_path.state.counter_reset": "a state store key held something that is not a "
    "counter and was reset to 0",
    "golden_path.state.flush_failed": "settlements queued for the state store could not be "
    "sent in the background; they stay queued for the next try",
}


def _to_stdlib(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The last processor: the arguments of the stdlib call (message, exc_info, the dict)."""
    fields = dict(event_dict)
    text = fields.pop("text")
    exc_info = fields.pop("exc_info", None)
    # One attribute, not one per field: a field named like a LogRecord attribute ("name",
    # "message") would make stdlib logging raise.
    extra = {"golden_path": fields}
    return ("%s: %s", fields["event"], text), {"exc_info": exc_info, "extra": extra}


class Diagnostics:
    """golden-path's own diagnostics for one area, on the stdlib logger of that name.

    The structlog logger is built on first use, so a process that never logs a diagnostic
    does not import structlog for it.
    """

    __slots__ = ("_logger", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._logger: Any = None

    def _bound(self) -> Any:
        if self._logger is None:
            import structlog

            self._logger = structlog.wrap_logger(
                logging.getLogger(self.name),
                processors=[
                    structlog.stdlib.filter_by_level,
                    structlog.contextvars.merge_contextvars,
                    _to_stdlib,
                ],
                wrapper_class=structlog.stdlib.BoundLogger,
            )
        return self._logger

    def warning(self, event: Event, text: str, **fields: Any) -> None:
        """Something went wrong and golden-path carried on; ``text`` says what and the fix."""
        self._bound().warning(event, text=text, **fields)

    def error(self, event: Event, text: str, *, exc_info: Any = None, **fields: Any) -> None:
        """Code golden-path runs for the app (a policy) failed; ``exc_info`` is its exception."""
        self._bound().error(event, text=text, exc_info=exc_info, **fields)
