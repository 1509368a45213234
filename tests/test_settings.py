"""Configuration: every source, the documented precedence, and every class of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import golden_path
from golden_path import ConfigError
from golden_path._settings import load_settings

SECRET = "AIzaSyTEST-SECRET-KEY-0000000000000000"


@pytest.fixture(name="secrets_dir")
def _secrets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "run-secrets"
    folder.mkdir()
    monkeypatch.setenv("GOLDEN_PATH_SECRETS_DIR", str(folder))
    return folder


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_each_source_is_read(
    tmp_path: Path, secrets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Env, .env, the TOML file and secret files each supply settings, and say so."""
    _write(tmp_path / "golden-path.toml", 'backend = "ai_studio"\nteam = "from-toml"\n')
    _write(tmp_path / ".env", "GOLDEN_PATH_APP=from-dotenv\n")
    _write(secrets_dir / "golden_path_api_key", SECRET)
    monkeypatch.setenv("GOLDEN_PATH_MODEL", "gemini-2.5-pro")
    resolved = load_settings()
    settings = resolved.settings
    assert settings.backend == "ai_studio"
    assert settings.team == "from-toml"
    assert settings.app == "from-dotenv"
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == SECRET
    assert settings.model == "gemini-2.5-pro"
    assert resolved.sources["backend"] == "golden-path.toml:1"
    assert resolved.sources["team"] == "golden-path.toml:2"
    assert resolved.sources["app"] == ".env GOLDEN_PATH_APP"
    assert resolved.sources["api_key"] == f"secret file {secrets_dir}/golden_path_api_key"
    assert resolved.sources["model"] == "env GOLDEN_PATH_MODEL"
    assert "location" not in resolved.sources


