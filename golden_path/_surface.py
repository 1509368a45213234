"""SDK entry points golden-path routes but does not intercept yet: refused at run time.

The route table (``golden_path/_routes.py``) names every method of every supported
google-genai release; ``_sdk_surface`` checks that none is missing. A row is not yet a guard:
3.5.0's ``client.aio.interactions.connect`` opens a websocket outside the injected httpx2
client, and its interaction auth tokens work without golden-path's credentials. Until the
realtime guard covers them, :func:`refuse_ungoverned` makes them raise
:class:`~golden_path.exceptions.PolicyViolation` before the SDK runs (so nothing connects, and
the SDK's experimental ``UserWarning`` is never triggered by golden-path).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from golden_path.exceptions import PolicyViolation

if TYPE_CHECKING:
    from google import genai

__all__ = ["REFUSED", "refuse_ungoverned"]

# SDK methods (``aio.`` ones too) and whole sub-resources refused on every client.
REFUSED = ("interactions.connect", "interactions.auth_tokens")


def refuse_ungoverned(client: genai.Client) -> genai.Client:
    """Make the ``refused`` methods this SDK release has raise PolicyViolation; returns client.

    Only releases that have them are touched (3.5.0+), so older ones pay nothing at start-up.
    A refused sub-resource (``interactions.auth_tokens``) is replaced whole, so its raw and
    streaming accessors are refused too.
    """
    import importlib.util

    if importlib.util.find_spec("google.genai._live_interactions_experimental") is None:
        return client
    for prefix in ("", "aio."):
        for name in REFUSED:
            if name in _RESOURCES:
                _replace(client, prefix + name, _Refused(name))
            else:
                _replace(client, prefix + name, _refusal(name), must_exist=True)
    return client


# Sub-resources refused as a whole: every attribute of them raises.
_RESOURCES = frozenset({"interactions.auth_tokens"})


def _replace(client: Any, dotted: str, value: Any, *, must_exist: bool = False) -> None:
    *parents, name = dotted.split(".")
    owner = client
    for part in parents:
        owner = getattr(owner, part, None)
        if owner is None:
            return
    if must_exist and getattr(owner, name, None) is None:
        return
    setattr(owner, name, value)


def _refusal(method: str) -> Callable[..., Any]:
    def refused(*_args: Any, **_kwargs: Any) -> Any:
        raise PolicyViolation(
            "surface",
            f"{method} is not governed by golden-path (it would bypass the governed "
            "transport); it stays refused until the platform team enables it "
            "(docs/upgrading.md)",
        )

    refused.__name__ = method.rsplit(".", 1)[-1]
    return refused


class _Refused:
    """Stands in for a refused sub-resource: every method of it raises PolicyViolation."""

    def __init__(self, resource: str) -> None:
        self._resource = resource

    def __getattr__(self, name: str) -> Any:
        if name in ("with_raw_response", "with_streaming_response"):
            return self
        return _refusal(f"{self._resource}.{name}")
