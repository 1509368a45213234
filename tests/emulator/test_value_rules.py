"""Value rules: well-formed requests Google refuses, refused by the emulator the same way."""

from __future__ import annotations

from typing import Any

import pytest
from google.genai import errors

_V = "projects/emu-project/locations/us-central1"


def _vertex(client: Any) -> bool:
    return bool(client._api_client.vertexai)


def _generate(client: Any, model: str = "gemini-2.5-flash", **config: Any) -> Any:
    return client.models.generate_content(model=model, contents="hi", config=config)


def test_max_output_tokens_must_be_positive(gp_client: Any) -> None:
    """maxOutputTokens 0 is 400 INVALID_ARGUMENT on both backends."""
    with pytest.raises(errors.ClientError, match="max_output_tokens must be positive"):
        _generate(gp_client, max_output_tokens=0)


def test_candidate_count_zero(gp_client: Any) -> None:
    """candidateCount 0 is refused by the Gemini API; Vertex AI takes it as unset."""
    if _vertex(gp_client):
        assert _generate(gp_client, candidate_count=0).text
    else:
        with pytest.raises(errors.ClientError, match="candidate_count must be positive"):
            _generate(gp_client, candidate_count=0)


def test_logprobs_need_response_logprobs(gp_client: Any) -> None:
    """logprobs without responseLogprobs is 400, worded per backend."""
    wording = "setting response_logprobs to be true" if _vertex(gp_client) else "is true"
    with pytest.raises(errors.ClientError, match=wording):
        _generate(gp_client, logprobs=1)


def test_logprobs_model_support(gp_client: Any) -> None:
    """The Gemini API answers logprobs on gemini-2.0 models only; Vertex AI on all."""
    assert _generate(gp_client, "gemini-2.0-flash", logprobs=2, response_logprobs=True)
    if _vertex(gp_client):
        assert _generate(gp_client, response_logprobs=True)
    else:
        with pytest.raises(errors.ClientError, match="Logprobs is not enabled"):
            _generate(gp_client, response_logprobs=True)


def test_cached_content_name_shape(gp_client: Any) -> None:
    """A cachedContent that is not a cache's resource name is 400, not 404."""
    with pytest.raises(errors.ClientError, match="INVALID_ARGUMENT"):
        _generate(gp_client, cached_content="batchPredictionJobs/123")


def _cache(client: Any, uri: str, **config: Any) -> Any:
    part = {"file_data": {"file_uri": uri, "mime_type": "application/pdf"}}
    return client.caches.create(
        model="gemini-2.5-flash", config={"contents": [{"role": "user", "parts": [part]}], **config}
    )


def test_cache_file_sources(gp_client: Any) -> None:
    """gs:// is refused by the Gemini API; Gemini file URIs fail on Vertex AI with INTERNAL."""
    if _vertex(gp_client):
        assert _cache(gp_client, "gs://bucket/doc.pdf").name.startswith(_V)
        with pytest.raises(errors.ServerError, match="INTERNAL"):
            _cache(gp_client, "https://generativelanguage.googleapis.com/v1beta/files/x")
        with pytest.raises(errors.ClientError, match="KMS key"):
            _cache(gp_client, "gs://bucket/doc.pdf", kms_key_name=f"{_V}/keyRings/k/cryptoKeys/c")
    else:
        with pytest.raises(errors.ClientError, match="gs://"):
            _cache(gp_client, "gs://bucket/doc.pdf")


def test_cache_model_must_be_a_gemini_model_name(gemini: Any) -> None:
    """On the Gemini API a Vertex-style model path is an unknown model (404)."""
    part = {"text": "long text " * 10}
    with pytest.raises(errors.ClientError, match="404"):
        gemini.caches.create(
            model="publishers/google/models/gemini-2.5-flash",
            config={"contents": [{"role": "user", "parts": [part]}]},
        )


def test_count_tokens_fields_follow_the_backend(gp_client: Any) -> None:
    """countTokens takes a system instruction on Vertex AI only, as each backend's spec says."""
    config = {"http_options": {"extra_body": {"systemInstruction": {"parts": [{"text": "hi"}]}}}}
    if _vertex(gp_client):
        assert gp_client.models.count_tokens(model="gemini-2.5-flash", contents="x", config=config)
    else:
        with pytest.raises(errors.ClientError, match='Unknown name "systemInstruction"'):
            gp_client.models.count_tokens(model="gemini-2.5-flash", contents="x", config=config)


