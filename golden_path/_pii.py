"""Finding personal data and secrets in text, and redacting exactly those spans.

One :class:`Scanner` serves the ``[pii]`` policy (requests and responses) and the audit trail's
content capture, so both see the same things. Detection runs on a *normalised* copy of the text
and maps every match back to the original characters, so a redaction replaces exactly the
sensitive span and nothing else changes:

* NFKC per character (a full-width at sign, digits and letters become ASCII), every decimal
  digit of any script becomes its ASCII digit, invisible format characters (zero-width
  space/joiner, word joiner, BOM, soft hyphen) are dropped, every space separator (NBSP, thin,
  ideographic) becomes a space and every dash or minus sign a hyphen. ASCII text skips all of this.

Kinds, each with checks that keep false alarms rare (measured by ``python -m benchmarks pii``
on the labelled corpus in ``benchmarks/data/pii_corpus.jsonl``):

* ``email``: internationalised local parts and domains (IDN, punycode);
* ``credit_card``: 13-19 digits, a known issuer prefix, the Luhn check and a real grouping
  (4-4-4-4, 4-6-5 for American Express, 4-6-4, ...) with one separator throughout;
* ``iban``: any lettercase and spacing, the country's registered length and the mod-97 check;
* ``us_ssn``: 3-2-4 groups with one separator (dash, dot, space, Unicode hyphen) or nine digits
  after "SSN"/"social security"; invalid areas, groups and serials excluded;
* ``phone``: ``+``/``00`` international numbers, NANP, national numbers with a trunk 0;
  dates, versions, IP addresses and order numbers are not phones;
* ``secret``: gitleaks' rule set and ours (:mod:`golden_path._secrets`).

Heavier engines (Presidio for names and addresses, or an app's own) plug in through
:class:`Detector`.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

from golden_path._secrets import find_secrets, key_runs

__all__ = [
    "ALL_KINDS",
    "BUILTIN_KINDS",
    "Detector",
    "Finding",
    "Scanner",
    "StreamRedactor",
    "default_scanner",
    "find",
    "redact_text",
]

BUILTIN_KINDS: tuple[str, ...] = ("email", "phone", "credit_card", "iban", "us_ssn", "secret")
ALL_KINDS = BUILTIN_KINDS

# When two findings overlap, their union is redacted under the more specific kind.
_PRIORITY = {"secret": 0, "iban": 1, "credit_card": 2, "us_ssn": 3, "email": 4, "phone": 5}


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    """One match: ``text[start:end]`` is a ``kind`` (never stored: findings are safe to log).

    ``rule`` says which rule found it (a secret's provider, say), for reports and benchmarks.
    """

    kind: str
    start: int
    end: int
    rule: str = dataclasses.field(default="", compare=False)


@runtime_checkable
class Detector(Protocol):
    """An engine that finds more kinds (names, addresses) for the same policy and audit.

    ``find`` gets the original text and returns findings in its character offsets.
    """

    name: str
    kinds: frozenset[str]

    def find(self, text: str, kinds: frozenset[str]) -> list[Finding]:
        """Findings of the wanted ``kinds`` (a subset of :attr:`kinds`) in ``text``."""
        ...


# ---------------------------------------------------------------------------- normalising


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


@functools.lru_cache(maxsize=4096)
def _normal(char: str) -> str:
    category = unicodedata.category(char)
    if category == "Cf":
        return ""  # zero-width space/joiner, word joiner, BOM, soft hyphen, bidi marks
    if category == "Nd":
        return str(unicodedata.decimal(char))
    if category == "Zs":
        return " "
    if category == "Pd" or char == "\u2212":
        return "-"
    return unicodedata.normalize("NFKC", char)


class _Normalised:
    """A normalised copy of a text, and the way back to the original's offsets."""

    __slots__ = ("_breaks", "_spans", "text")

    def __init__(self, original: str) -> None:
        self.text = original
        self._breaks: list[int] = []  # normalised offset where each piece starts
        self._spans: list[tuple[int, int, bool]] = []  # (original offset, length, copied)
        if original.isascii():
            return
        pieces: list[str] = []
        at = out = 0
        for m in _NON_ASCII.finditer(original):
            char = m.group()
            new = _normal(char)
            if new == char:
                continue
            start = m.start()
            if start > at:
                pieces.append(original[at:start])
                self._breaks.append(out)
                self._spans.append((at, start - at, True))
                out += start - at
            if new:
                pieces.append(new)
                self._breaks.append(out)
                self._spans.append((start, len(new), False))
                out += len(new)
            at = start + 1
        if not pieces:
            return
        pieces.append(original[at:])
        self._breaks.append(out)
        self._spans.append((at, len(original) - at, True))
        self.text = "".join(pieces)

    def start(self, index: int) -> int:
        """The original offset of normalised character ``index``."""
        if not self._breaks:
            return index
        piece = bisect.bisect_right(self._breaks, index) - 1
        if piece < 0:
            return index
        origin, _, copied = self._spans[piece]
        return origin + (index - self._breaks[piece]) if copied else origin

    def end(self, index: int) -> int:
        """The original offset just after normalised character ``index - 1``."""
        if not self._breaks or index == 0:
            return index
        return self.start(index - 1) + 1


# ------------------------------------------------------------------------------ the kinds


_EMAIL = re.compile(
    r"(?<![\w.%+'-])[^\W_](?:[\w.%+'-]{0,63})@"
    r"(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+(?:[^\W\d_]{2,24}|xn--[a-z0-9-]{1,59})(?![\w-])"
    # user@host:path is an scp-style address (git@github.com:org/repo), not a mailbox.
    r"(?!:[\w~/])"
)

# Numbers are located on a translated copy of the text (C speed: digits -> "0", separators
# -> "-", letters -> "A", anything else -> " "), then parsed in Python.
_SHAPE = bytearray(b" " * 256)
for _c in b"0123456789":
    _SHAPE[_c] = ord("0")
for _c in b" ().-/+":
    _SHAPE[_c] = ord("-")
for _c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz":
    _SHAPE[_c] = ord("A")
_SHAPE_TABLE = bytes(_SHAPE)
del _SHAPE, _c
# A run starts at a digit with no letter, digit or "digit, separator" just before it.
# The lookbehinds come after the first "0" so the engine can skip to digits at memchr speed.
_NUMBER_SHAPE = re.compile(rb"0(?<![A0]0)(?<!0-0)(?:-{0,3}0)+(?![A0])")
_GROUPS = re.compile(r"\d+")
_SEP_OK = re.compile(r"^(?: {1,2}|[.\-/]| ?- ?)$")
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|6(?:011|5|4[4-9]|2)|35|36|30[0-5]|38|39)")
_CARD_GROUPS = {(4, 6, 5), (4, 6, 4), (4, 4, 4, 1), (4, 4, 4, 3), (4, 4, 4, 4), (4, 4, 4, 4, 3)}
_SSN_CONTEXT = re.compile(
    r"(?i)(?:ssn|social security(?: number| no\.?)?|ss#)"
    r"(?:\W{0,3}(?:is|was|no\.?|number|#))?\W{0,4}$"
)

