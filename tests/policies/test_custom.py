"""Custom policies (dotted path, entry point), failing closed or open, and after-hooks on bad
responses."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from google.genai import errors

import golden_path

MODULE = '''
class Recorder:
    """Records which hooks ran; optionally denies or crashes."""

    seen: list = []

    def __init__(self, verdict="allow", name="recorder"):
        self.verdict = verdict
        self.name = name

    def on_request(self, request):
        from golden_path.policies import Deny
        Recorder.seen.append(("request", request.api_method))
        if self.verdict == "deny":
            raise Deny("custom says no")
        if self.verdict == "crash":
            raise RuntimeError("bug in the policy")

    def on_chunk(self, request, chunk):
        Recorder.seen.append(("chunk", type(chunk).__name__))

    def on_response(self, request, response):
        Recorder.seen.append(("response", response.status_code))

    def on_error(self, request, error):
        Recorder.seen.append(("error", type(error).__name__))
'''


@pytest.fixture(name="plugin")
def _plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A module ``gp_test_plugin`` on sys.path, also registered as an entry point."""
    root = tmp_path / "site"
    root.mkdir()
    (root / "gp_test_plugin.py").write_text(MODULE, encoding="utf-8")
    dist = root / "gp_test_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: gp-test-plugin\nVersion: 1.0\n", encoding="utf-8"
    )
    (dist / "entry_points.txt").write_text(
        "[golden_path.policies]\nrecorder = gp_test_plugin:Recorder\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(root))
    import importlib

    importlib.invalidate_caches()
    module = importlib.import_module("gp_test_plugin")
    module.Recorder.seen.clear()
    yield module
    sys.modules.pop("gp_test_plugin", None)


def test_dotted_path_with_options(plugin: Any, governed: Callable[..., Any], emulator: Any) -> None:
    """A [[custom]] path builds the policy with its options; its deny stops the request."""
    client = governed("""
        [[custom]]
        path = "gp_test_plugin:Recorder"
        [custom.options]
        verdict = "deny"
        """)
    with pytest.raises(golden_path.PolicyViolation) as caught:
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert (caught.value.policy, caught.value.reason) == ("recorder", "custom says no")
    assert emulator.requests == []
    assert plugin.Recorder.seen == [("request", "generateContent"), ("error", "PolicyViolation")]


def test_entry_point(plugin: Any, governed: Callable[..., Any], emulator: Any) -> None:
    """An entry point of the golden_path.policies group is used by name; hooks see the stream."""
    client = governed('[[custom]]\nentry_point = "recorder"\nname = "audit-tap"\n')
    list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"))
    kinds = [kind for kind, _ in plugin.Recorder.seen]
    assert kinds[0] == "request"
    assert kinds[-1] == "response"
    assert "chunk" in kinds
    assert len(emulator.api_requests()) == 1


def test_custom_report_mode(
    plugin: Any, governed: Callable[..., Any], emulator: Any, audit: Any
) -> None:
    """A custom policy in report mode has its deny recorded, not enforced."""
    client = governed(
        '[[custom]]\npath = "gp_test_plugin:Recorder"\nmode = "report"\n'
        '[custom.options]\nverdict = "deny"\n'
    )
    client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert len(emulator.api_requests()) == 1
    assert audit.only().policy == (
        {"policy": "recorder", "action": "deny", "reason": "custom says no", "enforced": False},
    )


def test_crash_fails_closed(plugin: Any, governed: Callable[..., Any], emulator: Any) -> None:
    """A policy that raises an unexpected exception denies the request."""
    client = governed(
        '[[custom]]\npath = "gp_test_plugin:Recorder"\n[custom.options]\nverdict = "crash"\n'
    )
    with pytest.raises(golden_path.PolicyViolation, match="fail closed"):
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert emulator.requests == []


@pytest.mark.parametrize("where", ["chain", "policy"])
def test_crash_fails_open_when_configured(
    plugin: Any, governed: Callable[..., Any], emulator: Any, audit: Any, where: str
) -> None:
    """[chain] fail_open or the policy's own fail_open lets the request through, recorded."""
    setting = "[chain]\nfail_open = true\n" if where == "chain" else ""
    own = "fail_open = true\n" if where == "policy" else ""
    client = governed(
        f'{setting}[[custom]]\npath = "gp_test_plugin:Recorder"\n{own}'
        '[custom.options]\nverdict = "crash"\n'
    )
    client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert len(emulator.api_requests()) == 1
    (decision,) = audit.only().policy
    assert (decision["action"], decision["enforced"]) == ("error", False)


def test_malformed_response_runs_after_hooks(
    plugin: Any, governed: Callable[..., Any], emulator: Any
) -> None:
    """A 200 whose body is not JSON reaches the caller as the SDK's error; on_response ran."""
    client = governed('[[custom]]\npath = "gp_test_plugin:Recorder"\n')
    emulator.malformed_next()
    with pytest.raises(Exception) as caught:  # noqa: PT011 - whatever the SDK raises
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert not isinstance(caught.value, golden_path.GoldenPathError)
    assert ("response", 200) in plugin.Recorder.seen


def test_broken_stream_runs_after_hooks(
    plugin: Any, governed: Callable[..., Any], emulator: Any
) -> None:
    """A stream cut by an error event raises the SDK's APIError; chunk and end hooks ran."""
    client = governed('[[custom]]\npath = "gp_test_plugin:Recorder"\n')
    emulator.stream_error_after(1)
    with pytest.raises(errors.APIError):
        for _ in client.models.generate_content_stream(
            model="gemini-2.5-flash", contents="tell me a long story"
        ):
            pass
    kinds = [kind for kind, _ in plugin.Recorder.seen]
    assert "chunk" in kinds
    assert kinds[-1] in ("response", "error")


def test_dropped_connection_runs_error_hook(
    plugin: Any, governed: Callable[..., Any], emulator: Any
) -> None:
    """A connection closed without an answer reaches the caller; on_error saw it."""
    client = governed('[[custom]]\npath = "gp_test_plugin:Recorder"\n')
    emulator.drop_next()
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the transport's own error
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert not isinstance(caught.value, golden_path.GoldenPathError)
    assert plugin.Recorder.seen[-1][0] == "error"


def test_module_not_a_policy(plugin: Any, policy_file: Callable[..., Path]) -> None:
    """A dotted path to something without hooks is a ConfigError naming file, line and key."""
    from golden_path.policies._loader import load_policy_set

    path = policy_file(
        textwrap.dedent("""
        [[custom]]
        path = "gp_test_plugin:Recorder.seen"
        """)
    )
    with pytest.raises(golden_path.ConfigError) as caught:
        load_policy_set([path])
    (problem,) = caught.value.problems
    assert problem.field == "custom[0].path"
    assert problem.source == f"{path}:3"
    assert "none of the hooks" in problem.message


class AfterOnly:
    """A usage recorder: after-hooks only, no ``on_request``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[str] = []

    def on_response(self, request: Any, response: Any) -> None:
        self.seen.append(f"response {response.status_code}")

    def on_error(self, request: Any, error: BaseException) -> None:
        self.seen.append(f"error {type(error).__name__}")


class Denier:
    name = "denier"

    def on_request(self, request: Any) -> None:
        from golden_path.policies import Deny

        raise Deny("no")


def test_a_policy_with_only_after_hooks_sees_what_the_chain_let_through(emulator: Any) -> None:
    """A policy without ``on_request`` gets ``on_response`` for allowed calls, ``on_error`` for
    a denial further down the chain, and nothing when a policy before it denied."""
    before, after = AfterOnly("before"), AfterOnly("after")

    def client(*policies: Any) -> Any:
        return golden_path.create_client(
            backend="ai_studio", api_key="k", base_url=emulator.url, policies=list(policies)
        )

    client(before).models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert before.seen == ["response 200"]
    with pytest.raises(golden_path.PolicyViolation):
        client(before, Denier(), after).models.generate_content(
            model="gemini-2.5-flash", contents="hi"
        )
    assert before.seen == ["response 200", "error PolicyViolation"]
    assert after.seen == []


class _Misspelt:
    name = "typo"

    def on_reqest(self, request: Any) -> None:  # never called: the hook is misspelt
        raise AssertionError


class _WrongArgs:
    name = "wrong-args"

    def on_response(self, request: Any) -> None:
        raise AssertionError


class _NotCallable:
    name = "not-callable"
    on_request = "deny"


class _BadName:
    name = ""

    def on_request(self, request: Any) -> None:
        raise AssertionError


@pytest.mark.parametrize(
    ("policy", "field", "words"),
    [
        (_Misspelt(), "typo.on_reqest", "did you mean on_request?"),
        (_WrongArgs(), "wrong-args.on_response", "define on_response(self, request, response)"),
        (_NotCallable(), "not-callable.on_request", "must be a method, got str"),
        (_BadName(), "_BadName.name", "must be a non-empty string, got ''"),
    ],
)
def test_a_policy_whose_hooks_would_never_run_is_refused(
    policy: Any, field: str, words: str, emulator: Any
) -> None:
    """A policy passed in code with a misspelt hook, a hook of the wrong shape or a bad name
    would silently not govern anything: building the client fails, naming the hook."""
    with pytest.raises(golden_path.ConfigError) as caught:
        golden_path.create_client(
            backend="ai_studio", api_key="k", base_url=emulator.url, policies=[policy]
        )
    assert field in caught.value.fields
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        (
            {"promptTokenCount": 4, "candidatesTokenCount": 6, "totalTokenCount": 10},
            {"prompt_tokens": 4, "output_tokens": 6, "total_tokens": 10},
        ),
        # int64 may arrive as a string; anything else that is no count reads as unknown.
        (
            {"promptTokenCount": "4", "totalTokenCount": "10", "thoughtsTokenCount": 2},
            {"prompt_tokens": 4, "total_tokens": 10, "thoughts_tokens": 2},
        ),
        ({"promptTokenCount": True, "totalTokenCount": 1.5, "cachedContentTokenCount": "x"}, {}),
        ({"responseTokenCount": 7}, {"output_tokens": 7}),  # the Live API's name
        (
            {
                "promptTokenCount": 50,
                "promptTokensDetails": [
                    {"modality": "TEXT"},
                    {"modality": "AUDIO", "tokenCount": 40},
                ],
                "toolUsePromptTokenCount": 3,
                "cachedContentTokenCount": 8,
            },
            {"prompt_tokens": 50, "audio_tokens": 40, "tool_prompt_tokens": 3, "cached_tokens": 8},
        ),
    ],
)
def test_usage_from_reads_each_count_gemini_reports(
    meta: dict[str, Any], expected: dict[str, int]
) -> None:
    """What a policy's after-hook reads of usageMetadata, whatever shape each count comes in."""
    from golden_path.policies import Usage, usage_from

    assert usage_from({"usageMetadata": meta}) == Usage(**expected)
