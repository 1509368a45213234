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
        ("AKIAIOSFODNN7EXAMPLE", "secret"),
        ("sk-proj-abcdefghijklmnopqrstuvwxyz123", "secret"),
        ("Bearer abcdefghijklmnopqrstuvwxyz0123", "secret"),
        ("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----", "secret"),
    ],
)
def test_finds_each_kind(text: str, kind: str) -> None:
    """Each kind is found, spanning the whole value, inside surrounding prose."""
    padded = f"see: {text} (thanks)"
    assert find(padded) == [Finding(kind, 5, 5 + len(text))]


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
