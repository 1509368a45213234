"""The route table: every HTTP route and websocket of the Gemini surface, as data, in one place.

Classification, the built-in policies, the limiter, the audit event, ``golden-path routes``,
``docs/routes.md`` and the emulator all read :data:`ROUTES`. A request matching no row is
*unknown*, and the transport refuses it by default (``[routes] unknown``).

Paths are written relative to the API version root (``/v1beta/`` and the like). On Vertex AI a
``projects/{project}/locations/{location}/`` parent may come first; it is stripped before
matching, so one template serves project mode and express mode. Templates use ``{name}`` for
one path segment; ``{model}`` marks the segment that names a model.

Where the rows come from: Google's own specs (the Gemini API HTTP rules in
google-ai-generativelanguage, the Vertex AI discovery documents in google-api-python-client)
and, for what they leave out (the Interactions API, websockets, the resumable upload protocol,
the OpenAI-compatible layer), the requests google-genai's own modules build.
``tests/routes/test_table.py`` diffs the table against both specs and the installed SDK.

Matching is a dictionary walk over path segments (a trie), cached per path: classification
is on every request's hot path.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterator
from typing import Literal
from urllib.parse import unquote

__all__ = [
    "CLIENT_SIDE",
    "RETIRED",
    "ROUTES",
    "Match",
    "Meter",
    "Route",
    "UnsafePath",
    "WireCall",
    "classify",
    "match",
    "normalize_model",
    "route_named",
]

Meter = Literal[
    "tokens",  # usage tokens from the response (estimated before, settled after)
    "requests",  # one unit per request, no tokens
    "images",  # instances x sampleCount (Imagen)
    "video_seconds",  # sampleCount x durationSeconds (Veo)
    "cache_token_hours",  # cached tokens x TTL hours (creation and TTL extension)
    "batch",  # the sum of the batch's inline requests, reserved at creation
    "none",  # no cost: metadata reads, deletes
]
Body = Literal["model", "json", "media", "none"]
Backend = Literal["gemini", "vertex"]


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    """One API method, wherever it is served.

    ``name`` is the API method as audit events and policies name it (``generateContent``,
    ``files.list``). ``gemini``/``vertex`` are its path templates on each backend (empty:
    not served there). ``models`` says where model names appear: ``url`` and dotted body paths
    (``[]`` for every item of a list), each in the camelCase spelling; the snake_case twin is
    read as well; ``interaction`` is the model or agent of the interaction the request acts
    on (as golden-path last read it). ``content`` names the body fields that carry user
    content (what PII and content capture read). ``body``: ``model`` for a model call whose
    body must parse, ``json`` for other JSON, ``media`` for uploaded bytes, ``none`` for none.
    ``stream``: ``sse`` (always streamed), ``sse?`` (when the body or ``alt=sse`` asks),
    ``ws`` (a websocket) or empty. ``sdk`` lists the google-genai resource methods that call it.
    """

    name: str
    http: str
    surface: str
    gemini: tuple[str, ...] = ()
    vertex: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    content: tuple[str, ...] = ()
    meter: Meter = "none"
    body: Body = "none"
    stream: str = ""
    upload: bool = False
    sdk: tuple[str, ...] = ()
    since: str = ""

    @property
    def backends(self) -> tuple[Backend, ...]:
        """The backends that serve this route."""
        found: list[Backend] = []
        if self.gemini:
            found.append("gemini")
        if self.vertex:
            found.append("vertex")
        return tuple(found)

    @property
    def model_call(self) -> bool:
        """Whether the route calls a model (its body must parse; it is metered)."""
        return self.body == "model"


# ----------------------------------------------------------------------------- the rows

_GEN_CONTENT = (
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "cachedContent",
    "generationConfig",
)
_MODEL_URL = ("url",)
_PUB = "publishers/{publisher}/models/{model}"


def _model_verb(
    verb: str,
    *,
    gemini: bool = True,
    vertex: bool = True,
    tuned: bool = False,
    endpoints: bool = False,
    content: tuple[str, ...] = (),
    meter: Meter = "tokens",
    stream: str = "",
    sdk: tuple[str, ...] = (),
    models: tuple[str, ...] = _MODEL_URL,
) -> Route:
    """``POST .../models/{model}:{verb}`` on the backends that serve it."""
    g = [f"models/{{model}}:{verb}"] if gemini else []
    if gemini and tuned:
        g.append(f"tunedModels/{{model}}:{verb}")
    v = [f"{_PUB}:{verb}"] if vertex else []
    if vertex and endpoints:
        v.append(f"endpoints/{{model}}:{verb}")
    return Route(
        verb,
        "POST",
        "genai",
        tuple(g),
        tuple(v),
        models=models,
        content=content,
        meter=meter,
        body="model",
        stream=stream,
        sdk=sdk,
    )


def _crud(
    resource: str,
    verb: str,
    http: str,
    template: str,
    *,
    gemini: bool = True,
    vertex: bool = True,
    surface: str = "genai",
    models: tuple[str, ...] = (),
    content: tuple[str, ...] = (),
    meter: Meter = "none",
    body: Body | None = None,
    sdk: tuple[str, ...] = (),
    since: str = "",
    upload: bool = False,
    stream: str = "",
) -> Route:
    """A resource method: ``{resource}.{verb}`` at ``template``."""
    if body is None:
        body = "json" if http in ("POST", "PATCH", "PUT") else "none"
    return Route(
        f"{resource}.{verb}",
        http,
        surface,
        (template,) if gemini else (),
        (template,) if vertex else (),
        models=models,
        content=content,
        meter=meter,
        body=body,
        stream=stream,
        upload=upload,
        sdk=sdk,
        since=since,
    )


def _collection(
    resource: str,
    template: str,
    *,
    gemini: bool = True,
    vertex: bool = True,
    verbs: str = "create list get delete",
    surface: str = "genai",
    sdk_resource: str = "",
    alias: str = "",
    create: dict[str, object] | None = None,
) -> list[Route]:
    """The usual CRUD rows of a collection at ``template`` (``template/{id}`` for one item)."""
    item = f"{template}/{{id}}"
    shapes = {
        "create": ("POST", template),
        "list": ("GET", template),
        "get": ("GET", item),
        "delete": ("DELETE", item),
        "update": ("PATCH", item),
    }
    rows = []
    for verb in verbs.split():
        http, path = shapes[verb]
        extra: dict[str, object] = dict(create or {}) if verb == "create" else {}
        sdk: tuple[str, ...] = (f"{sdk_resource}.{verb}",) if sdk_resource else ()
        if alias:  # environments.create_environment, .list_environments, ...
            sdk += (f"{sdk_resource}.{verb}_{alias}{'s' if verb == 'list' else ''}",)
        rows.append(
            _crud(
                resource,
                verb,
                http,
                path,
                gemini=gemini,
                vertex=vertex,
                surface=surface,
                sdk=sdk,
                **extra,  # type: ignore[arg-type]
            )
        )
    return rows


def _rows() -> list[Route]:  # noqa: PLR0915 - the table, row by row
    rows: list[Route] = []
    add = rows.append
    # -- models: generation ---------------------------------------------------------
    for verb, stream, sdk in (
        ("generateContent", "", ("models.generate_content",)),
        ("streamGenerateContent", "sse", ("models.generate_content_stream",)),
    ):
        add(
            _model_verb(
                verb, tuned=True, endpoints=True, content=_GEN_CONTENT, stream=stream, sdk=sdk
            )
        )
    add(
        Route(
            "generateContent",
            "POST",
            "genai",
            ("dynamic/{model}:generateContent",),
            models=_MODEL_URL,
            content=_GEN_CONTENT,
            meter="tokens",
            body="model",
        )
    )
    add(
        Route(
            "streamGenerateContent",
            "POST",
            "genai",
            ("dynamic/{model}:streamGenerateContent",),
            models=_MODEL_URL,
            content=_GEN_CONTENT,
            meter="tokens",
            body="model",
            stream="sse",
        )
    )
    add(
        _model_verb(
            "countTokens",
            endpoints=True,
            content=("contents", "systemInstruction", "tools", "generateContentRequest"),
            meter="none",  # free: no quota
            sdk=("models.count_tokens",),
            models=("url", "generateContentRequest.model"),
        )
    )
    add(
        _model_verb(
            "computeTokens",
            gemini=False,
            endpoints=True,
            content=("contents", "instances"),
            meter="none",
            sdk=("models.compute_tokens",),
        )
    )
    add(_model_verb("embedContent", content=("content",), sdk=("models.embed_content",)))
    add(
        _model_verb(
            "batchEmbedContents",
            content=("requests[].content",),
            sdk=("models.embed_content",),
            models=("url", "requests[].model"),
        )
    )
    # Imagen (generate/edit/upscale/recontext/segment) and text-embedding models share :predict.
    add(
        _model_verb(
            "predict",
            endpoints=True,
            content=("instances",),
            meter="images",
            sdk=(
                "models.generate_images",
                "models.edit_image",
                "models.upscale_image",
                "models.recontext_image",
                "models.segment_image",
                "models.embed_content",
            ),
        )
    )
    add(
        _model_verb(
            "predictLongRunning",
            endpoints=True,
            content=("instances",),
            meter="video_seconds",
            sdk=("models.generate_videos",),
        )
    )
    add(
        _model_verb(
            "fetchPredictOperation",
            gemini=False,
            endpoints=True,
            meter="none",
            sdk=("operations.get",),
        )
    )
    for verb in ("rawPredict", "streamRawPredict", "serverStreamingPredict"):
        add(
            _model_verb(
                verb,
                gemini=False,
                endpoints=True,
                content=("instances", "inputs", "httpBody"),
                meter="tokens",
                stream="sse" if verb != "rawPredict" else "",
            )
        )
    rows.extend(
        Route(
            verb,
            "POST",
            "genai",
            vertex=(f"endpoints/{{model}}:{verb}",),
            models=_MODEL_URL,
            content=("instances", "inputs"),
            meter="tokens",
            body="model",
        )
        for verb in ("directPredict", "directRawPredict", "explain")
    )
    # Legacy PaLM methods Google still publishes on the Gemini API.
    for verb, content in (
        ("generateText", ("prompt",)),
        ("generateMessage", ("prompt",)),
        ("generateAnswer", ("contents",)),
        ("embedText", ("text",)),
        ("batchEmbedText", ("texts", "requests[].text")),
        ("countTextTokens", ("prompt",)),
        ("countMessageTokens", ("prompt",)),
    ):
        add(
            _model_verb(
                verb,
                vertex=False,
                tuned=verb == "generateText",
                content=content,
                meter="none" if verb.startswith("count") else "tokens",
            )
        )
    # -- models: metadata -------------------------------------------------------------
    add(
        Route(
            "models.list",
            "GET",
            "genai",
            ("models", "tunedModels"),
            ("publishers/{publisher}/models", "models"),
            sdk=("models.list",),
        )
    )
    add(
        Route(
            "models.get",
            "GET",
            "genai",
            ("models/{model}", "tunedModels/{model}"),
            (_PUB, "models/{model}"),
            models=_MODEL_URL,
            sdk=("models.get", "tunings.get"),
        )
    )
    add(
        Route(
            "models.update",
            "PATCH",
            "genai",
            ("tunedModels/{model}",),
            ("models/{model}",),
            models=_MODEL_URL,
            body="json",
            sdk=("models.update",),
        )
    )
    add(
        Route(
            "models.delete",
            "DELETE",
            "genai",
            ("tunedModels/{model}",),
            ("models/{model}",),
            models=_MODEL_URL,
            sdk=("models.delete",),
        )
    )
    add(
        _crud(
            "models",
            "transferOwnership",
            "POST",
            "tunedModels/{model}:transferOwnership",
            vertex=False,
            models=_MODEL_URL,
        )
    )
    add(
        _crud(
            "models",
            "fetchPublisherModelConfig",
            "GET",
            f"{_PUB}:fetchPublisherModelConfig",
            gemini=False,
            models=_MODEL_URL,
        )
    )
    # -- operations (long-running) -----------------------------------------------------
    add(
        Route(
            "operations.get",
            "GET",
            "genai",
            (
                "operations/{id}",
                "models/{model}/operations/{id}",
                "tunedModels/{model}/operations/{id}",
                "generatedFiles/{file}/operations/{id}",
                "corpora/{corpus}/operations/{id}",
                "ragStores/{store}/operations/{id}",
                "ragStores/{store}/upload/operations/{id}",
                "fileSearchStores/{store}/operations/{id}",
                "fileSearchStores/{store}/upload/operations/{id}",
            ),
            (
                "operations/{id}",
                f"{_PUB}/operations/{{id}}",
                "models/{model}/operations/{id}",
                "endpoints/{endpoint}/operations/{id}",
                "tuningJobs/{job}/operations/{id}",
            ),
            sdk=("operations.get",),
        )
    )
    add(
        Route(
            "operations.list",
            "GET",
            "genai",
            ("operations", "models/{model}/operations", "tunedModels/{model}/operations"),
            ("endpoints/{endpoint}/operations", "tuningJobs/{job}/operations"),
        )
    )
    add(
        Route(
            "operations.delete",
            "DELETE",
            "genai",
            ("operations/{id}",),
            (
                "models/{model}/operations/{id}",
                "endpoints/{endpoint}/operations/{id}",
                "tuningJobs/{job}/operations/{id}",
            ),
        )
    )
    add(
        Route(
            "operations.cancel",
            "POST",
            "genai",
            ("tunedModels/{model}/operations/{id}:cancel",),
            (
                "models/{model}/operations/{id}:cancel",
                "endpoints/{endpoint}/operations/{id}:cancel",
                "tuningJobs/{job}/operations/{id}:cancel",
            ),
            body="json",
        )
    )
    add(
        Route(
            "operations.wait",
            "POST",
            "genai",
            (),
            (
                "models/{model}/operations/{id}:wait",
                "endpoints/{endpoint}/operations/{id}:wait",
                "tuningJobs/{job}/operations/{id}:wait",
            ),
            body="json",
        )
    )
    # -- files ----------------------------------------------------------------------------
    add(
        _crud(
            "files",
            "upload",
            "POST",
            "files",
            vertex=False,
            upload=True,
            body="media",
            content=("file",),
            sdk=("files.upload",),
        )
    )
    add(_crud("files", "create", "POST", "files", vertex=False, sdk=("files.upload",)))
    rows.extend(
        _collection("files", "files", vertex=False, verbs="list get delete", sdk_resource="files")
    )
    add(
        _crud(
            "files",
            "download",
            "GET",
            "files/{id}:download",
            vertex=False,
            sdk=("files.download",),
        )
    )
    add(
        _crud(
            "files",
            "register",
            "POST",
            "files:register",
            vertex=False,
            sdk=("files.register_files",),
        )
    )
    add(_crud("generatedFiles", "get", "GET", "generatedFiles/{id}", vertex=False))
    # -- cached contents -------------------------------------------------------------------
    rows.extend(
        _collection(
            "cachedContents",
            "cachedContents",
            verbs="create list get delete update",
            sdk_resource="caches",
            create={
                "models": ("model",),
                "content": ("contents", "systemInstruction", "tools", "toolConfig"),
                "meter": "cache_token_hours",
                "body": "model",
            },
        )
    )
    rows[-1] = dataclasses.replace(rows[-1], meter="cache_token_hours")  # TTL extension
    # -- batches ------------------------------------------------------------------------------
    for verb in ("batchGenerateContent", "asyncBatchEmbedContent"):
        add(
            _model_verb(
                verb,
                vertex=False,
                content=("batch.inputConfig.requests.requests[].request",),
                meter="batch",
                sdk=("batches.create", "batches.create_embeddings"),
                models=("url", "batch.inputConfig.requests.requests[].request.model"),
            )
        )
    rows.extend(
        [
            _crud("batches", "list", "GET", "batches", vertex=False, sdk=("batches.list",)),
            _crud("batches", "get", "GET", "batches/{id}", vertex=False, sdk=("batches.get",)),
            _crud(
                "batches", "delete", "DELETE", "batches/{id}", vertex=False, sdk=("batches.delete",)
            ),
            _crud(
                "batches",
                "cancel",
                "POST",
                "batches/{id}:cancel",
                vertex=False,
                sdk=("batches.cancel",),
            ),
            _crud("batches", "update", "PATCH", "batches/{id}", vertex=False),
            _crud(
                "batchPredictionJobs",
                "create",
                "POST",
                "batchPredictionJobs",
                gemini=False,
                models=("model",),
                content=("inputConfig",),
                meter="batch",
                body="model",
                sdk=("batches.create",),
            ),
        ]
    )
    rows.extend(
        _collection(
            "batchPredictionJobs",
            "batchPredictionJobs",
            gemini=False,
            verbs="list get delete",
            sdk_resource="batches",
        )
    )
    add(
        _crud(
            "batchPredictionJobs",
            "cancel",
            "POST",
            "batchPredictionJobs/{id}:cancel",
            gemini=False,
            sdk=("batches.cancel",),
        )
    )
    # -- tuning ---------------------------------------------------------------------------------
    add(
        _crud(
            "tunedModels",
            "create",
            "POST",
            "tunedModels",
            vertex=False,
            models=("baseModel",),
            content=("tuningTask.trainingData",),
            meter="requests",
            body="model",
            sdk=("tunings.tune",),
        )
    )
    add(
        _crud(
            "tuningJobs",
            "create",
            "POST",
            "tuningJobs",
            gemini=False,
            models=("baseModel",),
            content=("supervisedTuningSpec",),
            meter="requests",
            body="model",
            sdk=("tunings.tune",),
        )
    )
    rows.extend(
        _collection(
            "tuningJobs", "tuningJobs", gemini=False, verbs="list get", sdk_resource="tunings"
        )
    )
    add(
        _crud(
            "tuningJobs",
            "cancel",
            "POST",
            "tuningJobs/{id}:cancel",
            gemini=False,
            sdk=("tunings.cancel",),
        )
    )
    add(
        _crud(
            "tuningJobs",
            "validateReinforcementTuningReward",
            "POST",
            "tuningJobs:validateReinforcementTuningReward",
            gemini=False,
            sdk=("tunings.validate_reward",),
        )
    )
    rows.extend(
        _crud("tunedModels.permissions", verb, http, path, vertex=False)
        for verb, http, path in (
            ("create", "POST", "tunedModels/{model}/permissions"),
            ("list", "GET", "tunedModels/{model}/permissions"),
            ("get", "GET", "tunedModels/{model}/permissions/{id}"),
            ("update", "PATCH", "tunedModels/{model}/permissions/{id}"),
            ("delete", "DELETE", "tunedModels/{model}/permissions/{id}"),
        )
    )
    # -- file search stores and their documents (Gemini API) --------------------------------
    rows.extend(
        _collection(
            "fileSearchStores",
            "fileSearchStores",
            vertex=False,
            sdk_resource="file_search_stores",
        )
    )
    add(
        _crud(
            "fileSearchStores",
            "uploadToFileSearchStore",
            "POST",
            "fileSearchStores/{id}:uploadToFileSearchStore",
            vertex=False,
            upload=True,
            body="media",
            content=("file",),
            sdk=("file_search_stores.upload_to_file_search_store",),
        )
    )
    add(
        _crud(
            "fileSearchStores",
            "importFile",
            "POST",
            "fileSearchStores/{id}:importFile",
            vertex=False,
            sdk=("file_search_stores.import_file",),
        )
    )
    add(
        _crud(
            "fileSearchStores.media",
            "download",
            "GET",
            "fileSearchStores/{id}/media/{blob}",
            vertex=False,
            sdk=("file_search_stores.download_media",),
        )
    )
    rows.extend(
        _crud(
            "fileSearchStores.documents",
            verb,
            http,
            path,
            vertex=False,
            sdk=(f"file_search_stores.documents.{verb}",),
        )
        for verb, http, path in (
            ("list", "GET", "fileSearchStores/{id}/documents"),
            ("get", "GET", "fileSearchStores/{id}/documents/{doc}"),
            ("delete", "DELETE", "fileSearchStores/{id}/documents/{doc}"),
        )
    )
    # -- semantic retrieval corpora (Gemini API v1beta; no SDK wrapper: REST only) -----------
    chunks = "corpora/{id}/documents/{doc}/chunks"
    corpus_rows: list[tuple[str, str, str, str]] = [
        ("corpora", "create", "POST", "corpora"),
        ("corpora", "list", "GET", "corpora"),
        ("corpora", "get", "GET", "corpora/{id}"),
        ("corpora", "update", "PATCH", "corpora/{id}"),
        ("corpora", "delete", "DELETE", "corpora/{id}"),
        ("corpora", "query", "POST", "corpora/{id}:query"),
        ("corpora.documents", "create", "POST", "corpora/{id}/documents"),
        ("corpora.documents", "list", "GET", "corpora/{id}/documents"),
        ("corpora.documents", "get", "GET", "corpora/{id}/documents/{doc}"),
        ("corpora.documents", "update", "PATCH", "corpora/{id}/documents/{doc}"),
        ("corpora.documents", "delete", "DELETE", "corpora/{id}/documents/{doc}"),
        ("corpora.documents", "query", "POST", "corpora/{id}/documents/{doc}:query"),
        ("corpora.chunks", "create", "POST", "corpora/{id}/documents/{doc}/chunks"),
        ("corpora.chunks", "list", "GET", "corpora/{id}/documents/{doc}/chunks"),
        ("corpora.chunks", "get", "GET", "corpora/{id}/documents/{doc}/chunks/{chunk}"),
        ("corpora.chunks", "update", "PATCH", "corpora/{id}/documents/{doc}/chunks/{chunk}"),
        ("corpora.chunks", "delete", "DELETE", "corpora/{id}/documents/{doc}/chunks/{chunk}"),
        ("corpora.chunks", "batchCreate", "POST", f"{chunks}:batchCreate"),
        ("corpora.chunks", "batchUpdate", "POST", f"{chunks}:batchUpdate"),
        ("corpora.chunks", "batchDelete", "POST", f"{chunks}:batchDelete"),
        ("corpora.permissions", "create", "POST", "corpora/{id}/permissions"),
        ("corpora.permissions", "list", "GET", "corpora/{id}/permissions"),
        ("corpora.permissions", "get", "GET", "corpora/{id}/permissions/{perm}"),
        ("corpora.permissions", "update", "PATCH", "corpora/{id}/permissions/{perm}"),
        ("corpora.permissions", "delete", "DELETE", "corpora/{id}/permissions/{perm}"),
    ]  # fmt: skip
    rows.extend(
        _crud(
            resource,
            verb,
            http,
            path,
            vertex=False,
            content=("chunk", "document", "query", "requests") if http == "POST" else (),
            meter="requests" if verb == "query" else "none",
        )
        for resource, verb, http, path in corpus_rows
    )
    # -- ephemeral auth tokens (Live API, Gemini API v1alpha) ---------------------------------
    add(
        _crud(
            "auth_tokens",
            "create",
            "POST",
            "auth_tokens",
            vertex=False,
            models=("bidiGenerateContentSetup.setup.model", "bidiGenerateContentSetup.model"),
            content=("bidiGenerateContentSetup",),
            body="model",
            meter="requests",
            sdk=("auth_tokens.create",),
        )
    )
    # -- Interactions API and its agent platform (GAOS) --------------------------------------
    add(
        _crud(
            "interactions",
            "create",
            "POST",
            "interactions",
            surface="interactions",
            models=("model", "agent"),
            content=("input", "system_instruction", "tools", "previous_interaction_id"),
            meter="tokens",
            body="model",
            stream="sse?",
            sdk=("interactions.create",),
        )
    )
    for verb, http, path in (
        ("get", "GET", "interactions/{id}"),
        ("delete", "DELETE", "interactions/{id}"),
        ("cancel", "POST", "interactions/{id}/cancel"),
    ):
        add(
            _crud(
                "interactions",
                verb,
                http,
                path,
                surface="interactions",
                sdk=(f"interactions.{verb}",),
                stream="sse?" if verb == "get" else "",
            )
        )
    for verb, http, path in (
        ("create", "POST", "interactions/{id}/auth_tokens"),
        ("delete", "DELETE", "interactions/{id}/auth_tokens/{token}"),
    ):
        add(
            _crud(
                "interactions.auth_tokens",
                verb,
                http,
                path,
                surface="interactions",
                # The token opens the interaction's Live session: its model is the one judged.
                models=("interaction",),
                meter="requests" if verb == "create" else "none",
                sdk=(f"interactions.auth_tokens.{verb}",),
                since="3.5.0",
            )
        )
    for resource, verbs in (
        ("agents", "create list get delete"),
        ("environments", "create list get delete"),
        ("triggers", "create list get delete update"),
        ("webhooks", "create list get delete update"),
        ("credentials", "create list get delete update"),
        ("voices", "create list get delete"),
    ):
        rows.extend(
            _collection(
                resource,
                resource,
                verbs=verbs,
                surface="interactions",
                sdk_resource=resource,
                alias="environment" if resource == "environments" else "",
            )
        )
    rows.extend(
        [
            _crud(
                "triggers.executions",
                "list",
                "GET",
                "triggers/{id}/executions",
                surface="interactions",
                sdk=("triggers.list_executions",),
            ),
            _crud(
                "triggers.executions",
                "create",
                "POST",
                "triggers/{id}/executions",
                surface="interactions",
                meter="tokens",
                sdk=("triggers.run",),
            ),
            _crud(
                "webhooks",
                "ping",
                "POST",
                "webhooks/{id}:ping",
                surface="interactions",
                sdk=("webhooks.ping",),
            ),
            _crud(
                "webhooks",
                "rotateSigningSecret",
                "POST",
                "webhooks/{id}:rotateSigningSecret",
                surface="interactions",
                sdk=("webhooks.rotate_signing_secret",),
            ),
            _crud(
                "decisions",
                "create",
                "POST",
                "decisions",
                surface="interactions",
                sdk=("decisions.create",),
            ),
            _crud(
                "environments.files",
                "get",
                "GET",
                "environments/{id}/files/{path}",
                surface="interactions",
                sdk=("environments.files.download", "environments.files.list"),
            ),
            _crud(
                "environments.files",
                "upload",
                "PUT",
                "environments/{id}/files/{path}",
                surface="interactions",
                upload=True,
                body="media",
                content=("file",),
                sdk=("environments.files.upload",),
            ),
        ]
    )
    # -- the OpenAI-compatible layer -----------------------------------------------------
    for name, path, meter, fields in (
        ("chat.completions", "chat/completions", "tokens", ("messages", "tools")),
        ("completions", "completions", "tokens", ("prompt",)),
        ("embeddings", "embeddings", "tokens", ("input",)),
        ("responses", "responses", "tokens", ("input", "instructions", "tools")),
        ("images.generations", "images/generations", "images", ("prompt",)),
        ("images.edits", "images/edits", "images", ("prompt", "image")),
        ("audio.speech", "audio/speech", "tokens", ("input",)),
        ("audio.transcriptions", "audio/transcriptions", "tokens", ("file", "prompt")),
    ):
        add(
            Route(
                name,
                "POST",
                "openai",
                (f"openai/{path}",),
                (f"endpoints/openapi/{path}",),
                models=("model",),
                content=fields,
                meter=meter,  # type: ignore[arg-type]
                body="media" if name == "audio.transcriptions" else "model",
                stream="sse?" if meter == "tokens" else "",
            )
        )
    add(
        Route(
            "models.list",
            "GET",
            "openai",
            ("openai/models",),
            ("endpoints/openapi/models",),
        )
    )
    add(
        Route(
            "models.get",
            "GET",
            "openai",
            # The layer's models.list answers ids like "models/gemini-2.5-flash": retrieving
            # one by that id doubles the segment.
            ("openai/models/{model}", "openai/models/models/{model}"),
            ("endpoints/openapi/models/{model}",),
            models=_MODEL_URL,
        )
    )
    add(
        Route(
            "responses.get",
            "GET",
            "openai",
            ("openai/responses/{id}",),
            ("endpoints/{endpoint}/responses/{id}",),
        )
    )
    add(
        Route(
            "responses.delete",
            "DELETE",
            "openai",
            ("openai/responses/{id}",),
            ("endpoints/{endpoint}/responses/{id}",),
        )
    )
    add(
        Route(
            "chat.completions",
            "POST",
            "openai",
            (),
            ("endpoints/{model}/chat/completions",),
            models=("url", "model"),
            content=("messages", "tools"),
            meter="tokens",
            body="model",
            stream="sse?",
        )
    )
    # -- websockets ---------------------------------------------------------------------------
    ws = "ws/google.ai.generativelanguage.{version}.GenerativeService"
    for name, gemini, vertex, callers, since in (
        (
            "live.connect",
            f"{ws}.BidiGenerateContent",
            "ws/google.cloud.aiplatform.{version}.LlmBidiService/BidiGenerateContent",
            ("live.connect",),
            "",
        ),
        (
            "live.connectConstrained",
            f"{ws}.BidiGenerateContentConstrained",
            "",
            ("live.connect",),
            "",
        ),
        ("live.music.connect", f"{ws}.BidiGenerateMusic", "", ("live.music.connect",), ""),
        ("interactions.connect", "interactions/live", "", ("interactions.connect",), "3.5.0"),
    ):
        interactions = name.startswith("interactions")
        add(
            Route(
                name,
                "WS",
                "interactions" if interactions else "live",
                (gemini,),
                (vertex,) if vertex else (),
                # A Live Interaction runs the connected interaction's model or agent;
                # interaction.create events name their own.
                models=("interaction", "model", "agent") if interactions else ("setup.model",),
                content=("content", "system_instruction", "tools", "world_prompt")
                if interactions
                else ("setup", "clientContent", "realtimeInput", "toolResponse"),
                meter="tokens",
                body="model",
                stream="ws",
                sdk=callers,
                since=since,
            )
        )
    return rows


ROUTES: tuple[Route, ...] = tuple(_rows())
"""Every row, in a stable order (the order of docs/routes.md)."""

CLIENT_SIDE: dict[str, str] = {
    # SDK methods that send nothing themselves.
    "chats.create": "builds a local Chat; its send_message calls generateContent",
    "close": "closes the client's HTTP pools",
    "aclose": "closes the client's HTTP pools",
}
"""SDK methods that need no row, and why (the SDK check reads this)."""

RETIRED: dict[str, str] = {
    # Methods only older releases of the supported range have (golden_path._version.SDK_MINIMUM
    # and up), and why they need no row.
    "environments.get_environment_files": "google-genai 2.x wraps a method its generated client "
    "lacks: calling it raises AttributeError before anything is sent",
}
"""SDK methods of older supported releases, gone from the pin (the SDK check reads this)."""


# ----------------------------------------------------------------------------- matching


class UnsafePath(ValueError):
    """A path golden-path refuses to interpret: dot segments, double encoding, empty segments."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{reason}: {path!r}")
        self.path = path
        self.reason = reason


