"""The models the emulator lists, in each backend's shape, and which names it serves at all."""

from __future__ import annotations

import dataclasses
from typing import Any

_TUNED_PREFIXES = ("tuned-", "tunedModels/")
"""Tuned models the emulator's own tuning jobs name (``tunedModels/tuned-...``)."""


@dataclasses.dataclass(frozen=True, slots=True)
class CatalogueModel:
    """One listed model; limits and methods follow Google's published model cards."""

    model_id: str
    display_name: str
    description: str
    input_token_limit: int
    output_token_limit: int
    methods: tuple[str, ...]
    thinking: bool = False
    backends: frozenset[str] = frozenset({"gemini", "vertex"})
    """Where Google publishes the model (some previews are on one backend only)."""


_GENERATE = ("generateContent", "countTokens", "createCachedContent", "batchGenerateContent")
_EMBED_DESCRIPTION = "Obtain a distributed representation of a text."
_EMBED = ("embedContent", "countTextTokens", "countTokens")

_LIVE = ("bidiGenerateContent",)
_IMAGE = ("predict",)
_VIDEO = ("predictLongRunning",)


def _gen(
    model_id: str,
    name: str,
    output: int = 65_536,
    *,
    thinking: bool = True,
    extra: tuple[str, ...] = (),
) -> CatalogueModel:
    return CatalogueModel(model_id, name, name, 1_048_576, output, _GENERATE + extra, thinking)


def _media(model_id: str, name: str, methods: tuple[str, ...]) -> CatalogueModel:
    return CatalogueModel(model_id, name, name, 480, 8_192, methods)


