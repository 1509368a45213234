"""Live API websockets through the gateway (placeholder until the emulator serves Live)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from golden_path.gateway._app import Gateway


async def serve_live(gateway: Gateway, scope: Any, receive: Any, send: Any) -> None:
    """Refuse websockets until the Live proxy is in place."""
    await receive()
    await send({"type": "websocket.close", "code": 1008, "reason": "Live is not served yet"})
