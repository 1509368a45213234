"""How an app team tests against golden-path: only the plugin's fixtures, no keys, no network."""

import pytest
from google import genai
from google.genai import errors
from my_app import summarise

from golden_path.emulator import Emulator
from golden_path.testing import AuditCapture


def test_summary_comes_from_the_model(
    golden_path_client: genai.Client, gemini_emulator: Emulator, golden_path_audit: AuditCapture
) -> None:
    """The app returns what the model answered, and the call is audited."""
    gemini_emulator.script_response(
        {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": "short summary"}]},
                    "finishReason": "STOP",
                }
            ]
        }
    )
    assert summarise("a very long text") == "short summary"
    assert golden_path_audit.outcomes() == ["ok"]
    sent = gemini_emulator.api_requests()[0]
    assert "a very long text" in sent.body["contents"][0]["parts"][0]["text"]


def test_default_answers_echo_the_prompt(golden_path_client: genai.Client) -> None:
    """Without a script the emulator answers deterministically from the prompt."""
    assert "hello world" in summarise("hello world")


def test_rate_limited_calls_surface_as_sdk_errors(
    golden_path_client: genai.Client, gemini_emulator: Emulator
) -> None:
    """A 429 from the API reaches app code as the SDK's own ClientError."""
    gemini_emulator.fail_next(status=429, times=10)
    with pytest.raises(errors.ClientError) as caught:
        summarise("anything")
    assert caught.value.code == 429
