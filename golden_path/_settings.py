"""Settings: every knob golden-path reads, where each value came from, every problem at once.

Layers, lowest precedence first (documented in docs/configuration.md)::

    defaults < secret files < platform file < app file < .env < GOLDEN_PATH_* variables
             < keyword overrides

The **platform file** is ``$GOLDEN_PATH_PLATFORM_CONFIG``, else ``/etc/golden-path/config.toml``
(what the base image ships); the **app file** is ``$GOLDEN_PATH_CONFIG``, else
``./golden-path.toml``. Both are read and merged key by key: an app file never replaces the
platform's. The platform file's ``[locks]`` table pins keys: a higher layer that sets a locked key
to another value is a ConfigError naming the key, the lock's ``file:line`` and the layer that
tried (``"error"``), or is refused with a logged warning, keeping the platform's value
(``"warn"``). Secret files live in ``$GOLDEN_PATH_SECRETS_DIR`` (default ``/run/secrets``), one
per field named ``golden_path_<field>``, as Docker and Kubernetes mount them.

Everything fails closed: an unknown key in a file, ``.env``, variable or secret file is an error
with did-you-mean; so is a file that exists but cannot be read. Every file is read bounded,
refusing FIFOs and devices (``_files``). Values are checked where they become a URL, a host name
or a header, and no message ever quotes a secret.
"""

from __future__ import annotations

import dataclasses
import difflib
import io
import math
import os
import re
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from golden_path._files import (
    MAX_CONFIG_BYTES,
    MAX_SECRET_BYTES,
    FileProblem,
    decode_text,
    key_lines,
    parse_toml,
    read_bounded,
    read_text,
)
from golden_path._log import Diagnostics
from golden_path._version import VERSION
from golden_path.exceptions import ConfigError, ConfigProblem

# What ``async_transport = "auto"`` tries, fastest first (docs/benchmarks.md, async rows):
# httptools (the ``fast`` extra) costs less CPU per call than aiohttp, which beats httpx2.
# The factory picks by it and the setting's description is written from it.
AUTO_WIRES: tuple[Literal["aiohttp", "httptools"], ...] = ("httptools", "aiohttp")
# And under sync calls: httptools' blocking client costs far less CPU than httpx2's own pool.
SYNC_AUTO_WIRES: tuple[Literal["httptools"], ...] = ("httptools",)

__all__ = [
    "Backend",
    "Lock",
    "Refusal",
    "ResolvedSettings",
    "Settings",
    "check_value",
    "load_settings",
    "locked_override",
    "read_settings",
    "redact_url",
    "resolve_explicit",
]

diagnostics = Diagnostics("golden_path")

