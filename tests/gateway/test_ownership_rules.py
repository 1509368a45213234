"""The ownership rules on their own: names, records, answers (docs/gateway.md, section 3)."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from golden_path._state import MemoryStore
from golden_path.gateway._ownership import (
    COLLECTIONS,
    Owners,
    StreamedCreate,
    decoded,
    named_in_path,
    resource_name,
)


@pytest.fixture(autouse=True)
def _fresh_stores() -> Iterator[None]:
    """No owner record or Redis connection of one test outlives it (stores are process-wide)."""
    from golden_path import _state

    _state.reset()
    yield
    _state.reset()


def test_collections_come_from_the_route_table() -> None:
    """The collections with owners are those the route table creates in; models are Google's."""
    assert {"files", "cachedContents", "batches", "interactions", "fileSearchStores"} <= COLLECTIONS
    assert {"tunedModels", "batchPredictionJobs", "tuningJobs", "corpora"} <= COLLECTIONS
    assert "models" not in COLLECTIONS


@pytest.mark.parametrize(
    ("value", "collection", "name"),
    [
        ("files/abc", None, "files/abc"),
        ("https://host/v1beta/files/abc?alt=media", None, "files/abc"),
        ("projects/p/locations/l/cachedContents/x", None, "cachedContents/x"),
        ("tunedModels/t/operations/o", None, "tunedModels/t"),
        ("v1_abc", "interactions", "interactions/v1_abc"),
        ("gs://bucket/object", "files", None),
        ("models/gemini-2.5-flash", None, None),
        ("models/veo-3/operations/o", None, "operations/o"),
        (
            "projects/p/locations/l/publishers/google/models/veo-3/operations/o",
            None,
            "operations/o",
        ),
        ("projects/p/locations/l/models/123@1", None, "models/123"),
        ("projects/p/locations/l/endpoints/9", None, "endpoints/9"),
        ("projects/p/locations/l/endpoints/openapi", None, None),
        ("https://host/v1beta/generatedFiles/g", None, "generatedFiles/g"),
        ("resp_1", "responses", "responses/resp_1"),
        ("gs://bucket/files/x", "files", None),
    ],
)
def test_resource_names(value: str, collection: str | None, name: str | None) -> None:
    """A name, URI or Vertex path names ``collection/id``; what is no resource names none."""
    assert resource_name(value, collection) == name


@pytest.mark.parametrize(
    ("path", "found"),
    [
        ("/v1beta/files/abc:download", ("files/abc", None)),
        ("/v1beta/files", (None, "files")),
        ("/v1beta1/projects/p/locations/l/cachedContents/c", ("cachedContents/c", None)),
        ("/v1beta/models/gemini-2.5-flash:generateContent", (None, None)),
        ("/v1beta", (None, None)),
        ("/v1beta/models/veo-3/operations/o", ("operations/o", None)),
        ("/v1beta/models/veo-3/operations", (None, "operations")),
        ("/v1beta/tunedModels/t/operations/o", ("tunedModels/t", None)),
        ("/v1beta1/projects/p/locations/l/models/123@1:predict", ("models/123", None)),
        ("/v1beta1/projects/p/locations/l/models", (None, "models")),
        ("/v1beta1/projects/p/locations/l/publishers/google/models/m", (None, None)),
        ("/v1beta1/projects/p/locations/l/endpoints/9:generateContent", ("endpoints/9", None)),
        ("/v1beta1/projects/p/locations/l/endpoints/openapi/chat/completions", (None, None)),
        ("/v1beta/openai/responses/resp_1", ("responses/resp_1", None)),
        ("/v1beta/openai/responses", (None, "responses")),
        ("/v1beta1/projects/p/locations/l/endpoints/openapi/models", (None, None)),
        ("/v1beta1/projects/p/locations/l/endpoints/openapi/models/google/m", (None, None)),
        ("/v1beta/generatedFiles/g", ("generatedFiles/g", None)),
    ],
)
def test_paths(path: str, found: tuple[str | None, str | None]) -> None:
    """A path names one resource, a collection, or nothing the gateway owns."""
    assert named_in_path(path) == found


def test_decoding_answers() -> None:
    """gzip and deflate answers are read; an encoding the gateway cannot read is None."""
    assert decoded(gzip.compress(b"{}"), "gzip") == b"{}"
    assert decoded(zlib.compress(b"{}"), "deflate") == b"{}"
    assert decoded(b"{}", None) == b"{}"
    assert decoded(b"not gzip", "gzip") is None
    assert decoded(b"x", "br") is None


def _owners(**options: Any) -> Owners:
    return Owners(MemoryStore(), "t", **options)


