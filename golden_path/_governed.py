"""Which client objects golden-path built: adapters refuse anything else.

A framework that rebuilds its client (LangChain's validators do, from ``GOOGLE_API_KEY``) ends up
holding an object golden-path never saw; :func:`is_governed` is how an adapter notices.
"""

from __future__ import annotations

import weakref
from typing import Any, TypeVar

__all__ = ["is_governed", "mark"]

_GOVERNED: weakref.WeakSet[Any] = weakref.WeakSet()
_C = TypeVar("_C")


def mark(client: _C) -> _C:
    """Record ``client`` (and its ``aio`` side) as built by golden-path; returns it."""
    _GOVERNED.add(client)
    aio = getattr(client, "aio", None)
    if aio is not None:
        _GOVERNED.add(aio)
    return client


def is_governed(client: Any) -> bool:
    """Whether golden-path built ``client``."""
    try:
        return client in _GOVERNED
    except TypeError:  # not weak-referenceable: certainly not one of ours
        return False