ENV_PREFIX = "GOLDEN_PATH_"
PLATFORM_CONFIG_PATH = Path("/etc/golden-path/config.toml")
APP_CONFIG_PATH = Path("golden-path.toml")
# Every file load_settings may read by default (the factory watches them for changes).
DEFAULT_CONFIG_PATHS = (APP_CONFIG_PATH, PLATFORM_CONFIG_PATH)
DEFAULT_SECRETS_DIR = Path("/run/secrets")
SECRET_FILE_PREFIX = "golden_path_"  # noqa: S105 - a file name prefix
# GOLDEN_PATH_* variables that are not settings; any other unknown one is an error (a typo'd
# GOLDEN_PATH_POLICY_FLIE must not mean "no policies"). Add new ones here, with what reads them.
OTHER_VARIABLES: dict[str, str] = {
    "CONFIG": "the app's config file (this module)",
    "PLATFORM_CONFIG": "the platform's config file (this module)",
    "SECRETS_DIR": "the secret files' directory (this module)",
    "LOCK": "the requirements lock (golden_path._versions)",
    "IMAGE_CACHE": "the base-image build cache (tests/image)",
    "DEBIAN_SOURCES": "the base-image build's Debian mirror (base-image/build)",
    "BASE_MAX_AGE_DAYS": "the base-image freshness check (base-image/build)",
    "VERSION": "the base-image build argument (base-image/Dockerfile)",
}
# Prefixes of variables another component reads and checks itself.
OTHER_PREFIXES: dict[str, str] = {"GATEWAY_": "the gateway's settings (golden_path.gateway)"}
LOCK_MODES = ("error", "warn")
# Layers from lowest to highest precedence; `config` and errors name them.
LAYERS = ("default", "secret", "platform", "app", "dotenv", "env", "keyword")
# Status codes worth retrying: Google's documented transient errors.
DEFAULT_RETRY_STATUS_CODES = (408, 429, 500, 502, 503, 504)
# company-product/version, as Google's partner guide spells x-goog-api-client tokens.
_CLIENT_ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)+/[0-9]+(?:\.[0-9]+)*(?:[-+.][0-9A-Za-z.]+)?$")
# Google Cloud project ids (6-30 chars), optionally domain-scoped (example.com:my-project).
_PROJECT_RE = re.compile(r"^(?:[a-z0-9][a-z0-9.-]*\.[a-z]{2,}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")
# Vertex AI locations: global, the multi-regions, and region names such as europe-west4.
_LOCATION_RE = re.compile(r"^(?:global|us|eu|[a-z]+-[a-z]+[0-9]{1,2})$")
_SERVICE_ACCOUNT_RE = re.compile(
    r"^[a-z0-9][a-z0-9._-]{0,99}@[a-z0-9][a-z0-9.:-]*\.(?:gserviceaccount\.com|iam\.goog)$"
)
# Model ids and aliases as apps write them: gemini-2.5-flash, models/x, tunedModels/y, fast.
_MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:/-]{0,199}$")
# Optional identifiers that go into URLs and credentials: field -> (grammar, what it must be).
_GRAMMARS: dict[str, tuple[re.Pattern[str], str]] = {
    "project": (_PROJECT_RE, "a Google Cloud project id"),
    "quota_project": (_PROJECT_RE, "a Google Cloud project id"),
    "impersonate_service_account": (_SERVICE_ACCOUNT_RE, "a service account email"),
}
_API_VERSION_RE = re.compile(r"^v[0-9]+(?:(?:alpha|beta)[0-9]*)?$")
_PRINTABLE_ASCII = re.compile(r"^[\x20-\x7e]*$")
MAX_TIMEOUT_S = 3600.0
MAX_RETRY_ATTEMPTS = 20

Backend = Literal["ai_studio", "vertex", "emulator"]

# What to tell a user who got a field wrong. Keyed by field name.
_FIXES: dict[str, str] = {
    "backend": "set GOLDEN_PATH_BACKEND to ai_studio (API key), vertex (Google Cloud IAM) "
    "or emulator (local, offline)",
    "api_key": "set GOLDEN_PATH_API_KEY, or mount it as /run/secrets/golden_path_api_key",
    "project": "set GOLDEN_PATH_PROJECT to your Google Cloud project id (6-30 lower-case "
    "letters, digits and hyphens, e.g. acme-prod)",
    "quota_project": "set GOLDEN_PATH_QUOTA_PROJECT to a Google Cloud project id, "
    "e.g. acme-billing",
    "location": "set GOLDEN_PATH_LOCATION to a Vertex AI region such as europe-west4, or global, "
    "us or eu",
    "credentials_file": "point GOLDEN_PATH_CREDENTIALS_FILE at a readable service-account or "
    "external_account JSON file, or unset it to use Application Default Credentials",
    "impersonate_service_account": "use a service account email such as "
    "gemini-caller@acme-prod.iam.gserviceaccount.com",
    "impersonate_delegates": "list service account emails, comma-separated, such as "
    "hop@acme-prod.iam.gserviceaccount.com",
    "client_id": "use company-product/version, for example acme-golden-path/1.4.0",
    "app": "use printable ASCII without line breaks, e.g. checkout",
    "team": "use printable ASCII without line breaks, e.g. payments",
    "model": "use a model id or alias such as gemini-2.5-flash (no spaces)",
    "api_version": "use an API version such as v1 or v1beta1, or unset it",
    "timeout_s": f"use a number of seconds greater than 0 and at most {MAX_TIMEOUT_S:g}, "
    "for example 60",
    "retry_initial_delay_s": "use a number of seconds greater than 0, for example 1",
    "retry_max_delay_s": "use a number of seconds greater than 0, for example 30",
    "retry_attempts": f"use a whole number from 1 (no retries) to {MAX_RETRY_ATTEMPTS}",
    "base_url": "use an http:// or https:// URL with a host and no user, query or fragment, "
    "such as https://europe-west4-aiplatform.googleapis.com",
    "iam_endpoint": "use an http:// or https:// URL with a host and no user, query or fragment, "
    "such as https://iamcredentials.googleapis.com",
    "state_url": "use memory:// (one process) or redis://HOST:PORT/DB, e.g. redis://127.0.0.1:6379/0",
}

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _split_list(value: Any) -> Any:
    """Accept ``a,b`` from an environment variable as well as a real list from TOML."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _no_control(value: str) -> str:
    # CR/LF/NUL in a value that becomes a header or URL breaks every request, or worse, splits
    # it; refused here, where the message can still name the field.
    if _CONTROL.search(value):
        raise ValueError("contains a control character (CR, LF, NUL, tab...)")
    return value


def _check_url(value: str) -> str:
    """An http(s) base URL with a host, a valid port and nothing that could smuggle or leak.

    Messages never quote the value: userinfo in a URL is a credential.
    """
    _no_control(value)
    if any(c.isspace() for c in value):
        raise ValueError("contains whitespace")
    try:
        parts = urllib.parse.urlsplit(value)
        port = parts.port
    except ValueError as exc:
        reason = "a malformed IPv6 address" if "IPv6" in str(exc) else "a port outside 1-65535"
        raise ValueError(f"is not a valid URL: it has {reason}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("is not an http:// or https:// URL")
    if "@" in parts.netloc:
        raise ValueError(
            "contains user information (user:password@); credentials never go in a URL"
        )
    if not parts.hostname:
        raise ValueError("has no host")
    if port == 0:
        raise ValueError("has port 0")
    if parts.query or value.rstrip("/").endswith("?"):
        raise ValueError("has a query string (?...), which would be sent with every request")
    if parts.fragment or "#" in value:
        raise ValueError("has a fragment (#...)")
    return value.rstrip("/")


def redact_url(url: str) -> str:
    """``url`` with any user information replaced by ``****``: for display and messages."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username if parts.password is not None else None
    masked = f"{user}:****@{host}" if user else f"****@{host}"
    return urllib.parse.urlunsplit((parts.scheme, masked, parts.path, parts.query, ""))


