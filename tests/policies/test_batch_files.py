"""A batch reading an uploaded JSONL file: each line passes the policies an inline request does.

The real SDK uploads over loopback to the emulator (the resumable protocol) and creates the
batch; a refused batch never reaches the emulator.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest

import golden_path

MODEL = "gemini-2.5-flash"
POLICY = """
[models]
allow = ["gemini-2.5-*"]
[tools]
deny = ["google_search"]
[generation]
max_output_tokens = 256
on_exceed = "clamp"
"""
CAPPED = {"maxOutputTokens": 128}


def _line(request: dict[str, Any], key: str = "k") -> dict[str, Any]:
    return {"key": key, "request": request}


def _ask(text: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    body.setdefault("generationConfig", CAPPED)
    body.update(extra)
    return body


def _upload(client: Any, lines: list[dict[str, Any]] | bytes) -> str:
    data = lines if isinstance(lines, bytes) else "\n".join(map(json.dumps, lines)).encode()
    uploaded = client.files.upload(file=io.BytesIO(data), config={"mime_type": "application/jsonl"})
    return str(uploaded.name)


def _batches_sent(emulator: Any) -> int:
    return sum(1 for r in emulator.requests if r.path.endswith(":batchGenerateContent"))


@pytest.fixture(name="client")
def _client(governed: Callable[..., Any]) -> Any:
    return governed(POLICY)


def test_clean_file_makes_a_batch(client: Any, emulator: Any) -> None:
    """Lines that pass every policy unchanged: the batch is created from the file."""
    name = _upload(client, [_line(_ask("one"), "a"), _line(_ask("two"), "b")])
    job = client.batches.create(model=MODEL, src=name)
    assert job.name
    assert _batches_sent(emulator) == 1


@pytest.mark.parametrize(
    ("line", "policy", "needle"),
    [
        (_ask("x", tools=[{"googleSearch": {}}]), "tools", "google_search"),
        (_ask("x", tools=[{"google_search": {}}]), "tools", "google_search"),
        (_ask("x", model="models/gemini-1.5-pro"), "models", "gemini-1.5-pro"),
        ({"contents": [{"parts": [{"text": "x"}]}]}, "generation", "maxOutputTokens unset"),
        (_ask("x", generationConfig={"maxOutputTokens": 9999}), "generation", "9999 -> 256"),
        (
            _ask("x", generationConfig=CAPPED, generation_config=CAPPED),
            "routes",
            "written twice",
        ),
    ],
    ids=["tool", "tool-snake", "model", "no-cap", "over-cap", "two-spellings"],
)
def test_a_line_the_policies_refuse_or_change_refuses_the_batch(
    client: Any, emulator: Any, audit: Any, line: dict[str, Any], policy: str, needle: str
) -> None:
    """One bad line (the third) refuses the batch, naming the line, the policy and the fix."""
    lines = [_line(_ask("fine")), _line(_ask("also fine")), _line(line)]
    name = _upload(client, lines)
    with pytest.raises(golden_path.PolicyViolation) as caught:
        client.batches.create(model=MODEL, src=name)
    message = str(caught.value)
    assert caught.value.policy == "routes"
    assert "line 3" in message
    assert needle in message
    if policy != "routes":
        assert f"{policy}:" in message or f"{policy} would change" in message
    assert _batches_sent(emulator) == 0
    upload_notes = [d for e in audit.events for d in e.policy if d["action"] == "note"]
    assert upload_notes, "the upload's audit event says why the file cannot be batch input"


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (json.dumps(_line(_ask("a"))).encode() + b"\nnot json\n", "line 2: not JSON"),
        (b'{"key": "a", "contents": []}\n', 'a "request" object'),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"\n  \n", "no JSONL line"),
    ],
    ids=["not-json", "no-request", "binary", "empty"],
)
def test_a_file_that_cannot_be_judged_is_refused(
    client: Any, emulator: Any, data: bytes, needle: str
) -> None:
    """A file golden-path cannot read line by line is never a batch's input."""
    name = _upload(client, data)
    with pytest.raises(golden_path.PolicyViolation, match=needle):
        client.batches.create(model=MODEL, src=name)
    assert _batches_sent(emulator) == 0


def test_report_mode_lets_the_file_through(governed: Callable[..., Any], emulator: Any) -> None:
    """A policy in report mode judges the lines without refusing the batch."""
    client = governed('[tools]\nmode = "report"\ndeny = ["google_search"]\n')
    name = _upload(client, [_line(_ask("x", tools=[{"googleSearch": {}}]))])
    client.batches.create(model=MODEL, src=name)
    assert _batches_sent(emulator) == 1


def test_files_source_skips_the_line_check(governed: Callable[..., Any], emulator: Any) -> None:
    """[batches] sources = ["files"] lets any file be batch input, as the platform chose."""
    client = governed(POLICY + '[batches]\nsources = ["inline", "files"]\n')
    name = _upload(client, [_line({"contents": [{"parts": [{"text": "x"}]}]})])
    client.batches.create(model=MODEL, src=name)
    assert _batches_sent(emulator) == 1


def test_a_one_object_json_file_uploads_byte_for_byte(client: Any, emulator: Any) -> None:
    """An uploaded file that happens to be one JSON object is a file, not a body to re-serialise."""
    data = b'{ "key" : "a",   "note": "spaces kept" }'
    _upload(client, data)
    sent = [r for r in emulator.requests if r.query.get("upload_id") and r.raw_body]
    assert sent[-1].raw_body == data
