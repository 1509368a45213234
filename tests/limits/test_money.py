"""Budgets in money (usd_per_day, usd_per_month) and exact charging of cut streams."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from golden_path.cli import main
from golden_path.exceptions import BudgetExceeded, ConfigError
from golden_path.policies._limits import LimitsPolicy, usage_rows

from .conftest import FIXED_NOW

MODEL = "gemini-2.5-flash"


def used(policy: LimitsPolicy, model: str = MODEL) -> dict[str, int]:
    rows = usage_rows(
        policy.config,
        policy.store,
        prefix=policy.prefix,
        team="ml",
        app=None,
        model=model,
        clock=lambda: FIXED_NOW,
    )
    return {row.limit: row.used for row in rows}


def answer(text: str, usage: dict[str, Any] | None) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}}]
    }
    if usage is not None:
        chunk["usageMetadata"] = usage
    return chunk


def test_money_budget_is_charged_the_real_cost(
    limits: Callable[..., list[Any]], make_client: Any, emulator: Any
) -> None:
    """usd_per_day holds what the call really cost (cached input at its rate, thinking as
    output), in micro-dollars, not the pre-call estimate."""
    policies = limits(budgets={"usd_per_day": 5.0}, clock=lambda: FIXED_NOW)
    client = make_client(team="ml", policies=policies)
    emulator.script_response(
        answer(
            "ok",
            {
                "promptTokenCount": 1000,
                "cachedContentTokenCount": 400,
                "candidatesTokenCount": 100,
                "thoughtsTokenCount": 50,
                "totalTokenCount": 1150,
            },
        )
    )
    client.models.generate_content(model=MODEL, contents="hi")
    assert used(policies[0]) == {"budgets.usd_per_day": 567}  # $0.000567


def test_exhausted_money_budget_denies_before_sending(
    limits: Callable[..., list[Any]], make_client: Any, emulator: Any
) -> None:
    """Once the day's dollars are spent the next call is refused, naming the budget."""
    policies = limits(budgets={"usd_per_day": 0.01}, clock=lambda: FIXED_NOW)
    client = make_client(team="ml", policies=policies)
    emulator.script_response(
        answer("ok", {"promptTokenCount": 30_000, "candidatesTokenCount": 1000})
    )  # 30k x $0.30 + 1k x $2.50 per million = $0.0115
    client.models.generate_content(model=MODEL, contents="hi")
    sent = len(emulator.api_requests())
    with pytest.raises(BudgetExceeded) as caught:
        client.models.generate_content(model=MODEL, contents="hi")
    assert caught.value.limit == "budgets.usd_per_day"
    assert len(emulator.api_requests()) == sent


def test_money_budget_refuses_a_model_it_cannot_price(
    limits: Callable[..., list[Any]], make_client: Any, emulator: Any
) -> None:
    """A model missing from the price catalog cannot be budgeted in money: denied, nothing
    sent, and the message says to add it to the price file."""
    policies = limits(budgets={"usd_per_day": 5.0}, clock=lambda: FIXED_NOW)
    client = make_client(team="ml", policies=policies)
    with pytest.raises(BudgetExceeded, match="price_file") as caught:
        client.models.generate_content(model="gemini-9-unpriced", contents="hi")
    assert caught.value.limit == "budgets.usd_per_day"
    assert not emulator.api_requests()


def test_stream_abandoned_before_its_last_chunk_is_charged_what_it_delivered(
    limits: Callable[..., list[Any]], make_client: Any, emulator: Any
) -> None:
    """Gemini reports output usage in the final chunk only. A caller who stops reading just
    before it has still received ~500 tokens of text: that is what is charged, not the 5 prompt
    tokens the earlier chunks reported."""
    policies = limits(
        budgets={"tokens_per_day": 100_000, "usd_per_day": 5.0}, clock=lambda: FIXED_NOW
    )
    client = make_client(team="ml", policies=policies)
    chunks = [answer("word " * 80, {"promptTokenCount": 5}) for _ in range(5)]
    chunks.append(
        answer(
            "",
            {"promptTokenCount": 5, "candidatesTokenCount": 505, "totalTokenCount": 510},
        )
    )
    emulator.script_response(chunks)
    stream = client.models.generate_content_stream(model=MODEL, contents="talk")
    for _ in range(5):
        next(stream)
    stream.close()
    charged = used(policies[0])
    # 5 chunks x 400 characters = 2000 characters = 500 tokens delivered, plus the prompt.
    assert charged["budgets.tokens_per_day"] == 505
    assert charged["budgets.usd_per_day"] == 1252  # 5 x $0.30 + 500 x $2.50 per million


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("50", "wrong unit"),
        (0, "greater than 0"),
        (float("inf"), "finite"),
        (True, "number of dollars"),
    ],
)
def test_bad_money_budgets_name_the_field(
    limits: Callable[..., list[Any]], value: Any, words: str
) -> None:
    """usd_per_day must be a positive, finite number of dollars; the error says so."""
    with pytest.raises(ConfigError) as caught:
        limits(budgets={"usd_per_day": value})
    problem = next(p for p in caught.value.problems if p.field == "budgets.usd_per_day")
    assert words in problem.message


def test_budget_status_shows_dollars(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`golden-path budget status` prints money budgets in dollars and cents."""
    policy = tmp_path / "policy.toml"
    policy.write_text("[budgets]\nusd_per_day = 25.5\n")
    monkeypatch.setenv("GOLDEN_PATH_POLICY_FILE", str(policy))
    monkeypatch.setenv("GOLDEN_PATH_TEAM", "ml")
    assert main(["budget", "status"]) == 0
    out = capsys.readouterr().out
    assert "budgets.usd_per_day" in out
    assert "$25.50" in out
    assert "$0.00" in out
