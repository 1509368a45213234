"""golden-path's own diagnostics: named structlog events, with the call's context, handed to the
app's stdlib logging configuration."""

from __future__ import annotations

import io
import json
import logging
import re
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars

from golden_path import PolicyViolation
from golden_path._log import DIAGNOSTICS, Event
from golden_path.policies import GenAIRequest, GenAIResponse
from tests.conftest import AuditCapture

MODEL = "gemini-2.5-flash"
DOC = Path(__file__).resolve().parents[2] / "docs" / "audit.md"


@pytest.fixture(autouse=True)
def _clean_context() -> Iterator[None]:
    clear_contextvars()
    yield
    clear_contextvars()


class Crashing:
    """A policy whose request hook raises."""

    name = "crashing"

    def on_request(self, request: GenAIRequest) -> None:
        raise RuntimeError("bug in the policy")


class CrashingAfter:
    """A policy whose response hook raises."""

    name = "crashing-after"

    def on_response(self, request: GenAIRequest, response: GenAIResponse) -> None:
        raise RuntimeError("bug after the call")


def _records(caplog: pytest.LogCaptureFixture, event: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "golden_path", {}).get("event") == event]


def test_a_crashing_policy_is_a_named_event_with_the_calls_context(
    make_client: Callable[..., Any], audit: AuditCapture, caplog: pytest.LogCaptureFixture
) -> None:
    """The record names the event, the policy and the request id (also as structlog's bound
    ``golden_path_request_id``), keeps what the app bound, and carries the traceback."""
    bind_contextvars(tenant="acme")
    client = make_client(policies=[Crashing()])
    with caplog.at_level(logging.WARNING, logger="golden_path"), pytest.raises(PolicyViolation):
        client.models.generate_content(model=MODEL, contents="hi")
    (record,) = _records(caplog, "golden_path.policy.crashed")
    request_id = audit.only().request_id
    assert record.name == "golden_path.policies"
    assert record.levelno == logging.ERROR
    assert record.getMessage() == (
        f"golden_path.policy.crashed: policy crashing failed on request {request_id}"
    )
    fields = record.golden_path  # type: ignore[attr-defined]
    assert fields["policy"] == "crashing"
    assert fields["request_id"] == fields["golden_path_request_id"] == request_id
    assert fields["tenant"] == "acme"
    assert record.exc_info is not None
    assert "bug in the policy" in str(record.exc_info[1])


def test_a_crashing_after_hook_is_logged_and_the_answer_still_arrives(
    make_client: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """An after-hook that raises is ``golden_path.policy.after_hook_failed``; the call returns."""
    client = make_client(policies=[CrashingAfter()])
    with caplog.at_level(logging.WARNING, logger="golden_path"):
        assert client.models.generate_content(model=MODEL, contents="hi").text
    (record,) = _records(caplog, "golden_path.policy.after_hook_failed")
    assert record.golden_path["policy"] == "crashing-after"  # type: ignore[attr-defined]
    assert record.exc_info is not None


def test_the_apps_levels_decide_what_is_emitted(
    make_client: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """With golden_path's loggers set above ERROR, no diagnostic record is made at all."""
    client = make_client(policies=[CrashingAfter()])
    with caplog.at_level(logging.CRITICAL, logger="golden_path"):
        client.models.generate_content(model=MODEL, contents="hi")
    assert _records(caplog, "golden_path.policy.after_hook_failed") == []


def test_an_app_on_structlog_routes_diagnostics_through_its_processor_formatter(
    make_client: Callable[..., Any],
) -> None:
    """structlog's ProcessorFormatter on the app's handler renders a diagnostic as one JSON
    line with the event name and its fields, like the app's own structlog lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.ExtraAdder(allow=["golden_path"])],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    logger = logging.getLogger("golden_path")
    logger.addHandler(handler)
    try:
        client = make_client(policies=[CrashingAfter()])
        client.models.generate_content(model=MODEL, contents="hi")
    finally:
        logger.removeHandler(handler)
    (line,) = stream.getvalue().splitlines()
    rendered = json.loads(line)
    assert rendered["golden_path"]["event"] == "golden_path.policy.after_hook_failed"
    assert rendered["golden_path"]["policy"] == "crashing-after"
    assert rendered["event"].startswith("golden_path.policy.after_hook_failed: ")


def test_every_diagnostic_is_documented() -> None:
    """docs/audit.md lists exactly the event names golden-path can emit."""
    assert set(typing.get_args(Event)) == set(DIAGNOSTICS)
    section = DOC.read_text().split("### golden-path's own diagnostics", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(golden_path\.[a-z_.]+)` \|", section, re.M))
    assert documented == set(DIAGNOSTICS)


def test_diagnostics_in_the_code_use_names_from_the_table() -> None:
    """Every event name passed to a diagnostics logger in golden_path/ is in the table."""
    package = Path(__file__).resolve().parents[2] / "golden_path"
    used = set()
    for path in package.rglob("*.py"):
        used |= set(
            re.findall(r"diagnostics\.\w+\(\s*\"(golden_path\.[a-z_.]+)\"", path.read_text())
        )
    assert used == set(DIAGNOSTICS)
