"""Two config layers and the platform's locks: each layer against each lock, and what the CLI shows.

The platform file is what the base image ships; the app's file, .env, variables, secret files,
keyword settings, Settings objects and programmatic ``policies=``/``audit_sinks=`` all sit above
it and must not silently drop what it decided.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

import golden_path
from golden_path import ConfigError
from golden_path._settings import load_settings
from golden_path.cli import main

SECRET = "AIzaSyLAYERS-SECRET-0000000000000000000"
REDIS_PASSWORD = "hunter2-redis-password"


@pytest.fixture(name="platform")
def _platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A platform file like the base image's, with two error locks and one warn lock."""
    path = tmp_path / "platform" / "config.toml"
    path.parent.mkdir()
    policies = tmp_path / "platform" / "policies"
    policies.mkdir()
    (policies / "00-defaults.toml").write_text('[models]\nallow = ["gemini-2.5-*"]\n')
    path.write_text(
        "# the platform's settings\n"
        "allow_emulator = false\n"
        f'policy_file = "{policies}"\n'
        'version_drift = "error"\n'
        'audit_sink = "stderr"\n'
        "\n"
        "[locks]\n"
        'allow_emulator = "error"\n'
        'policy_file = "error"\n'
        'audit_sink = "warn"\n'
    )
    monkeypatch.setenv("GOLDEN_PATH_PLATFORM_CONFIG", str(path))
    return path


def test_app_file_merges_with_the_platform_file_key_by_key(platform: Path, tmp_path: Path) -> None:
    """The app's golden-path.toml adds keys; the platform's other keys stay."""
    (tmp_path / "golden-path.toml").write_text('backend = "ai_studio"\napi_key = "k"\nteam = "t"\n')
    resolved = load_settings()
    settings = resolved.settings
    assert settings.allow_emulator is False
    assert settings.version_drift == "error"
    assert settings.policy_file == platform.parent / "policies"
    assert settings.team == "t"
    assert resolved.layer("team") == "app"
    assert resolved.layer("version_drift") == "platform"
    assert resolved.sources["version_drift"] == f"{platform}:4"
    assert resolved.sources["team"] == "golden-path.toml:3"


def test_unlocked_platform_keys_can_be_overridden_by_the_app(
    platform: Path, tmp_path: Path
) -> None:
    """Only locked keys are pinned: version_drift is the platform's default, not its lock."""
    (tmp_path / "golden-path.toml").write_text('backend = "ai_studio"\napi_key = "k"\n')
    resolved = load_settings(version_drift="warn")
    assert resolved.settings.version_drift == "warn"
    assert resolved.layer("version_drift") == "keyword"


@pytest.mark.parametrize(
    ("layer", "expected_source"),
    [
        ("app", "golden-path.toml:2"),
        ("dotenv", ".env GOLDEN_PATH_ALLOW_EMULATOR"),
        ("env", "env GOLDEN_PATH_ALLOW_EMULATOR"),
        ("secret", "golden_path_allow_emulator"),
        ("keyword", "keyword argument"),
    ],
)
def test_every_layer_is_refused_a_locked_key(
    platform: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    layer: str,
    expected_source: str,
) -> None:
    """A lower layer setting a locked key to another value: ConfigError naming key, lock, layer."""
    (tmp_path / "golden-path.toml").write_text(
        'backend = "emulator"\n' + ("allow_emulator = true\n" if layer == "app" else "")
    )
    overrides: dict[str, object] = {}
    if layer == "dotenv":
        (tmp_path / ".env").write_text("GOLDEN_PATH_ALLOW_EMULATOR=true\n")
    elif layer == "env":
        monkeypatch.setenv("GOLDEN_PATH_ALLOW_EMULATOR", "true")
    elif layer == "secret":
        secrets = tmp_path / "secrets"
        secrets.mkdir()
        (secrets / "golden_path_allow_emulator").write_text("true\n")
        monkeypatch.setenv("GOLDEN_PATH_SECRETS_DIR", str(secrets))
    elif layer == "keyword":
        overrides["allow_emulator"] = True
    with pytest.raises(ConfigError) as caught:
        load_settings(**overrides)
    problem = next(p for p in caught.value.problems if p.field == "allow_emulator")
    assert expected_source in problem.source
    assert f"locked to 'false' by the platform at {platform}:8" in problem.message
    assert problem.fix


