"""Strict mode: a Gemini client golden-path did not build is refused, naming the code that built it.

Each test takes a way a developer (or a framework) might build a client around golden-path and
checks it is refused before anything is sent, while golden-path's own clients keep working.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from google import genai
from google.auth.credentials import AnonymousCredentials
from google.genai import types

import golden_path
from golden_path import _strict
from golden_path.emulator import Emulator
from golden_path.exceptions import GoldenPathError, UngovernedClient
from tests.conftest import AuditCapture

HERE = Path(__file__).name
AI_STUDIO = "https://generativelanguage.googleapis.com"
OPENAI_PATH = AI_STUDIO + "/v1beta/openai/"
VERTEX_OPENAI = (
    "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/"
    "endpoints/openapi"
)
PTH = Path(__file__).resolve().parents[1] / "golden_path_strict.pth"


@pytest.fixture(name="strict")
def _strict_mode() -> Iterator[None]:
    """Strict mode on for one test; the libraries' classes are restored afterwards."""
    _strict.install()
    try:
        yield
    finally:
        _strict.uninstall()


def refused(build: Callable[[], Any]) -> UngovernedClient:
    with pytest.raises(UngovernedClient) as caught:
        build()
    return caught.value


def assert_names_this_file(error: UngovernedClient) -> None:
    assert error.caller.startswith(HERE + ":") or f"/{HERE}:" in error.caller, error.caller
    assert error.caller in str(error)
    assert isinstance(error, GoldenPathError)


@pytest.mark.usefixtures("strict")
def test_a_plain_sdk_client_is_refused_naming_the_line() -> None:
    """genai.Client(api_key=...) raises UngovernedClient naming this file and line."""
    error = refused(lambda: genai.Client(api_key="k"))
    assert error.kind == "google.genai.Client"
    assert error.target.startswith(AI_STUDIO)
    assert_names_this_file(error)
    assert "golden_path.client()" in str(error)
    assert "k" not in error.target  # no key in the message (and none in the target)


@pytest.mark.usefixtures("strict")
def test_environment_variables_do_not_get_around_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """GOOGLE_API_KEY, GEMINI_API_KEY and the Vertex variables build clients: all refused."""
    monkeypatch.setenv("GOOGLE_API_KEY", "from-env")
    assert refused(genai.Client).target.startswith(AI_STUDIO)
    monkeypatch.delenv("GOOGLE_API_KEY")
    monkeypatch.setenv("GEMINI_API_KEY", "from-env")
    assert refused(genai.Client).target.startswith(AI_STUDIO)
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "p")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "europe-west4")
    error = refused(lambda: genai.Client(credentials=AnonymousCredentials()))  # type: ignore[no-untyped-call]
    assert error.target.startswith("https://europe-west4-aiplatform.googleapis.com")


@pytest.mark.usefixtures("strict")
def test_vertex_clients_are_refused() -> None:
    """Vertex AI clients, regional, global and express, are refused like AI Studio ones."""
    for location in ("us-central1", "global"):
        error = refused(
            lambda location=location: genai.Client(
                vertexai=True,
                project="p",
                location=location,
                credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            )
        )
        assert "aiplatform.googleapis.com" in error.target
    assert "aiplatform" in refused(lambda: genai.Client(vertexai=True, api_key="k")).target


@pytest.mark.usefixtures("strict")
def test_other_ways_to_reach_the_class_are_refused() -> None:
    """A subclass, the class from google.genai.client and the SDK's BaseApiClient are refused."""
    from google.genai._api_client import BaseApiClient
    from google.genai.client import Client

    class Mine(Client):
        pass

    assert_names_this_file(refused(lambda: Mine(api_key="k")))
    assert_names_this_file(refused(lambda: BaseApiClient(api_key="k")))
    # A relay in front of Google is still the Gemini protocol with a Google key: refused too.
    relayed = refused(
        lambda: genai.Client(api_key="k", http_options=types.HttpOptions(base_url="https://relay"))
    )
    assert relayed.target == "https://relay"


