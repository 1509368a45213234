"""Resource ownership: apps behind one gateway reach only their own files, caches, batches, ...

The gateway alone holds the Google key, so at Google every app's resources belong to one
principal. The gateway keeps the missing owner itself: when a request through it creates a
resource, the answer's name is recorded with the calling app (and team) in the gateway's state
store (``state_url``: the memory store, or the Redis that every replica shares, as limits use
it). Then:

- a request naming a resource, in its path or in its body (``cachedContent``,
  ``fileData.fileUri``, a batch's ``fileName``, ``previous_interaction_id``, file search store
  names), passes only for its owner (``resource_sharing = "team"``: any app of its team). For
  anyone else, and for a name with no recorded owner (made outside the gateway, or before this
  feature; ``unowned_resources = "allow"`` lets those pass), :class:`OwnershipPolicy` denies it
  in the chain: 403 ``PERMISSION_DENIED`` and an audit event, exactly like a policy denial. A
  foreign name and an unknown one get the same answer, so the refusal reveals nothing;
- a list of a collection (``GET files``, ``cachedContents``, ``batches``, ...) is filtered to the
  caller's own items (:meth:`Owners.answered`);
- a successful delete removes the record;
- what long-running work made (a video's files, a batch's results file, a Vertex tuning job's
  model and endpoint) gets the work's record when the work's answer is read.

Which paths name a resource is read from the route table (:func:`_collections`): what its rows
create in or delete from, plus ``batches`` and ``generatedFiles``, which answers name.
``models/...`` are Google's models on the Gemini API and owned only under a Vertex project.
"""

from __future__ import annotations

import functools
import json
import re
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

from golden_path._json import dumps
from golden_path._routes import ROUTES
from golden_path._state import StateStore, StoreUnavailable
from golden_path.policies._types import Deny, GenAIRequest

__all__ = [
    "COLLECTIONS",
    "Owners",
    "OwnershipPolicy",
    "StreamedCreate",
    "decoded",
    "named_in_path",
    "resource_name",
]


def _head(template: str, surface: str) -> str | None:
    """The collection a template's path starts in (the OpenAI layer's after its prefix)."""
    segments = template.split("/")
    if surface == "openai":
        # openai/responses/{id}, endpoints/openapi/responses/{id}, endpoints/{e}/responses/{id}
        segments = segments[1:] if segments[0] == "openai" else segments[2:]
    head = segments[0].split(":", 1)[0] if segments else ""
    return None if not head or head.startswith("{") else head


def _collections() -> tuple[frozenset[str], frozenset[str]]:
    """``(collections, project_only)`` read from the route table.

    A collection has owners when some row of a backend creates in it or deletes from it (what an
    app can delete is its own; Google's models and publishers are neither made nor deleted).
    Answers name two more: ``batches`` (made by ``models/M:batchGenerateContent``) and
    ``generatedFiles`` (made by a model's long-running work). A collection owned on Vertex
    whose name on the Gemini API is Google's (``models``: Vertex's Model Registry holds tuned
    models, the Gemini API's are Google's) is owned only under a Vertex project.
    """
    owned: dict[str, set[str]] = {"gemini": {"batches", "generatedFiles"}, "vertex": set()}
    googles: set[str] = set()
    for route in ROUTES:
        makes = route.name.rsplit(".", 1)[-1] in ("create", "upload", "delete")
        for backend, templates in (("gemini", route.gemini), ("vertex", route.vertex)):
            for template in templates:
                head = _head(template, route.surface)
                if head is None:
                    continue
                if makes:
                    owned[backend].add(head)
                elif backend == "gemini":
                    googles.add(head)
    project_only = owned["vertex"] & (googles - owned["gemini"])
    return frozenset((owned["gemini"] | owned["vertex"]) - project_only), frozenset(project_only)


COLLECTIONS, PROJECT_COLLECTIONS = _collections()
"""The collections whose items have an owner (``files``, ``cachedContents``, ``operations``,
...), and those that have one only in a Vertex project's scope (``models``)."""