class Settings(BaseSettings):
    """golden-path's configuration; build one with :func:`load_settings`.

    Field names map to ``GOLDEN_PATH_<NAME>`` variables and to top-level keys of the config
    files. ``Settings(...)`` itself reads nothing but its arguments: the layers, locks and
    their errors are :func:`load_settings`'s job.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
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
    async_transport: Literal["auto", "aiohttp", "httptools", "httpx2"] = Field(
        default="auto",
        description="the wire under async calls: auto ("
        + ", else ".join(f"{wire} when installed" for wire in AUTO_WIRES)
        + ", else httpx2), aiohttp, httptools, httpx2",
    )
    sync_transport: Literal["auto", "httptools", "httpx2"] = Field(
        default="auto",
        description="the wire under sync calls: auto ("
        + ", else ".join(f"{wire} when installed" for wire in SYNC_AUTO_WIRES)
        + ", else httpx2), httptools, httpx2",
    )
    allow_emulator: bool = Field(default=True, description="false forbids backend=emulator")
    strict: bool = Field(
        default=False, description="refuse Gemini clients golden-path did not build (process-wide)"
    )
    version_drift: Literal["warn", "error"] = Field(
        default="warn", description="what to do when the installed SDK differs from the pin"
    )
    policy_file: Path | None = Field(
        default=None, description="the platform's policy file or directory (the floor)"
    )
    app_policy_file: Path | None = Field(
        default=None, description="the app's own policy file or directory; may only tighten"
    )
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
    state_url: SecretStr = Field(
        default=SecretStr("memory://"), description="memory:// or redis://host:port/db"
    )

    _list_fields: ClassVar[tuple[str, ...]] = ("impersonate_delegates", "retry_status_codes")

    @field_validator("impersonate_delegates", "retry_status_codes", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("api_key")
    @classmethod
    def _api_key(cls, value: SecretStr | None) -> SecretStr | None:
        # Never quote the key, not even a part of it: a malformed key is still a key.
        if value is None:
            return None
        raw = value.get_secret_value()
        if not raw.strip():
            raise ValueError("is empty or blank")
        if not _PRINTABLE_ASCII.match(raw) or any(c.isspace() for c in raw):
            raise ValueError(
                "contains whitespace, a line break, a control or a non-ASCII character "
                "(the value is not shown)"
            )
        return value

    @field_validator("audit_chain_key")
    @classmethod
    def _chain_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("is empty or blank (the value is not shown)")
        return value

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, value: str) -> str:
        if not _CLIENT_ID_RE.match(value):
            raise ValueError(f"{value!r} is not company-product/version")
        return value

    @field_validator("timeout_s", "retry_initial_delay_s", "retry_max_delay_s")
    @classmethod
    def _seconds(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError(f"must be a finite number of seconds, got {value}")
        if not value > 0:
            raise ValueError(f"must be greater than 0, got {value}")
        if value > MAX_TIMEOUT_S:
            raise ValueError(f"must be at most {MAX_TIMEOUT_S:g} seconds, got {value:g}")
        return value

    @field_validator("retry_attempts")
    @classmethod
    def _attempts(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be at least 1 (1 turns retries off), got {value}")
        if value > MAX_RETRY_ATTEMPTS:
            raise ValueError(f"must be at most {MAX_RETRY_ATTEMPTS}, got {value}")
        return value

    @field_validator("base_url", "iam_endpoint")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value)

    @field_validator("retry_status_codes")
    @classmethod
    def _codes(cls, value: list[int]) -> list[int]:
        bad = [code for code in value if not 400 <= code <= 599]
        if bad:
            raise ValueError(f"retry only makes sense for 4xx/5xx status codes, got {bad}")
        return value

    @field_validator(*_GRAMMARS)
    @classmethod
    def _grammar(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not value.strip():
            return None
        value = _no_control(value.strip())
        pattern, what = _GRAMMARS[info.field_name or ""]
        if not pattern.match(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    @field_validator("location")
    @classmethod
    def _location(cls, value: str) -> str:
        # The location becomes part of a host name: anything but a region name could move it.
        value = _no_control(value.strip())
        if not _LOCATION_RE.match(value):
            raise ValueError(f"{value!r} is not a Vertex AI location (region such as europe-west4)")
        return value

    @field_validator("impersonate_delegates")
    @classmethod
    def _delegates(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not _SERVICE_ACCOUNT_RE.match(v)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a service account email")
        return value

    @field_validator("app", "team")
    @classmethod
    def _header_value(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not _PRINTABLE_ASCII.match(value):
            raise ValueError(
                f"{value!r} contains a line break, control or non-ASCII character; it is sent "
                "in the user-agent header of every request"
            )
        return value

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        if not _MODEL_RE.match(value) or ".." in value:
            raise ValueError(f"{value!r} is not a model id")
        return value

    @field_validator("api_version")
    @classmethod
    def _api_version(cls, value: str | None) -> str | None:
        if value is not None and not _API_VERSION_RE.match(value):
            raise ValueError(f"{value!r} is not an API version such as v1 or v1beta1")
        return value

    @field_validator("audit_sink")
    @classmethod
    def _audit_sink(cls, value: str) -> str:
        return _no_control(value)

    @field_validator("state_url")
    @classmethod
    def _state_url(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if _CONTROL.search(raw):
            raise ValueError("contains a control character (the value is not shown)")
        return value

    @field_validator("credentials_file", "policy_file", "app_policy_file")
    @classmethod
    def _path(cls, value: Path | None) -> Path | None:
        if value is not None:
            _no_control(str(value))
            if not str(value).strip() or str(value) == ".":
                raise ValueError("is empty")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the arguments: load_settings reads the layers, so that locks always apply."""
        return (init_settings,)

    def display(self, field: str) -> str:
        """How ``field`` is shown by ``config``, ``doctor`` and logs: secrets never, URLs masked."""
        value = getattr(self, field)
        if value is None:
            return "-"
        if field == "state_url":
            return redact_url(value.get_secret_value())
        if isinstance(value, SecretStr):
            return "******** (set)"
        if isinstance(value, list):
            return ",".join(str(v) for v in value) or "-"
        if field in ("base_url", "iam_endpoint"):
            return redact_url(str(value))
        return str(value)


