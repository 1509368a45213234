"""Apps behind one gateway reach only their own resources (docs/gateway.md, section 3)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gateway.conftest import Running, _clients, genai_client

MODEL = "gemini-2.5-flash"


@pytest.fixture(autouse=True)
def _fresh_stores() -> Iterator[None]:
    """Owner records of one test never leak into the next (the memory store is process-wide)."""
    from golden_path import _state

    _state.reset()
    yield
    _state.reset()


def _denied(call: Callable[[], Any]) -> str:
    """Run ``call``; it must be refused as a policy denial; the error's message."""
    from google.genai import errors

    with pytest.raises(errors.ClientError) as caught:
        call()
    assert caught.value.code == 403
    assert "gateway.ownership" in str(caught.value)
    return str(caught.value)


def _two_apps(running: Running) -> tuple[Any, Any]:
    other = running.issue("fraud", team="risk")
    return (
        genai_client(running.url, running.key, api_version="v1beta"),
        genai_client(running.url, other, api_version="v1beta"),
    )


def test_another_app_cannot_read_use_list_or_delete_a_file(
    gw: Running, audit: Any, tmp_path: Path
) -> None:
    """A file app A uploaded is invisible and unusable to app B, and fully A's."""
    from google.genai import types

    mine, theirs = _two_apps(gw)
    path = tmp_path / "notes.txt"
    path.write_text("hello file")
    uploaded = mine.files.upload(file=path, config={"mime_type": "text/plain"})
    assert uploaded.name
    assert uploaded.uri

    _denied(lambda: theirs.files.get(name=uploaded.name))
    _denied(lambda: theirs.files.delete(name=uploaded.name))
    part = types.Part.from_uri(file_uri=uploaded.uri, mime_type="text/plain")
    _denied(lambda: theirs.models.generate_content(model=MODEL, contents=[part, "summarise"]))
    assert uploaded.name not in [f.name for f in theirs.files.list()]

    denied = [e for e in audit.events if e.app == "fraud" and e.outcome == "denied"]
    assert len(denied) == 3
    assert all("gateway.ownership" in str(e.policy) for e in denied)
    assert all("belongs to app 'checkout'" in str(e.policy) for e in denied)

    assert mine.files.get(name=uploaded.name).name == uploaded.name
    assert uploaded.name in [f.name for f in mine.files.list()]
    assert mine.models.generate_content(model=MODEL, contents=[part, "summarise"]).text
    mine.files.delete(name=uploaded.name)
    # Deleting removed the record: the name is nobody's now, so A is refused too.
    _denied(lambda: mine.files.get(name=uploaded.name))


def test_caches_and_batches_are_their_creators(gw: Running) -> None:
    """A cache and a batch app A created: B cannot get, use, list or delete them; A can."""
    mine, theirs = _two_apps(gw)
    cache = mine.caches.create(
        model=MODEL, config={"contents": ["a long shared context " * 50], "ttl": "600s"}
    )
    assert cache.name
    _denied(lambda: theirs.caches.get(name=cache.name))
    _denied(
        lambda: theirs.models.generate_content(
            model=MODEL, contents="hi", config={"cached_content": cache.name}
        )
    )
    _denied(lambda: theirs.caches.delete(name=cache.name))
    assert cache.name not in [c.name for c in theirs.caches.list()]
    assert mine.models.generate_content(
        model=MODEL, contents="hi", config={"cached_content": cache.name}
    ).text
    assert cache.name in [c.name for c in mine.caches.list()]

    batch = mine.batches.create(
        model=MODEL, src=[{"contents": [{"parts": [{"text": "hi"}], "role": "user"}]}]
    )
    assert batch.name
    _denied(lambda: theirs.batches.get(name=batch.name))
    _denied(lambda: theirs.batches.cancel(name=batch.name))
    assert batch.name not in [b.name for b in theirs.batches.list()]
    assert mine.batches.get(name=batch.name).name == batch.name
    assert batch.name in [b.name for b in mine.batches.list()]
    mine.caches.delete(name=cache.name)