_VERSION = re.compile(r"^v1(?:alpha|beta1?)?$")
_EVENT_END = re.compile(rb"\r?\n\r?\n")  # Google frames events with CRLF
# Body fields that name a resource (both spellings), and the collection a bare id is in.
_REFERENCES: dict[str, str | None] = {
    "cachedContent": "cachedContents",
    "cached_content": "cachedContents",
    "fileUri": "files",
    "file_uri": "files",
    "fileName": "files",
    "file_name": "files",
    "previous_interaction_id": "interactions",
    "previousInteractionId": "interactions",
    "fileSearchStoreNames": "fileSearchStores",
    "file_search_store_names": "fileSearchStores",
    "operationName": "operations",  # Vertex's fetchPredictOperation polls a video by name
    "operation_name": "operations",
    "previous_response_id": "responses",  # the OpenAI layer's stored responses
    # A Vertex tuning job that continues tuning a model (full names only: no bare ids).
    "tunedModelName": None,
    "tuned_model_name": None,
}
# Every key above starts "cached, "file, "previous or "operation: one regex pass over the raw
# body decides whether the parsed body is walked at all (a fraction of what parsing the body
# costs). A \u escape can spell any of them without those bytes (Google reads
# "\u0063achedContent" as cachedContent), so a body with one is always walked. A model field
# (the route table's ``models``) names an owned model only as "tunedModels/...,
# "projects/.../models/... or .../endpoints/...: those values are looked for too.
_MARKER = re.compile(rb'"(?:cached|file|previous|operation|tunedModels/|projects/)|\\u')
# What long-running work made is named under these fields of its answer (an operation's
# response, a batch's output, a tuning job's tuned model): the work's owner owns it too.
_OUTPUTS = frozenset({"response", "output", "tunedModel"})
# Single resources whose GET answers are read for those outputs: work that runs long.
_RUNS_LONG = frozenset({"operations", "batches", "batchPredictionJobs", "tuningJobs"})
# Model calls that start long-running work: their answer names it (a batch, an operation).
_STARTS = tuple(
    f":{route.name}"
    for route in ROUTES
    if route.meter in ("batch", "video_seconds")
    and any(":" in template for template in route.gemini + route.vertex)
)


def _first_owned(parts: Sequence[str], scoped: bool) -> int:
    """Index of the first segment of ``parts`` that is an owned collection, else -1.

    ``models`` counts only right under a Vertex project (``scoped``: ``parts`` start there, or
    ``projects/P/locations/L/`` precedes it); ``endpoints/openapi`` is the OpenAI layer.
    """
    for index, part in enumerate(parts):
        if part in COLLECTIONS:
            if part != "endpoints" or parts[index + 1 : index + 2] != ["openapi"]:
                return index
        elif part in PROJECT_COLLECTIONS and (
            (scoped and index == 0)
            or (index >= 4 and parts[index - 4] == "projects" and parts[index - 2] == "locations")
        ):
            return index
    return -1


def _item(part: str, ident: str) -> str:
    # A method (files/x:download) and a Vertex model's version (models/123@1) are no part of it.
    return f"{part}/{ident.split(':', 1)[0].split('@', 1)[0]}"


def resource_name(value: str, collection: str | None = None) -> str | None:
    """``collection/id`` that ``value`` names (a name, a URI, a Vertex path), else None.

    A bare id (an interaction's) counts for ``collection``. The first owned collection in the
    name decides: ``tunedModels/t/operations/o`` is the tuned model's; the operation of a
    Google model (``models/veo-3/operations/o``) is ``operations/o``.
    """
    head, scheme, _ = value.partition("://")
    if scheme and not head.startswith("http"):
        return None  # gs://bucket/files/x is the app's bucket, no resource of the gateway's
    parts = value.split("?", 1)[0].split("/")
    index = _first_owned(parts, scoped=False)
    if 0 <= index < len(parts) - 1 and parts[index + 1]:
        return _item(parts[index], parts[index + 1])
    if collection and "/" not in value and ":" not in value:
        return f"{collection}/{value}"
    return None