SECRET_FIELDS = frozenset(
    name for name, info in Settings.model_fields.items() if "SecretStr" in str(info.annotation)
)


# --------------------------------------------------------------------------- layers and locks


@dataclasses.dataclass(frozen=True, slots=True)
class Lock:
    """A key the platform file pins: ``mode`` error or warn, ``where`` the lock's file:line."""

    key: str
    mode: str
    where: str
    value: Any


@dataclasses.dataclass(frozen=True, slots=True)
class Refusal:
    """A warn-mode lock at work: ``source`` tried to change ``key``; the platform's value stays."""

    key: str
    source: str
    lock: Lock

    def __str__(self) -> str:
        return (
            f"{self.key}: {self.source} tried to change it; kept the platform's value "
            f"(locked at {self.lock.where})"
        )


@dataclasses.dataclass(frozen=True, slots=True)
class ResolvedSettings:
    """Settings plus where each value came from, its layer, the locks and refused attempts."""

    settings: Settings
    sources: dict[str, str]
    config_file: Path | None
    platform_file: Path | None = None
    locks: Mapping[str, Lock] = dataclasses.field(default_factory=dict)
    refused: tuple[Refusal, ...] = ()
    layers: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def layer(self, field: str) -> str:
        """The layer ``field``'s value came from (``default`` when nobody set it)."""
        return self.layers.get(field, "default")


