"""Settings -> credentials: an API key, or google-auth credentials for Vertex AI.

Nothing here talks to the network: google-auth refreshes tokens lazily, on the first request,
through its own HTTP stack (which is why the OAuth exchange never passes golden-path's
transport; see docs/architecture.md).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from golden_path._settings import ENV_PREFIX, Settings
from golden_path.exceptions import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

__all__ = ["CLOUD_PLATFORM_SCOPE", "Auth", "resolve_auth"]

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


@dataclasses.dataclass(frozen=True, slots=True)
class Auth:
    """How requests authenticate: ``mode`` says which of the fields is in use.

    ``api_key`` is the only secret and never appears in repr.
    """

    mode: Literal["api_key", "vertex_express", "iam"]
    api_key: str | None = dataclasses.field(default=None, repr=False)
    credentials: Credentials | None = None
    # Who the credentials are, for `golden-path config`/doctor (never a secret).
    principal: str = ""


def resolve_auth(settings: Settings, *, sources: dict[str, str] | None = None) -> Auth:
    """Build the credentials the backend in ``settings`` needs."""
    sources = sources or {}
    key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    if settings.backend in ("ai_studio", "emulator"):
        return Auth(mode="api_key", api_key=key or "emulator", principal="api key")
    if key is not None and settings.project is None:
        return Auth(mode="vertex_express", api_key=key, principal="api key (express mode)")
    return _iam(settings, sources)


def _bounded(path: Path, field: str, sources: dict[str, str]) -> bytes:
    """A key file's bytes, read bounded; ConfigError for FIFOs, devices and the like."""
    from golden_path._files import MAX_CONFIG_BYTES, FileProblem, read_bounded

    try:
        return read_bounded(path, MAX_CONFIG_BYTES)
    except FileProblem as exc:
        source = sources.get(field, f"env {field}" if field.isupper() else "default")
        raise ConfigError([ConfigProblem(field, exc.message, source, exc.fix)]) from None


def _iam(settings: Settings, sources: dict[str, str]) -> Auth:
    import google.auth
    from google.auth import exceptions as auth_exceptions

    credentials: Any
    # Read bounded before google-auth does (it would read a FIFO or /dev/zero forever), and
    # outside the try below: its ValueError clause would swallow the ConfigError.
    raw = None
    if settings.credentials_file is not None:
        raw = _bounded(settings.credentials_file, "credentials_file", sources)
    elif os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
        adc = Path(os.environ["GOOGLE_APPLICATION_CREDENTIALS"])
        _bounded(adc, "GOOGLE_APPLICATION_CREDENTIALS", sources)
    try:
        if raw is not None:
            info = json.loads(raw)
            credentials = _from_info(info)
            principal = info.get("client_email") or info.get("type", "credentials file")
        else:
            credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
            principal = getattr(credentials, "service_account_email", "") or "application default"
    except auth_exceptions.DefaultCredentialsError as exc:
        field = "credentials_file" if settings.credentials_file else "backend"
        # google-auth's messages name files and env vars, never key material.
        raise ConfigError(
            [
                ConfigProblem(
                    field=field,
                    source=sources.get(field, "Application Default Credentials"),
                    message=f"cannot load Google Cloud credentials: {_first_line(exc)}",
                    fix=f"set {ENV_PREFIX}CREDENTIALS_FILE to a service-account key, or run "
                    "`gcloud auth application-default login`, or run on Google Cloud",
                )
            ]
        ) from None
    except (ValueError, KeyError) as exc:
        raise ConfigError(
            [
                ConfigProblem(
                    field="credentials_file",
                    source=sources.get("credentials_file", "default"),
                    message=f"{settings.credentials_file} is not usable: "
                    f"{type(exc).__name__} in its fields",
                    fix="download a fresh key file from the IAM console",
                )
            ]
        ) from None

    if settings.impersonate_service_account:
        from google.auth import impersonated_credentials

        target = settings.impersonate_service_account
        credentials = impersonated_credentials.Credentials(
            source_credentials=credentials,
            target_principal=target,
            target_scopes=[CLOUD_PLATFORM_SCOPE],
            delegates=[_sa_resource(d) for d in settings.impersonate_delegates] or None,
            lifetime=3600,
            iam_endpoint_override=(
                f"{settings.iam_endpoint}/v1/projects/-/serviceAccounts/{target}:generateAccessToken"
            ),
        )
        principal = f"{target} (impersonated by {principal})"
    if settings.quota_project:
        credentials = credentials.with_quota_project(settings.quota_project)
    return Auth(mode="iam", credentials=credentials, principal=str(principal))


def _from_info(info: dict[str, Any]) -> Any:  # noqa: PLR0911 - one return per credential type
    """Load by the file's declared type with that type's own loader.

    google-auth's generic loader would accept any type; a key file is configuration from outside
    the program, so each type gets the loader that validates exactly it (the settings check has
    already rejected unknown types).
    """
    kind = info.get("type")
    scopes = [CLOUD_PLATFORM_SCOPE]
    if kind == "service_account":
        from google.oauth2 import service_account

        return service_account.Credentials.from_service_account_info(info, scopes=scopes)
    if kind == "authorized_user":
        from google.oauth2 import credentials

        return credentials.Credentials.from_authorized_user_info(info, scopes=scopes)
    if kind == "external_account":
        source = info.get("credential_source") or {}
        if isinstance(source, dict) and source.get("environment_id", "").startswith("aws"):
            from google.auth import aws

            return aws.Credentials.from_info(info, scopes=scopes)
        if isinstance(source, dict) and "executable" in source:
            from google.auth import pluggable

            return pluggable.Credentials.from_info(info, scopes=scopes)
        from google.auth import identity_pool

        return identity_pool.Credentials.from_info(info, scopes=scopes)
    if kind == "external_account_authorized_user":
        from google.auth import external_account_authorized_user

        return external_account_authorized_user.Credentials.from_info(info, scopes=scopes)
    if kind == "impersonated_service_account":
        from google.auth import impersonated_credentials

        return impersonated_credentials.Credentials.from_impersonated_service_account_info(
            info, scopes=scopes
        )
    raise ValueError(f"unsupported credentials type {kind!r}")


def _sa_resource(email: str) -> str:
    return email if email.startswith("projects/") else f"projects/-/serviceAccounts/{email}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
