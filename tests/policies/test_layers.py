"""Policy layers: the platform's set is the floor; an app's policy files may only tighten it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import golden_path
from golden_path import ConfigError, PolicyViolation
from golden_path._settings import Settings
from golden_path.cli import main
from golden_path.policies._loader import load_policy_set

Write = Callable[..., Path]

PLATFORM = """\
[models]
allow = ["gemini-2.5-*", "gemini-embedding-001"]
deny = ["gemini-2.5-pro-preview-*"]
[generation]
max_output_tokens = 8192
[tools]
mode = "report"
deny = ["google_search"]
[pii]
action = "redact"
detect = ["secret"]
[vertex]
locations = ["europe-west4", "europe-west1"]
[safety]
minimum = "BLOCK_ONLY_HIGH"
[labels]
team = "{team}"
"""


def _load(platform: Path, app: Path) -> Any:
    return load_policy_set([platform], app_paths=[app], settings=Settings(team="ml", app="shop"))


def _policy(policy_set: Any, name: str) -> Any:
    return next(p for p in policy_set.policies if getattr(p, "name", "") == name)


def test_an_app_file_tightens_every_kind_of_rule(policy_file: Write) -> None:
    """Allowlists narrow, caps and limits take the minimum, deny lists and PII kinds add up,
    report mode becomes enforce, thresholds rise; the result says which layer each came from."""
    platform = policy_file(PLATFORM, "platform.toml")
    app = policy_file(
        """\
        [models]
        allow = ["gemini-2.5-flash"]
        deny = ["gemini-2.5-flash-image*"]
        [generation]
        max_output_tokens = 1024
        on_exceed = "deny"
        [tools]
        mode = "enforce"
        deny = ["code_execution"]
        [pii]
        action = "deny"
        detect = ["email"]
        [vertex]
        locations = ["europe-west4"]
        [safety]
        minimum = "BLOCK_LOW_AND_ABOVE"
        [labels]
        app = "{app}"
        [limits]
        max_request_bytes = 100000
        """,
        "app.toml",
    )
    policy_set = _load(platform, app)
    models = _policy(policy_set, "models")
    assert models.allow == ["gemini-2.5-flash"]
    assert models.deny == ["gemini-2.5-pro-preview-*", "gemini-2.5-flash-image*"]
    generation = _policy(policy_set, "generation")
    assert (generation.max_output_tokens, generation.on_exceed) == (1024, "deny")
    tools = _policy(policy_set, "tools")
    assert (tools.mode, tools.deny) == ("enforce", ["google_search", "code_execution"])
    pii = _policy(policy_set, "pii")
    assert (pii.action, pii.detect) == ("deny", frozenset({"secret", "email"}))
    assert _policy(policy_set, "vertex").locations == ["europe-west4"]
    assert set(_policy(policy_set, "safety").thresholds.values()) == {"BLOCK_LOW_AND_ABOVE"}
    assert _policy(policy_set, "labels").labels == {"team": "{team}", "app": "{app}"}
    assert _policy(policy_set, "limits").max_request_bytes == 100000
    assert policy_set.layers["models"] == "platform+app"
    assert policy_set.layers["limits"] == "app"
    assert policy_set.layer_of("models") == "platform+app"


@pytest.mark.parametrize(
    ("app_text", "key", "words"),
    [
        ('[models]\nallow = ["gemini-2.0-flash"]\n', "models.allow", "outside the platform's"),
        ('[models]\nallow = ["gemini-*"]\n', "models.allow", "'gemini-*'"),
        ("[generation]\nmax_output_tokens = 65536\n", "generation.max_output_tokens", "above"),
        (
            '[tools]\nmode = "report"\ndeny = ["url_context"]\n[models]\nmode = "report"\n',
            "models.mode",
            "laxer",
        ),
        ('[pii]\naction = "report"\n', "pii.action", "laxer"),
        ('[vertex]\nlocations = ["us-central1"]\n', "vertex.locations", "'us-central1'"),
        ('[safety]\nminimum = "BLOCK_NONE"\n', "safety.minimum", "laxer"),
        ("[rate_limits]\nrequests_per_minute = 6000\n", "rate_limits.requests_per_minute", "above"),
        (
            '[rate_limits]\nrequests_per_minute = 10\nscope = "app"\n',
            "rate_limits.scope",
            "changes",
        ),
        ('[labels]\nteam = "someone-else"\n', "labels.team", "changes"),
        ('[models]\nagents = ["deep-research-*"]\n', "models.agents", "outside"),
        ("[generation]\nmax_output_tokenz = 1\n", "generation.max_output_tokenz", "unknown key"),
    ],
)
def test_an_app_file_that_would_loosen_names_both_places(
    policy_file: Write, app_text: str, key: str, words: str
) -> None:
    """Loosening is a ConfigError at the app's file:line that also names the platform's."""
    platform = policy_file(PLATFORM + "[rate_limits]\nrequests_per_minute = 600\n", "platform.toml")
    app = policy_file(app_text, "app.toml")
    with pytest.raises(ConfigError) as caught:
        _load(platform, app)
    problem = next(p for p in caught.value.problems if p.field == key)
    assert problem.source.startswith(f"{app}:")
    if "unknown" in words:  # the app's file is validated on its own first: did-you-mean
        assert "did you mean 'max_output_tokens'" in problem.fix
        return
    assert f"(platform: {platform}:" in problem.message
    assert words in problem.message
    assert "may only tighten" in problem.message
    assert problem.fix


@pytest.mark.parametrize(
    ("app_text", "key"),
    [
        ('[routes]\norigins = ["https://collector.example"]\n', "routes.origins"),
        ('[routes]\nunknown = "allow"\n', "routes.unknown"),
        ("[chain]\nfail_open = true\n", "chain.fail_open"),
        ("[routes]\nephemeral_token_max_s = 600\n", "routes.ephemeral_token_max_s"),
    ],
)
def test_defaults_the_platform_did_not_write_are_a_floor_too(
    policy_file: Write, app_text: str, key: str
) -> None:
    """The route gate and the chain apply without a section: an app cannot send credentials
    to a new origin, let unknown routes through or fail open just because the platform's files
    left the defaults unwritten."""
    platform = policy_file("[generation]\nmax_output_tokens = 100\n", "platform.toml")
    app = policy_file(app_text, "app.toml")
    with pytest.raises(ConfigError) as caught:
        _load(platform, app)
    (problem,) = caught.value.problems
    assert problem.field == key
    assert "(platform: golden-path's default)" in problem.message
    assert "only the platform's files may set it" in problem.fix


def test_rate_limits_take_the_minimum(policy_file: Write) -> None:
    """An app's lower rate limit and budget apply; the platform's others stay."""
    platform = policy_file(
        "[rate_limits]\nrequests_per_minute = 600\ntokens_per_minute = 100000\n"
        "[budgets]\ntokens_per_day = 1000000\n",
        "platform.toml",
    )
    app = policy_file("[rate_limits]\nrequests_per_minute = 60\n", "app.toml")
    quota = next(p for p in _load(platform, app).policies if hasattr(p, "config"))
    limits = {spec.name: spec.limit for spec in quota.config.limits}
    assert limits == {
        "rate_limits.requests_per_minute": 60,
        "rate_limits.tokens_per_minute": 100000,
        "budgets.tokens_per_day": 1000000,
    }


def test_money_budgets_take_the_minimum_and_cannot_be_raised(policy_file: Write) -> None:
    """An app may lower the platform's dollar budget, never raise it."""
    platform = policy_file("[budgets]\nusd_per_day = 50.0\n", "platform.toml")
    lower = policy_file("[budgets]\nusd_per_day = 5.0\n", "app.toml")
    quota = next(p for p in _load(platform, lower).policies if hasattr(p, "config"))
    assert {s.name: s.limit for s in quota.config.limits} == {"budgets.usd_per_day": 5_000_000}
    higher = policy_file("[budgets]\nusd_per_day = 500.0\n", "app2.toml")
    with pytest.raises(ConfigError) as caught:
        _load(platform, higher)
    assert caught.value.problems[0].field == "budgets.usd_per_day"


