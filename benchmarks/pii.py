"""PII detection measured on the labelled corpus: precision and recall per kind, cost per KB.

    .venv/bin/python -m benchmarks pii

A positive is found when a finding of its kind covers the whole value; every other finding
counts against its kind's precision. Targets (issue #20): recall >= 0.99 for the checksum kinds
(cards, IBAN), >= 0.95 for every other kind and every secret provider, at most 0.5% of the
negatives flagged. ``tests/policies/test_pii_corpus.py`` asserts the same targets.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from benchmarks import pii_corpus
from golden_path._pii import BUILTIN_KINDS, Scanner

CHECKSUM_KINDS = frozenset({"credit_card", "iban"})
RECALL_CHECKSUM, RECALL_OTHER, MAX_FLAGGED = 0.99, 0.95, 0.005


@dataclass
class Report:
    """What one pass over the corpus found."""

    found: Counter[str] = field(default_factory=Counter)  # true positives per kind
    total: Counter[str] = field(default_factory=Counter)  # positives per kind
    reported: Counter[str] = field(default_factory=Counter)  # findings per kind
    by_label: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    negatives: int = 0
    flagged: list[dict[str, Any]] = field(default_factory=list)
    missed: list[dict[str, Any]] = field(default_factory=list)

    def recall(self, kind: str) -> float:
        return self.found[kind] / self.total[kind] if self.total[kind] else 1.0

    def precision(self, kind: str) -> float:
        return self.found[kind] / self.reported[kind] if self.reported[kind] else 1.0

    def flagged_rate(self) -> float:
        return len(self.flagged) / self.negatives if self.negatives else 0.0

    def target(self, kind: str) -> float:
        return RECALL_CHECKSUM if kind in CHECKSUM_KINDS else RECALL_OTHER

    def failures(self) -> list[str]:
        """Every missed target, as a sentence; empty when all are met."""
        out = [
            f"{kind}: recall {self.recall(kind):.3f} < {self.target(kind)}"
            for kind in sorted(self.total)
            if self.recall(kind) < self.target(kind)
        ]
        for label, (hit, n) in sorted(self.by_label.items()):
            if label.startswith("secret/") and hit / n < RECALL_OTHER:
                out.append(f"{label}: recall {hit / n:.3f} < {RECALL_OTHER}")
        if self.flagged_rate() > MAX_FLAGGED:
            out.append(f"negatives flagged {self.flagged_rate():.4f} > {MAX_FLAGGED}")
        return out


def evaluate(scanner: Scanner | None = None, samples: list[dict[str, Any]] | None = None) -> Report:
    """Scan every sample of the corpus and score the findings."""
    scanner = scanner or Scanner(BUILTIN_KINDS)
    report = Report()
    for sample in samples if samples is not None else pii_corpus.load():
        findings = scanner.find(sample["text"])
        kind = sample["kind"]
        for finding in findings:
            report.reported[finding.kind] += 1
        if kind is None:
            report.negatives += 1
            if findings:
                report.flagged.append(sample)
            continue
        report.total[kind] += 1
        label = f"{kind}/{sample['label'].split('/')[0]}"
        report.by_label[label][1] += 1
        if any(
            f.kind == kind and f.start <= sample["start"] and f.end >= sample["end"]
            for f in findings
        ):
            report.found[kind] += 1
            report.by_label[label][0] += 1
        else:
            report.missed.append(sample)
    return report


def cost_per_kb(texts: list[str], scanner: Scanner, rounds: int = 5) -> float:
    """Median microseconds of CPU to scan one KB of ``texts``."""
    size = sum(len(t.encode()) for t in texts) / 1024
    times = []
    for _ in range(rounds):
        started = time.process_time()
        for text in texts:
            scanner.find(text)
        times.append(time.process_time() - started)
    times.sort()
    return times[len(times) // 2] * 1e6 / size


PROSE = (
    "Please summarise the quarterly report below in five bullet points for the board, "
    "keeping the tone neutral and the figures as they are. Revenue grew in every region "
    "while costs stayed flat, and the new product line launched on time. "
)


CODE = (
    "def handler(event):\n    user = event['user_id']\n"
    "    return fetch(f'/api/v2/users/{user}/orders?page=3', timeout=30)\n"
)
KEYS = (
    "export STRIPE=sk_live_4eC39HqLyjWDarjtT1zdp7dc; curl "
    "https://api.example.com/v1/items/550e8400-e29b-41d4-a716-446655440000 "
)


def main(argv: list[str] | None = None) -> int:
    scanner = Scanner(BUILTIN_KINDS)
    samples = pii_corpus.load()
    report = evaluate(scanner, samples)
    print(f"PII corpus: {sum(report.total.values())} positives, {report.negatives} negatives\n")
    print("| kind | positives | recall | precision | target recall |")
    print("|---|---:|---:|---:|---:|")
    for kind in sorted(report.total):
        print(
            f"| {kind} | {report.total[kind]} | {report.recall(kind):.3f} "
            f"| {report.precision(kind):.3f} | {report.target(kind)} |"
        )
    print("\n| kind/format or provider | found/total |")
    print("|---|---:|")
    for label, (hit, n) in sorted(report.by_label.items()):
        print(f"| {label} | {hit}/{n} |")
    print(
        f"\nnegatives flagged: {len(report.flagged)}/{report.negatives} "
        f"({report.flagged_rate():.2%}, target <= {MAX_FLAGGED:.1%})"
    )
    for sample in report.flagged[:10]:
        print(f"  flagged [{sample['label']}]: {sample['text'][:100]!r}")
    for sample in report.missed[:10]:
        print(f"  missed [{sample['kind']}/{sample['label']}]: {sample['text'][:100]!r}")
    prose = [PROSE * 40]  # ~10 KB of clean prose
    code = [(CODE * 80)[:10240]]
    keys = [(KEYS * 40)[:10240]]
    mixed = [s["text"] for s in samples]
    clean = [s["text"] for s in samples if s["kind"] is None]
    print("\nscan cost (CPU, median of 5):")
    print(f"  clean prose, 10 KB text:  {cost_per_kb(prose, scanner):8.1f} us/KB")
    print(f"  code, 10 KB text:         {cost_per_kb(code, scanner):8.1f} us/KB")
    print(f"  10 KB, a key every 250 B: {cost_per_kb(keys, scanner):8.1f} us/KB")
    print(f"  corpus negatives (short): {cost_per_kb(clean, scanner):8.1f} us/KB")
    print(f"  whole corpus:             {cost_per_kb(mixed, scanner):8.1f} us/KB")
    failures = report.failures()
    print("\n" + ("targets met" if not failures else "MISSED: " + "; ".join(failures)))
    return 1 if failures else 0
