"""Uploaded batch input files: every JSONL line judged like an inline batch request.

A batch job may read its requests from a file this client uploaded through golden-path
(``[batches] sources`` has ``uploaded`` by default). Such a file is judged when its bytes go
up: each line's ``request`` passes the policies that judge request structure (``[models]``,
``[tools]``, ``[generation]``, ``[safety]``, and custom policies with
``judges_batch_files = True``) as a ``generateContent`` (``embedContent`` for a line with
``content``) would, plus the routes checks on spellings and enums. ``[pii]`` has already
masked the bytes in place.

A file cannot be rewritten after upload (the upload protocol declared its size, and a batch
reads it as stored), so a line the policies would change (a clamped or missing output cap, a
raised safety setting, an alias) fails the file just as a denied one does. The verdict is kept
with the file's name; a batch reading a file whose verdict is a problem is refused, naming the
line and what to change.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from golden_path._model import GenAIRequest
from golden_path._routes import route_named
from golden_path.policies._types import Deny

__all__ = ["NOT_SEEN", "judge_upload"]

NOT_SEEN = (
    "golden-path did not see its bytes in one request (uploads larger than one 8 MB chunk "
    "are not judged); upload a smaller file, or split the batch"
)


def judge_upload(request: GenAIRequest, judges: Sequence[Any]) -> str | None:
    """Why the uploaded bytes of ``request`` cannot be a batch's input, or None when they can."""
    headers = request.headers
    if headers.get("x-goog-upload-offset", "0").strip() != "0":
        return NOT_SEEN
    try:
        text = request.raw.decode("utf-8")
    except UnicodeDecodeError:
        return "it is not UTF-8 JSONL text"
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        return "it has no JSONL line"
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        problem = _judge_line(request, line, judges)
        if problem is not None:
            return f"line {number}: {problem}"
    return None


def _judge_line(upload: GenAIRequest, line: str, judges: Sequence[Any]) -> str | None:
    from golden_path.policies._routing import body_problem  # it imports this module

    try:
        entry = _probe(upload, line.encode("utf-8")).parse_strictly()
    except (ValueError, RecursionError) as exc:
        return f"not JSON Google's parser reads the same way ({exc})"
    inner = entry.get("request") if isinstance(entry, dict) else None
    if not isinstance(inner, dict):
        return 'each line must be an object with a "request" object ({"key": ..., "request": ...})'
    probe = _probe(upload, json.dumps(inner, separators=(",", ":")).encode())
    if "content" in inner and "contents" not in inner:
        probe.api_method = "embedContent"
    probe.route = route_named(probe.api_method)
    problem = body_problem(probe)
    if problem is not None:
        return problem
    for policy in judges:
        name = getattr(policy, "name", type(policy).__name__)
        try:
            policy.on_request(probe)
        except Deny as deny:
            if getattr(policy, "mode", "enforce") != "report":
                return f"{name}: {deny.reason}"
        if probe.modified:
            changed = "; ".join(d.reason for d in probe.decisions if d.enforced)
            return (
                f"{name} would change it ({changed}); a file cannot be rewritten after upload: "
                "write the change into the file"
            )
    return None


def _probe(upload: GenAIRequest, raw: bytes) -> GenAIRequest:
    """A generateContent request carrying one line, as the upload's caller would send it."""
    return upload.part(
        raw,
        method="POST",
        surface="genai",
        api_method="generateContent",
        model=None,
        stream=False,
        route=None,
    )