def test_precedence(tmp_path: Path, secrets_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """keyword > environment > .env > TOML > secret files > defaults, field by field."""
    _write(secrets_dir / "golden_path_app", "secret-app")
    _write(secrets_dir / "golden_path_team", "secret-team")
    _write(secrets_dir / "golden_path_model", "secret-model")
    _write(secrets_dir / "golden_path_project", "secret-project")
    _write(
        tmp_path / "golden-path.toml",
        'backend = "vertex"\napp = "toml-app"\nteam = "toml-team"\nmodel = "toml-model"\n',
    )
    _write(tmp_path / ".env", "GOLDEN_PATH_APP=dotenv-app\nGOLDEN_PATH_TEAM=dotenv-team\n")
    monkeypatch.setenv("GOLDEN_PATH_APP", "env-app")
    settings = load_settings(app="kw-app").settings
    assert settings.app == "kw-app"
    assert load_settings().settings.app == "env-app"
    assert settings.team == "dotenv-team"
    assert settings.model == "toml-model"
    assert settings.project == "secret-project"
    assert settings.location == "global"


def test_config_file_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GOLDEN_PATH_CONFIG wins over ./golden-path.toml; a named file that is missing is an error."""
    _write(tmp_path / "golden-path.toml", 'backend = "ai_studio"\napi_key = "a"\n')
    other = _write(tmp_path / "other.toml", 'backend = "emulator"\n')
    monkeypatch.setenv("GOLDEN_PATH_CONFIG", str(other))
    resolved = load_settings()
    assert resolved.settings.backend == "emulator"
    assert resolved.config_file == other
    monkeypatch.setenv("GOLDEN_PATH_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    problem = caught.value.problems[0]
    assert problem.source == "env GOLDEN_PATH_CONFIG"
    assert "does not exist" in problem.message


def test_list_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lists come as comma-separated environment values."""
    monkeypatch.setenv("GOLDEN_PATH_RETRY_STATUS_CODES", "429, 503")
    settings = load_settings(backend="emulator").settings
    assert settings.retry_status_codes == [429, 503]


def test_missing_backend_is_an_error_that_says_what_to_set() -> None:
    """There is no silent default backend."""
    with pytest.raises(ConfigError) as caught:
        golden_path.create_client()
    (problem,) = caught.value.problems
    assert problem.field == "backend"
    assert "GOLDEN_PATH_BACKEND" in problem.fix


def test_every_problem_is_listed_with_field_source_and_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Unknown backend, malformed client id and a negative timeout are reported together."""
    monkeypatch.setenv("GOLDEN_PATH_BACKEND", "openai")
    monkeypatch.setenv("GOLDEN_PATH_CLIENT_ID", "Acme Golden Path")
    monkeypatch.setenv("GOLDEN_PATH_TIMEOUT_S", "-5")
    with pytest.raises(ConfigError) as caught:
        golden_path.create_client()
    problems = {p.field: p for p in caught.value.problems}
    assert set(problems) == {"backend", "client_id", "timeout_s"}
    for field, problem in problems.items():
        assert problem.source == f"env GOLDEN_PATH_{field.upper()}"
        assert problem.fix
    assert "company-product/version" in problems["client_id"].fix


@pytest.mark.parametrize(
    ("settings", "field", "words"),
    [
        ({"backend": "vertex"}, "project", "needs a project"),
        ({"backend": "ai_studio"}, "api_key", "needs an API key"),
        (
            {
                "backend": "vertex",
                "project": "acme-prod",
                "api_key": "k",
                "credentials_file": "/x.json",
            },
            "api_key",
            "both set",
        ),
        (
            {"backend": "ai_studio", "api_key": "k", "credentials_file": "/x.json"},
            "credentials_file",
            "only applies to backend vertex",
        ),
        (
            {
                "backend": "vertex",
                "project": "acme-prod",
                "impersonate_delegates": "hop@acme-prod.iam.gserviceaccount.com",
            },
            "impersonate_delegates",
            "without a service account",
        ),
        (
            {"backend": "emulator", "retry_initial_delay_s": 10, "retry_max_delay_s": 1},
            "retry_initial_delay_s",
            "larger than",
        ),
        ({"backend": "emulator", "base_url": "localhost:8080"}, "base_url", "not an http"),
        ({"backend": "emulator", "retry_attempts": 0}, "retry_attempts", "at least 1"),
        ({"backend": "emulator", "retry_status_codes": "200"}, "retry_status_codes", "4xx/5xx"),
        ({"backend": "emulator", "colour": "blue"}, "colour", "unknown setting"),
    ],
)
def test_conflicting_or_invalid_settings(
    settings: dict[str, object], field: str, words: str
) -> None:
    """Each conflicting or invalid combination names the field and says what is wrong."""
    with pytest.raises(ConfigError) as caught:
        golden_path.create_client(**settings)
    problem = next(p for p in caught.value.problems if p.field == field)
    assert words in problem.message
    assert problem.fix


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "does not exist"),
        ("{not json", "not valid JSON"),
        (json.dumps({"type": "cat"}), "has type 'cat'"),
        (json.dumps(["service_account"]), "has type None"),
    ],
)
def test_bad_credentials_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str | None, words: str
) -> None:
    """A missing, non-JSON or wrongly typed credentials file is named with its source."""
    path = tmp_path / "key.json"
    if content is not None:
        path.write_text(content)
    monkeypatch.setenv("GOLDEN_PATH_CREDENTIALS_FILE", str(path))
    with pytest.raises(ConfigError) as caught:
        golden_path.create_client(backend="vertex", project="acme-prod")
    (problem,) = caught.value.problems
    assert problem.field == "credentials_file"
    assert problem.source == "env GOLDEN_PATH_CREDENTIALS_FILE"
    assert words in problem.message


def test_unreadable_credentials_file(tmp_path: Path) -> None:
    """A credentials file we may not read says so (permissions), not 'invalid JSON'."""
    import os

    if os.geteuid() == 0:
        path = tmp_path  # a directory: reading it fails even for root
    else:
        path = tmp_path / "key.json"
        path.write_text("{}")
        path.chmod(0)
    with pytest.raises(ConfigError) as caught:
        golden_path.create_client(backend="vertex", project="acme-prod", credentials_file=str(path))
    message = caught.value.problems[0].message
    assert "cannot be read" in message or "is a directory" in message


def test_service_account_file_with_a_broken_key_never_prints_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key file whose private key is mangled is rejected without echoing key material."""
    path = tmp_path / "sa.json"
    mangled = "-----BEGIN PRIVATE KEY-----\nTOPSECRETKEYMATERIAL\n-----END PRIVATE KEY-----\n"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "client_email": "a@b.iam",
                "private_key": mangled,
                "token_uri": "http://127.0.0.1:9/t",
            }
        )
    )
    monkeypatch.setenv("GOLDEN_PATH_CREDENTIALS_FILE", str(path))
    with pytest.raises(ConfigError) as caught:
        golden_path.create_client(backend="vertex", project="acme-prod")
    assert caught.value.fields == ("credentials_file",)
    assert "TOPSECRETKEYMATERIAL" not in str(caught.value)
    assert "TOPSECRETKEYMATERIAL" not in repr(caught.value)


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    """A TOML syntax error names the file and the position."""
    _write(tmp_path / "golden-path.toml", 'backend = "vertex\n')
    with pytest.raises(ConfigError) as caught:
        load_settings()
    (problem,) = caught.value.problems
    assert problem.source == "golden-path.toml:1"
    assert "line 1" in problem.message


def test_bad_value_in_toml_names_file_and_line(tmp_path: Path) -> None:
    """A wrong value in the TOML file is reported as file:line of its key."""
    _write(tmp_path / "golden-path.toml", '# comment\nbackend = "emulator"\ntimeout_s = -1\n')
    with pytest.raises(ConfigError) as caught:
        load_settings()
    (problem,) = caught.value.problems
    assert (problem.field, problem.source) == ("timeout_s", "golden-path.toml:3")


def test_secrets_are_masked_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """The API key appears in no repr, str, dump or error of the settings."""
    monkeypatch.setenv("GOLDEN_PATH_API_KEY", SECRET)
    monkeypatch.setenv("GOLDEN_PATH_TIMEOUT_S", "-1")
    with pytest.raises(ConfigError) as caught:
        load_settings(backend="ai_studio")
    assert SECRET not in str(caught.value)
    monkeypatch.delenv("GOLDEN_PATH_TIMEOUT_S")
    settings = load_settings(backend="ai_studio").settings
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert SECRET not in text


def test_explicit_settings_object_ignores_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """create_client(settings) takes the object as is, with keyword overrides on top."""
    monkeypatch.setenv("GOLDEN_PATH_BACKEND", "ai_studio")
    settings = golden_path.Settings.model_validate({"backend": "emulator", "app": "explicit"})
    client = golden_path.create_client(settings, team="override")
    assert client is not None
    with pytest.raises(ConfigError) as caught:
        golden_path.create_client(settings, timeout_s=0)
    assert caught.value.problems[0].source == "keyword argument"
