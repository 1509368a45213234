"""Stateful resources: files, cached contents, batches, tuning jobs, operations, auth tokens.

Every resource lives in one :class:`Store` per emulator. Long-running ones move on the
emulator's :class:`~golden_path.emulator._clock.Clock`, so tests control them:

- files are ``PROCESSING`` for ``file_processing_s`` (video and audio only), then ``ACTIVE``;
- batches and tuning jobs are ``PENDING`` until ``job_start_s``, ``RUNNING`` until
  ``job_run_s``, then ``SUCCEEDED`` with results computed from their requests;
- video generation operations are done after ``video_s``;
- cached contents disappear at their ``expireTime``.

Names follow each backend: ``files/abc123``, ``cachedContents/abc123``, ``batches/abc123``,
``tunedModels/x`` on the Gemini API; ``projects/p/locations/l/cachedContents/123`` (numeric
ids) on Vertex AI.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import mimetypes
import re
import secrets
import threading
from collections.abc import Callable
from typing import Any

from golden_path.emulator import _answers, _catalogue, _validate
from golden_path.emulator._clock import Clock, parse_duration, parse_rfc3339, rfc3339
from golden_path.emulator._http import Incoming, Reply, google_error, json_reply
from golden_path.emulator._png import png

_FILE_LIFETIME_S = 48 * 3600
_DEFAULT_CACHE_TTL_S = 3600.0
_SLOW_MIME_PREFIXES = ("video/", "audio/")


@dataclasses.dataclass
class Timings:
    """How long long-running resources take, in emulator-clock seconds."""

    file_processing_s: float = 0.0
    job_start_s: float = 1.0
    job_run_s: float = 2.0
    video_s: float = 1.0


def new_id(vertex: bool) -> str:
    """A fresh resource id in the backend's style (Vertex ids are numeric)."""
    if vertex:
        return str(10**18 + secrets.randbelow(9 * 10**18))
    return secrets.token_hex(6)


@dataclasses.dataclass
class Where:
    """Which backend and API version a resource request came through, and its URL base."""

    vertex: bool
    version: str
    project: str = ""
    location: str = ""
    base: str = ""

    @property
    def parent(self) -> str:
        """``projects/p/locations/l`` on Vertex, "" on the Gemini API."""
        return f"projects/{self.project}/locations/{self.location}" if self.vertex else ""

    def named(self, collection: str, rid: str) -> str:
        """The full resource name of ``rid`` in ``collection``."""
        parent = self.parent
        return f"{parent}/{collection}/{rid}" if parent else f"{collection}/{rid}"


