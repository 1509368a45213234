"""``golden-path versions``: installed packages next to the lock; ``--check`` fails on drift.

``--check`` also hashes every installed file against its distribution's RECORD, so a file edited
in place (same name, same version) is drift too.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``versions`` command."""
    parser = sub.add_parser(
        "versions",
        help="compare installed packages with the lock (--check: exit 1 on drift)",
        description="List every locked and installed distribution with its status. The lock is "
        "--lock, else $GOLDEN_PATH_LOCK, else /etc/golden-path/requirements.lock, else this "
        "checkout's base-image/requirements.lock.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="print only the differences, including installed files that differ from their "
        "RECORD hashes; exit 1 if there is any",
    )
    parser.add_argument("--lock", type=Path, metavar="PATH", help="the requirements.lock to use")
    parser.add_argument(
        "--allow-extra",
        action="store_true",
        help="installed packages that are not in the lock are not drift "
        "(for images built FROM the base image with the app's own packages)",
    )
    parser.add_argument(
        "--sbom",
        type=Path,
        metavar="PATH",
        help="also check that the CycloneDX SBOM at PATH lists exactly the installed Python "
        "packages (an image built FROM the base image needs its own SBOM)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """List or check; 0 when clean (or listing), 1 on drift with --check; bad lock raises."""
    from golden_path._versions import (
        FileProblem,
        compare,
        compare_sbom,
        find_lock,
        installed_distributions,
        read_lock,
        read_sbom,
        sdk_placement,
        verify_files,
    )
    from golden_path.exceptions import ConfigError, ConfigProblem

    found = find_lock(args.lock)
    if found is None:
        raise ConfigError(
            [
                ConfigProblem(
                    "lock",
                    "no lock file found (looked at $GOLDEN_PATH_LOCK, "
                    "/etc/golden-path/requirements.lock and this checkout's base-image/)",
                    "default",
                    "pass --lock PATH or set GOLDEN_PATH_LOCK",
                )
            ]
        )
    lock = read_lock(*found)
    installed = installed_distributions()
    differences = compare(lock, installed)
    drift = [d for d in differences if not (args.allow_extra and d.status == "extra")]
    status = {d.name: d.status for d in differences}
    verified, files = verify_files() if args.check or args.json else (0, list[FileProblem]())
    sdk = sdk_placement() if "google-genai" in installed else None
    sbom = compare_sbom(read_sbom(args.sbom), installed, args.sbom) if args.sbom else []
    if args.json:
        names = sorted(set(lock.pins) | set(installed))
        report = {
            "lock": str(lock.path),
            "lock_source": lock.source,
            "python": sys.executable,
            "clean": not drift and not files and not sbom,
            "sdk": None
            if sdk is None
            else {
                "installed": sdk.installed,
                "pinned": sdk.pinned,
                "supported": sdk.supported,
                "status": sdk.status,
            },
            "packages": [
                {
                    "name": name,
                    "locked": lock.pins[name].version if name in lock.pins else None,
                    "installed": installed.get(name),
                    "status": status.get(name, "ok"),
                }
                for name in names
            ],
            "differences": [str(d) for d in drift],
            "files_verified": verified,
            "file_problems": [str(f) for f in files],
            "sbom_differences": sbom,
        }
        print(json.dumps(report, indent=2))
    elif args.check:
        for difference in drift:
            print(difference)
        for problem in files:
            print(problem)
        for line in sbom:
            print(line)
        if sbom:
            print(
                f"{args.sbom} does not describe this environment (an image built FROM the base "
                "inherits the base's SBOM): make one for it, e.g. `cyclonedx-py environment`"
            )
        if not drift and not files and not sbom:
            print(
                f"ok: {len(lock.pins)} locked packages installed as locked "
                f"({lock.path}, from {lock.source}); {verified} files match their RECORD hashes"
            )
    else:
        if sdk is not None:
            print(f"sdk: {sdk}")
        print(f"lock: {lock.path} (from {lock.source})")
        names = sorted(set(lock.pins) | set(installed))
        width = max(len(name) for name in names)
        print(f"{'package':<{width}}  {'locked':<12}  {'installed':<12}  status")
        for name in names:
            locked = lock.pins[name].version if name in lock.pins else "-"
            print(
                f"{name:<{width}}  {locked:<12}  {installed.get(name, '-'):<12}  "
                f"{status.get(name, 'ok')}"
            )
    return 1 if args.check and (drift or files or sbom) else 0