def test_embedding_fields_follow_the_backend(gp_client: Any) -> None:
    """An embedding request with a field its backend's spec lacks is 400, naming the field."""
    config = {"http_options": {"extra_body": {"notAField": 1}}}
    with pytest.raises(errors.ClientError, match="notAField"):
        gp_client.models.embed_content(model="gemini-embedding-001", contents="x", config=config)


def test_project_paths_with_an_api_key_are_the_gemini_hosts_404(emu: Any) -> None:
    """An API key on a project path is a Gemini API call: that host answers a plain 404."""
    import httpx2

    with httpx2.Client(base_url=emu.url) as http:
        answer = http.get(
            "/v1/projects/p/locations/us-central1/tuningJobs/1", headers={"x-goog-api-key": "k"}
        )
    assert (answer.status_code, answer.headers["content-type"]) == (404, "text/html")
    assert "Not Found" in answer.text
    assert "\n" not in answer.text.strip()


def test_vertex_model_ids_have_no_dots(vertex: Any) -> None:
    """models/gemini-2.5-flash is no Model Registry id on Vertex AI: 400, not 404."""
    with pytest.raises(errors.ClientError, match="400"):
        vertex.models.get(model=f"{_V}/models/gemini-2.5-flash")


def test_virtual_try_on_makes_images(vertex: Any) -> None:
    """recontext_image on virtual-try-on-001 answers PNG images."""
    from google.genai import types

    from golden_path.emulator._png import png

    image = types.Image(image_bytes=png("x", 8), mime_type="image/png")
    answer = vertex.models.recontext_image(
        model="virtual-try-on-001",
        source=types.RecontextImageSource(
            person_image=image, product_images=[types.ProductImage(product_image=image)]
        ),
    )
    assert answer.generated_images[0].image.image_bytes.startswith(b"\x89PNG")


def test_upload_mime_types(gemini: Any) -> None:
    """A MIME type outside IANA's top-level types is refused; registered URIs get theirs."""
    import io

    with pytest.raises(errors.ClientError, match="Unsupported MIME type"):
        gemini.files.upload(file=io.BytesIO(b"x"), config={"mime_type": "bad/mime_type"})
    registered = gemini.files._register_files(uris=["gs://bucket/photo.jpg"])
    assert registered.files[0].mime_type == "image/jpeg"


def test_gemini_api_reads_cloud_storage_only_through_registered_files(gp_client: Any) -> None:
    """A gs:// file URI is 400 on the Gemini API unless registered; Vertex AI reads it."""
    part = {"file_data": {"file_uri": "gs://bucket/doc.pdf", "mime_type": "application/pdf"}}
    contents = [{"role": "user", "parts": [{"text": "sum"}, part]}]
    if _vertex(gp_client):
        assert gp_client.models.generate_content(model="gemini-2.5-flash", contents=contents)
        return
    with pytest.raises(errors.ClientError, match="Unsupported file uri"):
        gp_client.models.generate_content(model="gemini-2.5-flash", contents=contents)
    gp_client.files._register_files(uris=["gs://bucket/doc.pdf"])
    assert gp_client.models.generate_content(model="gemini-2.5-flash", contents=contents)


def test_a_gemini_api_tuned_model_name_on_vertex_is_the_front_ends_404(gp_client: Any) -> None:
    """tunedModels/... is a Gemini API name: under a Vertex project Google's front end 404s."""
    if _vertex(gp_client):
        with pytest.raises(errors.ClientError, match="Not Found") as caught:
            gp_client.tunings.get(name="tunedModels/generate-num-1896")
        assert caught.value.code == 404
        assert "Vertex AI has no tunedModels collection" in str(caught.value)
    else:
        with pytest.raises(errors.ClientError) as caught:
            gp_client.tunings.get(name="tunedModels/never-made")
        assert caught.value.code == 404
        assert "Vertex" not in str(caught.value)
