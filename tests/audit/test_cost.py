"""Money: the price catalog, and the cost and billed units on every audit event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import golden_path
from golden_path._model import Usage
from golden_path._prices import load_catalog
from golden_path.exceptions import ConfigError
from golden_path.testing import AuditCapture


def _answer(usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": usage,
    }


@pytest.fixture(name="call")
def _call(emulator: Any) -> Any:
    audit = AuditCapture()
    client = golden_path.create_client(
        backend="ai_studio",
        api_key="k",
        base_url=emulator.url,
        retry_attempts=1,
        audit_sinks=[audit],
    )

    def call(model: str, usage: dict[str, Any]) -> Any:
        emulator.script_response(_answer(usage))
        client.models.generate_content(model=model, contents="hi")
        return audit.events[-1]

    return call


def test_cached_tokens_are_billed_once_and_thoughts_as_output(call: Any) -> None:
    """Cached tokens are part of promptTokenCount: billed at the cached rate only, never also
    as input; thinking tokens are billed at the output rate (gemini-2.5-flash list prices)."""
    event = call(
        "gemini-2.5-flash",
        {
            "promptTokenCount": 1000,
            "cachedContentTokenCount": 400,
            "candidatesTokenCount": 100,
            "thoughtsTokenCount": 50,
            "totalTokenCount": 1150,
        },
    )
    # 600 x $0.30 + 400 x $0.03 + (100 + 50) x $2.50, per million
    assert event.cost_usd == pytest.approx(567e-6)
    assert event.billed == {"input": 600, "cached_input": 400, "output": 100, "thinking": 50}


def test_long_context_tier_prices_the_whole_request(call: Any) -> None:
    """Above 200k prompt tokens gemini-2.5-pro bills every token at the long-context rates."""
    event = call(
        "gemini-2.5-pro",
        {"promptTokenCount": 250_000, "candidatesTokenCount": 1000, "totalTokenCount": 251_000},
    )
    assert event.cost_usd == pytest.approx((250_000 * 2.50 + 1000 * 15.00) / 1e6)


def test_audio_and_tool_prompt_tokens_have_their_rates(call: Any) -> None:
    """Audio within the prompt at the audio rate, tool-use prompt tokens at the input rate."""
    event = call(
        "gemini-2.5-flash",
        {
            "promptTokenCount": 300,
            "promptTokensDetails": [
                {"modality": "AUDIO", "tokenCount": 200},
                {"modality": "TEXT", "tokenCount": 100},
            ],
            "toolUsePromptTokenCount": 40,
            "candidatesTokenCount": 10,
        },
    )
    assert event.cost_usd == pytest.approx((140 * 0.30 + 200 * 1.00 + 10 * 2.50) / 1e6)
    assert event.billed == {"input": 100, "audio_input": 200, "tool_prompt": 40, "output": 10}


def test_versioned_model_ids_take_their_family_price(call: Any) -> None:
    """gemini-2.5-flash-001 is priced as gemini-2.5-flash; -lite has its own entry."""
    flash = call("gemini-2.5-flash-001", {"promptTokenCount": 1_000_000})
    lite = call("gemini-2.5-flash-lite", {"promptTokenCount": 1_000_000})
    assert flash.cost_usd == pytest.approx(0.30)
    assert lite.cost_usd == pytest.approx(0.10)


def test_model_without_a_price_has_no_cost(emulator: Any) -> None:
    """A model the catalog does not know gets cost_usd null, never a guess."""
    catalog = load_catalog()
    assert catalog.cost("gemini-9-ultra", Usage(prompt_tokens=10)) is None
    assert catalog.price("models/gemini-2.5-flash") is catalog.price("gemini-2.5-flash")


def test_platform_price_file_replaces_the_defaults(emulator: Any, tmp_path: Path) -> None:
    """price_file: the platform's negotiated prices apply to the audit event's cost."""
    prices = tmp_path / "prices.toml"
    prices.write_text('[models."gemini-2.5-flash"]\ninput = 1.0\noutput = 2.0\n')
    audit = AuditCapture()
    client = golden_path.create_client(
        backend="ai_studio",
        api_key="k",
        base_url=emulator.url,
        audit_sinks=[audit],
        price_file=prices,
    )
    emulator.script_response(_answer({"promptTokenCount": 500_000, "candidatesTokenCount": 0}))
    client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert audit.events[-1].cost_usd == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ('[models."m"]\ninptu = 1.0\n', "models.m.inptu", "did you mean input?"),
        ('[models."m"]\ninput = -1\n', "models.m.input", "at least 0"),
        ('[models."m"]\ninput = "cheap"\n', "models.m.input", "must be a number"),
        ('[models."m"]\noutput = 1.0\n', "models.m", "sets no price"),
        ("curency = 'USD'\n", "curency", "did you mean currency?"),
        ("[models\n", "price_file", "cannot be read"),
    ],
)
def test_bad_price_files_name_the_field_and_the_fix(
    tmp_path: Path, text: str, field: str, words: str
) -> None:
    """A broken catalog is a ConfigError naming the key, the file and the fix."""
    path = tmp_path / "prices.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_catalog(path)
    problem = next(p for p in caught.value.problems if p.field == field)
    assert words in f"{problem.message} {problem.fix}"
    assert problem.source in (str(path), "GOLDEN_PATH_PRICE_FILE")