@functools.lru_cache(maxsize=4096)
def named_in_path(path: str) -> tuple[str | None, str | None]:
    """``(resource, collection)`` an upstream path names.

    ``resource`` is ``files/abc`` for ``/v1beta/files/abc:download``; ``collection`` is set
    when the path is the collection itself (``/v1beta/files``: a list or a create;
    ``/v1beta/models/veo-3/operations``: a list of operations).
    """
    segments = path.strip("/").split("/")
    index = next((i for i, s in enumerate(segments) if _VERSION.match(s)), -1)
    # v1beta1 is Vertex's alone: its models/ are the project's Model Registry, as under a parent.
    scoped = index >= 0 and segments[index] == "v1beta1"
    rest = segments[index + 1 :]
    if len(rest) > 4 and rest[0] == "projects" and rest[2] == "locations":
        rest, scoped = rest[4:], True
    # The OpenAI layer's own paths: its models/ are Google's (models/google/gemini-2.5-flash).
    if rest[:1] == ["openai"]:
        rest, scoped = rest[1:], False
    elif rest[:2] == ["endpoints", "openapi"]:
        rest, scoped = rest[2:], False
    heads = [segment.split(":", 1)[0] for segment in rest]
    found = _first_owned(heads, scoped)
    if found < 0:
        return None, None
    if found == len(rest) - 1:
        return None, heads[found]
    return _item(heads[found], rest[found + 1]), None


@functools.lru_cache(maxsize=4096)
def _named_in_raw(raw_path: bytes) -> tuple[str | None, str | None]:
    # The URL's raw path is several times cheaper to get than its decoded one; ids are ASCII.
    return named_in_path(raw_path.partition(b"?")[0].decode("latin-1"))


def _references(body: Any, found: set[str]) -> None:
    """Every resource a parsed body names in the fields of :data:`_REFERENCES`."""
    if isinstance(body, dict):
        for key, value in body.items():
            if key in _REFERENCES:
                for item in value if isinstance(value, list) else (value,):
                    if isinstance(item, str):
                        name = resource_name(item, _REFERENCES[key])
                        if name is not None:
                            found.add(name)
            elif isinstance(value, (dict, list)):
                _references(value, found)
    elif isinstance(body, list):
        for item in body:
            _references(item, found)


def _models_named(body: Any, fields: Sequence[str], found: set[str]) -> None:
    """Owned models the route table's model fields of a body name (``requests[].model``, ...).

    ``tunedModels/t``, a Vertex project's ``models/`` and ``endpoints/``: a Google model's
    name (``gemini-2.5-flash``, ``publishers/google/models/m``) names none.
    """
    for field in fields:
        if field in ("url", "interaction"):
            continue
        nodes = [body]
        for step in field.split("."):
            many = step.endswith("[]")
            key = step.removesuffix("[]")
            snake = re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()
            nodes = [n.get(key, n.get(snake)) if isinstance(n, dict) else None for n in nodes]
            if many:
                nodes = [item for n in nodes if isinstance(n, list) for item in n]
        for value in nodes:
            if isinstance(value, str) and "/" in value:
                name = resource_name(value)
                if name is not None:
                    found.add(name)