@dataclasses.dataclass(frozen=True, slots=True)
class Match:
    """What one request path means: its row, the model its URL names, where the API root is."""

    route: Route
    model: str | None
    backend: Backend | None
    version: str
    prefix: str
    parent: str


_VERSION = re.compile(r"^v1(?:alpha|beta1?)?$")
_WS_VERSION = re.compile(r"\.v1(?:alpha|beta1?)?\.")
_VARIABLE = re.compile(r"^\{([a-zA-Z_]+)\}$")


class _Node:
    __slots__ = ("children", "ends", "wild")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.wild: _Node | None = None
        # (HTTP method, verb after ':', upload) -> (route, index of the model segment or -1)
        self.ends: dict[tuple[str, str, bool], tuple[Route, int]] = {}


def _templates() -> Iterator[tuple[Route, str]]:
    for route in ROUTES:
        # A template both backends serve is walked once.
        yield from ((route, t) for t in dict.fromkeys(route.gemini + route.vertex))


def _build() -> tuple[_Node, dict[str, Route]]:
    root = _Node()
    websockets: dict[str, Route] = {}
    for route, template in _templates():
        if route.http == "WS" and template.startswith("ws/"):
            websockets[template] = route
            continue
        head, _, verb = template.rpartition(":") if ":" in template else (template, "", "")
        node = root
        model_index = -1
        for index, segment in enumerate(head.split("/")):
            variable = _VARIABLE.match(segment)
            if variable:
                if variable.group(1) == "model":
                    model_index = index
                if node.wild is None:
                    node.wild = _Node()
                node = node.wild
            else:
                node = node.children.setdefault(segment, _Node())
        key = ("GET" if route.http == "WS" else route.http, verb, route.upload)
        found = node.ends.get(key)
        if found is not None and found[0] is not route:
            # Two rows at one place would make classification depend on row order.
            raise AssertionError(f"{template} ({route.http}) is both {found[0]} and {route}")
        node.ends[key] = (route, model_index)
    return root, websockets


