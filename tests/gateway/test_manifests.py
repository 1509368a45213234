"""deploy/k8s: valid against Kubernetes' own schemas (offline), and consistent with the gateway."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[2]
MANIFESTS = sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))


def _documents() -> list[dict[str, Any]]:
    import yaml

    docs = []
    for path in MANIFESTS:
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_is_valid_kubernetes(path: Path) -> None:
    """Every object validates, strictly (no unknown fields), against the bundled schemas."""
    import kubernetes_validate
    import yaml

    version = kubernetes_validate.latest_version()
    for doc in yaml.safe_load_all(path.read_text()):
        if doc:
            kubernetes_validate.validate(doc, version, strict=True)


def test_the_set_is_complete_and_consistent() -> None:
    """Deployment, Service, HPA and PDB select the same pods; probes, port and grace period
    match what the gateway serves and how long it drains."""
    from golden_path.gateway import load_gateway_config

    by_kind = {doc["kind"]: doc for doc in _documents()}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= set(
        by_kind
    )
    deployment = by_kind["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert by_kind["Service"]["spec"]["selector"].items() <= labels.items()
    assert (
        by_kind["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    )
    assert (
        by_kind["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"]
        == (deployment["metadata"]["name"])
    )
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    command = container["command"]
    assert command[:2] == ["golden-path", "gateway"]
    drain = float(command[command.index("--drain-delay") + 1])
    configmap = by_kind["ConfigMap"]["data"]
    gateway = tomllib.loads(configmap["gateway.toml"])["gateway"]
    config = load_gateway_config(**gateway)
    assert container["ports"][0]["containerPort"] == config.port
    assert pod["terminationGracePeriodSeconds"] > drain + config.graceful_timeout_s
    upstream = tomllib.loads(configmap["config.toml"])
    assert upstream["state_url"].startswith("redis://"), "replicas must share their limits"


def test_every_gateway_setting_is_documented() -> None:
    """docs/gateway.md's settings table names every field of GatewayConfig."""
    from golden_path.gateway import GatewayConfig

    doc = (ROOT / "docs" / "gateway.md").read_text()
    missing = [name for name in GatewayConfig.model_fields if f"`{name}`" not in doc]
    assert missing == []