@pytest.mark.usefixtures("strict")
def test_golden_paths_clients_and_the_emulator_are_unaffected(
    make_client: Callable[..., Any], audit: AuditCapture, emulator: Emulator
) -> None:
    """golden-path's clients work in strict mode; a plain client aimed at the emulator too."""
    client = make_client()
    reply = client.models.generate_content(model="gemini-2.5-flash", contents="hello")
    assert reply.text == "Echo: hello"
    assert len(audit.events) == len(emulator.api_requests()) == 1
    with golden_path.http_client(
        backend="ai_studio", api_key="k", base_url=emulator.url, retry_attempts=1
    ) as http:
        assert http.get("models").status_code == 200
    # Loopback is where the emulator (and a test's own fake) lives: nothing leaves the machine.
    plain = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=emulator.url))
    assert plain.models.generate_content(model="gemini-2.5-flash", contents="hi").text
    with httpx2.Client(base_url=emulator.url) as http:
        assert http.get("/v1/models", headers={"x-goog-api-key": "k"}).status_code == 200


@pytest.mark.usefixtures("strict")
def test_a_per_request_base_url_is_caught_when_sent(emulator: Emulator) -> None:
    """A loopback client redirected per request to Google is refused before anything is sent."""
    plain = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=emulator.url))
    with pytest.raises(UngovernedClient) as caught:
        plain.models.generate_content(
            model="gemini-2.5-flash",
            contents="hi",
            config=types.GenerateContentConfig(
                http_options=types.HttpOptions(base_url=AI_STUDIO, retry_options=None)
            ),
        )
    assert caught.value.kind == "httpx2.Client request"
    assert_names_this_file(caught.value)
    assert emulator.api_requests() == []


@pytest.mark.usefixtures("strict")
@pytest.mark.parametrize(
    "base_url",
    [
        OPENAI_PATH,
        "https://GENERATIVELANGUAGE.googleapis.com./v1beta/openai/",
        "https://generativelanguage.googleapis.com:443/v1beta/openai/",
        VERTEX_OPENAI,
        "https://aiplatform.us-central1.rep.googleapis.com/v1/endpoints/openapi",
        "https://us-central1-aiplatform-psc1.p.googleapis.com/v1/endpoints/openapi",
    ],
)
def test_openai_clients_for_gemini_are_refused(base_url: str) -> None:
    """openai.OpenAI and AsyncOpenAI on any spelling of a Gemini endpoint are refused."""
    openai = pytest.importorskip("openai")
    error = refused(lambda: openai.OpenAI(base_url=base_url, api_key="k"))
    assert error.kind == "openai.OpenAI"
    assert_names_this_file(error)
    assert refused(lambda: openai.AsyncOpenAI(base_url=base_url, api_key="k")).kind == (
        "openai.AsyncOpenAI"
    )


@pytest.mark.usefixtures("strict")
def test_openai_base_url_from_the_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """OPENAI_BASE_URL pointing at Gemini is refused; OpenAI's own endpoint is not judged."""
    openai = pytest.importorskip("openai")
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    assert openai.OpenAI().base_url.host == "api.openai.com"  # other providers are not ours
    monkeypatch.setenv("OPENAI_BASE_URL", OPENAI_PATH)
    assert_names_this_file(refused(openai.OpenAI))


@pytest.mark.usefixtures("strict")
def test_openai_redirected_after_construction_is_refused_when_sent(emulator: Emulator) -> None:
    """``client.base_url = <Gemini>`` on a plain client is refused at send; nothing leaves."""
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=emulator.url + "/v1beta/openai/", api_key="k", max_retries=0)
    client.base_url = OPENAI_PATH  # type: ignore[assignment]
    assert_names_this_file(refused(client.models.list))  # raised as is: not retried
    assert emulator.api_requests() == []