class Store:
    """Every stateful resource of one emulator, guarded by one lock."""

    def __init__(self, clock: Clock | None = None, timings: Timings | None = None) -> None:
        self.clock = clock or Clock()
        self.timings = timings or Timings()
        self.lock = threading.RLock()
        self.files: dict[str, dict[str, Any]] = {}
        self.file_data: dict[str, bytes] = {}
        self.uploads: dict[str, dict[str, Any]] = {}
        self.caches: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.tunings: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.auth_tokens: dict[str, dict[str, Any]] = {}
        self.interactions: dict[str, dict[str, Any]] = {}
        # The OpenAI layer's stored responses (``store`` true, the default), by id.
        self.openai_responses: dict[str, dict[str, Any]] = {}
        # Live Interactions auth tokens: secret -> {"interaction": id, "expires": epoch s}.
        self.interaction_tokens: dict[str, dict[str, Any]] = {}
        self.prompted_json = True
        self.continuation_segments = 1
        """How many segments generateContent answers come in (``finishReason: CONTINUATION``)."""
        """Rule 4 of ``_answers``: answer in JSON when the prompt asks for JSON."""

    # -- files -----------------------------------------------------------------------------------

    def upload_principal(self, upload_id: str | None) -> str | None:
        """Who started the upload session ``upload_id`` (None when there is no such session)."""
        if upload_id is None:
            return None
        with self.lock:
            session = self.uploads.get(upload_id)
            return None if session is None else session.get("principal")

    def remember_upload_principal(self, reply: Reply, principal: str) -> None:
        """Tie a new upload session (named in ``reply``'s upload URL) to whoever started it."""
        for name, value in reply.headers:
            if name == "X-Goog-Upload-URL":
                upload_id = value.split("upload_id=", 1)[1].split("&", 1)[0]
                with self.lock:
                    if upload_id in self.uploads:
                        self.uploads[upload_id]["principal"] = principal

    def add_file(
        self, where: Where, data: bytes, mime: str, display_name: str | None, *, source: str
    ) -> dict[str, Any]:
        """Store ``data`` as a new file and return its resource."""
        rid = new_id(vertex=False)
        now = self.clock.now()
        slow = mime.startswith(_SLOW_MIME_PREFIXES) and self.timings.file_processing_s > 0
        resource: dict[str, Any] = {
            "name": f"files/{rid}",
            "mimeType": mime,
            "sizeBytes": str(len(data)),
            "createTime": rfc3339(now),
            "updateTime": rfc3339(now),
            "expirationTime": rfc3339(now + _FILE_LIFETIME_S),
            "sha256Hash": base64.b64encode(hashlib.sha256(data).hexdigest().encode()).decode(),
            "uri": f"{where.base}/{where.version}/files/{rid}",
            "source": source,
            "_ready": now + (self.timings.file_processing_s if slow else 0.0),
        }
        if display_name:
            resource["displayName"] = display_name
        if source == "GENERATED":
            resource["downloadUri"] = f"{where.base}/{where.version}/files/{rid}:download?alt=media"
        with self.lock:
            self.files[resource["name"]] = resource
            self.file_data[resource["name"]] = data
        return resource

    def file_view(self, resource: dict[str, Any]) -> dict[str, Any]:
        """The file as the API shows it now (``PROCESSING`` until it is ready)."""
        view = _public(resource)
        view["state"] = "ACTIVE" if self.clock.now() >= resource["_ready"] else "PROCESSING"
        return view

    # -- cached contents -------------------------------------------------------------------------

    def live_cache(self, name: str) -> dict[str, Any] | None:
        """The cache called ``name`` unless it expired (expired ones are dropped)."""
        with self.lock:
            cache = self.caches.get(name)
            if cache is None:
                return None
            if self.clock.now() >= cache["_expires"]:
                del self.caches[name]
                return None
            return cache


def _public(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if not k.startswith("_")}


# -- routing -------------------------------------------------------------------------------------

Handler = Callable[["Store", Where, Incoming, "re.Match[str]"], Reply]


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    """One resource route: method, path pattern (after the version and parent) and handler."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler
    backends: frozenset[str]


_GEMINI_PREFIX = re.compile(r"^/(?P<upload>upload/)?(?P<v>v1|v1beta|v1alpha)/(?P<rest>.*)$")
_VERTEX_PREFIX = re.compile(
    r"^/(?P<v>v1|v1beta1)/projects/(?P<p>[^/]+)/locations/(?P<l>[^/]+)/(?P<rest>.*)$"
)


def match(
    incoming: Incoming, base: str, routes: list[Route]
) -> tuple[str, Where, Route, re.Match[str]] | None:
    """Find the resource route for ``incoming``: (backend, where, route, match) or None."""
    path = incoming.path
    found = _VERTEX_PREFIX.match(path)
    if found:
        where = Where(True, found["v"], found["p"], found["l"], base)
        backend, rest = "vertex", found["rest"]
    else:
        found = _GEMINI_PREFIX.match(path)
        if not found:
            return None
        where = Where(False, found["v"], base=base)
        backend = "gemini"
        rest = ("upload/" if found["upload"] else "") + found["rest"]
    for route in routes:
        if backend not in route.backends:
            continue
        hit = route.pattern.match(rest)
        if hit and route.method == incoming.method:
            return backend, where, route, hit
    return None


# -- helpers -------------------------------------------------------------------------------------


def _body(incoming: Incoming) -> dict[str, Any]:
    return incoming.body if isinstance(incoming.body, dict) else {}


def _not_found(what: str, name: str, where: Where) -> Reply:
    if where.vertex:
        return google_error(404, f"{what} {name} not found.")
    return google_error(
        403, f"{what} not found (or permission denied).", status="PERMISSION_DENIED"
    )


def _page(items: list[dict[str, Any]], incoming: Incoming, key: str) -> Reply:
    chunk, token = _catalogue.page(items, incoming.query)
    answer: dict[str, Any] = {key: chunk}
    if token:
        answer["nextPageToken"] = token
    return json_reply(answer)


def _bad(message: str) -> Reply:
    return google_error(400, message)


# -- files ---------------------------------------------------------------------------------------


def _upload(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    upload_id = incoming.query.get("upload_id")
    if upload_id is None:
        return _upload_start(store, where, incoming)
    return _upload_chunk(store, where, incoming, upload_id)


_MEDIA_TYPES = frozenset(
    {"application", "audio", "font", "image", "message", "model", "multipart", "text", "video"}
)
"""IANA's top-level media types: a MIME type under any other is refused, as Google does."""


