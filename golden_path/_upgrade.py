"""The SDK upgrade check: what a google-genai release changes for golden-path, offline.

:func:`probe` runs inside the environment being judged (the current one for the pin, a scratch
venv for the candidate) and returns a JSON-able dict:

- ``surface``: every public SDK method, and those the route table does not place (ungoverned);
- ``wire``: real calls through golden-path's clients to the embedded emulator on both backends,
  each request's method, path, API version and identification/auth headers, and whether the
  route table recognises it and golden-path audited it once;
- ``warnings``: what building clients and calling them emitted (an app running with
  ``filterwarnings = error`` would fail on any of them);
- ``frameworks``: for each framework package golden-path has adapters for, whether its declared
  google-genai range admits this release.

:func:`verdict` judges one probe; :func:`diff` compares the candidate's with the pin's.
``golden-path upgrade-check`` (``_cli/upgrade.py``) builds the scratch venv and prints both.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["FRAMEWORKS", "diff", "framework_support", "probe", "specifier_allows", "verdict"]

# Framework distributions golden-path adapts (docs/frameworks.md), and the one that pins the
# SDK for each: their declared google-genai range decides whether a team can use both.
FRAMEWORKS: Mapping[str, str] = {
    "langchain": "langchain-google-genai",
    "adk": "google-adk",
    "pydantic-ai": "pydantic-ai-slim",
    "llamaindex": "llama-index-llms-google-genai",
    "llamaindex-embeddings": "llama-index-embeddings-google-genai",
}

_MODEL = "gemini-2.5-flash"
_EMBED = "gemini-embedding-2"


# ------------------------------------------------------------------------------ specifiers


def specifier_allows(specifier: str, version: str) -> bool:
    """Whether a PEP 440 specifier set (``>=2.30,<3``) admits ``version``; enough for ranges.

    ``==`` with a ``.*`` wildcard, ``~=``, ``!=`` and the four comparisons are understood; an
    empty specifier admits everything.
    """
    from golden_path._versions import release

    have = release(version)
    for clause in filter(None, (c.strip() for c in specifier.split(","))):
        match = re.match(r"^(~=|==|!=|<=|>=|<|>)\s*(\S+)$", clause)
        if match is None:
            raise ValueError(f"cannot read the version clause {clause!r}")
        op, raw = match.groups()
        if raw.endswith(".*"):
            prefix = tuple(int(p) for p in raw[:-2].split("."))
            same = _padded(have, len(prefix))[: len(prefix)] == prefix
            if (op == "==") != same:
                return False
            continue
        want = release(raw)
        if op == "~=":
            # ~=3.4.0 means >=3.4.0,==3.4.*: compare the written parts, zeros included.
            written = tuple(int(p) for p in re.findall(r"\d+", raw.split("+")[0])[:4])
            prefix = written[:-1]
            if not (have >= want and _padded(have, len(written))[: len(prefix)] == prefix):
                return False
            continue
        ok = {
            "==": have == want,
            "!=": have != want,
            "<": have < want,
            "<=": have <= want,
            ">": have > want,
            ">=": have >= want,
        }[op]
        if not ok:
            return False
    return True


def _padded(parts: tuple[int, ...], size: int) -> tuple[int, ...]:
    return parts + (0,) * max(0, size - len(parts))


def _sdk_requirement(requires: Iterable[str]) -> str | None:
    """The google-genai specifier among Requires-Dist lines that apply without extras."""
    for line in requires:
        name, _, rest = line.partition(";")
        if "extra" in rest:
            continue
        match = re.match(r"^\s*google[-_.]genai\s*(?:\[[^\]]*\])?\s*\(?([^)]*)\)?\s*$", name)
        if match:
            return match.group(1).strip()
    return None


def framework_support(version: str, wheels: Iterable[Path] = ()) -> dict[str, dict[str, Any]]:
    """For each framework: its installed (or offered wheel's) version and whether it admits us."""
    from importlib import metadata

    offered: dict[str, Path] = {}
    for wheel in wheels:
        dist = wheel.name.split("-")[0].replace("_", "-").lower()
        offered.setdefault(dist, wheel)
    report: dict[str, dict[str, Any]] = {}
    for extra, dist in FRAMEWORKS.items():
        requires: list[str] | None = None
        where = ""
        try:
            found = metadata.distribution(dist)
            requires, where = list(found.requires or []), f"installed {found.version}"
        except metadata.PackageNotFoundError:
            offer = offered.get(dist)
            if offer is not None:
                requires, where = _wheel_requires(offer), f"wheel {offer.name}"
        if requires is None:
            report[extra] = {"package": dist, "status": "unknown", "detail": "not installed"}
            continue
        spec = _sdk_requirement(requires)
        if spec is None and dist == "pydantic-ai-slim":
            # pydantic-ai declares the SDK in its [google] extra.
            spec = _sdk_requirement(
                line.split(";")[0] for line in requires if "google" in line.split(";", 1)[-1]
            )
        allowed = spec is None or specifier_allows(spec, version)
        report[extra] = {
            "package": dist,
            "status": "resolves" if allowed else "conflict",
            "detail": f"{where}: google-genai {spec or '(any)'}",
        }
    return report


def _wheel_requires(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(name).decode("utf-8", "replace")
    return [
        line[len("Requires-Dist:") :].strip()
        for line in text.splitlines()
        if line.startswith("Requires-Dist:")
    ]


# ------------------------------------------------------------------------------ the probe


def probe(wheels: Iterable[Path] = ()) -> dict[str, Any]:
    """Judge the google-genai importable here; see the module docstring for the fields."""
    from google.genai import version as sdk_version

    from golden_path._sdk_surface import sdk_methods, ungoverned
    from golden_path._versions import sdk_placement

    version = sdk_version.__version__
    result: dict[str, Any] = {"sdk": version, "placement": sdk_placement(version).status}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result["wire"] = _wire_checks()
        except Exception as exc:  # noqa: BLE001 - any failure is the finding, reported as such
            result["wire"] = [
                {"call": "setup", "ok": False, "problem": f"{type(exc).__name__}: {exc}"}
            ]
    result["warnings"] = sorted(
        {f"{w.category.__name__}: {w.message}" for w in caught if _counts(w)}
    )
    methods = sdk_methods()
    result["surface"] = {"methods": methods, "ungoverned": ungoverned(methods)}
    result["frameworks"] = framework_support(version, wheels)
    return result


def _counts(warning: warnings.WarningMessage) -> bool:
    # Our own RuntimeWarning for a release outside the range is reported as the placement.
    return "golden-path" not in str(warning.message) or warning.category is not RuntimeWarning


_CALLS: Mapping[str, Callable[[Any], object]] = {
    "generate_content": lambda c: c.models.generate_content(model=_MODEL, contents="hi"),
    "generate_content_stream": lambda c: list(
        c.models.generate_content_stream(model=_MODEL, contents="hi")
    ),
    "count_tokens": lambda c: c.models.count_tokens(model=_MODEL, contents="hi"),
    "embed_content": lambda c: c.models.embed_content(model=_EMBED, contents="hi"),
}
_CLIENT_ID = "acme-golden-path/1.0"


def _wire_checks() -> list[dict[str, Any]]:
    import golden_path
    from golden_path.emulator import Emulator
    from golden_path.testing import AuditCapture

    checks: list[dict[str, Any]] = []
    with Emulator() as emulator, tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "sa.json"
        emulator.create_service_account_key(key)
        backends: dict[str, dict[str, Any]] = {
            "ai_studio": {"backend": "ai_studio", "api_key": "upgrade-check-key"},
            "vertex": {
                "backend": "vertex",
                "project": "emu-project",
                "location": "europe-west4",
                "credentials_file": str(key),
            },
        }
        for backend, settings in backends.items():
            audit = AuditCapture()
            client = golden_path.create_client(
                audit_sinks=[audit],
                base_url=emulator.url,
                retry_attempts=1,
                client_id=_CLIENT_ID,
                **settings,
            )
            for name, call in _CALLS.items():
                before, events = len(emulator.api_requests()), len(audit.events)
                entry: dict[str, Any] = {"call": f"{backend} {name}", "ok": True}
                try:
                    call(client)
                except Exception as exc:  # noqa: BLE001 - the failure is the finding
                    entry.update(ok=False, problem=f"{type(exc).__name__}: {exc}")
                else:
                    requests = emulator.api_requests()[before:]
                    problems = _judge(backend, requests, len(audit.events) - events, entry)
                    if problems:
                        entry.update(ok=False, problem="; ".join(problems))
                checks.append(entry)
            checks += _refusals(client, backend, emulator)
            checks += _live_interaction(client, backend, emulator, audit)
            client.close()
    return checks


def _refusals(
    client: Any, backend: str, emulator: Any, refused: Iterable[str] | None = None
) -> list[dict[str, Any]]:
    """Each entry point golden-path refuses must raise before anything is sent.

    ``refused`` defaults to :data:`golden_path._surface.REFUSED` (empty while every entry
    point of the supported releases is governed). A method is called with no arguments; a
    refused sub-resource is asked for its ``create``.
    """
    from golden_path._surface import REFUSED, resolve
    from golden_path.exceptions import PolicyViolation

    checks = []
    for name in REFUSED if refused is None else refused:
        target = resolve(client, name)
        if target is None:
            continue  # this release does not have it
        before = len(emulator.api_requests())
        entry: dict[str, Any] = {"call": f"{backend} {name} refused", "ok": False}
        try:
            (target if callable(target) else target.create)()
            entry["problem"] = "not refused"
        except PolicyViolation:
            entry["ok"] = len(emulator.api_requests()) == before
            if not entry["ok"]:
                entry["problem"] = "refused, but a request was sent"
        except Exception as exc:  # noqa: BLE001 - the failure is the finding
            entry["problem"] = f"{type(exc).__name__}: {exc}"
        checks.append(entry)
    return checks


def _live_interaction(client: Any, backend: str, emulator: Any, audit: Any) -> list[dict[str, Any]]:
    """On 3.5.0+, a Live Interactions session runs behind the realtime guard.

    One websocket, one audit event, the credential and identification as for HTTP calls. The
    SDK's one-time "experimental" UserWarning is what any app calling this entry point sees;
    it says nothing about golden-path, so it is not counted among the warnings.
    """
    import asyncio

    if backend != "ai_studio" or not hasattr(client.aio.interactions, "connect"):
        return []
    entry: dict[str, Any] = {"call": f"{backend} interactions.connect", "ok": True}
    try:
        interaction = client.interactions.create(model=_MODEL, input="hi")
        before, events = len(emulator.api_requests()), len(audit.events)

        async def session() -> None:
            async with client.aio.interactions.connect(interaction.id) as connection:
                await connection.send("hi")
                await connection.complete()
                async for _ in connection.receive():
                    pass

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Live Interactions usage", UserWarning)
            asyncio.run(session())
    except Exception as exc:  # noqa: BLE001 - the failure is the finding
        entry.update(ok=False, problem=f"{type(exc).__name__}: {exc}")
        return [entry]
    problems = _judge(backend, emulator.api_requests()[before:], len(audit.events) - events, entry)
    if problems:
        entry.update(ok=False, problem="; ".join(problems))
    return [entry]


def _judge(backend: str, requests: list[Any], events: int, entry: dict[str, Any]) -> list[str]:
    """What is wrong with the requests one call made; fills ``entry`` with what was seen."""
    from golden_path._factory import DEFAULT_API_VERSIONS
    from golden_path._routes import UnsafePath, match

    problems = []
    if len(requests) != 1:
        problems.append(f"{len(requests)} HTTP requests, expected 1")
    if events != len(requests):
        problems.append(f"{events} audit events for {len(requests)} requests")
    for request in requests[:1]:
        entry["request"] = f"{request.method} {request.path}"
        try:
            found = match(request.method, request.path)
        except UnsafePath:
            found = None
        if found is None:
            problems.append("the route table does not recognise the path")
        else:
            entry["route"], entry["api_version"] = found.route.name, found.version
            if found.version != DEFAULT_API_VERSIONS[backend]:
                problems.append(
                    f"API version {found.version}, golden-path pins {DEFAULT_API_VERSIONS[backend]}"
                )
        headers = request.headers
        entry["x-goog-api-client"] = headers.get("x-goog-api-client", "")
        if _CLIENT_ID not in entry["x-goog-api-client"]:
            problems.append("x-goog-api-client lacks golden-path's client id")
        if "x-goog-api-key" in headers:
            entry["auth"] = "x-goog-api-key"
        elif headers.get("authorization", "").startswith("Bearer "):
            entry["auth"] = "bearer"
        else:
            entry["auth"] = "none"
        if entry["auth"] != ("x-goog-api-key" if backend == "ai_studio" else "bearer"):
            problems.append(f"credential sent as {entry['auth']}")
    return problems


# ------------------------------------------------------------------------------ judging


def verdict(report: Mapping[str, Any]) -> tuple[bool, list[str]]:
    """Whether a probe passes, and the reasons it does not."""
    reasons = []
    ungoverned = report["surface"]["ungoverned"]
    if ungoverned:
        reasons.append(
            f"{len(ungoverned)} SDK method(s) the route table does not govern: "
            + ", ".join(ungoverned)
        )
    failed = [c for c in report["wire"] if not c["ok"]]
    reasons += [f"wire: {c['call']}: {c['problem']}" for c in failed]
    if report["warnings"]:
        reasons.append(
            f"{len(report['warnings'])} warning(s) while golden-path built and used clients "
            "(fatal under filterwarnings = error)"
        )
    return not reasons, reasons


def diff(pin: Mapping[str, Any], candidate: Mapping[str, Any]) -> dict[str, Any]:
    """What the candidate changes against the pin: methods, wire rows, warnings, frameworks."""
    old, new = set(pin["surface"]["methods"]), set(candidate["surface"]["methods"])
    pin_wire = {c["call"]: c for c in pin["wire"]}
    changed_wire = [
        f"{check['call']}: {field} {before.get(field)} -> {check.get(field)}"
        for check in candidate["wire"]
        for before in [pin_wire.get(check["call"], {})]
        for field in ("request", "api_version", "route", "auth")
        if before.get(field) != check.get(field)
    ]
    frameworks = []
    for extra, now in candidate["frameworks"].items():
        was = pin["frameworks"].get(extra, {}).get("status")
        if was != now["status"]:
            frameworks.append(f"{extra}: {was} -> {now['status']}")
    return {
        "added_methods": sorted(new - old),
        "removed_methods": sorted(old - new),
        "wire_changes": changed_wire,
        "new_warnings": sorted(set(candidate["warnings"]) - set(pin["warnings"])),
        "framework_changes": frameworks,
    }


def main() -> int:
    """``python -m golden_path._upgrade [WHEEL_DIR]``: print this environment's probe as JSON."""
    wheels = sorted(Path(sys.argv[1]).glob("*.whl")) if len(sys.argv) > 1 else []
    print(json.dumps(probe(wheels)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