class Owners:
    """The owner records in the state store, and the rule of who may use what."""

    def __init__(
        self, store: StateStore, prefix: str, *, sharing: str = "app", unowned: str = "refuse"
    ) -> None:
        self.store = store
        self.prefix = f"{prefix}:owner:"
        self.sharing = sharing
        self.unowned = unowned

    def record(self, name: str, app: str, team: str | None) -> None:
        """``name`` was made by ``app`` (of ``team``)."""
        self.store.set_text(self.prefix + name, f"{app}\n{team or ''}")

    def forget(self, name: str) -> None:
        """``name`` was deleted."""
        self.store.delete_text(self.prefix + name)

    def refusals(self, names: Sequence[str], app: str, team: str | None) -> list[tuple[str, str]]:
        """``(name, why)`` for each of ``names`` the caller may not use (the why is for audit)."""
        if not names:
            return []
        found = self.store.get_texts([self.prefix + name for name in names])
        refused = []
        for name, owner in zip(names, found, strict=True):
            why = self._why(owner, app, team)
            if why is not None:
                refused.append((name, why))
        return refused

    def _why(self, owner: str | None, app: str, team: str | None) -> str | None:
        if owner is None:
            if self.unowned == "allow":
                return None
            return "has no recorded owner (made outside the gateway, or before ownership)"
        owner_app, _, owner_team = owner.partition("\n")
        if owner_app == app:
            return None
        if self.sharing == "team" and team and owner_team == team:
            return None
        return f"belongs to app {owner_app!r} (team {owner_team or '-'!r})"

    def wants(self, method: str, path: str) -> bool:
        """Whether :meth:`answered` must see this request's answer (cheap: a cached lookup)."""
        resource, collection = named_in_path(path)
        if collection is not None:
            return method in ("GET", "POST")
        if resource is not None:
            return method == "DELETE" or (
                method == "GET" and resource.split("/", 1)[0] in _RUNS_LONG
            )
        return path.endswith(_STARTS)

    def answered(
        self, app: str, team: str | None, *, method: str, path: str, status: int, body: bytes
    ) -> bytes | None:
        """Record a create, forget a delete, filter a list; the body to send instead, if any."""
        if status >= 300 or self.sharing == "all":
            return None
        resource, collection = named_in_path(path)
        if method == "DELETE" and resource is not None:
            self.forget(resource)
            # A delete that runs long (a Vertex model's) answers an operation, the deleter's.
            answer = _parsed(body)
            named = answer.get("name") if isinstance(answer, dict) else None
            operation = resource_name(named) if isinstance(named, str) else None
            if operation is not None and operation.startswith("operations/"):
                self.record(operation, app, team)
            return None
        if collection is not None and method == "GET":
            return self._filtered(app, team, collection, body)
        if resource is not None:
            if method == "GET":
                self._outputs(resource, _parsed(body))
            return None
        parsed = _parsed(body)
        made = [parsed]
        if isinstance(parsed, dict) and isinstance(parsed.get("files"), list):
            made = parsed["files"]  # files:register makes several at once
        for item in made:
            name = _created_name(item, collection or "batches")
            if name is not None:
                self.record(name, app, team)
        return None

    def created_event(self, app: str, team: str | None, event: Any) -> None:
        """A streamed create's first event (``interaction.created``, ``response.created``)."""
        if not isinstance(event, dict):
            return
        name = None
        if event.get("event_type") == "interaction.created":
            name = _created_name(event.get("interaction"), "interactions")
        elif event.get("type") == "response.created":
            name = _created_name(event.get("response"), "responses")
        if name is not None:
            self.record(name, app, team)

    def _outputs(self, resource: str, answer: Any) -> None:
        """What long-running work made (named in its answer's outputs) is the work's owner's.

        A video operation's files, a batch's results file, a Vertex tuning job's model and
        endpoint: the names appear only in the work's answer, so they are recorded as it is
        read, with the work's own record (its owner, or its team's app that made it). A name
        already recorded keeps its record; work nobody owns gives nothing an owner.
        """
        found: set[str] = set()
        _output_names(answer, found, inside=False)
        found.discard(resource)
        if not found:
            return
        names = sorted(found)
        texts = self.store.get_texts([self.prefix + name for name in [resource, *names]])
        owner = texts[0]
        if owner is None:
            return
        for name, text in zip(names, texts[1:], strict=True):
            if text is None:
                self.store.set_text(self.prefix + name, owner)

    def _filtered(self, app: str, team: str | None, collection: str, body: bytes) -> bytes | None:
        parsed = _parsed(body)
        if not isinstance(parsed, dict):
            return None
        changed = False
        for key, items in list(parsed.items()):
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                continue
            names = [_created_name(item, collection) or "" for item in items]
            refused = {name for name, _ in self.refusals([n for n in names if n], app, team)}
            kept = [
                item
                for item, name in zip(items, names, strict=True)
                if name and name not in refused
            ]
            if len(kept) != len(items):
                parsed[key] = kept
                changed = True
            if collection in _RUNS_LONG:
                for item, name in zip(items, names, strict=True):
                    if name and name not in refused:
                        self._outputs(name, item)
        return dumps(parsed) if changed else None