def test_a_batch_cannot_read_another_apps_file(gw: Running, tmp_path: Path) -> None:
    """A batch whose input file is another app's is refused before it reaches the upstream."""
    mine, theirs = _two_apps(gw)
    path = tmp_path / "requests.jsonl"
    path.write_text('{"key": "1", "request": {"contents": [{"parts": [{"text": "hi"}]}]}}\n')
    uploaded = mine.files.upload(file=path, config={"mime_type": "application/jsonl"})
    _denied(lambda: theirs.batches.create(model=MODEL, src=uploaded.name))


def test_a_batchs_results_file_is_the_batch_owners(
    gw: Running, emulator: Any, tmp_path: Path
) -> None:
    """The results file a finished batch names is its owner's (recorded as the owner reads the
    batch): the owner downloads it, another app cannot."""
    mine, theirs = _two_apps(gw)
    path = tmp_path / "requests.jsonl"
    path.write_text('{"key": "1", "request": {"contents": [{"parts": [{"text": "hi"}]}]}}\n')
    uploaded = mine.files.upload(file=path, config={"mime_type": "application/jsonl"})
    batch = mine.batches.create(model=MODEL, src=uploaded.name)
    emulator.advance(emulator.timings.job_run_s + emulator.timings.job_start_s)
    results = mine.batches.get(name=batch.name).dest.file_name
    assert results
    assert results != uploaded.name
    _denied(lambda: theirs.files.download(file=results))
    assert b'"key"' in mine.files.download(file=results)


def test_team_sharing_and_unowned_resources(
    start_gateway: Callable[..., Running], emulator: Any, tmp_path: Path
) -> None:
    """resource_sharing = "team" lets a team's apps share; "allow" lets unowned names pass."""
    running = start_gateway(resource_sharing="team")
    teammate = genai_client(running.url, running.issue("refunds", team="payments"))
    outsider = genai_client(running.url, running.issue("fraud", team="risk"))
    mine = genai_client(running.url, running.key)
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    uploaded = mine.files.upload(file=path, config={"mime_type": "text/plain"})
    assert teammate.files.get(name=uploaded.name).name == uploaded.name
    _denied(lambda: outsider.files.get(name=uploaded.name))

    # A file made at the upstream directly (not through the gateway) has no owner.
    direct = genai_client(emulator.url, "a-key-of-the-upstream", api_version="v1beta")
    made = direct.files.upload(file=path, config={"mime_type": "text/plain"}).name
    _denied(lambda: mine.files.get(name=made))
    lenient = start_gateway(unowned_resources="allow")
    assert genai_client(lenient.url, lenient.key).files.get(name=made).name == made


def test_replicas_sharing_redis_agree(
    tmp_path: Path, start_gateway: Callable[..., Running], emulator: Any
) -> None:
    """An owner recorded by one replica is enforced by another that shares its Redis: a file,
    and a video operation and the file it made, recorded as another replica polls it."""
    from golden_path.gateway import issue_key
    from tests.limits.conftest import RedisServer, redis_or_skip

    redis_or_skip()
    server = RedisServer(tmp_path / "redis").start()
    try:
        keys = tmp_path / "shared-keys.toml"
        mine_key, _ = issue_key(keys, app="checkout", team="payments")
        theirs_key, _ = issue_key(keys, app="fraud", team="risk")
        settings = {"state_url": f"{server.url}?timeout_ms=2000"}
        one = start_gateway(settings=settings, keys_file=keys, upload_signing_key="s" * 32)
        two = start_gateway(settings=settings, keys_file=keys, upload_signing_key="s" * 32)
        path = tmp_path / "notes.txt"
        path.write_text("hello")
        uploaded = genai_client(one.url, mine_key).files.upload(
            file=path, config={"mime_type": "text/plain"}
        )
        assert genai_client(two.url, mine_key).files.get(name=uploaded.name).name
        _denied(lambda: genai_client(two.url, theirs_key).files.get(name=uploaded.name))
        with server.client() as client:
            assert client.get(f"golden-path:owner:{uploaded.name}") is not None
        import httpx2
        from google.genai import types

        started = httpx2.post(
            f"{one.url}/v1beta/models/veo-3.1-generate-preview:predictLongRunning",
            json={"instances": [{"prompt": "a red ball"}]},
            headers={"x-goog-api-key": mine_key},
            timeout=30,
        )
        assert started.status_code == 200, started.text
        operation = types.GenerateVideosOperation(name=started.json()["name"])
        _denied(lambda: genai_client(two.url, theirs_key).operations.get(operation))
        emulator.advance(emulator.timings.video_s)
        done = genai_client(two.url, mine_key).operations.get(operation)
        uri = done.result.generated_videos[0].video.uri
        made = "files/" + uri.split("/files/", 1)[1].split(":", 1)[0]
        assert genai_client(one.url, mine_key).files.download(file=made)
        _denied(lambda: genai_client(one.url, theirs_key).files.download(file=made))
    finally:
        from golden_path import _state

        _state.reset()
        server.stop()


