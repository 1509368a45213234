"""Run google-genai's own test suite against the emulator, through golden-path's client.

    python -m golden_path.emulator.conformance [--modules files,caches,...] [-n 2] [--json PATH]

The installed google-genai wheel ships its tests (``google/genai/tests``). This command starts
a child pytest (``--mode api``) on those tests, with their ``client`` fixture answered by
``golden_path.create_client()`` on an :class:`~golden_path.emulator.Emulator` in that process,
for AI Studio and for Vertex AI (see ``_conformance_plugin``), and prints passed / failed per
module with each failure and its reason. It exits 0 when the pass rate is at least
``--target`` percent (default 95) of the tests that ran, 1 otherwise, 2 on a usage error.

The suite needs pytest-asyncio, Pillow and mcp (golden-path's ``conformance`` extra). Unless
this interpreter has them all, the child runs in a side venv (``GP_CONFORMANCE_VENV``, default
``~/.cache/golden-path/conformance-venv``) that sees this interpreter's packages and adds just
those, installed with pip when the extra changes: pytest-asyncio warns at configure time when
its loop scope is unset, which breaks any pytest run configured with ``filterwarnings = error``,
so it is kept out of the main environment.
"""

from __future__ import annotations

import argparse
import collections
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_MODULES = (
    "models",
    "files",
    "caches",
    "batches",
    "tunings",
    "operations",
    "tokens",
    "chats",
    "afc",
    "live",
    "interactions",
    "errors",
)
"""The suite's packages for the routes the emulator serves (``--modules all`` runs every one)."""


def _suite_root() -> Path:
    import google.genai

    return Path(google.genai.__file__).parent


def _side_requirements() -> list[str]:
    """The ``conformance`` extra of golden-path's own metadata: one list, in pyproject.toml."""
    wanted = []
    for requirement in importlib.metadata.requires("golden-path") or []:
        spec, _, marker = requirement.partition(";")
        if "extra" in marker and '"conformance"' in marker.replace("'", '"'):
            wanted.append(spec.strip())
    return wanted


_SIDE_MODULES = ("pytest_asyncio", "PIL", "mcp")
"""What the ``conformance`` extra adds, by import name: with all of them, no side venv."""


def suite_python() -> str:
    """An interpreter that can run the suite: this one, or the side venv (built on first use).

    The side venv is (re)filled whenever golden-path's ``conformance`` extra differs from what
    it was built with, so a venv built before the extra grew gets the new packages.
    """
    if all(importlib.util.find_spec(m) for m in _SIDE_MODULES):
        return sys.executable
    default = Path.home() / ".cache" / "golden-path" / "conformance-venv"
    venv = Path(os.environ.get("GP_CONFORMANCE_VENV") or default)
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # noqa: S603
    side = subprocess.run(  # noqa: S603
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    import golden_path

    # The side venv sees this interpreter's packages and golden-path's source, after its own.
    # A site directory, not a bare path: its .pth files run too (an editable install's, and
    # coverage's, so a measured test run measures the suite's processes like any other).
    purelib = sysconfig.get_paths()["purelib"]
    lines = [
        f"import site; site.addsitedir({purelib!r})",
        str(Path(golden_path.__file__).parents[1]),
    ]
    Path(side, "golden_path_parent.pth").write_text("\n".join(lines) + "\n", encoding="utf-8")
    requirements = _side_requirements()
    wanted = "\n".join(requirements) + "\n"
    ready = venv / ".ready"
    if not ready.exists() or ready.read_text(encoding="utf-8") != wanted:
        # The .pth above is in place first, so pip sees this interpreter's packages as
        # installed: it adds only what they lack (mcp's starlette, ...), never a second pytest.
        subprocess.run(  # noqa: S603 -- pip installing golden-path's declared extra
            [str(python), "-m", "pip", "install", "-q", *requirements], check=True
        )
        ready.write_text(wanted, encoding="utf-8")
    return str(python)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m golden_path.emulator.conformance",
        description="Run google-genai's bundled tests against the emulator via golden-path.",
    )
    parser.add_argument(
        "--modules",
        default=",".join(DEFAULT_MODULES),
        help="comma-separated packages of google/genai/tests, or 'all' (default: %(default)s)",
    )
    parser.add_argument("-k", dest="keyword", default=None, help="pytest -k expression")
    parser.add_argument("-n", dest="workers", type=int, default=1, help="pytest-xdist workers")
    parser.add_argument("--json", dest="json_path", default=None, help="write results here")
    parser.add_argument("--target", type=float, default=95.0, help="pass rate to reach, percent")
    parser.add_argument("--quiet", action="store_true", help="print only the summary table")
    return parser


