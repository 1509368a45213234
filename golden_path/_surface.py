"""SDK entry points golden-path routes but does not intercept: refused at run time.

The route table (``golden_path/_routes.py``) names every method of every supported
google-genai release; ``_sdk_surface`` checks that none is missing. A row is not yet a guard:
an entry point that opens a connection outside the injected httpx2 client, or mints a
credential usable without golden-path, needs its own guard first. Until it has one, list it in
:data:`REFUSED`: :func:`refuse_ungoverned` then makes it raise
:class:`~golden_path.exceptions.PolicyViolation` before the SDK runs, so nothing connects.

Nothing is refused today: 3.5.0's ``interactions.connect`` runs behind the realtime guard
(``_transport/_live.py``) and its ``interactions.auth_tokens`` through the governed transport,
under the token rule of ``[routes] ephemeral_token_max_s``. ``golden-path upgrade-check`` still
proves that whatever is listed here raises and sends nothing (``_upgrade``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from golden_path.exceptions import PolicyViolation

if TYPE_CHECKING:
    from google import genai

__all__ = ["REFUSED", "refuse_ungoverned", "resolve"]

REFUSED: tuple[str, ...] = ()
"""SDK methods (``aio.`` ones too) and whole sub-resources refused on every client."""


def refuse_ungoverned(client: genai.Client, refused: Iterable[str] = REFUSED) -> genai.Client:
    """Make the ``refused`` entry points this SDK release has raise PolicyViolation.

    A method is replaced by one that raises; a sub-resource (an attribute that is not
    callable) is replaced whole, so its raw and streaming accessors are refused too. Names the
    installed release lacks are skipped. Returns ``client``.
    """
    for name in refused:
        for dotted in (name, f"aio.{name}"):
            found = resolve(client, dotted)
            if found is None:
                continue
            *parents, last = dotted.split(".")
            owner = resolve(client, ".".join(parents)) if parents else client
            try:
                setattr(owner, last, _refusal(name) if callable(found) else _Refused(name))
            except AttributeError:
                # A read-only property (the SDK caches the object behind it, as client.files):
                # its public methods are refused in place.
                for attribute in dir(found):
                    if not attribute.startswith("_") and callable(getattr(found, attribute)):
                        setattr(found, attribute, _refusal(f"{name}.{attribute}"))
    return client


def resolve(client: Any, dotted: str) -> Any:
    """``client.a.b.c`` for ``"a.b.c"``, or None when any part is missing."""
    owner = client
    for part in dotted.split("."):
        owner = getattr(owner, part, None)
        if owner is None:
            return None
    return owner


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
