"""``golden-path audit tail|summary``: read a JSON-lines audit file (a ``file:`` sink, an export).

Lines that are not ``genai.request`` events (other log output mixed in, a torn last line) are
counted and reported, never fatal. ``-`` reads standard input (``kubectl logs ... | golden-path
audit summary -``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

EVENT_NAME = "genai.request"  # the same as golden_path.audit.EVENT_NAME, without the import
GROUP_KEYS = (
    "app",
    "team",
    "model",
    "method",
    "backend",
    "client_id",
    "outcome",
    "stream",
    "surface",
    "project",
    "location",
)
_OUTCOME_MARK = {"ok": "ok", "denied": "DENIED", "error": "ERROR", "cancelled": "cancel"}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``audit`` command group."""
    parser = subparsers.add_parser(
        "audit",
        help="read audit files: tail them, or summarise requests, denials, errors, tokens, latency",
        description="Read the JSON-lines audit trail golden-path writes "
        "(GOLDEN_PATH_AUDIT_SINK=file:/path/audit.jsonl). FILE may be - for standard input.",
    )
    parser.set_defaults(handler=lambda _args: _usage(parser))
    commands = parser.add_subparsers(dest="audit_command", metavar="COMMAND")

    tail = commands.add_parser(
        "tail",
        help="show events one readable line each",
        description="Show the last events of FILE, one line each.",
    )
    tail.add_argument("file", metavar="FILE", help="audit JSON-lines file, or - for stdin")
    tail.add_argument(
        "-n",
        "--lines",
        type=_non_negative,
        default=20,
        metavar="N",
        help="how many of the last events to show first (0: all; default 20)",
    )
    tail.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep printing events as they are appended, until Ctrl-C",
    )
    tail.set_defaults(handler=run_tail)

    summary = commands.add_parser(
        "summary",
        help="requests, denials, errors, tokens and p50/p95 latency per group",
        description="Summarise FILE per app, team and model (or --by other fields).",
    )
    summary.add_argument("file", metavar="FILE", help="audit JSON-lines file, or - for stdin")
    summary.add_argument(
        "--by",
        default="app,team,model",
        metavar="FIELDS",
        help=f"comma-separated fields to group by (default app,team,model; "
        f"any of {', '.join(GROUP_KEYS)})",
    )
    summary.add_argument("--json", action="store_true", help="print the rows as JSON")
    summary.set_defaults(handler=run_summary)

    verify = commands.add_parser(
        "verify",
        help="check the tamper-evidence chain: name deleted, edited or reordered events",
        description="Check every chain in FILE (each file sink and each stream writes one): "
        "a gap in seq is a deleted event, a digest that no longer matches is an edited one, "
        "seq out of order is a reordered one. Exit 0 when intact, 1 when not, 2 when FILE "
        "cannot be read.",
    )
    verify.add_argument("file", metavar="FILE", help="audit JSON-lines file, or - for stdin")
    verify.add_argument(
        "--key-file",
        metavar="PATH",
        help="the chain key (audit_chain_key) when the chain is keyed with HMAC",
    )
    verify.set_defaults(handler=run_verify)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _non_negative(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {number}")
    return number


# ------------------------------------------------------------------------------ reading


@dataclass
class _Reader:
    """Parses lines into events and counts the ones that are not events."""

    skipped: int = 0
    first_skipped: int | None = None
    line_no: int = 0

    def events(self, lines: Iterable[str]) -> Iterator[dict[str, Any]]:
        for line in lines:
            self.line_no += 1
            event = self.parse(line)
            if event is not None:
                yield event

    def parse(self, line: str) -> dict[str, Any] | None:
        text = line.strip()
        if not text:
            return None
        try:
            event = json.loads(text)
        except ValueError:
            event = None
        # The logging sink's lines may carry a prefix before the JSON object.
        if event is None and "{" in text:
            try:
                event = json.loads(text[text.index("{") :])
            except ValueError:
                event = None
        if not isinstance(event, dict) or event.get("event") != EVENT_NAME:
            self.skipped += 1
            if self.first_skipped is None:
                self.first_skipped = self.line_no
            return None
        return event

    def report(self, name: str) -> None:
        if self.skipped:
            print(
                f"golden-path: skipped {self.skipped} line(s) of {name} that are not "
                f"genai.request events (first at line {self.first_skipped})",
                file=sys.stderr,
            )


class _NotRegular(OSError):
    pass


def _open_regular(path: Path) -> IO[str]:
    """``path`` opened for text reading if it is a regular file.

    FIFOs and devices are refused without blocking: ``audit summary /dev/zero`` must not read
    forever.
    """
    import stat

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(path)
        raise _NotRegular("a FIFO" if stat.S_ISFIFO(mode) else "a device or socket")
    os.set_blocking(fd, True)
    return os.fdopen(fd, encoding="utf-8", errors="replace")


def _open(name: str) -> IO[str] | None:
    """The file to read, or None after printing why it cannot be read."""
    if name == "-":
        return sys.stdin
    path = Path(name)
    try:
        return _open_regular(path)
    except FileNotFoundError:
        problem = "does not exist"
    except IsADirectoryError:
        problem = "is a directory"
    except PermissionError:
        problem = "cannot be read (permission denied)"
    except _NotRegular as exc:
        problem = f"is {exc}, not a regular file (reading it could block or never end)"
    except OSError as exc:
        problem = f"cannot be read ({exc.strerror})"
    print(
        f"golden-path: audit file {name} {problem}; fix: point at a JSON-lines audit file, "
        "as GOLDEN_PATH_AUDIT_SINK=file:/path/audit.jsonl writes",
        file=sys.stderr,
    )
    return None


# --------------------------------------------------------------------------------- tail


# C0 and C1 controls, DEL, and the format characters that reorder or hide text (bidi
# overrides, zero-width): an event's fields come from callers (a model name, an error text), and
# printed raw they could move the cursor, recolour or rewrite an operator's terminal.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def safe(text: str) -> str:
    """``text`` with every control or invisible format character shown as an escape."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def render_line(event: dict[str, Any]) -> str:
    """One readable line: time, outcome, method, model, who, status, latency, tokens, id."""
    outcome = str(event.get("outcome", "?"))
    parts = [
        str(event.get("timestamp", "?")),
        f"{_OUTCOME_MARK.get(outcome, outcome):<6}",
        f"{event.get('method', '?')}{' (stream)' if event.get('stream') else ''}",
        str(event.get("model") or "-"),
    ]
    who = "/".join(str(event.get(k)) for k in ("app", "team") if event.get(k))
    if who:
        parts.append(who)
    if event.get("http_status") is not None:
        parts.append(str(event["http_status"]))
    if event.get("error_type"):
        parts.append(str(event["error_type"]))
    latency = event.get("latency_ms")
    if isinstance(latency, (int, float)):
        parts.append(f"{latency:.0f}ms")
    if isinstance(event.get("ttft_ms"), (int, float)):
        parts.append(f"ttft={event['ttft_ms']:.0f}ms")
    tokens = [event.get("prompt_tokens"), event.get("output_tokens")]
    if any(t is not None for t in tokens):
        parts.append("tokens=" + "/".join("?" if t is None else str(t) for t in tokens))
    for decision in event.get("policy") or ():
        if isinstance(decision, dict) and decision.get("action") not in (None, "allow"):
            mark = "" if decision.get("enforced", True) else " (report)"
            reason = f": {decision['reason']}" if decision.get("reason") else ""
            parts.append(f"[{decision.get('policy')} {decision.get('action')}{mark}{reason}]")
    parts.append(f"id={event.get('request_id', '?')}")
    return safe("  ".join(parts))


def run_tail(args: argparse.Namespace, *, stop: threading.Event | None = None) -> int:
    """Print the last ``-n`` events, then with ``--follow`` the ones appended after."""
    stream = _open(args.file)
    if stream is None:
        return 2
    reader = _Reader()
    try:
        events = list(reader.events(stream))
        for event in events[-args.lines :] if args.lines else events:
            print(render_line(event), flush=False)
        sys.stdout.flush()
        if args.follow and args.file != "-":
            _follow(stream, Path(args.file), reader, stop or threading.Event())
    finally:
        if stream is not sys.stdin:
            stream.close()
    reader.report(args.file)
    return 0


def _follow(stream: IO[str], path: Path, reader: _Reader, stop: threading.Event) -> None:
    """Poll for appended lines; start over when the file is truncated or replaced (rotation)."""
    partial = ""
    while not stop.wait(0.2):
        chunk = stream.read()
        if chunk:
            partial += chunk
            *lines, partial = partial.split("\n")
            for event in reader.events(lines):
                print(render_line(event), flush=True)
            continue
        try:
            current = path.stat()
        except OSError:
            continue  # being rotated; wait for the new file
        if current.st_size < stream.tell() or _replaced(stream, current.st_ino):
            stream.close()
            stream = _open_regular(path)
            partial = ""
    stream.close()


def _replaced(stream: IO[str], inode: int) -> bool:
    try:
        return os.fstat(stream.fileno()).st_ino != inode
    except (OSError, ValueError):
        return True


# ------------------------------------------------------------------------------ summary


@dataclass
class _Group:
    requests: int = 0
    denied: int = 0
    errors: int = 0
    cancelled: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unpriced: int = 0
    latencies: list[float] = field(default_factory=list)

    def add(self, event: dict[str, Any]) -> None:
        self.requests += 1
        outcome = event.get("outcome")
        self.denied += outcome == "denied"
        self.errors += outcome == "error"
        self.cancelled += outcome == "cancelled"
        self.input_tokens += _count(event.get("prompt_tokens"))
        self.output_tokens += _count(event.get("output_tokens"))
        cost = event.get("cost_usd")
        if isinstance(cost, int | float) and not isinstance(cost, bool) and math.isfinite(cost):
            self.cost_usd += float(cost)
        elif outcome in ("ok", "cancelled") and event.get("prompt_tokens") is not None:
            self.unpriced += 1  # it used tokens the price catalog could not price
        latency = event.get("latency_ms")
        # Denied requests never left the process; their latency would flatter the percentiles.
        if outcome != "denied" and isinstance(latency, (int, float)) and math.isfinite(latency):
            self.latencies.append(float(latency))


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile (``pct`` in 0-100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def run_summary(args: argparse.Namespace) -> int:
    """Print one aligned row per group, plus a total."""
    keys = [k.strip() for k in args.by.split(",") if k.strip()]
    unknown = [k for k in keys if k not in GROUP_KEYS]
    if unknown or not keys:
        print(
            f"golden-path: cannot group by {', '.join(unknown) or 'nothing'}; use any of "
            f"{', '.join(GROUP_KEYS)} (for example --by app,team,model)",
            file=sys.stderr,
        )
        return 2
    stream = _open(args.file)
    if stream is None:
        return 2
    reader = _Reader()
    groups: dict[tuple[str, ...], _Group] = {}
    total = _Group()
    try:
        for event in reader.events(stream):
            key = tuple(_cell(event.get(k)) for k in keys)
            groups.setdefault(key, _Group()).add(event)
            total.add(event)
    finally:
        if stream is not sys.stdin:
            stream.close()
    rows = [(list(key), group) for key, group in sorted(groups.items())]
    if args.json:
        print(json.dumps([_as_json(keys, key, group) for key, group in rows], indent=2))
    else:
        rows.append((["TOTAL"] + [""] * (len(keys) - 1), total))
        print(_table(keys, rows))
    reader.report(args.file)
    return 0


def _cell(value: Any) -> str:
    return "-" if value is None or value == "" else safe(str(value))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


_COLUMNS = (
    "requests",
    "denied",
    "errors",
    "cancelled",
    "in_tokens",
    "out_tokens",
    "cost_usd",
    "p50_ms",
    "p95_ms",
)


def _numbers(group: _Group) -> list[str]:
    return [
        str(group.requests),
        str(group.denied),
        str(group.errors),
        str(group.cancelled),
        str(group.input_tokens),
        str(group.output_tokens),
        f"{group.cost_usd:.4f}" + ("+" if group.unpriced else ""),
        _ms(percentile(group.latencies, 50)),
        _ms(percentile(group.latencies, 95)),
    ]


def _table(keys: list[str], rows: list[tuple[list[str], _Group]]) -> str:
    header = [*keys, *_COLUMNS]
    body = [[*labels, *_numbers(group)] for labels, group in rows]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    numeric = len(keys)

    def fmt(row: list[str]) -> str:
        cells = [
            cell.ljust(w) if i < numeric else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    lines = [fmt(header), fmt(["-" * w for w in widths])]
    lines += [fmt(row) for row in body[:-1]]
    if len(body) > 1:
        lines.append(fmt(["-" * w for w in widths]))
    lines.append(fmt(body[-1]))
    return "\n".join(lines)


def _as_json(keys: list[str], labels: list[str], group: _Group) -> dict[str, Any]:
    return {
        **dict(zip(keys, labels, strict=True)),
        "requests": group.requests,
        "denied": group.denied,
        "errors": group.errors,
        "cancelled": group.cancelled,
        "input_tokens": group.input_tokens,
        "output_tokens": group.output_tokens,
        "cost_usd": round(group.cost_usd, 9),
        "unpriced_requests": group.unpriced,
        "p50_ms": percentile(group.latencies, 50),
        "p95_ms": percentile(group.latencies, 95),
    }


# ------------------------------------------------------------------------------- verify


def run_verify(args: argparse.Namespace) -> int:
    """Check the chains of FILE; print each problem; exit 1 if any."""
    from golden_path.audit._chain import verify

    key: bytes | None = None
    if args.key_file:
        try:
            key = Path(args.key_file).read_bytes().strip()
        except OSError as exc:
            print(
                f"golden-path: --key-file {args.key_file} cannot be read ({exc.strerror}); "
                "pass the file holding audit_chain_key",
                file=sys.stderr,
            )
            return 2
    if args.file == "-":
        report = verify(sys.stdin.buffer, key)
    else:
        try:
            with Path(args.file).open("rb") as stream:
                report = verify(stream, key)
        except OSError as exc:
            print(
                f"golden-path: audit file {args.file} cannot be read ({exc.strerror})",
                file=sys.stderr,
            )
            return 2
    for problem in report.problems:
        print(safe(str(problem)))
    summary = f"{report.chained} chained event(s) in {report.chains} chain(s)" + (
        f", {report.unchained} unchained" if report.unchained else ""
    )
    if report.problems:
        edited = sum("changed after" in p.message for p in report.problems)
        if key is None and edited and edited >= report.chained - report.chains:
            print("hint: every link differs: is the chain keyed? pass --key-file")
        print(f"audit verify: NOT INTACT: {len(report.problems)} problem(s); {summary}")
        return 1
    if not report.chained:
        print(f"audit verify: no chained events in {args.file} (nothing to verify)")
        return 1
    print(f"audit verify: intact: {summary}")
    return 0
