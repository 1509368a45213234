"""The golden-path gateway: the same golden path for apps in any language, over Gemini's REST.

An ASGI application (:class:`Gateway`) that speaks the Gemini Developer API and Vertex AI REST
protocols, server-sent event streams, the resumable Files upload, Live API websockets and the
OpenAI-compatible endpoints, and runs every request through golden-path's pipeline (policies,
limits, audit, identification) under the calling app's identity. Only the gateway holds Google
credentials. Needs the ``golden-path[gateway]`` extra; run it with ``golden-path gateway`` or
``python -m golden_path.gateway``. See docs/gateway.md.
"""

from golden_path.gateway._app import Gateway
from golden_path.gateway._config import GatewayConfig, load_gateway_config
from golden_path.gateway._identity import Caller, Unauthenticated, issue_key, revoke_key
from golden_path.gateway._server import serve

__all__ = [
    "Caller",
    "Gateway",
    "GatewayConfig",
    "Unauthenticated",
    "issue_key",
    "load_gateway_config",
    "revoke_key",
    "serve",
]
