"""`golden-path policy check` and `golden-path policy explain`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from golden_path.cli import main
from tests.policies.conftest import FULL_POLICY

Write = Callable[..., Path]


def test_check_valid(policy_file: Write, capsys: pytest.CaptureFixture[str]) -> None:
    """A valid file exits 0 and lists the chain."""
    assert main(["policy", "check", str(policy_file(FULL_POLICY))]) == 0
    assert "chain: canonical-json, limits, models" in capsys.readouterr().out


def test_check_invalid(policy_file: Write, capsys: pytest.CaptureFixture[str]) -> None:
    """Problems exit 2, one line each: file:line: key: message (fix)."""
    path = policy_file('[models]\nalow = ["x"]\n[pii]\naction = "scrub"\n')
    assert main(["policy", "check", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        f"{path}:2: models.alow: unknown key in [models] (did you mean 'allow'?)",
        f"{path}:4: pii.action: must be one of 'redact', 'deny', 'report', got 'scrub' "
        '(write action = "redact")',
    ]


def test_explain_allowed_with_body(
    policy_file: Write, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """explain prints each decision and, with --show-body, the body as it would be sent."""
    request = tmp_path / "request.json"
    request.write_text(
        json.dumps(
            {
                "contents": [{"role": "user", "parts": [{"text": "I am jane@example.com"}]}],
                "generationConfig": {"maxOutputTokens": 99999},
            }
        )
    )
    code = main(
        [
            "policy",
            "explain",
            str(request),
            "--model",
            "fast",
            "--policy-file",
            str(policy_file(FULL_POLICY)),
            "--show-body",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "models: alias: fast -> gemini-2.5-flash" in out
    assert "generation: clamp: maxOutputTokens 99999 -> 8192" in out
    sent = json.loads(out.splitlines()[-2])
    assert sent["contents"][0]["parts"][0]["text"] == "I am [REDACTED:email]"


def test_explain_denied(
    policy_file: Write, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A denied request exits 1 and names the policy; nothing is sent anywhere."""
    request = tmp_path / "request.json"
    request.write_text('{"contents": [{"parts": [{"text": "hi"}]}]}')
    code = main(
        [
            "policy",
            "explain",
            str(request),
            "--model",
            "gemini-1.5-pro",
            "--policy-file",
            str(policy_file(FULL_POLICY)),
        ]
    )
    assert code == 1
    assert "denied by models" in capsys.readouterr().out


def test_explain_vertex_location(
    policy_file: Write, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--backend vertex --location applies the residency rule offline."""
    request = tmp_path / "request.json"
    request.write_text('{"contents": [{"parts": [{"text": "hi"}]}]}')
    code = main(
        [
            "policy",
            "explain",
            str(request),
            "--backend",
            "vertex",
            "--location",
            "us-central1",
            "--policy-file",
            str(policy_file(FULL_POLICY)),
        ]
    )
    assert code == 1
    assert "us-central1" in capsys.readouterr().out


def test_explain_not_json(
    policy_file: Write, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A request file that is not JSON is a clear error (exit 2), not a traceback."""
    request = tmp_path / "request.json"
    request.write_text("{nope")
    assert (
        main(["policy", "explain", str(request), "--policy-file", str(policy_file(FULL_POLICY))])
        == 2
    )
    assert "is not JSON" in capsys.readouterr().err
