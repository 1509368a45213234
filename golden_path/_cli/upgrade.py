"""``golden-path upgrade-check VERSION``: judge a google-genai release before the pin moves.

The candidate is installed into a scratch venv that sees this environment's packages behind its
own (so only google-genai, and whatever it needs newer, comes from the wheel or index given).
The same probe (``golden_path/_upgrade.py``) runs there and here, on the pin, in parallel; the
report is the candidate's verdict and the difference between the two.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["register"]

_TIMEOUT_S = 600


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``upgrade-check`` command."""
    parser = sub.add_parser(
        "upgrade-check",
        help="judge a google-genai release (route table, wire, warnings, frameworks) "
        "against the pin; exit 1 if it fails",
        description="Install google-genai VERSION into a scratch venv and check it: every public "
        "SDK method governed by the route table, real calls on both backends against the "
        "embedded emulator (paths, headers, API versions, one audit event per request), "
        "warnings, and which framework packages admit it. Works offline with --wheel or "
        "--find-links.",
    )
    parser.add_argument("version", help="the google-genai release, like 3.6.1")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--wheel", type=Path, metavar="PATH", help="a google-genai wheel file")
    source.add_argument(
        "--find-links",
        type=Path,
        metavar="DIR",
        help="a directory of wheels to install from, without any index (offline)",
    )
    source.add_argument("--index-url", metavar="URL", help="a package index (a local mirror)")
    parser.add_argument(
        "--frameworks",
        type=Path,
        metavar="DIR",
        help="wheels of framework packages whose declared google-genai range to check "
        "(default: --find-links, else only installed ones)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable report")
    parser.add_argument(
        "--keep", action="store_true", help="keep the scratch venv (its path is printed)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Install, probe both sides, print; 0 when the candidate passes, 1 when it does not."""
    from golden_path._upgrade import diff, verdict
    from golden_path._version import PINNED_SDK_VERSION
    from golden_path.exceptions import ConfigError, ConfigProblem

    if not re.fullmatch(r"\d+(\.\d+)*((a|b|rc)\d+)?", args.version):
        raise ConfigError(
            [
                ConfigProblem(
                    "version",
                    f"{args.version!r} is not a release number",
                    "argument",
                    "pass a version like 3.6.1",
                )
            ]
        )
    if args.wheel is not None and not args.wheel.is_file():
        raise ConfigError(
            [
                ConfigProblem(
                    "--wheel",
                    f"{args.wheel} is not a file",
                    "argument",
                    "pass a google-genai .whl file",
                )
            ]
        )
    if args.find_links is not None and not args.find_links.is_dir():
        raise ConfigError(
            [
                ConfigProblem(
                    "--find-links",
                    f"{args.find_links} is not a directory",
                    "argument",
                    "pass a directory of wheels",
                )
            ]
        )
    wheels = args.frameworks or args.find_links
    scratch = Path(tempfile.mkdtemp(prefix="golden-path-upgrade-"))
    try:
        python = _scratch_venv(scratch / "venv")
        _install(python, args)
        candidate, pin = _probe_both(python, scratch, wheels)
    finally:
        if args.keep:
            print(f"scratch venv kept at {scratch / 'venv'}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    passed, reasons = verdict(candidate)
    changes = diff(pin, candidate)
    if args.json:
        print(
            json.dumps(
                {
                    "candidate": candidate,
                    "pin": pin,
                    "pinned": PINNED_SDK_VERSION,
                    "passed": passed,
                    "reasons": reasons,
                    "diff": changes,
                },
                indent=2,
            )
        )
    else:
        _print_report(candidate, pin, passed, reasons, changes)
    return 0 if passed else 1


def _scratch_venv(where: Path) -> Path:
    """A venv (pip from ensurepip) that also sees this environment's packages, after its own."""
    import site
    import venv

    from golden_path.exceptions import GoldenPathError

    venv.EnvBuilder(with_pip=True, symlinks=os.name != "nt").create(where)
    python = where / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = subprocess.run(  # noqa: S603 - the venv's own interpreter
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=False,
    )
    if purelib.returncode != 0:
        raise GoldenPathError(f"the scratch venv at {where} does not run: {purelib.stderr.strip()}")
    parents = [*site.getsitepackages(), str(Path(__file__).resolve().parents[2])]
    # addsitedir also runs the parent's .pth files (an editable golden-path install is one).
    lines = [f"import site; site.addsitedir({p!r})" for p in parents if Path(p).is_dir()]
    (Path(purelib.stdout.strip()) / "_golden_path_parent.pth").write_text("\n".join(lines) + "\n")
    return python


def _install(python: Path, args: argparse.Namespace) -> None:
    from golden_path.exceptions import GoldenPathError

    command = [
        str(python),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
        "--no-input",
    ]
    if args.wheel is not None:
        command += [
            "--no-index",
            "--find-links",
            str(args.wheel.resolve().parent),
            str(args.wheel.resolve()),
        ]
    else:
        if args.find_links is not None:
            command += ["--no-index", "--find-links", str(args.find_links.resolve())]
        elif args.index_url:
            command += ["--index-url", args.index_url]
        command.append(f"google-genai=={args.version}")
    # First the candidate itself, even when this environment has the same version (so a patched
    # wheel is what gets judged); then whatever it needs that this environment lacks.
    first, second = [*command[:7], "--no-deps", "--ignore-installed", *command[7:]], command
    for step in (first, second):
        done = subprocess.run(  # noqa: S603 - pip of the scratch venv, arguments built here
            step, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False
        )
        if done.returncode != 0:
            break
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise GoldenPathError(
            f"installing google-genai {args.version} into the scratch venv failed:\n{tail}\n"
            "offline, pass --wheel PATH or --find-links DIR holding it (pip download "
            f"--no-deps google-genai=={args.version} on a connected machine)"
        )
    got = subprocess.run(  # noqa: S603 - the venv's own interpreter
        [str(python), "-c", "from google.genai import version; print(version.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    if got.stdout.strip() != args.version:
        raise GoldenPathError(
            f"the scratch venv imports google-genai {got.stdout.strip() or '(none)'}, not "
            f"{args.version}: {got.stderr.strip()[-300:]}"
        )


def _probe_both(
    python: Path, scratch: Path, wheels: Path | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the probe in the scratch venv and here at the same time; their JSON reports."""
    from golden_path.exceptions import GoldenPathError

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GOOGLE_", "GEMINI_", "GOLDEN_PATH_"))
    }
    extra = [str(wheels.resolve())] if wheels is not None else []
    running = [
        subprocess.Popen(  # noqa: S603 - our own interpreters and module
            [str(exe), "-m", "golden_path._upgrade", *extra],
            cwd=scratch,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for exe in (python, Path(sys.executable))
    ]
    reports = []
    for process, side in zip(running, ("candidate", "pin"), strict=True):
        out, err = process.communicate(timeout=_TIMEOUT_S)
        if process.returncode != 0:
            raise GoldenPathError(f"the {side} probe failed: {err.strip()[-800:]}")
        reports.append(json.loads(out))
    return reports[0], reports[1]


def _print_report(
    candidate: dict[str, Any],
    pin: dict[str, Any],
    passed: bool,
    reasons: list[str],
    changes: dict[str, Any],
) -> None:
    print(
        f"golden-path upgrade-check: google-genai {candidate['sdk']} "
        f"({candidate['placement']}) against {pin['sdk']} ({pin['placement']})"
    )
    print(f"verdict: {'PASS' if passed else 'FAIL'}")
    for reason in reasons:
        print(f"  - {reason}")
    surface = candidate["surface"]
    print(
        f"\nroute table: {len(surface['methods'])} public SDK methods "
        f"({len(pin['surface']['methods'])} on {pin['sdk']}), "
        f"{len(surface['ungoverned'])} ungoverned"
    )
    for method in surface["ungoverned"]:
        print(f"  ungoverned: {method}")
    print(f"  added: {', '.join(changes['added_methods']) or 'none'}")
    print(f"  removed: {', '.join(changes['removed_methods']) or 'none'}")
    wire = candidate["wire"]
    print(f"\nwire (emulator, both backends): {sum(c['ok'] for c in wire)}/{len(wire)} ok")
    for check in wire:
        state = "ok" if check["ok"] else f"FAIL: {check['problem']}"
        print(
            f"  {check['call']:<34} {check.get('request', '-')}  "
            f"{check.get('api_version', '-')} {check.get('auth', '-')}  {state}"
        )
    print(f"  changes against {pin['sdk']}: {'; '.join(changes['wire_changes']) or 'none'}")
    print(f"\nwarnings: {'; '.join(candidate['warnings']) or 'none'}")
    print(f"  new against {pin['sdk']}: {'; '.join(changes['new_warnings']) or 'none'}")
    print("\nconformance: no conformance suite in this golden-path version")
    print("\nframeworks (the google-genai range each package declares):")
    for extra, found in candidate["frameworks"].items():
        print(f"  [{extra}] {found['package']}: {found['status']} ({found.get('detail', '')})")
    if changes["framework_changes"]:
        print(f"  changes against {pin['sdk']}: {'; '.join(changes['framework_changes'])}")
