"""The labelled PII corpus: generated with a fixed seed, written to ``benchmarks/data/``.

    .venv/bin/python -m benchmarks.pii_corpus      # rewrites benchmarks/data/pii_corpus.jsonl

``pii_handwritten.jsonl`` beside it holds samples written by hand (``"source": "hand"``).
Each line is one sample: ``text``, ``kind`` (``null`` for a negative), ``label`` (the format or
provider, or the negative's category) and, for a positive, ``start``/``end`` of the value in
``text``. Positives are valid values (Luhn, mod-97, registered lengths, real key shapes) in
realistic sentences, written with the separators and digit scripts people and software really
produce; negatives are the strings that look like them and are not (order numbers, UUIDs,
timestamps, versions, hashes, code, phone-like identifiers, numbers failing their checksum).
The generator is checked in so a reviewer can read how each sample is made; the data file is
checked in so a change of the detector is measured on exactly the same samples.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

PATH = Path(__file__).parent / "data" / "pii_corpus.jsonl"
# Written by hand, one by one, from real-world forms (firebase configs, git URLs, W-2 SSNs,
# Hindi digits, AWS credential files, documentation example keys): what a generator misses.
HAND_PATH = Path(__file__).parent / "data" / "pii_handwritten.jsonl"
SEED = 20

NBSP, NNBSP, ZWSP, ZWJ, WJ = "\u00a0", "\u202f", "\u200b", "\u200d", "\u2060"
HYPHEN, NB_HYPHEN, MINUS = "\u2010", "\u2011", "\u2212"
# Decimal digits of other scripts: full-width, Arabic-Indic, Devanagari, Bengali, Thai.
SCRIPTS = {"fullwidth": 0xFF10, "arabic": 0x0660, "devanagari": 0x0966, "bengali": 0x09E6}


def _script(text: str, base: int) -> str:
    return "".join(chr(base + int(c)) if c.isdigit() else c for c in text)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + _digits(rng, length - len(prefix) - 1)
    for check in string.digits:
        candidate = body + check
        total = 0
        for i, c in enumerate(reversed(candidate)):
            v = int(c) * (2 if i % 2 else 1)
            total += v - 9 if v > 9 else v
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable")


def _luhn_ok(number: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(number)):
        v = int(c) * (2 if i % 2 else 1)
        total += v - 9 if v > 9 else v
    return total % 10 == 0


def _group(number: str, sizes: tuple[int, ...], sep: str) -> str:
    out, at = [], 0
    for size in sizes:
        out.append(number[at : at + size])
        at += size
    return sep.join(out)


# ---------------------------------------------------------------------------- positives

CARD_ISSUERS = [
    ("visa", "4", 16, (4, 4, 4, 4)),
    ("mastercard", "5", 16, (4, 4, 4, 4)),
    ("mastercard-2", "22", 16, (4, 4, 4, 4)),
    ("amex", "37", 15, (4, 6, 5)),
    ("amex", "34", 15, (4, 6, 5)),
    ("discover", "6011", 16, (4, 4, 4, 4)),
    ("diners", "36", 14, (4, 6, 4)),
    ("jcb", "35", 16, (4, 4, 4, 4)),
    ("visa-19", "4", 19, (4, 4, 4, 4, 3)),
]
SEPARATORS = {
    "space": " ",
    "dash": "-",
    "dot": ".",
    "slash": "/",
    "none": "",
    "nbsp": NBSP,
    "narrow-nbsp": NNBSP,
    "zero-width": ZWSP,
    "double-space": "  ",
    "unicode-hyphen": HYPHEN,
}
CARD_TEMPLATES = [
    "Please charge my card {v} for the renewal.",
    "card number: {v}, exp 09/27",
    "The customer read out {v} over the phone.",
    '{{"payment": {{"pan": "{v}"}}}}',
    "Refund to {v} please",
    "Kreditkarte {v} wurde belastet.",
    "カード番号は{v}です。",
    "my amex is {v} and the cvv is on the back",
]


def cards(rng: random.Random) -> list[dict[str, Any]]:
    out = []
    seps = list(SEPARATORS.items())
    for i in range(260):
        issuer, prefix, length, sizes = CARD_ISSUERS[i % len(CARD_ISSUERS)]
        if prefix == "5":
            prefix = "5" + str(rng.randint(1, 5))
        number = _luhn_complete(prefix, length, rng)
        sep_name, sep = seps[(i // len(CARD_ISSUERS)) % len(seps)]
        value = _group(number, sizes, sep)
        label = f"{issuer}/{sep_name}"
        if i % 13 == 5:
            script = list(SCRIPTS)[i % len(SCRIPTS)]
            value, label = _script(value, SCRIPTS[script]), f"{issuer}/{script}-digits"
        out.append(_place("credit_card", label, value, rng.choice(CARD_TEMPLATES)))
    return out


IBAN_FORMATS = {
    "DE": "8n10n",
    "GB": "4a14n",
    "FR": "10n11c2n",
    "NL": "4a10n",
    "ES": "20n",
    "IT": "1a10n12c",
    "CH": "5n12c",
    "BE": "12n",
    "AT": "16n",
    "PL": "24n",
    "SE": "20n",
    "IE": "4a14n",
    "NO": "11n",
    "PT": "21n",
}


def _iban(country: str, rng: random.Random) -> str:
    spec = IBAN_FORMATS[country]
    bban = ""
    num = ""
    for ch in spec:
        if ch.isdigit():
            num += ch
            continue
        count, num = int(num), ""
        pool = {
            "n": string.digits,
            "a": string.ascii_uppercase,
            "c": string.ascii_uppercase + string.digits,
        }[ch]
        bban += "".join(rng.choice(pool) for _ in range(count))
    rearranged = bban + country + "00"
    value = int("".join(str(int(c, 36)) for c in rearranged))
    check = 98 - value % 97
    return f"{country}{check:02d}{bban}"


IBAN_TEMPLATES = [
    "Please wire the deposit to {v} by Friday.",
    "IBAN: {v}",
    "Bankverbindung {v} (Sparkasse)",
    "pay to iban {v}, reference INV-2291",
    '{{"iban": "{v}", "bic": "DEUTDEFF"}}',
    "Mon RIB : {v}",
]


def ibans(rng: random.Random) -> list[dict[str, Any]]:
    out = []
    styles = ["print", "compact", "lower", "lower-print", "dashed", "nbsp", "zero-width"]
    countries = list(IBAN_FORMATS)
    for i in range(180):
        country = countries[i % len(countries)]
        code = _iban(country, rng)
        style = styles[(i // len(countries)) % len(styles)]
        groups = [code[k : k + 4] for k in range(0, len(code), 4)]
        value = {
            "print": " ".join(groups),
            "compact": code,
            "lower": code.lower(),
            "lower-print": " ".join(groups).lower(),
            "dashed": "-".join(groups),
            "nbsp": NBSP.join(groups),
            "zero-width": ZWSP.join(groups),
        }[style]
        out.append(_place("iban", f"{country}/{style}", value, rng.choice(IBAN_TEMPLATES)))
    return out


SSN_TEMPLATES = [
    "My SSN is {v}.",
    "ssn: {v}",
    "Employee social security number {v} on file",
    "Applicant: Jane Roe, SSN {v}, DOB 1984-02-11",
    '{{"ssn": "{v}"}}',
]


def ssns(rng: random.Random) -> list[dict[str, Any]]:
    out = []
    styles = {
        "dash": "-",
        "dot": ".",
        "space": " ",
        "unicode-hyphen": HYPHEN,
        "nb-hyphen": NB_HYPHEN,
        "minus": MINUS,
    }
    names = [*styles, "bare-with-context", "fullwidth-digits"]
    for i in range(140):
        area = rng.choice([rng.randint(1, 665), rng.randint(667, 899)])
        digits = f"{area:03d}{rng.randint(1, 99):02d}{rng.randint(1, 9999):04d}"
        style = names[i % len(names)]
        if style == "bare-with-context":
            value = digits
            template = rng.choice([SSN_TEMPLATES[0], SSN_TEMPLATES[1], SSN_TEMPLATES[2]])
        elif style == "fullwidth-digits":
            value = _script(f"{digits[:3]}-{digits[3:5]}-{digits[5:]}", SCRIPTS["fullwidth"])
            template = rng.choice(SSN_TEMPLATES)
        else:
            sep = styles[style]
            value = f"{digits[:3]}{sep}{digits[3:5]}{sep}{digits[5:]}"
            template = rng.choice(SSN_TEMPLATES)
        out.append(_place("us_ssn", style, value, template))
    return out


PHONE_TEMPLATES = [
    "Call me on {v} after 6pm.",
    "Tel.: {v}",
    "You can reach the site manager at {v}",
    "phone={v}",
    "Kontakt: {v} (Mo-Fr)",
    "電話番号：{v}",
    "Mobile {v}, email preferred",
]


def _phone_values(rng: random.Random) -> list[tuple[str, str]]:
    n = lambda k: _digits(rng, k)  # noqa: E731 - a local shorthand keeps the table readable
    a = str(rng.randint(2, 9)) + n(2)
    x = str(rng.randint(2, 9)) + n(2)
    s = n(4)
    return [
        ("nanp-dash", f"{a}-{x}-{s}"),
        ("nanp-paren", f"({a}) {x}-{s}"),
        ("nanp-dot", f"{a}.{x}.{s}"),
        ("nanp-space", f"{a} {x} {s}"),
        ("nanp-plus1", f"+1 {a} {x} {s}"),
        ("nanp-plus1-paren", f"+1 ({a}) {x}-{s}"),
        ("nanp-1-dash", f"1-{a}-{x}-{s}"),
        ("nanp-slash", f"{a}/{x}-{s}"),
        ("uk-intl", f"+44 20 {n(4)} {n(4)}"),
        ("uk-intl-trunk", f"+44 (0)20 {n(4)} {n(4)}"),
        ("uk-mobile", f"07{n(3)} {n(6)}"),
        ("uk-national", f"020 {n(4)} {n(4)}"),
        ("de-intl", f"+49 30 {n(7)}"),
        ("de-slash", f"030/{n(7)}"),
        ("de-dash", f"0{rng.randint(30, 89)}-{n(7)}"),
        ("de-mobile", f"0151 {n(8)}"),
        ("fr-intl", f"+33 6 {n(2)} {n(2)} {n(2)} {n(2)}"),
        ("fr-national", f"06 {n(2)} {n(2)} {n(2)} {n(2)}"),
        ("fr-dots", f"06.{n(2)}.{n(2)}.{n(2)}.{n(2)}"),
        ("fr-00", f"0033 6 {n(2)} {n(2)} {n(2)} {n(2)}"),
        ("in-intl", f"+91 {rng.randint(6, 9)}{n(4)} {n(5)}"),
        ("in-national", f"{rng.randint(6, 9)}{n(4)} {n(5)}"),
        ("jp-intl", f"+81 3-{n(4)}-{n(4)}"),
        ("br-intl", f"+55 11 9{n(4)}-{n(4)}"),
        ("e164", f"+4420{n(8)}"),
        ("au-intl", f"+61 4{n(2)} {n(3)} {n(3)}"),
    ]


def phones(rng: random.Random) -> list[dict[str, Any]]:
    out = []
    variants = [
        "plain",
        "nbsp",
        "zero-width",
        "double-space",
        "fullwidth",
        "arabic",
        "devanagari",
        "plain",
    ]
    for i in range(300):
        values = _phone_values(rng)
        label, value = values[i % len(values)]
        variant = variants[(i // len(values)) % len(variants)]
        if variant == "nbsp":
            value = value.replace(" ", NBSP)
        elif variant == "zero-width":
            value = (
                value.replace(" ", ZWSP + " ") if " " in value else ZWSP.join(value[:4]) + value[4:]
            )
        elif variant == "double-space":
            value = value.replace(" ", "  ")
        elif variant in SCRIPTS:
            value = _script(value, SCRIPTS[variant])
        out.append(_place("phone", f"{label}/{variant}", value, rng.choice(PHONE_TEMPLATES)))
    return out


EMAIL_TEMPLATES = [
    "Send the report to {v} before noon.",
    "From: Jane <{v}>",
    "contact={v}",
    "Bitte an {v} schreiben.",
    "メールは{v}までお願いします。",
    "cc {v}, thanks!",
]


def emails(rng: random.Random) -> list[dict[str, Any]]:
    first = ["jane", "li.wei", "o'brien", "marie-claire", "j.doe+invoices", "ahmed_92", "SALES"]
    domains = [
        ("ascii", "example.com"),
        ("subdomain", "mail.corp.example.co.uk"),
        ("idn", "bücher.example.de"),
        ("idn", "例え.テスト"),
        ("idn", "пример.рф"),
        ("punycode", "xn--bcher-kva.example"),
        ("ascii", "acme-industries.io"),
    ]
    out = []
    for i in range(180):
        label, domain = domains[i % len(domains)]
        local = first[(i // len(domains)) % len(first)]
        at = "@"
        if i % 5 == 3:
            at, label = "\uff20", f"{label}/fullwidth-at"
        if i % 11 == 7:
            local, label = "josé.núñez", f"{label}/unicode-local"
        value = f"{local}{at}{domain}"
        out.append(_place("email", label, value, rng.choice(EMAIL_TEMPLATES)))
    return out


ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "_-"


def _rand(rng: random.Random, pool: str, n: int) -> str:
    return "".join(rng.choice(pool) for _ in range(n))


def _jwt(rng: random.Random) -> str:
    def enc(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    header = enc({"alg": rng.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"})
    claims = enc(
        {"sub": _rand(rng, string.digits, 10), "iat": rng.randint(1_600_000_000, 1_800_000_000)}
    )
    return f"{header}.{claims}.{_rand(rng, B64URL, 43)}"


def _pem(rng: random.Random, kind: str, lower: bool, truncated: bool) -> str:
    body = "\n".join(_rand(rng, ALNUM + "+/", 64) for _ in range(rng.randint(3, 8)))
    head = f"-----BEGIN {kind}PRIVATE KEY-----"
    tail = f"-----END {kind}PRIVATE KEY-----"
    if lower:
        head, tail = head.lower(), tail.lower()
    return f"{head}\nMII{body}" + ("" if truncated else f"\n{tail}")


def _secret_values(rng: random.Random) -> list[tuple[str, str]]:
    return [
        ("google-api-key", "AIza" + _rand(rng, B64URL, 35)),
        ("google-oauth-client-secret", "GOCSPX-" + _rand(rng, B64URL, 28)),
        ("google-refresh-token", "1//0" + _rand(rng, B64URL, 99)),
        ("google-access-token", "ya29.a0" + _rand(rng, B64URL, 150)),
        ("aws-access-key", "AKIA" + _rand(rng, string.ascii_uppercase + "234567", 16)),
        ("aws-secret-key", _rand(rng, ALNUM + "+/", 40)),
        ("github-classic", rng.choice(["ghp_", "gho_", "ghs_", "ghu_"]) + _rand(rng, ALNUM, 36)),
        ("github-fine-grained", f"github_pat_{_rand(rng, ALNUM, 22)}_{_rand(rng, ALNUM, 59)}"),
        ("stripe", rng.choice(["sk_live_", "rk_live_", "sk_test_"]) + _rand(rng, ALNUM, 24)),
        ("jwt", _jwt(rng)),
        ("pem", _pem(rng, rng.choice(["", "RSA ", "EC "]), False, False)),
        ("pem-openssh", _pem(rng, "OPENSSH ", False, False)),
        ("pem-lowercase", _pem(rng, rng.choice(["", "rsa "]), True, False)),
        ("pem-truncated", _pem(rng, "RSA ", False, True)),
        (
            "slack",
            "xoxb-" + _digits(rng, 12) + "-" + _digits(rng, 12) + "-" + _rand(rng, ALNUM, 24),
        ),
        ("openai", "sk-proj-" + _rand(rng, B64URL, 74)),
        ("bearer", _rand(rng, B64URL + ".", 48)),
    ]


SECRET_TEMPLATES = [
    "here is my key {v} can you check why it fails?",
    "export TOKEN={v}",
    "config = {{'api_key': '{v}'}}",
    "curl -H 'Authorization: {v}' https://api.example.com/v1/items",
    "The credential is {v}.",
    "token: {v}",
]
AWS_SECRET_TEMPLATES = [
    "aws_secret_access_key = {v}",
    'AWS_SECRET_ACCESS_KEY="{v}"',
    "my aws secret key: {v}",
    '{{"SecretAccessKey": "{v}"}}',
]


def secrets(rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for i in range(17 * 22):
        values = _secret_values(rng)
        label, value = values[i % len(values)]
        if label == "aws-secret-key":
            template = rng.choice(AWS_SECRET_TEMPLATES)
        elif label == "bearer":
            template = rng.choice(["Authorization: Bearer {v}", "use header 'bearer {v}'"])
        else:
            template = rng.choice(SECRET_TEMPLATES)
            if label.startswith("pem"):
                template = rng.choice(["key file:\n{v}\nthanks", "{v}", "Here's the key: {v}"])
        out.append(_place("secret", label, value, template))
    return out


def _place(kind: str, label: str, value: str, template: str) -> dict[str, Any]:
    before, _, after = template.partition("{v}")
    before, after = before.replace("{{", "{").replace("}}", "}"), after.format()
    text = before + value + after
    return {
        "kind": kind,
        "label": label,
        "text": text,
        "start": len(before),
        "end": len(before) + len(value),
    }


# ---------------------------------------------------------------------------- negatives


def _uuid(rng: random.Random) -> str:
    h = _rand(rng, "0123456789abcdef", 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _bad_luhn(rng: random.Random, prefix: str, length: int) -> str:
    while True:
        number = prefix + _digits(rng, length - len(prefix))
        if not _luhn_ok(number):
            return number


def _bad_iban(rng: random.Random) -> str:
    code = _iban(rng.choice(list(IBAN_FORMATS)), rng)
    check = int(code[2:4])
    wrong = (check + rng.randint(1, 90)) % 97
    return (
        code[:2] + f"{max(wrong, 2):02d}" + code[4:]
        if wrong != check
        else code[:2] + "00" + code[4:]
    )


NEGATIVES: dict[str, Callable[[random.Random], str]] = {
    "order-number": lambda r: (
        f"Order #{r.randint(2019, 2026)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}-{_digits(r, 4)} shipped"
    ),
    "order-id": lambda r: f"ORD-{r.randint(2019, 2026)}-{_digits(r, 6)} is delayed",
    "invoice": lambda r: (
        f"Invoice INV-{_digits(r, 9)} due {r.randint(1, 28)}.{r.randint(1, 12)}.{r.randint(2024, 2026)}"
    ),
    "uuid": lambda r: f"request_id={_uuid(r)}",
    "uuid-upper": lambda r: f"Correlation-Id: {_uuid(r).upper()}",
    "iso-timestamp": lambda r: (
        f"{r.randint(2020, 2026)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}.{_digits(r, 3)}Z"
    ),
    "log-line": lambda r: (
        f"{r.randint(2020, 2026)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d} {r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d},{_digits(r, 3)} INFO worker-{r.randint(1, 9)} processed {r.randint(1, 9999)} items in {r.randint(1, 999)} ms"
    ),
    "epoch-ms": lambda r: f"created_at: {r.randint(1_600_000_000_000, 1_800_000_000_000)}",
    "epoch-s": lambda r: f"exp={r.randint(1_600_000_000, 1_800_000_000)}",
    "date-dots": lambda r: (
        f"am {r.randint(1, 28):02d}.{r.randint(1, 12):02d}.{r.randint(1990, 2026)} um {r.randint(0, 23)}:{r.randint(0, 59):02d}"
    ),
    "date-slash": lambda r: f"due {r.randint(1, 12)}/{r.randint(1, 28)}/{r.randint(2020, 2026)}",
    "version": lambda r: f"Windows version 10.0.{_digits(r, 5)}.{r.randint(1, 4000)}",
    "semver": lambda r: (
        f"bump google-genai from {r.randint(0, 3)}.{r.randint(0, 40)}.{r.randint(0, 9)} to {r.randint(0, 3)}.{r.randint(0, 40)}.{r.randint(0, 9)}"
    ),
    "build-number": lambda r: (
        f"build {r.randint(2020, 2026)}.{r.randint(1, 12)}.{r.randint(1, 28)}.{_digits(r, 4)}"
    ),
    "git-sha": lambda r: f"fixed in commit {_rand(r, '0123456789abcdef', 40)}",
    "short-sha": lambda r: (
        f"see {_rand(r, '0123456789abcdef', 7)} and {_rand(r, '0123456789abcdef', 12)}"
    ),
    "sha256": lambda r: f"sha256:{_rand(r, '0123456789abcdef', 64)}",
    "md5": lambda r: f"md5sum {_rand(r, '0123456789abcdef', 32)}  dist.tar.gz",
    "docker-image": lambda r: (
        f"image: gcr.io/acme-prod/api@sha256:{_rand(r, '0123456789abcdef', 64)}"
    ),
    "ipv4": lambda r: (
        f"connect to {r.randint(10, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}:{r.randint(1024, 65535)}"
    ),
    "ipv6": lambda r: (
        f"addr 2001:db8:{_rand(r, '0123456789abcdef', 4)}::{_rand(r, '0123456789abcdef', 4)}"
    ),
    "mac": lambda r: ":".join(_rand(r, "0123456789abcdef", 2) for _ in range(6)),
    "isbn": lambda r: (
        f"ISBN 978-{r.randint(0, 9)}-{_digits(r, 3)}-{_digits(r, 5)}-{r.randint(0, 9)}"
    ),
    "tracking": lambda r: f"UPS tracking 1Z{_rand(r, string.ascii_uppercase + string.digits, 16)}",
    "price": lambda r: (
        f"total ${r.randint(1, 999)},{_digits(r, 3)},{_digits(r, 3)}.{_digits(r, 2)}"
    ),
    "quantity": lambda r: (
        f"we sold {r.randint(1, 999)} {_digits(r, 3)} {_digits(r, 3)} units in Q{r.randint(1, 4)}"
    ),
    "coordinates": lambda r: f"lat {r.uniform(-89, 89):.6f}, lng {r.uniform(-179, 179):.6f}",
    "luhn-fail-card": lambda r: f"reference {_group(_bad_luhn(r, '4', 16), (4, 4, 4, 4), ' ')}",
    "luhn-fail-16": lambda r: f"account {_bad_luhn(r, '5', 16)}",
    "bad-iban": lambda r: f"IBAN check failed for {_bad_iban(r)}",
    "invalid-ssn": lambda r: (
        f"id {r.choice(['000', '666', '9' + _digits(r, 2)])}-{_digits(r, 2)}-{_digits(r, 4)}"
    ),
    "phone-like-id": lambda r: f"SKU {r.randint(100, 199)}-{_digits(r, 3)}-{_digits(r, 4)}",
    "phone-like-part": lambda r: (
        f"part no. {r.randint(1, 9)}{_digits(r, 3)}-{_digits(r, 3)}-{_digits(r, 3)}"
    ),
    "phone-like-case": lambda r: f"case {r.randint(1, 9)}-{_digits(r, 4)}-{_digits(r, 5)}",
    "ticket": lambda r: f"ticket #{_digits(r, 9)} reopened",
    "jira": lambda r: (
        f"{r.choice(['PROJ', 'OPS', 'SEC'])}-{r.randint(1, 99999)} blocked by {r.choice(['PROJ', 'OPS'])}-{r.randint(1, 99999)}"
    ),
    "zip-codes": lambda r: f"ZIP {_digits(r, 5)}-{_digits(r, 4)}, PLZ {_digits(r, 5)}",
    "hex-color": lambda r: (
        f"color: #{_rand(r, '0123456789abcdef', 6)}; background: #{_rand(r, '0123456789abcdef', 6)}"
    ),
    "python": lambda r: (
        f"def compute_cache_key(user_id: int) -> str:\n    return f'user:{{user_id}}:profile:v{r.randint(1, 9)}'"
    ),
    "python-config": lambda r: (
        f"MAX_RETRIES = {r.randint(1, 9)}\nTIMEOUT_SECONDS = {r.randint(10, 600)}\nprimary_key = 'id'"
    ),
    "js": lambda r: (
        f"const timeoutMs = {r.randint(1000, 99999)}; fetch(`/api/v1/items/${{itemId}}?page={r.randint(1, 99)}`)"
    ),
    "sql": lambda r: (
        f"SELECT id, created_at FROM orders WHERE id BETWEEN {_digits(r, 6)} AND {_digits(r, 6)} LIMIT {r.randint(1, 500)};"
    ),
    "url": lambda r: (
        f"https://docs.example.com/guides/{_rand(r, string.ascii_lowercase, 8)}-{_rand(r, string.ascii_lowercase, 6)}?page={r.randint(1, 99)}#section-{r.randint(1, 9)}"
    ),
    "path": lambda r: (
        f"/var/lib/app/releases/{r.randint(2020, 2026)}{_digits(r, 4)}/lib/python3.{r.randint(8, 13)}/site-packages"
    ),
    "java-class": lambda r: (
        "at com.example.payments.processor.CardAuthorizationService.authorize(CardAuthorizationService.java:"
        + str(r.randint(10, 999))
        + ")"
    ),
    "base64-text": lambda r: (
        "data: "
        + base64.b64encode(
            " ".join(
                r.choice(["the", "quick", "fox", "report", "summary"]) for _ in range(12)
            ).encode()
        ).decode()[:40]
    ),
    "k8s": lambda r: (
        f"pod api-server-{_rand(r, '0123456789abcdef', 10)}-{_rand(r, string.ascii_lowercase + string.digits, 5)} restarted {r.randint(1, 99)} times"
    ),
    "prose-numbers": lambda r: (
        f"In {r.randint(1990, 2024)} the company had {r.randint(1, 999)},{_digits(r, 3)} employees and {r.randint(1, 99)} offices."
    ),
    "prose": lambda r: r.choice(
        [
            "The risk-taking, task-based desk-sharing plan was approved.",
            "Please summarise the attached meeting notes in three bullet points.",
            "Translate 'good morning' into French, German and Japanese.",
            "Write a haiku about autumn leaves.",
            "Why does my sourdough not rise in winter?",
        ]
    ),
    "email-like": lambda r: (
        f"@{_rand(r, string.ascii_lowercase, 6)} mentioned you; see user@localhost and git@{_rand(r, string.ascii_lowercase, 5)}"
    ),
    "decorator": lambda r: (
        f"@pytest.mark.parametrize('n', [{r.randint(1, 9)}, {r.randint(10, 99)}])"
    ),
    "measurement": lambda r: (
        f"{r.randint(100, 999)} {_digits(r, 3)} {_digits(r, 3)} bytes transferred"
    ),
    "currency-code": lambda r: f"EUR {r.randint(1, 99)} {_digits(r, 3)},{_digits(r, 2)}",
    "placeholder-key": lambda r: "api_key = os.environ['GEMINI_API_KEY']",
    "uuid-list": lambda r: ", ".join(_uuid(r) for _ in range(3)),
}


def negatives(rng: random.Random) -> list[dict[str, Any]]:
    out = []
    names = list(NEGATIVES)
    for i in range(1300):
        name = names[i % len(names)]
        out.append({"kind": None, "label": name, "text": NEGATIVES[name](rng)})
    return out


def generate() -> list[dict[str, Any]]:
    """Every sample, in a fixed order."""
    rng = random.Random(SEED)
    samples = []
    for part in (cards, ibans, ssns, phones, emails, secrets, negatives):
        samples += part(rng)
    for index, sample in enumerate(samples):
        sample["id"] = index
    return samples


def load() -> list[dict[str, Any]]:
    """The checked-in corpus: the generated samples, then the hand-written ones."""
    samples = []
    for path in (PATH, HAND_PATH):
        with path.open(encoding="utf-8") as handle:
            samples += [json.loads(line) for line in handle if line.strip()]
    return samples


def main() -> int:
    PATH.parent.mkdir(exist_ok=True)
    with PATH.open("w", encoding="utf-8") as handle:
        for sample in generate():
            handle.write(json.dumps(sample, ensure_ascii=False) + "\n")
    print(f"wrote {PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
