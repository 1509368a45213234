"""docs/testing.md's route table is what the emulator really serves, row by row."""

from __future__ import annotations

import functools
from pathlib import Path

from golden_path.emulator import _coverage

# Probing every route takes seconds: once per test session.
table = functools.cache(_coverage.table)

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"


def test_route_table_in_the_docs_is_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    begin, end = "<!-- routes:begin -->\n", "<!-- routes:end -->"
    documented = text[text.index(begin) + len(begin) : text.index(end)]
    assert documented == table(), "run: python -m golden_path.emulator._coverage"


def test_every_route_the_issue_names_is_emulated() -> None:
    rows = {line.split("|")[2].strip(" `"): line for line in table().splitlines()[2:]}
    for name in (
        "files.upload", "cachedContents.create", "batchGenerateContent",
        "batchPredictionJobs.create", "tuningJobs.create", "tunedModels.create",
        "operations.get", "computeTokens", "predict", "predictLongRunning",
        "fetchPredictOperation", "interactions.create", "auth_tokens.create",
        "images.generations", "live.connect",
    ):  # fmt: skip
        assert "| emulated" in rows[name], rows[name]
