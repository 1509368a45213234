"""The conformance command: google-genai's bundled tests through golden-path on the emulator.

CI runs a smoke subset (two small packages); docs/testing.md has the latest full figures. The
first run builds the side venv with pytest-asyncio and Pillow from the package index.
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


def test_unknown_package_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert conformance.main(["--modules", "no_such_package"]) == 2
    assert "no such package" in capsys.readouterr().err
