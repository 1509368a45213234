"""`golden-path doctor`: is this machine ready to call Gemini the golden way? One line per check."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `doctor` command."""
    parser = sub.add_parser(
        "doctor",
        help="check configuration, pins, credentials, endpoint",
        description="Run every readiness check; exit 1 if any fails.",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="skip checks that need the network (token exchange, endpoint)",
    )
    parser.set_defaults(handler=run)


class _Checks:
    def __init__(self) -> None:
        self.failed = 0

    def run(self, name: str, check: Callable[[], str]) -> bool:
        try:
            detail = check()
        except Exception as exc:  # noqa: BLE001 - a doctor reports every failure, never crashes
            self.failed += 1
            from golden_path._cli._common import describe_api_error

            remote = describe_api_error(exc)
            message = str(remote) if remote else _safe(exc)
            print(f"FAIL  {name}: {message}")
            return False
        print(f"ok    {name}: {detail}")
        return True

    def skip(self, name: str, why: str) -> None:
        print(f"skip  {name}: {why}")

    def warn(self, name: str, why: str) -> None:
        # Worth fixing, but not a reason to call the process unhealthy.
        print(f"warn  {name}: {why}")


def _safe(exc: BaseException) -> str:
    # GoldenPathError messages are written to be shown; anything else shows its type and first
    # line only (google-auth errors can quote server responses at length).
    from golden_path.exceptions import GoldenPathError

    if isinstance(exc, GoldenPathError):
        return str(exc).replace("\n", " ")
    first = (str(exc).splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}: {first}"


def run(args: argparse.Namespace) -> int:  # noqa: PLR0915 - the checks read best in one place
    """Run the checks in data-flow order; later checks are skipped when an earlier one fails."""
    from golden_path._settings import ResolvedSettings, load_settings

    checks = _Checks()
    state: dict[str, Any] = {}

    def config() -> str:
        resolved = load_settings()
        state["resolved"] = resolved
        s = resolved.settings
        where = resolved.sources.get("backend", "default")
        extra = f", project {s.project}, location {s.location}" if s.backend == "vertex" else ""
        platform = resolved.platform_file or "none"
        locks = f", {len(resolved.locks)} locked" if resolved.locks else ""
        return f"backend {s.backend} (from {where}){extra}; platform file {platform}{locks}"

    def emulator() -> str:
        resolved: ResolvedSettings = state["resolved"]
        where = resolved.sources.get("allow_emulator", "default")
        if resolved.settings.allow_emulator:
            return f"allowed (allow_emulator = true, from {where})"
        return f"forbidden (allow_emulator = false, from {where})"

    def state_store() -> str:
        resolved: ResolvedSettings = state["resolved"]
        return _state_store(resolved, offline=args.offline)

    def wire(field: str) -> Callable[[], str]:
        def check() -> str:
            from golden_path import _factory

            resolved: ResolvedSettings = state["resolved"]
            where = resolved.sources.get(field, "default")
            pick = _factory.sync_wire if field == "sync_transport" else _factory.async_wire
            chosen = getattr(resolved.settings, field)
            return f"{pick(resolved)} ({field} = {chosen}, from {where})"

        return check

    def sdk_pin() -> str:
        from google.genai import version

        from golden_path._version import PINNED_SDK_VERSION

        installed = version.__version__
        if installed != PINNED_SDK_VERSION:
            raise RuntimeError(
                f"google-genai {installed} installed, pinned {PINNED_SDK_VERSION}"
                "; reinstall from the lock"
            )
        return f"google-genai {installed} (pinned)"

    def locked() -> str:
        from golden_path import _versions

        return str(_versions.doctor_check())

    def policies() -> str:
        from golden_path.policies._loader import load_chain

        resolved: ResolvedSettings = state["resolved"]
        chain = load_chain(resolved.settings, resolved.sources)
        names = ", ".join(chain.names) or "none"
        return f"{len(chain.policies)} loaded ({names})"

    def audit() -> str:
        from golden_path.audit._sinks import describe_sinks

        resolved: ResolvedSettings = state["resolved"]
        return describe_sinks(resolved.settings)

    def refused() -> None:
        resolved: ResolvedSettings = state["resolved"]
        for refusal in resolved.refused:
            print(f"warn  refused: {refusal}")

    def credentials() -> str:
        from golden_path._factory import runtime_for

        resolved: ResolvedSettings = state["resolved"]
        auth, base_url, api_version = runtime_for(resolved)
        state["auth"] = auth
        if auth.credentials is not None and not args.offline:
            import google.auth.transport.requests

            auth.credentials.refresh(google.auth.transport.requests.Request())
            return f"{auth.principal}: access token obtained"
        return f"{auth.mode} ({auth.principal}); {base_url}/{api_version}"

    def endpoint() -> str:
        from golden_path._factory import create_client

        resolved: ResolvedSettings = state["resolved"]
        client = create_client(resolved.settings, audit_sinks=[])
        model = resolved.settings.model
        found = client.models.get(model=model)
        return f"reachable; {found.name or model} available"

    ok = checks.run("config", config)
    checks.run("sdk pin", sdk_pin)
    checks.run("lock", locked)
    if ok:
        checks.run("platform config", lambda: _platform_config(state["resolved"]))
    user = _running_as_root()
    if user:
        checks.warn("user", user)
    if ok:
        refused()
        checks.run("emulator", emulator)
        checks.run("policies", policies)
        checks.run("audit", audit)
        checks.run("state store", state_store)
        checks.run("sync wire", wire("sync_transport"))
        checks.run("async wire", wire("async_transport"))
        creds_ok = checks.run("credentials", credentials)
        if args.offline:
            checks.skip("endpoint", "--offline")
        elif creds_ok:
            checks.run("endpoint", endpoint)
    else:
        skipped = (
            "emulator",
            "policies",
            "audit",
            "state store",
            "sync wire",
            "async wire",
            "credentials",
        )
        for name in (*skipped, "endpoint"):
            checks.skip(name, "configuration is invalid")
    return 1 if checks.failed else 0