CATALOGUE: tuple[CatalogueModel, ...] = (
    _gen("gemini-2.5-pro", "Gemini 2.5 Pro"),
    _gen("gemini-2.5-flash", "Gemini 2.5 Flash"),
    _gen("gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite"),
    _gen("gemini-2.0-flash", "Gemini 2.0 Flash", 8_192, thinking=False),
    CatalogueModel(
        "gemini-embedding-001", "Gemini Embedding 001", _EMBED_DESCRIPTION, 2_048, 1, _EMBED
    ),
    CatalogueModel(
        "text-embedding-004", "Text Embedding 004", _EMBED_DESCRIPTION, 2_048, 1, _EMBED
    ),
    # Also served: the other ids Google publishes (previews, pinned versions, live, media).
    _gen("gemini-3-pro-preview", "Gemini 3 Pro Preview"),
    _gen("gemini-3-flash-preview", "Gemini 3 Flash Preview"),
    _gen("gemini-3.1-pro-preview", "Gemini 3.1 Pro Preview"),
    _gen("gemini-3.1-flash-lite", "Gemini 3.1 Flash-Lite"),
    _gen("gemini-3.5-flash", "Gemini 3.5 Flash"),
    _gen("gemini-2.5-flash-001", "Gemini 2.5 Flash 001"),
    _gen("gemini-2.5-flash-preview-05-20", "Gemini 2.5 Flash Preview 05-20"),
    _gen("gemini-2.5-pro-preview-06-05", "Gemini 2.5 Pro Preview 06-05"),
    _gen("gemini-2.5-flash-image", "Gemini 2.5 Flash Image", 32_768, thinking=False),
    _gen("gemini-2.5-flash-preview-tts", "Gemini 2.5 Flash TTS", 16_384, thinking=False),
    dataclasses.replace(
        _gen("gemini-2.5-flash-preview-tts-voice-replication-rev22-2025-10-28",
             "Gemini 2.5 Flash TTS Voice Replication", 16_384, thinking=False),
        backends=frozenset({"gemini"}),
    ),
    dataclasses.replace(
        _gen("gemini-2.5-computer-use-preview-10-2025", "Gemini 2.5 Computer Use Preview"),
        backends=frozenset({"gemini"}),
    ),
    _gen("gemini-2.0-flash-001", "Gemini 2.0 Flash 001", 8_192, thinking=False),
    _gen("gemini-2.0-flash-lite", "Gemini 2.0 Flash-Lite", 8_192, thinking=False),
    _gen("gemini-2.0-flash-lite-001", "Gemini 2.0 Flash-Lite 001", 8_192, thinking=False),
    _gen("gemini-2.0-flash-exp", "Gemini 2.0 Flash Experimental", 8_192, thinking=False),
    _gen("gemini-2.0-flash-preview-image-generation", "Gemini 2.0 Flash Image", 8_192,
         thinking=False),
    _gen("gemini-1.5-flash", "Gemini 1.5 Flash", 8_192, thinking=False),
    _gen("gemini-1.5-flash-002", "Gemini 1.5 Flash 002", 8_192, thinking=False),
    _gen("gemini-1.5-pro", "Gemini 1.5 Pro", 8_192, thinking=False),
    _gen("gemini-1.5-pro-002", "Gemini 1.5 Pro 002", 8_192, thinking=False),
    _gen("gemini-flash-latest", "Gemini Flash Latest"),
    _gen("gemini-flash-lite-latest", "Gemini Flash-Lite Latest"),
    _gen("gemini-pro-latest", "Gemini Pro Latest"),
    _gen("gemini-live-2.5-flash", "Gemini Live 2.5 Flash", 8_192, extra=_LIVE),
    _gen("gemini-live-2.5-flash-preview", "Gemini Live 2.5 Flash Preview", 8_192, extra=_LIVE),
    _gen("gemini-live-2.5-flash-native-audio", "Gemini Live 2.5 Flash Native Audio", 8_192,
         extra=_LIVE),
    _gen("gemini-2.5-flash-native-audio-preview-09-2025", "Gemini 2.5 Flash Native Audio",
         8_192, extra=_LIVE),
    _gen("gemini-3.1-flash-live-preview", "Gemini 3.1 Flash Live Preview", 8_192, extra=_LIVE),
    _gen("gemma-3-27b-it", "Gemma 3 27B", 8_192, thinking=False),
    CatalogueModel("gemini-embedding-2", "Gemini Embedding 2",
                   _EMBED_DESCRIPTION, 8_192, 1, _EMBED),
    CatalogueModel("gemini-embedding-2-preview", "Gemini Embedding 2 Preview",
                   _EMBED_DESCRIPTION, 8_192, 1, _EMBED),
    CatalogueModel("gemini-embedding-exp-03-07", "Gemini Embedding Experimental",
                   _EMBED_DESCRIPTION, 8_192, 1, _EMBED),
    CatalogueModel("text-embedding-005", "Text Embedding 005",
                   _EMBED_DESCRIPTION, 2_048, 1, _EMBED),
    CatalogueModel("text-multilingual-embedding-002", "Text Multilingual Embedding 002",
                   _EMBED_DESCRIPTION, 2_048, 1, _EMBED),
    _media("imagen-3.0-generate-002", "Imagen 3", _IMAGE),
    _media("imagen-3.0-capability-001", "Imagen 3 Capability", _IMAGE),
    _media("imagen-4.0-generate-001", "Imagen 4", _IMAGE),
    _media("imagen-4.0-fast-generate-001", "Imagen 4 Fast", _IMAGE),
    _media("imagen-4.0-ultra-generate-001", "Imagen 4 Ultra", _IMAGE),
    _media("imagen-4.0-upscale-preview", "Imagen 4 Upscale", _IMAGE),
    _media("imagen-3.0-generate-001", "Imagen 3 001", _IMAGE),
    _media("virtual-try-on-001", "Virtual Try-On", _IMAGE),
    _media("imagen-product-recontext-preview-06-30", "Imagen Product Recontext", _IMAGE),
    dataclasses.replace(_media("imagen-4.0-ingredients-preview", "Imagen 4 Ingredients", _IMAGE),
                        backends=frozenset({"vertex"})),
    dataclasses.replace(_media("image-segmentation-001", "Image Segmentation", _IMAGE),
                        backends=frozenset({"vertex"})),
    _media("veo-2.0-generate-001", "Veo 2", _VIDEO),
    dataclasses.replace(_media("veo-2.0-generate-exp", "Veo 2 Experimental (editing)", _VIDEO),
                        backends=frozenset({"vertex"})),
    _media("veo-3.0-generate-001", "Veo 3", _VIDEO),
    _media("veo-3.0-fast-generate-001", "Veo 3 Fast", _VIDEO),
    _media("veo-3.1-generate-preview", "Veo 3.1 Preview", _VIDEO),
    _media("veo-3.1-lite-generate-001", "Veo 3.1 Lite", _VIDEO),
    # Partners' models in Vertex AI's Model Garden (MaaS), named publisher/model.
    dataclasses.replace(_gen("meta/llama-3.2-90b-vision-instruct-maas",
                             "Llama 3.2 90B Vision Instruct", 8_192, thinking=False),
                        backends=frozenset({"vertex"})),
    dataclasses.replace(CatalogueModel("intfloat/multilingual-e5-large-instruct-maas",
                                       "Multilingual E5 Large Instruct", _EMBED_DESCRIPTION,
                                       512, 1, _EMBED),
                        backends=frozenset({"vertex"})),
)  # fmt: skip

