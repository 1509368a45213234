"""Running the gateway: uvicorn, TLS and mTLS, and a shutdown that finishes in-flight streams.

uvicorn is the server: established, small, and its httptools parser (plus uvloop, when the
``uvloop`` extra is installed) keeps the per-request cost low; its ``websockets`` implementation
serves the Live API. On SIGTERM the replica first reports not-ready (``/readyz`` 503) for
``drain_delay_s`` while still serving, so the load balancer takes it out, then stops accepting
connections and waits up to ``graceful_timeout_s`` for every in-flight request and stream to
finish.
"""

from __future__ import annotations

import asyncio
import signal
import ssl
from types import FrameType
from typing import Any

from golden_path.gateway._app import Gateway

__all__ = ["serve"]


def serve(gateway: Gateway, *, drain_delay_s: float = 0.0, log_level: str = "warning") -> None:
    """Serve ``gateway`` until SIGTERM/SIGINT, then drain and stop."""
    _DrainingServer(server_config(gateway, log_level=log_level), gateway, drain_delay_s).run()


def server_config(gateway: Gateway, *, log_level: str = "warning") -> Any:
    """Uvicorn's configuration for ``gateway``: its host, port and TLS come from its config.

    The one place the gateway's server is configured: ``serve`` and the tests run this.
    """
    import uvicorn

    config = gateway.config
    tls: dict[str, Any] = {}
    if config.tls_certfile is not None:
        tls = {
            "ssl_certfile": str(config.tls_certfile),
            "ssl_keyfile": str(config.tls_keyfile),
        }
        if config.tls_client_ca is not None:
            # Verified at the handshake: an app without a certificate from this CA cannot
            # connect at all (keys and OIDC still work over the same listener when allowed).
            tls["ssl_ca_certs"] = str(config.tls_client_ca)
            tls["ssl_cert_reqs"] = (
                ssl.CERT_OPTIONAL if (gateway.keys or gateway.oidc) else ssl.CERT_REQUIRED
            )
    return uvicorn.Config(
        gateway,
        host=config.host,
        port=config.port,
        http=_http_protocol(),
        ws=_ws_protocol(),
        lifespan="on",
        log_level=log_level,
        access_log=False,
        # Nothing reads the client address, so X-Forwarded-* need not be parsed per request.
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=int(config.graceful_timeout_s),
        # Bodies up to max_body_bytes pass; the websocket frames of Live audio are large too.
        ws_max_size=config.max_body_bytes,
        **tls,
    )


class _DrainingServer:
    """uvicorn's Server, told about the gateway so a signal first turns readiness off."""

    def __init__(self, config: Any, gateway: Gateway, drain_delay_s: float) -> None:
        import uvicorn

        outer = self

        class Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: FrameType | None) -> None:
                outer.on_signal(self, sig, frame)

        self.server = Server(config)
        self.gateway = gateway
        self.drain_delay_s = drain_delay_s
        self._base_exit = uvicorn.Server.handle_exit

    def on_signal(self, server: Any, sig: int, frame: FrameType | None) -> None:
        gateway = self.gateway
        if gateway.draining or self.drain_delay_s <= 0 or sig != signal.SIGTERM:
            gateway.draining = True
            self._exit(server, sig, frame)
            return
        gateway.draining = True
        loop = asyncio.get_event_loop()

        def later() -> None:
            loop.call_later(self.drain_delay_s, self._exit, server, sig, None)

        loop.call_soon_threadsafe(later)

    def run(self) -> None:
        self.server.run()

    def _exit(self, server: Any, sig: int, frame: FrameType | None) -> None:
        self._base_exit(server, sig, frame)
        # uvicorn re-raises the signal once stopped, so the process would die of it; a gateway
        # that drained cleanly exits 0, which is what supervisors and Kubernetes count as clean.
        server._captured_signals.clear()


def _http_protocol() -> Any:
    """The httptools parser (fast), else h11; either carries the peer certificate for mTLS."""
    base: type[Any]
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        base = HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools is part of the gateway extra
        from uvicorn.protocols.http.h11_impl import H11Protocol

        base = H11Protocol
    return _with_peer_cert(_corked(base))


def _corked(base: type[Any]) -> type[Any]:
    """A protocol class whose response head and body, written in one turn, leave in one ``send``.

    uvicorn writes a response's head at ``http.response.start`` and its body at
    ``http.response.body``: two system calls (and two wake-ups of the app on loopback) for
    every buffered answer, though the gateway sends both in the same turn of the loop.
    """

    class Corked(base):  # type: ignore[misc]
        def connection_made(self, transport: Any) -> None:
            super().connection_made(_Cork(transport))

    Corked.__name__ = base.__name__
    return Corked


class _Cork:
    """A transport that joins a response's head and body into one write.

    The first write of a turn of the loop is held; a second in the same turn leaves at once
    with it (a buffered answer's head and body: sent the moment the body is written, not after
    the rest of the turn's work: metrics, uvicorn's bookkeeping). A write left alone leaves at
    the end of the turn (``call_soon``), or before the transport closes; what is held counts in
    ``get_write_buffer_size``; everything else is the transport's own.
    """

    __slots__ = ("_loop", "_pending", "_scheduled", "_transport")

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self._pending: bytes | None = None
        self._scheduled = False
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes) -> None:
        if not data:
            return
        held = self._pending
        if held is None:
            self._pending = bytes(data)
            if not self._scheduled:
                self._scheduled = True
                self._loop.call_soon(self._end_of_turn)
            return
        self._pending = None
        if not self._transport.is_closing():
            self._transport.write(held + data)

    def writelines(self, lines: Any) -> None:
        self.write(b"".join(lines))

    def _end_of_turn(self) -> None:
        self._scheduled = False
        self._flush()

    def _flush(self) -> None:
        held, self._pending = self._pending, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending = None
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        held = len(self._pending) if self._pending is not None else 0
        return int(self._transport.get_write_buffer_size()) + held

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _ws_protocol() -> Any:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    from websockets.exceptions import InvalidState

    class ClosingAware(WebSocketsSansIOProtocol):
        def shutdown(self) -> None:
            # uvicorn sends "going away" to each open websocket at shutdown; one whose app
            # already sent its close frame is in CLOSING state, and websockets refuses a
            # second close with InvalidState, which ended the server's shutdown in a traceback.
            try:
                super().shutdown()
            except InvalidState:
                self.transport.close()

    ClosingAware.__name__ = "WebSocketsSansIOProtocol"
    return _with_peer_cert(ClosingAware)


def _with_peer_cert(base: type[Any]) -> type[Any]:
    """A protocol class that puts the verified client certificate into each scope.

    uvicorn does not implement the ASGI TLS extension; the certificate is read from the
    connection's SSL object once, and every request on the connection carries it as
    ``scope["extensions"]["tls"]["client_cert"]`` (``ssl.getpeercert()``'s dict).
    """

    class WithPeerCert(base):  # type: ignore[misc]
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            ssl_object = transport.get_extra_info("ssl_object")
            cert = ssl_object.getpeercert() if ssl_object is not None else None
            if cert:
                app: Any = self.app  # type: ignore[has-type]

                async def with_cert(scope: Any, receive: Any, send: Any) -> None:
                    scope.setdefault("extensions", {})["tls"] = {"client_cert": cert}
                    await app(scope, receive, send)

                self.app = with_cert

    WithPeerCert.__name__ = f"{base.__name__}WithPeerCert"
    return WithPeerCert
