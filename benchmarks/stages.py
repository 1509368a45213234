"""Where a governed call's time goes: golden-path's lifecycle, one stage at a time.

The SDK builds one real ``generate_content`` request (captured once, not sent); each round
then drives a fresh copy of it through the same steps ``GovernedTransport.handle_request``
takes, on the client's own Pipeline and connection pool, timing each step on its own:
classify (the route table lookup), the request model (Call construction: classify, body
decode, model from the body), identification, each policy's ``on_request``, serialise, send
(the wire and the server), parse, each policy's ``on_response``, and the audit event (build,
render, write). This mirrors the transport step by step, so a change to ``Call`` that these
private names no longer fit fails the benchmark's smoke test rather than going unmeasured.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx2

from benchmarks._variants import API_KEY, DEFAULT_POLICIES, MODEL, SMALL_PROMPT

__all__ = ["measure"]

ns = time.perf_counter_ns


def _capture(url: str, prompt: str) -> httpx2.Request:
    """The request the SDK builds for one ``generate_content``, as it reaches a transport."""
    from google import genai
    from google.genai import types

    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        request.read()
        seen.append(request)
        return httpx2.Response(200, json={"candidates": []})

    client = genai.Client(
        api_key=API_KEY,
        http_options=types.HttpOptions(
            base_url=url, client_args={"transport": httpx2.MockTransport(handler)}
        ),
    )
    client.models.generate_content(model=MODEL, contents=prompt)
    return seen[0]


def measure(url: str, audit_file: str, n: int, prompt: str = SMALL_PROMPT) -> dict[str, Any]:
    """Median microseconds per stage of ``n`` governed calls (shipped policies, audit to a file)."""
    import golden_path as gp
    from golden_path._model import GenAIResponse, usage_from
    from golden_path._routes import classify
    from golden_path._transport._decode import decode, parse_json

    client = gp.create_client(
        backend="ai_studio",
        api_key=API_KEY,
        base_url=url,
        audit_sink=f"file:{audit_file}",
        policy_file=DEFAULT_POLICIES,
        app="bench-app",
        team="bench-team",
    )
    transport = client._api_client._httpx_client._transport
    pipeline = transport.pipeline
    chain = pipeline.chain
    inner = transport._transport()
    template = _capture(url, prompt)
    body = template.content
    raw_path, _, query = template.url.raw_path.decode("ascii").partition("?")
    names = [getattr(p, "name", type(p).__name__) for p, _ in chain._request]
    after = {
        id(p): hook for p, hook in ((p, chain._response.get(id(p))) for p, _ in chain._request)
    }
    stages: dict[str, list[float]] = {}

    def add(stage: str, t0: int, t1: int) -> None:
        stages.setdefault(stage, []).append((t1 - t0) / 1000)

    for i in range(n + 5):  # the first five warm caches and the pool
        request = httpx2.Request(
            template.method, template.url, headers=template.headers.copy(), content=body
        )
        t0 = ns()
        classify(template.method, raw_path, query)
        t1 = ns()
        call = pipeline.start(request)
        t2 = ns()
        call._identify(call.request.headers)
        call._pinned()
        t3 = ns()
        timed = [("classify", t0, t1), ("request model", t1, t2), ("identify", t2, t3)]
        entered: list[Any] = []
        for (policy, hook), name in zip(chain._request, names, strict=True):
            entered.append(policy)
            a = ns()
            hook(call.request)
            timed.append((f"before: {name}", a, ns()))
        call.entered = entered
        a = ns()
        outgoing = call._outgoing()
        b = ns()
        response = inner.handle_request(outgoing)
        raw = b"".join(response.iter_raw())
        response.close()
        c = ns()
        call.first_byte = time.perf_counter()
        parsed = parse_json(decode(raw, response.headers.get("content-encoding")))
        call.response = answer = GenAIResponse(
            status_code=response.status_code,
            headers=response.headers,
            body=parsed,
            usage=usage_from(parsed),
        )
        d = ns()
        timed += [("serialise", a, b), ("send (wire + server)", b, c), ("parse", c, d)]
        for policy, name in zip(reversed(entered), reversed(names), strict=True):
            hook = after.get(id(policy))
            if hook is not None:
                a = ns()
                hook(call.request, answer)
                timed.append((f"after: {name}", a, ns()))
        a = ns()
        call._finish("ok")
        timed.append(("audit (build, render, write)", a, ns()))
        if i >= 5:
            for stage, start, end in timed:
                add(stage, start, end)
    client.close()
    return {stage: statistics.median(values) for stage, values in stages.items()}