_ROOT, _WEBSOCKETS = _build()


def check_path(path: str) -> str:
    """The path percent-decoded once, or UnsafePath when decoding would change its meaning.

    Refused: dot segments (also percent-encoded), double encoding (``%252e``), empty segments
    and encoded slashes, any of which can make a policy judge one resource and the server
    serve another.
    """
    decoded = unquote(path) if "%" in path else path
    if "%" in decoded and unquote(decoded) != decoded:
        raise UnsafePath(path, "double percent-encoding in the path")
    if decoded.count("/") != path.count("/"):
        raise UnsafePath(path, "percent-encoded '/' in the path")
    segments = decoded.split("/")
    for index, segment in enumerate(segments):
        if segment in (".", "..") or segment.split(":", 1)[0] in (".", ".."):
            raise UnsafePath(path, "dot segment in the path")
        if not segment and 0 < index < len(segments) - 1:
            raise UnsafePath(path, "empty segment ('//') in the path")
    return decoded


@functools.lru_cache(maxsize=4096)
def match(method: str, path: str) -> Match | None:
    """The row ``method path`` calls, or None for a path no row matches.

    ``path`` is the URL path as sent (percent-encoded); raises UnsafePath for a path whose
    meaning depends on who decodes it. Anything before the version segment is the endpoint's
    path prefix; ``/upload`` right before it only matches the upload rows.
    """
    decoded = check_path(path)
    segments = decoded.strip("/").split("/")
    if segments and segments[0] == "ws":
        return _websocket(decoded)
    index = next((i for i, segment in enumerate(segments) if _VERSION.match(segment)), -1)
    if index < 0:
        return None
    before, version, rest = segments[:index], segments[index], segments[index + 1 :]
    upload = bool(before) and before[-1] == "upload"
    prefix = "/" + "/".join(before[:-1] if upload else before)
    parent = ""
    if len(rest) > 4 and rest[0] == "projects" and rest[2] == "locations":
        parent, rest = "/".join(rest[:4]), rest[4:]
    if not rest or not rest[-1]:
        return None
    last, _, verb = rest[-1].partition(":")
    segments = [*rest[:-1], last]
    found = _walk(_ROOT, segments, 0, (method, verb, upload))
    if found is None:
        return None
    route, model_index = found
    if parent and not route.vertex:
        return None
    vertex = bool(parent) or version == "v1beta1" or not route.gemini
    return Match(
        route,
        segments[model_index] if model_index >= 0 else None,
        "vertex" if vertex else "gemini",
        version,
        prefix.rstrip("/"),
        parent,
    )


