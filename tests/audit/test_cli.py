"""`golden-path audit tail` and `golden-path audit summary` on JSON-lines audit files."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import threading
from pathlib import Path

import pytest

from golden_path._cli.audit import percentile, run_tail
from golden_path.audit import render_json
from golden_path.cli import main
from tests.audit.test_sinks import make_event


def write(path: Path, *lines: str) -> Path:
    """Append lines to an audit file."""
    with path.open("a", encoding="utf-8") as fh:
        fh.writelines(line + "\n" for line in lines)
    return path


def event_line(**changes: object) -> str:
    """One rendered event."""
    return render_json(dataclasses.replace(make_event(), **changes))  # type: ignore[arg-type]


@pytest.fixture(name="trail")
def _trail(tmp_path: Path) -> Path:
    """Two apps, two models; latencies 10..100 ms for chat's flash calls."""
    lines = [
        event_line(request_id=f"ok{n:02d}", latency_ms=float(n * 10), cost_usd=0.001)
        for n in range(1, 11)
    ]
    lines += [
        event_line(
            request_id="den1",
            outcome="denied",
            error_type="PolicyViolation",
            http_status=None,
            latency_ms=0.1,
            prompt_tokens=None,
            output_tokens=None,
            policy=({"policy": "models", "action": "deny", "reason": "no pro", "enforced": True},),
            model="gemini-2.5-pro",
        ),
        event_line(
            request_id="err1",
            outcome="error",
            error_type="RESOURCE_EXHAUSTED",
            http_status=429,
            latency_ms=5.0,
            prompt_tokens=None,
            output_tokens=None,
        ),
        event_line(
            request_id="bat1",
            app="batch",
            team="data",
            latency_ms=300.0,
            prompt_tokens=100,
            output_tokens=200,
        ),
        event_line(
            request_id="can1",
            app="batch",
            team="data",
            outcome="cancelled",
            error_type="Cancelled",
            stream=True,
            ttft_ms=12.0,
            latency_ms=50.0,
            method="streamGenerateContent",
        ),
    ]
    return write(tmp_path / "audit.jsonl", *lines)


