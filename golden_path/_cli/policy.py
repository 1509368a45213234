"""``golden-path policy check`` and ``golden-path policy explain``: policy files, offline."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from golden_path.exceptions import ConfigError, PolicyViolation

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``policy`` and its subcommands."""
    parser = subparsers.add_parser(
        "policy",
        help="validate policy files; explain a request",
        description="Work with declarative policy files offline.",
    )
    sub = parser.add_subparsers(dest="policy_command", metavar="SUBCOMMAND", required=True)

    check = sub.add_parser("check", help="validate policy files or directories (exit 0 or 2)")
    check.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    check.add_argument(
        "--app-policy-file",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="an app's policy file or directory layered on PATH; it may only tighten",
    )
    check.set_defaults(handler=_check)

    explain = sub.add_parser(
        "explain", help="run a request body through the chain, offline (exit 0 allowed, 1 denied)"
    )
    explain.add_argument(
        "request",
        type=Path,
        metavar="REQUEST.json",
        help="a request body as JSON (generateContent shape, or OpenAI "
        "chat.completions with --surface openai); - reads stdin",
    )
    explain.add_argument(
        "--model",
        help="the model the request is for (default: the body's model, else gemini-2.5-flash)",
    )
    explain.add_argument(
        "--policy-file",
        type=Path,
        help="policy file or directory (default: GOLDEN_PATH_POLICY_FILE)",
    )
    explain.add_argument(
        "--app-policy-file",
        type=Path,
        help="an app's policy file or directory, layered on top: it may only tighten "
        "(default: GOLDEN_PATH_APP_POLICY_FILE)",
    )
    explain.add_argument(
        "--backend",
        choices=("ai_studio", "vertex", "emulator"),
        help="the backend to pretend (default: the configured one)",
    )
    explain.add_argument("--location", help="Vertex location (default: the configured one)")
    explain.add_argument(
        "--method",
        default="generateContent",
        help="API method, e.g. streamGenerateContent, countTokens (default: generateContent)",
    )
    explain.add_argument("--surface", choices=("genai", "openai"), default="genai")
    explain.add_argument(
        "--show-body", action="store_true", help="print the body as it would be sent"
    )
    explain.set_defaults(handler=_explain)


def _check(args: argparse.Namespace) -> int:
    from golden_path.policies._loader import load_policy_set

    try:
        policy_set = load_policy_set(
            args.paths,
            settings=_settings().settings,
            app_paths=args.app_policy_file,
            app_source="--app-policy-file",
        )
    except ConfigError as exc:
        for problem in exc.problems:
            fix = f" ({problem.fix})" if problem.fix else ""
            print(f"{problem.source}: {problem.field}: {problem.message}{fix}", file=sys.stderr)
        return 2
    names = ", ".join(
        f"{name}{_layer(policy_set, name)}"
        for name in (getattr(p, "name", type(p).__name__) for p in policy_set.policies)
    )
    files = len(policy_set.files)
    print(f"ok: {files} file{'s' * (files != 1)}; chain: {names or '(empty)'}")
    return 0


def _settings() -> Any:
    # The client's sources (env, config file, .env, secrets), without requiring credentials:
    # these commands judge policies offline, under the settings the client would run with.
    from golden_path._settings import read_settings

    return read_settings()