_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip
_IBAN_START = re.compile(rb"AA00(?<![A0]AA00)")

# Every secret has a run of 15+ token characters (a PEM key has its dashes); prose almost never
# does, so one translate and one find rule most texts out before any rule is looked at.
_TOKEN = bytearray(b" " * 256)
for _c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-./+=~":
    _TOKEN[_c] = ord("x")
_TOKEN_TABLE = bytes(_TOKEN)
del _TOKEN, _c
_LONG_TOKEN = b"x" * 15
_KEY_TAIL = re.compile(r"[A-Za-z0-9_-]*")


def _nothing_to_find(text: str) -> bool:
    """No built-in kind fits ASCII text without a digit, an "@" or a PEM marker.

    Single-character ``in`` runs at memchr speed; a regex over the text would not.
    """
    return (
        "@" not in text
        and "-----" not in text
        # Written out: a generator over the ten digits costs more than the searches.
        and "0" not in text
        and "1" not in text
        and "2" not in text
        and "3" not in text
        and "4" not in text
        and "5" not in text
        and "6" not in text
        and "7" not in text
        and "8" not in text
        and "9" not in text
    )


def _builtin(text: str, wanted: frozenset[str]) -> list[Finding]:
    """Built-in findings in offsets of ``text`` (already normalised)."""
    found: list[Finding] = []
    raw = text.encode("utf-8", "surrogatepass")
    long_run = _LONG_TOKEN in raw.translate(_TOKEN_TABLE)
    if "secret" in wanted and ((long_run and key_runs(text)) or "-----" in text):
        # A key followed by more key characters is a longer key: redact all of it.
        found += [
            Finding("secret", s, _KEY_TAIL.match(text, e).end(), rule)  # type: ignore[union-attr]
            for s, e, rule in find_secrets(text)
        ]
    if "email" in wanted and "@" in text:
        found += [Finding("email", m.start(), m.end()) for m in _EMAIL.finditer(text)]
    numeric = wanted & {"phone", "credit_card", "us_ssn"}
    iban = "iban" in wanted
    if (numeric or iban) and any(d in raw for d in b"0123456789"):
        shape = raw.translate(_SHAPE_TABLE)
        ascii_only = len(raw) == len(text)
        if iban:
            found += _ibans(text, raw, shape, ascii_only)
        if numeric:
            for m in _NUMBER_SHAPE.finditer(shape):
                start, end = m.span()
                if shape.count(b"0", start, end) < 7:
                    continue  # dates, times, short numbers
                if not ascii_only:
                    start, end = _chars(raw, start), _chars(raw, end)
                found += _numbers(text, start, end, numeric)
    return found


