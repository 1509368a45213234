"""pytest plugin: google-genai's bundled tests, with their ``client`` fixture made golden-path's.

Loaded by ``python -m golden_path.emulator.conformance`` (``-p`` on the pytest command line)
into a run of ``google/genai/tests`` from the installed wheel, in ``--mode api``. The suite's
own ``client`` fixture builds a replay client; this plugin answers that fixture instead with
``golden_path.create_client()`` on this process's emulator (see below): AI
Studio (API key) or Vertex AI (a service-account key whose token endpoint is the emulator), as
the test's ``use_vertex`` parameter asks. The suite's harness also calls two replay-only
methods on ``client._api_client`` (``initialize_replay_session``; ``_mode``/``_private`` are
read); in api mode they do nothing, so the adapter gives the client no-op versions of them.
Every request still goes through golden-path's governed transport.

Each pytest process (each xdist worker) runs its own emulator, and every test starts with the
resources of :data:`SUITE_PROJECT` seeded (``Emulator.seed``): the suite was recorded against
Google's test projects, and its tests name their caches, files, batches, tuning jobs and
operations by id. Seeding them again before each test puts back what an earlier test deleted
or changed, as a project left as recorded would be.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from golden_path.emulator import Emulator

_REPORT_VAR = "GP_CONFORMANCE_REPORT"
PROJECT = "emu-project"
LOCATION = "us-central1"

_results: list[dict[str, Any]] = []
_emulator: list[tuple[Emulator, str]] = []
"""This process's emulator and its service-account key file, started on first use."""

_V = f"projects/{PROJECT}/locations/{LOCATION}"
_MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom\x00\x00\x00\x08free"
_BATCH_LINE = '{"key": "1", "request": {"contents": [{"parts": [{"text": "Hello"}]}]}}\n'
_EMBED_LINE = '{"key": "1", "request": {"content": {"parts": [{"text": "Hello"}]}}}\n'
SUITE_PROJECT: dict[str, dict[str, Any]] = {
    # Gemini API (the suite's AI Studio project)
    "cachedContents/o239k1gxzz0juy9wqstndhncr85krehehf551hqh": {},
    "cachedContents/idv6zldt3p2f1lbm31vn41tx2ld42qngpcnka2s3": {},
    "files/vjvu9fwk2qj8": {}, "files/1g583ke2xdsn": {}, "files/n1gls7dyh90q": {},
    "files/s0pa54alni6w": {"mimeType": "application/jsonl", "data": _BATCH_LINE.encode()},
    "files/mq9e3mg3u2y5": {"mimeType": "application/jsonl", "data": _EMBED_LINE.encode()},
    "batches/z2p8ksus4lyxt25rntl3fpd67p2niw4hfij5": {},
    "batches/0yew7plxupyybd7appsrq5vw7w0lp3l79lab": {},
    "batches/70h2jo0ic2t1zejyl0p4jgi8mk1gj0wvjusv": {},
    "batches/wdx71o8cgbzoa6gg3be1mg7g8ulrhapcjgo3": {"embed": True},
    "batches/507oatd242het8ox60pwsmn7tcmtkrj8itff": {"embed": True, "responses": "file"},
    "models/veo-3.1-generate-preview/operations/vz341u0pmdlc": {},
    "tunedModels/generate-num-1896": {}, "tunedModels/generate-num-888": {},
    "tunedModels/generate-num-9598": {},
    "tunedModels/generatenum5443-ekrw7ie9wis23zbeogbw6jq8": {},
    "tunedModels/testdatasetexamples-model-j0fpgpaksvri": {},
    # Vertex AI: the suite's project by number, and the same ids under the client's project
    # (Google accepts a project's id and number alike; the emulator knows only names).
    f"{_V}/cachedContents/2164089915711684608": {},
    "projects/964831358985/locations/us-central1/cachedContents/2164089915711684608": {},
    "projects/964831358985/locations/us-central1/cachedContents/8163416782997028864": {},
    f"{_V}/cachedContents/8163416782997028864": {},
    f"{_V}/batchPredictionJobs/5798522612028014592": {
        "outputConfig": {"vertexMultimodalDatasetDestination": {"displayName": "results"}}
    },
    f"{_V}/batchPredictionJobs/6339625664542408704": {},
    f"{_V}/batchPredictionJobs/7085929781874655232": {},
    "projects/964831358985/locations/us-central1/batchPredictionJobs/7085929781874655232": {},
    f"{_V}/models/2171259487439028224": {}, f"{_V}/models/7687416965014487040": {},
    f"{_V}/models/8533706666867163136": {}, f"{_V}/models/1071206899942162432": {},
    "projects/801452371447/locations/us-central1/tuningJobs/4303478340632707072": {},
    "projects/801452371447/locations/us-central1/tuningJobs/8520221517529743360": {},
    "projects/801452371447/locations/us-central1/tuningJobs/2470687341547618304": {},
    "projects/801452371447/locations/us-central1/models/9030969596621881344": {},
    "projects/801452371447/locations/us-central1/endpoints/4095574160837705728": {},
    f"{_V}/operations/3787416390563004416": {},
    # Last, so it is the newest file: files/test_download takes the project's newest
    # downloadable file to be a video a model generated.
    "files/generatedvideo1": {"mimeType": "video/mp4", "source": "GENERATED", "data": _MP4},
}  # fmt: skip
"""Resources of Google's test projects that the suite's tests name (read from its sources)."""


def _emu() -> tuple[Emulator, str]:
    if not _emulator:
        from golden_path.emulator import Emulator

        emu = Emulator().start()
        key_file = Path(tempfile.mkdtemp(prefix="gp-conformance-key-")) / "sa.json"
        emu.create_service_account_key(key_file)
        _emulator.append((emu, str(key_file)))
    return _emulator[0]


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop this process's emulator."""
    import shutil

    while _emulator:
        emu, key_file = _emulator.pop()
        emu.stop()
        shutil.rmtree(Path(key_file).parent, ignore_errors=True)


def _golden_path_client(use_vertex: bool, http_options: Any) -> Any:
    from golden_path import _factory

    emu, key_file = _emu()
    for name, fields in SUITE_PROJECT.items():
        emu.seed(name, **fields)
    url = emu.url
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
            credentials_file=key_file,
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


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """A module that cannot even be imported counts as one failure, so it is not left out."""
    if report.failed and not any(r["id"] == report.nodeid for r in _results):
        text = " ".join(str(report.longrepr).split())
        reason = text[text.rfind(" E ") + 3 :] if " E " in text else text
        _results.append(
            {
                "id": report.nodeid,
                "outcome": "failed",
                "reason": f"collection error: {reason[:280]}",
            }
        )


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