def _walk(
    node: _Node, segments: list[str], index: int, key: tuple[str, str, bool]
) -> tuple[Route, int] | None:
    if index == len(segments):
        return node.ends.get(key)
    segment = segments[index]
    child = node.children.get(segment)
    if child is not None:
        found = _walk(child, segments, index + 1, key)
        if found is not None:
            return found
    if node.wild is not None and segment:
        return _walk(node.wild, segments, index + 1, key)
    return None


def _websocket(decoded: str) -> Match | None:
    key = _WS_VERSION.sub(".{version}.", decoded.strip("/"), count=1)
    route = _WEBSOCKETS.get(key)
    if route is None:
        return None
    version = _WS_VERSION.search(decoded)
    backend: Backend = "vertex" if key in route.vertex else "gemini"
    return Match(route, None, backend, version.group(0).strip(".") if version else "", "", "")


def route_named(name: str, surface: str | None = None) -> Route:
    """The first row called ``name`` (on ``surface``); KeyError when there is none."""
    for route in ROUTES:
        if route.name == name and (surface is None or route.surface == surface):
            return route
    raise KeyError(name)


_PREFIXES = re.compile(
    r"^(?:projects/[^/]+/locations/[^/]+/)?(?:publishers/[^/]+/)?(?:models/)?", re.IGNORECASE
)


