"""The built-in policies other than ``[models]`` and ``[pii]``: one class per policy-file section.

Each has ``name`` (its section), ``mode`` (``enforce`` or ``report``: in report mode it records
what it would have done, with ``enforced=False``, and changes nothing) and a ``configure``
class method that reads its section and reports every problem.
"""

from __future__ import annotations

import re
from typing import Any

from golden_path._model import Decision, GenAIRequest
from golden_path.policies._body import generate_requests, get_either, iter_tools, url_locations
from golden_path.policies._config import Section
from golden_path.policies._types import Deny

__all__ = [
    "CanonicalJson",
    "GenerationPolicy",
    "LabelsPolicy",
    "LimitsPolicy",
    "SafetyPolicy",
    "ToolsPolicy",
    "VertexPolicy",
]


class CanonicalJson:
    """Send the body as the policies parsed it, not the bytes the caller wrote.

    A JSON object with a repeated key (``{"model": "ok", "model": "denied"}``) means one thing
    to Python's parser and possibly another to Google's; re-serialising the parsed body removes
    the ambiguity, so what the policies checked is exactly what goes on the wire.
    Installed first whenever a built-in reads request bodies; records nothing.
    """

    name = "canonical-json"
    mode = "enforce"

    def on_request(self, request: GenAIRequest) -> None:
        """Mark a JSON body for re-serialisation (uploaded bytes are a file, sent as they are)."""
        route = request.route
        if route is not None and route.body == "media":
            return
        if request.raw and request.body is not None:
            request.mark_modified()


class LimitsPolicy:
    """``[limits]``: refuse a request body larger than ``max_request_bytes``.

    The upload rows of the route table are exempt (their size is the file's); ``/upload/``
    anywhere else in a path matches no row and is refused as an unknown route.
    """

    name = "limits"

    def __init__(self, *, max_request_bytes: int, mode: str = "enforce") -> None:
        self.max_request_bytes = max_request_bytes
        self.mode = mode

    @classmethod
    def configure(cls, section: Section) -> LimitsPolicy | None:
        """Build from ``[limits]``."""
        mode = section.mode()
        size = section.positive_int("max_request_bytes", None)
        section.finish()
        if size is None and section.ok:
            section.problem(
                "max_request_bytes",
                "is required in [limits]",
                "write max_request_bytes = 1_000_000",
            )
        return cls(max_request_bytes=size, mode=mode) if section.ok and size else None

    def on_request(self, request: GenAIRequest) -> None:
        """Deny an oversized body."""
        size = len(request.raw)
        route = request.route
        if size > self.max_request_bytes and not (route is not None and route.upload):
            raise Deny(f"request body is {size} bytes; the limit is {self.max_request_bytes}")


