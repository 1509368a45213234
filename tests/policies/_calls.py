"""One generate call three ways (sync, async, streaming), so each behaviour is pinned for all."""

from __future__ import annotations

import asyncio
from typing import Any

MODES = ("sync", "async", "stream")


def generate(client: Any, mode: str, model: str, contents: Any, config: Any = None) -> str:
    """Call generate_content the given way; return the answer's text."""
    if mode == "sync":
        return str(
            client.models.generate_content(model=model, contents=contents, config=config).text
        )
    if mode == "async":

        async def run() -> str:
            response = await client.aio.models.generate_content(
                model=model, contents=contents, config=config
            )
            return str(response.text)

        return asyncio.run(run())
    return "".join(
        chunk.text or ""
        for chunk in client.models.generate_content_stream(
            model=model, contents=contents, config=config
        )
    )
