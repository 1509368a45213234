"""Model calls as Google answers them: fields only the SDK knows, value rules, response shapes.

Each test drives golden_path.client() (the real SDK over HTTP) against the emulator, on both
backends where the rule applies to both.
"""

from __future__ import annotations

import base64
import io
import struct
from typing import Any

import pytest
from google import genai
from google.genai import errors, types

from golden_path.emulator import _png

MODEL = "gemini-2.5-flash"


def _vertex(client: Any) -> bool:
    return bool(client._api_client.vertexai)


def _generate(client: Any, contents: Any = "hi", model: str = MODEL, **config: Any) -> Any:
    return client.models.generate_content(model=model, contents=contents, config=config)


def _extra_body(body: dict[str, Any]) -> types.HttpOptions:
    return types.HttpOptions(extra_body=body)


# -- fields google-genai sends that the published spec snapshots lack ----------------------------


def test_fields_only_the_sdk_defines_are_accepted(gp_client: Any) -> None:
    """MCP servers, server-side tool invocations and computer-use safety policies go through."""
    if not _vertex(gp_client):  # the SDK sends these two to the Gemini API only
        transport = types.StreamableHttpTransport(url="https://mcp.example/")
        mcp = types.McpServer(name="docs", streamable_http_transport=transport)
        response = _generate(
            gp_client,
            tools=[types.Tool(mcp_servers=[mcp]), types.Tool(google_search=types.GoogleSearch())],
            tool_config=types.ToolConfig(include_server_side_tool_invocations=True),
        )
        assert response.text == "Echo: hi"
    computer = types.ComputerUse(
        environment=types.Environment.ENVIRONMENT_BROWSER,
        disabled_safety_policies=["FINANCIAL_TRANSACTIONS"],
    )
    assert _generate(gp_client, tools=[types.Tool(computer_use=computer)]).text == "Echo: hi"

    # A server-side tool call echoed back in the history, with a tool type the SDK's enum lacks.
    echoed = {"role": "model", "parts": [{"toolCall": {"toolType": "GOOGLE_SEARCH", "args": {}}}]}
    history = {"contents": [{"role": "user", "parts": [{"text": "sky?"}]}, echoed,
                            {"role": "user", "parts": [{"text": "Mars?"}]}]}  # fmt: skip
    assert _generate(gp_client, http_options=_extra_body(history)).text == "Echo: Mars?"


def test_file_search_store_names_on_the_gemini_api(gp_client: Any) -> None:
    if _vertex(gp_client):
        pytest.skip("file search stores are a Gemini API feature (the SDK refuses on Vertex)")
    search = types.FileSearch(file_search_store_names=["fileSearchStores/handbook"], top_k=3)
    assert _generate(gp_client, tools=[types.Tool(file_search=search)]).text == "Echo: hi"


def test_sdk_fields_are_still_typed_and_closed(gp_client: Any) -> None:
    """The SDK's additions are checked like the specs' fields: unknown names and wrong types."""
    unknown = {"tools": [{"mcpServers": [{"name": "docs", "transport": "sse"}]}]}
    with pytest.raises(errors.ClientError, match='Unknown name "transport"') as caught:
        _generate(gp_client, http_options=_extra_body(unknown))
    assert caught.value.code == 400
    wrong = {"toolConfig": {"includeServerSideToolInvocations": "yes"}}
    with pytest.raises(errors.ClientError, match="TYPE_BOOL"):
        _generate(gp_client, http_options=_extra_body(wrong))


def test_enum_names_match_without_regard_to_case(gp_client: Any) -> None:
    """Google reads "audio" as AUDIO; a name no enum has is 400 naming the field."""
    response = _generate(
        gp_client, model="gemini-2.5-flash-preview-tts", response_modalities=["audio"]
    )
    assert response.candidates[0].content.parts[0].inline_data is not None
    with pytest.raises(errors.ClientError, match=r"response_modalities\[0\].*TYPE_ENUM"):
        _generate(gp_client, response_modalities=["loud"])


# -- response shapes -----------------------------------------------------------------------------