class GenerationPolicy:
    """``[generation]``: cap output tokens (clamp or deny); a request without a cap gets one."""

    name = "generation"
    # Live client messages and uploaded batch files carry this policy's fields too.
    inspects_live_messages = True
    judges_batch_files = True

    def __init__(
        self, *, max_output_tokens: int, on_exceed: str = "clamp", mode: str = "enforce"
    ) -> None:
        self.max_output_tokens = max_output_tokens
        self.on_exceed = on_exceed
        self.mode = mode
        # What a request without a cap is told, by the key it gets and whether it is enforced:
        # one record for all of them (a Decision is frozen), not one built per call.
        self._unset = {
            (key, enforced): Decision(
                self.name, "clamp", f"{key} unset; set to {max_output_tokens}", enforced
            )
            for key in ("maxOutputTokens", "max_output_tokens", "max_completion_tokens")
            for enforced in (True, False)
        }

    @classmethod
    def configure(cls, section: Section) -> GenerationPolicy | None:
        """Build from ``[generation]``."""
        mode = section.mode()
        cap = section.positive_int("max_output_tokens", None)
        on_exceed = section.choice("on_exceed", ("clamp", "deny"), "clamp")
        section.finish()
        if cap is None and section.ok:
            section.problem(
                "max_output_tokens", "is required in [generation]", "write max_output_tokens = 8192"
            )
        return (
            cls(max_output_tokens=cap, on_exceed=on_exceed, mode=mode)
            if section.ok and cap
            else None
        )

    def on_request(self, request: GenAIRequest) -> None:
        """Clamp, add or deny output-token caps."""
        if request.surface == "openai":
            self._openai(request)
            return
        snake = request.surface == "interactions"
        live = request.api_method == "live.connect"
        for body in generate_requests(request):
            config_key, config = get_either(
                body, "generationConfig", "generation_config", snake_default=snake
            )
            if config is None and not live:
                self._add(request, body, config_key, config)  # most requests: no config at all
                continue
            targets: list[dict[str, Any]] = []
            if isinstance(config, dict):
                targets.append(config)
            if live:
                targets.append(body)  # LiveConnectConfig also has a top-level maxOutputTokens
            found = False
            for target in targets:
                key, value = get_either(target, "maxOutputTokens", "max_output_tokens")
                if value is None:
                    continue
                found = True
                self._cap(request, target, key, value)
            if not found and live and config is None:
                # LiveConnectConfig.generation_config is deprecated: cap the top-level field.
                key = "maxOutputTokens"
                self._set_cap(request, body, key)
            elif not found:
                self._add(request, body, config_key, config)

    def _openai(self, request: GenAIRequest) -> None:
        body = request.body
        if request.api_method != "chat.completions" or not isinstance(body, dict):
            return
        found = False
        for key in ("max_tokens", "max_completion_tokens"):
            if body.get(key) is not None:
                found = True
                self._cap(request, body, key, body[key])
        if not found:
            self._set_cap(request, body, "max_completion_tokens")

    def _cap(self, request: GenAIRequest, target: dict[str, Any], key: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise Deny(f"{key} is not a number: {value!r}")
        try:
            number = int(value)
        except ValueError:
            raise Deny(f"{key} is not a number: {value!r}") from None
        if number <= self.max_output_tokens:
            return
        if self.on_exceed == "deny":
            raise Deny(f"{key} {number} exceeds the limit of {self.max_output_tokens}")
        self._act(request, "clamp", f"{key} {number} -> {self.max_output_tokens}", target, key)

    def _add(
        self, request: GenAIRequest, body: dict[str, Any], config_key: str, config: Any
    ) -> None:
        if not isinstance(config, dict):
            config = {}
            if self.mode == "enforce":
                body[config_key] = config
        key = "max_output_tokens" if config_key == "generation_config" else "maxOutputTokens"
        self._set_cap(request, config, key)

    def _set_cap(self, request: GenAIRequest, target: dict[str, Any], key: str) -> None:
        """A request without a cap gets this policy's (recorded; only recorded in report mode)."""
        enforce = self.mode == "enforce"
        request.decisions.append(self._unset[key, enforce])
        if enforce:
            target[key] = self.max_output_tokens
            request.mark_modified()

    def _act(
        self, request: GenAIRequest, action: str, reason: str, target: dict[str, Any], key: str
    ) -> None:
        enforce = self.mode == "enforce"
        request.record(self.name, action, reason, enforced=enforce)
        if enforce:
            target[key] = self.max_output_tokens
            request.mark_modified()


# Strictest first. Unknown or unspecified thresholds count as the laxest.
_THRESHOLDS = {
    "BLOCK_LOW_AND_ABOVE": 3,
    "BLOCK_MEDIUM_AND_ABOVE": 2,
    "BLOCK_ONLY_HIGH": 1,
    "BLOCK_NONE": 0,
    "OFF": 0,
}
_DEFAULT_CATEGORIES = (
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
)
_CATEGORY = re.compile(r"^HARM_CATEGORY_[A-Z_]+$")


class SafetyPolicy:
    """``[safety]``: minimum safety thresholds on every generation request.

    ``minimum`` applies to each of ``categories`` (the four Gemini text categories by default);
    ``[safety.thresholds]`` sets a category's own minimum. A missing setting is added and a
    laxer one raised; a stricter one the app chose is kept.
    """

    name = "safety"
    # Live client messages and uploaded batch files carry this policy's fields too.
    inspects_live_messages = True
    judges_batch_files = True

    def __init__(self, thresholds: dict[str, str], *, mode: str = "enforce") -> None:
        self.thresholds = thresholds
        self.mode = mode

    @classmethod
    def configure(cls, section: Section) -> SafetyPolicy | None:
        """Build from ``[safety]``."""
        mode = section.mode()
        minimum = section.string("minimum", None)
        categories = section.strings("categories", list(_DEFAULT_CATEGORIES))
        overrides = section.table_of_strings("thresholds")
        section.finish()
        choices = ", ".join(t for t in _THRESHOLDS if t != "OFF")
        for key, value in [("minimum", minimum)] + [
            (f"thresholds.{k}", v) for k, v in overrides.items()
        ]:
            if value is not None and value not in _THRESHOLDS:
                section.problem(key, f"unknown threshold {value!r}", f"use one of {choices}")
        for category in [*(categories or []), *overrides]:
            if not _CATEGORY.match(category):
                section.problem(
                    "categories" if category not in overrides else f"thresholds.{category}",
                    f"{category!r} is not a HARM_CATEGORY_* name",
                    "e.g. HARM_CATEGORY_DANGEROUS_CONTENT",
                )
        if minimum is None and not overrides and section.ok:
            section.problem(
                "minimum", "[safety] sets no threshold", 'write minimum = "BLOCK_MEDIUM_AND_ABOVE"'
            )
        if not section.ok:
            return None
        thresholds = dict.fromkeys(categories or [], minimum) if minimum else {}
        thresholds.update(overrides)
        return cls({k: v for k, v in thresholds.items() if v is not None}, mode=mode)

    def on_request(self, request: GenAIRequest) -> None:
        """Add missing and raise lax safety settings."""
        snake = request.surface == "interactions"
        for body in generate_requests(request):
            key, settings = get_either(
                body, "safetySettings", "safety_settings", snake_default=snake
            )
            if settings is None:
                settings = []
            if not isinstance(settings, list):
                raise Deny(f"{key} is not a list")
            changes: list[str] = []
            updated = [dict(s) if isinstance(s, dict) else s for s in settings]
            for category, minimum in self.thresholds.items():
                entries = [
                    s
                    for s in updated
                    if isinstance(s, dict) and _category(s.get("category")) == category
                ]
                # The Interactions API spells enums in lower case without the prefix.
                wanted = minimum.lower() if snake else minimum
                if not entries:
                    name = category.removeprefix("HARM_CATEGORY_").lower() if snake else category
                    updated.append({"category": name, "threshold": wanted})
                    changes.append(f"{category} unset -> {minimum}")
                for entry in entries:
                    current = entry.get("threshold")
                    if _THRESHOLDS.get(str(current).upper(), -1) < _THRESHOLDS[minimum]:
                        entry["threshold"] = wanted
                        changes.append(f"{category} {current} -> {minimum}")
            if not changes:
                continue
            enforce = self.mode == "enforce"
            request.record(self.name, "raise", "; ".join(changes), enforced=enforce)
            if enforce:
                body[key] = updated
                request.mark_modified()


def _category(value: Any) -> str:
    """``HARM_CATEGORY_X`` for both spellings (``harassment`` is the Interactions API's)."""
    name = str(value).upper()
    return name if name.startswith("HARM_CATEGORY_") else f"HARM_CATEGORY_{name}"


# Tool kinds as the policy file names them -> the body keys (snake_case) that declare them.
TOOL_KINDS: dict[str, tuple[str, ...]] = {
    "google_search": ("google_search", "google_search_retrieval"),
    "code_execution": ("code_execution",),
    "url_context": ("url_context",),
    "google_maps": ("google_maps",),
    "file_search": ("file_search",),
    "retrieval": ("retrieval",),
    "enterprise_web_search": ("enterprise_web_search",),
    "computer_use": ("computer_use",),
    "function_declarations": ("function_declarations",),
    "mcp_servers": ("mcp_servers",),
}
# OpenAI-compatible tool types -> the Gemini kind they turn into.
_OPENAI_TOOLS = {
    "function": "function_declarations",
    "web_search": "google_search",
    "web_search_preview": "google_search",
    "code_interpreter": "code_execution",
    "file_search": "file_search",
    "mcp": "mcp_servers",
    # Interactions API tool types.
    "mcp_server": "mcp_servers",
    "google_maps": "google_maps",
    "url_context": "url_context",
    "computer_use": "computer_use",
}
_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")


class ToolsPolicy:
    """``[tools]``: refuse requests that declare a denied tool.

    Wherever tools are declared: generate, caches, batches, Live setup, OpenAI ``tools`` and
    ``web_search_options``.
    """

    name = "tools"
    # Live client messages and uploaded batch files carry this policy's fields too.
    inspects_live_messages = True
    judges_batch_files = True

    def __init__(self, *, deny: list[str], mode: str = "enforce") -> None:
        self.deny = list(deny)
        self.mode = mode
        self._keys = {key: kind for kind in deny for key in TOOL_KINDS[kind]}

    @classmethod
    def configure(cls, section: Section) -> ToolsPolicy | None:
        """Build from ``[tools]``."""
        mode = section.mode()
        deny = section.strings("deny", [])
        section.finish()
        for kind in deny or []:
            if kind not in TOOL_KINDS:
                section.problem(
                    "deny", f"unknown tool {kind!r}", f"use any of {', '.join(TOOL_KINDS)}"
                )
        return cls(deny=deny or [], mode=mode) if section.ok else None

    def on_request(self, request: GenAIRequest) -> None:
        """Deny a request declaring a denied tool."""
        for tool in iter_tools(request):
            for key in tool:
                kind = self._kind(key, tool)
                if kind is not None:
                    raise Deny(f"tool {kind!r} is not allowed")
        body = request.body
        if (
            request.surface == "openai"
            and isinstance(body, dict)
            and body.get("web_search_options") is not None
            and "google_search" in self.deny
        ):
            raise Deny("tool 'google_search' (web_search_options) is not allowed")

    def _kind(self, key: str, tool: dict[str, Any]) -> str | None:
        if key == "type" and isinstance(tool.get("type"), str):
            kind = _OPENAI_TOOLS.get(tool["type"], tool["type"])
            return kind if kind in self.deny else None
        return self._keys.get(_SNAKE.sub("_", key).lower())


class VertexPolicy:
    """``[vertex]``: data residency; a Vertex request must stay in the listed ``locations``.

    The locations checked: the client's configured location, every ``locations/{l}`` in the
    URL path and a regional host name (``europe-west4-aiplatform.googleapis.com``). A Vertex
    request naming none of them is in ``global``.
    """

    name = "vertex"

    def __init__(self, *, locations: list[str], mode: str = "enforce") -> None:
        self.locations = [loc.lower() for loc in locations]
        self.mode = mode

    @classmethod
    def configure(cls, section: Section) -> VertexPolicy | None:
        """Build from ``[vertex]``."""
        mode = section.mode()
        locations = section.strings(
            "locations",
            None,
            empty_fix='list the allowed locations, e.g. ["europe-west4"]; to refuse every '
            'Vertex request say so: [models] deny = ["*"] in a Vertex-only policy file',
        )
        section.finish()
        if locations is None and section.ok:
            section.problem(
                "locations", "is required in [vertex]", 'write locations = ["europe-west4"]'
            )
        return cls(locations=locations, mode=mode) if section.ok and locations else None

    def on_request(self, request: GenAIRequest) -> None:
        """Deny a Vertex request outside the allowed locations."""
        found = url_locations(request)
        identity = request.identity
        if identity.backend == "vertex":
            found.append((identity.location or "global").lower())
        elif not found:
            return  # not a Vertex request
        for location in found:
            if location not in self.locations:
                raise Deny(
                    f"Vertex location {location!r} is not allowed; allowed: "
                    f"{', '.join(self.locations)}"
                )


_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_FIELDS = ("app", "team", "client_id", "backend", "project", "location")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_LABEL_VALUE_BAD = re.compile(r"[^a-z0-9_-]")


class LabelsPolicy:
    """``[labels]``: add billing labels to Vertex generation requests (AI Studio rejects them).

    Values are templates over the client's identity (``{team}``, ``{app}``, ``{client_id}``,
    ``{backend}``, ``{project}``, ``{location}``), made valid label values (lower case,
    ``[a-z0-9_-]``, 63 characters). A label whose placeholder has no value is left out.
    The platform's labels win over an app's label of the same key.
    """

    name = "labels"

    def __init__(self, labels: dict[str, str], *, mode: str = "enforce") -> None:
        self.labels = labels
        self.mode = mode
        # One client has one identity: its label values are computed once, not per request.
        self._values: dict[Any, dict[str, str]] = {}

    @classmethod
    def configure(cls, section: Section) -> LabelsPolicy | None:
        """Build from ``[labels]``: every key except ``mode`` is a label."""
        mode = section.mode()
        labels: dict[str, str] = {}
        for key in list(section.table):
            if key == "mode":
                continue
            value = section.string(key, None)
            if value is None:
                continue
            if not _LABEL_KEY.match(key):
                section.problem(
                    key,
                    "label keys are 1-63 lower-case letters, digits, _ or -, "
                    "starting with a letter",
                    "rename the label",
                )
            for field in _PLACEHOLDER.findall(value):
                if field not in _LABEL_FIELDS:
                    section.problem(
                        key,
                        f"unknown placeholder {{{field}}}",
                        f"use any of {', '.join('{' + f + '}' for f in _LABEL_FIELDS)}",
                    )
            labels[key] = value
        section.finish()
        return cls(labels, mode=mode) if section.ok else None

    def on_request(self, request: GenAIRequest) -> None:
        """Merge the labels into a Vertex generate request's ``labels``."""
        if request.identity.backend != "vertex" or request.api_method not in (
            "generateContent",
            "streamGenerateContent",
        ):
            return
        body = request.body
        if not isinstance(body, dict):
            return
        values = self.values(request)
        current = body.get("labels")
        current = current if isinstance(current, dict) else {}
        changed = {k: v for k, v in values.items() if current.get(k) != v}
        if not changed:
            return
        enforce = self.mode == "enforce"
        request.record(
            self.name, "label", ", ".join(f"{k}={v}" for k, v in changed.items()), enforced=enforce
        )
        if enforce:
            body["labels"] = {**current, **values}
            request.mark_modified()

    def values(self, request: GenAIRequest) -> dict[str, str]:
        """The label values for this request's identity."""
        identity = request.identity
        cached = self._values.get(identity)
        if cached is not None:
            return cached
        fields = {field: getattr(identity, field) for field in _LABEL_FIELDS}
        out: dict[str, str] = {}
        for key, template in self.labels.items():
            if any(fields.get(f) is None for f in _PLACEHOLDER.findall(template)):
                continue
            value = _PLACEHOLDER.sub(lambda m: str(fields[m.group(1)]), template)
            out[key] = _LABEL_VALUE_BAD.sub("-", value.lower())[:63]
        if len(self._values) < 64:
            self._values[identity] = out
        return out