@dataclasses.dataclass
class _Layer:
    name: str
    values: dict[str, Any] = dataclasses.field(default_factory=dict)
    sources: dict[str, str] = dataclasses.field(default_factory=dict)

    def set(self, key: str, value: Any, source: str) -> None:
        self.values[key] = value
        self.sources[key] = source


def _did_you_mean(word: str, known: list[str], render: Callable[[str], str] = str) -> str:
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    return f"did you mean {render(close[0])}?" if close else ""


class _Reader:
    """Reads every layer, collecting every problem instead of stopping at the first."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[ConfigProblem] = []
        self.locks: dict[str, Lock] = {}
        self.fields = list(Settings.model_fields)

    def problem(self, field: str, message: str, source: str, fix: str) -> None:
        self.problems.append(ConfigProblem(field, message, source, fix))

    # ---------------------------------------------------------------- files

    def find(self, variable: str, default: Path) -> tuple[Path | None, str]:
        """The file a variable names (must exist), else ``default`` if anything is there."""
        explicit = self.environ.get(f"{ENV_PREFIX}{variable}")
        if explicit is not None:
            if not explicit.strip():
                self.problem(
                    variable.lower(),
                    "is empty",
                    f"env {ENV_PREFIX}{variable}",
                    f"unset {ENV_PREFIX}{variable} or point it at a TOML file",
                )
                return None, ""
            return Path(explicit), f"env {ENV_PREFIX}{variable}"
        try:
            os.lstat(default)
        except FileNotFoundError:
            return None, ""
        except OSError as exc:
            # Cannot even tell whether it is there: that is not "no config".
            self.problem(
                "config",
                f"cannot check {default} ({exc.strerror})",
                "default location",
                f"make {default.parent} readable by this user",
            )
            return None, ""
        return default, "default location"

    def config_file(self, path: Path, origin: str, layer: _Layer, platform: bool) -> None:
        try:
            text = read_text(path, MAX_CONFIG_BYTES)
            data = parse_toml(text, path)
        except FileProblem as exc:
            source = f"{path}:{exc.line}" if exc.line else origin
            self.problem("config", exc.message, source, exc.fix)
            return
        lines = key_lines(text)

        def where(key: str) -> str:
            return f"{path}:{lines.get(key, 1)}"

        known = self.fields + (["locks"] if platform else [])
        for key, value in data.items():
            if key == "locks":
                if platform:
                    self.lock_table(value, where)
                else:
                    self.problem(
                        "locks",
                        "only the platform's config file can lock keys",
                        where(key),
                        "remove [locks] from the app's file; ask the platform team to lock "
                        f"keys in {PLATFORM_CONFIG_PATH}",
                    )
                continue
            if key not in self.fields:
                hint = _did_you_mean(key, known, repr)
                self.problem(
                    key,
                    f"unknown {'table' if isinstance(value, dict) else 'setting'} in a config file",
                    where(key),
                    hint or f"known settings: {', '.join(self.fields)}",
                )
                continue
            if isinstance(value, dict):
                self.problem(key, "must be a value, not a table", where(key), f"write {key} = ...")
                continue
            layer.set(key, value, where(key))

    def lock_table(self, table: Any, where: Callable[[str], str]) -> None:
        if not isinstance(table, dict):
            self.problem(
                "locks",
                'must be a table of key = "error" | "warn"',
                where("locks"),
                'write [locks] then policy_file = "error" on the next line',
            )
            return
        for key, mode in table.items():
            place = where(f"locks.{key}")
            if key not in self.fields:
                self.problem(
                    f"locks.{key}",
                    "locks a key that is not a setting",
                    place,
                    _did_you_mean(key, self.fields, repr) or "lock a setting's name",
                )
                continue
            if mode not in LOCK_MODES:
                self.problem(
                    f"locks.{key}",
                    f'must be "error" or "warn", got {mode!r}',
                    place,
                    f'write {key} = "error" (refuse a change) or "warn" (keep ours, log it)',
                )
                continue
            self.locks[key] = Lock(key, mode, place, None)

    # ------------------------------------------------------------ variables

    def variable_name(self, name: str, source: str) -> str | None:
        """The field a ``GOLDEN_PATH_*`` name sets, None for other variables (problems noted)."""
        key = name.upper().removeprefix(ENV_PREFIX)
        if key.lower() in Settings.model_fields:
            return key.lower()
        if key in OTHER_VARIABLES or key.startswith(tuple(OTHER_PREFIXES)):
            return None
        known = [f"{ENV_PREFIX}{f.upper()}" for f in self.fields] + [
            f"{ENV_PREFIX}{o}" for o in OTHER_VARIABLES
        ]
        self.problem(
            name,
            "unknown golden-path variable",
            source,
            _did_you_mean(name.upper(), known) or "see docs/configuration.md for the settings",
        )
        return None

    def env(self, layer: _Layer) -> None:
        for name, value in self.environ.items():
            if name.upper().startswith(ENV_PREFIX):
                field = self.variable_name(name, f"env {name}")
                if field is not None:
                    layer.set(field, value, f"env {ENV_PREFIX}{field.upper()}")

    def dotenv(self, layer: _Layer) -> None:
        path = Path(".env")
        try:
            os.lstat(path)
        except OSError:
            return
        try:
            text = read_text(path, MAX_CONFIG_BYTES)
        except FileProblem as exc:
            self.problem(".env", exc.message, str(path), exc.fix)
            return
        from dotenv import dotenv_values

        try:
            values = dotenv_values(stream=io.StringIO(text))
        except Exception:  # noqa: BLE001 - a parser failure is a config problem
            self.problem(".env", "cannot be parsed", str(path), "write NAME=value lines")
            return
        for name, value in values.items():
            if name.upper().startswith(ENV_PREFIX):
                field = self.variable_name(name, f".env {name}")
                if field is not None:
                    layer.set(field, value or "", f".env {ENV_PREFIX}{field.upper()}")

    def secrets(self, layer: _Layer) -> None:
        explicit = self.environ.get(f"{ENV_PREFIX}SECRETS_DIR")
        folder = Path(explicit) if explicit else DEFAULT_SECRETS_DIR
        origin = f"env {ENV_PREFIX}SECRETS_DIR" if explicit else "default location"
        try:
            names = sorted(os.listdir(folder))
        except FileNotFoundError:
            if explicit:
                self.problem(
                    "secrets_dir",
                    f"{folder} does not exist",
                    origin,
                    f"mount the secrets there or unset {ENV_PREFIX}SECRETS_DIR",
                )
            return
        except OSError as exc:
            self.problem(
                "secrets_dir",
                f"{folder} cannot be listed ({exc.strerror})",
                origin,
                "make the secrets directory readable by this user",
            )
            return
        for name in names:
            if not name.lower().startswith(SECRET_FILE_PREFIX):
                continue
            path = folder / name
            field = name.lower().removeprefix(SECRET_FILE_PREFIX)
            source = f"secret file {path}"
            if field not in Settings.model_fields:
                self.problem(
                    name,
                    "unknown golden-path secret file",
                    source,
                    _did_you_mean(field, self.fields, lambda f: SECRET_FILE_PREFIX + f)
                    or "name secret files golden_path_<setting>, e.g. golden_path_api_key",
                )
                continue
            try:
                value = decode_text(read_bounded(path, MAX_SECRET_BYTES), path).strip()
            except FileProblem as exc:
                self.problem(field, exc.message, source, exc.fix)
                continue
            layer.set(field, value, source)

    def keywords(self, layer: _Layer, overrides: Mapping[str, Any], source: str) -> None:
        for name, value in overrides.items():
            if name not in Settings.model_fields:
                self.problem(
                    name,
                    "unknown setting",
                    source,
                    _did_you_mean(name, self.fields, repr)
                    or f"use one of: {', '.join(sorted(self.fields))}",
                )
                continue
            layer.set(name, value, source)


_INVALID = object()


def _normal(field: str, value: Any) -> Any:
    """``value`` as the field would hold it, to compare a layer's value with a lock's."""
    try:
        validated = getattr(Settings.model_validate({field: value}), field)
    except ValidationError:
        return _INVALID
    if isinstance(validated, SecretStr):
        return validated.get_secret_value()
    return validated


def _apply_locks(
    layers: list[_Layer],
    locks: dict[str, Lock],
    platform: _Layer,
    problems: list[ConfigProblem],
) -> tuple[dict[str, Lock], list[Refusal]]:
    """Check every layer above the platform against its locks; drop refused values."""
    refused: list[Refusal] = []
    final: dict[str, Lock] = {}
    for key, declared in locks.items():
        pinned = platform.values.get(
            key, Settings.model_fields[key].get_default(call_default_factory=True)
        )
        lock = dataclasses.replace(declared, value=pinned)
        final[key] = lock
        want = _normal(key, pinned)
        for layer in layers:
            if key not in layer.values or _normal(key, layer.values[key]) == want:
                continue
            source = layer.sources[key]
            if lock.mode == "error":
                shown = "" if key in SECRET_FIELDS else f" to {_show(key, pinned)}"
                problems.append(
                    ConfigProblem(
                        key,
                        f"is locked{shown} by the platform at {lock.where}; the {layer.name} "
                        "layer tried to change it",
                        source,
                        f"remove {key} from {_layer_hint(layer.name, key)}, or ask the platform "
                        f"team to change the lock in {lock.where.rpartition(':')[0]}",
                    )
                )
            else:
                refusal = Refusal(key, source, lock)
                refused.append(refusal)
                diagnostics.warning(
                    "golden_path.settings.lock_refused",
                    f"refused a locked setting: {refusal}",
                    setting=refusal.key,
                )
                del layer.values[key]
                del layer.sources[key]
    return final, refused


def _show(key: str, value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "******"
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return redact_url(text) if key.endswith(("url", "endpoint")) else repr(text)


def _layer_hint(layer: str, key: str) -> str:
    return {
        "app": "the app's config file",
        "dotenv": ".env",
        "env": f"the environment ({ENV_PREFIX}{key.upper()})",
        "secret": "the secrets directory",
        "keyword": "the keyword arguments",
        "object": "the Settings object",
    }.get(layer, layer)


def load_settings(**overrides: Any) -> ResolvedSettings:
    """Read every layer, apply the platform's locks, validate; one ConfigError lists it all."""
    return _load(overrides, cross_field=True)


