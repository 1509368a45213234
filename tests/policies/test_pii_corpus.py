"""The PII corpus targets (accuracy, not timing): recall per kind and provider, negatives."""

from __future__ import annotations

import json

from benchmarks import pii, pii_corpus


def test_corpus_is_what_the_generator_makes() -> None:
    """The checked-in data is the seeded generator's output: a change to one shows in the other."""
    expected = [json.dumps(s, ensure_ascii=False) for s in pii_corpus.generate()]
    lines = pii_corpus.PATH.read_text(encoding="utf-8").splitlines()
    assert lines == expected


def test_corpus_size_and_coverage() -> None:
    """At least 1,000 positives over every kind and 1,000 negatives."""
    samples = pii_corpus.load()
    positives = [s for s in samples if s["kind"]]
    assert len(positives) >= 1000
    assert len(samples) - len(positives) >= 1000
    assert {s["kind"] for s in positives} == {
        "email", "phone", "credit_card", "iban", "us_ssn", "secret"
    }  # fmt: skip
    for sample in positives:
        assert sample["text"][sample["start"] : sample["end"]], sample


def test_corpus_targets() -> None:
    """Recall >= 0.99 for cards and IBANs, >= 0.95 elsewhere, <= 0.5% of negatives flagged."""
    report = pii.evaluate()
    assert report.failures() == []