def test_summary_table(trail: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One aligned row per app/team/model with requests, denials, errors, tokens, spend,
    p50/p95 ms, and a total; a "+" marks spend that excludes calls the catalog could not price."""
    assert main(["audit", "summary", str(trail)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == [
        "app",
        "team",
        "model",
        "requests",
        "denied",
        "errors",
        "cancelled",
        "in_tokens",
        "out_tokens",
        "cost_usd",
        "p50_ms",
        "p95_ms",
    ]
    rows = {tuple(line.split()[:3]): line.split()[3:] for line in out[2:] if line[0] != "-"}
    # chat/search flash: 10 ok (10..100 ms, 3+5 tokens each) and one 429 (5 ms, no tokens).
    assert rows[("chat", "search", "gemini-2.5-flash")] == [
        "11",
        "0",
        "1",
        "0",
        "30",
        "50",
        "0.0100",
        "50",
        "100",
    ]
    assert rows[("chat", "search", "gemini-2.5-pro")] == [
        "1",
        "1",
        "0",
        "0",
        "0",
        "0",
        "0.0000",
        "-",
        "-",
    ]
    assert rows[("batch", "data", "gemini-2.5-flash")] == [
        "2",
        "0",
        "0",
        "1",
        "103",
        "205",
        "0.0000+",
        "50",
        "300",
    ]
    total = next(line for line in out if line.startswith("TOTAL")).split()
    assert total[1:] == ["14", "1", "1", "1", "133", "255", "0.0100+", "50", "300"]
    # Aligned: every line's columns end at the same place.
    assert len({len(line) for line in out if not line.startswith("-")}) == 1


def test_summary_by_other_fields_as_json(trail: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--by picks the grouping; --json gives machine-readable rows."""
    assert main(["audit", "summary", str(trail), "--by", "model,outcome", "--json"]) == 0
    rows = {(r["model"], r["outcome"]): r for r in json.loads(capsys.readouterr().out)}
    assert rows[("gemini-2.5-flash", "ok")]["requests"] == 11
    assert rows[("gemini-2.5-pro", "denied")]["denied"] == 1
    assert rows[("gemini-2.5-flash", "ok")]["p95_ms"] == 300.0
    assert rows[("gemini-2.5-flash", "ok")]["cost_usd"] == pytest.approx(0.01)
    assert rows[("gemini-2.5-flash", "ok")]["unpriced_requests"] == 1


def test_summary_counts_malformed_lines(trail: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Lines that are not audit events are counted and reported, not fatal."""
    write(trail, "not json at all", '{"event": "something.else"}', "", '{"event": "genai.req')
    assert main(["audit", "summary", str(trail), "--by", "app"]) == 0
    captured = capsys.readouterr()
    assert "skipped 3 line(s)" in captured.err
    assert "first at line 15" in captured.err
    assert (
        next(line for line in captured.out.splitlines() if line.startswith("TOTAL")).split()[1]
        == "14"
    )


@pytest.mark.parametrize("command", ["tail", "summary"])
def test_missing_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """A missing file exits 2 with a message naming it and how audit files are written."""
    assert main(["audit", command, str(tmp_path / "nope.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "nope.jsonl does not exist" in err
    assert "GOLDEN_PATH_AUDIT_SINK=file:" in err
    assert "Traceback" not in err


def test_directory_and_bad_grouping(
    tmp_path: Path, trail: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A directory, or a grouping field that does not exist, exit 2 with a message."""
    assert main(["audit", "summary", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert main(["audit", "summary", str(trail), "--by", "app,colour"]) == 2
    assert "cannot group by colour" in capsys.readouterr().err


def test_tail_renders_one_readable_line_per_event(
    trail: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """tail shows the last -n events, one line each: time, outcome, method, model, who,
    status, error, latency, tokens, policy decisions and request id."""
    assert main(["audit", "tail", "-n", "4", str(trail)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    denied, error, _ok, cancelled = lines
    assert "DENIED" in denied
    assert "[models deny: no pro]" in denied
    assert "id=den1" in denied
    assert "ERROR" in error
    assert "429" in error
    assert "RESOURCE_EXHAUSTED" in error
    assert "streamGenerateContent (stream)" in cancelled
    assert "batch/data" in cancelled
    assert "ttft=12ms" in cancelled
    assert main(["audit", "tail", "-n", "0", str(trail)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 14


def test_tail_reads_stdin(
    trail: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """FILE '-' reads the events from standard input (a pipe from kubectl logs)."""
    monkeypatch.setattr("sys.stdin", io.StringIO(trail.read_text()))
    assert main(["audit", "tail", "-n", "1", "-"]) == 0
    assert "id=can1" in capsys.readouterr().out


def test_tail_follow_prints_appended_events(
    trail: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--follow prints events appended after it started, including after a rotation."""
    stop = threading.Event()
    args = argparse.Namespace(file=str(trail), lines=1, follow=True)
    thread = threading.Thread(target=run_tail, args=(args,), kwargs={"stop": stop})
    thread.start()
    try:
        write(trail, event_line(request_id="late1"))
        _wait_for(capsys, "id=late1")
        trail.rename(trail.with_suffix(".old"))
        write(trail, event_line(request_id="rotated1"))
        _wait_for(capsys, "id=rotated1")
    finally:
        stop.set()
        thread.join()


def _wait_for(capsys: pytest.CaptureFixture[str], text: str) -> None:
    seen = ""
    for _ in range(200):
        seen += capsys.readouterr().out
        if text in seen:
            return
        threading.Event().wait(0.02)
    pytest.fail(f"{text!r} never printed; got {seen!r}")


def test_percentile_is_nearest_rank() -> None:
    """p50 and p95 are values that occurred (nearest rank), not interpolations."""
    values = [float(n) for n in range(1, 21)]
    assert percentile(values, 50) == 10.0
    assert percentile(values, 95) == 19.0
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None


@pytest.mark.parametrize("command", ["tail", "summary"])
def test_fifo_and_device_are_refused_without_blocking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """A FIFO nobody writes to, or a device, is refused at once (reading would never end)."""
    fifo = tmp_path / "audit.fifo"
    os.mkfifo(fifo)
    assert main(["audit", command, str(fifo)]) == 2
    err = capsys.readouterr().err
    assert f"{fifo} is a FIFO, not a regular file" in err
    assert main(["audit", command, os.devnull]) == 2
    assert "is a device or socket, not a regular file" in capsys.readouterr().err


def test_audit_without_a_subcommand_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    """`golden-path audit` alone lists its commands on stderr and exits 2."""
    assert main(["audit"]) == 2
    err = capsys.readouterr().err
    assert "tail" in err
    assert "summary" in err
    assert "verify" in err


@pytest.mark.parametrize(
    ("value", "message"),
    [("-1", "must be 0 or more, got -1"), ("ten", "'ten' is not a whole number")],
)
def test_tail_lines_must_be_a_non_negative_number(
    trail: Path, capsys: pytest.CaptureFixture[str], value: str, message: str
) -> None:
    """`tail -n` with a negative or non-numeric value is a usage error naming the value."""
    with pytest.raises(SystemExit) as exited:
        main(["audit", "tail", str(trail), "-n", value])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "-n/--lines" in err
    assert message in err


def test_verify_missing_key_file_and_unchained_trail(
    trail: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """verify: an unreadable --key-file exits 2 naming it; a trail without chain fields is not
    called intact (exit 1, "nothing to verify")."""
    missing = tmp_path / "no-key"
    assert main(["audit", "verify", str(trail), "--key-file", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"--key-file {missing} cannot be read" in err
    assert "audit_chain_key" in err
    assert main(["audit", "verify", str(trail)]) == 1
    assert "no chained events" in capsys.readouterr().out