def read_settings(**overrides: Any) -> ResolvedSettings:
    """Every layer read, locked and each value validated, as :func:`load_settings` does.

    Without the cross-field rules (a backend and its credentials): for the commands that judge
    policies offline (``policy check``/``explain``, ``budget status``), which need the same
    policy file, app, team and state store the client would use, but no credentials.
    """
    return _load(overrides, cross_field=False)


def _load(overrides: Mapping[str, Any], *, cross_field: bool) -> ResolvedSettings:
    reader = _Reader(os.environ)
    platform_file, platform_origin = reader.find("PLATFORM_CONFIG", PLATFORM_CONFIG_PATH)
    app_file, app_origin = reader.find("CONFIG", APP_CONFIG_PATH)
    if platform_file and app_file and _same_file(platform_file, app_file):
        app_file = None  # the platform file named twice is read once, as the platform's
    secret = _Layer("secret")
    platform = _Layer("platform")
    app = _Layer("app")
    dotenv = _Layer("dotenv")
    env = _Layer("env")
    keyword = _Layer("keyword")
    reader.secrets(secret)
    if platform_file:
        reader.config_file(platform_file, platform_origin, platform, platform=True)
    if app_file:
        reader.config_file(app_file, app_origin, app, platform=False)
    reader.dotenv(dotenv)
    reader.env(env)
    reader.keywords(
        keyword, {k: v for k, v in overrides.items() if v is not None}, "keyword argument"
    )
    problems = reader.problems
    above = [app, dotenv, env, keyword]
    locks, refused = _apply_locks([*above, secret], reader.locks, platform, problems)
    ordered = [secret, platform, *above]
    return _finish(
        ordered,
        problems,
        locks=locks,
        refused=refused,
        config_file=app_file or platform_file,
        platform_file=platform_file,
        cross_field=cross_field,
    )


