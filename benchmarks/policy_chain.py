"""What the policy chain costs per request, with every built-in on and a 10 KB prompt.

    python benchmarks/policy_chain.py

``measure(n)`` builds a realistic generateContent request (a 10 KB prompt of prose with a few
numbers, a system instruction, a generation config) and times, per request:

* ``bare_us``: what the transport does without policies (build the GenAIRequest, serialise);
* ``chain_us``: the same plus ``chain.before`` and ``chain.after_response`` with every
  built-in on (models + alias, generation, safety, tools, vertex, labels, pii, limits);
* ``pii_us``: the PII scan alone on the prompt.

Medians in microseconds; ``overhead_us`` = chain - bare, ``ratio`` = chain / bare.
No network: the chain's cost is what is measured, not the emulator's.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

# Every built-in of issue 4 (rate limits and budgets are issue 6's, measured by limiter.py).
POLICY_FILE = Path(__file__).resolve().parent / "all_builtins" / "10-builtins.toml"

_SENTENCE = (
    "Summarise the customer feedback from the third quarter of 2025 for the product "
    "team, grouping the 214 comments by theme and noting version 2.5.1 regressions. "
)


def _prompt(size: int = 10_000) -> str:
    return (_SENTENCE * (size // len(_SENTENCE) + 1))[:size]


def _body() -> bytes:
    return json.dumps(
        {
            "contents": [{"role": "user", "parts": [{"text": _prompt()}]}],
            "systemInstruction": {"parts": [{"text": "You are a careful analyst."}]},
            "generationConfig": {"temperature": 0.2, "maxOutputTokens": 2048},
        },
        separators=(",", ":"),
    ).encode()


def _request(raw: bytes) -> Any:
    import httpx2

    from golden_path._routes import classify
    from golden_path.policies import GenAIRequest, Identity

    url = httpx2.URL(
        "https://europe-west4-aiplatform.googleapis.com/v1beta1/projects/p/"
        "locations/europe-west4/publishers/google/models/gemini-2.5-flash"
        ":generateContent"
    )
    wire = classify("POST", url.path)
    identity = Identity(
        app="chat",
        team="ml",
        client_id="acme-golden-path/1.0",
        backend="vertex",
        project="p",
        location="europe-west4",
    )
    return GenAIRequest(
        request_id="bench",
        identity=identity,
        method="POST",
        url=url,
        headers=httpx2.Headers({"content-type": "application/json"}),
        raw=raw,
        surface=wire.surface,
        api_method=wire.api_method,
        model=wire.model,
        stream=wire.stream,
    )


def measure(n: int = 2000) -> dict[str, Any]:
    """Median microseconds per request: bare, with every built-in, and the PII scan alone."""
    from golden_path._pii import find
    from golden_path.policies import GenAIResponse
    from golden_path.policies._loader import load_policy_set

    chain = load_policy_set([POLICY_FILE]).chain()
    raw = _body()
    response = GenAIResponse(status_code=200, headers={})
    prompt = _prompt()

    def bare() -> None:
        _request(raw).serialize()

    def governed() -> None:
        request = _request(raw)
        entered = chain.before(request)
        request.serialize()
        chain.after_response(entered, request, response)

    def pii() -> None:
        find(prompt)

    results: dict[str, Any] = {"n": n, "prompt_bytes": len(prompt), "policies": list(chain.names)}
    for name, fn in (("bare_us", bare), ("chain_us", governed), ("pii_us", pii)):
        for _ in range(min(200, n)):
            fn()
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - start) * 1e6)
        results[name] = round(statistics.median(samples), 1)
    results["overhead_us"] = round(results["chain_us"] - results["bare_us"], 1)
    results["ratio"] = round(results["chain_us"] / results["bare_us"], 2)
    return results


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    print(json.dumps(measure(count), indent=2))
