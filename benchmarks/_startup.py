"""Cold start and memory: fresh interpreters, interleaved, one statement each.

Each child runs the statement under test, prints the wall clock (the parent noted it just
before spawning, so the difference is spawn -> ready, interpreter start-up included), then makes
one call to the benchmark server and prints its peak RSS. Interpreter shut-down is not timed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from benchmarks._guard import CHILD_PRELUDE, ENV
from benchmarks._variants import API_KEY, MODEL


@dataclass(frozen=True)
class Child:
    key: str
    label: str
    statement: str  # what is timed, as the README shows it
    call: str  # one request afterwards, for RSS
    env: dict[str, str]


def children(url: str, litellm_available: bool) -> list[Child]:
    found = [
        Child(
            "raw",
            "raw: `from google import genai; genai.Client(api_key=...)`",
            f"from google import genai; c = genai.Client(api_key={API_KEY!r}, "
            f"http_options={{'base_url': {url!r}}})",
            f"c.models.generate_content(model={MODEL!r}, contents='hi')",
            {},
        ),
        Child(
            "gp",
            "golden-path: `import golden_path; golden_path.client()`",
            "import golden_path; c = golden_path.client()",
            f"c.models.generate_content(model={MODEL!r}, contents='hi')",
            {
                "GOLDEN_PATH_BACKEND": "ai_studio",
                "GOLDEN_PATH_API_KEY": API_KEY,
                "GOLDEN_PATH_BASE_URL": url,
                "GOLDEN_PATH_AUDIT_SINK": "none",
            },
        ),
    ]
    if litellm_available:
        found.append(
            Child(
                "litellm",
                "LiteLLM: `import litellm`",
                "import litellm",
                f"litellm.completion(model='gemini/{MODEL}', api_base={url + '/v1beta'!r}, "
                f"api_key={API_KEY!r}, messages=[{{'role': 'user', 'content': 'hi'}}])",
                {},
            )
        )
    return found


def _script(child: Child) -> str:
    return (
        CHILD_PRELUDE + child.statement + "\n"
        "import time as _t; print(_t.time(), flush=True)\n" + child.call + "\n"
        # VmHWM, not getrusage: ru_maxrss survives exec, so a child would report the
        # parent's peak (Linux carries it over in the signal struct).
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
        "\n"
    )


def _environment(extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GOOGLE_", "GEMINI_", "GOLDEN_PATH_"))
    }
    # Bytecode caches as an installed package has them (pip compiles on install): with
    # PYTHONDONTWRITEBYTECODE inherited, the warm-up writes none, and every child recompiles
    # whichever golden-path module changed since its cache was last written (the SDK's
    # site-packages are compiled): up to ~50 ms a start when none of its modules is cached.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(ENV)
    env.update(extra)
    return env


def run_once(child: Child, cwd: str) -> tuple[float, float]:
    """(seconds spawn -> ready, peak RSS in MiB after one call)."""
    script = _script(child)
    env = _environment(child.env)
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0 or "NETWORK-ESCAPE" in done.stderr:
        raise RuntimeError(
            f"cold-start child {child.key} failed ({done.returncode}):\n" + done.stderr[-2000:]
        )
    ready_line, rss_line = done.stdout.split()[-2:]
    return float(ready_line) - started, int(rss_line) / 1024


def cold_start(
    kids: list[Child], rounds: int, warmup: int = 1
) -> dict[str, tuple[list[float], list[float]]]:
    """Per child: (ready seconds, RSS MiB), ``rounds`` fresh processes each, interleaved."""
    results: dict[str, tuple[list[float], list[float]]] = {c.key: ([], []) for c in kids}
    # An empty directory: no .env or golden-path.toml of the checkout changes the settings.
    with tempfile.TemporaryDirectory(prefix="gp-bench-") as cwd:
        for _ in range(warmup):  # bytecode caches and the page cache, for every contestant
            for child in kids:
                run_once(child, cwd)
        for r in range(rounds):
            shift = r % len(kids)
            for child in kids[shift:] + kids[:shift]:
                ready, rss = run_once(child, cwd)
                results[child.key][0].append(ready)
                results[child.key][1].append(rss)
    return results
