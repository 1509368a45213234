"""``[routes]``: refuse what golden-path cannot judge. Always the first policy of every chain.

A request is refused, with the field and the fix named, when:

- its path matches no row of the route table (``unknown = "deny"``, the default; ``"report"``
  records it and lets it through, ``"allow"`` lets it through silently);
- its path has dot segments, double percent-encoding or encoded slashes (whatever
  ``unknown`` says: such a path means one thing to a policy and another to a server);
- it calls a model and its body cannot be read: a content-encoding other than gzip/deflate,
  JSON Python's parser and Google's would read differently (a repeated key, a trailing comma,
  an integer literal beyond the parser's limit, ``NaN``), a body that is not an object, one
  field in both spellings (``generationConfig`` and ``generation_config``), or an enum given
  as a number where the policies read names (``safetySettings[].threshold: 2``).

``origins`` lists endpoints besides the configured one that credentials may be sent to (a
Private Service Connect name, say); the transport reads it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from golden_path._model import BODY_PROBLEM, UNSAFE_PATH, GenAIRequest
from golden_path.policies._body import generate_requests, get_either, structure
from golden_path.policies._chain import Chain
from golden_path.policies._config import Section
from golden_path.policies._types import Deny

__all__ = ["RoutesPolicy", "with_route_gate"]

UNKNOWN_CHOICES = ("deny", "report", "allow")
_SNAKE_PART = re.compile(r"_([a-z0-9])")
# Fields of a safety setting whose value policies compare by name.
_ENUM_FIELDS = ("category", "threshold", "method")
# An enum by name, in either case (the Interactions API writes them in lower case).
_ENUM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class RoutesPolicy:
    """Fail closed on unknown routes, unsafe paths and unreadable model-call bodies."""

    name = "routes"

    def __init__(
        self, *, unknown: str = "deny", mode: str = "enforce", origins: tuple[str, ...] = ()
    ) -> None:
        self.unknown = unknown
        self.mode = mode
        self.origins = origins

    def __repr__(self) -> str:
        return f"RoutesPolicy(unknown={self.unknown!r}, mode={self.mode!r})"

    @classmethod
    def configure(cls, section: Section) -> RoutesPolicy | None:
        """Build from ``[routes]``."""
        mode = section.mode()
        unknown = section.choice("unknown", UNKNOWN_CHOICES, "deny")
        origins = section.strings("origins", []) or []
        section.finish()
        for origin in origins:
            problem = origin_problem(origin)
            if problem is not None:
                section.problem(
                    "origins", f"{origin!r}: {problem}", "write https://host[:port][/prefix]"
                )
        if not section.ok:
            return None
        return cls(unknown=unknown, mode=mode, origins=tuple(origins))

    def on_request(self, request: GenAIRequest) -> None:
        """Deny (or, in report mode, record) what cannot be judged."""
        reason = self._problem(request)
        if reason is None:
            return
        if self.mode == "report":
            request.record(self.name, "deny", reason, enforced=False)
            return
        raise Deny(reason)

    def _problem(self, request: GenAIRequest) -> str | None:
        unsafe = request.state.get(UNSAFE_PATH)
        if unsafe is not None:
            return (
                f"path {request.url.path!r}: {unsafe}; name the resource plainly "
                "(models/NAME), without encoded or relative segments"
            )
        route = request.route
        if route is None:
            if self.unknown == "allow":
                return None
            reason = (
                f"{request.method} {request.url.path} is not a route golden-path knows; "
                'see `golden-path routes`, or set [routes] unknown = "report" to let '
                "unknown routes through audited"
            )
            if self.unknown == "report":
                request.record(self.name, "unknown-route", reason, enforced=False)
                return None
            return reason
        if not route.model_call or not request.raw or route.body == "media":
            return None
        return _body_problem(request)


def _body_problem(request: GenAIRequest) -> str | None:
    problem = request.state.get(BODY_PROBLEM)
    if problem is not None:
        field, message, fix = problem
        return f"{field}: {message}; {fix}"
    try:
        body = request.parse_strictly()
    except (ValueError, RecursionError) as exc:
        return (
            f"request body: not JSON Google's parser reads the same way ({exc}); send standard "
            "JSON (no trailing commas, no repeated keys, integers under 4300 digits, no NaN)"
        )
    if not isinstance(body, dict):
        return f"request body: a JSON {type(body).__name__} where an object is expected"
    return _spelling_problem(request) or _enum_problem(request)


def _camel(key: str) -> str:
    return _SNAKE_PART.sub(lambda m: m.group(1).upper(), key)


def _spelling_problem(request: GenAIRequest) -> str | None:
    checked: set[int] = set()
    for container, _, _ in structure(request):
        if id(container) in checked:
            continue
        checked.add(id(container))
        for key in container:
            if "_" in key:
                camel = _camel(key)
                if camel != key and camel in container:
                    return (
                        f"request body: {camel!r} and {key!r} are one field written twice; "
                        "Google reads one, the policies might check the other: send one spelling"
                    )
    return None


def _enum_problem(request: GenAIRequest) -> str | None:
    for body in generate_requests(request):
        key, settings = get_either(body, "safetySettings", "safety_settings")
        if not isinstance(settings, list):
            continue
        for index, setting in enumerate(settings):
            if not isinstance(setting, dict):
                return f"{key}[{index}]: not an object"
            for field in _ENUM_FIELDS:
                value = setting.get(field)
                if value is not None and not (isinstance(value, str) and _ENUM_NAME.match(value)):
                    return (
                        f"{key}[{index}].{field} is {value!r}; write the enum name "
                        "(e.g. HARM_CATEGORY_HARASSMENT, BLOCK_MEDIUM_AND_ABOVE), the only "
                        "form the policies can compare"
                    )
    return None


def origin_problem(origin: str) -> str | None:
    """Why ``origin`` is not a usable credential origin (None when it is)."""
    parts = urlsplit(origin)
    if parts.scheme not in ("https", "http"):
        return "the scheme must be https (or http for loopback)"
    if not parts.hostname:
        return "no host"
    if parts.query or parts.fragment or parts.username or parts.password:
        return "no query, fragment or user info"
    try:
        _ = parts.port
    except ValueError:
        return "the port is not a number"
    return None


def with_route_gate(chain: Chain) -> Chain:
    """``chain`` with a :class:`RoutesPolicy` first (the default one if it has none)."""
    policies = chain.policies
    if policies and isinstance(policies[0], RoutesPolicy):
        return chain
    found = [p for p in policies if isinstance(p, RoutesPolicy)]
    gate = found[0] if found else RoutesPolicy()
    rest = [p for p in policies if not isinstance(p, RoutesPolicy)]
    return Chain((gate, *rest), fail_open=chain.fail_open)
