"""Policy files: every problem named with file, line and key; never a half-loaded set."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import golden_path
from golden_path.policies._loader import load_chain, load_policy_set

Write = Callable[..., Path]


def _problems(paths: list[Path]) -> list[tuple[str, str, str]]:
    with pytest.raises(golden_path.ConfigError) as caught:
        load_policy_set(paths)
    return [(p.field, p.source, p.message) for p in caught.value.problems]


def test_every_problem_with_file_line_and_key(policy_file: Write) -> None:
    """Unknown sections and keys, wrong types, bad globs and alias loops are all reported."""
    path = policy_file("""\
        [models]
        alow = ["gemini-2.5-*"]
        deny = ["Gemini-1.5 *"]
        [models.aliases]
        a = "b"
        b = "a"
        [generation]
        max_output_tokens = "lots"
        [tools]
        deny = "google_search"
        [modles]
        x = 1
        """)
    found = {(field, source.rsplit(":", 1)[1]) for field, source, _ in _problems([path])}
    assert found == {
        ("models.alow", "2"),
        ("models.deny", "3"),
        ("generation.max_output_tokens", "8"),
        ("tools.deny", "10"),
        ("modles", "11"),
    }


def test_alias_loop(policy_file: Write) -> None:
    """An alias loop names each alias in it, with its line."""
    path = policy_file('[models.aliases]\nfast = "quick"\nquick = "fast"\n')
    problems = _problems([path])
    assert [(f, s) for f, s, _ in problems] == [
        ("models.aliases.fast", f"{path}:2"),
        ("models.aliases.quick", f"{path}:3"),
    ]
    assert "alias loop: fast -> quick -> fast" in problems[0][2]


def test_alias_to_a_denied_model(policy_file: Write) -> None:
    """An alias pointing outside the allowlist is a configuration error, not a runtime deny."""
    path = policy_file(
        '[models]\nallow = ["gemini-2.5-*"]\n[models.aliases]\nold = "gemini-1.5-pro"\n'
    )
    assert [f for f, _, _ in _problems([path])] == ["models.aliases.old"]


def test_malformed_toml(policy_file: Write) -> None:
    """A syntax error names the file and line of the error."""
    path = policy_file('[models]\nallow = ["gemini-2.5-*"\n[tools]\n')
    ((field, source, message),) = _problems([path])
    assert field == "toml"
    assert source.startswith(f"{path}:")
    assert "not valid TOML" in message


def test_directory_merges_in_name_order(policy_file: Write, tmp_path: Path) -> None:
    """A directory's files merge in name order: later values win, problems name their file."""
    policy_file(
        '[models]\nallow = ["gemini-2.5-*"]\n[generation]\nmax_output_tokens = 10\n',
        name="00-base.toml",
    )
    policy_file("[generation]\nmax_output_tokens = 20\n", name="10-team.toml")
    policy_set = load_policy_set([tmp_path])
    generation = next(p for p in policy_set.policies if p.name == "generation")
    assert generation.max_output_tokens == 20
    assert [p.name for p in policy_set.policies] == ["canonical-json", "models", "generation"]
    bad = policy_file('[tools]\ndeny = ["nope"]\n', name="20-bad.toml")
    assert _problems([tmp_path]) == [("tools.deny", f"{bad}:2", "unknown tool 'nope'")]


def test_missing_file_and_empty_directory(tmp_path: Path) -> None:
    """A policy path that does not exist, or a directory without TOML files, is an error."""
    (tmp_path / "empty").mkdir()
    fields = _problems([tmp_path / "nope.toml", tmp_path / "empty"])
    assert [f for f, _, _ in fields] == ["policy_file", "policy_file"]


def test_policy_paths_that_cannot_be_read(tmp_path: Path) -> None:
    """A path through a regular file, or a link to nothing, is named with what is wrong."""
    plain = tmp_path / "policy.toml"
    plain.write_text("")
    dangling = tmp_path / "link.toml"
    dangling.symlink_to(tmp_path / "gone.toml")
    messages = [m for _, _, m in _problems([plain / "inner.toml", dangling])]
    assert messages == [
        f"{plain / 'inner.toml'} cannot be read (Not a directory)",
        f"{dangling} is a symbolic link whose target does not exist",
    ]