def test_speech_answers_are_pcm_audio(gp_client: Any) -> None:
    voice = types.VoiceConfig(prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name="kore"))
    response = _generate(
        gp_client,
        "Say cheese",
        model="gemini-2.5-flash-preview-tts",
        response_modalities=["AUDIO"],
        speech_config=types.SpeechConfig(voice_config=voice),
    )
    blob = response.candidates[0].content.parts[0].inline_data
    assert blob.mime_type == "audio/L16;codec=pcm;rate=24000"
    assert blob.data
    assert set(blob.data) == {0}, "silence, as long as the text"
    details = response.usage_metadata.candidates_tokens_details
    assert [d.modality for d in details] == [types.MediaModality.AUDIO]


def test_usage_counts_each_modality(gp_client: Any) -> None:
    image = types.Part.from_bytes(data=_png.png("x"), mime_type="image/png")
    usage = _generate(gp_client, ["Describe this.", image]).usage_metadata
    prompt = {d.modality.name: d.token_count for d in usage.prompt_tokens_details}
    assert prompt == {"TEXT": 4, "IMAGE": 258}
    assert usage.prompt_token_count == 262
    assert [d.modality.name for d in usage.candidates_tokens_details] == ["TEXT"]
    assert usage.candidates_tokens_details[0].token_count == usage.candidates_token_count
    count = gp_client.models.count_tokens(model=MODEL, contents=["Describe this.", image])
    assert count.total_tokens == usage.prompt_token_count


def test_vertex_reports_the_traffic_type(gp_client: Any) -> None:
    on_demand = _generate(gp_client).usage_metadata.traffic_type
    dedicated = _generate(
        gp_client,
        http_options=types.HttpOptions(headers={"X-Vertex-AI-LLM-Request-Type": "dedicated"}),
    ).usage_metadata.traffic_type
    if _vertex(gp_client):
        assert on_demand == types.TrafficType.ON_DEMAND
        assert dedicated == types.TrafficType.PROVISIONED_THROUGHPUT
    else:
        assert on_demand is None
        assert dedicated is None


def test_union_schemas_get_a_value_of_a_member_type(gp_client: Any) -> None:
    """The SDK sends Schema keys in snake_case (``any_of``): read as Google's parser reads them."""
    number = _generate(gp_client, response_mime_type="application/json", response_schema=int | str)
    assert number.parsed == 0
    numbers = _generate(
        gp_client, response_mime_type="application/json", response_schema=list[int | str]
    )
    assert numbers.parsed == [0]


# -- value rules ---------------------------------------------------------------------------------


def test_one_voice_or_several_speakers_not_both(gp_client: Any) -> None:
    voice = types.VoiceConfig(prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name="kore"))
    speakers = types.MultiSpeakerVoiceConfig(
        speaker_voice_configs=[types.SpeakerVoiceConfig(speaker="Alice", voice_config=voice)]
    )
    with pytest.raises(errors.ClientError, match="mutually exclusive") as caught:
        _generate(
            gp_client,
            model="gemini-2.5-flash-preview-tts",
            response_modalities=["AUDIO"],
            speech_config=types.SpeechConfig(
                voice_config=voice, multi_speaker_voice_config=speakers
            ),
        )
    assert caught.value.status == "INVALID_ARGUMENT"


def test_service_tier_is_a_gemini_api_field(gp_client: Any) -> None:
    if _vertex(gp_client):
        with pytest.raises(errors.ClientError, match='Unknown name "serviceTier"'):
            _generate(gp_client, service_tier="flex")
    else:
        assert _generate(gp_client, service_tier="flex").text == "Echo: hi"


def test_enum_answers_need_an_enum_schema(gp_client: Any) -> None:
    with pytest.raises(errors.ClientError, match=r"text/x\.enum") as caught:
        _generate(gp_client, response_mime_type="text/x.enum", response_schema=list[str])
    assert caught.value.code == 400
    enum = {"type": "STRING", "enum": ["piano", "flute"]}
    answer = _generate(gp_client, response_mime_type="text/x.enum", response_schema=enum)
    assert answer.text == "piano"


def test_inline_data_needs_its_bytes(gp_client: Any) -> None:
    with pytest.raises(errors.ClientError, match=r"inline_data\.data") as caught:
        _generate(gp_client, ["What is this?", {"inline_data": {"mime_type": "image/png"}}])
    assert caught.value.status == "INVALID_ARGUMENT"


