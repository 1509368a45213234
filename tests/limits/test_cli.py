"""``golden-path budget status``: the configured limits and the usage against them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from golden_path.cli import main

POLICY = """\
[rate_limits]
requests_per_minute = 600
tokens_per_minute = 1_000_000
scope = "team"
max_wait_s = 5

[budgets]
tokens_per_day = 5_000_000
tokens_per_month = 100_000_000
scope = "team"
"""


@pytest.fixture(name="policy_file")
def _policy_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(POLICY)
    monkeypatch.setenv("GOLDEN_PATH_POLICY_FILE", str(path))
    return path


def test_status_on_memory_shows_every_limit_unused(
    policy_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fresh process with memory:// lists the four limits, each with usage 0."""
    monkeypatch.setenv("GOLDEN_PATH_TEAM", "ml")
    assert main(["budget", "status"]) == 0
    out = capsys.readouterr().out
    assert "memory://" in out
    for name, allowed in [
        ("rate_limits.requests_per_minute", "600"),
        ("rate_limits.tokens_per_minute", "1,000,000"),
        ("budgets.tokens_per_day", "5,000,000"),
        ("budgets.tokens_per_month", "100,000,000"),
    ]:
        (line,) = [line for line in out.splitlines() if line.startswith(name)]
        assert line.split()[1:4] == ["team=ml", "0", allowed]


@pytest.mark.redis
def test_status_on_redis_shows_real_usage(
    policy_file: Path,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    limits: Callable[..., list[Any]],
    make_client: Any,
) -> None:
    """After calls by an app, status for that team reports their real token usage."""
    import tomllib

    sections = tomllib.loads(POLICY)
    policies = limits(state_url=redis_url, team="search", **sections)
    client = make_client(team="search", policies=policies)
    total = sum(
        client.models.generate_content(
            model="gemini-2.5-flash", contents=text
        ).usage_metadata.total_token_count
        for text in ("one", "two words", "three words here")
    )
    # The app's last reconciliation reaches Redis within 50 ms (or at its next call); send it
    # now, as the app's shutdown would.
    policies[0].store.flush()
    monkeypatch.setenv("GOLDEN_PATH_STATE_URL", f"{redis_url}?timeout_ms=2000")
    assert main(["budget", "status", "--scope", "team=search", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    used = {row["limit"]: row["used"] for row in report["limits"]}
    assert used["budgets.tokens_per_day"] == total
    assert used["budgets.tokens_per_month"] == total
    assert used["rate_limits.requests_per_minute"] == 3
    assert {row["scope"] for row in report["limits"]} == {"team=search"}


def test_status_without_a_team_says_how_to_give_one(
    policy_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Per-team limits and no team: exit 2 with the --scope fix, no traceback."""
    assert main(["budget", "status"]) == 2
    err = capsys.readouterr().err
    assert "--scope team=NAME" in err
    assert "Traceback" not in err


def test_status_rejects_a_malformed_scope(
    policy_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--scope ml`` is not KEY=VALUE: exit 2 naming --scope."""
    assert main(["budget", "status", "--scope", "ml"]) == 2
    assert "--scope" in capsys.readouterr().err


def test_status_names_a_bad_limit_and_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong limit in the policy file is reported with its file and line."""
    path = tmp_path / "policy.toml"
    path.write_text('[budgets]\nscope = "team"\ntokens_per_day = -3\n')
    monkeypatch.setenv("GOLDEN_PATH_POLICY_FILE", str(path))
    assert main(["budget", "status", "--scope", "team=ml"]) == 2
    assert f"budgets.tokens_per_day (from {path}:3)" in capsys.readouterr().err


@pytest.mark.redis
def test_status_when_redis_is_down(
    policy_file: Path,
    own_redis: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An unreachable store is a one-line error, exit 2."""
    monkeypatch.setenv("GOLDEN_PATH_STATE_URL", own_redis.url)
    own_redis.stop()
    assert main(["budget", "status", "--scope", "team=ml"]) == 2
    err = capsys.readouterr().err
    assert "state store unreachable" in err
    assert "Traceback" not in err


def test_status_without_limits_to_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No policy file, or one without [rate_limits]/[budgets]: exit 2 saying what to set."""
    monkeypatch.delenv("GOLDEN_PATH_POLICY_FILE", raising=False)
    assert main(["budget", "status", "--scope", "team=ml"]) == 2
    err = capsys.readouterr().err
    assert "no policy file is configured" in err
    assert "GOLDEN_PATH_POLICY_FILE" in err
    path = tmp_path / "policy.toml"
    path.write_text('[models]\nallow = ["gemini-2.5-*"]\n')
    monkeypatch.setenv("GOLDEN_PATH_POLICY_FILE", str(path))
    assert main(["budget", "status", "--scope", "team=ml"]) == 2
    err = capsys.readouterr().err
    assert "has no [rate_limits] or [budgets] table" in err
    assert str(path) in err
    assert "Traceback" not in err


def test_budget_without_a_subcommand_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    """`golden-path budget` alone lists its commands and exits 2."""
    assert main(["budget"]) == 2
    assert "status" in capsys.readouterr().out
