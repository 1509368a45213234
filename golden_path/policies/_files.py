"""The one policy-file reader: paths -> merged tables, each key with the file:line it came from.

``GOLDEN_PATH_POLICY_FILE`` names a TOML file or a directory whose ``*.toml`` files are merged
in name order: tables merge key by key (a later file's value wins), ``[[custom]]`` entries
accumulate. The loader, the limits, ``golden-path budget status``, ``policy check`` and
``policy explain`` all read policy files through :func:`read_policy_files`, so they cannot
disagree about what a set of files says.
"""

from __future__ import annotations

import dataclasses
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from golden_path._files import FileProblem, check_regular, key_lines, parse_toml, read_text
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
    """The TOML files ``paths`` name (directories expanded in name order), and what is wrong.

    Fails closed: a ``*.toml`` entry of a directory that is not a readable regular file (a
    dangling symlink of a half-mounted ConfigMap, a directory named ``x.toml``) is a problem,
    never skipped, so a policy set is never half loaded.
    """
    files: list[Path] = []
    problems: list[ConfigProblem] = []
    fix = "point GOLDEN_PATH_POLICY_FILE at a TOML file or a directory of them"
    for path in paths:
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            dangling = path.is_symlink()
            what = (
                "is a symbolic link whose target does not exist" if dangling else "does not exist"
            )
            problems.append(ConfigProblem("policy_file", f"{path} {what}", source, fix))
            continue
        except OSError as exc:
            problems.append(
                ConfigProblem("policy_file", f"{path} cannot be read ({exc.strerror})", source, fix)
            )
            continue
        if not stat.S_ISDIR(mode):
            files.append(path)  # read_text refuses FIFOs and devices with its own message
            continue
        files += _directory(path, source, problems)
    return files, problems


def _directory(path: Path, source: str, problems: list[ConfigProblem]) -> list[Path]:
    try:
        entries = sorted(path.glob("*.toml"))
    except OSError as exc:
        problems.append(
            ConfigProblem(
                "policy_file",
                f"{path} cannot be listed ({exc.strerror})",
                source,
                "make the directory readable",
            )
        )
        return []
    if not entries:
        problems.append(
            ConfigProblem(
                "policy_file",
                f"{path} contains no *.toml file",
                source,
                "add a policy file or point elsewhere",
            )
        )
    found = []
    for entry in entries:
        try:
            check_regular(entry, entry.stat().st_mode)
        except FileProblem as exc:
            problems.append(ConfigProblem("policy_file", exc.message, str(entry), exc.fix))
            continue
        except OSError:
            problems.append(
                ConfigProblem(
                    "policy_file",
                    f"{entry} is a symbolic link whose target does not exist"
                    if entry.is_symlink()
                    else f"{entry} cannot be read",
                    str(entry),
                    "fix or remove the entry: every *.toml in a policy directory is loaded, "
                    "and a set is never loaded in part",
                )
            )
            continue
        found.append(entry)
    return found


class _Merged:
    """The merged data of several files, with the file:line each value came from."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.where: dict[str, str] = {}
        self.first = ""

    def add(self, file: Path, problems: list[ConfigProblem]) -> None:
        try:
            text = read_text(file)
        except FileProblem as exc:
            problems.append(ConfigProblem("policy_file", exc.message, str(file), exc.fix))
            return
        try:
            data = parse_toml(text, file)
        except FileProblem as exc:
            where = f"{file}:{exc.line}" if exc.line else str(file)
            problems.append(ConfigProblem("toml", exc.message, where, exc.fix))
            return
        lines = key_lines(text)
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


def _line_for(lines: Mapping[str, int], key: str) -> int:
    probe = key
    while probe:
        if probe in lines:
            return lines[probe]
        probe = probe.rpartition(".")[0]
    return 1
