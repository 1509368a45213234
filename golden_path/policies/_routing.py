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

``[batches] sources`` lists where a batch job may read its input from: ``inline`` (every
request in the body, each checked like a generateContent), ``uploaded`` (a file this client
uploaded through golden-path, whose bytes passed the chain at upload), ``files`` (any file),
``gcs``, ``bigquery``, ``dataset``. The default is ``["inline", "uploaded"]``; any other
source is refused: golden-path cannot read what such a job will send.
"""

from __future__ import annotations

import re
import threading
from typing import Any
from urllib.parse import urlsplit

from golden_path._model import BODY_PROBLEM, INTERACTION, UNSAFE_PATH, GenAIRequest, GenAIResponse
from golden_path._routes import normalize_model
from golden_path.policies._batch_files import NOT_SEEN
from golden_path.policies._body import (
    GENERATE_METHODS,
    generate_requests,
    get_either,
    structure,
)
from golden_path.policies._chain import Chain
from golden_path.policies._config import Section
from golden_path.policies._types import Deny

__all__ = ["RoutesPolicy", "body_problem", "configure_batches", "with_route_gate"]

UNKNOWN_CHOICES = ("deny", "report", "allow")
BATCH_SOURCES = ("inline", "uploaded", "files", "gcs", "bigquery", "dataset")
_MAX_UPLOADED = 10_000
_MAX_INTERACTIONS = 10_000
# Routes that act on one interaction: what it runs (model or agent, tools) is judged, so
# golden-path must have read it. A token's delete only revokes: it needs nothing.
_ON_INTERACTION = frozenset({
    "interactions.connect", "interactions.auth_tokens.create", "interactions.auth_tokens.delete",
})  # fmt: skip
# Routes that mint a token usable outside golden-path: [routes] ephemeral_token_max_s rules both.
_TOKEN_ROUTES = {
    "auth_tokens.create": "ephemeral Live tokens",
    "interactions.auth_tokens.create": "Live Interactions auth tokens",
}
_TOKEN_DEFAULT_S = 1800
"""The Live API's default token lifetime (expireTime unset: 30 minutes from now)."""
_VERDICT = "golden_path.batch_file_verdict"
_BATCH_ROUTES = frozenset({
    "batchGenerateContent", "asyncBatchEmbedContent", "batchPredictionJobs.create",
})  # fmt: skip
# Input config key -> the source kind it reads from.
_SOURCE_KEYS = {
    "requests": "inline", "fileName": "files", "file_name": "files", "gcsSource": "gcs",
    "gcs_source": "gcs", "bigquerySource": "bigquery", "bigquery_source": "bigquery",
    "vertexMultimodalDatasetSource": "dataset", "vertex_multimodal_dataset_source": "dataset",
}  # fmt: skip
_SNAKE_PART = re.compile(r"_([a-z0-9])")
# Fields of a safety setting whose value policies compare by name.
_ENUM_FIELDS = ("category", "threshold", "method")
# An enum by name, in either case (the Interactions API writes them in lower case).
_ENUM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class RoutesPolicy:
    """Fail closed on unknown routes, unsafe paths and unreadable model-call bodies."""

    name = "routes"

    def __init__(
        self,
        *,
        unknown: str = "deny",
        mode: str = "enforce",
        origins: tuple[str, ...] = (),
        batch_sources: tuple[str, ...] = ("inline", "uploaded"),
        ephemeral_token_max_s: int = 0,
    ) -> None:
        self.unknown = unknown
        self.mode = mode
        self.origins = origins
        self.batch_sources = batch_sources
        # Longest lifetime of an ephemeral Live token this client may mint (0: none at all).
        self.ephemeral_token_max_s = ephemeral_token_max_s
        # Files this client uploaded through golden-path, and why each cannot be a batch's
        # input (None: every line passed the chain; see _batch_files).
        self._uploaded: dict[str, str | None] = {}
        # Interactions this client created or read: id -> {"model", "agent", "tools"}, what
        # a Live session on it or a token for it would run (oldest dropped past the bound).
        self._interactions: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        # The policies that judge each line of an uploaded batch file (set by with_route_gate).
        self.line_judges: tuple[Any, ...] = ()

    def __repr__(self) -> str:
        return f"RoutesPolicy(unknown={self.unknown!r}, mode={self.mode!r})"

    @classmethod
    def configure(cls, section: Section) -> RoutesPolicy | None:
        """Build from ``[routes]``."""
        mode = section.mode()
        unknown = section.choice("unknown", UNKNOWN_CHOICES, "deny")
        origins = section.strings("origins", []) or []
        token_max = section.positive_int("ephemeral_token_max_s", None)
        section.finish()
        for origin in origins:
            problem = origin_problem(origin)
            if problem is not None:
                section.problem(
                    "origins", f"{origin!r}: {problem}", "write https://host[:port][/prefix]"
                )
        if not section.ok:
            return None
        return cls(
            unknown=unknown,
            mode=mode,
            origins=tuple(origins),
            ephemeral_token_max_s=token_max or 0,
        )

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
            return self._unknown_problem(request)
        if route.name == "files.upload" and "finalize" in request.headers.get(
            "x-goog-upload-command", ""
        ):
            self._judge_upload(request)
        if route.name in _ON_INTERACTION:
            return self._on_interaction(request)
        if not route.model_call or not request.raw or route.body == "media":
            return None
        problem = body_problem(request)
        if problem is None and route.name in _BATCH_ROUTES:
            problem = self._batch_problem(request)
        if problem is None and route.name == "auth_tokens.create":
            problem = self._token_problem(request)
        return problem

    def _unknown_problem(self, request: GenAIRequest) -> str | None:
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

    def _on_interaction(self, request: GenAIRequest) -> str | None:
        problem = self._interaction_problem(request)
        route = request.route
        if problem is not None or route is None or route.name != "interactions.auth_tokens.create":
            return problem
        return (body_problem(request) if request.raw else None) or self._token_problem(request)

    def interaction(self, interaction_id: str) -> dict[str, Any] | None:
        """What golden-path last read of an interaction (None: never created or read here)."""
        return self._interactions.get(interaction_id)

    def _interaction_problem(self, request: GenAIRequest) -> str | None:
        """Tie a request on one interaction to what that interaction runs, for the policies."""
        route = request.route
        assert route is not None
        if route.name == "interactions.connect":
            body = request.body
            found = body.get("id") if isinstance(body, dict) else None
        else:
            found = _interaction_in_path(request.url.path)
        interaction_id = found if isinstance(found, str) else ""
        if not interaction_id and route.name == "interactions.connect":
            # Nothing says what it opens: only a session on one known interaction is judged.
            return (
                "a Live Interactions websocket must open with "
                '{"event_type": "interaction.connect", "id": ...} (what '
                "interactions.connect(id) sends); this one names no interaction"
            )
        subject = self._interactions.get(interaction_id)
        if subject is None:
            if route.name == "interactions.auth_tokens.delete":
                return None  # revoking a token is always allowed
            return (
                f"interaction {interaction_id!r}: golden-path has not read it, so it cannot judge "
                "the model or agent a session on it runs; create it or read it through this "
                "client first (client.interactions.get(id=...))"
            )
        request.state[INTERACTION] = subject
        model, agent = subject.get("model"), subject.get("agent")
        if isinstance(model, str) and model:
            request.model = normalize_model(model)
        elif isinstance(agent, str) and agent:
            request.model = f"agent/{agent}"
        elif route.name != "interactions.auth_tokens.delete":
            return (
                f"interaction {interaction_id!r} names neither a model nor an agent; golden-path "
                "cannot judge what it runs"
            )
        return None

    def _token_problem(self, request: GenAIRequest) -> str | None:
        """A token usable outside golden-path: only if allowed, bound to a model, short-lived."""
        limit = self.ephemeral_token_max_s
        route = request.route
        kind = _TOKEN_ROUTES[route.name if route is not None else "auth_tokens.create"]
        if limit <= 0:
            return (
                f"minting {kind} is off: a token works outside golden-path; "
                "the platform enables it with [routes] ephemeral_token_max_s = 1800"
            )
        body = request.body if request.raw else {}
        if not isinstance(body, dict):
            return "request body: a JSON object is expected"
        if kind != _TOKEN_ROUTES["auth_tokens.create"]:
            # Bound to one interaction, whose model or agent the models policy judges next.
            name, value = get_either(body, "expireTime", "expire_time", snake_default=True)
            return self._expiry_problem(request, body, name, value)
        key, setup = get_either(body, "bidiGenerateContentSetup", "bidi_generate_content_setup")
        inner = setup.get("setup", setup) if isinstance(setup, dict) else None
        model = inner.get("model") if isinstance(inner, dict) else None
        if not isinstance(model, str) or not model:
            return (
                f"{key}: an ephemeral token must be bound to a model (an unconstrained one "
                "opens any session); set live_connect_constraints with the model"
            )
        name, value = get_either(body, "expireTime", "expire_time")
        problem = self._expiry_problem(request, body, name, value)
        name, value = get_either(body, "newSessionExpireTime", "new_session_expire_time")
        if problem is None and value is not None:  # unset: the API's default is one minute
            problem = _lifetime_problem(name, value, limit)
        return problem

    def _expiry_problem(
        self, request: GenAIRequest, body: dict[str, Any], name: str, value: object
    ) -> str | None:
        """Judge a token's expiry; an unset one is set, so no token outlives the cap.

        Constrained rather than refused, as [generation] adds a missing output cap: the token
        gets the API's own default lifetime (30 minutes), or the platform's cap when shorter.
        A time the app chose beyond the cap is refused: golden-path does not shorten it quietly.
        """
        if value is not None:
            return _lifetime_problem(name, value, self.ephemeral_token_max_s)
        import datetime as dt

        seconds = min(self.ephemeral_token_max_s, _TOKEN_DEFAULT_S)
        when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
        body[name] = when.isoformat(timespec="seconds").replace("+00:00", "Z")
        request.body = body  # also a body the request did not have
        request.record(self.name, "clamp", f"{name} unset; set to {seconds} s from now")
        return None

    def _judge_upload(self, request: GenAIRequest) -> None:
        """Judge an upload's lines now; a batch may read the file later (``_batch_files``)."""
        if "uploaded" not in self.batch_sources or "files" in self.batch_sources:
            return  # uploads are never batch input, or any file may be: nothing to decide
        from golden_path.policies._batch_files import judge_upload

        verdict = judge_upload(request, self.line_judges)
        request.state[_VERDICT] = verdict
        if verdict is not None:
            request.record(
                self.name, "note", f"not usable as batch input: {verdict}", enforced=False
            )

    def on_response(self, request: GenAIRequest, response: GenAIResponse) -> None:
        """Remember files uploaded and interactions read through golden-path."""
        route = request.route
        if route is None or response.status_code >= 400:
            return
        if route.name in ("interactions.create", "interactions.get"):
            body = response.body
            if response.stream:
                body = _created(request, response.first)
            self._remember_interaction(body)
            return
        if route.name != "files.upload":
            return
        body = response.body
        file = body.get("file") if isinstance(body, dict) else None
        name = file.get("name") if isinstance(file, dict) else None
        if isinstance(name, str) and len(self._uploaded) < _MAX_UPLOADED:
            self._uploaded[name] = request.state.get(_VERDICT, NOT_SEEN)

    def _remember_interaction(self, body: Any) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            return
        subject = {k: body[k] for k in ("model", "agent", "tools") if k in body}
        interactions = self._interactions
        with self._lock:  # threads of one client share it; the bound must hold
            interactions.pop(body["id"], None)
            if len(interactions) >= _MAX_INTERACTIONS:
                interactions.pop(next(iter(interactions)))
            interactions[body["id"]] = subject

    def _batch_problem(self, request: GenAIRequest) -> str | None:
        body = request.body
        batch = body.get("batch", body) if isinstance(body, dict) else None
        config = None
        if isinstance(batch, dict):
            config = batch.get("inputConfig", batch.get("input_config"))
        if not isinstance(config, dict):
            return None  # no input config: nothing is read from anywhere
        for key, value in config.items():
            kind = _SOURCE_KEYS.get(key)
            if kind is None and key not in ("instancesFormat", "instances_format"):
                kind = key
            if (
                kind == "files"
                and value in self._uploaded
                and "uploaded" in self.batch_sources
                and "files" not in self.batch_sources
            ):
                verdict = self._uploaded[value]
                if verdict is None:
                    continue
                return (
                    f"batch input file {value} ({key}): {verdict}. Its lines must pass the "
                    "policies an inline batch request passes"
                )
            if kind is not None and kind not in self.batch_sources:
                return (
                    f"batch input from {kind} ({key}): golden-path cannot check what the job "
                    f"will send; allowed sources: {', '.join(self.batch_sources)} (the platform "
                    "sets [batches] sources)"
                )
        return None