def _upload_start(  # noqa: PLR0911 -- one return per protocol rule
    store: Store, where: Where, incoming: Incoming
) -> Reply:
    headers = incoming.headers
    if headers.get("x-goog-upload-protocol", "").lower() != "resumable":
        return _bad("Only the resumable upload protocol is supported (X-Goog-Upload-Protocol).")
    if headers.get("x-goog-upload-command", "").lower() != "start":
        return _bad("The first request of a resumable upload must be X-Goog-Upload-Command: start.")
    try:
        size = int(headers.get("x-goog-upload-header-content-length", ""))
    except ValueError:
        return _bad("X-Goog-Upload-Header-Content-Length must be the size of the file in bytes.")
    if size < 0:
        return _bad("X-Goog-Upload-Header-Content-Length must not be negative.")
    # Google's JSON parser takes proto names in either spelling; the SDK's async path sends
    # snake_case here.
    file = _answers.as_dict(_body(incoming).get("file"))
    file = {_validate.camel(k): v for k, v in file.items()}
    mime = headers.get("x-goog-upload-header-content-type") or str(file.get("mimeType") or "")
    if not mime:
        return _bad("The file's MIME type is missing (X-Goog-Upload-Header-Content-Type).")
    if mime.split("/", 1)[0].lower() not in _MEDIA_TYPES or "/" not in mime:
        return _bad(f"Unsupported MIME type: {mime}")
    upload_id = secrets.token_urlsafe(24)
    with store.lock:
        store.uploads[upload_id] = {
            "size": size, "mime": mime, "data": bytearray(),
            "displayName": file.get("displayName"),
            "vertex": where.vertex, "version": where.version,
        }  # fmt: skip
    url = (
        f"{where.base}/upload/{where.version}/files?upload_id={upload_id}&upload_protocol=resumable"
    )
    return Reply(
        body=b"{}",
        headers=(
            ("X-Goog-Upload-URL", url),
            ("X-Goog-Upload-Status", "active"),
            ("X-Goog-Upload-Chunk-Granularity", str(256 * 1024)),
        ),
    )


def _upload_chunk(  # noqa: PLR0911 -- one return per protocol rule
    store: Store, where: Where, incoming: Incoming, upload_id: str
) -> Reply:
    with store.lock:
        upload = store.uploads.get(upload_id)
    if upload is None:
        return google_error(404, f"No upload session {upload_id!r}: start a new upload.")
    commands = {
        c.strip().lower() for c in incoming.headers.get("x-goog-upload-command", "").split(",")
    }
    received = len(upload["data"])
    if "query" in commands:
        return Reply(
            body=b"",
            headers=(
                ("X-Goog-Upload-Status", "active"),
                ("X-Goog-Upload-Size-Received", str(received)),
            ),
        )
    if "cancel" in commands:
        with store.lock:
            store.uploads.pop(upload_id, None)
        return Reply(body=b"", headers=(("X-Goog-Upload-Status", "cancelled"),))
    if "upload" not in commands and "finalize" not in commands:
        return _bad("X-Goog-Upload-Command must be upload, finalize, query or cancel.")
    try:
        offset = int(incoming.headers.get("x-goog-upload-offset", ""))
    except ValueError:
        return _bad("X-Goog-Upload-Offset must be the number of bytes sent so far.")
    if offset != received:
        # The client resumes from X-Goog-Upload-Size-Received.
        refused = _bad(f"Upload offset {offset} does not match the {received} bytes received.")
        status = (
            ("X-Goog-Upload-Status", "active"),
            ("X-Goog-Upload-Size-Received", str(received)),
        )
        return dataclasses.replace(refused, headers=status)
    upload["data"] += incoming.raw_body
    if len(upload["data"]) > upload["size"]:
        with store.lock:
            store.uploads.pop(upload_id, None)
        return _bad(
            f"Received {len(upload['data'])} bytes but X-Goog-Upload-Header-Content-Length "
            f"announced {upload['size']}."
        )
    if "finalize" not in commands:
        return Reply(body=b"", headers=(("X-Goog-Upload-Status", "active"),))
    if len(upload["data"]) != upload["size"]:
        return _bad(f"Finalized after {len(upload['data'])} of {upload['size']} announced bytes.")
    with store.lock:
        store.uploads.pop(upload_id, None)
    resource = store.add_file(
        Where(False, upload["version"], base=where.base), bytes(upload["data"]),
        upload["mime"], upload["displayName"], source="UPLOADED",
    )  # fmt: skip
    return Reply(
        body=json.dumps({"file": store.file_view(resource)}).encode(),
        headers=(("X-Goog-Upload-Status", "final"),),
    )


