"""Inbound path -> upstream path, for both backends' shapes of the Gemini REST protocol.

Apps talk to the gateway as they would talk to Google: Gemini Developer API paths
(``/v1beta/models/M:generateContent``, ``/upload/v1beta/files``, ``/v1beta/openai/...``) or
Vertex AI paths (``/v1beta1/projects/P/locations/L/publishers/google/models/M:...``, express
``/v1beta1/publishers/google/models/M:...``). The gateway has one upstream:

- the emulator serves both shapes: paths pass unchanged;
- AI Studio: Gemini paths pass; Vertex-shaped generate/stream/count calls (the bodies are the
  same) are re-rooted to ``/v1beta/models/M:method``; other Vertex routes are not served;
- Vertex AI: Vertex paths pass with the project and location replaced by the gateway's own
  (an app never needs to know, or can choose, the project that pays); Gemini-shaped
  generate/stream/count calls are re-rooted under the gateway's project; Gemini-only routes
  (files, the OpenAI layer of AI Studio) are not served.

What the request *means* (method, model, stream, surface) is classified by the transport from
the upstream path, exactly as for the in-process client.
"""

from __future__ import annotations

import dataclasses
import re

__all__ = ["NotServed", "Upstream", "upstream_path"]

_GEMINI = re.compile(r"^/(?P<upload>upload/)?(?P<v>v1|v1beta|v1alpha)/(?P<rest>.*)$")
_VERTEX = re.compile(
    r"^/(?P<upload>upload/)?(?P<v>v1|v1beta1)/"
    r"(?:projects/[^/]+/locations/[^/]+/(?P<rest>.*)|(?P<pub>publishers/.*))$"
)
# The calls whose request and response bodies are the same on both backends.
_PORTABLE = "generateContent|streamGenerateContent|countTokens"
_GEMINI_MODEL_CALL = re.compile(rf"^models/(?P<model>[^/:]+):(?P<method>{_PORTABLE})$")
_VERTEX_MODEL_CALL = re.compile(
    rf"^publishers/google/models/(?P<model>[^/:]+):(?P<method>{_PORTABLE})$"
)


class NotServed(Exception):
    """The path is not a route of the gateway's upstream (answered 404 in Google's shape)."""


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


def upstream_path(path: str, upstream: Upstream) -> str:
    """The upstream path for an inbound (already dot-segment-checked) path."""
    vertex = _VERTEX.match(path)
    if upstream.backend == "emulator":
        if vertex is None and _GEMINI.match(path) is None:
            raise NotServed(f"{path} is not a Gemini API or Vertex AI path")
        return path
    if vertex is not None:
        rest = vertex.group("rest")
        in_project = rest is not None
        return _to_vertex(
            path,
            upstream,
            vertex.group("v"),
            rest if in_project else vertex.group("pub"),
            upload=bool(vertex.group("upload")),
            in_project=in_project,
        )
    gemini = _GEMINI.match(path)
    if gemini is not None:
        return _from_gemini(path, upstream, gemini.group("rest"))
    raise NotServed(f"{path} is not a Gemini API or Vertex AI path")


def _to_vertex(
    path: str, upstream: Upstream, version: str, rest: str, *, upload: bool, in_project: bool
) -> str:
    if upstream.backend == "ai_studio":
        call = _VERTEX_MODEL_CALL.match(rest)
        if call is None or upload:
            raise NotServed(
                f"{path} is a Vertex AI route and this gateway fronts {upstream.describe()}"
            )
        return f"/v1beta/models/{call.group('model')}:{call.group('method')}"
    prefix = "/upload" if upload else ""
    if upstream.express:
        # Express mode serves the publisher model paths only, without a project.
        if in_project and not rest.startswith("publishers/"):
            raise NotServed(f"{path} needs a project; this gateway fronts Vertex AI express mode")
        return f"{prefix}/{version}/{rest}"
    if not in_project and _VERTEX_MODEL_CALL.match(rest) is None:
        # The publisher model list and get carry no project on Vertex either.
        return f"{prefix}/{version}/{rest}"
    return f"{prefix}/{version}/projects/{upstream.project}/locations/{upstream.location}/{rest}"


def _from_gemini(path: str, upstream: Upstream, rest: str) -> str:
    if upstream.backend == "ai_studio":
        return path
    call = _GEMINI_MODEL_CALL.match(rest)
    if call is None:
        raise NotServed(
            f"{path} is a Gemini Developer API route and this gateway fronts {upstream.describe()}"
        )
    model, method = call.group("model"), call.group("method")
    if upstream.express:
        return f"/v1beta1/publishers/google/models/{model}:{method}"
    return (
        f"/v1beta1/projects/{upstream.project}/locations/{upstream.location}"
        f"/publishers/google/models/{model}:{method}"
    )