def test_app_custom_policies_run_after_the_platforms(
    policy_file: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """[[custom]] entries accumulate: the app's come after the platform's."""
    (tmp_path / "gp_layer_plugin.py").write_text(
        "class Noop:\n    def on_request(self, request):\n        pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    platform = policy_file(
        '[[custom]]\npath = "gp_layer_plugin:Noop"\nname = "platform-rec"\n', "platform.toml"
    )
    app = policy_file('[[custom]]\npath = "gp_layer_plugin:Noop"\nname = "app-rec"\n', "app.toml")
    names = [p.name for p in _load(platform, app).policies]
    assert names.index("platform-rec") < names.index("app-rec")


def test_a_governed_client_obeys_both_layers(
    policy_file: Write, emulator: Any, audit: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """policy_file + app_policy_file: the app's narrower allowlist refuses what the platform
    allows, over the real SDK and HTTP; an allowed model goes through."""
    platform = policy_file(PLATFORM, "platform.toml")
    app = policy_file('[models]\nallow = ["gemini-2.5-flash"]\n', "app.toml")
    monkeypatch.setenv("GOLDEN_PATH_APP_POLICY_FILE", str(app))
    client = golden_path.create_client(
        backend="ai_studio",
        api_key="k",
        base_url=emulator.url,
        retry_attempts=1,
        policy_file=str(platform),
        audit_sinks=[audit],
    )
    client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    with pytest.raises(PolicyViolation) as caught:
        client.models.generate_content(model="gemini-2.5-pro", contents="hi")
    assert caught.value.policy == "models"
    assert [e.outcome for e in audit.events] == ["ok", "denied"]


def test_explain_shows_the_layer_of_each_decision(
    policy_file: Write, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`policy explain` tags each decision with platform, app or platform+app."""
    platform = policy_file(PLATFORM, "platform.toml")
    app = policy_file(
        '[models]\nallow = ["gemini-2.5-flash"]\n[limits]\nmax_request_bytes = 99\n', "app.toml"
    )
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"contents": [{"parts": [{"text": "hello"}]}]}))
    argv = ["policy", "explain", str(request), "--policy-file", str(platform)]
    assert main([*argv, "--app-policy-file", str(app), "--model", "gemini-2.5-flash"]) == 0
    out = capsys.readouterr().out
    assert "  generation [platform]: clamp" in out
    assert main([*argv, "--app-policy-file", str(app), "--model", "gemini-2.5-pro"]) == 1
    out = capsys.readouterr().out
    assert "denied by models [platform+app]:" in out


def test_policy_check_layers_and_reports_loosening(
    policy_file: Write, capsys: pytest.CaptureFixture[str]
) -> None:
    """`policy check PLATFORM --app-policy-file APP` exits 2 naming both files on loosening."""
    platform = policy_file(PLATFORM, "platform.toml")
    app = policy_file("[generation]\nmax_output_tokens = 100000\n", "app.toml")
    assert main(["policy", "check", str(platform), "--app-policy-file", str(app)]) == 2
    err = capsys.readouterr().err
    assert f"{app}:2: generation.max_output_tokens:" in err
    assert f"(platform: {platform}:5)" in err


_TABLES_PLATFORM = """\
[models]
allow = ["gemini-2.5-*"]
[models.aliases]
fast = "gemini-2.5-flash"
[safety]
minimum = "BLOCK_ONLY_HIGH"
[safety.thresholds]
HARM_CATEGORY_HARASSMENT = "BLOCK_MEDIUM_AND_ABOVE"
"""


@pytest.mark.parametrize(
    ("app_text", "key", "words"),
    [
        (
            '[safety.thresholds]\nHARM_CATEGORY_HARASSMENT = "BLOCK_ONLY_HIGH"\n',
            "safety.thresholds",
            "HARM_CATEGORY_HARASSMENT: sets 'BLOCK_ONLY_HIGH', laxer than the platform's "
            "'BLOCK_MEDIUM_AND_ABOVE'",
        ),
        (
            '[models.aliases]\nfast = "gemini-2.5-pro"\n',
            "models.aliases",
            "changes the platform's fast",
        ),
    ],
)
def test_an_app_cannot_loosen_a_table_of_the_platform(
    policy_file: Write, app_text: str, key: str, words: str
) -> None:
    """Per-category safety thresholds only rise, and the platform's model aliases cannot be
    pointed elsewhere: either is a ConfigError naming the key and what the platform set."""
    platform = policy_file(_TABLES_PLATFORM, "platform.toml")
    with pytest.raises(ConfigError) as caught:
        _load(platform, policy_file(app_text, "app.toml"))
    problem = next(p for p in caught.value.problems if p.field == key)
    assert words in problem.message
    assert "may only tighten" in problem.message


def test_an_app_adds_aliases_and_raises_thresholds(policy_file: Write) -> None:
    """An app may add its own alias and a stricter threshold; the platform's stay in force."""
    platform = policy_file(_TABLES_PLATFORM, "platform.toml")
    app = policy_file(
        '[models.aliases]\nsmart = "gemini-2.5-pro"\n'
        '[safety.thresholds]\nHARM_CATEGORY_HARASSMENT = "BLOCK_LOW_AND_ABOVE"\n'
        'HARM_CATEGORY_HATE_SPEECH = "BLOCK_ONLY_HIGH"\n',
        "app.toml",
    )
    policy_set = _load(platform, app)
    assert _policy(policy_set, "models").aliases == {
        "fast": "gemini-2.5-flash",
        "smart": "gemini-2.5-pro",
    }
    thresholds = _policy(policy_set, "safety").thresholds
    assert thresholds["HARM_CATEGORY_HARASSMENT"] == "BLOCK_LOW_AND_ABOVE"
    assert thresholds["HARM_CATEGORY_HATE_SPEECH"] == "BLOCK_ONLY_HIGH"