def _file_name(m: re.Match[str]) -> str:
    return f"files/{m['id']}"


def _files_list(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    with store.lock:
        files = [store.file_view(f) for f in store.files.values()]
    files.reverse()  # newest first, as Google lists them
    return _page(files, incoming, "files")


def _files_get(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    with store.lock:
        resource = store.files.get(_file_name(m))
    if resource is None:
        return _not_found("File", _file_name(m), where)
    return json_reply(store.file_view(resource))


def _files_delete(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    with store.lock:
        resource = store.files.pop(_file_name(m), None)
        store.file_data.pop(_file_name(m), None)
    if resource is None:
        return _not_found("File", _file_name(m), where)
    return json_reply({})


def _files_download(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    with store.lock:
        resource = store.files.get(_file_name(m))
        data = store.file_data.get(_file_name(m), b"")
    if resource is None:
        return _not_found("File", _file_name(m), where)
    if resource["source"] != "GENERATED":
        return _bad("Only generated files can be downloaded; this file was uploaded.")
    return Reply(body=data, content_type=resource["mimeType"])


def _files_register(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    uris = _body(incoming).get("uris")
    if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
        return _bad("* RegisterFilesRequest.uris: uris must list gs:// URIs")
    files = []
    for uri in uris:
        if not uri.startswith("gs://"):
            return _bad(f"Invalid GCS URI {uri!r}: it must start with gs://")
        mime = mimetypes.guess_type(uri)[0] or "application/octet-stream"
        resource = store.add_file(where, b"", mime, None, source="REGISTERED")
        resource["uri"] = uri
        files.append(store.file_view(resource))
    return json_reply({"files": files})


# -- cached contents -----------------------------------------------------------------------------


def _invalid_value(field: str, kind: str, value: Any) -> str:
    return (
        f"Invalid value at '{field}' (type.googleapis.com/google.protobuf.{kind}), "
        f"{json.dumps(value)}"
    )


def _expiry(body: dict[str, Any], now: float) -> float | str:
    if "expireTime" in body:
        moment = parse_rfc3339(body["expireTime"])
        if moment is None:
            return _invalid_value("expire_time", "Timestamp", body["expireTime"])
        return moment
    if "ttl" in body:
        ttl = parse_duration(body["ttl"])
        if ttl is None:
            return _invalid_value("ttl", "Duration", body["ttl"])
        if ttl <= 0:
            return "ttl must be positive"
        return now + ttl
    return now + _DEFAULT_CACHE_TTL_S


def cache_model_id(model: str) -> str:
    """The bare model id of a cache's ``model`` field in either backend's spelling."""
    return model.rsplit("/", 1)[-1]


def _caches_create(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    body = _body(incoming)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return _bad("* CreateCachedContentRequest.cached_content.model: model is not specified")
    bare = model.removeprefix("models/")
    if not _catalogue.is_served(cache_model_id(model)) or (not where.vertex and "/" in bare):
        return google_error(404, f"Model {model} is not found or does not support caching.")
    refused = _cache_content_problem(body, where)
    if refused is not None:
        return refused
    now = store.clock.now()
    expires = _expiry(body, now)
    if isinstance(expires, str):
        return _bad(expires)
    tokens = _answers.prompt_tokens(body)
    if tokens == 0 and not body.get("contents"):
        return _bad("Cached content must include contents or a system instruction.")
    name = where.named("cachedContents", new_id(where.vertex))
    resource: dict[str, Any] = {
        "name": name,
        "model": model,
        "createTime": rfc3339(now),
        "updateTime": rfc3339(now),
        "expireTime": rfc3339(expires),
        "usageMetadata": {"totalTokenCount": tokens},
        "_expires": expires,
        "_tokens": tokens,
    }
    if isinstance(body.get("displayName"), str):
        resource["displayName"] = body["displayName"]
    with store.lock:
        store.caches[name] = resource
    return json_reply(_public(resource))


def file_uris(value: Any) -> list[str]:
    """Every ``fileData.fileUri`` inside ``value``."""
    if isinstance(value, list):
        return [u for item in value for u in file_uris(item)]
    if not isinstance(value, dict):
        return []
    found = [v for k, v in value.items() if k in ("fileUri", "file_uri") and isinstance(v, str)]
    return found + [u for k, v in value.items() if k not in ("fileUri", "file_uri")
                    for u in file_uris(v)]  # fmt: skip


def _cache_content_problem(body: dict[str, Any], where: Where) -> Reply | None:
    """What Google refuses in a cache's contents and keys, per backend.

    The Gemini API reads files it holds, not Cloud Storage (``gs://``: 400); Vertex AI cannot
    read the Gemini API's file URIs and fails with 500 INTERNAL. The emulator has no Cloud KMS,
    so a customer-managed key (``kmsKeyName``) is refused as Vertex refuses a key it can't use.
    """
    uris = file_uris(body.get("contents")) + file_uris(body.get("systemInstruction"))
    if not where.vertex and any(u.startswith("gs://") for u in uris):
        return _bad("Cloud Storage URIs (gs://) are not supported by the Gemini API; "
                    "upload the file with the File API and use its uri.")  # fmt: skip
    if where.vertex and any("generativelanguage.googleapis.com" in u for u in uris):
        return google_error(500, "Internal error encountered.", status="INTERNAL")
    spec = _answers.as_dict(body.get("encryptionSpec", body.get("encryption_spec")))
    key = spec.get("kmsKeyName")
    if where.vertex and key is not None:
        return _bad(f"The Cloud KMS key {key} is not accessible or does not exist.")
    return None


def _cache_name(where: Where, m: re.Match[str]) -> str:
    return where.named("cachedContents", m["id"])


def _caches_get(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    cache = store.live_cache(_cache_name(where, m))
    if cache is None:
        return _not_found("CachedContent", _cache_name(where, m), where)
    return json_reply(_public(cache))


def _caches_patch(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    cache = store.live_cache(_cache_name(where, m))
    if cache is None:
        return _not_found("CachedContent", _cache_name(where, m), where)
    body = _body(incoming)
    unknown = sorted(set(body) - {"ttl", "expireTime", "name", "displayName"})
    if unknown:
        return _bad(
            f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.'
        )
    now = store.clock.now()
    expires = _expiry(body, now)
    if isinstance(expires, str):
        return _bad(expires)
    with store.lock:
        cache["_expires"] = expires
        cache["expireTime"] = rfc3339(expires)
        cache["updateTime"] = rfc3339(now)
    return json_reply(_public(cache))


def _caches_delete(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    name = _cache_name(where, m)
    if store.live_cache(name) is None:
        return _not_found("CachedContent", name, where)
    with store.lock:
        store.caches.pop(name, None)
    return json_reply({})


def _caches_list(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    with store.lock:
        names = list(store.caches)
    caches = [_public(c) for n in names if (c := store.live_cache(n)) is not None]
    return _page(caches, incoming, "cachedContents")


# -- the route table -----------------------------------------------------------------------------

_G = frozenset({"gemini"})
_V = frozenset({"vertex"})
_GV = frozenset({"gemini", "vertex"})
_ID = r"(?P<id>[A-Za-z0-9_-]+)"


def _r(method: str, pattern: str, handler: Handler, backends: frozenset[str]) -> Route:
    return Route(method, re.compile(f"^{pattern}$"), handler, backends)


ROUTES: list[Route] = [
    _r("POST", "upload/files", _upload, _G),
    _r("GET", "files", _files_list, _G),
    _r("POST", "files:register", _files_register, _G),
    _r("GET", f"files/{_ID}", _files_get, _G),
    _r("DELETE", f"files/{_ID}", _files_delete, _G),
    _r("GET", f"files/{_ID}:download", _files_download, _G),
    _r("POST", "cachedContents", _caches_create, _GV),
    _r("GET", "cachedContents", _caches_list, _GV),
    _r("GET", f"cachedContents/{_ID}", _caches_get, _GV),
    _r("PATCH", f"cachedContents/{_ID}", _caches_patch, _GV),
    _r("DELETE", f"cachedContents/{_ID}", _caches_delete, _GV),
]
"""Resource routes; the model-method routes (generate, batches, imagen, ...) are in ``_gemini``."""


def generated_png(prompt: str) -> bytes:
    """The image an Imagen request for ``prompt`` answers with."""
    return png(prompt)
