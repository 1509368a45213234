"""`golden-path upgrade-check`: a candidate SDK judged offline, from a wheel, in a scratch venv.

The candidates are the installed google-genai packed back into a wheel (no registry needed),
once as it is and once with a public method the route table has never heard of, which is what
an SDK release adding a surface looks like.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from golden_path import _upgrade
from golden_path.cli import main
from tests import _sdk as sdk

# A new public method on Models, as an SDK release might add one.
_NEW_METHOD = '''

def _summon(self, *, model: str) -> None:
    """A surface golden-path has never judged."""
    self._api_client.request("post", f"{model}:summon", {}, None)


Models.summon = _summon
'''


def _repack(target: Path, *, patch_models: bool = False) -> Path:
    """The installed google-genai as a wheel (RECORD rewritten), optionally with a new method."""
    dist = metadata.distribution("google-genai")
    name = f"google_genai-{dist.version}-py3-none-any.whl"
    wheel = target / name
    record_name = next(str(f) for f in dist.files or [] if str(f).endswith(".dist-info/RECORD"))
    rows = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in dist.files or []:
            path = str(file)
            if path == record_name or path.endswith(".pyc") or path.startswith(".."):
                continue
            data = Path(str(file.locate())).read_bytes()
            if patch_models and path == "google/genai/models.py":
                data += _NEW_METHOD.encode()
            archive.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            rows.append(f"{path},sha256={digest.decode()},{len(data)}")
        rows.append(f"{record_name},,")
        archive.writestr(record_name, "\n".join(rows) + "\n")
    return wheel


def _check(capsys: pytest.CaptureFixture[str], wheel: Path) -> tuple[int, Any]:
    code = main(["upgrade-check", sdk.VERSION, "--wheel", str(wheel), "--json"])
    out, err = capsys.readouterr()
    assert err == "" or code in (0, 1), err
    return code, json.loads(out)


def test_a_method_missing_from_the_route_table_fails_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The installed release plus one public method no route covers: everything else passes
    (same wire on both backends, no warnings), and the new method alone fails the check."""
    code, report = _check(capsys, _repack(tmp_path, patch_models=True))
    assert code == 1
    assert report["passed"] is False
    assert report["candidate"]["sdk"] == sdk.VERSION
    assert report["candidate"]["surface"]["ungoverned"] == ["models.summon"]
    assert report["diff"]["added_methods"] == ["models.summon"]
    assert report["diff"]["removed_methods"] == []
    assert report["reasons"] == ["1 SDK method(s) the route table does not govern: models.summon"]
    wire = report["candidate"]["wire"]
    assert len(wire) == (10 if sdk.at_least("3.5") else 8)
    assert all(check["ok"] for check in wire), wire
    assert {check.get("auth") for check in wire} - {None} == {"x-goog-api-key", "bearer"}
    assert report["diff"]["wire_changes"] == []
    assert report["candidate"]["warnings"] == []


def test_the_text_report_names_the_verdict_and_each_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The human report: verdict first, then route table, wire, warnings and frameworks."""
    from golden_path._cli import upgrade

    probe: dict[str, Any] = {
        "sdk": "9.0.0",
        "placement": "unsupported",
        "surface": {
            "methods": ["models.generate_content", "models.summon"],
            "ungoverned": ["models.summon"],
        },
        "wire": [{"call": "ai_studio generate_content", "ok": False, "problem": "401"}],
        "warnings": ["UserWarning: experimental"],
        "frameworks": {"adk": {"package": "google-adk", "status": "conflict", "detail": "<3"}},
    }
    pin = {**probe, "sdk": "3.4.0", "placement": "pinned", "warnings": []}
    pin["surface"] = {"methods": ["models.generate_content"], "ungoverned": []}
    passed, reasons = _upgrade.verdict(probe)
    upgrade._print_report(probe, pin, passed, reasons, _upgrade.diff(pin, probe))
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "verdict: FAIL"
    assert "ungoverned: models.summon" in "\n".join(out)
    assert any(line.startswith("wire (emulator, both backends): 0/1 ok") for line in out)
    assert "new against 3.4.0: UserWarning: experimental" in "\n".join(out)
    assert "  [adk] google-adk: conflict (<3)" in out


@pytest.mark.parametrize(
    ("spec", "version", "allowed"),
    [
        (">=2.30,<3", "2.34.0", True),
        (">=2.30,<3", "3.6.1", False),
        ("<3,>=1.52.0", "2.18.0", True),
        (">=2.20.0", "3.6.1", True),
        ("~=3.4", "3.6.1", True),
        ("~=3.4.0", "3.6.1", False),
        ("==3.*", "3.6.1", True),
        ("!=3.5.0", "3.5.0", False),
        ("", "1.0", True),
    ],
)
def test_specifiers_of_framework_packages(spec: str, version: str, allowed: bool) -> None:
    """The framework check reads the ranges frameworks really declare."""
    assert _upgrade.specifier_allows(spec, version) is allowed


def test_bad_arguments_are_named_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A version that is not one, or a missing wheel, is a one-line error and exit 2."""
    assert main(["upgrade-check", "latest"]) == 2
    assert "version (from argument): 'latest' is not a release number" in capsys.readouterr().err
    assert main(["upgrade-check", "3.6.1", "--wheel", str(tmp_path / "absent.whl")]) == 2
    assert "is not a file" in capsys.readouterr().err
    assert main(["upgrade-check", "3.6.1", "--find-links", str(tmp_path / "absent")]) == 2
    err = capsys.readouterr().err
    assert f"--find-links (from argument): {tmp_path / 'absent'} is not a directory" in err
    assert "pass a directory of wheels" in err
