"""Prometheus metrics of one replica (``/metrics``), on prometheus_client.

Per-request token counts, costs and spans are the audit trail's job (the ``otel`` audit sink
exports them per the GenAI semantic conventions); these are the operational figures an HPA,
an alert or a dashboard needs: requests by app and outcome, latency, in-flight requests and
streams, refused credentials.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    """The gateway's collectors, in a registry of their own (one per gateway instance)."""

    def __init__(self, in_flight: Callable[[], int]) -> None:
        """``in_flight``: how many requests and Live sessions are being served right now."""
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self._children: dict[tuple[str, str | None, str, int], tuple[Any, Any]] = {}
        self.requests = Counter(
            "golden_path_gateway_requests",
            "Requests answered, by app, team, API method and HTTP status.",
            ["app", "team", "method", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "golden_path_gateway_request_duration_seconds",
            "Time from request received to response complete (streams: to their end).",
            ["method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        # Read when scraped: the gateway counts its requests anyway, and a gauge moved twice
        # per request would take its lock twice on every request's path.
        Gauge(
            "golden_path_gateway_in_flight_requests",
            "Requests being served, streams and Live sessions included.",
            registry=self.registry,
        ).set_function(in_flight)
        self.refused_credentials = Counter(
            "golden_path_gateway_unauthenticated",
            "Requests refused because no accepted app credential was presented.",
            registry=self.registry,
        )
        self.live_sessions = Counter(
            "golden_path_gateway_live_sessions",
            "Live API websocket sessions, by app and outcome.",
            ["app", "outcome"],
            registry=self.registry,
        )

    def exposition(self) -> tuple[bytes, str]:
        """The text format and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def observe(self, app: str, team: str | None, method: str, code: int, seconds: float) -> None:
        """One answered request."""
        key = (app, team, method, code)
        children = self._children.get(key)
        if children is None:
            # labels() takes a lock and builds its key on every call; the children are kept.
            children = (
                self.requests.labels(app, team or "", method, str(code)),
                self.latency.labels(method),
            )
            if len(self._children) < 10_000:
                self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