def test_client_creation_fails_whole(
    make_client: Callable[..., Any], policy_file: Write, emulator: Any
) -> None:
    """A bad policy file fails client creation with every problem; nothing is half loaded."""
    path = policy_file('[models]\nallow = ["gemini-2.5-*"]\n[pii]\naction = "scrub"\n')
    with pytest.raises(golden_path.ConfigError) as caught:
        make_client(policy_file=str(path))
    assert caught.value.fields == ("pii.action",)
    assert emulator.requests == []


def test_unset_policy_file_is_an_empty_chain() -> None:
    """Without GOLDEN_PATH_POLICY_FILE there are no policies."""
    from golden_path._settings import Settings

    assert not load_chain(Settings.model_construct(policy_file=None))


def test_policy_file_from_env(
    monkeypatch: pytest.MonkeyPatch, policy_file: Write, emulator: Any
) -> None:
    """GOLDEN_PATH_POLICY_FILE is what the default client loads."""
    path = policy_file('[models]\nallow = ["gemini-2.5-pro"]\n')
    monkeypatch.setenv("GOLDEN_PATH_POLICY_FILE", str(path))
    monkeypatch.setenv("GOLDEN_PATH_BACKEND", "ai_studio")
    monkeypatch.setenv("GOLDEN_PATH_API_KEY", "k")
    monkeypatch.setenv("GOLDEN_PATH_BASE_URL", emulator.url)
    with pytest.raises(golden_path.PolicyViolation):
        golden_path.client().models.generate_content(model="gemini-2.5-flash", contents="hi")


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('[safety]\nminimum = "BLOCK_SOME"\n', "safety.minimum"),
        ('[labels]\nTeam = "{team}"\n', "labels.Team"),
        ('[labels]\nteam = "{squad}"\n', "labels.team"),
        ('[vertex]\nlocations = "eu"\n', "vertex.locations"),
        ("[limits]\nmax_request_bytes = -1\n", "limits.max_request_bytes"),
        ('[chain]\nfail_open = "yes"\n', "chain.fail_open"),
        ('[[custom]]\nname = "x"\n', "custom[0].path"),
        ('[custom]\npath = "a:b"\n', "custom"),
        ('mode = "report"\n', "mode"),
        ("[models]\naliases = 3\n", "models.aliases"),
        ('[models.aliases]\nfast = ""\n', "models.aliases.fast"),
        ('[[custom]]\npath = "json:dumps"\nname = ""\n', "custom[0].name"),
    ],
)
def test_each_section_validates(policy_file: Write, text: str, field: str) -> None:
    """Each section rejects its own bad values, naming the key."""
    assert field in [f for f, _, _ in _problems([policy_file(text)])]


def test_shipped_defaults_are_valid() -> None:
    """The policies/ directory the base image ships loads without a problem."""
    root = Path(__file__).resolve().parents[2] / "policies"
    names = [p.name for p in load_policy_set([root]).policies]
    assert {"models", "generation", "tools", "pii", "limits"} <= set(names)


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ('path = "json"', "custom[0].path", "'json' is not module:attribute"),
        (
            'path = "gp_no_such_module_for_tests:Policy"',
            "custom[0].path",
            "cannot import 'gp_no_such_module_for_tests'",
        ),
        ('path = "json:NoSuchPolicy"', "custom[0].path", "'json' has no attribute 'NoSuchPolicy'"),
        (
            'entry_point = "gp-no-such-plugin"',
            "custom[0].entry_point",
            "no 'golden_path.policies' entry point named 'gp-no-such-plugin'",
        ),
        (
            'path = "json:dumps"\nentry_point = "x"',
            "custom[0].path",
            "each [[custom]] needs exactly one of path or entry_point",
        ),
        ('path = "json:dumps"\noptions = 3', "custom[0].options", "must be a table, got 3"),
        (
            'path = "json:decoder"\n[custom.options]\nlevel = 1',
            "custom[0].options",
            "json:decoder is an object, not a class or factory; it takes no options",
        ),
        (
            'path = "json:JSONDecodeError"',
            "custom[0].path",
            "building json:JSONDecodeError failed: TypeError",
        ),
    ],
)
def test_custom_policy_that_cannot_be_loaded(
    policy_file: Write, text: str, field: str, message: str
) -> None:
    """A [[custom]] entry that cannot become a policy names its key and says what went wrong:
    a bad path, a missing module, attribute or entry point, options of the wrong shape, or a
    class that fails to build. The client is never built with the policy silently left out."""
    problems = _problems([policy_file(f"[[custom]]\n{text}\n")])
    assert any(f == field and message in m for f, _, m in problems), problems