def test_answers_record_filter_and_forget() -> None:
    """A create records its answer's name, a list keeps the caller's items, a delete forgets."""
    owners = _owners()
    created = json.dumps({"name": "cachedContents/c1"}).encode()
    assert (
        owners.answered(
            "a", "t", method="POST", path="/v1beta/cachedContents", status=200, body=created
        )
        is None
    )
    owners.record("cachedContents/c2", "b", "t")
    listed = json.dumps(
        {
            "cachedContents": [{"name": "cachedContents/c1"}, {"name": "cachedContents/c2"}],
            "nextPageToken": "n",
        }
    ).encode()
    kept = owners.answered(
        "a", "t", method="GET", path="/v1beta/cachedContents", status=200, body=listed
    )
    assert kept is not None
    assert json.loads(kept) == {
        "cachedContents": [{"name": "cachedContents/c1"}],
        "nextPageToken": "n",
    }
    # Nothing of another app's in the page: the answer is unchanged; failures are not read.
    for app, method, path, status, body in (
        ("b", "GET", "/v1beta/files", 200, b"{}"),
        ("a", "GET", "/v1beta/files", 200, b"[1]"),
        ("a", "POST", "/v1beta/files", 500, b"{}"),
        ("a", "GET", "/v1beta/files/x", 200, b"{}"),
    ):
        answer = owners.answered(app, "t", method=method, path=path, status=status, body=body)
        assert answer is None, (app, method, path)
    batch = json.dumps({"name": "batches/b1"}).encode()
    owners.answered(
        "a",
        "t",
        method="POST",
        path="/v1beta/models/m:batchGenerateContent",
        status=200,
        body=batch,
    )
    registered = json.dumps({"files": [{"name": "files/r1"}, {"name": "files/r2"}]}).encode()
    owners.answered(
        "a", "t", method="POST", path="/v1beta/files:register", status=200, body=registered
    )
    assert (
        owners.refusals(["batches/b1", "cachedContents/c1", "files/r1", "files/r2"], "a", "t") == []
    )
    owners.answered(
        "a", "t", method="DELETE", path="/v1beta/cachedContents/c1", status=200, body=b"{}"
    )
    assert [name for name, _ in owners.refusals(["cachedContents/c1"], "a", "t")] == [
        "cachedContents/c1"
    ]
    assert owners.wants("GET", "/v1beta/files")
    assert owners.wants("DELETE", "/v1beta/files/x")
    assert not owners.wants("GET", "/v1beta/files/x")
    assert not owners.wants("POST", "/v1beta/models/m:generateContent")


def test_what_work_made_is_its_owners() -> None:
    """Names in the outputs of a long-running job's answer get the job's record (its owner,
    even when a teammate reads it); inputs, names already recorded and unowned jobs do not."""
    owners = _owners(sharing="team")
    owners.record("operations/o", "a", "t")
    owners.record("files/taken", "c", "u")
    answer = {
        "name": "models/veo/operations/o",
        "input": {"fileUri": "files/in"},
        "response": {"videos": [{"uri": "https://h/v1beta/files/v1:download?alt=media"}]},
        "output": {"responsesFile": "files/taken"},
    }
    body = json.dumps(answer).encode()
    path = "/v1beta/models/veo/operations/o"
    assert owners.wants("GET", path)
    owners.answered("b", "t", method="GET", path=path, status=200, body=body)
    assert owners.refusals(["files/v1"], "a", None) == []
    assert owners.refusals(["files/v1"], "z", "x") != []
    assert owners.refusals(["files/in"], "a", "t") != []  # an input is not what the work made
    assert owners.refusals(["files/taken"], "c", None) == []
    unowned = json.dumps({"response": {"uri": "files/v2"}}).encode()
    owners.answered("b", "t", method="GET", path="/v1beta/operations/x", status=200, body=unowned)
    assert owners.refusals(["files/v2"], "b", "t") != []
    # A Vertex model's delete answers an operation: the deleter's to poll.
    deleted = json.dumps({"name": "projects/p/locations/l/operations/d", "done": True}).encode()
    owners.record("models/1", "a", "t")
    path = "/v1beta1/projects/p/locations/l/models/1"
    owners.answered("a", "t", method="DELETE", path=path, status=200, body=deleted)
    assert owners.refusals(["operations/d"], "a", None) == []
    assert owners.refusals(["models/1"], "a", None) != []


def test_team_sharing_and_unowned() -> None:
    """team sharing admits the owner's team; "allow" admits names nobody owns."""
    owners = _owners(sharing="team", unowned="allow")
    owners.record("files/f", "a", "t")
    assert owners.refusals(["files/f", "files/nobody"], "b", "t") == []
    assert owners.refusals(["files/f"], "c", None) != []
    assert owners.refusals([], "a", None) == []


def test_a_streamed_create_is_read_across_chunks() -> None:
    """The first event may arrive in pieces; a stream with no event in its first MiB is let go."""
    owners = _owners()
    watcher = StreamedCreate(owners, "a", None)
    event = {"event_type": "interaction.created", "interaction": {"id": "v1_s"}}
    wire = f"event: x\r\ndata: {json.dumps(event)}\r\n\r\n".encode()
    watcher.feed(wire[:10])
    assert not watcher.done
    watcher.feed(wire[10:])
    assert watcher.done
    assert owners.refusals(["interactions/v1_s"], "a", None) == []
    openai = StreamedCreate(owners, "a", None)
    event = {"type": "response.created", "response": {"id": "resp_s", "object": "response"}}
    openai.feed(f"event: response.created\ndata: {json.dumps(event)}\n\n".encode())
    assert owners.refusals(["responses/resp_s"], "a", None) == []
    giving_up = StreamedCreate(owners, "a", None)
    giving_up.feed(b"x" * (1 << 20 + 1))
    assert giving_up.done


def test_an_unreachable_store_refuses(start_gateway: Any, emulator: Any, tmp_path: Any) -> None:
    """When the owner records cannot be read, a request naming a resource is refused and a
    list is not answered (fail closed)."""
    import httpx2

    from tests.gateway.conftest import free_port, genai_client

    path = tmp_path / "notes.txt"
    path.write_text("hello")
    direct = genai_client(emulator.url, "a-key-of-the-upstream", api_version="v1beta")
    direct.files.upload(file=path, config={"mime_type": "text/plain"})

    down = f"redis://127.0.0.1:{free_port()}/0?timeout_ms=200"
    running = start_gateway(settings={"state_url": down})
    headers = {"x-goog-api-key": running.key}
    reply = httpx2.get(f"{running.url}/v1beta/files/abc", headers=headers, timeout=30)
    assert reply.status_code == 403
    assert "cannot check who owns" in reply.text
    reply = httpx2.get(f"{running.url}/v1beta/files", headers=headers, timeout=30)
    assert reply.status_code == 503
    assert "resource owners" in reply.text
