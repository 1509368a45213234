"""The route table: complete against Google's specs and the installed SDK, and matched exactly."""

from __future__ import annotations

import json
import pathlib
import re
from typing import Any

import pytest

from golden_path._routes import ROUTES, UnsafePath, match
from golden_path._sdk_surface import covered_methods, sdk_methods, ungoverned

ROOT = pathlib.Path(__file__).parent.parent.parent
_VARIABLE = re.compile(r"\{([a-zA-Z_.]+)(?:=([^}]*))?\}")


def _instantiate(uri: str) -> str:
    """A concrete path for an HTTP rule: ``{model=models/*}`` -> ``models/x1``."""

    def fill(found: re.Match[str]) -> str:
        pattern = found.group(2)
        if pattern is None:
            return "x1"
        return pattern.replace("**", "x2").replace("*", "x1")

    return _VARIABLE.sub(fill, uri)


def _gemini_rules() -> list[tuple[str, str]]:
    """Every (HTTP method, uri) of the Gemini API that google-ai-generativelanguage publishes."""
    import google.ai.generativelanguage_v1beta as package

    root = pathlib.Path(package.__file__).parent.parent
    rules = set()
    # v1beta2/v1beta3 are the retired PaLM API versions no supported SDK calls (and golden-path
    # refuses: they match no row).
    for version in ("v1", "v1beta", "v1alpha"):
        for path in root.glob(f"generativelanguage_{version}/services/*/transports/rest_base.py"):
            text = path.read_text()
            for found in re.finditer(r'"method": "(\w+)",\s*"uri": "([^"]+)"', text):
                rules.add((found.group(1).upper(), found.group(2)))
    assert len(rules) > 100, "the spec package changed shape; update this reader"
    return sorted(rules)


def test_every_gemini_api_rule_is_a_row() -> None:
    """Each HTTP rule of the Gemini API (v1, v1beta, v1alpha) matches a row, same HTTP method."""
    missing = [
        f"{method} {uri}"
        for method, uri in _gemini_rules()
        if (found := match(method, _instantiate(uri))) is None or found.backend != "gemini"
    ]
    assert missing == []


# Collections of the Vertex AI API that carry the Gemini surface, and the methods in them that
# are administration, not Gemini calls: golden-path refuses those as unknown routes.
_VERTEX_SCOPE = re.compile(
    r"^v1(?:beta1)?/(?:projects/\{projectsId\}/locations/\{locationsId\}/)?"
    r"(?:publishers/\{publishersId\}/models|endpoints|cachedContents|batchPredictionJobs|"
    r"tuningJobs|models)(?:[/:]|$)"
)
_VERTEX_ADMIN = re.compile(
    r":(?:getIamPolicy|setIamPolicy|testIamPermissions|deployModel|undeployModel|"
    r"mutateDeployedModel|update|export|copy|upload|mergeVersionAliases|deleteVersion|"
    r"listVersions|listCheckpoints|updateExplanationDataset|setPublisherModelConfig|"
    r"optimizePrompt|processData|rebaseTunedModel)$"
    r"|/invoke/|/deployedModels/|/google/science/|/evaluations|^v1(?:beta1)?/projects/\{projectsId\}/"
    r"locations/\{locationsId\}/endpoints(?:/\{endpointsId\})?$"
)


def _vertex_methods() -> list[tuple[str, str]]:
    import googleapiclient

    documents = pathlib.Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
    found: set[tuple[str, str]] = set()

    def walk(resource: dict[str, Any]) -> None:
        for method in resource.get("methods", {}).values():
            found.add((method["httpMethod"], method.get("flatPath", method["path"])))
        for child in resource.get("resources", {}).values():
            walk(child)

    for version in ("v1", "v1beta1"):
        walk(json.loads((documents / f"aiplatform.{version}.json").read_text()))
    return sorted(found)


def test_every_vertex_gemini_method_is_a_row() -> None:
    """Each Vertex AI method on the Gemini collections is a row, or is administration."""
    in_scope = [(m, p) for m, p in _vertex_methods() if _VERTEX_SCOPE.match(p)]
    assert len(in_scope) > 100  # the discovery documents changed shape
    missing = [
        f"{method} {path}"
        for method, path in in_scope
        if not _VERTEX_ADMIN.search(path)
        and ((found := match(method, _instantiate("/" + path))) is None or not found.route.vertex)
    ]
    assert missing == []


