"""The exception tree drawn in golden_path.exceptions' docstring is the one the code has."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

import golden_path
from golden_path import exceptions
from golden_path.exceptions import (
    AuditSinkError,
    BudgetExceeded,
    ConfigError,
    ConfigProblem,
    GoldenPathError,
    PolicyViolation,
    RemoteError,
    StoreUnavailable,
)

# Modules behind extras the test venv may lack; nothing else may fail to import.
OPTIONAL = ("golden_path._pii_presidio", "golden_path.integrations.")


def drawn_tree() -> dict[str, str]:
    """Class name -> parent name, from the docstring's box drawing."""
    doc = exceptions.__doc__ or ""
    lines = [line for line in doc.splitlines() if "GoldenPathError" in line or "──" in line]
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in lines:
        match = re.match(r"^(\s*)((?:[│ ]   )*)(?:[├└]── )?([A-Za-z]+)", line)
        assert match, line
        depth = len(match.group(2)) // 4 + (1 if "──" in line else 0)
        name = match.group(3)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            parents[name] = stack[-1][1]
        stack.append((depth, name))
    return parents


def real_tree() -> dict[str, str]:
    """Class name -> parent name, for every GoldenPathError subclass in golden_path."""
    for module in pkgutil.walk_packages(golden_path.__path__, "golden_path."):
        if module.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(module.name)
        except ImportError:
            if not module.name.startswith(OPTIONAL):
                raise
    found: dict[str, str] = {}
    todo = [GoldenPathError]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub.__module__.startswith("golden_path."):
                found[sub.__name__] = cls.__name__
                todo.append(sub)
    return found


def test_the_docstring_draws_every_exception_with_its_parent() -> None:
    """Each GoldenPathError subclass appears in the drawing, under its real base class."""
    assert drawn_tree() == real_tree()


def test_every_public_exception_is_exported() -> None:
    """Every class of the tree defined in golden_path.exceptions is in its ``__all__``."""
    defined = {
        name
        for name, value in vars(exceptions).items()
        if isinstance(value, type) and issubclass(value, GoldenPathError)
    }
    assert defined <= set(exceptions.__all__)


@pytest.mark.parametrize(
    ("error", "fields"),
    [
        (ConfigError([ConfigProblem("backend", "missing", "default", "set it")]), {"problems"}),
        (PolicyViolation("models", "no", request_id="r1"), {"policy", "reason", "request_id"}),
        (
            BudgetExceeded("limits", "full", limit="budgets.tokens_per_day", retry_after=None),
            {"policy", "reason", "request_id", "limit", "retry_after"},
        ),
        (AuditSinkError("cannot write", sink="file:/x"), {"sink"}),
        (StoreUnavailable("down", store="redis://h:6379/0"), {"store"}),
        (RemoteError("answered 429", status=429, request_id="r1"), {"status", "request_id"}),
    ],
)
def test_errors_carry_their_context(error: GoldenPathError, fields: set[str]) -> None:
    """Callers read the context as attributes, not by parsing the message."""
    assert all(hasattr(error, field) for field in fields)
    assert isinstance(error, GoldenPathError)
