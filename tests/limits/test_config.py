"""Bad limits and state URLs: one ConfigError naming every key, where it came from, the fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from golden_path.exceptions import ConfigError
from golden_path.policies._limits import LimitsPolicy, parse_limits

from .conftest import locate


def test_every_bad_limit_is_named_at_once(limits: Callable[..., list[Any]]) -> None:
    """Negative, zero, wrong-unit, fractional, mistyped and unknown values are all reported in
    one error, each with the key, its location and a fix."""
    with pytest.raises(ConfigError) as caught:
        limits(
            rate_limits={
                "requests_per_minute": -5,
                "tokens_per_minute": "1M",
                "max_wait_s": "5s",
                "scope": "org",
                "on_store_error": "ignore",
                "tokens_per_hour": 10,
            },
            budgets={"tokens_per_day": 0, "tokens_per_month": 1.5, "requests_per_minute": 3},
        )
    problems = {p.field: p for p in caught.value.problems}
    assert set(problems) == {
        "rate_limits.requests_per_minute",
        "rate_limits.tokens_per_minute",
        "rate_limits.max_wait_s",
        "rate_limits.scope",
        "rate_limits.on_store_error",
        "rate_limits.tokens_per_hour",
        "budgets.tokens_per_day",
        "budgets.tokens_per_month",
        "budgets.requests_per_minute",
    }
    assert "greater than 0" in problems["rate_limits.requests_per_minute"].message
    assert "wrong unit" in problems["rate_limits.tokens_per_minute"].message
    assert "wrong unit" in problems["rate_limits.max_wait_s"].message
    assert "team+model" in problems["rate_limits.scope"].fix
    assert "whole number" in problems["budgets.tokens_per_month"].message
    assert "belongs in [rate_limits]" in problems["budgets.requests_per_minute"].fix
    assert "unknown key" in problems["rate_limits.tokens_per_hour"].message
    assert problems["budgets.tokens_per_day"].source == "policy.toml:budgets.tokens_per_day"
    assert "budgets.tokens_per_day" in str(caught.value)


def test_a_section_without_a_limit_is_an_error(limits: Callable[..., list[Any]]) -> None:
    """A [budgets] table that limits nothing is a mistake, not a silent no-op."""
    with pytest.raises(ConfigError) as caught:
        limits(budgets={"scope": "team"})
    assert caught.value.fields == ("budgets",)


def test_a_section_that_is_not_a_table_is_an_error(limits: Callable[..., list[Any]]) -> None:
    """``rate_limits = 600`` is reported with the fix, not crashed on."""
    with pytest.raises(ConfigError) as caught:
        limits(rate_limits=600)
    assert caught.value.fields == ("rate_limits",)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("redis://127.0.0.1:notaport/0", "port"),
        ("redis://127.0.0.1:6379/zero", "database"),
        ("redis:///0", "no host"),
        ("postgres://db/0", "unsupported"),
        ("redis://127.0.0.1:6379/0?pool=3", "unknown option"),
        ("redis://127.0.0.1:6379/0?timeout_ms=0", "timeout_ms"),
        ("memory://x/y", "memory://"),
        ("127.0.0.1:6379", "unsupported"),
        ("redis://[::1/0", "not a URL"),
        ("redis://a:6379,b:6379/0", "several hosts need redis+sentinel:// or redis+cluster://"),
        ("redis+sentinel://a:26379,b:26379", "needs the service name"),
        ("redis+cluster://a:7000,b:7000/3", "Redis Cluster has only database 0"),
        ("redis://a:6379/0?ca_file=/etc/ca.pem", "ca_file needs TLS: use rediss://"),
        ("redis://a:6379/0?prefix={gp}", "prefix must be a non-empty word without braces"),
    ],
)
def test_a_malformed_state_url_names_state_url(
    limits: Callable[..., list[Any]], url: str, words: str
) -> None:
    """A state URL that cannot work is a ConfigError on state_url from GOLDEN_PATH_STATE_URL."""
    with pytest.raises(ConfigError) as caught:
        limits(state_url=url, rate_limits={"requests_per_minute": 10})
    (problem,) = caught.value.problems
    assert problem.field == "state_url"
    assert problem.source == "GOLDEN_PATH_STATE_URL"
    assert words in problem.message
    assert "redis://" in problem.fix


def test_a_state_url_password_is_never_shown(limits: Callable[..., list[Any]]) -> None:
    """The password of a Redis URL appears in no error message."""
    with pytest.raises(ConfigError) as caught:
        limits(
            state_url="redis://user:hunter2@127.0.0.1:6379/0?bogus=1",
            rate_limits={"requests_per_minute": 10},
        )
    assert "hunter2" not in str(caught.value)


def test_limits_and_url_problems_come_together(limits: Callable[..., list[Any]]) -> None:
    """A bad limit and a bad URL are both in the one error."""
    with pytest.raises(ConfigError) as caught:
        limits(state_url="nope://", budgets={"tokens_per_day": -1})
    assert set(caught.value.fields) == {"budgets.tokens_per_day", "state_url"}


def test_a_team_scope_needs_a_team(limits: Callable[..., list[Any]]) -> None:
    """Limits per team without GOLDEN_PATH_TEAM would put everyone in one bucket: refused."""
    with pytest.raises(ConfigError) as caught:
        limits(team=None, rate_limits={"requests_per_minute": 10})
    (problem,) = caught.value.problems
    assert problem.field == "rate_limits.scope"
    assert "GOLDEN_PATH_TEAM" in problem.fix


def test_conflicting_store_error_settings_are_refused() -> None:
    """One reservation covers both sections, so they must agree on on_store_error."""
    with pytest.raises(ConfigError) as caught:
        parse_limits(
            {
                "rate_limits": {"requests_per_minute": 1, "on_store_error": "allow"},
                "budgets": {"tokens_per_day": 1, "on_store_error": "deny"},
            },
            locate=locate,
        )
    assert caught.value.fields == ("budgets.on_store_error",)


def test_a_valid_file_builds_one_limits_policy(limits: Callable[..., list[Any]]) -> None:
    """The issue's example file gives one policy holding the four limits with their scopes."""
    (policy,) = limits(
        rate_limits={
            "requests_per_minute": 600,
            "tokens_per_minute": 1_000_000,
            "scope": "team+model",
            "max_wait_s": 5,
            "on_store_error": "allow",
        },
        budgets={"tokens_per_day": 5_000_000, "tokens_per_month": 100_000_000, "scope": "team"},
    )
    assert isinstance(policy, LimitsPolicy)
    assert policy.name == "limits"
    assert [(s.name, s.limit, s.scope) for s in policy.config.limits] == [
        ("rate_limits.requests_per_minute", 600, "team+model"),
        ("rate_limits.tokens_per_minute", 1_000_000, "team+model"),
        ("budgets.tokens_per_day", 5_000_000, "team"),
        ("budgets.tokens_per_month", 100_000_000, "team"),
    ]
    assert policy.config.max_wait_s == 5
    assert policy.config.on_store_error == "allow"