def test_administration_is_unknown() -> None:
    """Vertex administration methods match no row, so the transport refuses them by default."""
    assert match("POST", "/v1/projects/p/locations/l/endpoints/e1:deployModel") is None
    assert match("POST", "/v1/projects/p/locations/l/models/m:setIamPolicy") is None


def test_every_sdk_method_is_governed() -> None:
    """Every public resource method of google.genai.Client and .aio maps to a row."""
    methods = sdk_methods()
    assert "models.generate_content" in methods
    assert "aio.live.connect" in methods
    assert ungoverned(methods) == []


def test_a_new_sdk_method_is_reported() -> None:
    """A method the table has never heard of is reported as ungoverned."""
    assert ungoverned(["models.generate_content", "aio.models.summon_dragons"]) == [
        "aio.models.summon_dragons"
    ]


def test_every_sdk_name_in_the_table_exists() -> None:
    """No row claims an SDK method the pinned SDK does not have (typos hide gaps)."""
    from google.genai import version

    from golden_path._routes import RETIRED
    from golden_path._version import PINNED_SDK_VERSION

    if version.__version__ != PINNED_SDK_VERSION:
        pytest.skip("names are checked against the pinned SDK; other releases differ by design")
    methods = {m.removeprefix("aio.") for m in sdk_methods()}
    newer = {r for route in ROUTES if route.since for r in route.sdk}  # SDK 3.5+ only
    assert sorted(set(covered_methods()) - methods - newer - set(RETIRED)) == []


def test_docs_page_is_current() -> None:
    """docs/routes.md is what `golden-path routes --markdown` prints."""
    from golden_path._cli.routes import render_markdown

    assert (ROOT / "docs" / "routes.md").read_text() == render_markdown(), (
        "regenerate: golden-path routes --markdown > docs/routes.md"
    )


@pytest.mark.parametrize(
    ("method", "path", "name", "model", "backend"),
    [
        ("POST", "/v1beta/models/gemini-2.5-flash:generateContent", "generateContent",
         "gemini-2.5-flash", "gemini"),
        ("POST", "/v1beta1/projects/p/locations/europe-west4/publishers/google/models/"
         "gemini-2.5-pro:streamGenerateContent", "streamGenerateContent", "gemini-2.5-pro",
         "vertex"),
        ("POST", "/v1beta1/publishers/google/models/g:countTokens", "countTokens", "g", "vertex"),
        ("POST", "/v1beta1/projects/p/locations/l/endpoints/123:generateContent",
         "generateContent", "123", "vertex"),
        ("POST", "/v1beta/tunedModels/t1:generateContent", "generateContent", "t1", "gemini"),
        ("POST", "/upload/v1beta/files", "files.upload", None, "gemini"),
        ("POST", "/v1beta/files", "files.create", None, "gemini"),
        ("GET", "/v1beta/cachedContents/c1", "cachedContents.get", None, "gemini"),
        ("PATCH", "/v1beta1/projects/p/locations/l/cachedContents/c1", "cachedContents.update",
         None, "vertex"),
        ("POST", "/v1beta/models/g:batchGenerateContent", "batchGenerateContent", "g", "gemini"),
        ("POST", "/v1beta1/projects/p/locations/l/batchPredictionJobs",
         "batchPredictionJobs.create", None, "vertex"),
        ("POST", "/v1beta/interactions", "interactions.create", None, "gemini"),
        ("POST", "/v1beta1/projects/p/locations/l/interactions", "interactions.create", None,
         "vertex"),
        ("POST", "/v1beta/openai/chat/completions", "chat.completions", None, "gemini"),
        ("POST", "/v1beta1/projects/p/locations/l/endpoints/openapi/responses", "responses",
         None, "vertex"),
        ("POST", "/v1alpha/auth_tokens", "auth_tokens.create", None, "gemini"),
        ("GET", "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent",
         "live.connect", None, "gemini"),
        ("GET", "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent",
         "live.connect", None, "vertex"),
        ("GET", "/v1beta/interactions/live", "interactions.connect", None, "gemini"),
        ("POST", "/proxy/gemini/v1beta/models/g:generateContent", "generateContent", "g",
         "gemini"),
    ],
)  # fmt: skip
def test_match(method: str, path: str, name: str, model: str | None, backend: str) -> None:
    """Known paths match their row, with the model their URL names and their backend."""
    found = match(method, path)
    assert found is not None
    assert (found.route.name, found.model, found.backend) == (name, model, backend)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1beta/models/g:summonDragons"),  # unknown verb
        ("GET", "/v1beta/models/g:generateContent"),  # wrong HTTP method
        ("POST", "/upload/v1beta/models/g:generateContent"),  # /upload/ on a non-upload row
        ("POST", "/v1beta/projects/p/locations/l/files"),  # Gemini-only row under a parent
        ("POST", "/models/g:generateContent"),  # no version segment
        ("GET", "/v1beta/"),
    ],
)
def test_no_match(method: str, path: str) -> None:
    """Paths no row serves are unknown, including /upload/ outside the upload rows."""
    assert match(method, path) is None


