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


def test_fields_only_the_sdk_defines_come_from_its_types() -> None:
    """What both spec snapshots lag behind is read, typed, from google-genai's own types."""
    messages = _schema_gen.generate()["messages"]
    assert messages["Tool"]["mcpServers"] == ["message", "McpServer", True]
    assert set(messages["McpServer"]) == {"name", "streamableHttpTransport"}
    assert messages["FileSearch"]["fileSearchStoreNames"] == ["string", None, True]
    assert messages["ToolConfig"]["includeServerSideToolInvocations"][0] == "bool"
    # Enum names the SDK adds are strings: its enums lag the service's.
    assert messages["ComputerUse"]["disabledSafetyPolicies"] == ["string", None, True]
    # Request-level fields the SDK builds from its config, and the specs' own types still win.
    assert messages["GenerateContentRequest"]["serviceTier"] == ["string", None, False]
    assert messages["GenerationConfig"]["candidateCount"][0] == "int32"
