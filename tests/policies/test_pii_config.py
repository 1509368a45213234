"""[pii] configuration: new keys validated like every other, engines plugged into one scanner."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import golden_path
from golden_path.policies._loader import load_policy_set

ENGINE = "tests.policies.pii_engine:EmployeeIds"


def _problems(path: Path) -> list[tuple[str, str, str]]:
    with pytest.raises(golden_path.ConfigError) as caught:
        load_policy_set([path])
    return [(p.field, p.source, f"{p.message}; {p.fix}") for p in caught.value.problems]


@pytest.mark.parametrize(
    ("text", "field", "says"),
    [
        ('responses = "mask"', "pii.responses", "redact"),
        ('engines = ["no_such_module:Thing"]', "pii.engines", "no_such_module"),
        ('engines = ["presidio-ish"]', "pii.engines", "package.module:attribute"),
        ('engines = ["tests.policies.pii_engine:_EMPLOYEE"]', "pii.engines", "not a detector"),
        ('detect = ["email", "employee_id"]', "pii.detect", "employee_id"),
        ('detect = ["emial"]', "pii.detect", "email"),
    ],
)
def test_bad_values_name_field_source_and_fix(
    policy_file: Callable[[str], Path], text: str, field: str, says: str
) -> None:
    """Each bad value is one problem naming the field, the file and what would be accepted."""
    path = policy_file(f"[pii]\n{text}\n")
    (problem,) = _problems(path)
    assert problem[0] == field
    assert str(path) in problem[1]
    assert says in problem[2]


def test_engine_kinds_are_redacted_in_requests(governed: Any, emulator: Any) -> None:
    """An engine's kinds are redacted like built-in ones."""
    client = governed(f'[pii]\nengines = ["{ENGINE}"]\n')
    client.models.generate_content(model="gemini-2.5-flash", contents="EMP-123456 and a@b.io")
    (sent,) = emulator.api_requests()
    assert b"[REDACTED:employee_id] and [REDACTED:email]" in sent.raw_body


def test_audit_content_uses_the_policys_engines(governed: Any, emulator: Any, audit: Any) -> None:
    """In report mode the request goes as written; the audit content is redacted by the engine."""
    client = governed(
        f'[pii]\naction = "report"\nengines = ["{ENGINE}"]\n', audit_content="redacted"
    )
    client.models.generate_content(model="gemini-2.5-flash", contents="EMP-123456 and a@b.io")
    (sent,) = emulator.api_requests()
    assert b"EMP-123456" in sent.raw_body
    content = audit.only().content
    assert "EMP-123456" not in str(content)
    assert content["redactions"] == {"employee_id": 2, "email": 2}  # prompt and its echo


def test_audit_redacts_what_the_policy_lets_through(governed: Any, audit: Any) -> None:
    """The audit trail redacts every built-in kind even when the policy only looks for some."""
    client = governed('[pii]\ndetect = ["secret"]\n', audit_content="redacted")
    client.models.generate_content(model="gemini-2.5-flash", contents="mail a.b@example.com")
    assert "a.b@example.com" not in str(audit.only().content)


def test_presidio_engine_when_installed(policy_file: Callable[[str], Path]) -> None:
    """engines = ["presidio"] loads Presidio's analyzer, or says what to install."""
    path = policy_file('[pii]\nengines = ["presidio"]\n')
    if importlib.util.find_spec("presidio_analyzer") is None:
        (problem,) = _problems(path)
        assert problem[0] == "pii.engines"
        assert "golden-path[presidio]" in problem[2]
        return
    pytest.skip("presidio-analyzer is installed; its spaCy model is the image's business")
