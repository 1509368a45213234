"""The one schema validator: a policy-file section read with every problem reported.

Every section (the built-ins, ``[chain]``, ``[[custom]]``, ``[rate_limits]``, ``[budgets]``)
and the file's top level go through it, so an unknown key gets the same did-you-mean
wherever it is.

A :class:`Section` hands out typed values and remembers which keys were read, so that
whatever is left at the end is an unknown key (with the closest known one as the fix).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from golden_path.exceptions import ConfigProblem

__all__ = ["MODES", "Section", "did_you_mean", "missing"]

MODES = ("enforce", "report")
_MISSING = object()


class Section:
    """One table of a policy file (``[models]``), read with provenance."""

    def __init__(
        self,
        name: str,
        table: dict[str, Any],
        locate: Callable[[str], str],
        problems: list[ConfigProblem],
    ) -> None:
        self.name = name
        self.table = table
        self.locate = locate
        self.problems = problems
        self._seen: set[str] = set()
        self._start = len(problems)

    @property
    def ok(self) -> bool:
        """No problem was found in this section so far."""
        return len(self.problems) == self._start

    def key(self, key: str) -> str:
        """The dotted name of ``key`` (``models.allow``)."""
        return f"{self.name}.{key}"

    def problem(self, key: str, message: str, fix: str = "") -> None:
        """Report a problem with ``key`` of this section."""
        self.problems.append(ConfigProblem(self.key(key), message, self.locate(self.key(key)), fix))

    def raw(self, key: str) -> Any:
        """The value as written (or a sentinel when absent), marked as known."""
        self._seen.add(key)
        return self.table.get(key, _MISSING)

    def mode(self) -> str:
        """``mode = "enforce" | "report"``."""
        return self.choice("mode", MODES, "enforce")

    def choice(self, key: str, choices: Iterable[str], default: str) -> str:
        """A string among ``choices``."""
        options = tuple(choices)
        value = self.raw(key)
        if value is _MISSING:
            return default
        if not isinstance(value, str) or value not in options:
            self.problem(
                key,
                f"must be one of {', '.join(map(repr, options))}, got {value!r}",
                f'write {key} = "{options[0]}"',
            )
            return default
        return value

    def boolean(self, key: str, default: bool) -> bool:
        """``true`` or ``false``."""
        value = self.raw(key)
        if value is _MISSING:
            return default
        if not isinstance(value, bool):
            self.problem(key, f"must be true or false, got {value!r}", f"write {key} = true")
            return default
        return value

    def positive_int(self, key: str, default: int | None) -> int | None:
        """A whole number greater than 0."""
        value = self.raw(key)
        if value is _MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            self.problem(
                key, f"must be a whole number greater than 0, got {value!r}", f"write {key} = 8192"
            )
            return default
        return value

    def string(self, key: str, default: str | None) -> str | None:
        """A non-empty string."""
        value = self.raw(key)
        if value is _MISSING:
            return default
        if not isinstance(value, str) or not value.strip():
            self.problem(key, f"must be a non-empty string, got {value!r}", f'write {key} = "..."')
            return default
        return value

    def strings(
        self, key: str, default: list[str] | None, *, empty_fix: str = ""
    ) -> list[str] | None:
        """A non-empty list of non-empty strings.

        An empty list fails closed: ``allow = []`` or ``locations = []`` reads as "no rule" to
        one person and "nothing allowed" to another, so neither is guessed; ``empty_fix`` says
        how to write what was meant.
        """
        value = self.raw(key)
        if value is _MISSING:
            return default
        if value == []:
            self.problem(
                key,
                "is an empty list, which is ambiguous (no rule, or deny everything?)",
                empty_fix or f"list at least one value, or remove {key} to have no rule",
            )
            return default
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.problem(
                key, f"must be a list of non-empty strings, got {value!r}", f'write {key} = ["..."]'
            )
            return default
        return value

    def table_of_strings(self, key: str) -> dict[str, str]:
        """A sub-table whose values are strings (``[models.aliases]``)."""
        value = self.raw(key)
        if value is _MISSING:
            return {}
        if not isinstance(value, dict):
            self.problem(key, f"must be a table, got {value!r}", f"write [{self.key(key)}]")
            return {}
        good: dict[str, str] = {}
        for name, item in value.items():
            if not isinstance(item, str) or not item.strip():
                self.problems.append(
                    ConfigProblem(
                        f"{self.key(key)}.{name}",
                        f"must be a non-empty string, got {item!r}",
                        self.locate(f"{self.key(key)}.{name}"),
                        f'write {name} = "..."',
                    )
                )
            else:
                good[str(name)] = item
        return good

    def finish(
        self, extra_known: Iterable[str] = (), *, elsewhere: Mapping[str, str] | None = None
    ) -> None:
        """Report every key that was not read: unknown keys are errors, not silently ignored.

        ``elsewhere`` maps keys of other sections to their section, for "belongs in [x]".
        """
        known = sorted(self._seen | set(extra_known))
        for key in self.table:
            if key in self._seen or key in known:
                continue
            other = (elsewhere or {}).get(key)
            fix = f"{key} belongs in [{other}]" if other else did_you_mean(key, known)
            self.problem(key, f"unknown key in [{self.name}]", fix)


def did_you_mean(key: str, known: Sequence[str], *, what: str = "keys") -> str:
    """The fix for an unknown name: the closest known one, else the list of them."""
    close = difflib.get_close_matches(str(key), known, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"known {what}: {', '.join(known)}" if known else "remove it"


def missing(value: Any) -> bool:
    """Whether ``Section.raw`` found nothing."""
    return value is _MISSING
