"""Every stateful surface through golden_path.client(): files, caches, batches, tunings, media.

Each test runs the governed client (real SDK, real loopback HTTP) on the backends where Google
serves the surface, sync and async.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from google.genai import errors, types

import golden_path
from golden_path.emulator import Emulator
from tests.emulator.conftest import configure_golden_path

MODEL = "gemini-2.5-flash"
# The SDK flags tunings, auth tokens, generate_images and batch embeddings as experimental.
pytestmark = pytest.mark.filterwarnings("ignore::google.genai._common.ExperimentalWarning")


@pytest.fixture(name="backend", params=["ai_studio", "vertex"])
def _backend(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, emu: Emulator, tmp_path: Path
) -> str:
    configure_golden_path(monkeypatch, emu, request.param, tmp_path)
    return str(request.param)


@pytest.fixture(name="studio")
def _studio(monkeypatch: pytest.MonkeyPatch, emu: Emulator, tmp_path: Path) -> Any:
    configure_golden_path(monkeypatch, emu, "ai_studio", tmp_path)
    return golden_path.client()


@pytest.fixture(name="vertex")
def _vertex(monkeypatch: pytest.MonkeyPatch, emu: Emulator, tmp_path: Path) -> Any:
    configure_golden_path(monkeypatch, emu, "vertex", tmp_path)
    return golden_path.client()


# -- files (Gemini API only) ---------------------------------------------------------------------


def test_file_upload_in_chunks_get_list_download_delete(studio: Any, emu: Emulator) -> None:
    """The resumable protocol: start, chunks at offsets, finalize; the bytes arrive intact."""
    data = bytes(range(256)) * 40_000  # 10 MB: two chunks of the SDK's 8 MiB
    file = studio.files.upload(file=io.BytesIO(data), config={"mime_type": "application/pdf"})
    assert file.name.startswith("files/")
    assert file.size_bytes == len(data)
    assert file.state == types.FileState.ACTIVE
    uploads = [r for r in emu.api_requests() if r.path.startswith("/upload/")]
    commands = [r.headers.get("x-goog-upload-command") for r in uploads]
    assert commands == ["start", "upload", "upload, finalize"]
    assert uploads[0].headers["x-goog-upload-header-content-length"] == str(len(data))
    assert uploads[2].headers["x-goog-upload-offset"] == str(8 * 1024 * 1024)
    assert studio.files.get(name=file.name).sha256_hash
    assert [f.name for f in studio.files.list()] == [file.name]
    studio.files.delete(name=file.name)
    with pytest.raises(errors.ClientError) as caught:
        studio.files.get(name=file.name)
    assert caught.value.code == 403


def test_video_file_processes_on_the_emulator_clock(studio: Any, emu: Emulator) -> None:
    emu.timings.file_processing_s = 10
    file = studio.files.upload(file=io.BytesIO(b"\x00" * 64), config={"mime_type": "video/mp4"})
    assert file.state == types.FileState.PROCESSING
    emu.advance(10)
    assert studio.files.get(name=file.name).state == types.FileState.ACTIVE


def test_file_upload_async(studio: Any) -> None:
    async def go() -> Any:
        return await studio.aio.files.upload(
            file=io.BytesIO(b"hello"), config={"mime_type": "text/plain", "display_name": "h"}
        )

    file = asyncio.run(go())
    assert file.display_name == "h"
    assert file.size_bytes == 5


def test_upload_rejects_a_wrong_offset(emu: Emulator) -> None:
    import httpx2

    with httpx2.Client(base_url=emu.url) as http:
        start = http.post(
            "/upload/v1beta/files",
            headers={
                "x-goog-api-key": "k",
                "X-Goog-Upload-Protocol": "resumable",
                "X-Goog-Upload-Command": "start",
                "X-Goog-Upload-Header-Content-Length": "4",
                "X-Goog-Upload-Header-Content-Type": "text/plain",
            },
            json={"file": {}},
        )
        url = start.headers["x-goog-upload-url"]
        bad = http.post(
            url,
            headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "2"},
            content=b"abcd",
        )
    assert bad.status_code == 400
    assert bad.headers["x-goog-upload-size-received"] == "0"
    assert bad.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_files_are_not_served_on_vertex(vertex: Any) -> None:
    with pytest.raises(ValueError, match="only supported in the Gemini Developer client"):
        vertex.files.upload(file=io.BytesIO(b"x"), config={"mime_type": "text/plain"})


# -- cached contents -----------------------------------------------------------------------------


def test_cache_lifecycle_and_generate_with_it(backend: str, emu: Emulator) -> None:
    client = golden_path.client()
    cache = client.caches.create(
        model=MODEL,
        config={"contents": ["a long shared document " * 50], "ttl": "300s"},
    )
    assert cache.usage_metadata.total_token_count > 200
    answer = client.models.generate_content(
        model=MODEL, contents="summarise it", config={"cached_content": cache.name}
    )
    usage = answer.usage_metadata
    assert usage.cached_content_token_count == cache.usage_metadata.total_token_count
    assert usage.prompt_token_count > usage.cached_content_token_count
    before = cache.expire_time
    cache = client.caches.update(name=cache.name, config={"ttl": "3600s"})
    assert cache.expire_time > before
    assert [c.name for c in client.caches.list()] == [cache.name]
    emu.advance(3601)
    with pytest.raises(errors.ClientError):
        client.caches.get(name=cache.name)
    with pytest.raises(errors.ClientError):
        client.models.generate_content(
            model=MODEL, contents="again", config={"cached_content": cache.name}
        )


def test_cache_async_create_and_delete(backend: str) -> None:
    client = golden_path.client()

    async def go() -> list[str]:
        cache = await client.aio.caches.create(
            model=MODEL, config={"contents": ["doc " * 100], "ttl": "60s"}
        )
        await client.aio.caches.delete(name=cache.name)
        return [c.name async for c in await client.aio.caches.list()]

    assert asyncio.run(go()) == []


# -- batches -------------------------------------------------------------------------------------


def test_inline_batch_moves_on_the_clock_and_answers(studio: Any, emu: Emulator) -> None:
    batch = studio.batches.create(
        model=MODEL,
        src=[
            {"contents": [{"role": "user", "parts": [{"text": "first"}]}]},
            {"contents": [{"role": "user", "parts": [{"text": "second"}]}]},
        ],
    )
    assert batch.state == types.JobState.JOB_STATE_PENDING
    emu.advance(emu.timings.job_start_s)
    assert studio.batches.get(name=batch.name).state == types.JobState.JOB_STATE_RUNNING
    emu.advance(emu.timings.job_run_s)
    done = studio.batches.get(name=batch.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    texts = [r.response.text for r in done.dest.inlined_responses]
    assert texts == ["Echo: first", "Echo: second"]


def test_file_batch_writes_a_results_file(studio: Any, emu: Emulator) -> None:
    lines = [
        {"key": "a", "request": {"contents": [{"parts": [{"text": "alpha"}]}]}},
        {"key": "b", "request": {"contents": [{"parts": [{"text": "beta"}]}]}},
    ]
    source = studio.files.upload(
        file=io.BytesIO("\n".join(json.dumps(x) for x in lines).encode()),
        config={"mime_type": "application/jsonl"},
    )
    batch = studio.batches.create(model=MODEL, src=source.name)
    emu.advance(60)
    done = studio.batches.get(name=batch.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    results = studio.files.download(file=done.dest.file_name)
    answers = {x["key"]: x["response"] for x in map(json.loads, results.decode().splitlines())}
    assert answers["b"]["candidates"][0]["content"]["parts"][0]["text"] == "Echo: beta"


def test_batch_cancel_list_delete_async(studio: Any) -> None:
    async def go() -> tuple[Any, list[str]]:
        batch = await studio.aio.batches.create(
            model=MODEL, src=[{"contents": [{"parts": [{"text": "x"}]}]}]
        )
        await studio.aio.batches.cancel(name=batch.name)
        cancelled = await studio.aio.batches.get(name=batch.name)
        names = [b.name async for b in await studio.aio.batches.list()]
        await studio.aio.batches.delete(name=batch.name)
        return cancelled, names

    cancelled, names = asyncio.run(go())
    assert cancelled.state == types.JobState.JOB_STATE_CANCELLED
    assert names == [cancelled.name]


def test_vertex_batch_prediction_job(
    monkeypatch: pytest.MonkeyPatch, emu: Emulator, tmp_path: Path
) -> None:
    # golden-path refuses batch input it cannot read unless the platform allows the source.
    policy = tmp_path / "policy.toml"
    policy.write_text('[batches]\nsources = ["gcs"]\n')
    configure_golden_path(monkeypatch, emu, "vertex", tmp_path)
    monkeypatch.setenv("GOLDEN_PATH_POLICY_FILE", str(policy))
    vertex = golden_path.client()
    job = vertex.batches.create(
        model=MODEL, src="gs://in/requests.jsonl", config={"dest": "gs://out"}
    )
    assert job.name.startswith("projects/emu-project/locations/us-central1/batchPredictionJobs/")
    emu.advance(60)
    done = vertex.batches.get(name=job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    assert [j.name for j in vertex.batches.list()] == [job.name]


# -- tuning, operations, media -------------------------------------------------------------------


def test_vertex_tuning_job(vertex: Any, emu: Emulator) -> None:
    job = vertex.tunings.tune(base_model=MODEL, training_dataset={"gcs_uri": "gs://in/train.jsonl"})
    assert job.state == types.JobState.JOB_STATE_PENDING
    emu.advance(60)
    done = vertex.tunings.get(name=job.name)
    assert done.has_succeeded
    assert done.tuned_model.endpoint.startswith("projects/emu-project/locations/us-central1/")
    model = vertex.models.update(model=done.tuned_model.model, config={"display_name": "mine"})
    assert model.display_name == "mine"
    assert [m.display_name for m in vertex.models.list(config={"query_base": False})] == ["mine"]
    vertex.models.delete(model=done.tuned_model.model)
    with pytest.raises(errors.ClientError):
        vertex.models.get(model=done.tuned_model.model)


def test_gemini_tuned_model(studio: Any, emu: Emulator) -> None:
    job = studio.tunings.tune(
        base_model="models/gemini-2.0-flash-001",
        training_dataset={"examples": [{"text_input": "a", "output": "b"}]},
    )
    assert job.name.startswith("tunedModels/")
    emu.advance(60)
    assert studio.tunings.get(name=job.name).has_succeeded


def _chunks_of_png(data: bytes) -> list[bytes]:
    """The chunk types of a PNG, each CRC checked (a decoder's first steps, without Pillow)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    kinds, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, payload = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert zlib.crc32(kind + payload) == crc
        if kind == b"IDAT":
            zlib.decompress(payload)
        kinds.append(kind)
        at += 12 + length
    return kinds


def test_imagen_answers_valid_pngs(vertex: Any) -> None:
    answer = vertex.models.generate_images(
        model="imagen-4.0-generate-001", prompt="a lighthouse", config={"number_of_images": 2}
    )
    images = [g.image.image_bytes for g in answer.generated_images]
    assert len(images) == 2
    assert _chunks_of_png(images[0]) == [b"IHDR", b"IDAT", b"IEND"]
    assert images[0] != images[1]


def test_veo_operation_polls_to_done(vertex: Any, emu: Emulator) -> None:
    operation = vertex.models.generate_videos(
        model="veo-3.0-generate-001", source={"prompt": "a red ball"}
    )
    assert not operation.done
    emu.advance(emu.timings.video_s)

    async def poll() -> Any:
        return await vertex.aio.operations.get(operation)

    finished = asyncio.run(poll())
    assert finished.done
    assert finished.result.generated_videos[0].video.mime_type == "video/mp4"


def test_compute_tokens_on_vertex(vertex: Any) -> None:
    info = vertex.models.compute_tokens(model=MODEL, contents="hello world").tokens_info[0]
    assert b"".join(info.tokens) == b"hello world"
    assert len(info.token_ids) == len(info.tokens)


def test_ephemeral_token_and_interactions(
    studio: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import datetime as dt

    # golden-path mints Live tokens only when the platform allows it, bound to a model.
    policy = tmp_path / "policy.toml"
    policy.write_text("[routes]\nephemeral_token_max_s = 600\n")
    monkeypatch.setenv("GOLDEN_PATH_POLICY_FILE", str(policy))
    expire = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60)
    token = golden_path.client().auth_tokens.create(
        config={"uses": 1, "expire_time": expire, "live_connect_constraints": {"model": MODEL}}
    )
    assert token.name.startswith("auth_tokens/")
    interaction = studio.interactions.create(model=MODEL, input="hello there")
    assert interaction.status == "completed"
    assert interaction.steps[-1].content[0].text == "Echo: hello there"
    events = [
        e.event_type for e in studio.interactions.create(model=MODEL, input="hi", stream=True)
    ]
    assert events[0] == "interaction.created"
    assert events[-1] == "interaction.completed"
    assert studio.interactions.get(interaction.id).id == interaction.id


def test_openai_images_endpoint(emu: Emulator) -> None:
    import openai

    client = openai.OpenAI(api_key="k", base_url=f"{emu.url}/v1beta/openai/")
    answer = client.images.generate(model="imagen-4.0-generate-001", prompt="cat", n=2)
    assert len(answer.data) == 2
    assert base64.b64decode(answer.data[0].b64_json or "").startswith(b"\x89PNG")


def test_an_unserved_route_says_so_in_one_line(emu: Emulator) -> None:
    import httpx2

    with httpx2.Client(base_url=emu.url) as http:
        answer = http.get("/v1beta/corpora", headers={"x-goog-api-key": "k"})
    assert answer.status_code == 404
    message = answer.json()["error"]["message"]
    assert message.startswith("The golden-path emulator does not serve GET /v1beta/corpora")
    assert "\n" not in message


def test_an_unserved_row_is_named(emu: Emulator) -> None:
    """A route-table row the emulator has no handler for answers the one line, naming the row."""
    import httpx2

    with httpx2.Client(base_url=emu.url) as http:
        answer = http.post(
            "/v1beta/corpora/c1:query", json={"query": "x"}, headers={"x-goog-api-key": "k"}
        )
    assert answer.status_code == 404
    assert (
        "(corpora.query, a row of golden-path's route table)" in answer.json()["error"]["message"]
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"/v1beta/models/{MODEL}:inventedVerb"),
        ("DELETE", f"/v1beta/models/{MODEL}:generateContent"),
        ("GET", "/v1beta/cachedContents/abc/extra"),
        ("GET", "/v1beta/files/%2e%2e/cachedContents"),
        ("GET", "/ws/google.ai.generativelanguage.v1beta.GenerativeService.Invented"),
    ],
    ids=["verb", "method", "depth", "dot-segments", "websocket"],
)
def test_what_the_route_table_lacks_is_not_served(emu: Emulator, method: str, path: str) -> None:
    """The emulator routes through golden-path's route table: no row, no answer but the line."""
    import httpx2

    with httpx2.Client(base_url=emu.url) as http:
        answer = http.request(method, path, headers={"x-goog-api-key": "k"})
    assert answer.status_code == 404
    message = answer.json()["error"]["message"]
    assert message.startswith("The golden-path emulator does not serve")
    assert "a row of golden-path's route table" not in message


def test_every_row_is_served_or_named(emu: Emulator, tmp_path: Any) -> None:
    """Every row of the route table, on each backend, gets a handler's answer or the one line
    naming that row: a row added to the table is never answered as an unknown path."""
    import google.auth.transport.requests
    from google.oauth2 import service_account

    from golden_path._routes import ROUTES
    from golden_path.emulator._coverage import answer

    key = tmp_path / "sa.json"
    emu.create_service_account_key(key)
    credentials = service_account.Credentials.from_service_account_file(
        str(key), scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    credentials.refresh(google.auth.transport.requests.Request())
    bearer = f"Bearer {credentials.token}"
    unnamed = [
        (route.name, backend)
        for route in ROUTES
        if route.stream != "ws"
        for backend in route.backends
        if "does not serve" in (text := answer(emu, route, backend, bearer))
        and f"({route.name}, a row of" not in text
    ]
    assert unnamed == []
