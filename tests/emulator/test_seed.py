"""Emulator.seed: resources a project already has, served under their exact names."""

from __future__ import annotations

from typing import Any

import pytest
from google.genai import errors

from golden_path.emulator import Emulator

_V = "projects/emu-project/locations/us-central1"


def _vertex(client: Any) -> bool:
    return bool(client._api_client.vertexai)


def test_seeded_cache_is_served_and_used_by_generate(gp_client: Any, emu: Emulator) -> None:
    """A seeded cache can be read, updated, used by generateContent and deleted."""
    name = f"{_V}/cachedContents/123" if _vertex(gp_client) else "cachedContents/abc"
    emu.seed(name, tokens=50)
    assert gp_client.caches.get(name=name).name == name
    answer = gp_client.models.generate_content(
        model="gemini-2.5-flash", contents="hi", config={"cached_content": name}
    )
    assert answer.usage_metadata.cached_content_token_count == 50
    gp_client.caches.update(name=name, config={"ttl": "60s"})
    gp_client.caches.delete(name=name)
    with pytest.raises(errors.ClientError):
        gp_client.caches.get(name=name)
    emu.seed(name)  # seeding again puts it back
    assert gp_client.caches.get(name=name).name == name


def test_seeded_jobs_are_finished(gp_client: Any, emu: Emulator) -> None:
    """Seeded batches and tuning jobs have already succeeded; Vertex models come with them."""
    if _vertex(gp_client):
        emu.seed(f"{_V}/batchPredictionJobs/11")
        emu.seed(f"{_V}/tuningJobs/22")
        emu.seed(f"{_V}/models/33")
        assert gp_client.batches.get(name="11").state.name == "JOB_STATE_SUCCEEDED"
        assert gp_client.tunings.get(name=f"{_V}/tuningJobs/22").has_succeeded
        assert gp_client.models.get(model=f"{_V}/models/33").name == f"{_V}/models/33"
    else:
        emu.seed("batches/b1")
        emu.seed("batches/b2", embed=True, responses="file")
        emu.seed("tunedModels/t1")
        job = gp_client.batches.get(name="batches/b1")
        assert job.state.name == "JOB_STATE_SUCCEEDED"
        assert job.dest.inlined_responses[0].response.text == "Echo: Hello"
        assert gp_client.batches.get(name="batches/b2").dest.file_name.startswith("files/")
        assert gp_client.tunings.get(name="tunedModels/t1").has_succeeded


def test_seeded_file_and_operation(emu: Emulator, gemini: Any, vertex: Any) -> None:
    """Seeded files are ACTIVE with their data's size; seeded operations are done."""
    emu.seed("files/f1", mimeType="application/jsonl", data=b'{"a": 1}\n')
    file = gemini.files.get(name="files/f1")
    assert (file.state.name, file.size_bytes, file.mime_type) == ("ACTIVE", 9, "application/jsonl")
    emu.seed(f"{_V}/operations/44")
    operation = vertex.operations._get(operation_id="44")  # the SDK's own suite calls this
    assert (operation.name, operation.done) == (f"{_V}/operations/44", True)


@pytest.mark.parametrize(
    "name", ["cachedContents", "widgets/1", "tuningJobs/1", "projects/p/locations/l/files/x/y"]
)
def test_seed_refuses_names_it_cannot_make(emu: Emulator, name: str) -> None:
    """A name of no seedable kind, or a Vertex-only kind without its project, is a ValueError."""
    with pytest.raises(ValueError, match="cannot seed"):
        emu.seed(name)


@pytest.mark.filterwarnings("ignore::google.genai._common.ExperimentalWarning")
def test_a_seeded_tuned_model_can_be_tuned_again(emu: Emulator, vertex: Any) -> None:
    """Vertex tuning from a tuned model (preTunedModel, as the SDK sends it) starts a job."""
    emu.seed(f"{_V}/models/55")
    job = vertex.tunings.tune(
        base_model=f"{_V}/models/55",
        training_dataset={"gcs_uri": "gs://bucket/train.jsonl"},
    )
    assert job.name.startswith(f"{_V}/tuningJobs/")
