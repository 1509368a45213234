"""What a URL means on the wire: which API method, which model, streamed or not.

Shared by the transport (audit fields), the policies (allowlists) and the emulator's users.
Paths are those of ../shared/notes/google-genai-3.4.md; both backends and the
OpenAI-compatible endpoints are recognised.
"""

from __future__ import annotations

import dataclasses
import functools
import re

__all__ = ["WireCall", "classify", "normalize_model"]

# `.../models/{model}:{method}` (Gemini API, Vertex publisher and express paths alike).
_MODEL_METHOD = re.compile(r"/models/(?P<model>[^/:]+):(?P<method>[A-Za-z]+)$")
_MODEL_GET = re.compile(r"/models/(?P<model>[^/:]+)$")
_TUNED = re.compile(r"/(?:tunedModels|endpoints)/(?P<model>[^/:]+):(?P<method>[A-Za-z]+)$")
_OPENAI = re.compile(
    r"/openai/(?P<rest>chat/completions|embeddings|models(?:/[^/]+)?)$|"
    r"/endpoints/openapi/(?P<rest2>chat/completions|embeddings|models(?:/[^/]+)?)$"
)
_RESOURCE = re.compile(
    r"/(?P<kind>cachedContents|batches|tuningJobs|batchPredictionJobs|files|operations|"
    r"fileSearchStores|documents|interactions)(?:/(?P<rest>.*))?$"
)
_PREFIXES = re.compile(
    r"^(?:projects/[^/]+/locations/[^/]+/)?(?:publishers/[^/]+/)?(?:models/)?", re.IGNORECASE
)


@dataclasses.dataclass(frozen=True, slots=True)
class WireCall:
    """The meaning of one request.

    ``api_method`` is the RPC name: ``generateContent``, ``streamGenerateContent``,
    ``countTokens``, ``models.list``, ``chat.completions``, ...
    """

    api_method: str
    model: str | None
    stream: bool
    surface: str  # "genai" | "openai" | "rest"


def normalize_model(name: str | None) -> str | None:
    """The bare model id: strips resource prefixes, ``@version`` aside, case and whitespace.

    ``models/Gemini-2.5-Flash``, ``publishers/google/models/gemini-2.5-flash`` and
    ``projects/p/locations/l/publishers/google/models/gemini-2.5-flash`` all become
    ``gemini-2.5-flash``.
    """
    if name is None:
        return None
    bare = "".join(name.split()).strip("/")
    bare = _PREFIXES.sub("", bare)
    # Anything still carrying a path (tunedModels/x, endpoints/123) keeps its last segment.
    bare = bare.rsplit("/", 1)[-1]
    return bare.lower() or None


@functools.lru_cache(maxsize=4096)
def classify(method: str, path: str, query: str = "") -> WireCall:  # noqa: PLR0911 - a dispatch
    """Classify a request path; unknown paths are ``rest`` calls named after the HTTP method.

    Cached: an app calls the same few paths over and over, and a WireCall is immutable.
    """
    match = _OPENAI.search(path)
    if match:
        rest = match.group("rest") or match.group("rest2") or ""
        if rest.startswith("models"):
            model = rest.split("/", 1)[1] if "/" in rest else None
            return WireCall(
                "models.get" if model else "models.list", normalize_model(model), False, "openai"
            )
        # The model is in the body; the transport reads it from there.
        return WireCall(rest.replace("/", "."), None, False, "openai")
    match = _MODEL_METHOD.search(path) or _TUNED.search(path)
    if match:
        api_method = match.group("method")
        stream = api_method.startswith("stream") or "alt=sse" in query
        return WireCall(api_method, normalize_model(match.group("model")), stream, "genai")
    match = _RESOURCE.search(path)
    if match:
        kind = match.group("kind")
        rest = match.group("rest") or ""
        verb = rest.rsplit(":", 1)[1] if ":" in rest else _crud(method, bool(rest))
        return WireCall(f"{kind}.{verb}", None, False, "genai")
    match = _MODEL_GET.search(path)
    if match and method == "GET":
        return WireCall("models.get", normalize_model(match.group("model")), False, "genai")
    if path.rstrip("/").endswith("/models"):
        return WireCall("models.list", None, False, "genai")
    return WireCall(method.lower(), None, False, "rest")


def _crud(method: str, has_id: bool) -> str:
    if method == "GET":
        return "get" if has_id else "list"
    return {"POST": "create", "DELETE": "delete", "PATCH": "update", "PUT": "update"}.get(
        method, method.lower()
    )