def run(
    modules: Sequence[str], *, keyword: str | None = None, workers: int = 1
) -> list[dict[str, Any]]:
    """Run the chosen packages of the suite; return one dict per test (id, outcome, reason)."""
    # The plugin starts an emulator in each pytest process, so each seeds its own resources.
    with tempfile.TemporaryDirectory(prefix="gp-conformance-") as tmp:
        work = Path(tmp)
        # The suite runs from a copy of the installed package (first on the child's path, so
        # golden-path and the tests share it) with the data files the wheel leaves out put
        # back next to the modules that read them at import.
        root = work / "suite" / "google" / "genai"
        shutil.copytree(_suite_root(), root, ignore=shutil.ignore_patterns("__pycache__"))
        _write_data_files(root / "tests" / "data")
        tests = root / "tests"
        report = work / "report.json"
        ini = work / "pytest.ini"
        ini.write_text(
            # Namespace packages: the suite imports as google.genai.tests.*, so its types are the
            # SDK's own (isinstance checks on what the client returns hold).
            "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
            "consider_namespace_packages = true\n",
            encoding="utf-8",
        )
        targets = [str(tests / m) for m in modules]
        _write_data_files(work / "tests" / "data")
        policy = work / "policy.toml"
        policy.write_text(SUITE_POLICY, encoding="utf-8")
        command = [
            suite_python(), "-m", "pytest", *targets, "-c", str(ini), "--rootdir", str(root),
            "-p", "golden_path.emulator._conformance_plugin", "-p", "no:cacheprovider",
            "-p", "no:randomly", "--mode", "api", "-q", "--no-header", "-rN", "--tb=no",
            "--continue-on-collection-errors",
        ]  # fmt: skip
        if keyword:
            command += ["-k", keyword]
        if workers > 1:
            command += ["-n", str(workers)]
        env = {
            **os.environ,
            "GP_CONFORMANCE_REPORT": str(report),
            "GP_CONFORMANCE_POLICY": str(policy),
            "GOOGLE_GENAI_REPLAYS_DIRECTORY": str(work / "replays"),
            "GOOGLE_API_KEY": "test-key",
            "GOOGLE_CLOUD_PROJECT": "emu-project",
            "GOOGLE_CLOUD_LOCATION": "us-central1",
            "GOLDEN_PATH_VERSION_DRIFT": "warn",
            # The suite runs from google/genai (its tests open tests/data/...), where types.py
            # would shadow the standard library's types for every process, xdist workers too.
            "PYTHONSAFEPATH": "1",
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(work / "suite"), os.environ.get("PYTHONPATH")) if p
            ),
        }
        # Nothing of an enclosing pytest run (an xdist worker's id would stop the report).
        for name in ("GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GEMINI_BASE_URL", "PYTEST_XDIST_WORKER",
                     "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID",
                     "PYTEST_CURRENT_TEST", "PYTEST_ADDOPTS"):  # fmt: skip
            env.pop(name, None)
        # The suite opens tests/data/... relative to the working directory.
        subprocess.run(  # noqa: S603 -- our own interpreter running pytest
            command, cwd=work, env=env, check=False, stdout=subprocess.DEVNULL
        )
        if not report.exists():
            return []
        results: list[dict[str, Any]] = json.loads(report.read_text(encoding="utf-8"))
        return results


SUITE_POLICY = """\
# The suite mints ephemeral Live tokens and creates batches from GCS, BigQuery and datasets:
# golden-path refuses both by default, so the platform opts in, as a platform team would.
[routes]
ephemeral_token_max_s = 1800

[batches]
sources = ["inline", "uploaded", "files", "gcs", "bigquery", "dataset"]
"""


def _write_data_files(data: Path) -> None:
    """Small stand-ins for the suite's data files, which the wheel leaves out.

    The tests upload them or send them inline; the emulator checks sizes and MIME types, not
    pixels, so a valid file of the right type is enough.
    """
    from golden_path.emulator._png import JPEG, png

    data.mkdir(parents=True, exist_ok=True)
    mp4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom\x00\x00\x00\x08free"
    files = {
        "google.png": png("google", 16),
        "a-man-and-a-dog.png": png("a man and a dog", 16),
        "story.pdf": b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
        "story.txt": b"Once upon a time, a golden path led to a model.\n",
        "animal.mp4": mp4,
        "pixel.m4a": b"\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00M4A isom",
        "voice_sample.wav": b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00"
        b"\x80>\x00\x00\x00}\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00",
    }
    # Images the suite edits, segments or describes: valid PNGs and JPEGs, which Pillow opens
    # (the suite does), though the emulator reads no pixels.
    for name in ("checkerboard.png", "bridge1.png", "google_homepage.png"):
        files.setdefault(name, png(name, 16))
    for name in ("google.jpg", "dog.jpg", "man.jpg", "skateboard_stop_sign.jpg",
                 "segmentation_scribble.jpg"):  # fmt: skip
        files[name] = JPEG
    for name, content in files.items():
        (data / name).write_bytes(content)


GOVERNED = ("Name or service not known", "denied by policy")
"""Reasons of tests golden-path refuses by design: a per-call base_url naming another host
(Google's sandbox or production), ephemeral tokens bound to no model, and so on."""


CAUSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("golden-path policy: credentials go only to the configured endpoint (the test names "
     "Google's production or sandbox host)", ("credentials go only to", "Name or service not")),
    ("golden-path policy: a path no route of golden-path's table matches (fail closed)",
     ("is not a route golden-path knows",)),
    ("golden-path policy: other refusals (ephemeral tokens bound to no model)",
     ("denied by policy",)),
    ("golden-path's async transport is httpx, which lowercases response header names (the test "
     "expects aiohttp's case)", ("assert 'Content-Type' in", "assert 'Content-Encoding' in")),
    ("the emulator is http://127.0.0.1, not https://*.googleapis.com (the test compares URLs)",
     ("== 'https://", "assert 'http://127.0", "wss://client")),
    ("the test reads a data file the wheel leaves out, next to its own module",
     ("FileNotFoundError",)),
    ("the module imports an optional package the suite's extras do not install (mcp)",
     ("No module named 'mcp'",)),
    ("the test builds its own client or mocks the SDK's transport (not golden-path's client)",
     ("DefaultCredentialsError", "'coroutine' object has no attribute")),
)  # fmt: skip
"""Why suite tests fail, matched on the failure's reason, first match wins; else "emulator gap"."""


def cause_of(reason: str) -> str:
    """The :data:`CAUSES` label of a failure's reason, or ``emulator gap``."""
    for label, needles in CAUSES:
        if any(needle in reason for needle in needles):
            return label
    return "emulator gap"


def module_of(test_id: str) -> str:
    """``tests/files/test_upload.py::test_x[...]`` -> ``files/test_upload``."""
    path = test_id.split("::", 1)[0]
    parts = path.removesuffix(".py").split("/")
    return "/".join(parts[-2:])


def summarise(results: list[dict[str, Any]]) -> dict[str, collections.Counter[str]]:
    """Count outcomes per module."""
    table: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for result in results:
        table[module_of(result["id"])][result["outcome"]] += 1
    return dict(sorted(table.items()))


def render(results: list[dict[str, Any]], *, quiet: bool = False) -> tuple[str, float]:
    """The printed report and the pass rate (percent of tests that passed or failed)."""
    lines = [f"{'module':<52} {'passed':>6} {'failed':>6} {'skipped':>7}"]
    totals: collections.Counter[str] = collections.Counter()
    for module, counts in summarise(results).items():
        totals.update(counts)
        lines.append(
            f"{module:<52} {counts['passed']:>6} {counts['failed']:>6} {counts['skipped']:>7}"
        )
    ran = totals["passed"] + totals["failed"]
    rate = 100.0 * totals["passed"] / ran if ran else 0.0
    elsewhere = sum(
        1
        for r in results
        if r["outcome"] == "failed" and any(reason in r["reason"] for reason in GOVERNED)
    )
    local = ran - elsewhere
    local_rate = 100.0 * totals["passed"] / local if local else 0.0
    lines.append(
        f"{'total':<52} {totals['passed']:>6} {totals['failed']:>6} {totals['skipped']:>7}"
    )
    lines.append(f"pass rate: {rate:.1f}% of {ran} tests run")
    lines.append(
        f"pass rate without the {elsewhere} tests golden-path's policies refuse by design "
        f"(other hosts, unconstrained tokens): {local_rate:.1f}% of {local}"
    )
    causes = collections.Counter(cause_of(r["reason"]) for r in results if r["outcome"] == "failed")
    if causes:
        lines.append("failures by cause:")
        lines += [f"  {count:>4}  {label}" for label, count in causes.most_common()]
    if not quiet:
        failures = [r for r in results if r["outcome"] == "failed"]
        if failures:
            lines.append("")
            lines.append("failures:")
            lines += [f"  {r['id']}\n      {r['reason']}" for r in failures]
    return "\n".join(lines), local_rate


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m golden_path.emulator.conformance``."""
    args = _parser().parse_args(argv)
    tests = _suite_root() / "tests"
    modules = (
        sorted(p.name for p in tests.iterdir() if p.is_dir() and not p.name.startswith("_"))
        if args.modules == "all"
        else [m.strip() for m in args.modules.split(",") if m.strip()]
    )
    unknown = [m for m in modules if not (tests / m).is_dir()]
    if unknown:
        print(
            f"conformance: no such package in {tests}: {', '.join(unknown)}; "
            "pass names of its subdirectories, e.g. --modules files,caches",
            file=sys.stderr,
        )
        return 2
    results = run(modules, keyword=args.keyword, workers=args.workers)
    if not results:
        print("conformance: the suite ran no tests (see pytest's output above)", file=sys.stderr)
        return 1
    text, rate = render(results, quiet=args.quiet)
    print(text)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0 if rate >= args.target else 1


if __name__ == "__main__":
    raise SystemExit(main())