def test_file_uris_each_backend_reads(gp_client: Any) -> None:
    """Gemini API files are the Gemini API's; Cloud Storage needs registering on the Gemini API."""
    gemini_file = types.Part.from_uri(
        file_uri="https://generativelanguage.googleapis.com/v1beta/files/abc123",
        mime_type="image/png",
    )
    web = types.Part.from_uri(file_uri="https://example.com/cat.jpg", mime_type="image/jpeg")
    storage = types.Part.from_uri(
        file_uri="https://storage.googleapis.com/cloud-samples-data/scones.jpg",
        mime_type="image/jpeg",
    )
    assert _generate(gp_client, ["What is this?", web]).text
    if _vertex(gp_client):
        with pytest.raises(errors.ClientError) as caught:
            _generate(gp_client, ["What is this?", gemini_file])
        assert (caught.value.code, caught.value.status) == (403, "PERMISSION_DENIED")
        assert _generate(gp_client, ["What is this?", storage]).text
    else:
        assert _generate(gp_client, ["What is this?", gemini_file]).text
        with pytest.raises(errors.ClientError, match="files:register") as caught:
            _generate(gp_client, ["What is this?", storage])
        assert caught.value.code == 400


# -- the catalogue: models the SDK's own suite calls ----------------------------------------------


def test_image_segmentation_labels_its_masks(gp_client: Any) -> None:
    if not _vertex(gp_client):
        pytest.skip("image segmentation is a Vertex AI model")
    image = types.Image(image_bytes=_png.png("street"), mime_type="image/png")
    response = gp_client.models.segment_image(
        model="image-segmentation-001",
        source=types.SegmentImageSource(image=image),
        config=types.SegmentImageConfig(mode=types.SegmentMode.FOREGROUND, max_predictions=1),
    )
    (mask,) = response.generated_masks
    assert mask.mask.image_bytes.startswith(b"\x89PNG")
    assert mask.labels[0].label == "foreground"
    assert mask.labels[0].score > 0
    semantic = gp_client.models.segment_image(
        model="image-segmentation-001",
        source=types.SegmentImageSource(image=image, prompt="car, tree"),
        config=types.SegmentImageConfig(mode=types.SegmentMode.SEMANTIC),
    )
    assert [m.labels[0].label for m in semantic.generated_masks] == ["car", "tree"]
    with pytest.raises(errors.ClientError, match="prompt is required"):
        gp_client.models.segment_image(
            model="image-segmentation-001",
            source=types.SegmentImageSource(image=image),
            config=types.SegmentImageConfig(mode=types.SegmentMode.PROMPT),
        )
    bad_bodies = {
        "TYPE_ENUM": {"parameters": {"mode": "SIDEWAYS"}},
        "image is not specified": {"instances": [{"prompt": "car"}]},
    }
    for message, body in bad_bodies.items():
        with pytest.raises(errors.ClientError, match=message) as caught:
            gp_client.models.segment_image(
                model="image-segmentation-001",
                source=types.SegmentImageSource(image=image),
                config=types.SegmentImageConfig(http_options=_extra_body(body)),
            )
        assert caught.value.code == 400


def test_stand_in_jpeg_is_a_real_jpeg() -> None:
    """The conformance suite's ``.jpg`` stand-ins decode (SOI, a baseline frame, EOI)."""
    data = io.BytesIO(_png.JPEG)
    assert data.read(2) == b"\xff\xd8"
    assert _png.JPEG.endswith(b"\xff\xd9")
    frame = _png.JPEG.index(b"\xff\xc0")
    height, width = struct.unpack(">HH", _png.JPEG[frame + 5 : frame + 9])
    assert (width, height) == (8, 8)
    assert base64.b64encode(_png.JPEG)


def test_models_published_on_one_backend_only(gp_client: Any) -> None:
    """image-segmentation-001 is Vertex AI's; the TTS voice-replication preview the Gemini API's."""
    listed = {m.name.rsplit("/", 1)[-1] for m in gp_client.models.list(config={"page_size": 500})}
    replication = "gemini-2.5-flash-preview-tts-voice-replication-rev22-2025-10-28"
    if _vertex(gp_client):
        assert "image-segmentation-001" in listed
        assert replication not in listed
        for gemini_only in (replication, "gemini-2.5-computer-use-preview-10-2025"):
            with pytest.raises(errors.ClientError) as caught:
                _generate(gp_client, model=gemini_only)
            assert caught.value.code == 404
    else:
        assert "image-segmentation-001" not in listed
        assert replication in listed
        assert _generate(gp_client, model=replication).text == "Echo: hi"


