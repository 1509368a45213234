"""`golden-path doctor` says when the platform's config file is not in force, and warns as root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from golden_path import _settings
from golden_path.cli import main


@pytest.fixture(name="platform_file")
def _platform_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A platform file where the image keeps it, moved under tmp_path; cwd is an app folder."""
    platform = tmp_path / "etc" / "config.toml"
    platform.parent.mkdir()
    platform.write_text('backend = "ai_studio"\napi_key = "platform-key"\n', encoding="utf-8")
    monkeypatch.setattr(_settings, "PLATFORM_CONFIG_PATH", platform)
    app = tmp_path / "app"
    app.mkdir()
    monkeypatch.chdir(app)
    for name in list(os.environ):
        if name.startswith("GOLDEN_PATH_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GOLDEN_PATH_AUDIT_SINK", "none")
    return platform


def _doctor(capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["doctor", "--offline"])
    return code, capsys.readouterr().out.splitlines()


def test_platform_file_in_force_is_reported(
    platform_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = _doctor(capsys)
    assert f"ok    platform config: {platform_file} in force" in lines, lines
    assert code == 0, lines


def test_an_app_file_no_longer_replaces_the_platform_file(
    platform_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """./golden-path.toml merges on top of the platform's file: the platform's stays in force."""
    Path("golden-path.toml").write_text('team = "app-team"\n', "utf-8")
    code, lines = _doctor(capsys)
    assert f"ok    platform config: {platform_file} in force" in lines, lines
    assert code == 0, lines


def test_another_platform_file_named_by_a_variable_fails_the_doctor(
    platform_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """$GOLDEN_PATH_PLATFORM_CONFIG naming another file: the doctor names both, exits 1."""
    other = tmp_path / "other.toml"
    other.write_text('backend = "ai_studio"\napi_key = "k"\n', "utf-8")
    monkeypatch.setenv("GOLDEN_PATH_PLATFORM_CONFIG", str(other))
    code, lines = _doctor(capsys)
    failed = [line for line in lines if line.startswith("FAIL  platform config")]
    assert len(failed) == 1, lines
    assert f"the platform's {platform_file} is not in force" in failed[0]
    assert f"read instead: {other}" in failed[0]
    assert "unset GOLDEN_PATH_PLATFORM_CONFIG" in failed[0]
    assert code == 1


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX user ids")
def test_running_as_root_is_a_warning_not_a_failure(
    platform_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = _doctor(capsys)
    warned = [line for line in lines if line.startswith("warn  user:")]
    if os.geteuid() == 0:
        assert len(warned) == 1
        assert "running as root (uid 0)" in warned[0]
        assert code == 0, lines
    else:
        assert warned == []
