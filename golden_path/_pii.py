"""Finding personal data and secrets in text, with checks that keep false alarms rare.

Used by the ``[pii]`` policy (before a request leaves) and by the audit trail
(``GOLDEN_PATH_AUDIT_CONTENT=redacted``). Every detector is a precompiled regular expression
behind a cheap pre-check (``"@" in text`` for emails, a digit run for numbers, literal prefixes
for secrets), and numbers are only reported when their checksum or structure holds:

* ``credit_card``: 13-19 digits, a known issuer prefix, consistent grouping and the Luhn check;
* ``iban``: country code, check digits and the ISO 13616 mod-97 check;
* ``us_ssn``: ``AAA-GG-SSSS`` with the invalid areas (000, 666, 900-999), group 00 and
  serial 0000 excluded;
* ``phone``: international (``+`` and 8-15 digits) or formatted national numbers (NANP
  ``(415) 555-0132`` / ``415-555-0132``, or a leading 0 and 9-12 digits); bare digit runs such as
  order numbers, dates and version strings are not phones;
* ``secret``: Google API keys (``AIza...``), OAuth access tokens (``ya29.``), PEM private keys,
  AWS access key ids, ``sk-...`` keys, GitHub and Slack tokens, ``Bearer`` credentials.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

__all__ = ["ALL_KINDS", "Finding", "find", "redact_text"]

ALL_KINDS: tuple[str, ...] = ("email", "phone", "credit_card", "iban", "us_ssn", "secret")

# When two findings overlap, the more specific kind wins.
_PRIORITY = {"secret": 0, "iban": 1, "credit_card": 2, "us_ssn": 3, "email": 4, "phone": 5}


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    """One match: ``text[start:end]`` is a ``kind`` (never stored: findings are safe to log)."""

    kind: str
    start: int
    end: int


_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)

_CARD = re.compile(
    r"(?<!\d)(?:\d{4}[ -]?){2,3}\d{1,7}(?!\d)"
    r"|(?<!\d)\d{4}[ -]?\d{6}[ -]?\d{5}(?!\d)"  # American Express: 4-6-5
)
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|6(?:011|5|4[4-9])|35|36|30[0-5]|38|39)")
_SSN = re.compile(r"(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])")
_PHONE = re.compile(
    # International: +, country code, then groups.
    r"(?<![\d])\+\d{1,3}(?:[ .\-]?\(?\d{1,4}\)?){2,6}(?!\d)"
    # NANP: (415) 555-0132, 415-555-0132, 415.555.0132, 415 555 0132.
    r"|(?<![\d])(?:\([2-9]\d{2}\)\s?|[2-9]\d{2}[ .\-])[2-9]\d{2}[ .\-]\d{4}(?!\d)"
    # National with a trunk 0: 020 7946 0958, 06 12 34 56 78, 030-1234567.
    r"|(?<![\d])0\d{1,4}(?:[ \-/]\d{2,8}){1,4}(?!\d)"
)
_IBAN = re.compile(r"([A-Z]{2})(\d{2})((?: ?[A-Z0-9]){11,30})(?![A-Za-z0-9])")
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22,
    "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28,
    "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31,
    "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SA": 24, "SE": 24, "SI": 19, "SK": 24,
    "SM": 27, "TR": 26,
}  # fmt: skip

# Each secret pattern starts with a literal, so ``re`` skips to candidates at memchr speed; the
# hint is checked with ``in`` first, which is cheaper still.
_SECRETS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("AIza", re.compile(r"AIza[0-9A-Za-z_\-]{35}")),
    ("ya29.", re.compile(r"ya29\.[0-9A-Za-z_\-.]{20,}")),
    ("AKIA", re.compile(r"(?<![A-Z0-9])AKIA[0-9A-Z]{16}(?![A-Z0-9])")),
    ("ASIA", re.compile(r"(?<![A-Z0-9])ASIA[0-9A-Z]{16}(?![A-Z0-9])")),
    ("sk-", re.compile(r"(?<![\w-])sk-(?:[A-Za-z0-9]+-)*[A-Za-z0-9_]{20,}")),
    ("gh", re.compile(r"(?<![A-Za-z0-9])gh[pousr]_[A-Za-z0-9]{36,}")),
    ("xox", re.compile(r"xox[abprs]-[A-Za-z0-9-]{10,}")),
    ("earer", re.compile(r"(?<![A-Za-z])[Bb]earer\s+[A-Za-z0-9\-._~+/]{20,}=*")),
    ("EARER", re.compile(r"(?<![A-Za-z])BEARER\s+[A-Za-z0-9\-._~+/]{20,}=*")),
)

# A truncated key is still a key: without its END line it runs to the end of the text.
_PEM = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*"
    r"PRIVATE KEY-----|[\s\S]*)"
)

# Numbers and IBANs are located on a translated copy of the text (C speed: digits -> "0",
# separators -> "-", capitals -> "A", anything else -> " "), then checked precisely in place.
_SHAPE = bytearray(b" " * 256)
for _c in b"0123456789":
    _SHAPE[_c] = ord("0")
for _c in b" ().-/+":
    _SHAPE[_c] = ord("-")
for _c in range(ord("A"), ord("Z") + 1):
    _SHAPE[_c] = ord("A")
_SHAPE_TABLE = bytes(_SHAPE)
del _SHAPE, _c
_NUMBER_SHAPE = re.compile(rb"0[0\-]{5,}0")
# Every secret above has a run of 15+ token characters; prose almost never does, so one
# translate and one search rule most texts out before any hint is looked for.
_TOKEN = bytearray(b" " * 256)
for _c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-./+=":
    _TOKEN[_c] = ord("x")
_TOKEN_TABLE = bytes(_TOKEN)
del _TOKEN, _c
_LONG_TOKEN = b"x" * 15


def find(text: str, kinds: Iterable[str] = ALL_KINDS) -> list[Finding]:
    """Every finding of ``kinds`` in ``text``, in order, without overlaps."""
    wanted = kinds if isinstance(kinds, frozenset) else frozenset(kinds)
    found: list[Finding] = []
    raw = text.encode("utf-8", "surrogatepass")
    if "secret" in wanted:
        found += _secrets(text, raw)
    if "email" in wanted and "@" in text:
        found += _emails(text)
    numeric = wanted & {"phone", "credit_card", "us_ssn"}
    iban = "iban" in wanted
    if numeric or iban:
        shape = raw.translate(_SHAPE_TABLE)
        ascii_only = len(raw) == len(text)
        if iban:
            found += _ibans(text, raw, shape, ascii_only)
        if numeric:
            for m in _NUMBER_SHAPE.finditer(shape):
                start, end = m.span()
                # Fewer than 9 digits is a date or a short number, unless "+" starts a phone.
                if shape.count(b"0", start, end) < 9 and raw[start - 2 : start].find(b"+") < 0:
                    continue
                if not ascii_only:
                    start, end = _chars(raw, start), _chars(raw, end)
                # Two characters back: a leading "+" or "(" belongs to the number.
                lo = max(0, start - 2)
                found += _numbers(text[lo:end], lo, numeric)
    if len(found) < 2:
        return found
    return _without_overlaps(found)


def _secrets(text: str, raw: bytes) -> list[Finding]:
    found: list[Finding] = []
    if "PRIVATE KEY-----" in text:
        found += [Finding("secret", m.start(), m.end()) for m in _PEM.finditer(text)]
    if _LONG_TOKEN in raw.translate(_TOKEN_TABLE):
        for hint, pattern in _SECRETS:
            if hint in text:
                found += [Finding("secret", m.start(), m.end()) for m in pattern.finditer(text)]
    return found


def _chars(raw: bytes, offset: int) -> int:
    # Byte offset -> character offset; candidates are ASCII, so offsets fall between characters.
    return len(raw[:offset].decode("utf-8", "surrogatepass"))


def _emails(text: str) -> list[Finding]:
    found: list[Finding] = []
    at = text.find("@")
    while at >= 0:
        lo = max(0, at - 64)
        for m in _EMAIL.finditer(text, lo, at + 256):
            if m.start() <= at < m.end():
                found.append(Finding("email", m.start(), m.end()))
                break
        at = text.find("@", at + 1)
    return found


def _ibans(text: str, raw: bytes, shape: bytes, ascii_only: bool) -> list[Finding]:
    found: list[Finding] = []
    at = shape.find(b"AA00")
    while at >= 0:
        start = at if ascii_only else _chars(raw, at)
        m = _IBAN.match(text, start)
        if m and (start == 0 or not text[start - 1].isalnum()) and _iban_ok(*m.groups()):
            found.append(Finding("iban", m.start(), m.end()))
            at = shape.find(b"AA00", at + len(m.group().encode()))
            continue
        at = shape.find(b"AA00", at + 1)
    return found


def redact_text(text: str, kinds: Iterable[str] = ALL_KINDS) -> tuple[str, list[Finding]]:
    """``text`` with each finding replaced by ``[REDACTED:<kind>]``, and the findings."""
    findings = find(text, kinds)
    if not findings:
        return text, findings
    pieces: list[str] = []
    at = 0
    for finding in findings:
        pieces += (text[at : finding.start], f"[REDACTED:{finding.kind}]")
        at = finding.end
    pieces.append(text[at:])
    return "".join(pieces), findings


def _numbers(run: str, offset: int, kinds: frozenset[str]) -> list[Finding]:
    found: list[Finding] = []
    if "credit_card" in kinds:
        found += [
            Finding("credit_card", offset + m.start(), offset + m.end())
            for m in _CARD.finditer(run)
            if _card_ok(m.group())
        ]
    if "us_ssn" in kinds:
        found += [
            Finding("us_ssn", offset + m.start(), offset + m.end())
            for m in _SSN.finditer(run)
            if _ssn_ok(m.group(1), m.group(3), m.group(4))
        ]
    if "phone" in kinds:
        found += [
            Finding("phone", offset + m.start(), offset + m.end())
            for m in _PHONE.finditer(run)
            if _phone_ok(m.group())
        ]
    return found


def _card_ok(candidate: str) -> bool:
    digits = candidate.replace(" ", "").replace("-", "")
    if not 13 <= len(digits) <= 19 or not _CARD_PREFIX.match(digits):
        return False
    if " " in candidate and "-" in candidate:
        return False  # mixed separators: two numbers side by side, not one card
    return _luhn(digits)


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


def _ssn_ok(area: str, group: str, serial: str) -> bool:
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _phone_ok(candidate: str) -> bool:
    digits = sum(c.isdigit() for c in candidate)
    if candidate.startswith("+"):
        return 8 <= digits <= 15
    if candidate.startswith("0"):
        return 10 <= digits <= 11
    return digits == 10


def _iban_ok(country: str, check: str, rest: str) -> bool:
    bban = rest.replace(" ", "")
    expected = _IBAN_LENGTHS.get(country)
    length = 4 + len(bban)
    if expected is not None and length != expected:
        return False
    if expected is None and not 15 <= length <= 34:
        return False
    rearranged = bban + country + check
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


def _without_overlaps(found: list[Finding]) -> list[Finding]:
    found.sort(key=lambda f: (f.start, _PRIORITY[f.kind], -f.end))
    kept: list[Finding] = []
    for finding in found:
        if kept and finding.start < kept[-1].end:
            last = kept[-1]
            # Keep the more specific kind of two overlapping findings.
            if _PRIORITY[finding.kind] < _PRIORITY[last.kind]:
                kept[-1] = finding
            continue
        kept.append(finding)
    return kept
