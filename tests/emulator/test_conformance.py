"""The conformance command: google-genai's bundled tests through golden-path on the emulator.

CI runs a smoke subset (two small packages); docs/testing.md has the latest full figures. The
first run builds the side venv with the conformance extra (pytest-asyncio, Pillow, mcp) from
the package index.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from golden_path.emulator import conformance

pytestmark = pytest.mark.network  # the side venv's first build installs from PyPI
# Read at import, before the suite's autouse fixture points HOME at a temporary directory, so
# the side venv is built once per machine, not once per run.
_SIDE_VENV = Path.home() / ".cache" / "golden-path" / "conformance-venv"


def test_smoke_subset_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GP_CONFORMANCE_VENV", str(_SIDE_VENV))
    results = conformance.run(["operations", "tokens"])
    text, rate = conformance.render(results)
    assert len(results) >= 18, text
    assert "tokens/test_create" in text
    assert rate >= 75.0, text


def test_modules_importing_mcp_are_collected(monkeypatch: pytest.MonkeyPatch) -> None:
    """The side venv has the conformance extra's mcp, so modules importing it run their tests."""
    monkeypatch.setenv("GP_CONFORMANCE_VENV", str(_SIDE_VENV))
    results = conformance.run(["afc"], keyword="test_find_afc_incompatible_tool_indexes")
    text, _ = conformance.render(results)
    assert "No module named 'mcp'" not in text
    assert len(results) >= 9, text
    assert all(r["outcome"] == "passed" for r in results), text


def test_unknown_package_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert conformance.main(["--modules", "no_such_package"]) == 2
    assert "no such package" in capsys.readouterr().err


def test_failures_are_grouped_by_cause() -> None:
    """The report counts failures per cause; a reason matching no known cause is an emulator gap."""
    results = [
        {"id": "tests/files/test_a.py::t1", "outcome": "passed", "reason": ""},
        {"id": "tests/files/test_a.py::t2", "outcome": "failed",
         "reason": "denied by policy 'routes': credentials go only to http://127.0.0.1:1"},
        {"id": "tests/caches/test_b.py::t3", "outcome": "failed", "reason": "KeyError: 'x'"},
    ]  # fmt: skip
    text, rate = conformance.render(results, quiet=True)
    assert rate == 50.0  # the policy refusal is counted apart: 1 of 2
    assert "     1  emulator gap" in text
    assert "credentials go only to the configured endpoint" in text
    assert conformance.cause_of("FileNotFoundError: tests/data/x.jpg").startswith("the test reads")