def test_a_tuned_models_endpoint_answers(gp_client: Any, emu: Any) -> None:
    """A Vertex endpoint a finished tuning job deployed answers generate, stream and count."""
    if not _vertex(gp_client):
        pytest.skip("endpoints are Vertex AI's")
    endpoint = "projects/emu-project/locations/us-central1/endpoints/4095574160837705728"
    with pytest.raises(errors.ClientError, match="does not exist") as caught:
        _generate(gp_client, model=endpoint)
    assert caught.value.code == 404
    emu.seed(endpoint, baseModel="gemini-2.5-flash-lite")
    response = _generate(gp_client, "hello", model=endpoint)
    assert response.text == "Echo: hello"
    assert response.model_version == "gemini-2.5-flash-lite"
    streamed = "".join(
        c.text or "" for c in gp_client.models.generate_content_stream(model=endpoint, contents="x")
    )
    assert streamed == "Echo: x"
    assert gp_client.models.count_tokens(model=endpoint, contents="abcdefgh").total_tokens == 2


def test_a_seeded_video_operation_holds_a_video(gp_client: Any, emu: Any) -> None:
    if _vertex(gp_client):
        parent = "projects/emu-project/locations/us-central1"
        name = f"{parent}/publishers/google/models/veo-2.0-generate-001/operations/6839213"
        emu.seed(name)
        operation = gp_client.operations.get(operation=types.GenerateVideosOperation(name=name))
        assert operation.done
        assert operation.result.generated_videos[0].video.video_bytes.startswith(b"\x00\x00")
        return
    name = "models/veo-3.1-generate-preview/operations/vz341u0pmdlc"
    emu.seed(name)
    operation = gp_client.operations.get(operation=types.GenerateVideosOperation(name=name))
    assert operation.done
    video = operation.result.generated_videos[0].video
    file_id = str(video.uri).split("/files/", 1)[1].split(":", 1)[0]
    assert gp_client.files.get(name=f"files/{file_id}").mime_type == "video/mp4"


def test_files_from_the_files_api_are_the_gemini_apis(emu: Any, gp_client: Any) -> None:
    """An uploaded file's URI works on the Gemini API; Vertex AI may not read it (403)."""
    emu.seed("files/handbook", mimeType="text/plain", data=b"rules")

    gemini = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=emu.url))
    try:
        file = gemini.files.get(name="files/handbook")
    finally:
        gemini.close()
    part = types.Part.from_uri(file_uri=str(file.uri), mime_type="text/plain")
    if _vertex(gp_client):
        with pytest.raises(errors.ClientError) as caught:
            _generate(gp_client, ["Summarise", part])
        assert caught.value.code == 403
    else:
        assert _generate(gp_client, ["Summarise", part]).text


# -- embeddings of media -------------------------------------------------------------------------


def test_multimodal_embeddings(gp_client: Any) -> None:
    """gemini-embedding-2 embeds images and documents; text-only models refuse them."""
    pdf = types.Part.from_bytes(data=b"%PDF-1.4\n%%EOF\n", mime_type="application/pdf")
    image = types.Part.from_bytes(data=_png.png("x"), mime_type="image/png")
    first = gp_client.models.embed_content(
        model="gemini-embedding-2",
        contents=[types.Content(parts=[pdf])],
        config={"output_dimensionality": 8},
    )
    again = gp_client.models.embed_content(
        model="gemini-embedding-2",
        contents=[types.Content(parts=[pdf])],
        config={"output_dimensionality": 8},
    )
    other = gp_client.models.embed_content(
        model="gemini-embedding-2",
        contents=[types.Content(parts=[image])],
        config={"output_dimensionality": 8},
    )
    assert len(first.embeddings[0].values) == 8
    assert first.embeddings[0].values == again.embeddings[0].values
    assert first.embeddings[0].values != other.embeddings[0].values
    if _vertex(gp_client):
        statistics = first.embeddings[0].statistics
        assert [d.modality.name for d in statistics.tokens_details] == ["DOCUMENT"]
        assert first.usage_metadata.traffic_type == types.TrafficType.ON_DEMAND
    with pytest.raises(errors.ClientError, match="embeds text only") as caught:
        gp_client.models.embed_content(
            model="gemini-embedding-001", contents=[types.Content(parts=[image])]
        )
    assert caught.value.code == 400