def body_problem(request: GenAIRequest) -> str | None:
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
    raw = request.raw
    # The body was just read from these bytes: without a backslash every key is in them as it
    # reads, so with no "_" in them no key is a snake_case spelling (most SDK bodies).
    if b"_" in raw or b"\\" in raw:
        problem = _spelling_problem(request)
        if problem is not None:
            return problem
    return _enum_problem(request)


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
    body = request.body
    if (
        request.api_method in GENERATE_METHODS
        and "safetySettings" not in body
        and "safety_settings" not in body
    ):
        return None  # one generation request, and it sets no safety (most)
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


def _lifetime_problem(name: str, value: object, limit: int) -> str | None:
    """Why a token's chosen expiry ``value`` is not within ``limit`` seconds, or None."""
    import datetime as dt

    fix = f"set {name} at most {limit} s from now ([routes] ephemeral_token_max_s)"
    try:
        when = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return f"{name} {value!r} is not an RFC 3339 time; {fix}"
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    left = (when - dt.datetime.now(dt.UTC)).total_seconds()
    if left > limit:
        return f"{name} is {int(left)} s away; {fix}"
    return None


def _created(request: GenAIRequest, first: Any) -> dict[str, Any] | None:
    """What a streamed create made, from its first event (``interaction.created``).

    That event's interaction may be partial (the API says so): what the request asked for
    (its model or agent and tools, which the chain judged) fills what the event leaves out.
    """
    if not isinstance(first, dict) or first.get("event_type") != "interaction.created":
        return None
    made = first.get("interaction")
    if not isinstance(made, dict):
        return None
    asked = request.body if isinstance(request.body, dict) else {}
    subject = {k: asked[k] for k in ("model", "agent", "tools") if k in asked}
    subject.update(made)
    return subject


def _interaction_in_path(path: str) -> str:
    """The ``{id}`` of ``.../interactions/{id}/...`` ("" when there is none)."""
    from urllib.parse import unquote

    parts = unquote(path).split("/")
    for index, part in enumerate(parts[:-1]):
        if part == "interactions":
            return parts[index + 1]
    return ""


def configure_batches(section: Section, gate: RoutesPolicy) -> None:
    """Read ``[batches]`` into the routes policy (which refuses the sources it does not list)."""
    sources = section.strings("sources", None)
    section.finish()
    for source in sources or ():
        if source not in BATCH_SOURCES:
            section.problem(
                "sources", f"unknown source {source!r}", f"use any of {', '.join(BATCH_SOURCES)}"
            )
    if sources is not None and section.ok:
        gate.batch_sources = tuple(sources)


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
    found = [p for p in policies if isinstance(p, RoutesPolicy)]
    gate = found[0] if found else RoutesPolicy()
    rest = [p for p in policies if not isinstance(p, RoutesPolicy)]
    gate.line_judges = tuple(p for p in rest if getattr(p, "judges_batch_files", False))
    if policies and policies[0] is gate:
        return chain
    return Chain((gate, *rest), fail_open=chain.fail_open)
