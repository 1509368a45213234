"""Token estimates: what a request may cost before it is sent, and what it cost after."""

from __future__ import annotations

import math
from typing import Any

from golden_path._model import GenAIRequest, Usage
from golden_path.policies._body import get_either
from golden_path.policies._limits._config import DEFAULT_OUTPUT_TOKENS

__all__ = [
    "EMBEDDING_METHODS",
    "GENERATION_METHODS",
    "LIMITED_METHODS",
    "MEDIA_PART_TOKENS",
    "delivered_text",
    "estimate_parts",
    "estimate_tokens",
    "is_metered",
    "tokens_used",
]

# Model calls that generate output (their estimate includes an output cap).
GENERATION_METHODS = frozenset({
    "generateContent", "streamGenerateContent", "chat.completions", "completions",
    "responses", "interactions.create", "live.connect", "batchGenerateContent",
    "batchPredictionJobs.create",
})  # fmt: skip
EMBEDDING_METHODS = frozenset({"embedContent", "batchEmbedContents", "embeddings"})
# For requests built without a route (a hand-made GenAIRequest); the route table decides
# for everything the transport classifies.
LIMITED_METHODS = GENERATION_METHODS | EMBEDDING_METHODS


def is_metered(request: GenAIRequest) -> bool:
    """Whether the request spends quota, as its row's meter says.

    countTokens, listings and deletes do not; generation, embeddings, batches, caches, Imagen,
    Veo, Live and interactions do. A request with no row is judged by its method name.
    """
    route = request.route
    if route is None:
        return request.api_method in LIMITED_METHODS
    return route.meter != "none"


# What Gemini charges for one image or short media part, order of magnitude: enough to keep
# an inline image from being estimated as its base64 size in characters.
MEDIA_PART_TOKENS = 258


def estimate_tokens(request: GenAIRequest, default_output: int = DEFAULT_OUTPUT_TOKENS) -> int:
    """Tokens a request may cost, before it is sent.

    Prompt characters / 4, media parts at a flat rate, plus the request's output cap
    (``maxOutputTokens``, ``max_tokens``) or ``default_output``.
    """
    prompt, output = estimate_parts(request, default_output)
    return max(prompt + output, 1)


def estimate_parts(
    request: GenAIRequest, default_output: int = DEFAULT_OUTPUT_TOKENS
) -> tuple[int, int]:
    """``(prompt, output)`` tokens a request may cost: priced apart in money budgets."""
    body = request.body
    chars, media = _measure(body)
    prompt = math.ceil(chars / 4) + media * MEDIA_PART_TOKENS
    if request.api_method not in GENERATION_METHODS:
        return prompt, 0
    route = request.route
    if route is not None and route.meter == "batch":
        # A batch reserves its whole estimate at creation: each inline request's output cap.
        from golden_path.policies._body import generate_requests

        inline = generate_requests(request)
        return prompt, sum(_output_cap(r, default_output) for r in inline) or default_output
    return prompt, _output_cap(body, default_output)


def delivered_text(chunk: Any) -> int:
    """Characters of model text in one stream chunk (Gemini or OpenAI shape)."""
    if not isinstance(chunk, dict):
        return 0
    total = 0
    for candidate in chunk.get("candidates") or ():
        content = candidate.get("content") if isinstance(candidate, dict) else None
        for part in (content.get("parts") or ()) if isinstance(content, dict) else ():
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                total += len(part["text"])
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if isinstance(delta, dict) and isinstance(delta.get("content"), str):
            total += len(delta["content"])
    return total


_MEDIA_KEYS = frozenset(
    {"inlineData", "inline_data", "fileData", "file_data", "image_url", "input_audio"}
)
_SKIP_KEYS = frozenset(
    {
        "generationConfig",
        "generation_config",
        "safetySettings",
        "safety_settings",
        "model",
        "role",
        "mimeType",
        "mime_type",
        "responseMimeType",
        "response_mime_type",
        "stream",
        "cachedContent",
        "cached_content",
    }
)


def _measure(value: Any, depth: int = 0) -> tuple[int, int]:
    if depth > 64:
        return 0, 0
    if isinstance(value, str):
        return len(value), 0
    chars = media = 0
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _MEDIA_KEYS:
                media += 1
            elif key not in _SKIP_KEYS:
                c, m = _measure(item, depth + 1)
                chars, media = chars + c, media + m
    elif isinstance(value, list):
        for item in value:
            c, m = _measure(item, depth + 1)
            chars, media = chars + c, media + m
    return chars, media


def _output_cap(body: Any, default: int) -> int:
    if not isinstance(body, dict):
        return default
    # The API takes both spellings of its JSON (camelCase and the proto's snake_case).
    _, config = get_either(body, "generationConfig", "generation_config")
    if isinstance(config, dict):
        cap = _positive(get_either(config, "maxOutputTokens", "max_output_tokens")[1])
        count = _positive(get_either(config, "candidateCount", "candidate_count")[1]) or 1
    else:
        cap = _positive(body.get("max_completion_tokens")) or _positive(body.get("max_tokens"))
        count = _positive(body.get("n")) or 1
    return (cap or default) * count


def _positive(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value


def tokens_used(usage: Usage | None) -> int | None:
    """What a response really cost: its total, else the sum of the parts it reported."""
    if usage is None:
        return None
    if usage.total_tokens is not None:
        return usage.total_tokens
    parts = [usage.prompt_tokens, usage.output_tokens, usage.thoughts_tokens]
    if all(p is None for p in parts):
        return None
    return sum(p or 0 for p in parts)
