"""The pytest plugin as app teams use it: a separate project, only the plugin's fixtures."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parent.parent / "docs" / "examples" / "app_tests"
# Under the coverage gate, coverage's own variables let it measure these processes too; they
# configure nothing of golden-path or the app.
COVERAGE = {k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")}


def test_app_team_example_passes_with_only_the_plugin(tmp_path: Path) -> None:
    """docs/examples/app_tests, copied out of this repo, passes under a plain pytest run."""
    project = tmp_path / "app"
    shutil.copytree(EXAMPLE, project)
    (project / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
    env = {
        **COVERAGE,
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "GOLDEN_PATH_AUDIT_SINK": "none",
        "GOLDEN_PATH_RETRY_ATTEMPTS": "1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_fixtures_undo_what_they_did(tmp_path: Path) -> None:
    """After a test using the fixtures, the environment and client cache are as before."""
    project = tmp_path / "undo"
    project.mkdir()
    (project / "test_undo.py").write_text(
        "import os, golden_path\n"
        "def test_a(golden_path_client):\n"
        "    assert os.environ['GOLDEN_PATH_BACKEND'] == 'ai_studio'\n"
        "def test_b():\n"
        "    assert 'GOLDEN_PATH_BACKEND' not in os.environ\n"
        "    assert 'GOLDEN_PATH_BASE_URL' not in os.environ\n"
        "    from golden_path._process import STATE\n"
        "    assert not STATE.clients and not STATE.sinks and STATE.emulator is None\n"
    )
    env = {
        **COVERAGE,
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "GOLDEN_PATH_AUDIT_SINK": "none",
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
