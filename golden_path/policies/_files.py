"""The one policy-file reader: paths -> merged tables, each key with the file:line it came from.

``GOLDEN_PATH_POLICY_FILE`` names a TOML file or a directory whose ``*.toml`` files are merged
in name order: tables merge key by key (a later file's value wins), ``[[custom]]`` entries
accumulate. The loader, the limits, ``golden-path budget status``, ``policy check`` and
``policy explain`` all read policy files through :func:`read_policy_files`, so they cannot
disagree about what a set of files says.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from golden_path.exceptions import ConfigError, ConfigProblem

__all__ = ["PolicyTables", "policy_files", "read_policy_files"]


@dataclasses.dataclass(frozen=True, slots=True)
class PolicyTables:
    """What a set of policy files says, merged: ``data``, and ``locate(key)`` -> ``file:line``."""

    data: dict[str, Any]
    files: tuple[Path, ...]
    locate: Callable[[str], str]


def read_policy_files(paths: Sequence[Path], *, source: str = "argument") -> PolicyTables:
    """Read and merge; ConfigError naming every unreadable file and syntax error otherwise."""
    files, problems = policy_files(paths, source)
    merged = _Merged()
    for file in files:
        merged.add(file, problems)
    if problems:
        raise ConfigError(problems)
    return PolicyTables(merged.data, tuple(files), merged.locate)


def policy_files(
    paths: Iterable[Path], source: str = "argument"
) -> tuple[list[Path], list[ConfigProblem]]:
    """The TOML files ``paths`` name (directories expanded in name order), and what is wrong."""
    files: list[Path] = []
    problems: list[ConfigProblem] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.glob("*.toml") if p.is_file())
            if not found:
                problems.append(
                    ConfigProblem(
                        "policy_file",
                        f"{path} contains no *.toml file",
                        source,
                        "add a policy file or point elsewhere",
                    )
                )
            files += found
        elif path.is_file():
            files.append(path)
        else:
            problems.append(
                ConfigProblem(
                    "policy_file",
                    f"{path} does not exist",
                    source,
                    "point GOLDEN_PATH_POLICY_FILE at a TOML file or a directory of them",
                )
            )
    return files, problems


class _Merged:
    """The merged data of several files, with the file:line each value came from."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.where: dict[str, str] = {}
        self.first = ""

    def add(self, file: Path, problems: list[ConfigProblem]) -> None:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(
                ConfigProblem(
                    "policy_file",
                    f"cannot read {file}: {exc}",
                    str(file),
                    "make it a readable UTF-8 TOML file",
                )
            )
            return
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            line = re.search(r"line (\d+)", str(exc))
            number = line.group(1) if line else str(max(1, len(text.splitlines())))
            problems.append(
                ConfigProblem(
                    "toml",
                    f"not valid TOML: {exc}",
                    f"{file}:{number}",
                    "fix the syntax (https://toml.io); strings need quotes, tables [brackets]",
                )
            )
            return
        lines = _key_lines(text)
        self.first = self.first or f"{file}:1"
        offset = (
            len(self.data.get("custom", [])) if isinstance(self.data.get("custom"), list) else 0
        )

        def place(key: str) -> str:
            if offset and key.startswith("custom["):
                index, _, rest = key[len("custom[") :].partition("]")
                key = f"custom[{int(index) - offset}]{rest}"
            return f"{file}:{_line_for(lines, key)}"

        for key in _leaf_keys(data, "", offset):
            self.where[key] = place(key)
        _merge(self.data, data)

    def locate(self, key: str) -> str:
        """``file:line`` of a dotted key (or of its closest enclosing table)."""
        probe = key
        while probe:
            if probe in self.where:
                return self.where[probe]
            prefixes = [
                k for k in self.where if k.startswith(probe + ".") or k.startswith(probe + "[")
            ]
            if prefixes:
                return self.where[min(prefixes, key=lambda k: self.where[k])]
            probe = probe.rpartition(".")[0]
        return self.first


def _merge(into: dict[str, Any], data: Mapping[str, Any]) -> None:
    for key, value in data.items():
        if key == "custom" and isinstance(value, list) and isinstance(into.get(key), list):
            into[key] = [*into[key], *value]
        elif isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _leaf_keys(data: Mapping[str, Any], prefix: str, offset: int) -> Iterable[str]:
    for key, value in data.items():
        path = f"{prefix}{key}"
        if not prefix and key == "custom" and isinstance(value, list):
            for index, item in enumerate(value):
                item_path = f"custom[{index + offset}]"
                yield item_path
                if isinstance(item, dict):
                    yield from _leaf_keys(item, item_path + ".", 0)
            continue
        yield path
        if isinstance(value, dict):
            yield from _leaf_keys(value, path + ".", 0)


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_ASSIGN = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")
_INLINE_KEY = re.compile(r"[{,]\s*([A-Za-z0-9_\-\"']+)\s*=")


def _key_lines(text: str) -> dict[str, int]:
    """Dotted key -> the line that sets it, following tables and [[arrays]] of tables."""
    lines: dict[str, int] = {}
    table = ""
    arrays: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            name = _unquote_key(header.group(2))
            if header.group(1) == "[[":
                arrays[name] = arrays.get(name, -1) + 1
                table = f"{name}[{arrays[name]}]"
            else:
                head, _, rest = name.partition(".")
                table = f"{head}[{arrays[head]}].{rest}" if head in arrays and rest else name
            lines.setdefault(table, number)
            continue
        assign = _ASSIGN.match(line)
        if assign:
            key = (
                f"{table}.{_unquote_key(assign.group(1))}"
                if table
                else _unquote_key(assign.group(1))
            )
            lines.setdefault(key, number)
            for inner in _INLINE_KEY.findall(line[assign.end() :]):
                lines.setdefault(f"{key}.{_unquote_key(inner)}", number)
    return lines


def _unquote_key(key: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in key.split("."))


def _line_for(lines: Mapping[str, int], key: str) -> int:
    probe = key
    while probe:
        if probe in lines:
            return lines[probe]
        probe = probe.rpartition(".")[0]
    return 1
