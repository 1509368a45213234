"""The tamper-evident audit chain and `golden-path audit verify`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import golden_path
from golden_path.cli import main


def _client(emulator: Any, path: Path, **settings: Any) -> Any:
    return golden_path.create_client(
        backend="ai_studio",
        api_key="test-key",
        base_url=emulator.url,
        retry_attempts=1,
        audit_sink=f"file:{path}",
        **settings,
    )


def _calls(emulator: Any, path: Path, n: int, **settings: Any) -> None:
    client = _client(emulator, path, **settings)
    for i in range(n):
        client.models.generate_content(model="gemini-2.5-flash", contents=f"hello {i}")


def _verify(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["audit", "verify", str(path), *extra])
    return code, capsys.readouterr().out


@pytest.fixture(name="trail")
def _trail(emulator: Any, tmp_path: Path) -> Path:
    path = tmp_path / "audit.jsonl"
    _calls(emulator, path, 6)
    return path


def test_events_written_by_real_calls_are_chained_and_verify(
    trail: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Six governed calls give six lines with seq 1..6, linked, and verify says intact."""
    lines = [json.loads(line) for line in trail.read_text().splitlines()]
    assert [line["seq"] for line in lines] == [1, 2, 3, 4, 5, 6]
    assert lines[0]["prev"] == "0" * 64
    assert len({line["chain"] for line in lines}) == 1
    code, out = _verify(trail, capsys)
    assert code == 0, out
    assert "intact: 6 chained event(s) in 1 chain(s)" in out


