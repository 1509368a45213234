"""The emulator's public surface."""

from __future__ import annotations

import subprocess
import sys

import golden_path.emulator


def test_exported_names() -> None:
    """The emulator, its request and token records, and the timings of long-running work."""
    assert golden_path.emulator.__all__ == ["Emulator", "IssuedToken", "RecordedRequest", "Timings"]


def test_import_is_light() -> None:
    """Importing the emulator loads neither http.server nor cryptography; start() does."""
    code = (
        "import sys, golden_path.emulator as e; "
        "print('http.server' in sys.modules, 'cryptography' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
