"""`golden-path demo`: the whole golden path in one command, offline by default."""

from __future__ import annotations

import argparse
import json
import sys
from importlib import resources
from typing import Any

__all__ = ["register"]

DENIED_MODEL = "gemini-1.0-pro"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `demo` command."""
    parser = sub.add_parser(
        "demo",
        help="show generate, streaming, tokens, embeddings, a policy denial and audit",
        description="Run the golden path end to end. With no backend configured it uses the "
        "embedded Gemini API emulator (no credentials, no network); with one configured it "
        "uses that backend and its policies.",
    )
    parser.add_argument(
        "--emulator",
        action="store_true",
        help="use the embedded emulator even when a backend is configured",
    )
    parser.set_defaults(handler=run)


class _Out:
    def __init__(self) -> None:
        self.color = sys.stdout.isatty()
        self.step = 0

    def _c(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def title(self, text: str) -> None:
        print(self._c("1", text))

    def section(self, name: str) -> None:
        self.step += 1
        print()
        print(self._c("1;36", f"{self.step}. {name}"))

    def line(self, label: str, value: str) -> None:
        print(f"   {self._c('2', f'{label:<10}')} {value}")

    def ok(self, text: str) -> None:
        print(f"   {self._c('32', 'ok')}  {text}")

    def denied(self, text: str) -> None:
        print(f"   {self._c('33', 'denied')}  {text}")


def _backend(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """'emulator' with the demo's own policies, or the configured backend as it stands."""
    from golden_path._settings import load_settings
    from golden_path.exceptions import ConfigError

    demo_policies = resources.files("golden_path._cli").joinpath("demo_policies.toml")
    emulated = {
        "backend": "emulator",
        "policy_file": str(demo_policies),
        "app": "demo",
        "team": "golden-path",
    }
    if args.emulator:
        return "embedded emulator", emulated
    try:
        settings = load_settings().settings
    except ConfigError:
        return "embedded emulator (no backend configured)", emulated
    return f"{settings.backend} (from your configuration)", {}


def run(args: argparse.Namespace) -> int:  # noqa: PLR0915 - a script, read top to bottom
    """Walk through the golden path, printing each step and, last, the audit trail."""
    from golden_path._cli._common import describe_api_error
    from golden_path._factory import create_client
    from golden_path.exceptions import PolicyViolation
    from golden_path.testing import AuditCapture

    out = _Out()
    where, overrides = _backend(args)
    audit = AuditCapture()
    client = create_client(audit_sinks=[audit], **overrides)
    from golden_path._settings import load_settings

    model = load_settings(**overrides).settings.model
    out.title(f"golden-path demo: {where}")
    out.line("client", f"{type(client).__module__}.{type(client).__name__}  (the SDK's own)")
    try:
        out.section("generate")
        prompt = "Say hello to the platform team"
        answer = client.models.generate_content(model=model, contents=prompt)
        out.line("prompt", prompt)
        out.line("answer", (answer.text or "").strip())
        usage = answer.usage_metadata
        if usage is not None:
            out.line("tokens", f"{usage.prompt_token_count} in, {usage.candidates_token_count} out")

        out.section("streaming")
        chunks = 0
        sys.stdout.write(f"   {'answer':<10} ")
        for chunk in client.models.generate_content_stream(
            model=model, contents="Stream a short answer about golden paths"
        ):
            chunks += 1
            sys.stdout.write(chunk.text or "")
            sys.stdout.flush()
        print()
        out.line("chunks", str(chunks))

        out.section("token counting")
        counted = client.models.count_tokens(
            model=model, contents="How many tokens is this sentence?"
        )
        out.line("tokens", str(counted.total_tokens))

        out.section("embeddings")
        from google.genai import types

        embedded = client.models.embed_content(
            model="gemini-embedding-001",
            contents=["golden", "path"],
            config=types.EmbedContentConfig(output_dimensionality=256),
        )
        vectors = embedded.embeddings or []
        out.line("vectors", f"{len(vectors)} x {len(vectors[0].values or []) if vectors else 0}")

        out.section("policy")
        try:
            client.models.generate_content(model=DENIED_MODEL, contents="hi")
        except PolicyViolation as violation:
            out.denied(
                f"{DENIED_MODEL}: {violation.reason} (policy {violation.policy!r}, "
                f"request {violation.request_id}); nothing was sent"
            )
        else:
            out.ok(f"{DENIED_MODEL} was allowed: no model allowlist is configured")
    except Exception as exc:
        remote = describe_api_error(exc)
        if remote is None:
            raise
        raise remote from None

    out.section("audit trail (one event per request)")
    keys = (
        "request_id",
        "method",
        "model",
        "outcome",
        "http_status",
        "latency_ms",
        "prompt_tokens",
        "output_tokens",
    )
    for event in audit.events:
        data = event.as_dict()
        print("   " + json.dumps({k: data.get(k) for k in keys}, separators=(",", ":")))
    decisions = [d for e in audit.events for d in e.policy]
    out.line("decisions", ", ".join(f"{d['policy']}:{d['action']}" for d in decisions) or "-")
    print()
    print("Next: configure a real backend (README: Quickstart) and run `golden-path doctor`.")
    return 0
