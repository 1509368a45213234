"""golden_path._pii: each kind found with its checks, ordinary text left alone."""

from __future__ import annotations

import pytest

from golden_path._pii import ALL_KINDS, Finding, find, redact_text


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("jane.doe+tag@mail.example.co.uk", "email"),
        ("+44 20 7946 0958", "phone"),
        ("(415) 555-0132", "phone"),
        ("415.555.0132", "phone"),
        ("020 7946 0958", "phone"),
        ("4111 1111 1111 1111", "credit_card"),
        ("5500-0055-5555-5559", "credit_card"),
        ("378282246310005", "credit_card"),
        ("DE89 3704 0044 0532 0130 00", "iban"),
        ("GB82WEST12345698765432", "iban"),
        ("123-45-6789", "us_ssn"),
        ("AIzaSyA1234567890abcdefghijklmnopqrstuv", "secret"),
        ("ya29.a0AfH6SMBxxxxxxxxxxxxxxxxxxxxxxxx", "secret"),
        ("AKIAZ7QPLM3X4WBN2KTR", "secret"),
        ("sk-proj-Xq81vLmZ0pRt5sWc9YbN2kJ4hGdF", "secret"),
        ("Bearer Xq81vLmZ0pRt5sWc9YbN2kJ4hGdF", "secret"),
        ("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----", "secret"),
    ],
)
def test_finds_each_kind(text: str, kind: str) -> None:
    """Each kind is found, spanning the whole value (a bearer token without its scheme)."""
    padded = f"see: {text} (thanks)"
    start = 5 + (len("Bearer ") if text.startswith("Bearer ") else 0)
    assert find(padded) == [Finding(kind, start, 5 + len(text))]


@pytest.mark.parametrize(
    "text",
    [
        "4111 1111 1111 1112",  # Luhn fails
        "1234567890123456",  # no issuer prefix / Luhn
        "DE89 3704 0044 0532 0130 01",  # IBAN checksum fails
        "666-12-3456",
        "000-12-3456",
        "900-12-3456",
        "123-00-4567",
        "123-45-0000",  # invalid SSNs
        "2024-03-14",
        "14.03.2024",
        "2024-03-14T10:30:00Z",
        "version 10.0.19041.1",
        "v2.5.1",
        "192.168.100.200",
        "order 20240115-0001",
        "qty 1000000",
        "ticket #123456789",
        "the risk-taking task-based desk-sharing plan",
    ],
)
def test_ordinary_text_is_not_pii(text: str) -> None:
    """Checksums and structure keep dates, versions, order numbers and words from matching."""
    assert find(text) == []


def test_redact_text_replaces_each_finding() -> None:
    """Each finding becomes [REDACTED:<kind>]; the findings come back in order."""
    text, findings = redact_text("mail a@b.io or call 415-555-0132")
    assert text == "mail [REDACTED:email] or call [REDACTED:phone]"
    assert [f.kind for f in findings] == ["email", "phone"]


def test_kinds_filter_and_no_copy_without_findings() -> None:
    """Only the requested kinds are looked for; clean text comes back as the same object."""
    text = "a@b.io 415-555-0132"
    assert [f.kind for f in find(text, ["phone"])] == ["phone"]
    clean = "nothing to see here"
    assert redact_text(clean)[0] is clean
    assert set(ALL_KINDS) == {"email", "phone", "credit_card", "iban", "us_ssn", "secret"}