# -- batches: a bad item fails alone -------------------------------------------------------------


def test_a_bad_inline_batch_item_fails_alone(emu: Any) -> None:
    """Its error is a google.rpc.Status the SDK reads (JobError: code, message)."""
    studio = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=emu.url))
    try:
        batch = studio.batches.create(
            model=MODEL,
            src=[
                {"contents": [{"role": "user", "parts": [{"text": "fine"}]}]},
                {"contents": [{"role": "user", "parts": []}]},
            ],
        )
        emu.advance(emu.timings.job_run_s + 1)
        done = studio.batches.get(name=str(batch.name))
    finally:
        studio.close()
    good, bad = done.dest.inlined_responses
    assert good.response.text == "Echo: fine"
    assert bad.response is None
    assert bad.error.code == 3  # INVALID_ARGUMENT
    assert "parts must not be empty" in bad.error.message


def test_function_results_name_the_call_they_answer(gp_client: Any) -> None:
    """Each result is described with the arguments of its call from the history."""
    contents = [
        types.Content(role="user", parts=[types.Part(text="Weather in Boston, and GOOG?")]),
        types.Content(
            role="model",
            parts=[
                types.Part.from_function_call(name="get_weather", args={"location": "Boston"}),
                types.Part.from_function_call(name="get_stock_price", args={"symbol": "GOOG"}),
            ],
        ),
        types.Content(
            role="user",
            parts=[
                types.Part.from_function_response(name="get_weather", response={"r": "sunny"}),
                types.Part.from_function_response(name="get_stock_price", response={"r": "$1"}),
                types.Part.from_function_response(name="unknown_tool", response={"r": 0}),
            ],
        ),
    ]
    assert _generate(gp_client, contents).text == (
        'The function get_weather(location="Boston") returned {"r": "sunny"}. '
        'The function get_stock_price(symbol="GOOG") returned {"r": "$1"}. '
        'The function unknown_tool returned {"r": 0}.'
    )


def test_partner_models_in_vertex_model_garden(gp_client: Any) -> None:
    """Model Garden's MaaS models answer under their publisher; unknown ones are 404 there."""
    if not _vertex(gp_client):
        pytest.skip("Model Garden is Vertex AI's")
    llama = "meta/llama-3.2-90b-vision-instruct-maas"
    assert _generate(gp_client, "hello", model=llama).text == "Echo: hello"
    e5 = "publishers/intfloat/models/multilingual-e5-large-instruct-maas"
    vectors = gp_client.models.embed_content(
        model=e5, contents="hello", config={"output_dimensionality": 16}
    )
    assert len(vectors.embeddings[0].values) == 16
    with pytest.raises(errors.ClientError, match="publishers/meta/models/llama-9") as caught:
        _generate(gp_client, model="meta/llama-9")
    assert caught.value.code == 404


def test_function_results_match_their_call_by_id(gp_client: Any) -> None:
    """Two calls of one function: each result names the arguments of the call with its id."""
    calls = [
        types.Part(function_call=types.FunctionCall(id="a", name="weather", args={"city": "Oslo"})),
        types.Part(function_call=types.FunctionCall(id="b", name="weather", args={"city": "Rome"})),
    ]
    results = [
        types.Part(
            function_response=types.FunctionResponse(id=i, name="weather", response={"t": t})
        )
        for i, t in (("a", 1), ("b", 25))
    ]
    contents = [
        types.Content(role="user", parts=[types.Part(text="Oslo and Rome?")]),
        types.Content(role="model", parts=calls),
        types.Content(role="user", parts=results),
    ]
    assert _generate(gp_client, contents).text == (
        'The function weather(city="Oslo") returned {"t": 1}. '
        'The function weather(city="Rome") returned {"t": 25}.'
    )
