"""Policy files -> a :class:`Chain`: read (``_files``), validate everything, build, or raise.

Every problem of every file is collected into one ConfigError naming file, line
and key; a policy set is built only when there is none, so it is never half loaded.

The chain's order is fixed, whatever the order of sections in the files::

    routes, canonical-json, limits, models, vertex, tools, generation, safety, labels, pii,
    [[custom]] policies (in file order), then [rate_limits]/[budgets]

Cheap refusals come first, content scanning late, and the quota policies last, so a request
another policy denies spends no quota.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import inspect
from collections.abc import Callable, Mapping, Sequence
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
from golden_path.policies._config import Section, did_you_mean, missing
from golden_path.policies._files import PolicyTables, read_policy_files
from golden_path.policies._layers import tighten
from golden_path.policies._models import ModelsPolicy
from golden_path.policies._pii_policy import PiiPolicy
from golden_path.policies._routing import RoutesPolicy, configure_batches
from golden_path.policies._types import HOOKS, check_policy

__all__ = ["ENTRY_POINT_GROUP", "PolicySet", "load_chain", "load_policy_set"]

ENTRY_POINT_GROUP = "golden_path.policies"

# Built-in sections in chain order.
_BUILTINS: tuple[tuple[str, Callable[[Section], Any]], ...] = (
    ("routes", RoutesPolicy.configure),
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
# Policies whose name is not (only) their section's: the quota policy is also "limits".
_POLICY_SECTIONS = {"limits": ("limits", "rate_limits", "budgets")}
SECTIONS = (*(name for name, _ in _BUILTINS), "batches", "custom", "chain", *_LIMIT_SECTIONS)


@dataclasses.dataclass(frozen=True, slots=True)
class PolicySet:
    """What a set of policy files describes: the policies in chain order, and fail-open."""

    policies: tuple[Any, ...]
    fail_open: bool
    files: tuple[Path, ...]
    # Section -> "platform", "app" or "platform+app" (an app file tightened it).
    layers: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def layer_of(self, policy_name: str) -> str:
        """Which layer(s) the sections behind a policy (by its name) came from."""
        sections = _POLICY_SECTIONS.get(policy_name, (policy_name,))
        found = [self.layers[s] for s in sections if s in self.layers]
        return "+".join(dict.fromkeys(part for f in found for part in f.split("+")))

    def chain(self) -> Chain:
        """A chain running these policies."""
        return Chain(self.policies, fail_open=self.fail_open)


def load_chain(settings: Settings, sources: Mapping[str, str] | None = None) -> Chain:
    """The chain ``policy_file`` and ``app_policy_file`` describe (empty when both are unset)."""
    sources = sources or {}
    return load_policy_set(
        [settings.policy_file] if settings.policy_file else [],
        settings=settings,
        source=sources.get("policy_file", "env GOLDEN_PATH_POLICY_FILE"),
        app_paths=[settings.app_policy_file] if settings.app_policy_file else [],
        app_source=sources.get("app_policy_file", "env GOLDEN_PATH_APP_POLICY_FILE"),
    ).chain()


def load_policy_set(
    paths: Sequence[Path],
    *,
    settings: Settings | None = None,
    source: str = "argument",
    app_paths: Sequence[Path] = (),
    app_source: str = "argument",
) -> PolicySet:
    """Parse, merge, validate and build; ConfigError listing every problem otherwise.

    ``paths`` are the platform's files (the floor); ``app_paths`` an app's, which may only
    tighten them (``_layers``): an app file that would loosen is a problem naming both places.
    """
    problems: list[ConfigProblem] = []
    tables = _read(paths, source, problems)
    app = _read(app_paths, app_source, problems) if app_paths else None
    if problems:
        raise ConfigError(problems)
    assert tables is not None
    layers = dict.fromkeys(tables.data, "platform")
    if app is not None:
        # The app's files on their own first: an unknown key gets did-you-mean, not "only the
        # platform may set it".
        _build(app, settings, problems)
        if problems:
            raise ConfigError(problems)
        layered = tighten(tables.data, tables.locate, app.data, app.locate, problems)
        if problems:
            raise ConfigError(problems)
        tables = PolicyTables(
            layered.data, (*tables.files, *app.files), _locator(layered.where, tables, app)
        )
        layers = layered.layers
    policies, fail_open = _build(tables, settings, problems)
    if problems:
        raise ConfigError(problems)
    return PolicySet(tuple(policies), fail_open, tables.files, layers=layers)


def _read(paths: Sequence[Path], source: str, problems: list[ConfigProblem]) -> PolicyTables | None:
    try:
        return read_policy_files(paths, source=source)
    except ConfigError as exc:
        problems.extend(exc.problems)
        return None


def _locator(
    where: Mapping[str, str], platform: PolicyTables, app: PolicyTables
) -> Callable[[str], str]:
    """``file:line`` of a dotted key: the app's file where the app set it, else the platform's."""

    def locate(key: str) -> str:
        probe = key
        while probe:
            if probe in where:
                return app.locate(key)
            probe = probe.rpartition(".")[0]
        if key.partition(".")[0].partition("[")[0] not in platform.data:
            return app.locate(key)
        return platform.locate(key)

    return locate


# ------------------------------------------------------------------------------- building


def _build(
    tables: PolicyTables, settings: Settings | None, problems: list[ConfigProblem]
) -> tuple[list[Any], bool]:
    data = tables.data
    locate = tables.locate
    for name, value in data.items():
        if name not in SECTIONS:
            problems.append(
                ConfigProblem(
                    name,
                    f"unknown section [{name}]"
                    if isinstance(value, dict)
                    else "unknown top-level key",
                    locate(name),
                    did_you_mean(name, SECTIONS, what="sections"),
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
    batches = data.get("batches")
    if isinstance(batches, dict):
        gate = next((p for p in policies if isinstance(p, RoutesPolicy)), None)
        if gate is None:
            gate = RoutesPolicy()
            policies.insert(0, gate)
        configure_batches(Section("batches", batches, locate, problems), gate)
    if any(not isinstance(p, (LimitsPolicy, RoutesPolicy)) for p in policies):
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
    from golden_path.policies._limits import build_limit_policies

    if settings is None:
        # The settings the client would run with (team, app, state store), never a blank set.
        from golden_path._settings import read_settings

        settings = read_settings().settings
    try:
        return list(build_limit_policies(sections, settings=settings, locate=locate))
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
    try:
        check_policy(inner, source=section.locate(section.key(key)))
    except ConfigError as exc:
        section.problems.extend(
            dataclasses.replace(
                p, field=section.key(key), message=f"{label}: {p.field} {p.message}"
            )
            for p in exc.problems
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
