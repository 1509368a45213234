"""The one-way architecture: every import inside golden_path/ points down the layer table.

docs/architecture.md draws the same table; a test below checks that the two agree.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "golden_path"
DOC = PACKAGE.parent / "docs" / "architecture.md"

# Low to high. A unit (a top-level module or subpackage of golden_path) imports only units of a
# lower layer; units of one layer never import each other (policies and audit are siblings:
# the transport runs both). Imports inside functions and under TYPE_CHECKING count too.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("exceptions", "_version", "_routes", "_files", "_process", "_log", "_json"),
    (
        "_settings",
        "_model",
        "_secrets",
        "_tls",
        "_state",
        "_versions",
        "_governed",
        "_strict",
        "_surface",
    ),
    ("_sdk_surface", "_pii", "_prices"),
    ("_pii_presidio",),
    ("_auth", "policies", "audit", "emulator"),
    ("_transport",),
    ("_factory",),
    ("_http",),
    ("_openai",),
    ("__init__", "testing", "gateway"),
    # emulator.conformance runs the SDK's own tests against the emulator with golden-path
    # clients: a harness on top, not part of the server. _upgrade drives a client on the
    # emulator to judge an SDK release; integrations adapt frameworks to golden-path's client.
    ("pytest_plugin", "emulator.conformance", "_upgrade", "integrations"),
    ("_cli",),
    ("cli",),
    ("__main__",),  # golden_path/__main__.py and every package's __main__: entry points
)
# Modules that belong to another unit than their package.
UNITS = {"emulator._conformance_plugin": "emulator.conformance"}
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def _module_name(path: Path, root: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def _unit(module: str) -> str:
    parts = module.split(".")
    if parts[-1] == "__main__":
        return "__main__"
    inner = ".".join(parts[1:])
    if inner in UNITS:
        return UNITS[inner]
    for end in range(len(parts), 2, -1):
        if ".".join(parts[1:end]) in RANK:
            return ".".join(parts[1:end])
    return parts[1] if len(parts) > 1 else "__init__"


def imports(path: Path, root: Path = PACKAGE) -> Iterator[tuple[int, str]]:
    """``(line, module)`` of every import in one file, relative ones resolved."""
    module, is_package = _module_name(path, root)
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target == "golden_path":
                # `from golden_path import x` may name a submodule or a re-exported name.
                for alias in node.names:
                    sub = root / alias.name
                    is_module = sub.with_suffix(".py").exists() or sub.is_dir()
                    yield node.lineno, f"golden_path.{alias.name}" if is_module else target
            else:
                yield node.lineno, target


def violations(root: Path = PACKAGE) -> list[str]:
    """Every import that points up or sideways in the layer table, as ``file:line: message``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        source, _ = _module_name(path, root)
        unit = _unit(source)
        where = path.relative_to(root.parent)
        if unit not in RANK:
            found.append(
                f"{where}:1: {unit} is in no layer; add it to LAYERS in tests/test_architecture.py "
                "and to docs/architecture.md"
            )
            continue
        for line, target in imports(path, root):
            if target != "golden_path" and not target.startswith("golden_path."):
                continue
            other = _unit(target)
            if other == unit:
                continue
            if other not in RANK:
                found.append(f"{where}:{line}: imports {target}, which is in no layer")
            elif RANK[other] >= RANK[unit]:
                how = "a sibling" if RANK[other] == RANK[unit] else "a higher layer"
                found.append(
                    f"{where}:{line}: {source} imports {target} ({how}: {unit} is in layer "
                    f"{RANK[unit]}, {other} in layer {RANK[other]})"
                )
    return found


def test_imports_point_down_the_layer_table() -> None:
    """No module of golden_path/ imports from its own layer or one above it."""
    assert violations() == []


def test_a_back_edge_is_reported_with_file_line_and_module(tmp_path: Path) -> None:
    """The check names the offending file, line and import (so a failure says what to fix)."""
    fake = tmp_path / "golden_path"
    (fake / "audit").mkdir(parents=True)
    (fake / "audit" / "_bad.py").write_text(
        '"""A back-edge."""\n\nfrom golden_path.policies._types import Deny\n'
    )
    (fake / "_mystery.py").write_text("import golden_path.exceptions\n")
    found = violations(fake)
    assert found == [
        "golden_path/_mystery.py:1: _mystery is in no layer; add it to LAYERS in "
        "tests/test_architecture.py and to docs/architecture.md",
        "golden_path/audit/_bad.py:3: golden_path.audit._bad imports golden_path.policies._types "
        "(a sibling: audit is in layer 4, policies in layer 4)",
    ]


def test_relative_imports_are_resolved(tmp_path: Path) -> None:
    """``from .. import x`` counts as the module it names, so it cannot hide a back-edge."""
    fake = tmp_path / "golden_path"
    (fake / "policies").mkdir(parents=True)
    (fake / "policies" / "_x.py").write_text("from .._transport import _call\n")
    found = violations(fake)
    assert found == [
        "golden_path/policies/_x.py:1: golden_path.policies._x imports golden_path._transport "
        "(a higher layer: policies is in layer 4, _transport in layer 5)"
    ]


def test_architecture_doc_draws_the_layer_table() -> None:
    """docs/architecture.md's layer table lists exactly the units of each layer, as tested here."""
    rows = re.findall(r"^\|\s*(\d+)\s*\|([^|]*)\|", DOC.read_text(encoding="utf-8"), re.M)
    drawn = {int(rank): sorted(re.findall(r"`([^`]+)`", cell)) for rank, cell in rows}
    expected = {
        rank: sorted("golden_path/__init__" if u == "__init__" else u for u in units)
        for rank, units in enumerate(LAYERS)
    }
    assert drawn == expected