@functools.lru_cache(maxsize=4096)  # the same few names, on every request
def normalize_model(name: str | None) -> str | None:
    """The bare model id: strips resource prefixes, case and whitespace.

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


@dataclasses.dataclass(frozen=True, slots=True)
class WireCall:
    """The meaning of one request, as the transport and the audit event need it.

    ``api_method`` is the row's name (``generateContent``, ``files.list``); for a path no row
    matches it is the HTTP method in lower case, ``surface`` is ``rest`` and ``route`` None.
    ``unsafe`` says why a path was refused before matching (dot segments, double encoding).
    """

    api_method: str
    model: str | None
    stream: bool
    surface: str
    route: Route | None = None
    unsafe: str | None = None


@functools.lru_cache(maxsize=4096)
def classify(method: str, path: str, query: str = "") -> WireCall:
    """Classify ``method path?query``; ``path`` as sent on the wire (percent-encoded).

    Cached: an app calls the same few paths over and over, and a WireCall is immutable.
    """
    try:
        found = match(method, path)
    except UnsafePath as exc:
        return WireCall(method.lower(), None, False, "rest", None, exc.reason)
    if found is None:
        return WireCall(method.lower(), None, False, "rest")
    route = found.route
    stream = route.stream in ("sse", "ws") or (route.stream == "sse?" and "alt=sse" in query)
    return WireCall(route.name, normalize_model(found.model), stream, route.surface, route)
