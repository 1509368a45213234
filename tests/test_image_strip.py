"""base-image/assemble.py strip: extension modules lose their debug sections and still load.

The image carries uvloop only because its 13.6 MB extension module is stripped of debug
information at build time. These tests run that step on a copy of the uvloop the test venv
installed, without podman: the stripped module must still run an event loop over real sockets,
its RECORD must still verify file by file, and the result must not depend on the run.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from golden_path._versions import verify_files

REPO = Path(__file__).resolve().parent.parent


def _assemble() -> Any:
    spec = importlib.util.spec_from_file_location("assemble", REPO / "base-image" / "assemble.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(name="site")
def _site(tmp_path: Path) -> Path:
    """A site-packages folder holding a copy of the installed uvloop and its dist-info."""
    pytest.importorskip("uvloop")
    dist = metadata.distribution("uvloop")
    site = tmp_path / "site-packages"
    site.mkdir()
    root = Path(str(dist.locate_file("")))
    shutil.copytree(root / "uvloop", site / "uvloop")
    info = next(root.glob("uvloop-*.dist-info"))
    shutil.copytree(info, site / info.name)
    return site


def _extension(site: Path) -> Path:
    (found,) = (site / "uvloop").glob("loop.*.so")
    return found


def test_strip_drops_debug_sections_and_keeps_the_record_true(site: Path) -> None:
    """uvloop's extension shrinks several times and its RECORD verifies against the new bytes."""
    before = _extension(site).stat().st_size
    _assemble().strip(site)
    after = _extension(site).stat().st_size
    assert after < before / 3, (before, after)
    verified, problems = verify_files([str(site)])
    assert problems == []
    assert verified > 0


def test_stripped_uvloop_runs_an_event_loop_over_sockets(site: Path) -> None:
    """The stripped module loads and serves a TCP echo on loopback under uvloop."""
    _assemble().strip(site)
    program = """
import asyncio, sys, uvloop
assert uvloop.__file__.startswith(sys.argv[1]), uvloop.__file__

async def echo(reader, writer):
    writer.write(await reader.readline())
    await writer.drain()
    writer.close()

async def main():
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"ping\\n")
    line = await asyncio.wait_for(reader.readline(), 30)
    writer.close()
    server.close()
    await server.wait_closed()
    assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
    return line

print(uvloop.run(main()).decode().strip())
"""
    done = subprocess.run(
        [sys.executable, "-c", program, str(site)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ping"


def test_strip_is_deterministic_and_idempotent(site: Path) -> None:
    """The same module strips to the same bytes every time; a stripped one is left alone."""
    assemble = _assemble()
    data = _extension(site).read_bytes()
    once = assemble.strip_debug(data)
    assert once is not None
    assert assemble.strip_debug(data) == once
    assert assemble.strip_debug(once) is None
    assert assemble.strip_debug(b"#!/bin/sh\n") is None
