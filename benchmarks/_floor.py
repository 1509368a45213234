"""The floor under the gateway's figures: the least a Python proxy does on the gateway's server.

uvicorn, configured as the gateway configures it (the same HTTP protocol class, uvloop when
importable, no access log, no Server header, no proxy headers), running an ASGI app that reads
the body, writes it to the upstream on one kept-alive connection and sends the upstream's answer
back. No authentication, no route table, no policies, no credentials, no audit, no metrics,
no httpx2: what is left is the server, the event loop and the two extra hops on loopback, so
the gap between this row and the gateway's is what golden-path's own code costs.

Run: ``python -m benchmarks._floor UPSTREAM_URL PORT [asyncio]`` (benchmarks.gateway starts it;
``asyncio`` hides uvloop, as ``--loop asyncio`` does for the gateway).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any
from urllib.parse import urlsplit


def app_for(upstream: str) -> Any:
    """The least proxy: one kept-alive upstream connection per concurrent request."""
    parts = urlsplit(upstream)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        reader, writer = idle.pop() if idle else await asyncio.open_connection(host, port)
        writer.write(
            b"%s %s HTTP/1.1\r\nhost: %s\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s"
            % (scope["method"].encode(), scope["raw_path"], parts.netloc.encode(), len(body), body)
        )
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        answer = await reader.readexactly(length)
        idle.append((reader, writer))
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % length)]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    return app


def main(argv: list[str]) -> int:
    upstream, port, *loop = argv
    if loop == ["asyncio"]:
        sys.modules["uvloop"] = None  # type: ignore[assignment]
    import uvicorn

    from golden_path.gateway._server import _http_protocol

    uvicorn.run(
        app_for(upstream),
        host="127.0.0.1",
        port=int(port),
        http=_http_protocol(),
        lifespan="on",
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