_SERVED = frozenset(m.model_id for m in CATALOGUE)
_BACKENDS = {m.model_id: m.backends for m in CATALOGUE}


def is_served(model_id: str, backend: str | None = None) -> bool:
    """Whether the emulator answers for this model: a published id, or a tuned model.

    Like Google, anything else is 404 NOT_FOUND (a misspelt or retired id fails in tests, not
    in production); with ``backend``, so is a model Google publishes only on the other one.
    """
    if model_id.startswith(_TUNED_PREFIXES):
        return True
    if backend is None:
        return model_id in _SERVED
    return model_id in _SERVED and backend in _BACKENDS[model_id]


def find(model_id: str) -> CatalogueModel | None:
    """Return the catalogue entry for ``model_id``, if listed."""
    return next((m for m in CATALOGUE if m.model_id == model_id), None)


def gemini_shape(model: CatalogueModel) -> dict[str, Any]:
    """Shape ``model`` as the Gemini Developer API lists it (a ``Model`` resource)."""
    shape: dict[str, Any] = {
        "name": f"models/{model.model_id}",
        "version": "001",
        "displayName": model.display_name,
        "description": model.description,
        "inputTokenLimit": model.input_token_limit,
        "outputTokenLimit": model.output_token_limit,
        "supportedGenerationMethods": list(model.methods),
    }
    if "generateContent" in model.methods:
        shape |= {"temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2}
    if model.thinking:
        shape["thinking"] = True
    return shape


def vertex_shape(model: CatalogueModel) -> dict[str, Any]:
    """Shape ``model`` as Vertex AI lists it (a ``PublisherModel``)."""
    publisher, _, bare = model.model_id.rpartition("/")
    name = f"publishers/{publisher or 'google'}/models/{bare}"
    return {
        "name": name,
        "versionId": "default",
        "openSourceCategory": "PROPRIETARY" if not publisher else "THIRD_PARTY_OWNED_OSS",
        "launchStage": "GA",
        "publisherModelTemplate": "projects/{project}/locations/{location}/" + name,
    }


def page(items: list[dict[str, Any]], query: dict[str, str]) -> tuple[list[dict[str, Any]], str]:
    """Return one page of ``items`` and the next token; the token is just an offset."""
    try:
        start = max(int(query.get("pageToken") or 0), 0)
    except ValueError:
        start = 0
    try:
        size = int(query.get("pageSize") or 0)
    except ValueError:
        size = 0
    size = size if size > 0 else 50
    chunk = items[start : start + size]
    more = start + size < len(items)
    return chunk, str(start + size) if more else ""