@pytest.mark.parametrize(
    "path",
    [
        "/v1beta/models/%2e%2e/tunedModels/x:generateContent",
        "/v1beta/models/allowed/../denied:generateContent",
        "/v1beta/models/%252e%252e:generateContent",
        "/v1beta/models/a%2Fb:generateContent",
        "/v1beta/models//g:generateContent",
        "/v1beta/models/.:generateContent",
    ],
)
def test_unsafe_paths_raise(path: str) -> None:
    """Dot segments, double encoding, encoded slashes and empty segments are refused."""
    with pytest.raises(UnsafePath):
        match("POST", path)


def test_rows_are_well_formed() -> None:
    """Every row is served somewhere, names a known meter, and model calls say where models are."""
    for route in ROUTES:
        assert route.gemini or route.vertex, route
        if route.model_call and route.surface != "openai":
            assert route.models, route
        if route.http == "WS":
            assert route.stream == "ws"


def test_cli_check_sdk(capsys: pytest.CaptureFixture[str]) -> None:
    """`golden-path routes --check-sdk` exits 0 on the installed SDK and counts what it checked."""
    from golden_path.cli import main

    assert main(["routes", "--check-sdk"]) == 0
    assert "google-genai methods are governed" in capsys.readouterr().out


def test_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    """`golden-path routes --json` lists every row with its fields."""
    from golden_path.cli import main

    assert main(["routes", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == len(ROUTES)
    assert {"name", "http", "gemini", "vertex", "meter", "models", "content"} <= set(rows[0])


def test_cli_table_and_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    """`golden-path routes` prints one line per template of each backend (method, backend,
    surface, name, meter, path); `--markdown` prints docs/routes.md as committed."""
    from golden_path.cli import main

    assert main(["routes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == sum(len(r.gemini) + len(r.vertex) for r in ROUTES)
    first = ROUTES[0]
    backend, templates = ("gemini", first.gemini) if first.gemini else ("vertex", first.vertex)
    assert lines[0].split() == [
        first.http,
        backend,
        first.surface,
        first.name,
        first.meter,
        templates[0],
    ]
    assert main(["routes", "--markdown"]) == 0
    assert capsys.readouterr().out == (ROOT / "docs" / "routes.md").read_text()


# Websocket rows are tested where their guard is (tests/routes/test_every_row.py covers every
# HTTP row from the table itself). A new websocket row fails here until it has a test.
WEBSOCKET_TESTS = {
    "live.connect": "tests/policies/test_credentials.py::test_live_sends_the_configured_key",
    "live.music.connect": "tests/policies/test_bypass.py::test_live_music_denied_model",
    # Opened only with an ephemeral token as the API key, which golden-path clients never
    # hold: their placeholder credential cannot open it.
    "live.connectConstrained": (
        "tests/policies/test_credentials.py::test_unguarded_live_cannot_authenticate"
    ),
    # SDK 3.5+ only (run on 3.6.1 by `tests/run`'s newest-release core run).
    "interactions.connect": (
        "tests/policies/test_live_interactions.py::test_allowed_session_is_sent_metered_and_audited"
    ),
}


def test_every_websocket_row_has_a_test() -> None:
    """Each websocket row names a test that exists."""
    rows = {r.name for r in ROUTES if r.http == "WS"}
    assert rows == set(WEBSOCKET_TESTS)
    for target in WEBSOCKET_TESTS.values():
        path, _, name = target.partition("::")
        assert f"def {name}(" in (ROOT / path).read_text(), target
