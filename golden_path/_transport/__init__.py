"""The governed transport: every request of a golden-path client passes through here.

Modules, one idea each:

- ``_call``: :class:`Pipeline` (what one client's requests share) and :class:`Call` (one
  request's lifecycle: identify, request hooks, response hooks, one audit event);
- ``_http``: the sync and async httpx2 transports (with one connection pool per event loop)
  that drive a ``Call`` around the inner transport;
- ``_decode``: decompression, JSON bodies and the incremental SSE parser;
- ``_live``: the same ``Call`` around Live API websockets, which httpx never sees.
"""

from golden_path._transport._call import REQUEST_ID_HEADER, Call, ContentHook, Pipeline
from golden_path._transport._http import GovernedAsyncTransport, GovernedTransport
from golden_path._transport._live import guard_live

__all__ = [
    "REQUEST_ID_HEADER",
    "Call",
    "ContentHook",
    "GovernedAsyncTransport",
    "GovernedTransport",
    "Pipeline",
    "guard_live",
]
