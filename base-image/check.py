"""Host-side checks and records of base-image/build (standard library only, any Python 3.9+).

    check.py wheels DIR LOCK...           cached wheels of a locked release must match its hashes
    check.py debs DEBIAN_LOCK ARCH LIST   the Debian packages mmdebstrap installed == the lock
    check.py rootfs DEBIAN_LOCK ARCH FILE the base archive's sha256 == the lock's
    check.py relock DEBIAN_LOCK ARCH LIST FILE   record LIST and FILE's hash as ARCH's pins
    check.py provenance OUT KEY=VALUE...  an SLSA v1 provenance predicate for the image

Each failure prints what failed and what to do, and exits 1.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
_HASH = re.compile(r"--hash[=\s]sha256:([0-9a-f]{64})")


def _fail(message: str) -> None:
    print(f"base-image/build: {message}", file=sys.stderr)
    sys.exit(1)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock_hashes(lock: Path) -> dict[tuple[str, str], set[str]]:
    """(normalised name, version) -> accepted sha256 hashes, from a pip requirements lock."""
    pins: dict[tuple[str, str], set[str]] = {}
    current: tuple[str, str] | None = None
    for raw in lock.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        match = _PIN.match(line)
        if match:
            current = (_norm(match[1]), match[2])
            pins[current] = set()
        if current is not None:
            pins[current].update(_HASH.findall(line))
        if not line.endswith("\\"):
            current = None
    return pins


def wheels(directory: Path, locks: list[Path]) -> None:
    """A cached wheel of a locked name==version must have one of that pin's hashes.

    Wheels of other versions (an older lock's) are left alone: pip never picks them.
    """
    pins: dict[tuple[str, str], set[str]] = {}
    for lock in locks:
        pins.update(_lock_hashes(lock))
    checked = 0
    for wheel in sorted(directory.glob("*.whl")):
        name, version = wheel.name.split("-")[:2]
        accepted = pins.get((_norm(name), version))
        if accepted is None:
            continue
        checked += 1
        actual = _sha256(wheel)
        if actual not in accepted:
            _fail(
                f"refusing the cached wheel {wheel}: sha256 {actual} is none of the hashes the "
                f"lock records for {_norm(name)}=={version}, so the file was altered or "
                f"corrupted. Delete it (rm {wheel}) and build again to download it afresh."
            )
    print(f"base-image/build: {checked} cached wheels match the locks' hashes", file=sys.stderr)


def _debian_lock(path: Path, arch: str) -> tuple[str | None, list[str]]:
    rootfs = None
    debs = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        fields = raw.split()
        if not fields or fields[0].startswith("#"):
            continue
        if fields[:2] == ["rootfs", arch]:
            rootfs = fields[2]
        elif fields[:2] == ["deb", arch]:
            debs.append(" ".join(fields[2:]))
    return rootfs, debs


def debs(lock: Path, arch: str, listing: Path) -> None:
    """LISTING ('pkg-arch name version sha256:...' per .deb mmdebstrap installed) == the lock."""
    _, locked = _debian_lock(lock, arch)
    if not locked:
        _fail(
            f"{lock} pins no Debian packages for {arch}: run base-image/build --relock-debian "
            f"on a {arch} machine, review the diff and commit it"
        )
    got = sorted(line.strip() for line in listing.read_text(encoding="utf-8").splitlines() if line)
    want = sorted(locked)
    if got != want:
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        shown = "\n".join([*(f"  - {m}" for m in missing[:20]), *(f"  + {e}" for e in extra[:20])])
        _fail(
            f"the Debian packages the mirror served differ from {lock} ('-' locked, '+' served):\n"
            f"{shown}\nDebian's mirror keeps only the newest bookworm packages, so a security "
            "update replaces a pinned one. Review the change, then run "
            "base-image/build --relock-debian and commit base-image/debian.lock."
        )
    print(f"base-image/build: {len(got)} Debian packages match {lock.name}", file=sys.stderr)


def rootfs(lock: Path, arch: str, archive: Path) -> None:
    """The base archive's sha256 must be the one the lock records for ARCH."""
    recorded, _ = _debian_lock(lock, arch)
    actual = f"sha256:{_sha256(archive)}"
    if recorded is None:
        _fail(f"{lock} records no base archive hash for {arch}: run --relock-debian")
    if actual != recorded:
        _fail(
            f"refusing the base archive {archive}: its {actual} is not the {recorded} that "
            f"{lock.name} records, so it was altered after it was made or was made from other "
            "packages. Delete it and build again (base-image/build --refresh-base); if a fresh "
            "one differs too, compare the package lists and re-pin with --relock-debian."
        )
    print(f"base-image/build: base archive verified ({actual})", file=sys.stderr)


def relock(lock: Path, arch: str, listing: Path, archive: Path) -> None:
    """Replace ARCH's pins in the lock with LISTING and ARCHIVE's hash (other arches are kept)."""
    kept = []
    if lock.exists():
        for raw in lock.read_text(encoding="utf-8").splitlines():
            fields = raw.split()
            if fields[:1] in (["rootfs"], ["deb"]) and fields[1:2] == [arch]:
                continue
            kept.append(raw)
    body = [line for line in kept if line.strip()]
    body.append(f"rootfs {arch} sha256:{_sha256(archive)}")
    listed = sorted(listing.read_text(encoding="utf-8").splitlines())
    body.extend(f"deb {arch} {line.strip()}" for line in listed if line.strip())
    lock.write_text("\n".join(body) + "\n", encoding="utf-8")
    print(f"base-image/build: wrote {arch}'s pins to {lock}", file=sys.stderr)


def provenance(out: Path, pairs: list[str]) -> None:
    """An SLSA v1 provenance predicate (https://slsa.dev/provenance/v1) from KEY=VALUE pairs."""
    values = dict(pair.split("=", 1) for pair in pairs)
    dependencies = [
        {
            "uri": values["source"],
            "digest": {"gitCommit": values["revision"].removesuffix("-dirty")},
        },
        {
            "uri": "base-image/debian.lock#rootfs",
            "digest": {"sha256": values["rootfs"].removeprefix("sha256:")},
        },
    ]
    for line in Path(values["debian_lock"]).read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if fields[:2] == ["deb", values["arch"]]:
            _, _, deb_arch, name, version, digest = fields
            dependencies.append(
                {
                    "uri": f"pkg:deb/debian/{name}@{version}?arch={deb_arch}",
                    "digest": {"sha256": digest.removeprefix("sha256:")},
                }
            )
    for wheel in sorted(Path(values["wheels"]).glob("*.whl")):
        name, version = wheel.name.split("-")[:2]
        dependencies.append(
            {
                "uri": f"pkg:pypi/{_norm(name)}@{version}",
                "name": wheel.name,
                "digest": {"sha256": _sha256(wheel)},
            }
        )
    predicate = {
        "buildDefinition": {
            "buildType": "urn:golden-path:base-image-build:v1",
            "externalParameters": {
                "source": values["source"],
                "revision": values["revision"],
                "variant": values["variant"],
                "format": values["format"],
            },
            "internalParameters": {
                "SOURCE_DATE_EPOCH": values["epoch"],
                "arch": values["arch"],
                "podman": values["podman"],
            },
            "resolvedDependencies": dependencies,
        },
        "runDetails": {
            "builder": {"id": values["builder"]},
            "metadata": {
                "invocationId": values["invocation"],
                "startedOn": values["started"],
                "finishedOn": values["finished"],
            },
            "byproducts": [{"name": "image-id", "digest": {"sha256": values["image_id"]}}],
        },
    }
    out.write_text(json.dumps(predicate, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str]) -> None:
    """Dispatch the command line (see the module docstring)."""
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    if command == "wheels" and len(args) >= 2:
        wheels(Path(args[0]), [Path(a) for a in args[1:]])
    elif command == "debs" and len(args) == 3:
        debs(Path(args[0]), args[1], Path(args[2]))
    elif command == "rootfs" and len(args) == 3:
        rootfs(Path(args[0]), args[1], Path(args[2]))
    elif command == "relock" and len(args) == 4:
        relock(Path(args[0]), args[1], Path(args[2]), Path(args[3]))
    elif command == "provenance" and len(args) >= 1:
        provenance(Path(args[0]), args[1:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
