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

__all__ = ["find_secrets", "key_runs", "rule_ids"]

# Rules not loaded. The curl rules' ".*?" spans lines: a few milliseconds for every "curl" in a
# long text, and the credential they look for is found by the Bearer and generic rules anyway.
_DISABLED: frozenset[str] = frozenset({"curl-auth-header", "curl-auth-user"})

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
_TOKEN_BYTES = (
    bytes(ord("x") if chr(c).isalnum() or chr(c) in "_.=+/~-" else ord(" ") for c in range(128))
    + b" " * 128
)
_LONG_RUN = re.compile(rb"x{15,}")
_DIGIT = re.compile(r"[0-9]")
_TOKEN = re.compile(r"[\w.=+/~-]{15,}")
_WINDOW_BEFORE, _WINDOW_AFTER = 96, 4096


class _Words:
    """Does a text contain any of many words? Indexed by their first three characters.

    generic-api-key's allowlist has some 1,500 stopwords; testing each with ``in`` cost more
    than all the rest of a scan.
    """

    __slots__ = ("_by_prefix", "_short")

    def __init__(self, words: tuple[str, ...]) -> None:
        self._short = tuple(w for w in words if len(w) < 3)
        self._by_prefix: dict[str, list[str]] = {}
        for word in words:
            if len(word) >= 3:
                self._by_prefix.setdefault(word[:3], []).append(word)

    def __bool__(self) -> bool:
        return bool(self._short or self._by_prefix)

    def found_in(self, text: str) -> bool:
        if any(w in text for w in self._short):
            return True
        index = self._by_prefix
        for at in range(len(text) - 2):
            words = index.get(text[at : at + 3])
            if words and any(text.startswith(w, at) for w in words):
                return True
        return False


@dataclasses.dataclass(frozen=True, slots=True)
class _Allow:
    target: str  # "secret", "match" or "line"
    regexes: tuple[re.Pattern[str], ...]
    stopwords: _Words
    both: bool  # condition = "AND"

    def allows(self, secret: str, match: str, line: str) -> bool:
        # Stopwords first: they are cheap, and with "OR" a hit spares the regexes (one of
        # generic-api-key's costs a quarter of a millisecond on a short match).
        by_word = self.stopwords.found_in(secret.lower()) if self.stopwords else None
        if by_word is not None and by_word != self.both:
            return by_word
        if not self.regexes:
            return bool(by_word)
        subject = {"match": match, "line": line}.get(self.target, secret)
        return any(r.search(subject) for r in self.regexes)


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class _Rule:
    id: str
    keywords: tuple[str, ...]
    pattern: re.Pattern[str]
    group: int
    entropy: float
    allow: tuple[_Allow, ...]
    ident: bool = False  # starts with "[\\w.-]{0,50}?keyword": anchored where the name starts


def rule_ids() -> tuple[str, ...]:
    """The ids of every loaded rule (gitleaks' and ours)."""
    return tuple(dict.fromkeys(r.id for rules in _rules()[0].values() for r in rules))


def find_secrets(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, rule id)`` of each secret in ``text``."""
    hits = _keyword_hits(text)
    if not hits:
        return []
    global_allow = _rules()[1]
    found: list[tuple[int, int, str]] = []
    for rule, at in hits.items():
        for m in _matches(rule, text, at):
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


def key_runs(text: str) -> list[tuple[int, int]]:
    """Runs of 15+ token characters with a digit in them: where keys and tokens can be.

    A random key of that length without a digit is rarer than 1 in 200; a long word without
    one (an API field name, "responsibilities") is common, and skipping it is what keeps the
    keyword search off ordinary text.
    """
    if text.isascii():
        # Found at C speed on a translated copy (the regex would try every position).
        shape = text.encode("ascii").translate(_TOKEN_BYTES)
        spans = [m.span() for m in _LONG_RUN.finditer(shape)]
    else:
        spans = [m.span() for m in _TOKEN.finditer(text)]
    return [(a, b) for a, b in spans if _DIGIT.search(text, a, b)]


def _keyword_hits(text: str) -> dict[_Rule, list[int]]:
    """Where each rule's keywords occur, looking only near long tokens and PEM markers.

    A secret is a run of 15+ token characters (a PEM key starts with its dashes) and its
    keyword is inside it or at most _WINDOW_BEFORE characters before it; the rest of a long
    text is never searched, keyword by keyword, at all.
    """
    regions = key_runs(text)
    at = text.find("-----")
    while at >= 0:
        regions.append((at, at + 64))
        at = text.find("-----", at + 64)
    if not regions:
        return {}
    spans: list[tuple[int, int]] = []
    for start, end in sorted(regions):
        lo, hi = max(0, start - _WINDOW_BEFORE), min(len(text), end)
        if spans and lo <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(hi, spans[-1][1]))
        else:
            spans.append((lo, hi))
    lowered = text.lower()
    by_keyword = _rules()[0]
    hits: dict[_Rule, list[int]] = {}
    for lo, hi in spans:
        piece = lowered[lo:hi]
        for keyword, rules in by_keyword.items():
            if keyword in piece:
                where = [lo + p for p in _all(piece, keyword)]
                for rule in rules:
                    hits.setdefault(rule, []).extend(where)
    return hits


def _matches(rule: _Rule, text: str, hits: list[int]) -> list[re.Match[str]]:
    out: list[re.Match[str]] = []
    if rule.ident:
        # "name = value" rules: one anchored try where the identifier holding the keyword starts.
        tried: set[int] = set()
        for at in hits:
            start, floor = at, max(0, at - 50)
            while start > floor and (text[start - 1].isalnum() or text[start - 1] in "_.-"):
                start -= 1
            if start not in tried:
                tried.add(start)
                m = rule.pattern.match(text, start)
                if m:
                    out.append(m)
        return out
    for lo, hi in _windows(hits, len(text)):
        for m in rule.pattern.finditer(text, lo, hi):
            if m.end() == hi and hi != len(text) and rule.id != "private-key-pem":
                continue  # cut by the window: the real match is longer
            out.append(m)
    return out


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
    # At most 256 characters either side: a prompt can be one 100 KB "line", and the line
    # allowlists (import statements, Dockerfile mounts) are about short lines of code.
    lo = max(text.rfind("\n", 0, start) + 1, start - 256)
    hi = text.find("\n", end, end + 256)
    return text[lo : min(len(text), end + 256) if hi < 0 else hi]


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
        ident = raw["regex"].startswith(_IDENT)
        rules.append(
            _Rule(
                id=raw["id"],
                keywords=tuple(k.lower() for k in raw["keywords"]),
                pattern=pattern,
                group=group if group <= pattern.groups else 0,
                entropy=float(raw.get("entropy", 0.0)),
                allow=tuple(_allow(a) for a in raw.get("allowlists", [])),
                ident=ident,
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
        stopwords=_Words(tuple(str(w).lower() for w in raw.get("stopwords", []))),
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
