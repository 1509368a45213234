"""One policy-file reader and one settings resolution for every consumer.

Each test here pins a wrong answer that copies of the reader once gave: ``budget status``
replacing split ``[rate_limits]`` tables, ``policy explain``/``check`` ignoring environment
variables, file policies losing their async hook, and a snake_case body's token estimate.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from golden_path.cli import main
from golden_path.policies import GenAIRequest, Identity
from golden_path.policies._files import read_policy_files
from golden_path.policies._limits import estimate_tokens


def test_budget_status_merges_rate_limits_split_across_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``budget status`` shows the limits of every file of a directory, merged key by key."""
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "10-requests.toml").write_text(
        '[rate_limits]\nrequests_per_minute = 600\nscope = "team"\n'
    )
    (tmp_path / "policies" / "20-tokens.toml").write_text(
        "[rate_limits]\ntokens_per_minute = 1_000_000\n"
    )
    monkeypatch.setenv("GOLDEN_PATH_POLICY_FILE", str(tmp_path / "policies"))
    monkeypatch.setenv("GOLDEN_PATH_TEAM", "ml")
    assert main(["budget", "status", "--json"]) == 0
    limits = json.loads(capsys.readouterr().out)["limits"]
    assert [(row["limit"], row["allowed"]) for row in limits] == [
        ("rate_limits.requests_per_minute", 600),
        ("rate_limits.tokens_per_minute", 1_000_000),
    ]


def test_budget_status_names_the_file_and_line_of_a_bad_key_in_a_later_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A problem in the second file of a directory is reported at that file's line."""
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "10-a.toml").write_text("[rate_limits]\nrequests_per_minute = 6\n")
    second = tmp_path / "policies" / "20-b.toml"
    second.write_text('[rate_limits]\n\ntokens_per_minut = "1M"\n')
    monkeypatch.setenv("GOLDEN_PATH_POLICY_FILE", str(tmp_path / "policies"))
    assert main(["budget", "status"]) != 0
    err = capsys.readouterr().err
    assert f"{second}:3" in err
    assert "did you mean 'tokens_per_minute'?" in err


def test_the_reader_merges_tables_and_accumulates_custom_entries(tmp_path: Path) -> None:
    """Tables merge key by key (later file wins); ``[[custom]]`` entries accumulate."""
    (tmp_path / "a.toml").write_text(
        '[models]\nallow = ["a"]\ndeny = ["x"]\n[[custom]]\npath = "m:A"\n'
    )
    (tmp_path / "b.toml").write_text('[models]\nallow = ["b"]\n[[custom]]\npath = "m:B"\n')
    tables = read_policy_files([tmp_path])
    assert tables.data["models"] == {"allow": ["b"], "deny": ["x"]}
    assert [entry["path"] for entry in tables.data["custom"]] == ["m:A", "m:B"]
    assert tables.locate("models.allow") == f"{tmp_path / 'b.toml'}:2"
    assert tables.locate("models.deny") == f"{tmp_path / 'a.toml'}:3"
    assert tables.locate("custom[1].path") == f"{tmp_path / 'b.toml'}:4"


def test_explain_reads_the_policy_file_from_the_environment_without_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With only GOLDEN_PATH_POLICY_FILE set (no backend, no key), explain runs that chain."""
    policy = tmp_path / "policy.toml"
    policy.write_text('[models]\nallow = ["gemini-2.5-flash"]\n')
    monkeypatch.setenv("GOLDEN_PATH_POLICY_FILE", str(policy))
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"contents": [{"parts": [{"text": "hi"}]}]}))
    code = main(["policy", "explain", str(request), "--model", "gemini-2.5-pro"])
    out = capsys.readouterr().out
    assert "chain: canonical-json, models" in out
    assert "denied by models" in out
    assert code == 1


def test_policy_check_resolves_the_team_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A team-scoped limit is valid when GOLDEN_PATH_TEAM is set, as it is for the client."""
    policy = tmp_path / "policy.toml"
    policy.write_text('[rate_limits]\nrequests_per_minute = 60\nscope = "team"\n')
    monkeypatch.setenv("GOLDEN_PATH_TEAM", "ml")
    assert main(["policy", "check", str(policy)]) == 0
    assert "chain: limits" in capsys.readouterr().out
    monkeypatch.delenv("GOLDEN_PATH_TEAM")
    assert main(["policy", "check", str(policy)]) == 2
    assert "needs the caller's team" in capsys.readouterr().err


ASYNC_POLICY = '''
import asyncio


class Waiter:
    """A policy that waits for capacity: async clients must await aon_request."""

    name = "waiter"
    seen: list = []

    def on_request(self, request):
        Waiter.seen.append("on_request")

    async def aon_request(self, request):
        await asyncio.sleep(0)
        Waiter.seen.append("aon_request")
'''


@pytest.fixture(name="waiter")
def _waiter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    (tmp_path / "gp_async_policy.py").write_text(textwrap.dedent(ASYNC_POLICY))
    monkeypatch.syspath_prepend(str(tmp_path))
    import gp_async_policy  # type: ignore[import-not-found]

    yield gp_async_policy.Waiter
    gp_async_policy.Waiter.seen.clear()


def test_a_file_policy_keeps_its_async_hook(
    waiter: Any, tmp_path: Path, make_client: Callable[..., Any]
) -> None:
    """A [[custom]] policy's aon_request is awaited by async clients, as it is in code."""
    policy = tmp_path / "policy.toml"
    policy.write_text('[[custom]]\npath = "gp_async_policy:Waiter"\n')
    client = make_client(policy_file=str(policy))
    asyncio.run(client.aio.models.generate_content(model="gemini-2.5-flash", contents="hi"))
    client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert waiter.seen == ["aon_request", "on_request"]


def _request(body: dict[str, Any]) -> GenAIRequest:
    return GenAIRequest(
        request_id="r1",
        identity=Identity(
            app=None,
            team="ml",
            client_id="acme-gp/1.0",
            backend="ai_studio",
            project=None,
            location=None,
        ),
        method="POST",
        url=httpx2.URL("http://127.0.0.1/v1/models/gemini-2.5-flash:generateContent"),
        headers=httpx2.Headers(),
        raw=json.dumps(body).encode(),
        surface="genai",
        api_method="generateContent",
        model="gemini-2.5-flash",
        stream=False,
    )


@pytest.mark.parametrize(
    "config",
    [
        {"generationConfig": {"maxOutputTokens": 10}},
        {"generation_config": {"max_output_tokens": 10}},
        {"generation_config": {"maxOutputTokens": 5, "candidate_count": 2}},
    ],
)
def test_token_estimate_reads_both_spellings_of_generation_config(
    config: dict[str, Any],
) -> None:
    """ "hi" (1 token) plus the output cap of 10: 11, whichever spelling the body uses."""
    body = {"contents": [{"parts": [{"text": "hi"}]}], **config}
    assert estimate_tokens(_request(body)) == 11