def _explain(args: argparse.Namespace) -> int:
    import httpx2

    from golden_path._settings import check_value
    from golden_path.policies import GenAIRequest, Identity

    for option in ("model", "location"):
        if getattr(args, option) is not None:
            check_value(option, getattr(args, option), f"--{option}")
    settings, policy_set = _configured(args)
    chain = policy_set.chain()
    raw = sys.stdin.buffer.read() if str(args.request) == "-" else _read(args.request)
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"{args.request} is not JSON: {exc}") from None
    backend = args.backend or settings.backend or "ai_studio"
    location = args.location or settings.location or "global"
    model = (
        args.model or (body.get("model") if isinstance(body, dict) else None) or "gemini-2.5-flash"
    )
    url = _url(
        backend=backend,
        location=location,
        project=settings.project or "my-project",
        model=model,
        method=args.method,
        surface=args.surface,
    )
    identity = Identity(
        app=settings.app,
        team=settings.team,
        client_id=settings.client_id,
        backend=backend,
        project=settings.project if backend == "vertex" else None,
        location=location if backend == "vertex" else None,
    )
    from golden_path._routes import classify, normalize_model

    http_url = httpx2.URL(url)
    wire = classify("POST", http_url.path, http_url.query.decode())
    request = GenAIRequest(
        request_id="explain",
        identity=identity,
        method="POST",
        url=http_url,
        headers=httpx2.Headers({"content-type": "application/json"}),
        raw=raw,
        surface=wire.surface,
        api_method=wire.api_method,
        model=normalize_model(body.get("model"))
        if args.surface == "openai" and isinstance(body, dict)
        else wire.model,
        stream=wire.stream,
    )
    print(f"request: {request.api_method} {request.model} ({backend}) -> {http_url.path}")
    print(f"chain: {', '.join(chain.names) or '(empty)'}")
    denied: PolicyViolation | None = None
    try:
        chain.before(request)
    except PolicyViolation as exc:
        denied = exc
    for decision in request.decisions:
        note = "" if decision.enforced else " (report only)"
        layer = _layer(policy_set, decision.policy)
        print(f"  {decision.policy}{layer}: {decision.action}{note}: {decision.reason}")
    if not request.decisions:
        print("  (no policy changed or refused anything)")
    if args.show_body and denied is None:
        print(request.serialize().decode())
    if denied is not None:
        print(f"denied by {denied.policy}{_layer(policy_set, denied.policy)}: {denied.reason}")
        return 1
    print("allowed")
    return 0


def _configured(args: argparse.Namespace) -> tuple[Any, Any]:
    """The settings and the policy set explain runs: the client's, or the files given."""
    from golden_path.policies._loader import load_policy_set

    resolved = _settings()
    settings = resolved.settings
    if args.policy_file is not None:
        policy_file, source = args.policy_file, "--policy-file"
    else:
        policy_file = settings.policy_file
        source = resolved.sources.get("policy_file", "env GOLDEN_PATH_POLICY_FILE")
    if args.app_policy_file is not None:
        app_file, app_source = args.app_policy_file, "--app-policy-file"
    else:
        app_file = settings.app_policy_file
        app_source = resolved.sources.get("app_policy_file", "env GOLDEN_PATH_APP_POLICY_FILE")
    policy_set = load_policy_set(
        [policy_file] if policy_file else [],
        settings=settings,
        source=source,
        app_paths=[app_file] if app_file else [],
        app_source=app_source,
    )
    return settings, policy_set


def _layer(policy_set: Any, name: str) -> str:
    """`` [platform]``, `` [app]`` or `` [platform+app]``: where a decision's rule came from.

    Shown when an app policy file is layered on the platform's.
    """
    if not any("app" in layer for layer in policy_set.layers.values()):
        return ""  # one layer: every decision is the platform's
    layer = policy_set.layer_of(name)
    return f" [{layer}]" if layer else ""


def _read(path: Path) -> bytes:
    from golden_path._files import FileProblem, read_bounded
    from golden_path.exceptions import ConfigProblem

    try:
        return read_bounded(path, _MAX_REQUEST_BYTES)
    except FileProblem as exc:
        problem = ConfigProblem("REQUEST.json", exc.message, str(path), exc.fix)
        raise ConfigError([problem]) from None


# Far above the API's inline limit (20 MB): explain reads bodies, not media.
_MAX_REQUEST_BYTES = 64 << 20


def _url(
    *,
    backend: str,
    location: str,
    project: str,
    model: str,
    method: str,
    surface: str,
) -> str:
    from golden_path._routes import normalize_model

    bare = normalize_model(model) or model
    if backend == "vertex":
        host = (
            "https://aiplatform.googleapis.com"
            if location == "global"
            else f"https://{location}-aiplatform.googleapis.com"
        )
        prefix = f"/v1beta1/projects/{project}/locations/{location}"
        if surface == "openai":
            return f"{host}{prefix}/endpoints/openapi/chat/completions"
        suffix = "?alt=sse" if method.startswith("stream") else ""
        return f"{host}{prefix}/publishers/google/models/{bare}:{method}{suffix}"
    host = "https://generativelanguage.googleapis.com"
    if surface == "openai":
        return f"{host}/v1beta/openai/chat/completions"
    suffix = "?alt=sse" if method.startswith("stream") else ""
    return f"{host}/v1/models/{bare}:{method}{suffix}"
