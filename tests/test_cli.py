"""The golden-path command as a user runs it: exit codes, no tracebacks, no secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from golden_path.emulator import Emulator

SECRET = "AIzaSyTEST-SECRET-KEY-0000000000000000"


def run(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GOLDEN_PATH_")}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "golden_path", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
        check=False,
    )


def _no_leak(result: subprocess.CompletedProcess[str], *secrets: str) -> None:
    for text in (result.stdout, result.stderr):
        assert "Traceback" not in text
        for secret in secrets:
            assert secret not in text


@pytest.fixture(name="studio")
def _studio(emulator: Emulator) -> dict[str, str]:
    return {
        "GOLDEN_PATH_BACKEND": "ai_studio",
        "GOLDEN_PATH_API_KEY": SECRET,
        "GOLDEN_PATH_BASE_URL": emulator.url,
        "GOLDEN_PATH_AUDIT_SINK": "none",
    }


def test_config_shows_sources_and_masks_secrets(studio: dict[str, str]) -> None:
    """`config` lists each setting with the source that won; the key is masked."""
    result = run("config", env=studio)
    assert result.returncode == 0
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert lines["backend"].endswith("env GOLDEN_PATH_BACKEND")
    assert "********" in lines["api_key"]
    assert lines["location"].endswith("default")
    _no_leak(result, SECRET)
    as_json = json.loads(run("config", "--json", env=studio).stdout)
    assert {r["setting"] for r in as_json["settings"]} >= {"backend", "api_key", "client_id"}


def test_config_errors_exit_2_without_traceback() -> None:
    """Invalid configuration: every problem on stderr, exit 2, no traceback, no secret."""
    result = run(
        "config",
        env={
            "GOLDEN_PATH_BACKEND": "bogus",
            "GOLDEN_PATH_TIMEOUT_S": "-1",
            "GOLDEN_PATH_API_KEY": SECRET,
        },
    )
    assert result.returncode == 2
    assert "GOLDEN_PATH_BACKEND" in result.stderr
    assert "timeout_s" in result.stderr
    _no_leak(result, SECRET)


def test_doctor_passes_against_a_reachable_endpoint(studio: dict[str, str]) -> None:
    """`doctor` prints one line per check and exits 0 when all pass."""
    result = run("doctor", env=studio)
    assert result.returncode == 0, result.stdout + result.stderr
    names = [line.split()[1].rstrip(":") for line in result.stdout.splitlines()]
    assert names[:2] == ["config", "sdk"]
    assert "endpoint" in names
    assert all(not line.startswith("FAIL") for line in result.stdout.splitlines())
    _no_leak(result, SECRET)


def test_doctor_fails_on_an_unreachable_endpoint(studio: dict[str, str]) -> None:
    """An unreachable endpoint is a FAIL line and exit 1; --offline skips that check."""
    env = studio | {"GOLDEN_PATH_BASE_URL": "http://127.0.0.1:9", "GOLDEN_PATH_RETRY_ATTEMPTS": "1"}
    result = run("doctor", env=env)
    assert result.returncode == 1
    assert any(line.startswith("FAIL  endpoint") for line in result.stdout.splitlines())
    offline = run("doctor", "--offline", env=env)
    assert offline.returncode == 0
    assert "skip  endpoint: --offline" in offline.stdout
    _no_leak(result, SECRET)


def test_doctor_checks_the_audit_sinks(studio: dict[str, str], tmp_path: Any) -> None:
    """doctor builds the audit sinks as a client would: an unwritable audit file is a FAIL line
    naming it; a writable one is ok, and audit_required is said."""
    bad = tmp_path / "missing" / "audit.jsonl"
    result = run("doctor", "--offline", env=studio | {"GOLDEN_PATH_AUDIT_SINK": f"file:{bad}"})
    assert result.returncode == 1
    line = next(x for x in result.stdout.splitlines() if x.startswith("FAIL  audit"))
    assert str(bad) in line
    good = tmp_path / "audit.jsonl"
    result = run(
        "doctor",
        "--offline",
        env=studio
        | {"GOLDEN_PATH_AUDIT_SINK": f"file:{good}", "GOLDEN_PATH_AUDIT_REQUIRED": "true"},
    )
    line = next(
        x for x in result.stdout.splitlines() if x.startswith(("ok    audit", "FAIL  audit"))
    )
    assert line.startswith("ok    audit"), result.stdout
    assert "no audit, no call" in line


def test_doctor_reports_invalid_config_and_skips_the_rest() -> None:
    """With no backend, doctor fails the config check and skips what depends on it."""
    result = run("doctor", "--offline")
    assert result.returncode == 1
    assert result.stdout.splitlines()[0].startswith("FAIL  config")
    assert "skip  credentials: configuration is invalid" in result.stdout


def test_doctor_gets_a_real_token_for_vertex(emulator: Emulator, tmp_path: Path) -> None:
    """Online, doctor exchanges the key file for an access token at the token endpoint."""
    key = tmp_path / "sa.json"
    info = emulator.create_service_account_key(key)
    env = {
        "GOLDEN_PATH_BACKEND": "vertex",
        "GOLDEN_PATH_PROJECT": "emu-project",
        "GOLDEN_PATH_CREDENTIALS_FILE": str(key),
        "GOLDEN_PATH_BASE_URL": emulator.url,
        "GOLDEN_PATH_AUDIT_SINK": "none",
    }
    result = run("doctor", env=env)
    assert result.returncode == 0, result.stdout
    assert "access token obtained" in result.stdout
    issued = [t.token for t in emulator.issued_tokens]
    _no_leak(result, *issued, info["private_key"].splitlines()[1])


def test_generate_streams_the_answer(studio: dict[str, str], emulator: Emulator) -> None:
    """`generate` streams text, reads '-' from stdin, and prints JSON lines with --json."""
    result = run("generate", "tell me a story", env=studio)
    assert result.returncode == 0
    assert "tell me a story" in result.stdout
    piped = run("generate", "-", env=studio, stdin="from stdin")
    assert "from stdin" in piped.stdout
    lines = run("generate", "json please", "--json", env=studio).stdout.splitlines()
    assert len(lines) >= 3
    assert all("candidates" in json.loads(line) for line in lines)
    assert emulator.api_requests()[0].path.endswith(":streamGenerateContent")
    _no_leak(result, SECRET)


def test_generate_api_errors_are_one_line(studio: dict[str, str], emulator: Emulator) -> None:
    """An API error is one line with its status and request id, exit 1, no traceback."""
    emulator.fail_next(status=429, times=5)
    result = run("generate", "hi", "--no-stream", env=studio | {"GOLDEN_PATH_RETRY_ATTEMPTS": "1"})
    assert result.returncode == 1
    assert "429 RESOURCE_EXHAUSTED" in result.stderr
    assert "[request " in result.stderr
    _no_leak(result, SECRET)


@pytest.mark.parametrize("args", [["generate"], ["config", "--nope"], ["no-such-command"]])
def test_bad_arguments_exit_2(args: list[str]) -> None:
    """argparse errors are usage messages with exit 2."""
    result = run(*args)
    assert result.returncode == 2
    assert "usage:" in result.stderr
    assert "Traceback" not in result.stderr


def test_version_and_help() -> None:
    """--version names the version; bare invocation shows help."""
    from golden_path._version import VERSION

    assert run("--version").stdout.strip() == f"golden-path {VERSION}"
    bare: Any = run()
    assert bare.returncode == 2
    assert "config" in bare.stdout


def test_demo_runs_with_no_configuration() -> None:
    """`demo` on a machine with nothing configured: every step, a denial, the audit trail."""
    result = run("demo")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for step in (
        "1. generate",
        "2. streaming",
        "3. token counting",
        "4. embeddings",
        "5. policy",
        "6. audit trail",
    ):
        assert step in out
    assert "denied  gemini-1.0-pro" in out
    audit_lines = [json.loads(line) for line in out.splitlines() if line.startswith("   {")]
    assert [e["outcome"] for e in audit_lines] == ["ok", "ok", "ok", "ok", "denied"]
    assert "embedded Gemini API emulator" in result.stderr
    _no_leak(result)


def test_doctor_checks_the_state_store_url(
    studio: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """doctor parses GOLDEN_PATH_STATE_URL: a malformed one is a FAIL line naming the problem
    and the password is masked; --offline does not contact a Redis it names."""
    from golden_path.cli import main

    for name, value in studio.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GOLDEN_PATH_STATE_URL", f"redis://u:{SECRET}@a:6379,b:6379/0")
    assert main(["doctor", "--offline"]) == 1
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("FAIL  state store"))
    assert "several hosts need redis+sentinel://" in line
    assert SECRET not in out
    monkeypatch.setenv("GOLDEN_PATH_STATE_URL", f"redis://u:{SECRET}@127.0.0.1:1/0")
    assert main(["doctor", "--offline"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("ok    state store"))
    assert "redis://u:****@127.0.0.1:1/0 (not contacted: --offline)" in line
    assert SECRET not in out