def test_non_ascii_offsets() -> None:
    """Offsets are character offsets, also after non-ASCII text."""
    text = "Grüße, IBAN DE89 3704 0044 0532 0130 00 und Tel. +49 30 1234567"
    redacted, findings = redact_text(text)
    assert redacted == "Grüße, IBAN [REDACTED:iban] und Tel. [REDACTED:phone]"
    assert [f.kind for f in findings] == ["iban", "phone"]


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("3782\u00a0822463\u00a010005", "credit_card"),  # Amex 4-6-5, no-break spaces
        ("4111\u200b1111\u200b1111\u200b1111", "credit_card"),  # zero-width separators
        ("４１１１ １１１１ １１１１ １１１１", "credit_card"),  # full-width digits
        ("٤١١١-١١١١-١١١١-١١١١", "credit_card"),  # Arabic-Indic digits
        ("4111.1111.1111.1111", "credit_card"),
        ("4111/1111/1111/1111", "credit_card"),
        ("4111  1111  1111  1111", "credit_card"),
        ("de89-3704-0044-0532-0130-00", "iban"),  # lower-case, dashed
        ("de89 3704 0044 0532 0130 00", "iban"),
        ("123.45.6789", "us_ssn"),
        ("123\u201045\u20106789", "us_ssn"),  # Unicode hyphen
        ("jane\uff20example.com", "email"),  # full-width @
        ("josé@bücher.example", "email"),  # IDN
        ("+44\u00a020\u00a07946\u00a00958", "phone"),
        ("０２０ ７９４６ ０９５８", "phone"),
        ("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", "secret"),
        ("1//0gXq81vLmZ0pRt5sWc9YbN2kJ4hGdFqwPzLx7TmRv3Bn", "secret"),
        (
            "github_pat_11AB2CD3EF4GH5IJ6KL7MN_" + "Xq81vLmZ0pRt5sWc9YbN2kJ4hGdF" * 2 + "Qz7",
            "secret",
        ),
        ("sk_live_" + "Xq81vLmZ0pRt5sWc9YbN2kJ4", "secret"),
        (
            "-----begin rsa private key-----\nMIIEpAIBAAKCAQEAx\n-----end rsa private key-----",
            "secret",
        ),
    ],
)
def test_normalised_forms_are_found_and_only_they_change(value: str, kind: str) -> None:
    """Separators, digit scripts and case are normalised for detection; only the span changes."""
    text = f"x\u200bé 🙂 {value} ﬁn\u00a0"
    redacted, findings = redact_text(text)
    assert [f.kind for f in findings] == [kind]
    assert redacted == text.replace(value, f"[REDACTED:{kind}]")


def test_aws_secret_key_named_as_such() -> None:
    """A 40-character AWS secret key is found when named (alone it is any base64 string)."""
    key = "Xq81vLmZ0pRt5sWc9YbN2kJ4hGdF/wPzLx7TmRv3"
    assert [f.kind for f in find(f"aws_secret_access_key = {key}")] == ["secret"]
    assert find(f"checksum {key.replace('/', 'q')}") == []


def test_card_shaped_reference_is_no_phone() -> None:
    """A 4-4-4-4 number failing Luhn is a reference, not a phone number hidden inside one."""
    assert find("reference 4946 0176 8872 0043") == []


def test_rules_come_from_gitleaks() -> None:
    """The vetted rule set is loaded (not silently empty) with our additions."""
    from golden_path._secrets import rule_ids

    ids = set(rule_ids())
    assert len(ids) > 200
    assert {"gcp-api-key", "github-fine-grained-pat", "jwt", "gcp-oauth-refresh-token"} <= ids


@pytest.mark.parametrize("cut", range(1, 60))
def test_stream_redactor_catches_a_value_split_anywhere(cut: int) -> None:
    """Text fed in two pieces, split at any point, is redacted exactly as in one piece."""
    from golden_path._pii import Scanner

    text = "card 4111 1111 1111 1111 and mail jane@example.com ok " * 2
    stream = Scanner().stream()
    out = stream.feed(text[:cut]) + stream.feed(text[cut:]) + stream.flush()
    assert out == redact_text(text)[0]
    assert stream.counts == {"credit_card": 2, "email": 2}


def test_stream_redactor_holds_a_bounded_tail() -> None:
    """Clean text is passed on as it comes, keeping back only a bounded tail."""
    from golden_path._pii import Scanner, StreamRedactor

    stream = Scanner().stream()
    out = "".join(stream.feed("word " * 100) for _ in range(50))
    assert len("word " * 5000) - len(out) <= StreamRedactor.HOLD + len("word ")