def test_deleted_line_is_named(trail: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Removing event 3 is reported as event 3 deleted, at the line after the gap."""
    lines = trail.read_text().splitlines(keepends=True)
    del lines[2]
    trail.write_text("".join(lines))
    code, out = _verify(trail, capsys)
    assert code == 1
    assert "line 3: chain" in out
    assert "event 3 missing between line 2 and this line: deleted" in out


def test_deleted_first_lines_are_named(trail: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Cutting the head of the file off shows as events deleted before the chain's start."""
    lines = trail.read_text().splitlines(keepends=True)
    trail.write_text("".join(lines[2:]))
    code, out = _verify(trail, capsys)
    assert code == 1
    assert "events 1-2 before it were deleted" in out


def test_edited_line_is_named(trail: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Changing a field of event 2 (the tokens, say) is caught by event 3's link."""
    lines = trail.read_text().splitlines(keepends=True)
    event = json.loads(lines[1])
    event["prompt_tokens"] = 1
    lines[1] = json.dumps(event, separators=(",", ":"), ensure_ascii=False) + "\n"
    trail.write_text("".join(lines))
    code, out = _verify(trail, capsys)
    assert code == 1
    assert "line 2:" in out
    assert "event seq 2 was changed after it was written" in out


def test_swapped_lines_are_named(trail: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Swapping events 4 and 5 is reported as reordered, not as an edit or a deletion."""
    lines = trail.read_text().splitlines(keepends=True)
    lines[3], lines[4] = lines[4], lines[3]
    trail.write_text("".join(lines))
    code, out = _verify(trail, capsys)
    assert code == 1
    assert "line 5: chain" in out
    assert "event seq 4 comes after seq 5 (line 4)" in out
    assert "deleted" not in out
    assert "changed" not in out


def test_processes_sharing_a_file_keep_one_chain(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Four processes appending to one file at once still leave one intact chain."""
    path = tmp_path / "shared.jsonl"
    script = textwrap.dedent(
        f"""
        import golden_path
        client = golden_path.create_client(
            backend="ai_studio", api_key="k", base_url={emulator.url!r}, retry_attempts=1,
            audit_sink="file:{path}")
        for i in range(25):
            client.models.generate_content(model="gemini-2.5-flash", contents="hi")
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    code, out = _verify(path, capsys)
    assert code == 0, out
    assert "intact: 100 chained event(s) in 1 chain(s)" in out


def test_keyed_chain_cannot_be_recomputed_without_the_key(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With audit_chain_key the links are HMACs: verify needs the key, and a forger without it
    who edits a line and recomputes plain SHA-256 links is still caught."""
    import hashlib

    path = tmp_path / "keyed.jsonl"
    key_file = tmp_path / "chain.key"
    key_file.write_text("s3cret-chain-key\n")
    _calls(emulator, path, 4, audit_chain_key="s3cret-chain-key")
    code, out = _verify(path, capsys, "--key-file", str(key_file))
    assert code == 0, out
    code, out = _verify(path, capsys)
    assert code == 1
    assert "is the chain keyed? pass --key-file" in out
    # A forger edits event 2 and re-links 3 and 4 with SHA-256, as the unkeyed chain would.
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    lines[1]["output_tokens"] = 0
    raw = [json.dumps(lines[0], separators=(",", ":"), ensure_ascii=False)]
    for event in lines[1:]:
        event["prev"] = hashlib.sha256(raw[-1].encode()).hexdigest()
        raw.append(json.dumps(event, separators=(",", ":"), ensure_ascii=False))
    path.write_text("\n".join(raw) + "\n")
    code, out = _verify(path, capsys, "--key-file", str(key_file))
    assert code == 1
    assert "event seq 1 was changed" in out


def test_async_calls_leave_a_chain_that_verifies(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On an event loop a line's digest is taken after the call returns (not on its path):
    concurrent async calls, then sync ones, on the file sink and a stream sink, keyed, still
    give one intact chain each."""
    import asyncio

    from golden_path.audit import JsonLinesSink, add_sink, remove_sink

    key = "s3cret-chain-key"
    key_file = tmp_path / "chain.key"
    key_file.write_text(key + "\n")
    path = tmp_path / "file.jsonl"
    stream_path = tmp_path / "stream.jsonl"
    client = _client(emulator, path, audit_chain_key=key)

    async def calls(n: int) -> None:
        await asyncio.gather(
            *(
                client.aio.models.generate_content(model="gemini-2.5-flash", contents=f"a{i}")
                for i in range(n)
            )
        )

    with stream_path.open("w", encoding="utf-8") as stream:
        sink = JsonLinesSink(stream, chain_key=key.encode())
        add_sink(sink)
        try:
            asyncio.run(calls(8))
            for i in range(3):
                client.models.generate_content(model="gemini-2.5-flash", contents=f"s{i}")
            asyncio.run(calls(4))
        finally:
            remove_sink(sink)
    for trail in (path, stream_path):
        code, out = _verify(trail, capsys, "--key-file", str(key_file))
        assert code == 0, out
        assert "intact: 15 chained event(s) in 1 chain(s)" in out


def test_verify_unreadable_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing file is a clear one-line error, exit 2, no traceback."""
    code = main(["audit", "verify", str(tmp_path / "nope.jsonl")])
    captured = capsys.readouterr()
    assert code == 2
    assert "cannot be read" in captured.err
    assert "Traceback" not in captured.err


@pytest.mark.parametrize("command", ["tail", "summary"])
def test_cli_output_neutralises_control_characters(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """A model name chosen by a caller cannot put escape sequences on an operator's terminal."""
    path = tmp_path / "audit.jsonl"
    hostile = "gemini\x1b]0;pwned\x07\x1b[2J\u202e"
    # The OpenAI-compatible path carries the model in the body, where any string can go.
    client = golden_path.openai_client(
        backend="ai_studio",
        api_key="k",
        base_url=emulator.url,
        retry_attempts=1,
        audit_sink=f"file:{path}",
    )
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the server says, it is audited
        client.chat.completions.create(model=hostile, messages=[{"role": "user", "content": "hi"}])
    assert path.read_text().strip(), "the call was audited"
    assert main(["audit", command, str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "\u202e" not in out
    assert "\\x1b" in out


def test_digest_matches_a_fresh_sha256_and_hmac_whatever_the_key_order() -> None:
    # digest copies one prepared state per key: switching keys must not reuse the old one.
    import hashlib
    import hmac

    from golden_path.audit._chain import digest

    for line in (b"", b'{"event":"gen_ai.request"}', b"x" * 5000):
        assert digest(line, None) == hashlib.sha256(line).hexdigest()
        for key in (b"key-one", b"key-two" * 20, b"key-one", None, b"key-two" * 20):
            expected = (
                hmac.new(key, line, hashlib.sha256).hexdigest()
                if key
                else hashlib.sha256(line).hexdigest()
            )
            assert digest(line, key) == expected


def test_request_ids_are_unique_hex_across_batches() -> None:
    from golden_path._transport import _call

    _call._IDS.clear()
    ids = [_call._request_id() for _ in range(3 * _call._ID_BATCH + 5)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in ids)
    left = list(_call._IDS)
    _call._IDS.clear()  # what a forked child does: it draws its own, never the parent's
    assert _call._request_id() not in left


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only: nothing forks on Windows")
def test_a_forked_worker_never_hands_out_its_parents_next_request_id() -> None:
    # gunicorn-style workers fork after the parent has drawn ids: without the at-fork reset a
    # child would hand out the very ids the parent hands out next, and audit events collide.
    from golden_path._transport import _call

    _call._request_id()  # the parent now holds a batch of undrawn ids
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: draw a few, report them, leave without running pytest's exit
        try:
            os.write(write, " ".join(_call._request_id() for _ in range(3)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read().split()
    os.waitpid(pid, 0)
    parent = [_call._request_id() for _ in range(3)]
    assert len(child) == 3
    assert not set(child) & set(parent)
