"""The docs keep up with the code: every setting and command is documented."""

from __future__ import annotations

from pathlib import Path

from golden_path._settings import Settings

ROOT = Path(__file__).parent.parent


def test_every_setting_is_in_the_configuration_reference() -> None:
    """docs/configuration.md has a row for every field of Settings."""
    text = (ROOT / "docs" / "configuration.md").read_text()
    missing = [
        name for name in Settings.model_fields if f"`GOLDEN_PATH_{name.upper()}`" not in text
    ]
    assert missing == []


def test_readme_starts_with_the_two_commands() -> None:
    """The README's first code block installs and runs the demo, then runs the tests."""
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line and not line.startswith("#")]
    assert commands == [
        "python3 -m venv .venv && .venv/bin/pip install -q . && .venv/bin/golden-path demo",
        "bash tests/run",
    ]
    assert "bash tests/run" in (ROOT / ".ci" / "run").read_text()


def test_every_command_is_in_the_readme() -> None:
    """Each golden-path command the CLI registers appears in the README's command table."""
    from golden_path.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in sub.choices if f"`golden-path {name}" not in readme]
    assert missing == []


def test_docs_examples_import_only_public_names() -> None:
    """The Python in README.md and docs/ imports no private module or name (``_x``)."""
    import re

    pattern = re.compile(
        r"^\s*(?:from\s+(golden_path[\w.]*)\s+import\s+(.+)|import\s+(golden_path[\w.]*))"
    )
    private = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in re.findall(r"```python\n(.*?)```", page.read_text(), re.S):
            for line in block.splitlines():
                found = pattern.match(line)
                if not found:
                    continue
                module, names, plain = found.groups()
                parts = (module or plain).split(".")
                parts += [
                    n.strip().split()[0] for n in (names or "").strip("()").split(",") if n.strip()
                ]
                if any(part.startswith("_") for part in parts):
                    private.append(f"{page.name}: {line.strip()}")
        # Prose too: a private name the docs send readers to (a maintainer's ``python -m``
        # command is not an API).
        text = page.read_text().replace("python -m golden_path.", "")
        private += [
            f"{page.name}: {name}" for name in re.findall(r"golden_path(?:\.\w+)*\._\w+", text)
        ]
    assert private == []


def test_docstrings_point_only_inside_the_repository() -> None:
    """Every page golden_path/ names (``docs/x.md``) is a file of this repository, so a pointer
    in a docstring or message leads somewhere a reader has."""
    import re

    missing = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted((ROOT / "golden_path").rglob("*.py"))
        for name in re.findall(r"[\w./-]+\.md\b", path.read_text(encoding="utf-8"))
        if not (ROOT / name).is_file()
    ]
    assert missing == []
