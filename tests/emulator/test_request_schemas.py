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
