"""A battery of malformed configurations, policy files and arguments, through the real CLI.

Every case must end in exit 2 with a message that names the field, where the value came from
and how to fix it, with no traceback, no secret echoed, and no hang (FIFOs, /dev/zero).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from golden_path.cli import main

SECRET = "AIzaSyBATTERY-SECRET-00000000000000000"
FIFO = object()
DIRECTORY = object()
DANGLING = object()
ZERO = object()
DEEP = "a = " + "[" * 40 + "]" * 40 + "\n"
UTF16 = 'backend = "emulator"\n'.encode("utf-16")
BINARY = b"\x00\x01\x02\xff\xfe garbage \x80\x81"


@dataclasses.dataclass
class Case:
    """One malformed input: files to create, variables to set, what the error must name."""

    id: str
    field: str
    source: str
    files: dict[str, object] = dataclasses.field(default_factory=dict)
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    argv: tuple[str, ...] = ("config",)
    never: str = SECRET


def toml(text: str, **env: str) -> dict[str, object]:
    return {"golden-path.toml": 'backend = "emulator"\n' + text}


def var(name: str, value: str) -> Case:
    return Case(
        f"env-{name}-{value[:12]}",
        name.lower(),
        f"env GOLDEN_PATH_{name}",
        env={f"GOLDEN_PATH_{name}": value, "GOLDEN_PATH_BACKEND": "emulator"}
        if name != "BACKEND"
        else {f"GOLDEN_PATH_{name}": value},
    )


STUDIO = {"GOLDEN_PATH_BACKEND": "ai_studio"}
VERTEX = {"GOLDEN_PATH_BACKEND": "vertex", "GOLDEN_PATH_PROJECT": "acme-prod"}

CASES = [
    # --- unknown keys, everywhere, with did-you-mean
    Case("toml-typo", "polcy_file", "golden-path.toml:2", toml('polcy_file = "p"\n')),
    Case("toml-unknown-table", "models", "golden-path.toml:2", toml('[models]\nallow = ["x"]\n')),
    Case(
        "toml-table-for-value",
        "backend",
        "golden-path.toml:1",
        {"golden-path.toml": "[backend]\nx = 1\n"},
    ),
    Case(
        "env-typo",
        "GOLDEN_PATH_POLICY_FLIE",
        "env GOLDEN_PATH_POLICY_FLIE",
        env={"GOLDEN_PATH_POLICY_FLIE": "p", "GOLDEN_PATH_BACKEND": "emulator"},
    ),
    Case(
        "env-typo-lowercase",
        "golden_path_tema",
        "env golden_path_tema",
        env={"golden_path_tema": "x", "GOLDEN_PATH_BACKEND": "emulator"},
    ),
    Case(
        "dotenv-typo",
        "GOLDEN_PATH_TEM",
        ".env GOLDEN_PATH_TEM",
        {".env": "GOLDEN_PATH_TEM=x\nGOLDEN_PATH_BACKEND=emulator\n"},
    ),
    Case(
        "secret-typo",
        "golden_path_api_kee",
        "secret file",
        {"secrets/golden_path_api_kee": SECRET},
        env={"GOLDEN_PATH_SECRETS_DIR": "{tmp}/secrets", **STUDIO},
    ),
    Case("app-locks", "locks", "golden-path.toml:2", toml('[locks]\nteam = "error"\n')),
    Case(
        "lock-typo",
        "locks.alow_emulator",
        "platform.toml:2",
        {"platform.toml": '[locks]\nalow_emulator = "error"\n'},
        env={
            "GOLDEN_PATH_PLATFORM_CONFIG": "{tmp}/platform.toml",
            "GOLDEN_PATH_BACKEND": "emulator",
        },
    ),
    Case(
        "lock-mode",
        "locks.team",
        "platform.toml:2",
        {"platform.toml": '[locks]\nteam = "maybe"\n'},
        env={
            "GOLDEN_PATH_PLATFORM_CONFIG": "{tmp}/platform.toml",
            "GOLDEN_PATH_BACKEND": "emulator",
        },
    ),
    Case(
        "lock-not-table",
        "locks",
        "platform.toml:1",
        {"platform.toml": 'locks = ["team"]\n'},
        env={
            "GOLDEN_PATH_PLATFORM_CONFIG": "{tmp}/platform.toml",
            "GOLDEN_PATH_BACKEND": "emulator",
        },
    ),
    Case(
        "locked-by-env",
        "allow_emulator",
        "env GOLDEN_PATH_ALLOW_EMULATOR",
        {"platform.toml": 'allow_emulator = false\n[locks]\nallow_emulator = "error"\n'},
        env={
            "GOLDEN_PATH_PLATFORM_CONFIG": "{tmp}/platform.toml",
            "GOLDEN_PATH_ALLOW_EMULATOR": "1",
            "GOLDEN_PATH_BACKEND": "ai_studio",
            "GOLDEN_PATH_API_KEY": SECRET,
        },
    ),
    Case(
        "locked-by-app",
        "team",
        "golden-path.toml:2",
        {"platform.toml": 'team = "core"\n[locks]\nteam = "error"\n', **toml('team = "rogue"\n')},
        env={"GOLDEN_PATH_PLATFORM_CONFIG": "{tmp}/platform.toml"},
    ),
    # --- values
    var("BACKEND", "openai"),
    Case(
        "api-key-empty",
        "api_key",
        "env GOLDEN_PATH_API_KEY",
        env={**STUDIO, "GOLDEN_PATH_API_KEY": ""},
    ),
    Case(
        "api-key-blank",
        "api_key",
        "env GOLDEN_PATH_API_KEY",
        env={**STUDIO, "GOLDEN_PATH_API_KEY": "   "},
    ),
    Case(
        "api-key-crlf",
        "api_key",
        "env GOLDEN_PATH_API_KEY",
        env={**STUDIO, "GOLDEN_PATH_API_KEY": SECRET + "\r\nX-Evil: 1"},
    ),
    Case(
        "api-key-space",
        "api_key",
        "env GOLDEN_PATH_API_KEY",
        env={**STUDIO, "GOLDEN_PATH_API_KEY": SECRET + " tail"},
    ),
    Case(
        "api-key-nonascii",
        "api_key",
        "env GOLDEN_PATH_API_KEY",
        env={**STUDIO, "GOLDEN_PATH_API_KEY": SECRET + "é"},
    ),
    Case(
        "api-key-toml-nul",
        "api_key",
        "golden-path.toml:2",
        {"golden-path.toml": f'backend = "ai_studio"\napi_key = "{SECRET}\\u0000"\n'},
    ),
    var("TIMEOUT_S", "inf"),
    var("TIMEOUT_S", "nan"),
    var("TIMEOUT_S", "-inf"),
    var("TIMEOUT_S", "1e12"),
    var("TIMEOUT_S", "0"),
    var("TIMEOUT_S", "soon"),
    Case("timeout-toml-inf", "timeout_s", "golden-path.toml:2", toml("timeout_s = inf\n")),
    var("RETRY_ATTEMPTS", "1000"),
    var("RETRY_ATTEMPTS", "0"),
    var("RETRY_INITIAL_DELAY_S", "-1"),
    var("RETRY_MAX_DELAY_S", "nan"),
    var("RETRY_STATUS_CODES", "200,abc"),
    var("BASE_URL", "http://[::1"),
    var("BASE_URL", "http://[not-ipv6]:80"),
    var("BASE_URL", "http://127.0.0.1:99999"),
    var("BASE_URL", "http://127.0.0.1:0"),
    Case(
        "base-url-userinfo",
        "base_url",
        "env GOLDEN_PATH_BASE_URL",
        env={
            "GOLDEN_PATH_BACKEND": "emulator",
            "GOLDEN_PATH_BASE_URL": f"https://me:{SECRET}@h.example",
        },
    ),
    var("BASE_URL", "https://h.example/v1?key=x"),
    var("BASE_URL", "https://h.example/#frag"),
    var("BASE_URL", "ftp://h.example"),
    var("BASE_URL", "localhost:8080"),
    var("BASE_URL", "https://h.example/a b"),
    var("BASE_URL", "https://"),
    var("IAM_ENDPOINT", "https://[::1"),
    Case("app-crlf", "app", "golden-path.toml:2", toml('app = "shop\\r\\nX-Evil: 1"\n')),
    Case("team-nul", "team", "golden-path.toml:2", toml('team = "a\\u0000b"\n')),
    Case(
        "team-lf-env",
        "team",
        "env GOLDEN_PATH_TEAM",
        env={"GOLDEN_PATH_BACKEND": "emulator", "GOLDEN_PATH_TEAM": "a\nb"},
    ),
    var("CLIENT_ID", "acme-gp/1.0\r\nX: y"),
    var("QUOTA_PROJECT", "acme\nbilling"),
    var("LOCATION", "evil.example/x"),
    var("LOCATION", "europe-west4.attacker.example"),
    var("LOCATION", "europe west4"),
    var("LOCATION", ""),
    Case(
        "vertex-sa-not-email",
        "impersonate_service_account",
        "env GOLDEN_PATH_IMPERSONATE_SERVICE_ACCOUNT",
        env={**VERTEX, "GOLDEN_PATH_IMPERSONATE_SERVICE_ACCOUNT": "not-an-email"},
    ),
    Case(
        "vertex-sa-gmail",
        "impersonate_service_account",
        "env GOLDEN_PATH_IMPERSONATE_SERVICE_ACCOUNT",
        env={**VERTEX, "GOLDEN_PATH_IMPERSONATE_SERVICE_ACCOUNT": "someone@gmail.com"},
    ),
    Case(
        "vertex-delegate",
        "impersonate_delegates",
        "env GOLDEN_PATH_IMPERSONATE_DELEGATES",
        env={
            **VERTEX,
            "GOLDEN_PATH_IMPERSONATE_SERVICE_ACCOUNT": "a@acme-prod.iam.gserviceaccount.com",
            "GOLDEN_PATH_IMPERSONATE_DELEGATES": "x@y.com",
        },
    ),
    Case(
        "project-space",
        "project",
        "env GOLDEN_PATH_PROJECT",
        env={"GOLDEN_PATH_BACKEND": "vertex", "GOLDEN_PATH_PROJECT": "My Project"},
    ),
    Case(
        "project-path",
        "project",
        "env GOLDEN_PATH_PROJECT",
        env={"GOLDEN_PATH_BACKEND": "vertex", "GOLDEN_PATH_PROJECT": "acme/../other"},
    ),
    var("MODEL", "a b"),
    var("MODEL", "../../etc"),
    var("API_VERSION", "v1/../x"),
    var("VERSION_DRIFT", "maybe"),
    var("ALLOW_EMULATOR", "perhaps"),
    var("AUDIT_CONTENT", "all"),
    var("POLICY_FILE", "a\nb"),
    # --- credential files: bounded, regular, never echoed
    Case(
        "creds-dev-zero",
        "credentials_file",
        "env GOLDEN_PATH_CREDENTIALS_FILE",
        env={**VERTEX, "GOLDEN_PATH_CREDENTIALS_FILE": "/dev/zero"},
    ),
    Case(
        "creds-fifo",
        "credentials_file",
        "env GOLDEN_PATH_CREDENTIALS_FILE",
        {"key.json": FIFO},
        env={**VERTEX, "GOLDEN_PATH_CREDENTIALS_FILE": "{tmp}/key.json"},
    ),
    Case(
        "creds-dangling",
        "credentials_file",
        "env GOLDEN_PATH_CREDENTIALS_FILE",
        {"key.json": DANGLING},
        env={**VERTEX, "GOLDEN_PATH_CREDENTIALS_FILE": "{tmp}/key.json"},
    ),
    Case(
        "creds-directory",
        "credentials_file",
        "env GOLDEN_PATH_CREDENTIALS_FILE",
        {"key.json": DIRECTORY},
        env={**VERTEX, "GOLDEN_PATH_CREDENTIALS_FILE": "{tmp}/key.json"},
    ),
    Case(
        "creds-huge",
        "credentials_file",
        "env GOLDEN_PATH_CREDENTIALS_FILE",
        {"key.json": "x" * (2 << 20)},
        env={**VERTEX, "GOLDEN_PATH_CREDENTIALS_FILE": "{tmp}/key.json"},
    ),
    Case(
        "creds-binary-secret",
        "credentials_file",
        "env GOLDEN_PATH_CREDENTIALS_FILE",
        {"key.json": SECRET.encode() + b"\xff\x00"},
        env={**VERTEX, "GOLDEN_PATH_CREDENTIALS_FILE": "{tmp}/key.json"},
    ),
    Case(
        "adc-dev-zero",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "env GOOGLE_APPLICATION_CREDENTIALS",
        env={**VERTEX, "GOOGLE_APPLICATION_CREDENTIALS": "/dev/zero"},
        argv=("generate", "hi"),
    ),
    Case(
        "adc-fifo",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "env GOOGLE_APPLICATION_CREDENTIALS",
        {"adc.json": FIFO},
        env={**VERTEX, "GOOGLE_APPLICATION_CREDENTIALS": "{tmp}/adc.json"},
        argv=("generate", "hi"),
    ),
    var("AUDIT_CHAIN_KEY", "   "),
    # --- config files themselves
    Case(
        "config-fifo",
        "config",
        "env GOLDEN_PATH_CONFIG",
        {"c.toml": FIFO},
        env={"GOLDEN_PATH_CONFIG": "{tmp}/c.toml"},
    ),
    Case(
        "config-dev-zero",
        "config",
        "env GOLDEN_PATH_CONFIG",
        env={"GOLDEN_PATH_CONFIG": "/dev/zero"},
    ),
    Case(
        "config-directory",
        "config",
        "env GOLDEN_PATH_CONFIG",
        {"c.toml": DIRECTORY},
        env={"GOLDEN_PATH_CONFIG": "{tmp}/c.toml"},
    ),
    Case("config-empty-var", "config", "env GOLDEN_PATH_CONFIG", env={"GOLDEN_PATH_CONFIG": " "}),
    Case("config-default-directory", "config", "default location", {"golden-path.toml": DIRECTORY}),
    Case("config-utf16", "config", "default location", {"golden-path.toml": UTF16}),
    Case("config-binary", "config", "default location", {"golden-path.toml": BINARY}),
    Case("config-deep", "config", "default location", {"golden-path.toml": DEEP}),
    Case("config-huge", "config", "default location", {"golden-path.toml": "# x\n" * 300_000}),
    Case(
        "config-syntax", "config", "golden-path.toml:1", {"golden-path.toml": 'backend = "vertex\n'}
    ),
    Case("config-dangling-default", "config", "default location", {"golden-path.toml": DANGLING}),
    Case(
        "platform-missing",
        "config",
        "env GOLDEN_PATH_PLATFORM_CONFIG",
        env={"GOLDEN_PATH_PLATFORM_CONFIG": "{tmp}/nope.toml"},
    ),
    Case(
        "platform-through-a-file",
        "config",
        "env GOLDEN_PATH_PLATFORM_CONFIG",
        {"p.toml": "x = 1\n"},
        env={"GOLDEN_PATH_PLATFORM_CONFIG": "{tmp}/p.toml/inner.toml"},
    ),
    Case(
        "platform-fifo",
        "config",
        "env GOLDEN_PATH_PLATFORM_CONFIG",
        {"p.toml": FIFO},
        env={"GOLDEN_PATH_PLATFORM_CONFIG": "{tmp}/p.toml"},
    ),
    Case(
        "dotenv-utf16", ".env", ".env", {".env": "GOLDEN_PATH_BACKEND=emulator\n".encode("utf-16")}
    ),
    Case("dotenv-binary", ".env", ".env", {".env": BINARY}),
    Case("dotenv-fifo", ".env", ".env", {".env": FIFO}),
    Case(
        "secret-dangling",
        "api_key",
        "secret file",
        {"secrets/golden_path_api_key": DANGLING},
        env={"GOLDEN_PATH_SECRETS_DIR": "{tmp}/secrets", **STUDIO},
    ),
    Case(
        "secret-fifo",
        "api_key",
        "secret file",
        {"secrets/golden_path_api_key": FIFO},
        env={"GOLDEN_PATH_SECRETS_DIR": "{tmp}/secrets", **STUDIO},
    ),
    Case(
        "secret-binary",
        "api_key",
        "secret file",
        {"secrets/golden_path_api_key": BINARY},
        env={"GOLDEN_PATH_SECRETS_DIR": "{tmp}/secrets", **STUDIO},
    ),
    Case(
        "secret-device",
        "api_key",
        "secret file",
        {"secrets/golden_path_api_key": ZERO},
        env={"GOLDEN_PATH_SECRETS_DIR": "{tmp}/secrets", **STUDIO},
    ),
    Case(
        "secrets-dir-missing",
        "secrets_dir",
        "env GOLDEN_PATH_SECRETS_DIR",
        env={"GOLDEN_PATH_SECRETS_DIR": "{tmp}/absent", **STUDIO},
    ),
    # --- policy files
    Case(
        "policy-empty-allow",
        "models.allow",
        "p.toml:2",
        {"p.toml": "[models]\nallow = []\n"},
        argv=("policy", "check", "{tmp}/p.toml"),
    ),
    Case(
        "policy-empty-locations",
        "vertex.locations",
        "p.toml:2",
        {"p.toml": "[vertex]\nlocations = []\n"},
        argv=("policy", "check", "{tmp}/p.toml"),
    ),
    Case(
        "policy-empty-deny",
        "tools.deny",
        "p.toml:2",
        {"p.toml": "[tools]\ndeny = []\n"},
        argv=("policy", "check", "{tmp}/p.toml"),
    ),
    Case(
        "policy-dir-dangling",
        "policy_file",
        "d/10-team.toml",
        {"d/00-base.toml": "[limits]\nmax_request_bytes = 10\n", "d/10-team.toml": DANGLING},
        argv=("policy", "check", "{tmp}/d"),
    ),
    Case(
        "policy-dir-directory",
        "policy_file",
        "d/10-team.toml",
        {"d/00-base.toml": "[limits]\nmax_request_bytes = 10\n", "d/10-team.toml": DIRECTORY},
        argv=("policy", "check", "{tmp}/d"),
    ),
    Case("policy-dev-zero", "policy_file", "/dev/zero", argv=("policy", "check", "/dev/zero")),
    Case(
        "policy-fifo",
        "policy_file",
        "p.toml",
        {"p.toml": FIFO},
        argv=("policy", "check", "{tmp}/p.toml"),
    ),
    Case(
        "policy-utf16",
        "policy_file",
        "p.toml",
        {"p.toml": "[limits]\n".encode("utf-16")},
        argv=("policy", "check", "{tmp}/p.toml"),
    ),
    Case(
        "policy-binary",
        "policy_file",
        "p.toml",
        {"p.toml": BINARY},
        argv=("policy", "check", "{tmp}/p.toml"),
    ),
    Case(
        "policy-deep", "toml", "p.toml", {"p.toml": DEEP}, argv=("policy", "check", "{tmp}/p.toml")
    ),
    Case(
        "policy-unknown-section",
        "modles",
        "p.toml:1",
        {"p.toml": '[modles]\nallow = ["x"]\n'},
        argv=("policy", "check", "{tmp}/p.toml"),
    ),
    Case("policy-missing", "policy_file", "argument", argv=("policy", "check", "{tmp}/absent")),
    Case(
        "policy-via-config-dangling",
        "policy_file",
        "d/x.toml",
        {"d/x.toml": DANGLING},
        env={"GOLDEN_PATH_BACKEND": "emulator", "GOLDEN_PATH_POLICY_FILE": "{tmp}/d"},
        argv=("policy", "explain", "{tmp}/r.json"),
    ),
    # --- command-line arguments
    Case(
        "generate-model-space",
        "model",
        "--model",
        argv=("generate", "--model", "a b", "hi"),
        env={"GOLDEN_PATH_BACKEND": "emulator"},
    ),
    Case(
        "generate-model-crlf",
        "model",
        "--model",
        argv=("generate", "--model", "x\r\ny", "hi"),
        env={"GOLDEN_PATH_BACKEND": "emulator"},
    ),
    Case("emulator-port-range", "--port", "argument", argv=("emulator", "--port", "99999")),
    Case("emulator-port-negative", "--port", "argument", argv=("emulator", "--port", "-1")),
    Case("emulator-port-word", "--port", "argument", argv=("emulator", "--port", "http")),
    Case(
        "emulator-lifetime",
        "--token-lifetime",
        "argument",
        argv=("emulator", "--token-lifetime", "0"),
    ),
    Case(
        "audit-summary-dev-zero", "audit file", "/dev/zero", argv=("audit", "summary", "/dev/zero")
    ),
    Case(
        "audit-summary-fifo",
        "audit file",
        "a.jsonl",
        {"a.jsonl": FIFO},
        argv=("audit", "summary", "{tmp}/a.jsonl"),
    ),
    Case(
        "audit-tail-directory",
        "audit file",
        "a.jsonl",
        {"a.jsonl": DIRECTORY},
        argv=("audit", "tail", "{tmp}/a.jsonl"),
    ),
    Case("explain-dev-zero", "REQUEST.json", "/dev/zero", argv=("policy", "explain", "/dev/zero")),
    Case(
        "explain-location",
        "location",
        "--location",
        {"r.json": "{}"},
        argv=("policy", "explain", "{tmp}/r.json", "--location", "x.evil/y"),
    ),
    Case(
        "explain-model",
        "model",
        "--model",
        {"r.json": "{}"},
        argv=("policy", "explain", "{tmp}/r.json", "--model", "a b"),
    ),
]


def _materialise(case: Case, root: Path) -> None:
    for name, content in case.files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is FIFO:
            os.mkfifo(path)
        elif content is DIRECTORY:
            path.mkdir()
        elif content is DANGLING:
            path.symlink_to(root / "nowhere" / name)
        elif content is ZERO:
            path.symlink_to("/dev/zero")
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(str(content))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_input_exits_2_naming_field_source_and_fix(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2; the message names field, source and a fix; no traceback; no secret."""
    _materialise(case, tmp_path)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value.replace("{tmp}", str(tmp_path)))
    argv = [a.replace("{tmp}", str(tmp_path)) for a in case.argv]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code  # type: ignore[assignment]
    out, err = capsys.readouterr()
    text = out + err
    assert code == 2, text
    assert "Traceback" not in text
    assert case.field in text, text
    assert case.source.replace("{tmp}", str(tmp_path)) in text, text
    assert any(marker in text for marker in ("fix:", " (", "use ", "error: argument")), text
    assert case.never not in text
    if "BASE_URL" in case.id or "userinfo" in case.id:
        assert "me:" not in text


def test_the_battery_is_large_enough() -> None:
    """The issue asks for at least 60 malformed configurations and policy files."""
    assert len(CASES) >= 60


def test_the_installed_command_neither_hangs_nor_shows_a_traceback(tmp_path: Path) -> None:
    """The real `golden-path` entry point, in a fresh process: a FIFO config and /dev/zero as
    the key file end in exit 2 at once, naming the field and source, without a traceback."""
    import subprocess
    import sys

    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GOLDEN_PATH_", "GOOGLE_"))}
    for env, words in (
        ({"GOLDEN_PATH_CONFIG": str(fifo)}, "config (from env GOLDEN_PATH_CONFIG)"),
        (
            {
                "GOLDEN_PATH_BACKEND": "vertex",
                "GOLDEN_PATH_PROJECT": "acme-prod",
                "GOLDEN_PATH_CREDENTIALS_FILE": "/dev/zero",
            },
            "credentials_file (from env GOLDEN_PATH_CREDENTIALS_FILE)",
        ),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "golden_path", "config"],
            env={**base, **env},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, done.stderr
        assert words in done.stderr
        assert "fix:" in done.stderr
        assert "Traceback" not in done.stderr
