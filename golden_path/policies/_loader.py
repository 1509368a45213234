"""Policy files -> a :class:`Chain`: parse, merge, validate everything, build, or raise.

``GOLDEN_PATH_POLICY_FILE`` names a TOML file or a directory whose ``*.toml`` files are merged
in name order (tables merge key by key, a later file's value wins; ``[[custom]]`` entries
accumulate). Every problem of every file is collected into one ConfigError naming file, line
and key; a policy set is built only when there is none, so it is never half loaded.

The chain's order is fixed, whatever the order of sections in the files::

    canonical-json, limits, models, vertex, tools, generation, safety, labels, pii,
    [[custom]] policies (in file order), then [rate_limits]/[budgets]

Cheap refusals come first, content scanning late, and the quota policies last, so a request
another policy denies spends no quota.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.metadata
import inspect
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from golden_path._settings import Settings
from golden_path.exceptions import ConfigError, ConfigProblem
from golden_path.policies._builtins import (
    CanonicalJson,
    GenerationPolicy,
    LabelsPolicy,
    LimitsPolicy,
    SafetyPolicy,
    ToolsPolicy,
    VertexPolicy,
)
from golden_path.policies._chain import Chain
from golden_path.policies._config import Section, missing
from golden_path.policies._models import ModelsPolicy
from golden_path.policies._pii_policy import PiiPolicy

__all__ = ["ENTRY_POINT_GROUP", "PolicySet", "load_chain", "load_policy_set", "policy_files"]

ENTRY_POINT_GROUP = "golden_path.policies"
HOOKS = ("on_request", "on_chunk", "on_response", "on_error")

# Built-in sections in chain order.
_BUILTINS: tuple[tuple[str, Callable[[Section], Any]], ...] = (
    ("limits", LimitsPolicy.configure),
    ("models", ModelsPolicy.configure),
    ("vertex", VertexPolicy.configure),
    ("tools", ToolsPolicy.configure),
    ("generation", GenerationPolicy.configure),
    ("safety", SafetyPolicy.configure),
    ("labels", LabelsPolicy.configure),
    ("pii", PiiPolicy.configure),
)
_LIMIT_SECTIONS = ("rate_limits", "budgets")
SECTIONS = (*(name for name, _ in _BUILTINS), "custom", "chain", *_LIMIT_SECTIONS)


@dataclasses.dataclass(frozen=True, slots=True)
class PolicySet:
    """What a set of policy files describes: the policies in chain order, and fail-open."""

    policies: tuple[Any, ...]
    fail_open: bool
    files: tuple[Path, ...]

    def chain(self) -> Chain:
        """A chain running these policies."""
        return Chain(self.policies, fail_open=self.fail_open)


def load_chain(settings: Settings, sources: Mapping[str, str] | None = None) -> Chain:
    """The chain ``settings.policy_file`` describes (empty when it is unset)."""
    if settings.policy_file is None:
        return Chain()
    source = (sources or {}).get("policy_file", "env GOLDEN_PATH_POLICY_FILE")
    return load_policy_set([settings.policy_file], settings=settings, source=source).chain()


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


def load_policy_set(
    paths: Sequence[Path], *, settings: Settings | None = None, source: str = "argument"
) -> PolicySet:
    """Parse, merge, validate and build; ConfigError listing every problem otherwise."""
    files, problems = policy_files(paths, source)
    merged = _Merged()
    for file in files:
        merged.add(file, problems)
    if problems:
        raise ConfigError(problems)
    policies, fail_open = _build(merged, settings, problems)
    if problems:
        raise ConfigError(problems)
    return PolicySet(tuple(policies), fail_open, tuple(files))


# ------------------------------------------------------------------------------ reading files


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


# ------------------------------------------------------------------------------- building


def _build(
    merged: _Merged, settings: Settings | None, problems: list[ConfigProblem]
) -> tuple[list[Any], bool]:
    data = merged.data
    locate = merged.locate
    for name, value in data.items():
        if name not in SECTIONS:
            close = difflib.get_close_matches(name, SECTIONS, n=1)
            problems.append(
                ConfigProblem(
                    name,
                    f"unknown section [{name}]"
                    if isinstance(value, dict)
                    else "unknown top-level key",
                    locate(name),
                    f"did you mean [{close[0]}]?"
                    if close
                    else f"known sections: {', '.join(SECTIONS)}",
                )
            )
        elif name != "custom" and not isinstance(value, dict):
            problems.append(
                ConfigProblem(
                    name,
                    f"must be a table [{name}], got {value!r}",
                    locate(name),
                    f"write [{name}] on a line of its own",
                )
            )
    policies: list[Any] = []
    for name, configure in _BUILTINS:
        table = data.get(name)
        if isinstance(table, dict):
            policy = configure(Section(name, table, locate, problems))
            if policy is not None:
                policies.append(policy)
    if any(not isinstance(p, LimitsPolicy) for p in policies):
        policies.insert(0, CanonicalJson())
    fail_open = False
    chain_table = data.get("chain")
    if isinstance(chain_table, dict):
        section = Section("chain", chain_table, locate, problems)
        fail_open = section.boolean("fail_open", False)
        section.finish()
    policies += _customs(data.get("custom"), locate, problems)
    policies += _limit_policies(data, settings, locate, problems)
    return policies, fail_open


def _limit_policies(
    data: Mapping[str, Any],
    settings: Settings | None,
    locate: Callable[[str], str],
    problems: list[ConfigProblem],
) -> list[Any]:
    sections = {name: data[name] for name in _LIMIT_SECTIONS if isinstance(data.get(name), dict)}
    if not sections:
        return []
    try:
        from golden_path.policies._limits import build_limit_policies
    except ModuleNotFoundError as exc:
        if exc.name != "golden_path.policies._limits":
            raise
        problems.extend(
            ConfigProblem(
                name,
                "rate limits and budgets are not available in this installation",
                locate(name),
                "remove the section or upgrade golden-path",
            )
            for name in sections
        )
        return []
    try:
        return list(
            build_limit_policies(
                sections, settings=settings or Settings.model_construct(), locate=locate
            )
        )
    except ConfigError as exc:
        problems.extend(exc.problems)
        return []


# ------------------------------------------------------------------------- custom policies


class CustomPolicy:
    """A custom policy as the policy file configured it.

    Its name, mode and fail-open setting around the object the factory returned, whose hooks
    are exposed as they are.
    """

    def __init__(self, inner: Any, *, name: str, mode: str, fail_open: bool) -> None:
        self.inner = inner
        self.name = name
        self.mode = mode
        self.fail_open = fail_open
        for hook in HOOKS:
            if callable(getattr(inner, hook, None)):
                setattr(self, hook, getattr(inner, hook))

    def __repr__(self) -> str:
        return f"<CustomPolicy {self.name} ({self.mode})>"


def _customs(value: Any, locate: Callable[[str], str], problems: list[ConfigProblem]) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(
            ConfigProblem(
                "custom",
                "must be an array of tables",
                locate("custom"),
                "write [[custom]] (double brackets) for each policy",
            )
        )
        return []
    built = []
    for index, entry in enumerate(value):
        section = Section(f"custom[{index}]", entry, locate, problems)
        policy = _custom(section)
        if policy is not None:
            built.append(policy)
    return built


def _custom(section: Section) -> Any:  # noqa: PLR0911 - one return per way to be wrong
    path = section.string("path", None)
    entry_point = section.string("entry_point", None)
    name = section.string("name", None)
    mode = section.mode()
    fail_open = section.boolean("fail_open", False)
    options = section.raw("options")
    section.finish()
    if isinstance(options, dict):
        kwargs = options
    elif missing(options):
        kwargs = {}
    else:
        section.problem(
            "options",
            f"must be a table, got {options!r}",
            f"write [{section.name.split('[')[0]}.options] after [[custom]]",
        )
        return None
    if (path is None) == (entry_point is None):
        section.problem(
            "path",
            "each [[custom]] needs exactly one of path or entry_point",
            'write path = "package.module:Policy" or entry_point = "name"',
        )
        return None
    if not section.ok:
        return None
    key = "path" if path else "entry_point"
    try:
        target = _import(path) if path else _entry_point(entry_point or "")
    except _LoadError as exc:
        section.problem(key, str(exc), exc.fix)
        return None
    label = path or f"entry point {entry_point}"
    if inspect.isclass(target) or inspect.isfunction(target) or inspect.ismethod(target):
        try:
            inner = target(**kwargs)
        except Exception as exc:  # noqa: BLE001 - any failure to build is a config problem
            section.problem(
                "options" if kwargs else key,
                f"building {label} failed: {type(exc).__name__}: {exc}",
                "check the options the policy accepts",
            )
            return None
    elif kwargs:
        section.problem(
            "options",
            f"{label} is an object, not a class or factory; it takes no options",
            "remove [custom.options] or point at a class",
        )
        return None
    else:
        inner = target
    if not any(callable(getattr(inner, hook, None)) for hook in HOOKS):
        section.problem(
            key,
            f"{label} has none of the hooks {', '.join(HOOKS)}",
            "point at a policy object or class (see docs/policies.md)",
        )
        return None
    final_name = name or getattr(inner, "name", None) or label
    return CustomPolicy(inner, name=str(final_name), mode=mode, fail_open=fail_open)


class _LoadError(Exception):
    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


def _import(path: str) -> Any:
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise _LoadError(f"{path!r} is not module:attribute", 'write "package.module:Policy"')
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise _LoadError(
            f"cannot import {module_name!r}: {exc}",
            "install the package that provides it in this environment",
        ) from None
    except Exception as exc:  # noqa: BLE001 - a module failing at import is a config problem
        raise _LoadError(
            f"importing {module_name!r} failed: {type(exc).__name__}: {exc}", "fix the module"
        ) from None
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise _LoadError(
                f"{module_name!r} has no attribute {attr!r}",
                "check the spelling of the attribute after the colon",
            ) from None
    return target


def _entry_point(name: str) -> Any:
    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    for entry in found:
        if entry.name == name:
            try:
                return entry.load()
            except Exception as exc:  # noqa: BLE001 - a broken plugin is a config problem
                raise _LoadError(
                    f"loading entry point {name!r} ({entry.value}) failed: "
                    f"{type(exc).__name__}: {exc}",
                    "fix or reinstall the plugin",
                ) from None
    names = sorted(e.name for e in found)
    raise _LoadError(
        f"no {ENTRY_POINT_GROUP!r} entry point named {name!r}",
        f"installed: {', '.join(names)}" if names else "install the package that registers it",
    )
