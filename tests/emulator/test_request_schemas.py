"""request_schemas.json is what the checked-in generator makes from Google's current specs."""

from __future__ import annotations

from golden_path.emulator import _schema_gen


def test_checked_in_schemas_match_the_generator() -> None:
    expected = _schema_gen.render()
    assert _schema_gen.OUTPUT.read_text(encoding="utf-8") == expected, (
        "run: python -m golden_path.emulator._schema_gen"
    )


def test_schemas_cover_what_the_sdk_sends() -> None:
    messages = _schema_gen.generate()["messages"]
    request = messages["GenerateContentRequest"]
    assert {"contents", "generationConfig", "tools", "cachedContent"} <= set(request)
    assert "thoughtSignature" in messages["Part"]
    assert messages["GenerationConfig"]["candidateCount"][0] == "int32"


def test_count_and_embed_fields_follow_each_backends_spec() -> None:
    """countTokens and embedding requests are checked against their own backend's spec."""
    messages = _schema_gen.generate()["messages"]
    assert "systemInstruction" in messages["CountTokensRequest@vertex"]
    assert "systemInstruction" not in messages["CountTokensRequest@gemini"]
    assert "generateContentRequest" in messages["CountTokensRequest@gemini"]
    assert "autoTruncate" in messages["EmbedContentRequest@vertex"]
    assert "autoTruncate" not in messages["EmbedContentRequest@gemini"]
    assert messages["BatchEmbedContentsRequest@gemini"]["requests"][1] == "EmbedContentRequest"