def _platform_config(resolved: Any) -> str:
    """The platform team's file (the image's /etc/golden-path/config.toml) must be in force.

    App files merge on top of it (they cannot replace it), but ``$GOLDEN_PATH_PLATFORM_CONFIG``
    can name another platform file; when the image's file exists and is not the one read, its
    settings and locks silently stop applying.
    """
    from golden_path import _settings
    from golden_path.exceptions import ConfigError, ConfigProblem

    platform = _settings.PLATFORM_CONFIG_PATH
    if not platform.is_file():
        return f"none at {platform} (outside the base image)"
    in_force = resolved.platform_file
    if in_force is not None and in_force.resolve() == platform.resolve():
        return f"{platform} in force"
    raise ConfigError(
        [
            ConfigProblem(
                "platform config",
                f"the platform's {platform} is not in force, so its settings and locks do "
                f"not apply (read instead: {in_force or 'no platform file'})",
                "env GOLDEN_PATH_PLATFORM_CONFIG",
                "unset GOLDEN_PATH_PLATFORM_CONFIG",
            )
        ]
    )


def _running_as_root() -> str | None:
    import os

    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    return (
        "running as root (uid 0): a compromised process owns the container; run as a non-root "
        "user (the base image's is 10001:10001, `USER 10001:10001` in a derived Dockerfile)"
    )


def _state_store(resolved: Any, *, offline: bool) -> str:
    """The state store ``state_url`` names parses, and (online) a Redis server answers."""
    from golden_path._state import StoreUnavailable, open_store
    from golden_path.exceptions import ConfigError, ConfigProblem
    from golden_path.policies._limits import check_state_url

    parsed, problems = check_state_url(resolved.settings)
    if problems:
        raise ConfigError(problems)
    assert parsed is not None
    if parsed.kind == "memory":
        return f"{parsed.display} (in this process only)"
    if offline:
        return f"{parsed.display} (not contacted: --offline)"
    store = open_store(parsed)
    ping = getattr(store, "ping", None)
    if ping is not None:
        try:
            ping()
        except StoreUnavailable as exc:
            raise ConfigError(
                [
                    ConfigProblem(
                        "state_url",
                        f"{parsed.display} does not answer: {exc}",
                        resolved.sources.get("state_url", "default"),
                        "start Redis or fix GOLDEN_PATH_STATE_URL; rate limits and budgets need it",
                    )
                ]
            ) from None
    return f"{parsed.display} answers"