@pytest.mark.usefixtures("strict")
def test_golden_paths_openai_clients_and_their_copies_work(
    emulator: Emulator, audit: AuditCapture
) -> None:
    """golden_path.openai_client() and its with_options() copies are not refused."""
    pytest.importorskip("openai")
    settings = {"backend": "ai_studio", "api_key": "k", "base_url": emulator.url}
    client = golden_path.openai_client(audit_sinks=[audit], retry_attempts=1, **settings)
    copy = client.with_options(timeout=30)
    reply = copy.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "hello"}]
    )
    assert reply.choices[0].message.content == "Echo: hello"
    assert len(audit.events) == 1
    async_client = golden_path.async_openai_client(audit_sinks=[audit], **settings)
    assert async_client.with_options(max_retries=0).base_url == async_client.base_url


@pytest.mark.usefixtures("strict")
def test_httpx_clients_for_gemini_are_refused() -> None:
    """httpx2 and httpx clients with a Gemini base_url, sync and async, are refused."""
    vertex = "https://europe-west4-aiplatform.googleapis.com/"
    assert_names_this_file(refused(lambda: httpx2.Client(base_url=AI_STUDIO)))
    assert refused(lambda: httpx2.AsyncClient(base_url=vertex)).kind == "httpx2.AsyncClient"
    httpx = pytest.importorskip("httpx")
    assert refused(lambda: httpx.Client(base_url=AI_STUDIO)).kind == "httpx.Client"
    assert refused(lambda: httpx.AsyncClient(base_url=vertex)).kind == "httpx.AsyncClient"
    # Other Google APIs are not Gemini: an app may still read a bucket.
    httpx2.Client(base_url="https://storage.googleapis.com").close()


@pytest.mark.usefixtures("strict")
def test_httpx_requests_to_gemini_are_refused_when_sent() -> None:
    """A client without base_url, or httpx's module functions, are refused at send time."""
    url = AI_STUDIO + "/v1beta/models/gemini-2.5-flash:generateContent"
    with httpx2.Client() as http:
        error = refused(lambda: http.post(url, json={}))
    assert error.kind == "httpx2.Client request"
    assert_names_this_file(error)
    assert refused(lambda: httpx2.post(url, json={})).target == url

    async def send() -> None:
        async with httpx2.AsyncClient() as http:
            await http.get(url)

    assert refused(lambda: asyncio.run(send())).kind == "httpx2.AsyncClient request"


def test_the_platform_setting_turns_it_on(make_client: Callable[..., Any]) -> None:
    """strict = true in the configuration: from the first golden-path client on, plain ones fail."""
    try:
        genai.Client(api_key="k")  # not strict yet
        make_client(strict=True)
        assert _strict.installed()
        assert_names_this_file(refused(lambda: genai.Client(api_key="k")))
    finally:
        _strict.uninstall()


def test_uninstall_restores_the_classes() -> None:
    """Turning strict mode off puts the libraries' own methods back (nothing left wrapped)."""
    before = (genai.Client.__init__, httpx2.Client.send, httpx2.AsyncClient.send)
    _strict.install()
    _strict.install()  # idempotent: wrapped once
    assert genai.Client.__init__ is not before[0]
    assert genai.Client.__init__.__wrapped__ is before[0]  # type: ignore[attr-defined]
    _strict.uninstall()
    assert (genai.Client.__init__, httpx2.Client.send, httpx2.AsyncClient.send) == before


@pytest.mark.parametrize("value", ["1", "true", "YES", "on", "maybe"])
def test_the_environment_variable_turns_it_on(value: str) -> None:
    """GOLDEN_PATH_STRICT true (or unreadable: fail closed) turns strict mode on; false not."""
    try:
        assert _strict.from_environment({"GOLDEN_PATH_STRICT": value})
    finally:
        _strict.uninstall()
    assert not _strict.from_environment({"GOLDEN_PATH_STRICT": "0"})


