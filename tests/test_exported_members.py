"""The public surfaces of golden_path.policies, golden_path.audit and golden_path.testing.

Each ``__all__`` is derived (every public name the module holds, nothing imported for its own
use) and pinned (the list below), as encode/httpx's test_exported_members does: a name added
or dropped is a decision that shows up in review and in the CHANGELOG.
"""

from __future__ import annotations

import types
import typing
from typing import Any

import pytest

import golden_path.audit
import golden_path.policies
import golden_path.testing

PINNED: dict[Any, list[str]] = {
    golden_path.policies: [
        "HOOKS",
        "Chain",
        "Decision",
        "Deny",
        "Detector",
        "Finding",
        "GenAIRequest",
        "GenAIResponse",
        "Identity",
        "Mode",
        "Policy",
        "Usage",
        "usage_from",
    ],
    golden_path.audit: [
        "EVENT_NAME",
        "AuditEvent",
        "AuditSink",
        "Auditor",
        "FileSink",
        "JsonLinesSink",
        "LoggingSink",
        "OTelSink",
        "Outcome",
        "StructlogSink",
        "add_processor",
        "add_sink",
        "current_request_id",
        "remove_processor",
        "remove_sink",
        "render_json",
        "sink_from_setting",
    ],
    golden_path.testing: ["AuditCapture", "capture_audit", "emulated", "reset"],
}


def derived(module: types.ModuleType) -> set[str]:
    """The public names a module holds: its own and golden_path's, not the helpers it imports."""
    names = set()
    for name, value in vars(module).items():
        if name.startswith("_") or name in {"annotations", "TYPE_CHECKING"}:
            continue
        if isinstance(value, types.ModuleType):
            continue
        origin = getattr(value, "__module__", None)
        # A Literal alias (``Mode``) is golden_path's own though typing made the object.
        own = typing.get_origin(value) is typing.Literal
        if isinstance(origin, str) and not origin.startswith("golden_path") and not own:
            continue
        names.add(name)
    return names


@pytest.mark.parametrize("module", list(PINNED), ids=lambda m: m.__name__)
def test_all_is_pinned(module: types.ModuleType) -> None:
    """``__all__`` is exactly the pinned list, in that order."""
    assert list(module.__all__) == PINNED[module]


@pytest.mark.parametrize("module", list(PINNED), ids=lambda m: m.__name__)
def test_all_is_what_the_module_exports(module: types.ModuleType) -> None:
    """Every public name the module holds is in ``__all__``, and every name there resolves."""
    # Resolved first: a name loaded on first use (OTelSink, behind the otel extra) is then held.
    for name in module.__all__:
        assert getattr(module, name) is not None
    assert derived(module) == set(module.__all__)
