"""pytest plugin: google-genai's bundled tests, with their ``client`` fixture made golden-path's.

Loaded by ``python -m golden_path.emulator.conformance`` (``-p`` on the pytest command line)
into a run of ``google/genai/tests`` from the installed wheel, in ``--mode api``. The suite's
own ``client`` fixture builds a replay client; this plugin answers that fixture instead with
``golden_path.create_client()`` on the emulator named by ``GP_CONFORMANCE_URL``: AI
Studio (API key) or Vertex AI (a service-account key whose token endpoint is the emulator), as
the test's ``use_vertex`` parameter asks. The suite's harness also calls two replay-only
methods on ``client._api_client`` (``initialize_replay_session``; ``_mode``/``_private`` are
read); in api mode they do nothing, so the adapter gives the client no-op versions of them.
Every request still goes through golden-path's governed transport.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

_URL_VAR = "GP_CONFORMANCE_URL"
_KEY_FILE_VAR = "GP_CONFORMANCE_KEY_FILE"
_REPORT_VAR = "GP_CONFORMANCE_REPORT"
PROJECT = "emu-project"
LOCATION = "us-central1"

_results: list[dict[str, Any]] = []


def _golden_path_client(use_vertex: bool, http_options: Any) -> Any:
    from golden_path import _factory

    url = os.environ[_URL_VAR]
    common: dict[str, Any] = {
        "base_url": url,
        "audit_sink": "none",
        "policy_file": os.environ.get("GP_CONFORMANCE_POLICY"),
        "retry_attempts": 1,
    }
    if use_vertex:
        client = _factory.create_client(
            backend="vertex",
            project=PROJECT,
            location=LOCATION,
            credentials_file=os.environ[_KEY_FILE_VAR],
            **common,
        )
    else:
        client = _factory.create_client(backend="ai_studio", api_key="test-key", **common)
    api: Any = client._api_client
    if http_options is not None:
        given = http_options if isinstance(http_options, dict) else http_options.model_dump()
        changes = {
            k: v
            for k, v in given.items()
            if v is not None and k not in ("httpx_client", "httpx_async_client", "headers")
        }
        if "base_url" in changes and changes["base_url"] is not None:
            changes.pop("base_url")  # the suite's custom URLs name Google; keep the emulator
        api._http_options = api._http_options.model_copy(update=changes)
        if given.get("headers"):
            api._http_options.headers = {**(api._http_options.headers or {}), **given["headers"]}
    # The replay harness's hooks: no-ops in api mode.
    api.initialize_replay_session = lambda replay_id: None
    api._mode = "api"
    api._private = False
    api._replay_id = ""
    return client


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(fixturedef: Any, request: Any) -> Any:
    """Answer the suite's ``client`` fixture with golden-path's client."""
    if fixturedef.argname != "client" or "google/genai/tests" not in str(request.path):
        return None
    use_vertex = bool(request.getfixturevalue("use_vertex"))
    try:
        http_options = request.getfixturevalue("http_options")
    except pytest.FixtureLookupError:
        http_options = None
    client = _golden_path_client(use_vertex, http_options)

    def close() -> None:
        client._api_client.close()

    fixturedef.addfinalizer(close)
    my_cache_key = fixturedef.cache_key(request)
    fixturedef.cached_result = (client, my_cache_key, None)
    return client


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Keep each test's outcome and, for failures, the last line of the reason."""
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        reason = ""
        if report.outcome == "failed":
            reason = _reason(report)
        elif report.outcome == "skipped" and isinstance(report.longrepr, tuple):
            reason = str(report.longrepr[2])
        _results.append({"id": report.nodeid, "outcome": report.outcome, "reason": reason})


def _reason(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    return " ".join(text.split())[:300]


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the outcomes where the conformance command reads them."""
    path = os.environ.get(_REPORT_VAR)
    # Under xdist the controller sees every worker's reports; only it writes.
    if path and not os.environ.get("PYTEST_XDIST_WORKER"):
        with open(path, "w", encoding="utf-8") as out:
            json.dump(_results, out)


def iter_results() -> Iterator[dict[str, Any]]:
    """The outcomes recorded so far (for in-process use)."""
    yield from _results
