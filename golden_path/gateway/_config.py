"""The gateway's own settings: where it listens and how apps prove who they are.

Where the gateway sends requests (backend, Google credentials, policies, audit, the Redis of
the limits) is golden-path's ordinary configuration (``GOLDEN_PATH_*``, ``golden-path.toml``,
secret files), read exactly as the in-process client reads it. The gateway's settings come from
``GOLDEN_PATH_GATEWAY_*`` variables over a TOML file (``--config``, or
``$GOLDEN_PATH_GATEWAY_CONFIG``), keys as the field names.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from golden_path.exceptions import ConfigError, ConfigProblem

__all__ = ["GatewayConfig", "load_gateway_config"]

ENV_PREFIX = "GOLDEN_PATH_GATEWAY_"


class GatewayConfig(BaseModel):
    """Settings of one gateway replica (every replica of a set gets the same)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(default="127.0.0.1", description="address to listen on (0.0.0.0 in pods)")
    port: int = Field(default=8080, ge=0, le=65535, description="port to listen on")
    keys_file: Path | None = Field(default=None, description="TOML of app key hashes")
    oidc_issuer: str | None = Field(default=None, description="accepted OIDC token issuer")
    oidc_audience: str | None = Field(default=None, description="required OIDC audience")
    oidc_jwks: str | None = Field(default=None, description="JWKS file path or URL")
    oidc_app_claim: str = Field(default="sub", description="claim naming the app")
    oidc_team_claim: str | None = Field(default="team", description="claim naming the team")
    oidc_subjects: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="subject -> {app, team}; only these are admitted"
    )
    tls_certfile: Path | None = Field(default=None, description="server certificate (PEM)")
    tls_keyfile: Path | None = Field(default=None, description="server key (PEM)")
    tls_client_ca: Path | None = Field(default=None, description="CA of app client certs (mTLS)")
    mtls_subjects: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="certificate CN -> {app, team}"
    )
    public_url: str | None = Field(
        default=None, description="URL apps reach the gateway at (upload URLs); else Host"
    )
    upload_signing_key: SecretStr | None = Field(
        default=None,
        description="secret shared by replicas to sign upload URLs (random per process if unset)",
    )
    max_body_bytes: int = Field(default=64 * 2**20, gt=0, description="largest request body")
    graceful_timeout_s: float = Field(default=30.0, gt=0, description="drain time on SIGTERM")
    upstream_timeout_s: float = Field(default=600.0, gt=0, description="per upstream request")
    metrics: bool = Field(default=True, description="serve Prometheus metrics on /metrics")
    resource_sharing: Literal["app", "team", "all"] = Field(
        default="app",
        description='whose resources an app may use: "app" (its own), "team" (its team\'s) '
        'or "all" (no isolation)',
    )
    unowned_resources: Literal["refuse", "allow"] = Field(
        default="refuse",
        description='resources with no recorded owner (made outside the gateway): "refuse" '
        'or "allow"',
    )

    def problems(self) -> list[ConfigProblem]:
        """What makes this configuration unusable, every problem at once."""
        found = []
        if self.keys_file is None and self.oidc_issuer is None and self.tls_client_ca is None:
            found.append(
                ConfigProblem(
                    "keys_file",
                    "no way for apps to authenticate is configured",
                    "gateway config",
                    "set keys_file (per-app keys), oidc_* (OIDC tokens) or tls_client_ca (mTLS)",
                )
            )
        oidc = (self.oidc_issuer, self.oidc_audience, self.oidc_jwks)
        if any(oidc) and not all(oidc):
            found.append(
                ConfigProblem(
                    "oidc_issuer",
                    "OIDC needs oidc_issuer, oidc_audience and oidc_jwks together",
                    "gateway config",
                    "set all three, or none",
                )
            )
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            found.append(
                ConfigProblem(
                    "tls_certfile", "TLS needs tls_certfile and tls_keyfile together", "", ""
                )
            )
        if self.tls_client_ca is not None and self.tls_certfile is None:
            found.append(
                ConfigProblem(
                    "tls_client_ca",
                    "mTLS needs the gateway to terminate TLS",
                    "gateway config",
                    "set tls_certfile and tls_keyfile too",
                )
            )
        return found


def load_gateway_config(path: Path | None = None, **overrides: Any) -> GatewayConfig:
    """File, then ``GOLDEN_PATH_GATEWAY_*`` variables, then ``overrides``; ConfigError lists all."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    path = path or (
        Path(os.environ[f"{ENV_PREFIX}CONFIG"]) if f"{ENV_PREFIX}CONFIG" in os.environ else None
    )
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(
                [ConfigProblem("config", f"cannot read it ({exc.strerror})", str(path), "")]
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                [ConfigProblem("config", f"is not valid TOML ({exc})", str(path), "")]
            ) from None
        table = data.get("gateway", data)
        values.update(table)
        sources.update(dict.fromkeys(table, str(path)))
    for name in GatewayConfig.model_fields:
        env = f"{ENV_PREFIX}{name.upper()}"
        if env in os.environ and not name.endswith("_subjects"):
            values[name] = os.environ[env]
            sources[name] = f"env {env}"
    for name, value in overrides.items():
        if value is not None:
            values[name] = value
            sources[name] = "command line"
    try:
        config = GatewayConfig.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"]) or "config"
            top = str(error["loc"][0]) if error["loc"] else ""
            fix = (
                "remove it; known settings: " + ", ".join(GatewayConfig.model_fields)
                if error["type"] == "extra_forbidden"
                else str(GatewayConfig.model_fields[top].description)
                if top in GatewayConfig.model_fields
                else ""
            )
            problems.append(ConfigProblem(field, error["msg"], sources.get(top, "default"), fix))
        raise ConfigError(problems) from None
    problems = config.problems()
    if problems:
        raise ConfigError(problems)
    return config