def run_python(code: str, tmp_path: Path, *, site_dir: Path | None = None) -> str:
    """Run ``code`` in a fresh interpreter with GOLDEN_PATH_STRICT=1; return its stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "GOLDEN_PATH_"))}
    env.update(GOLDEN_PATH_STRICT="1", GOOGLE_API_KEY="from-env")
    prelude = f"import site; site.addsitedir({str(site_dir)!r})\n" if site_dir else ""
    script = tmp_path / "app.py"
    script.write_text(prelude + textwrap.dedent(code), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0, done.stdout
    return done.stderr


def test_modules_imported_after_golden_path_are_guarded(tmp_path: Path) -> None:
    """GOLDEN_PATH_STRICT=1: importing golden_path first guards the SDK imported later."""
    stderr = run_python(
        """
        import golden_path
        from google import genai
        genai.Client()
        """,
        tmp_path,
    )
    assert "UngovernedClient: strict mode: google.genai.Client" in stderr
    assert "from app.py:4" in stderr


def test_the_pth_file_guards_processes_that_never_import_golden_path(tmp_path: Path) -> None:
    """golden_path_strict.pth in site-packages: LangChain's rebuilt client fails at start-up."""
    pytest.importorskip("langchain_google_genai")
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    (site_dir / PTH.name).write_bytes(PTH.read_bytes())
    stderr = run_python(
        """
        from langchain_google_genai import ChatGoogleGenerativeAI
        ChatGoogleGenerativeAI(model="gemini-2.5-flash")
        """,
        tmp_path,
        site_dir=site_dir,
    )
    assert "UngovernedClient: strict mode: google.genai.Client" in stderr
    assert "from app.py:4 (via langchain_google_genai/chat_models.py:" in stderr


@pytest.mark.usefixtures("strict")
def test_the_langchain_trap_is_caught(
    make_client: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, emulator: Emulator
) -> None:
    """GOOGLE_API_KEY set: LangChain's silent replacement of golden-path's client is refused."""
    chat_models = pytest.importorskip("langchain_google_genai")
    adapter = pytest.importorskip("golden_path.integrations.langchain", exc_type=ImportError)
    monkeypatch.setenv("GOOGLE_API_KEY", "developer-key")
    governed = make_client()
    error = refused(
        lambda: chat_models.ChatGoogleGenerativeAI(model="gemini-2.5-flash", client=governed)
    )
    assert_names_this_file(error)
    assert error.via.startswith("langchain_google_genai/")
    embeddings = refused(
        lambda: chat_models.GoogleGenerativeAIEmbeddings(model="gemini-embedding-001")
    )
    assert embeddings.via.startswith("langchain_google_genai/")
    # The adapter builds nothing of its own: it works in strict mode, key or no key.
    llm = adapter.chat_model("gemini-2.5-flash", client=governed)
    assert llm.invoke("hello").content == "Echo: hello"
    vectors = adapter.embeddings("gemini-embedding-001", client=governed)
    assert len(vectors.embed_query("hello")) > 0


@pytest.mark.usefixtures("strict")
def test_reloading_the_sdk_module_does_not_get_around_it() -> None:
    """importlib.reload(google.genai.client) makes a new Client class: it is guarded too."""
    import importlib

    import google.genai.client

    namespace = dict(vars(google.genai.client))  # reload re-runs the module in place
    try:
        reloaded = importlib.reload(google.genai.client)
        assert reloaded.Client is not namespace["Client"]
        assert_names_this_file(refused(lambda: reloaded.Client(api_key="k")))
    finally:
        vars(google.genai.client).clear()
        vars(google.genai.client).update(namespace)


@pytest.mark.usefixtures("strict")
def test_a_client_built_on_another_thread_is_refused() -> None:
    """A worker thread (no golden-path scope of its own) is judged like the main one."""
    import threading

    caught: list[BaseException] = []

    def build() -> None:
        try:
            genai.Client(api_key="k")
        except UngovernedClient as error:
            caught.append(error)

    worker = threading.Thread(target=build)
    worker.start()
    worker.join(timeout=60)
    assert len(caught) == 1