def resolve_explicit(settings: Settings, overrides: Mapping[str, Any]) -> ResolvedSettings:
    """A Settings object built in code, with keyword overrides on top.

    No file or variable is read, except the platform file's locks: they apply to programmatic
    settings too.
    """
    reader = _Reader(os.environ)
    platform_file, origin = reader.find("PLATFORM_CONFIG", PLATFORM_CONFIG_PATH)
    platform = _Layer("platform")
    if platform_file:
        reader.config_file(platform_file, origin, platform, platform=True)
    obj = _Layer("object")
    dumped = settings.model_dump()
    for name in settings.model_fields_set:
        obj.set(name, dumped[name], "Settings object")
    keyword = _Layer("keyword")
    reader.keywords(
        keyword, {k: v for k, v in overrides.items() if v is not None}, "keyword argument"
    )
    problems = reader.problems
    # Only locked keys come from the platform file: the object is otherwise taken as it is.
    pinned = _Layer("platform")
    for key in reader.locks:
        if key in platform.values:
            pinned.set(key, platform.values[key], platform.sources[key])
    base = _Layer("object")
    for name in Settings.model_fields:
        if name not in settings.model_fields_set:
            base.set(name, dumped[name], "default")
    locks, refused = _apply_locks([obj, keyword], reader.locks, platform, problems)
    return _finish(
        [base, pinned, obj, keyword],
        problems,
        locks=locks,
        refused=refused,
        config_file=None,
        platform_file=platform_file,
    )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _finish(
    ordered: list[_Layer],
    problems: list[ConfigProblem],
    *,
    locks: dict[str, Lock],
    refused: list[Refusal],
    config_file: Path | None,
    platform_file: Path | None,
    cross_field: bool = True,
) -> ResolvedSettings:
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    layers: dict[str, str] = {}
    for layer in ordered:
        for key, value in layer.values.items():
            merged[key] = value
            if layer.sources[key] != "default":
                sources[key] = layer.sources[key]
                layers[key] = layer.name
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        problems.extend(_problems_from(exc, sources))
    if settings is not None and not problems and cross_field:
        problems.extend(check(settings, sources))
    if problems:
        raise ConfigError(problems)
    assert settings is not None
    return ResolvedSettings(
        settings,
        sources,
        config_file,
        platform_file=platform_file,
        locks=locks,
        refused=tuple(refused),
        layers=layers,
    )


