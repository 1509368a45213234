"""The golden-path pytest plugin (registered through the ``pytest11`` entry point).

Fixtures, each undone after the test:

``gemini_emulator``
    A running :class:`golden_path.emulator.Emulator` (its ``.requests``, scripts and faults).
``golden_path_client``
    ``golden_path.client()`` wired to that emulator, with the project's policies active; app
    code that calls ``golden_path.client()`` itself gets the same client. Afterwards
    ``golden_path.testing.reset()`` forgets it (and everything else the process kept).
``golden_path_audit``
    The audit events of every golden-path client built during the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from google import genai

    from golden_path.emulator import Emulator
    from golden_path.testing import AuditCapture

__all__ = ["gemini_emulator", "golden_path_audit", "golden_path_client"]


@pytest.fixture
def gemini_emulator() -> Iterator[Emulator]:
    """A fresh embedded Gemini API emulator on a free loopback port."""
    from golden_path.emulator import Emulator

    with Emulator() as emu:
        yield emu


@pytest.fixture
def golden_path_audit() -> Iterator[AuditCapture]:
    """Audit events of the golden-path clients built during the test."""
    from golden_path.testing import capture_audit

    with capture_audit() as capture:
        yield capture


@pytest.fixture
def golden_path_client(
    gemini_emulator: Emulator, golden_path_audit: AuditCapture
) -> Iterator[genai.Client]:
    """``golden_path.client()`` on the emulator, under the project's policies."""
    import golden_path
    from golden_path.testing import emulated, reset

    try:
        with emulated(gemini_emulator):
            yield golden_path.client()
    finally:
        reset()