@pytest.mark.parametrize(
    ("field", "value"), [("resource_sharing", "everyone"), ("unowned_resources", "maybe")]
)
def test_a_bad_setting_is_named_with_its_source(
    field: str, value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad sharing setting fails at start-up naming the field, where it came from and the fix."""
    from golden_path.exceptions import ConfigError
    from golden_path.gateway import load_gateway_config

    config = tmp_path / "gateway.toml"
    config.write_text(f'[gateway]\nkeys_file = "k.toml"\n{field} = "{value}"\n')
    with pytest.raises(ConfigError) as caught:
        load_gateway_config(config)
    text = str(caught.value)
    assert field in text
    assert str(config) in text
    monkeypatch.setenv(f"GOLDEN_PATH_GATEWAY_{field.upper()}", value)
    with pytest.raises(ConfigError) as caught:
        load_gateway_config(keys_file="k.toml")
    assert f"GOLDEN_PATH_GATEWAY_{field.upper()}" in str(caught.value)


def _refused_with(call: Callable[[], Any]) -> None:
    """``call`` raises the SDK's 403 naming the ownership policy (whatever error class)."""
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the Interactions client's own classes
        call()
    assert "403" in str(caught.value)
    assert "gateway.ownership" in str(caught.value)


def test_interactions_are_their_creators(gw: Running) -> None:
    """An interaction (made plain or streamed) is its creator's: another app can neither read
    it nor continue it with previous_interaction_id."""
    mine, theirs = _two_apps(gw)
    made = mine.interactions.create(model=MODEL, input="start")
    _refused_with(lambda: theirs.interactions.get(made.id))
    _refused_with(
        lambda: theirs.interactions.create(
            model=MODEL, input="go on", previous_interaction_id=made.id
        )
    )
    assert mine.interactions.get(made.id).id == made.id
    assert mine.interactions.create(model=MODEL, input="go on", previous_interaction_id=made.id).id

    events = list(mine.interactions.create(model=MODEL, input="streamed", stream=True))
    streamed = next(e for e in events if e.event_type == "interaction.created").interaction.id
    _refused_with(lambda: theirs.interactions.get(streamed))
    assert mine.interactions.get(streamed).id == streamed


def test_a_field_name_spelled_with_escapes_is_still_judged(gw: Running) -> None:
    """JSON lets a name be written with \\u escapes; Google reads ``\\u0063achedContent`` as
    ``cachedContent``, so app B writing it that way over plain REST must still be refused."""
    import httpx2

    mine, _ = _two_apps(gw)
    cache = mine.caches.create(
        model=MODEL, config={"contents": ["a long shared context " * 50], "ttl": "600s"}
    )
    other = gw.issue("sneaky", team="elsewhere")
    # Key and value both escaped: no byte of the raw body spells "cached".
    escaped = "\\u0063" + cache.name.removeprefix("c")
    body = '{"contents": [{"role": "user", "parts": [{"text": "hi"}]}], '
    body += f'"\\u0063achedContent": "{escaped}"}}'
    assert b"cached" not in body.encode()
    answer = httpx2.post(
        f"{gw.url}/v1beta/models/{MODEL}:generateContent",
        content=body.encode(),
        headers={"x-goog-api-key": other, "content-type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 403, answer.text
    assert "gateway.ownership" in answer.text
    # The same trick in the path: refused by golden-path, never answered by the upstream.
    ident = cache.name.split("/", 1)[1]
    sneaky = httpx2.get(
        f"{gw.url}/v1beta/%63achedContents/{ident}", headers={"x-goog-api-key": other}
    )
    assert sneaky.status_code == 403
    assert "gateway.ownership" in sneaky.text
    sneaky = httpx2.get(
        f"{gw.url}/v1beta/cachedContents%2F{ident}", headers={"x-goog-api-key": other}
    )
    assert sneaky.status_code == 400
    assert "percent-encoded '/'" in sneaky.text


def test_a_video_operation_and_its_files_are_their_creators(gw: Running, emulator: Any) -> None:
    """predictLongRunning's operation is its creator's; so are the videos it made, recorded
    when the creator's poll reveals them. Another app can neither poll, list nor download."""
    import httpx2
    from google.genai import types

    mine, theirs = _two_apps(gw)
    veo = "veo-3.1-generate-preview"
    # google-genai 3.4.0 asks for videos on Vertex only; REST (and the JS SDK) on this API.
    started = httpx2.post(
        f"{gw.url}/v1beta/models/{veo}:predictLongRunning",
        json={"instances": [{"prompt": "a red ball"}]},
        headers={"x-goog-api-key": gw.key},
        timeout=30,
    )
    assert started.status_code == 200, started.text
    operation = types.GenerateVideosOperation(name=started.json()["name"])
    assert operation.name.startswith(f"models/{veo}/operations/")
    # generatedFiles/... (what the Gemini API may name a model's output) is judged the same way.
    sneaky = httpx2.get(
        f"{gw.url}/v1beta/generatedFiles/abc", headers={"x-goog-api-key": gw.key}, timeout=30
    )
    assert sneaky.status_code == 403
    assert "gateway.ownership" in sneaky.text
    _denied(lambda: theirs.operations.get(operation))
    emulator.advance(emulator.timings.video_s)
    done = mine.operations.get(operation)
    assert done.done
    video = done.result.generated_videos[0].video
    # What the SDK does with Google's https URI (the emulator's is http): the file's name.
    made = "files/" + video.uri.split("/files/", 1)[1].split(":", 1)[0]
    _denied(lambda: theirs.files.download(file=made))
    _denied(lambda: theirs.files.get(name=made))
    assert mine.files.download(file=made)
    # The model's operation list (every app's videos at Google) shows each app its own.
    listed = {}
    for key in (gw.key, gw.issue("fraud2", team="risk")):
        answer = httpx2.get(
            f"{gw.url}/v1beta/models/{veo}/operations", headers={"x-goog-api-key": key}
        )
        assert answer.status_code == 200, answer.text
        listed[key] = [o["name"] for o in answer.json().get("operations", [])]
    assert operation.name in listed[gw.key]
    assert all(operation.name not in names for key, names in listed.items() if key != gw.key)


def _vertex_apps(running: Running) -> tuple[Any, Any]:
    """The Vertex SDK of two apps behind a gateway on Vertex AI, each presenting its app key
    as the bearer token the SDK sends."""
    from google import genai
    from google.genai import types
    from google.oauth2.credentials import Credentials

    def client(key: str) -> Any:
        made = genai.Client(
            vertexai=True,
            project="app-project",
            location="us-central1",
            credentials=Credentials(token=key),
            http_options=types.HttpOptions(base_url=running.url),
        )
        _clients.append(made)
        return made

    return client(running.key), client(running.issue("fraud", team="risk"))


def test_a_vertex_video_is_polled_only_by_its_creator(vertex_gw: Running, emulator: Any) -> None:
    """On Vertex the SDK polls a video with fetchPredictOperation, naming the operation in the
    body: another app's poll is refused."""
    mine, theirs = _vertex_apps(vertex_gw)
    operation = mine.models.generate_videos(
        model="veo-3.0-generate-001", source={"prompt": "a red ball"}
    )
    _denied(lambda: theirs.operations.get(operation))
    emulator.advance(emulator.timings.video_s)
    assert mine.operations.get(operation).done


@pytest.mark.filterwarnings("ignore::google.genai._common.ExperimentalWarning")  # tunings.tune
def test_a_vertex_tuned_model_is_its_tuners(vertex_gw: Running, emulator: Any) -> None:
    """A Vertex tuning job's model and endpoint become the tuner's when its job says so:
    another app can neither call, read, list nor delete them."""
    import httpx2
    from google.genai import types

    running = vertex_gw
    mine, theirs = _vertex_apps(running)
    # The OpenAI layer's models/ are Google's, listed in full (not a Model Registry list).
    openai_models = httpx2.get(
        f"{running.url}/v1beta1/projects/p/locations/l/endpoints/openapi/models",
        headers={"authorization": f"Bearer {running.key}"},
        timeout=30,
    )
    assert openai_models.status_code == 200, openai_models.text
    assert openai_models.json()["data"]
    job = mine.tunings.tune(
        base_model=MODEL,
        training_dataset=types.TuningDataset(gcs_uri="gs://bucket/train.jsonl"),
    )
    _denied(lambda: theirs.tunings.get(name=job.name))
    emulator.advance(emulator.timings.job_run_s)
    tuned = mine.tunings.get(name=job.name).tuned_model
    assert tuned.model
    assert tuned.endpoint
    _denied(lambda: theirs.models.generate_content(model=tuned.endpoint, contents="hi"))
    _denied(lambda: theirs.models.get(model=tuned.model))
    _denied(lambda: theirs.models.delete(model=tuned.model))
    assert tuned.model.split("@")[0] not in [
        m.name for m in theirs.models.list(config={"query_base": False})
    ]
    assert mine.models.generate_content(model=tuned.endpoint, contents="hi").text
    assert mine.models.get(model=tuned.model).name
    assert tuned.model.split("@")[0] in [
        m.name for m in mine.models.list(config={"query_base": False})
    ]
    # Tuning on from another app's tuned model (preTunedModel.tunedModelName) is refused too.
    dataset = types.TuningDataset(gcs_uri="gs://bucket/more.jsonl")
    _denied(lambda: theirs.tunings.tune(base_model=tuned.model, training_dataset=dataset))
    assert mine.tunings.tune(base_model=tuned.model, training_dataset=dataset).name
    mine.models.delete(model=tuned.model)
    _denied(lambda: mine.models.get(model=tuned.model))


def test_stored_openai_responses_are_their_creators(gw: Running) -> None:
    """A response the OpenAI layer stored (plain or streamed) is its creator's: another app can
    neither retrieve it, delete it nor continue it with previous_response_id."""
    openai = pytest.importorskip("openai")

    def client(key: str) -> Any:
        return openai.OpenAI(api_key=key, base_url=f"{gw.url}/v1beta/openai/", max_retries=0)

    with client(gw.key) as mine, client(gw.issue("fraud", team="risk")) as theirs:
        made = mine.responses.create(model=MODEL, input="start")
        with mine.responses.create(model=MODEL, input="streamed", stream=True) as events:
            streamed = next(e for e in events if e.type == "response.created").response.id
            for _ in events:  # read to the end, as an app does
                pass
        for name in (made.id, streamed):
            for call, args in (
                (theirs.responses.retrieve, {"response_id": name}),
                (theirs.responses.delete, {"response_id": name}),
                (
                    theirs.responses.create,
                    {"model": MODEL, "input": "go on", "previous_response_id": name},
                ),
            ):
                with pytest.raises(openai.PermissionDeniedError) as caught:
                    call(**args)
                assert "gateway.ownership" in str(caught.value)
            assert mine.responses.retrieve(name).id == name
        follow = mine.responses.create(model=MODEL, input="go on", previous_response_id=made.id)
        assert follow.output_text
        mine.responses.delete(made.id)
        with pytest.raises(openai.PermissionDeniedError):  # deleted: nobody's now
            mine.responses.retrieve(made.id)


def test_a_body_model_field_naming_a_tuned_model_is_judged(gw: Running) -> None:
    """The route table's model fields (here a cache's ``model``) are judged when they name a
    tuned model; a Google model's name passes as before."""
    import httpx2

    def cache(model: str) -> httpx2.Response:
        body = {"model": model, "contents": [{"role": "user", "parts": [{"text": "x " * 600}]}]}
        return httpx2.post(
            f"{gw.url}/v1beta/cachedContents",
            json=body,
            headers={"x-goog-api-key": gw.key},
            timeout=30,
        )

    refused = cache("tunedModels/someone-elses")
    assert refused.status_code == 403
    assert "gateway.ownership" in refused.text
    assert cache(f"models/{MODEL}").status_code == 200
