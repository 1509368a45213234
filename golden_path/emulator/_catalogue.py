"""The models the emulator lists, in each backend's shape, and which names it serves at all."""

from __future__ import annotations

import dataclasses
from typing import Any

_SERVED_PREFIXES = (
    "gemini-",
    "text-embedding-",
    "text-multilingual-embedding-",
    "embedding-",
    "gemma-",
    "imagen-",
    "veo-",
)


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


_GENERATE = ("generateContent", "countTokens", "createCachedContent", "batchGenerateContent")
_EMBED_DESCRIPTION = "Obtain a distributed representation of a text."
_EMBED = ("embedContent", "countTextTokens", "countTokens")

CATALOGUE: tuple[CatalogueModel, ...] = (
    CatalogueModel(
        "gemini-2.5-pro", "Gemini 2.5 Pro", "Stable release of Gemini 2.5 Pro",
        1_048_576, 65_536, _GENERATE, thinking=True,
    ),
    CatalogueModel(
        "gemini-2.5-flash", "Gemini 2.5 Flash", "Stable release of Gemini 2.5 Flash",
        1_048_576, 65_536, _GENERATE, thinking=True,
    ),
    CatalogueModel(
        "gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite", "Stable release of Gemini 2.5 Flash-Lite",
        1_048_576, 65_536, _GENERATE, thinking=True,
    ),
    CatalogueModel(
        "gemini-2.0-flash", "Gemini 2.0 Flash", "Gemini 2.0 Flash",
        1_048_576, 8_192, _GENERATE,
    ),
    CatalogueModel(
        "gemini-embedding-001", "Gemini Embedding 001", _EMBED_DESCRIPTION,
        2_048, 1, _EMBED,
    ),
    CatalogueModel(
        "text-embedding-004", "Text Embedding 004", _EMBED_DESCRIPTION,
        2_048, 1, _EMBED,
    ),
)  # fmt: skip


def is_served(model_id: str) -> bool:
    """Whether the emulator answers for this model name (any plausible Google model)."""
    return model_id.startswith(_SERVED_PREFIXES)


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
    return {
        "name": f"publishers/google/models/{model.model_id}",
        "versionId": "default",
        "openSourceCategory": "PROPRIETARY",
        "launchStage": "GA",
        "publisherModelTemplate": (
            "projects/{project}/locations/{location}/publishers/google/models/" + model.model_id
        ),
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