def test_setting_a_locked_key_to_the_same_value_is_fine(
    platform: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Repeating the platform's value is no attempt to change it."""
    monkeypatch.setenv("GOLDEN_PATH_ALLOW_EMULATOR", "False")
    settings = load_settings(backend="ai_studio", api_key="k").settings
    assert settings.allow_emulator is False


def test_warn_lock_keeps_the_platform_value_and_logs(
    platform: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A warn lock: the attempt is refused with a warning, the platform's value is used."""
    monkeypatch.setenv("GOLDEN_PATH_AUDIT_SINK", "none")
    with caplog.at_level(logging.WARNING, logger="golden_path"):
        resolved = load_settings(backend="ai_studio", api_key="k")
    assert resolved.settings.audit_sink == "stderr"
    (refusal,) = resolved.refused
    assert refusal.source == "env GOLDEN_PATH_AUDIT_SINK"
    assert refusal.lock.where == f"{platform}:10"
    assert "audit_sink: env GOLDEN_PATH_AUDIT_SINK tried to change it" in caplog.text


def test_a_lock_without_a_platform_value_pins_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Locking a key the platform file does not set pins the documented default."""
    path = tmp_path / "p.toml"
    path.write_text('[locks]\naudit_content = "error"\n')
    monkeypatch.setenv("GOLDEN_PATH_PLATFORM_CONFIG", str(path))
    with pytest.raises(ConfigError) as caught:
        load_settings(backend="emulator", audit_content="redacted")
    assert "locked to 'none'" in caught.value.problems[0].message


def test_locks_apply_to_programmatic_clients(platform: Path) -> None:
    """create_client(policies=[]) cannot replace a locked policy set; a Settings object cannot
    re-enable the emulator; keyword settings cannot either."""
    with pytest.raises(ConfigError) as caught:
        golden_path.create_client(backend="ai_studio", api_key="k", policies=[])
    (problem,) = caught.value.problems
    assert problem.field == "policies"
    assert problem.source == "argument policies="
    assert f"{platform}:9" in problem.message
    assert "app_policy_file" in problem.fix

    explicit = golden_path.Settings.model_validate({"backend": "emulator", "allow_emulator": True})
    with pytest.raises(ConfigError) as caught:
        golden_path.create_client(explicit)
    assert caught.value.problems[0].source == "Settings object"

    with pytest.raises(ConfigError) as caught:
        golden_path.create_client(backend="emulator", allow_emulator=True)
    assert caught.value.problems[0].source == "keyword argument"


@pytest.mark.parametrize("factory", ["http_client", "async_http_client", "openai_client"])
def test_locks_apply_to_every_client_factory(platform: Path, factory: str) -> None:
    """The REST and OpenAI-compatible clients take policies= too, under the same lock."""
    if factory == "openai_client":
        pytest.importorskip("openai")
    make = getattr(golden_path, factory)
    with pytest.raises(ConfigError) as caught:
        make(backend="ai_studio", api_key="k", policies=[])
    assert caught.value.problems[0].source == "argument policies="


def test_locked_value_reaches_a_settings_object_that_did_not_set_it(platform: Path) -> None:
    """An explicit Settings object gets the platform's locked values for keys it left unset."""
    explicit = golden_path.Settings.model_validate({"backend": "emulator"})
    with pytest.raises(ConfigError) as caught:
        golden_path.create_client(explicit)
    assert "forbidden" in str(caught.value)  # allow_emulator = false came from the lock


def test_warn_locked_audit_sinks_argument_is_ignored(
    platform: Path, emulator: object, caplog: pytest.LogCaptureFixture
) -> None:
    """audit_sinks= under a warn lock: the platform's sinks are used, and the refusal logged."""
    from golden_path.testing import AuditCapture

    mine = AuditCapture()
    with caplog.at_level(logging.WARNING, logger="golden_path"):
        client = golden_path.create_client(
            backend="ai_studio",
            api_key="k",
            base_url=emulator.url,  # type: ignore[attr-defined]
            audit_sinks=[mine],
        )
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert mine.events == []
    assert "argument audit_sinks= tried to change it" in caplog.text


def test_app_file_cannot_lock(tmp_path: Path) -> None:
    """[locks] belongs to the platform: an app file with one is an error, not a silent no-op."""
    (tmp_path / "golden-path.toml").write_text('backend = "emulator"\n[locks]\nteam = "error"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings()
    (problem,) = caught.value.problems
    assert (problem.field, problem.source) == ("locks", "golden-path.toml:2")


def test_config_command_shows_layer_and_lock(
    platform: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`golden-path config --json`: value, layer, source and lock of every key; refusals listed;
    no secret (API key, Redis password) printed."""
    (tmp_path / "golden-path.toml").write_text('backend = "ai_studio"\n')
    monkeypatch.setenv("GOLDEN_PATH_API_KEY", SECRET)
    monkeypatch.setenv("GOLDEN_PATH_STATE_URL", f"redis://app:{REDIS_PASSWORD}@127.0.0.1:6379/0")
    monkeypatch.setenv("GOLDEN_PATH_AUDIT_SINK", "none")
    assert main(["config", "--json"]) == 0
    out = capsys.readouterr().out
    assert SECRET not in out
    assert REDIS_PASSWORD not in out
    data = json.loads(out)
    rows = {row["setting"]: row for row in data["settings"]}
    assert rows["allow_emulator"]["layer"] == "platform"
    assert rows["allow_emulator"]["lock"] == f"locked (error) at {platform}:8"
    assert rows["backend"]["layer"] == "app"
    assert rows["api_key"]["value"] == "******** (set)"
    assert rows["state_url"]["value"] == "redis://app:****@127.0.0.1:6379/0"
    assert rows["location"]["layer"] == "default"
    assert data["refused"] == [
        f"audit_sink: env GOLDEN_PATH_AUDIT_SINK tried to change it; kept the platform's "
        f"value (locked at {platform}:10)"
    ]
    assert main(["config"]) == 0
    table = capsys.readouterr().out
    assert f"[locked (error) at {platform}:8]" in table
    assert "refused: audit_sink" in table
    assert SECRET not in table


def test_doctor_reports_refusals_and_runtime_checks(
    platform: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """doctor shows the refused attempt, the emulator verdict, the policy set, sinks and store."""
    monkeypatch.setenv("GOLDEN_PATH_BACKEND", "ai_studio")
    monkeypatch.setenv("GOLDEN_PATH_API_KEY", SECRET)
    monkeypatch.setenv("GOLDEN_PATH_AUDIT_SINK", "none")
    main(["doctor", "--offline"])
    out = capsys.readouterr().out
    assert "warn  refused: audit_sink: env GOLDEN_PATH_AUDIT_SINK" in out
    assert "ok    emulator: forbidden (allow_emulator = false" in out
    assert "ok    policies: " in out
    assert "ok    audit: " in out
    assert "ok    state store: memory://" in out
    assert SECRET not in out


def test_doctor_fails_an_unwritable_audit_file_and_a_dead_redis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An audit file that cannot be written fails; a Redis that does not answer is named, no
    password shown."""
    monkeypatch.setenv("GOLDEN_PATH_BACKEND", "emulator")
    monkeypatch.setenv("GOLDEN_PATH_AUDIT_SINK", f"file:{tmp_path}/missing/audit.jsonl")
    monkeypatch.setenv("GOLDEN_PATH_STATE_URL", f"redis://:{REDIS_PASSWORD}@127.0.0.1:9/0")
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  audit: " in out
    assert "FAIL  state store: " in out
    assert "redis://:****@127.0.0.1:9/0 does not answer" in out
    assert REDIS_PASSWORD not in out
