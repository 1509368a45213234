"""Inbound path -> upstream path, for both backends' shapes of the Gemini REST protocol.

Apps talk to the gateway as they would talk to Google: Gemini Developer API paths
(``/v1beta/models/M:generateContent``, ``/upload/v1beta/files``, ``/v1beta/openai/...``) or
Vertex AI paths (``/v1beta1/projects/P/locations/L/publishers/google/models/M:...``, express
``/v1beta1/publishers/google/models/M:...``). The gateway has one upstream:

- the emulator serves both shapes: paths pass unchanged;
- AI Studio: Gemini paths pass; Vertex-shaped calls of the :data:`PORTABLE` methods (the bodies
  are the same) are re-rooted to ``/v1beta/models/M:method``; other Vertex routes are not served;
- Vertex AI: Vertex paths pass with the project and location replaced by the gateway's own
  (an app never needs to know, or can choose, the project that pays); Gemini-shaped calls of
  the :data:`PORTABLE` methods are re-rooted under the gateway's project, and batchEmbedContents
  (:data:`TO_VERTEX`) has its requests' Gemini model names dropped as well; other Gemini routes
  (files, the OpenAI layer of AI Studio) get a 404 in Google's error shape that names the
  methods that do translate.

Which route a path is comes from the route table (``golden_path._routes``), the one the
transport, the policies and the audit read: a path no row matches, or one whose meaning depends
on who decodes it (dot segments, double encoding), is refused here, before anything is read.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

from golden_path._json import dumps
from golden_path._routes import Match, UnsafePath, match

__all__ = ["PORTABLE", "TO_VERTEX", "NotServed", "Target", "Upstream", "target"]

# The model calls the route table has on both backends whose request and response bodies are
# the same on both, so a path re-rooted is the whole translation. Not here: predictLongRunning
# (its operation is polled on routes of its own backend) and everything that is not a model call.
PORTABLE = frozenset(
    {"generateContent", "streamGenerateContent", "countTokens", "embedContent", "predict"}
)
# Gemini-shaped calls that reach Vertex AI with their body rewritten too. batchEmbedContents
# (what the SDK's embed_content sends on the Gemini API): each request names its model in the
# Gemini API's spelling (``models/M``), which Vertex does not read; Vertex takes the path's model
# when a request names none, so the names go (after checking they are the path's model).
# Not the other way: Vertex's requests carry fields the Gemini API has no place for.
TO_VERTEX = frozenset({"batchEmbedContents"})


class NotServed(Exception):
    """The path is not a route of the gateway's upstream (answered 404, or 400 when unsafe)."""

    def __init__(self, message: str, *, unsafe: bool = False) -> None:
        super().__init__(message)
        self.unsafe = unsafe


@dataclasses.dataclass(frozen=True, slots=True)
class Upstream:
    """Where the gateway sends requests: backend, endpoint, and Vertex's project and location."""

    backend: str  # ai_studio | vertex | emulator
    endpoint: str
    project: str | None = None
    location: str | None = None
    express: bool = False

    def describe(self) -> str:
        """For error messages: which API the gateway fronts."""
        return {
            "ai_studio": "the Gemini Developer API",
            "vertex": "Vertex AI",
            "emulator": "the golden-path emulator",
        }.get(self.backend, self.backend)


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """Where one inbound request goes: the upstream path and the route-table row it calls."""

    path: str
    match: Match
    # The body as the upstream must receive it; raises NotServed (answered 400) when it cannot.
    rewrite: Callable[[bytes], bytes] | None = None


def target(method: str, path: str, upstream: Upstream) -> Target:
    """The upstream path for an inbound request path (percent-encoded, as received)."""
    try:
        found = match(method, path)
    except UnsafePath as exc:
        raise NotServed(str(exc), unsafe=True) from None
    if found is None or found.prefix:
        raise NotServed(
            f"{method} {path} is not a route of the Gemini API or Vertex AI "
            "(`golden-path routes` lists them)"
        )
    decoded = path if "%" not in path else _decoded(path)
    if upstream.backend == "emulator":
        return Target(decoded, found)
    upload = "/upload" if found.route.upload else ""
    rest = decoded.split(f"/{found.version}/", 1)[1]
    if found.parent:
        rest = rest[len(found.parent) + 1 :]
    want = "vertex" if upstream.backend == "vertex" else "gemini"
    if found.backend != want:
        rewrite = None
        if want == "vertex" and found.route.name in TO_VERTEX and found.model is not None:
            rewrite = _batch_embed_for_vertex(found.model)
        return Target(_translated(path, found, rest, upstream, bool(rewrite)), found, rewrite)
    if want == "gemini":
        return Target(decoded, found)
    if upstream.express:
        return Target(f"{upload}/{found.version}/{rest}", found)
    if not found.parent and method == "GET" and rest.startswith("publishers/"):
        # The publisher model list and get carry no project on Vertex either.
        return Target(decoded, found)
    parent = f"projects/{upstream.project}/locations/{upstream.location}"
    return Target(f"{upload}/{found.version}/{parent}/{rest}", found)


def _translated(
    path: str, found: Match, rest: str, upstream: Upstream, rewritten: bool = False
) -> str:
    """Generate, stream and count written for one backend, sent to the other."""
    model = found.model
    if not (found.route.name in PORTABLE or rewritten) or model is None:
        also = sorted(TO_VERTEX) if upstream.backend == "vertex" else []
        raise NotServed(
            f"{path} is a {_NAMES[found.backend or 'gemini']} route and this gateway fronts "
            f"{upstream.describe()}; of the other backend's routes it translates only "
            f"{', '.join(sorted(PORTABLE | set(also)))} "
            f"(send the rest in {upstream.describe()}'s shape)"
        )
    verb = rest.rsplit(":", 1)[1]
    if upstream.backend == "ai_studio":
        return f"/v1beta/models/{model}:{verb}"
    if upstream.express:
        return f"/v1beta1/publishers/google/models/{model}:{verb}"
    return (
        f"/v1beta1/projects/{upstream.project}/locations/{upstream.location}"
        f"/publishers/google/models/{model}:{verb}"
    )


_NAMES = {"gemini": "Gemini Developer API", "vertex": "Vertex AI"}


def _batch_embed_for_vertex(model: str) -> Callable[[bytes], bytes]:
    """A Gemini batchEmbedContents body as Vertex takes it: the requests' model names dropped.

    A request naming another model than the path's is refused (the Gemini API refuses it too):
    dropping that name would embed with a model the app did not ask for. A body that is not the
    expected shape passes unchanged, for the policies and the upstream to judge.
    """
    allowed = {"", model, f"models/{model}"}

    def rewrite(body: bytes) -> bytes:
        try:
            parsed = json.loads(body)
        except ValueError:
            return body
        requests = parsed.get("requests") if isinstance(parsed, dict) else None
        if not isinstance(requests, list) or not all(isinstance(r, dict) for r in requests):
            return body
        for index, request in enumerate(requests):
            named = request.pop("model", "")
            if named not in allowed:
                raise NotServed(
                    f"requests[{index}].model is {named!r} but the path's model is {model!r}: "
                    "a batch embeds with one model (name it in the path, or leave the "
                    "requests' model out)",
                    unsafe=True,
                )
        return dumps(parsed)

    return rewrite


def _decoded(path: str) -> str:
    from golden_path._routes import check_path

    return check_path(path)
