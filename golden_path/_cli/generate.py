"""`golden-path generate PROMPT`: one governed call, streamed to the terminal as it arrives."""

from __future__ import annotations

import argparse
import sys

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `generate` command."""
    parser = sub.add_parser(
        "generate",
        help="generate text from a prompt (streamed)",
        description="Send PROMPT through the configured golden-path client "
        "and stream the answer. Use '-' to read the prompt from stdin.",
    )
    parser.add_argument("prompt", help="the prompt, or - for standard input")
    parser.add_argument("--model", help="model id or alias (default: GOLDEN_PATH_MODEL)")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print each response chunk as a JSON line instead of text",
    )
    parser.add_argument("--no-stream", action="store_true", help="one request, one response")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Stream the answer; API and connection errors become one-line messages (exit 1)."""
    from golden_path._cli._common import describe_api_error, err
    from golden_path._factory import client as get_client
    from golden_path._settings import check_value, load_settings

    if args.model is not None:
        check_value("model", args.model, "--model")
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not prompt.strip():
        err("the prompt is empty; pass text or pipe it with '-'")
        return 2
    model = args.model or load_settings().settings.model
    client = get_client()
    try:
        if args.no_stream:
            response = client.models.generate_content(model=model, contents=prompt)
            if args.json:
                print(response.model_dump_json(exclude_none=True))
            else:
                print(response.text or "")
            return 0
        for chunk in client.models.generate_content_stream(model=model, contents=prompt):
            if args.json:
                print(chunk.model_dump_json(exclude_none=True), flush=True)
            elif chunk.text:
                sys.stdout.write(chunk.text)
                sys.stdout.flush()
        if not args.json:
            sys.stdout.write("\n")
    except Exception as exc:
        remote = describe_api_error(exc)
        if remote is None:
            raise
        err(str(remote))
        return 1
    return 0
