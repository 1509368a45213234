"""Tamper evidence for the audit trail: each event line carries the digest of the one before.

A chained line ends with three fields::

    ..., "chain": "9f2c01d4", "seq": 42, "prev": "<64 hex digits>"}

``seq`` counts the events of one chain from 1; ``prev`` is the SHA-256 (or, with a key,
HMAC-SHA-256) of the previous event line's bytes exactly as written, and all zeros for the first.
A deleted line leaves a gap in ``seq``; an edited line no longer matches the ``prev`` its
successor recorded; swapped lines break the order of ``seq``. Without a key, someone who can
rewrite the file can also recompute every digest, so platforms that need proof against an
administrator set ``audit_chain_key`` (kept outside the audited host): an HMAC cannot be
recomputed without it.

The newest line has no successor yet, so an edit to it shows only once the next event is
written; a file cut short at the end is indistinguishable from one that ended there. Shipping
events to a second sink (logging, OTel) as they are written is what covers those two cases.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "GENESIS",
    "ChainProblem",
    "Link",
    "Report",
    "chain_fields",
    "digest",
    "new_link",
    "read_tail",
    "verify",
]

GENESIS = "0" * 64
# How far back from the end of a file the writer looks for the last chained line.
_TAIL_LIMIT = 4 * 1024 * 1024
_BLOCK = 64 * 1024


def digest(line: bytes, key: bytes | None) -> str:
    """The link to ``line`` (its bytes without the newline).

    Each digest starts from a copy of one fresh SHA-256 (or HMAC) state: a new one looks the
    algorithm up in OpenSSL each time, which inside a whole call costs several µs more.
    """
    if key:
        keyed = _keyed
        if keyed[0] != key:
            keyed = _set_keyed(key)
        keyed_state = keyed[1].copy()
        keyed_state.update(line)
        return keyed_state.hexdigest()
    state = _SHA256.copy()
    state.update(line)
    return state.hexdigest()


def _set_keyed(key: bytes) -> tuple[bytes, hmac.HMAC]:
    global _keyed  # noqa: PLW0603 - a one-entry cache, replaced whole (thread-safe)
    keyed = _keyed = (key, hmac.new(key, digestmod=hashlib.sha256))
    return keyed


# Never updated: only copied.
_SHA256 = hashlib.sha256()
_keyed: tuple[bytes, hmac.HMAC] = (b"", hmac.new(b"-", digestmod=hashlib.sha256))


@dataclass(frozen=True, slots=True)
class Link:
    """Where a chain stands: its id, the last sequence number and the digest of that line."""

    chain: str
    seq: int
    prev: str

    def next_fields(self) -> dict[str, object]:
        """The fields of the next line."""
        return {"chain": self.chain, "seq": self.seq + 1, "prev": self.prev}


def new_link() -> Link:
    """A new chain: a random id, nothing written yet."""
    return Link(chain=os.urandom(4).hex(), seq=0, prev=GENESIS)


def chain_fields(line: bytes) -> tuple[str, int, str] | None:
    """``(chain, seq, prev)`` of a chained event line, else None."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    chain, seq, prev = data.get("chain"), data.get("seq"), data.get("prev")
    if (
        isinstance(chain, str)
        and isinstance(seq, int)
        and not isinstance(seq, bool)
        and isinstance(prev, str)
    ):
        return chain, seq, prev
    return None


def read_tail(fd: int, size: int, key: bytes | None) -> Link:
    """The link after the last chained line of an open file, or a new chain if it has none.

    Reads backwards from the end in blocks, at most a few MiB: another process may have
    appended since this one last wrote, so the file, not memory, says where the chain stands.
    """
    end = size
    buffer = b""
    while end > 0 and size - end < _TAIL_LIMIT:
        start = max(0, end - _BLOCK)
        buffer = os.pread(fd, end - start, start) + buffer
        end = start
        lines = buffer.split(b"\n")
        # The first piece may be a partial line unless we reached the start of the file.
        candidates = lines if end == 0 else lines[1:]
        for line in reversed(candidates):
            fields = chain_fields(line) if line.strip() else None
            if fields is not None:
                chain, seq, _ = fields
                return Link(chain=chain, seq=seq, prev=digest(line, key))
        if end > 0:
            buffer = lines[0]
    return new_link()


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """One thing ``audit verify`` found, with the line it is about."""

    line: int
    chain: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: chain {self.chain}: {self.message}"


@dataclass(slots=True)
class _Entry:
    line_no: int
    seq: int
    prev: str
    link: str


@dataclass(slots=True)
class Report:
    """What ``verify`` found: the problems, and how many chained and unchained events."""

    problems: list[ChainProblem] = field(default_factory=list)
    chained: int = 0
    unchained: int = 0
    chains: int = 0


def verify(lines: Iterable[bytes], key: bytes | None) -> Report:
    """Check every chain in ``lines``: order, gaps (deleted lines) and links (edited lines)."""
    report = Report()
    chains: dict[str, list[_Entry]] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            continue
        fields = chain_fields(line)
        if fields is None:
            if b'"genai.request"' in line:
                report.unchained += 1
            continue
        chain, seq, prev = fields
        report.chained += 1
        chains.setdefault(chain, []).append(_Entry(number, seq, prev, digest(line, key)))
    report.chains = len(chains)
    for chain, entries in chains.items():
        report.problems += _check(chain, entries)
    report.problems.sort(key=lambda p: p.line)
    return report


def _check(chain: str, entries: list[_Entry]) -> list[ChainProblem]:
    problems: list[ChainProblem] = []
    for before, after in itertools.pairwise(entries):
        if after.seq <= before.seq:
            problems.append(
                ChainProblem(
                    after.line_no,
                    chain,
                    f"event seq {after.seq} comes after seq {before.seq} (line {before.line_no}):"
                    " events were reordered or a line was copied",
                )
            )
    by_seq: dict[int, _Entry] = {}
    for entry in entries:
        if entry.seq in by_seq:
            continue  # reported above as out of order
        by_seq[entry.seq] = entry
    ordered = sorted(by_seq.values(), key=lambda e: e.seq)
    first = ordered[0]
    if first.seq != 1 or first.prev != GENESIS:
        missing = "event 1" if first.seq == 2 else f"events 1-{first.seq - 1}"
        problems.append(
            ChainProblem(
                first.line_no,
                chain,
                f"the chain starts at seq {first.seq}: {missing} before it "
                f"{'was' if first.seq == 2 else 'were'} deleted"
                if first.seq > 1
                else "the first event does not start a chain (its prev is not all zeros)",
            )
        )
    for before, after in itertools.pairwise(ordered):
        if after.seq != before.seq + 1:
            gap = (
                f"event {before.seq + 1}"
                if after.seq == before.seq + 2
                else f"events {before.seq + 1}-{after.seq - 1}"
            )
            problems.append(
                ChainProblem(
                    after.line_no,
                    chain,
                    f"{gap} missing between line {before.line_no} and this line: deleted",
                )
            )
        elif after.prev != before.link:
            problems.append(
                ChainProblem(
                    before.line_no,
                    chain,
                    f"event seq {before.seq} was changed after it was written (event "
                    f"{after.seq} on line {after.line_no} recorded another digest for it)",
                )
            )
    return problems
