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
  the :data:`PORTABLE` methods are re-rooted under the gateway's project; other Gemini routes
  (files, batch embeddings, the OpenAI layer of AI Studio) get a 404 in Google's error shape
  that names the methods that do translate.

Which route a path is comes from the route table (``golden_path._routes``), the one the
transport, the policies and the audit read: a path no row matches, or one whose meaning depends
on who decodes it (dot segments, double encoding), is refused here, before anything is read.
"""

from __future__ import annotations

import dataclasses

from golden_path._routes import Match, UnsafePath, match

__all__ = ["PORTABLE", "NotServed", "Target", "Upstream", "target"]

# The model calls the route table has on both backends whose request and response bodies are
# the same on both, so a path re-rooted is the whole translation. Not here: predictLongRunning
# (its operation is polled on routes of its own backend), batchEmbedContents (each request
# names its model in the Gemini API's spelling), and everything that is not a model call.
PORTABLE = frozenset(
    {"generateContent", "streamGenerateContent", "countTokens", "embedContent", "predict"}
)


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
        return Target(_translated(path, found, rest, upstream), found)
    if want == "gemini":
        return Target(decoded, found)
    if upstream.express:
        return Target(f"{upload}/{found.version}/{rest}", found)
    if not found.parent and method == "GET" and rest.startswith("publishers/"):
        # The publisher model list and get carry no project on Vertex either.
        return Target(decoded, found)
    parent = f"projects/{upstream.project}/locations/{upstream.location}"
    return Target(f"{upload}/{found.version}/{parent}/{rest}", found)


def _translated(path: str, found: Match, rest: str, upstream: Upstream) -> str:
    """Generate, stream and count written for one backend, sent to the other."""
    model = found.model
    if found.route.name not in PORTABLE or model is None:
        raise NotServed(
            f"{path} is a {_NAMES[found.backend or 'gemini']} route and this gateway fronts "
            f"{upstream.describe()}; of the other backend's routes it translates only "
            f"{', '.join(sorted(PORTABLE))} (send the rest in {upstream.describe()}'s shape)"
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


def _decoded(path: str) -> str:
    from golden_path._routes import check_path

    return check_path(path)