def _chars(raw: bytes, offset: int) -> int:
    # Byte offset -> character offset; candidates are ASCII, so offsets fall between characters.
    return len(raw[:offset].decode("utf-8", "surrogatepass"))


def _numbers(text: str, start: int, end: int, kinds: frozenset[str]) -> list[Finding]:
    """Cards, SSNs and phones in one run of digits and separators."""
    if start > 0 and text[start - 1] in "+(":
        start -= 1  # a leading "+" or "(" belongs to a phone number
    run = text[start:end]
    groups = [(m.start(), m.end()) for m in _GROUPS.finditer(run)]
    if len(groups) > 40:
        return []  # a table of numbers, not one number
    found: list[Finding] = []
    sizes = tuple(b - a for a, b in groups)
    seps = {run[a:b] for (_, a), (b, _) in itertools.pairwise(groups)}
    if sizes in _CARD_GROUPS and len(seps) == 1:
        # Card-shaped: it is a card or a reference number, never a phone inside one.
        kind = _classify(run, groups, lo=groups[0][0], text=text, offset=start, kinds=kinds)
        return [Finding(kind, start + groups[0][0], start + groups[-1][1])] if kind else []
    i = 0
    while i < len(groups):
        # The longest stretch of groups from i that is one thing; else move on one group. A
        # stretch starts and ends where the run has a space: 10.0.0512.1234 holds no number.
        if i and not run[groups[i - 1][1] : groups[i][0]].isspace():
            i += 1
            continue
        for j in range(len(groups), i, -1):
            if j < len(groups) and not run[groups[j - 1][1] : groups[j][0]].isspace():
                continue
            lo = groups[i][0]
            if lo > 0 and run[lo - 1] in "+(":
                lo -= 1
            piece = groups[i:j]
            kind = _classify(run, piece, lo=lo, text=text, offset=start, kinds=kinds)
            if kind is not None:
                found.append(Finding(kind, start + lo, start + groups[j - 1][1]))
                i = j
                break
        else:
            i += 1
    return found


def _classify(
    run: str,
    groups: list[tuple[int, int]],
    *,
    lo: int,
    text: str,
    offset: int,
    kinds: frozenset[str],
) -> str | None:
    digits = "".join(run[a:b] for a, b in groups)
    seps = [run[groups[k][1] : groups[k + 1][0]] for k in range(len(groups) - 1)]
    sizes = tuple(b - a for a, b in groups)
    n = len(digits)
    plus = run[lo] == "+"
    one_sep = len(set(seps)) <= 1 and all(_SEP_OK.match(s) for s in seps)
    grouped = len(sizes) == 1 or sizes in _CARD_GROUPS
    card = "credit_card" in kinds and 13 <= n <= 19 and not plus and one_sep and grouped
    if card and _card_ok(digits):
        return "credit_card"
    if "us_ssn" in kinds and n == 9 and not plus and _ssn_ok(digits):
        grouped = sizes == (3, 2, 4) and one_sep and seps[0].strip(" ") in ("-", ".", "")
        before = text[max(0, offset + lo - 24) : offset + lo]
        if grouped or (len(sizes) == 1 and _SSN_CONTEXT.search(before)):
            return "us_ssn"
    if "phone" in kinds and _phone_ok(run[lo : lo + 1], digits, sizes, seps):
        return "phone"
    return None


