"""``[pii]``: find personal data and secrets in every text a request carries; redact or deny.

Text is every string of the body except structure, identifiers and binary data: contents and
their parts, the system instruction, function call arguments and function responses (at any
depth, JSON-in-a-string included), embedding inputs, Vertex ``instances``, cached contents,
batch requests, OpenAI ``messages`` (string or content-part lists, tool call arguments) and
``input``. What was found is recorded by kind and count, never by value.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from golden_path._model import GenAIRequest
from golden_path._pii import ALL_KINDS, find, redact_text
from golden_path.policies._config import Section
from golden_path.policies._types import Deny

__all__ = ["PiiPolicy"]

# Keys whose values are never free text: ids, enums, binary data, schemas, settings.
_SKIP = frozenset({
    "model", "baseModel", "base_model", "role", "mimeType", "mime_type", "fileUri", "file_uri",
    "inlineData", "inline_data", "fileData", "file_data", "thoughtSignature",
    "thought_signature", "image_url", "input_audio", "type", "category", "threshold",
    "cachedContent", "cached_content", "labels", "generationConfig", "generation_config",
    "safetySettings", "safety_settings", "toolConfig", "tool_config", "tools",
    "responseSchema", "response_schema", "id", "tool_call_id", "name", "displayName",
    "display_name", "ttl", "expireTime", "expire_time", "taskType", "task_type",
    "outputDimensionality", "output_dimensionality", "encoding_format", "dimensions",
    "stream", "stream_options", "response_format", "reasoning_effort",
})  # fmt: skip
_SHORTEST = 6  # no kind fits in fewer characters


class PiiPolicy:
    """Redact (``[REDACTED:<kind>]``), deny, or only report the kinds in ``detect``."""

    name = "pii"

    def __init__(
        self, *, action: str = "redact", detect: list[str] | None = None, mode: str = "enforce"
    ) -> None:
        self.action = action
        self.detect = frozenset(detect if detect is not None else ALL_KINDS)
        self.mode = "report" if action == "report" else mode

    @classmethod
    def configure(cls, section: Section) -> PiiPolicy | None:
        """Build from ``[pii]``."""
        mode = section.mode()
        action = section.choice("action", ("redact", "deny", "report"), "redact")
        detect = section.strings("detect", list(ALL_KINDS))
        section.finish()
        for kind in detect or []:
            if kind not in ALL_KINDS:
                section.problem(
                    "detect", f"unknown kind {kind!r}", f"use any of {', '.join(ALL_KINDS)}"
                )
        return cls(action=action, detect=detect, mode=mode) if section.ok else None

    def on_request(self, request: GenAIRequest) -> None:
        """Scan, then redact, deny or record."""
        if not request.raw:
            return
        body = request.body
        if body is None:
            return
        counts: Counter[str] = Counter()
        redact = self.action == "redact" and self.mode == "enforce"
        new = self._walk(body, counts, redact)
        if not counts:
            return
        summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
        if self.action == "deny":
            raise Deny(f"request contains {summary}")
        request.record(self.name, "redact", f"found {summary}", enforced=redact)
        if redact:
            request.body = new

    def _walk(self, node: Any, counts: Counter[str], redact: bool) -> Any:
        if isinstance(node, str):
            if len(node) < _SHORTEST:
                return node
            if redact:
                text, findings = redact_text(node, self.detect)
            else:
                text, findings = node, find(node, self.detect)
            for finding in findings:
                counts[finding.kind] += 1
            return text
        if isinstance(node, dict):
            changed = None
            for key, value in node.items():
                if key in _SKIP or not isinstance(value, (str, dict, list)):
                    continue
                new = self._walk(value, counts, redact)
                if new is not value:
                    if changed is None:
                        changed = dict(node)
                    changed[key] = new
            return node if changed is None else changed
        if isinstance(node, list):
            items = [self._walk(item, counts, redact) for item in node]
            if any(a is not b for a, b in zip(items, node, strict=True)):
                return items
            return node
        return node
