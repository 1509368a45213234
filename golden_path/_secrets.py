r"""Secrets (API keys, tokens, private keys) by gitleaks' vetted rule set, plus a few of our own.

The rules are gitleaks' own ``config/gitleaks.toml``, copied as data with its MIT licence
(``_data/gitleaks.toml``): 200+ providers, each with keywords, a regular expression, the group
that holds the secret, a minimum entropy and allowlists. They are written for Go's RE2; the few
RE2-only spellings are translated when they are compiled (scoped ``(?i)``, ``\z``, POSIX
classes), and the end-of-secret guard also accepts the punctuation that follows a key in prose.
``_EXTRA`` adds the shapes gitleaks leaves out that matter to Gemini users: Google OAuth client
secrets, refresh and access tokens, AWS secret keys named as such, ``sk-`` keys and ``Bearer``
credentials.

Cost: rules are compiled on first use. A text is only searched when it has a run of 15 or more
token characters (prose almost never does), and then only the rules whose keywords occur in it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import tomllib
from collections import Counter
from importlib import resources
from typing import Any

__all__ = ["find_secrets", "rule_ids"]

# Rules that fire on ordinary text more than on secrets in prompts (measured on the corpus):
# none today; a rule id listed here is not loaded.
_DISABLED: frozenset[str] = frozenset()

# (id, keywords, regex, secret group): shapes gitleaks does not cover.
_EXTRA: tuple[tuple[str, tuple[str, ...], str, int], ...] = (
    # gitleaks wants a word boundary before AIza; the prefix is rare enough to need none, and a
    # key glued to other text is still a key.
    ("gcp-api-key-anywhere", ("aiza",), r"AIza[\w-]{35}", 0),
    ("gcp-oauth-client-secret", ("gocspx-",), r"\b(GOCSPX-[\w-]{28})(?![\w-])", 1),
    ("gcp-oauth-refresh-token", ("1//",), r"(?<![\w/])(1//0[\w-]{30,})", 1),
    ("gcp-oauth-access-token", ("ya29.",), r"\b(ya29\.[\w.-]{20,})", 1),
    (
        "aws-secret-access-key",
        ("aws", "secret"),
        r"(?i)(?:aws|secret)[\w .-]{0,30}?(?:key|secret)[\w .-]{0,10}?[\"']?\s*(?:[:=]|=>|:=)\s*"
        r"[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
        1,
    ),
    ("sk-key", ("sk-",), r"(?<![\w-])(sk-[\w-]{20,})", 1),
    ("bearer", ("bearer",), r"(?i)(?<![a-z])bearer\s+([\w~+/.-]{20,}=*)", 1),
    (
        "private-key-pem",
        ("private key-----",),
        r"(?i)-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[\s\S]*?-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----|[\s\S]*)",
        0,
    ),
)

# Where a rule's secret must end: gitleaks allows quote, whitespace, ';' or an escaped newline;
# in a prompt, a key is as often followed by '.', ',' or ')'.
_GO_END = "(?:[\\x60'\"\\s;]|\\\\[nr]|$)"
_PROSE_END = "(?=[\\x60'\"\\s;,.:!?)\\]}>]|\\\\[nr]|$)"
_IDENT = "(?i)[\\w.-]{0,50}?"
_TOKEN = re.compile(r"[\w.=+/~-]{15,}")
_WINDOW_BEFORE, _WINDOW_AFTER = 96, 4096


@dataclasses.dataclass(frozen=True, slots=True)
class _Allow:
    target: str  # "secret", "match" or "line"
    regexes: tuple[re.Pattern[str], ...]
    stopwords: tuple[str, ...]
    both: bool  # condition = "AND"

    def allows(self, secret: str, match: str, line: str) -> bool:
        subject = {"match": match, "line": line}.get(self.target, secret)
        by_regex = any(r.search(subject) for r in self.regexes) if self.regexes else None
        lowered = secret.lower()
        by_word = any(w in lowered for w in self.stopwords) if self.stopwords else None
        verdicts = [v for v in (by_regex, by_word) if v is not None]
        return bool(verdicts) and (all(verdicts) if self.both else any(verdicts))


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class _Rule:
    id: str
    keywords: tuple[str, ...]
    pattern: re.Pattern[str]
    group: int
    entropy: float
    allow: tuple[_Allow, ...]


def rule_ids() -> tuple[str, ...]:
    """The ids of every loaded rule (gitleaks' and ours)."""
    return tuple(dict.fromkeys(r.id for rules in _rules()[0].values() for r in rules))


def find_secrets(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, rule id)`` of each secret in ``text``."""
    if not _TOKEN.search(text) and "-----" not in text:
        return []
    by_keyword, global_allow = _rules()
    lowered = text.lower()
    hits: dict[_Rule, list[int]] = {}
    for keyword, rules in by_keyword.items():
        if keyword in lowered:
            at = _all(lowered, keyword)
            for rule in rules:
                hits.setdefault(rule, []).extend(at)
    found: list[tuple[int, int, str]] = []
    for rule, at in hits.items():
        for lo, hi in _windows(at, len(text)):
            for m in rule.pattern.finditer(text, lo, hi):
                if m.end() == hi and hi != len(text) and rule.id != "private-key-pem":
                    continue  # cut by the window: the real match is longer
                start, end = m.span(rule.group)
                if start < 0 or end <= start:
                    continue
                secret = text[start:end]
                if rule.entropy and _entropy(secret) < rule.entropy:
                    continue
                line = _line(text, m.start(), m.end())
                allows = (*rule.allow, *global_allow)
                if any(a.allows(secret, m.group(), line) for a in allows):
                    continue
                found.append((start, end, rule.id))
    return found


def _all(text: str, word: str) -> list[int]:
    out = []
    at = text.find(word)
    while at >= 0:
        out.append(at)
        at = text.find(word, at + 1)
    return out


def _windows(hits: list[int], size: int) -> list[tuple[int, int]]:
    windows: list[tuple[int, int]] = []
    for at in sorted(hits):
        lo, hi = max(0, at - _WINDOW_BEFORE), min(size, at + _WINDOW_AFTER)
        if windows and lo <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(hi, windows[-1][1]))
        else:
            windows.append((lo, hi))
    return windows


def _line(text: str, start: int, end: int) -> str:
    lo = text.rfind("\n", 0, start) + 1
    hi = text.find("\n", end)
    return text[lo : len(text) if hi < 0 else hi]


def _entropy(text: str) -> float:
    counts = Counter(text)
    size = len(text)
    return -sum(n / size * math.log2(n / size) for n in counts.values())


@functools.cache
def _rules() -> tuple[dict[str, tuple[_Rule, ...]], tuple[_Allow, ...]]:
    """The rules by keyword, and the global allowlist."""
    source = resources.files("golden_path").joinpath("_data/gitleaks.toml").read_text("utf-8")
    config = tomllib.loads(source)
    rules = []
    for raw in config.get("rules", []):
        if "regex" not in raw or raw["id"] in _DISABLED or not raw.get("keywords"):
            continue  # path-only rules judge file names, not text
        try:
            pattern = re.compile(_from_go(raw["regex"]))
        except re.error:
            continue  # an RE2 construct Python cannot express; rule_ids() shows what loaded
        group = int(raw.get("secretGroup", 1 if pattern.groups else 0))
        rules.append(
            _Rule(
                id=raw["id"],
                keywords=tuple(k.lower() for k in raw["keywords"]),
                pattern=pattern,
                group=group if group <= pattern.groups else 0,
                entropy=float(raw.get("entropy", 0.0)),
                allow=tuple(_allow(a) for a in raw.get("allowlists", [])),
            )
        )
    for rule_id, keywords, regex, group in _EXTRA:
        rules.append(_Rule(rule_id, keywords, re.compile(regex), group, 0.0, ()))
    by_keyword: dict[str, list[_Rule]] = {}
    for rule in rules:
        for keyword in rule.keywords:
            by_keyword.setdefault(keyword, []).append(rule)
    return {k: tuple(v) for k, v in by_keyword.items()}, (_allow(config.get("allowlist", {})),)


def _allow(raw: dict[str, Any]) -> _Allow:
    regexes = []
    for regex in raw.get("regexes", []):
        try:
            regexes.append(re.compile(_from_go(regex)))
        except re.error:
            continue
    return _Allow(
        target=str(raw.get("regexTarget", "secret")),
        regexes=tuple(regexes),
        stopwords=tuple(str(w).lower() for w in raw.get("stopwords", [])),
        both=str(raw.get("condition", "OR")).upper() == "AND",
    )


def _from_go(regex: str) -> str:
    """An RE2 expression in Python's spelling."""
    regex = regex.replace("[[:alnum:]]", "[0-9A-Za-z]").replace("[:alnum:]", "0-9A-Za-z")
    regex = regex.replace("\\z", "\\Z").replace(_GO_END, _PROSE_END)
    # "[\w.-]{0,50}?keyword": the leftmost match starts where the identifier does; saying so
    # spares Python's backtracking engine 50 tries at every other position (RE2 needs none).
    if regex.startswith(_IDENT):
        regex = "(?i)(?<![\\w.-])" + regex[len("(?i)") :]
    # RE2 allows (?i) anywhere, applying to the end of the enclosing group; Python only at the
    # start, so a later one becomes a scoped group (?i:...) up to that group's end.
    at = regex.find("(?i)", 1)
    while at > 0:
        end = _group_end(regex, at + 4)
        regex = regex[:at] + "(?i:" + regex[at + 4 : end] + ")" + regex[end:]
        at = regex.find("(?i)", at + 1)
    return regex


def _group_end(regex: str, at: int) -> int:
    depth, in_class = 0, False
    while at < len(regex):
        char = regex[at]
        if char == "\\":
            at += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if regex[at + 1 : at + 2] == "]":
                at += 1
        elif char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                return at
            depth -= 1
        at += 1
    return at
