"""One SSL context per process, with its trust anchors loaded on first use.

The SDK builds two default contexts per ``Client()`` (about 45 ms of its 47 ms construction,
measured in docs/benchmarks.md). golden-path builds one bare context per process (well
under a millisecond) and loads certificates into it the first time a connection needs them.
"""

from __future__ import annotations

import os
import ssl
import threading

__all__ = ["ensure_trust", "shared_context", "trust_emulator_ca"]

_lock = threading.Lock()
_context: ssl.SSLContext | None = None
_trusted = False


def shared_context() -> ssl.SSLContext:
    """The process-wide client context (verification on; trust loaded by :func:`ensure_trust`)."""
    global _context  # noqa: PLW0603 - a process-wide singleton is the point
    if _context is None:
        with _lock:
            if _context is None:
                _context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return _context


def trust_emulator_ca(pem: str) -> None:
    """Also trust an in-process emulator's CA (for its Live API's ``wss://``).

    The emulator's CA is name-constrained to loopback, so trusting it vouches for no other host.
    """
    shared_context().load_verify_locations(cadata=pem)


def ensure_trust() -> ssl.SSLContext:
    """Load trust anchors once, then return the shared context.

    ``SSL_CERT_FILE``/``SSL_CERT_DIR`` if set, else the OS store (where companies install their
    TLS-inspection CA), else certifi's bundle.
    """
    global _trusted  # noqa: PLW0603
    context = shared_context()
    if _trusted:
        return context
    with _lock:
        if not _trusted:
            cafile = os.environ.get("SSL_CERT_FILE")
            capath = os.environ.get("SSL_CERT_DIR")
            if cafile or capath:
                context.load_verify_locations(cafile=cafile, capath=capath)
            elif _os_store_present():
                context.load_default_certs()
            else:
                import certifi

                context.load_verify_locations(cafile=certifi.where())
            _trusted = True
    return context


def _os_store_present() -> bool:
    # OpenSSL reads a CA directory lazily, so the context's statistics cannot tell; the paths can.
    paths = ssl.get_default_verify_paths()
    if paths.cafile and os.path.isfile(paths.cafile):
        return True
    return bool(paths.capath and os.path.isdir(paths.capath) and os.listdir(paths.capath))
