"""Settings: every knob golden-path reads, where each value came from, every problem at once.

Precedence, highest first (documented in docs/configuration.md):
keyword overrides > environment (``GOLDEN_PATH_*``) > ``.env`` > TOML file > secret files
> defaults.

The TOML file is ``$GOLDEN_PATH_CONFIG``, else ``./golden-path.toml``, else
``/etc/golden-path/config.toml`` (what the base image ships). Secret files live in
``$GOLDEN_PATH_SECRETS_DIR`` (default ``/run/secrets``), one file per field named
``golden_path_<field>``, as Docker and Kubernetes mount them.
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)

from golden_path._version import VERSION
from golden_path.exceptions import ConfigError, ConfigProblem

__all__ = ["Backend", "ResolvedSettings", "Settings", "load_settings", "read_settings"]

ENV_PREFIX = "GOLDEN_PATH_"
DEFAULT_CONFIG_PATHS = (Path("golden-path.toml"), Path("/etc/golden-path/config.toml"))
DEFAULT_SECRETS_DIR = Path("/run/secrets")
# Status codes worth retrying: Google's documented transient errors.
DEFAULT_RETRY_STATUS_CODES = (408, 429, 500, 502, 503, 504)
# company-product/version, as Google's partner guide spells x-goog-api-client tokens.
_CLIENT_ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)+/[0-9]+(?:\.[0-9]+)*(?:[-+.][0-9A-Za-z.]+)?$")

Backend = Literal["ai_studio", "vertex", "emulator"]

# What to tell a user who got a field wrong. Keyed by field name.
_FIXES: dict[str, str] = {
    "backend": "set GOLDEN_PATH_BACKEND to ai_studio (API key), vertex (Google Cloud IAM) "
    "or emulator (local, offline)",
    "api_key": "set GOLDEN_PATH_API_KEY, or mount it as /run/secrets/golden_path_api_key",
    "project": "set GOLDEN_PATH_PROJECT to your Google Cloud project id",
    "location": "set GOLDEN_PATH_LOCATION to a Vertex AI region such as europe-west4, or global",
    "credentials_file": "point GOLDEN_PATH_CREDENTIALS_FILE at a readable service-account or "
    "external_account JSON file, or unset it to use Application Default Credentials",
    "client_id": "use company-product/version, for example acme-golden-path/1.4.0",
    "timeout_s": "use a number of seconds greater than 0, for example 60",
    "base_url": "use an http:// or https:// URL such as https://europe-west4-aiplatform.googleapis.com",
    "iam_endpoint": "use an http:// or https:// URL such as https://iamcredentials.googleapis.com",
}


def _split_list(value: Any) -> Any:
    """Accept ``a,b`` from an environment variable as well as a real list from TOML."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """golden-path's configuration; build one with :func:`load_settings` to get good errors.

    Field names map to ``GOLDEN_PATH_<NAME>`` environment variables and to top-level keys of
    the TOML file.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        extra="ignore",
        frozen=True,
        validate_default=True,
        case_sensitive=False,
    )

    backend: Backend | None = Field(default=None, description="ai_studio, vertex or emulator")
    api_key: SecretStr | None = Field(default=None, description="AI Studio or Vertex express key")
    project: str | None = Field(default=None, description="Google Cloud project (Vertex)")
    location: str = Field(default="global", description="Vertex AI location")
    credentials_file: Path | None = Field(
        default=None, description="service-account or external_account JSON; else ADC"
    )
    impersonate_service_account: str | None = Field(
        default=None, description="service account to impersonate (Vertex)"
    )
    impersonate_delegates: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="delegation chain for impersonation, comma-separated"
    )
    quota_project: str | None = Field(default=None, description="sent as x-goog-user-project")
    iam_endpoint: str = Field(
        default="https://iamcredentials.googleapis.com",
        description="IAM Credentials API base, for impersonation through a private endpoint",
    )
    client_id: str = Field(default=f"golden-path/{VERSION}", description="company-product/version")
    app: str | None = Field(default=None, description="calling application (user-agent, audit)")
    team: str | None = Field(default=None, description="owning team (user-agent, audit, limits)")
    model: str = Field(default="gemini-2.5-flash", description="default model of the CLI and demo")
    base_url: str | None = Field(default=None, description="private endpoint or emulator URL")
    api_version: str | None = Field(default=None, description="pinned per backend when unset")
    timeout_s: float = Field(default=60.0, description="per HTTP request, seconds")
    retry_attempts: int = Field(default=4, description="1 turns retries off")
    retry_initial_delay_s: float = Field(default=1.0, description="first backoff, seconds")
    retry_max_delay_s: float = Field(default=30.0, description="longest backoff, seconds")
    retry_status_codes: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_RETRY_STATUS_CODES),
        description="HTTP statuses that are retried, comma-separated",
    )
    allow_emulator: bool = Field(default=True, description="false forbids backend=emulator")
    version_drift: Literal["warn", "error"] = Field(
        default="warn", description="what to do when the installed SDK differs from the pin"
    )
    policy_file: Path | None = Field(default=None, description="TOML file or directory")
    audit_sink: str = Field(default="stderr", description="stderr|stdout|file:PATH|logging|none")
    audit_content: Literal["none", "redacted"] = Field(
        default="none", description="none, or redacted prompt/response text in audit events"
    )
    audit_required: bool = Field(
        default=False, description="deny a request when its audit event cannot be written"
    )
    audit_fsync: bool = Field(
        default=False, description="fsync the audit file after every event (durable on power loss)"
    )
    audit_chain_key: SecretStr | None = Field(
        default=None, description="HMAC key of the audit chain (audit verify --key-file)"
    )
    price_file: Path | None = Field(
        default=None, description="TOML price catalog replacing the package's (per-model prices)"
    )
    state_url: str = Field(default="memory://", description="memory:// or redis://host:port/db")

    _list_fields: ClassVar[tuple[str, ...]] = ("impersonate_delegates", "retry_status_codes")

    @field_validator("impersonate_delegates", "retry_status_codes", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, value: str) -> str:
        if not _CLIENT_ID_RE.match(value):
            raise ValueError(f"{value!r} is not company-product/version")
        return value

    @field_validator("timeout_s", "retry_initial_delay_s", "retry_max_delay_s")
    @classmethod
    def _positive(cls, value: float) -> float:
        if not value > 0:
            raise ValueError(f"must be greater than 0, got {value}")
        return value

    @field_validator("retry_attempts")
    @classmethod
    def _attempts(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be at least 1 (1 turns retries off), got {value}")
        return value

    @field_validator("base_url", "iam_endpoint")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("retry_status_codes")
    @classmethod
    def _codes(cls, value: list[int]) -> list[int]:
        bad = [code for code in value if not 400 <= code <= 599]
        if bad:
            raise ValueError(f"retry only makes sense for 4xx/5xx status codes, got {bad}")
        return value

    @field_validator("project", "app", "team", "quota_project", "impersonate_service_account")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return value.strip() or None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Order the sources as documented; the TOML file and secrets dir are resolved by us."""
        plan = _SourcePlan.current()
        return plan.sources(settings_cls, init_settings)


# --------------------------------------------------------------------------- provenance


@dataclasses.dataclass(frozen=True, slots=True)
class ResolvedSettings:
    """Settings plus where each field's value came from (``env GOLDEN_PATH_X``, a file, default)."""

    settings: Settings
    sources: dict[str, str]
    config_file: Path | None


class _TomlSource(PydanticBaseSettingsSource):
    """Top-level keys of the TOML config file; unknown keys are left to the policy loader."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._data.items() if k in self.settings_cls.model_fields}


_PLAN_LOCK = threading.Lock()


class _SourcePlan:
    """Which files to read, decided before pydantic-settings asks for the sources."""

    _active: ClassVar[_SourcePlan | None] = None

    def __init__(
        self, config_file: Path | None, toml_data: dict[str, Any], secrets_dir: Path | None
    ) -> None:
        self.config_file = config_file
        self.toml_data = toml_data
        self.secrets_dir = secrets_dir
        self.provided: dict[str, str] = {}

    @classmethod
    def current(cls) -> _SourcePlan:
        return cls._active or _SourcePlan(None, {}, None)

    def sources(
        self, settings_cls: type[BaseSettings], init: PydanticBaseSettingsSource
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        env = EnvSettingsSource(settings_cls)
        dotenv = DotEnvSettingsSource(settings_cls)
        toml = _TomlSource(settings_cls, self.toml_data)
        chain: list[tuple[str, PydanticBaseSettingsSource]] = [
            ("argument", init),
            ("env", env),
            ("dotenv", dotenv),
            ("toml", toml),
        ]
        if self.secrets_dir is not None:
            chain.append(("secret", SecretsSettingsSource(settings_cls, self.secrets_dir)))
        # Record, highest precedence first, which source supplied each field.
        for label, source in chain:
            for key in source():
                self.provided.setdefault(key, self._describe(label, key))
        return tuple(source for _, source in chain)

    def _describe(self, label: str, key: str) -> str:
        if label == "env":
            return f"env {ENV_PREFIX}{key.upper()}"
        if label == "dotenv":
            return f".env {ENV_PREFIX}{key.upper()}"
        if label == "toml":
            return f"{self.config_file}:{_toml_line(self.config_file, key)}"
        if label == "secret":
            return f"secret file {self.secrets_dir}/{ENV_PREFIX.lower()}{key}"
        return "keyword argument"


def _toml_line(path: Path | None, key: str) -> int:
    """The 1-based line of ``key = ...`` in ``path`` (0 when not found): errors name the line."""
    if path is None:
        return 0
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return 0
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    return next((n for n, line in enumerate(lines, 1) if pattern.match(line)), 0)


def _find_config_file(environ: dict[str, str]) -> tuple[Path | None, str]:
    explicit = environ.get(f"{ENV_PREFIX}CONFIG")
    if explicit:
        return Path(explicit), f"env {ENV_PREFIX}CONFIG"
    for candidate in DEFAULT_CONFIG_PATHS:
        if candidate.is_file():
            return candidate, "default location"
    return None, ""


def _read_toml(path: Path, origin: str) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(
            [
                ConfigProblem(
                    field="config",
                    source=origin,
                    message=f"config file {path} does not exist",
                    fix=f"create it or unset {ENV_PREFIX}CONFIG",
                )
            ]
        ) from None
    except OSError as exc:
        raise ConfigError(
            [
                ConfigProblem(
                    field="config",
                    source=origin,
                    message=f"cannot read {path}: {exc.strerror}",
                    fix="check the file's permissions",
                )
            ]
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            [
                ConfigProblem(
                    field="config",
                    source=str(path),
                    message=f"not valid TOML: {exc}",
                    fix="fix the syntax (see https://toml.io)",
                )
            ]
        ) from None


def load_settings(**overrides: Any) -> ResolvedSettings:
    """Read every source, validate, and raise one ConfigError listing every problem found."""
    resolved = read_settings(**overrides)
    problems = check(resolved.settings, resolved.sources)
    if problems:
        raise ConfigError(problems)
    return resolved


def read_settings(**overrides: Any) -> ResolvedSettings:
    """Every source read and each value validated, as :func:`load_settings` does.

    Without the cross-field rules (a backend and its credentials): for the commands that judge
    policies offline (``policy check``/``explain``, ``budget status``), which need the same
    policy file, app, team and state store the client would use, but no credentials.
    """
    environ = dict(os.environ)
    config_file, origin = _find_config_file(environ)
    toml_data = _read_toml(config_file, origin) if config_file else {}
    secrets_dir = Path(environ.get(f"{ENV_PREFIX}SECRETS_DIR", DEFAULT_SECRETS_DIR))
    plan = _SourcePlan(config_file, toml_data, secrets_dir if secrets_dir.is_dir() else None)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(overrides) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(
            [
                ConfigProblem(
                    field=name,
                    source="keyword argument",
                    message="unknown setting",
                    fix=f"use one of: {', '.join(sorted(Settings.model_fields))}",
                )
                for name in unknown
            ]
        )
    # pydantic-settings asks the class for its sources; the plan rides on a class attribute,
    # so concurrent loads take turns.
    with _PLAN_LOCK:
        _SourcePlan._active = plan
        try:
            settings = Settings(**overrides)
        except ValidationError as exc:
            raise ConfigError(_problems_from(exc, plan.provided)) from None
        finally:
            _SourcePlan._active = None
    return ResolvedSettings(settings, dict(plan.provided), config_file)


def _problems_from(exc: ValidationError, provided: dict[str, str]) -> list[ConfigProblem]:
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        field = str(error["loc"][0]) if error["loc"] else "config"
        message = error["msg"].removeprefix("Value error, ")
        problems.append(
            ConfigProblem(
                field=field,
                source=provided.get(field, "default"),
                message=message,
                fix=_FIXES.get(field, f"check {ENV_PREFIX}{field.upper()}"),
            )
        )
    return problems


def check(settings: Settings, provided: dict[str, str]) -> list[ConfigProblem]:
    """Cross-field rules: combinations that cannot work, each with its fix."""

    def problem(field: str, message: str, fix: str) -> ConfigProblem:
        return ConfigProblem(field, message, provided.get(field, "default"), fix)

    problems: list[ConfigProblem] = []
    if settings.backend is None:
        problems.append(
            problem(
                "backend",
                "no backend is configured (there is no silent default)",
                _FIXES["backend"],
            )
        )
    elif settings.backend == "ai_studio":
        problems += _check_ai_studio(settings, problem)
    elif settings.backend == "vertex":
        problems += _check_vertex(settings, problem)
    elif settings.backend == "emulator" and not settings.allow_emulator:
        problems.append(
            problem(
                "backend",
                "the emulator backend is forbidden here (allow_emulator = false)",
                "configure a real backend: ai_studio or vertex",
            )
        )
    if settings.impersonate_delegates and settings.impersonate_service_account is None:
        problems.append(
            problem(
                "impersonate_delegates",
                "delegates without a service account to impersonate",
                f"set {ENV_PREFIX}IMPERSONATE_SERVICE_ACCOUNT",
            )
        )
    if settings.retry_initial_delay_s > settings.retry_max_delay_s:
        problems.append(
            problem(
                "retry_initial_delay_s",
                "is larger than retry_max_delay_s",
                "make the initial delay at most the maximum delay",
            )
        )
    if settings.credentials_file is not None:
        problems.extend(_check_credentials_file(settings.credentials_file, provided))
    return problems


_Problem = Callable[[str, str, str], ConfigProblem]


def _check_ai_studio(settings: Settings, problem: _Problem) -> list[ConfigProblem]:
    problems = []
    if settings.api_key is None:
        problems.append(problem("api_key", "backend ai_studio needs an API key", _FIXES["api_key"]))
    problems += [
        problem(
            field,
            "only applies to backend vertex",
            f"unset {ENV_PREFIX}{field.upper()} or set {ENV_PREFIX}BACKEND=vertex",
        )
        for field in ("credentials_file", "impersonate_service_account")
        if getattr(settings, field) is not None
    ]
    return problems


def _check_vertex(settings: Settings, problem: _Problem) -> list[ConfigProblem]:
    problems = []
    if settings.project is None and settings.api_key is None:
        problems.append(
            problem(
                "project",
                "backend vertex needs a project (or an API key for express mode)",
                _FIXES["project"],
            )
        )
    if settings.api_key is not None and settings.credentials_file is not None:
        problems.append(
            problem(
                "api_key",
                "an API key and a credentials file are both set; they are two different "
                "ways to authenticate",
                f"unset {ENV_PREFIX}API_KEY (IAM) or {ENV_PREFIX}CREDENTIALS_FILE (express mode)",
            )
        )
    if settings.api_key is not None and settings.impersonate_service_account is not None:
        problems.append(
            problem(
                "impersonate_service_account",
                "impersonation needs IAM credentials, not an API key",
                f"unset {ENV_PREFIX}API_KEY",
            )
        )
    return problems


def _check_credentials_file(path: Path, provided: dict[str, str]) -> list[ConfigProblem]:
    source = provided.get("credentials_file", "default")
    fix = _FIXES["credentials_file"]
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return [ConfigProblem("credentials_file", f"{path} does not exist", source, fix)]
    except OSError as exc:
        return [
            ConfigProblem("credentials_file", f"cannot read {path}: {exc.strerror}", source, fix)
        ]
    import json  # only needed when a key file is configured

    try:
        info = json.loads(raw)
    except ValueError:
        # Never echo the content: a broken key file may still hold a private key.
        return [ConfigProblem("credentials_file", f"{path} is not valid JSON", source, fix)]
    kinds = (
        "service_account",
        "external_account",
        "authorized_user",
        "impersonated_service_account",
        "external_account_authorized_user",
    )
    kind = info.get("type") if isinstance(info, dict) else None
    if kind not in kinds:
        return [
            ConfigProblem(
                "credentials_file",
                f"{path} has type {kind!r}; expected one of {', '.join(kinds)}",
                source,
                fix,
            )
        ]
    return []