def _card_ok(digits: str) -> bool:
    return bool(_CARD_PREFIX.match(digits)) and _luhn(digits)


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _ssn_ok(digits: str) -> bool:
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _phone_ok(  # noqa: PLR0911 - one return per numbering plan reads best
    first: str, digits: str, sizes: tuple[int, ...], seps: list[str]
) -> bool:
    n = len(digits)
    plus = first == "+"
    if any(len(s.strip(" ")) > 1 and s.strip(" ") not in (")", "(", ")-", ")/") for s in seps):
        return False
    dotted = any("." in s for s in seps)
    if plus or digits.startswith("00"):
        # International: +CC or 00CC, groups of at most 5 (but one longer subscriber part).
        rest = n if plus else n - 2
        if not 8 <= rest <= 15 or digits[2 if not plus else 0] == "0":
            return False
        return len(sizes) >= 2 or (plus and rest >= 10)
    if dotted and not (set(sizes[1:]) == {2} or sizes in ((3, 3, 4), (1, 3, 3, 4))):
        return False  # dots: 06.12.34.56.78 or 415.555.0132; anything else is a version
    if digits[0] == "0":
        # National with a trunk 0: 020 7946 0958, 06 12 34 56 78, 030/1234567, 0151 2345678.
        return 10 <= n <= 12 and len(sizes) >= 2 and sizes[0] <= 5
    if n == 10 and sizes == (5, 5) and digits[0] in "6789":
        return True  # India: 98765 43210
    if n == 11 and digits[0] == "1":
        digits, sizes = digits[1:], sizes[1:] if sizes[0] == 1 else ()
        if not sizes:
            return False
    if n in (10, 11) and len(digits) == 10:
        # NANP: (415) 555-0132, 415-555-0132, 415.555.0132, 415 555 0132.
        nanp = sizes in ((3, 3, 4), (3, 7)) or (sizes == (10,) and first == "(")
        return nanp and digits[0] >= "2" and digits[3] >= "2" and len(set(seps[-2:])) <= 2
    return False


def _ibans(text: str, raw: bytes, shape: bytes, ascii_only: bool) -> list[Finding]:
    found: list[Finding] = []
    for m in _IBAN_START.finditer(shape):
        at = m.start()
        start = at if ascii_only else _chars(raw, at)
        end = _iban_at(text, start)
        if end:
            found.append(Finding("iban", start, end))
    return found