def _output_names(node: Any, found: set[str], *, inside: bool) -> None:
    """Names of owned resources under the :data:`_OUTPUTS` fields of an answer."""
    if isinstance(node, dict):
        for key, value in node.items():
            _output_names(value, found, inside=inside or key in _OUTPUTS)
    elif isinstance(node, list):
        for item in node:
            _output_names(item, found, inside=inside)
    elif inside and isinstance(node, str) and "/" in node:
        name = resource_name(node)
        if name is not None:
            found.add(name)


def _parsed(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _created_name(made: Any, collection: str) -> str | None:
    """The name a create's answer (or a list's item) gives what it made."""
    if not isinstance(made, dict):
        return None
    file = made.get("file")
    for value in (
        file.get("name") if isinstance(file, dict) else None,
        made.get("name"),
        made.get("id"),
    ):
        if isinstance(value, str):
            name = resource_name(value, collection)
            if name is not None:
                return name
    return None


def decoded(body: bytes, encoding: str | None) -> bytes | None:
    """A buffered answer's bytes decompressed (None: an encoding this module cannot read)."""
    if not encoding or encoding == "identity":
        return body
    if encoding in ("gzip", "deflate"):
        try:
            return zlib.decompress(body, 47)  # 32 + 15: gzip or zlib header, detected
        except zlib.error:
            return None
    return None


class StreamedCreate:
    """Reads a streamed interaction create's first event as it passes, to record its owner."""

    def __init__(self, owners: Owners, app: str, team: str | None) -> None:
        self.owners, self.app, self.team = owners, app, team
        self._head = b""
        self.done = False

    def feed(self, chunk: bytes) -> None:
        """One chunk of the stream, as sent on to the app."""
        self._head += chunk
        found = _EVENT_END.search(self._head)
        end = found.start() if found else -1
        if end < 0:
            self.done = len(self._head) > 1 << 20  # no event in the first MiB: give up
            return
        self.done = True
        for line in self._head[:end].splitlines():
            if line.startswith(b"data:"):
                self.owners.created_event(self.app, self.team, _parsed(line[5:].strip()))


class OwnershipPolicy:
    """The chain's check: a request naming a resource passes only for the resource's owner."""

    name = "gateway.ownership"

    def __init__(self, owners: Owners) -> None:
        self.owners = owners

    def on_request(self, request: GenAIRequest) -> None:
        """Deny a request that names a resource the calling app may not use."""
        names: set[str] = set()
        route = request.route
        if route is None or route.http != "WS":  # interactions/live is a socket, not an id
            resource, _ = _named_in_raw(request.url.raw_path)
            if resource is not None:
                names.add(resource)
        raw = request.raw
        if (
            raw
            and (route is None or route.body in ("model", "json"))
            and _MARKER.search(raw) is not None
        ):
            try:
                body = request.body
            except Exception:  # noqa: BLE001 - the route gate refuses what does not parse
                body = None
            _references(body, names)
            if route is not None:
                _models_named(body, route.models, names)
        if route is not None and route.name == "interactions.connect":
            body = request.body
            if isinstance(body, dict) and isinstance(body.get("id"), str):
                names.add(f"interactions/{body['id']}")
        if names:
            self._judge(request, sorted(names))

    def _judge(self, request: GenAIRequest, names: Iterable[str]) -> None:
        identity = request.identity
        app = identity.app or ""
        try:
            refused = self.owners.refusals(list(names), app, identity.team)
        except StoreUnavailable as exc:
            raise Deny(f"cannot check who owns the resources this request names: {exc}") from None
        if refused:
            name, why = refused[0]
            # The detail (whose it is, or that nobody's is) goes to the audit trail only: the
            # app sees the same answer for another app's resource and a name nobody made.
            request.record(self.name, "note", f"{name} {why}", enforced=False)
            raise Deny(
                f"{name} is not a resource of app {app!r}: through the gateway an app uses "
                "only the resources it created (gateway setting resource_sharing)"
            )