def locked_override(resolved: ResolvedSettings, key: str, argument: str) -> bool:
    """Whether a programmatic ``argument`` (``policies=``) may replace what ``key`` configures.

    Unlocked: yes. Locked ``error``: ConfigError naming the lock. Locked ``warn``: a logged
    refusal, and the configured value is used instead.
    """
    lock = resolved.locks.get(key)
    if lock is None:
        return True
    source = f"argument {argument}="
    if lock.mode == "error":
        raise ConfigError(
            [
                ConfigProblem(
                    argument,
                    f"would replace what {key} configures, which the platform locked at "
                    f"{lock.where}",
                    source,
                    f"remove {argument}=; app policies go in app_policy_file, which may only "
                    "tighten the platform's"
                    if key == "policy_file"
                    else f"remove {argument}=; the platform decides {key}",
                )
            ]
        )
    refusal = Refusal(key, source, lock)
    diagnostics.warning(
        "golden_path.settings.lock_refused",
        f"refused a locked setting: {refusal}",
        setting=refusal.key,
    )
    object.__setattr__(resolved, "refused", (*resolved.refused, refusal))
    return False


def check_value(field: str, value: Any, source: str) -> Any:
    """One setting's value checked as load_settings checks it (CLI arguments use this).

    ConfigError naming ``field``, ``source`` (``--model``) and the fix otherwise.
    """
    try:
        return getattr(Settings.model_validate({field: value}), field)
    except ValidationError as exc:
        raise ConfigError(_problems_from(exc, {field: source})) from None


def _problems_from(exc: ValidationError, provided: Mapping[str, str]) -> list[ConfigProblem]:
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
        raw = read_bounded(path, MAX_CONFIG_BYTES)
    except FileProblem as exc:
        return [ConfigProblem("credentials_file", exc.message, source, fix)]
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