def _iban_at(text: str, start: int) -> int:
    """The end of the IBAN starting at ``start``, or 0."""
    country = text[start : start + 2].upper()
    length = _IBAN_LENGTHS.get(country)
    if length is None:
        return 0
    chars: list[str] = []
    at = start
    sep = ""
    while at < len(text) and len(chars) < length:
        char = text[at]
        if char.isascii() and char.isalnum():
            chars.append(char.upper())
        elif char in " -" and chars and text[at - 1] not in " -" and len(chars) >= 4:
            if sep and char != sep:
                return 0
            sep = char
        else:
            return 0
        at += 1
    if len(chars) != length or (at < len(text) and text[at].isalnum()):
        return 0
    code = "".join(chars)
    if not code[2:4].isdigit():
        return 0
    rearranged = code[4:] + code[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return at if int(number) % 97 == 1 else 0


# ------------------------------------------------------------------------------ scanning


class Scanner:
    """Finds the configured kinds with the built-in rules and any extra engines."""

    def __init__(
        self, kinds: Iterable[str] = BUILTIN_KINDS, engines: Sequence[Detector] = ()
    ) -> None:
        self.kinds = frozenset(kinds)
        self.engines = tuple(engines)
        self._builtin = self.kinds & frozenset(BUILTIN_KINDS)
        self._extra = [(e, self.kinds & e.kinds) for e in self.engines if self.kinds & e.kinds]

    def find(self, text: str) -> list[Finding]:
        """Every finding in ``text``, in order, without overlaps (original offsets)."""
        if not self._extra and text.isascii() and _nothing_to_find(text):
            return []
        norm = _Normalised(text)
        found = _builtin(norm.text, self._builtin)
        if norm.text is not text and found:
            found = [Finding(f.kind, norm.start(f.start), norm.end(f.end), f.rule) for f in found]
        for engine, kinds in self._extra:
            found += engine.find(text, kinds)
        if len(found) < 2:
            return found
        return _without_overlaps(found)

    def finds_nothing(self, texts: list[str]) -> bool:
        """Whether :meth:`find` is sure to find nothing in any of ``texts``: one test for all.

        The same shortcut :meth:`find` takes for one text, taken once over all of them
        (joined by a newline, which no rule's marker spans); False means look one by one.
        """
        if self._extra:
            return False
        text = "\n".join(texts)
        return text.isascii() and _nothing_to_find(text)

    def redact(self, text: str) -> tuple[str, list[Finding]]:
        """``text`` with each finding replaced by ``[REDACTED:<kind>]``, and the findings."""
        findings = self.find(text)
        return _replace(text, findings), findings

    def stream(self) -> StreamRedactor:
        """A redactor for text that arrives in pieces."""
        return StreamRedactor(self)


def _replace(text: str, findings: list[Finding]) -> str:
    if not findings:
        return text
    pieces: list[str] = []
    at = 0
    for finding in findings:
        pieces += (text[at : finding.start], f"[REDACTED:{finding.kind}]")
        at = finding.end
    pieces.append(text[at:])
    return "".join(pieces)


def _without_overlaps(found: list[Finding]) -> list[Finding]:
    found.sort(key=lambda f: (f.start, -f.end))
    kept: list[Finding] = []
    for finding in found:
        if kept and finding.start < kept[-1].end:
            last = kept[-1]
            kind = min(last.kind, finding.kind, key=lambda k: _PRIORITY.get(k, 9))
            rule = last.rule if kind == last.kind else finding.rule
            kept[-1] = Finding(kind, last.start, max(last.end, finding.end), rule)
            continue
        kept.append(finding)
    return kept


class StreamRedactor:
    """Redacts text that arrives in pieces without holding the whole of it.

    :meth:`feed` returns what is safe to pass on now; the rest (at most a bounded tail: the
    trailing token and the last :data:`HOLD` characters, or an unfinished PEM key up to
    :data:`HOLD_PEM`) waits for the next piece, so a number or key split across two pieces is
    still caught. :meth:`flush` returns the tail at the end.
    """

    HOLD = 96
    HOLD_TOKEN = 1024
    HOLD_PEM = 16384

    def __init__(self, scanner: Scanner) -> None:
        self._scanner = scanner
        self._tail = ""
        self.counts: dict[str, int] = {}

    def feed(self, text: str) -> str:
        """Redacted text safe to emit now."""
        buffer = self._tail + text
        cut = self._safe_cut(buffer)
        findings = self._scanner.find(buffer)
        for finding in findings:
            if finding.start < cut < finding.end or (finding.end == cut and cut < len(buffer)):
                cut = finding.start  # may still grow: hold it whole
        emitted = [f for f in findings if f.end <= cut]
        self._count(emitted)
        self._tail = buffer[cut:]
        return _replace(buffer[:cut], emitted)

    def flush(self) -> str:
        """Whatever is still held, redacted."""
        text, findings = self._scanner.redact(self._tail)
        self._count(findings)
        self._tail = ""
        return text

    def _safe_cut(self, buffer: str) -> int:
        size = len(buffer)
        cut = max(0, size - self.HOLD)
        pem = buffer.rfind("-----BEGIN", max(0, size - self.HOLD_PEM))
        if pem < 0:
            pem = buffer.lower().rfind("-----begin", max(0, size - self.HOLD_PEM))
        if pem >= 0 and "-----END" not in buffer[pem:].upper():
            return pem
        # The token at the end may be the start of a key: hold all of it (within a bound).
        while cut > max(0, size - self.HOLD_TOKEN) and not buffer[cut - 1].isspace():
            cut -= 1
        return cut

    def _count(self, findings: list[Finding]) -> None:
        for finding in findings:
            self.counts[finding.kind] = self.counts.get(finding.kind, 0) + 1


_DEFAULT = Scanner()


def default_scanner() -> Scanner:
    """The scanner of every built-in kind and no engines."""
    return _DEFAULT


def find(text: str, kinds: Iterable[str] = BUILTIN_KINDS) -> list[Finding]:
    """Every built-in finding of ``kinds`` in ``text``, in order, without overlaps."""
    scanner = _DEFAULT if kinds is BUILTIN_KINDS else Scanner(kinds)
    return scanner.find(text)


def redact_text(text: str, kinds: Iterable[str] = BUILTIN_KINDS) -> tuple[str, list[Finding]]:
    """``text`` with each finding replaced by ``[REDACTED:<kind>]``, and the findings."""
    scanner = _DEFAULT if kinds is BUILTIN_KINDS else Scanner(kinds)
    return scanner.redact(text)
