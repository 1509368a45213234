"""The HTTP layer: validation errors, limits, concurrency, disconnects and binding."""

from __future__ import annotations

import argparse
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2
import pytest
from google import genai

from golden_path._cli import emulator as emulator_cli
from golden_path.emulator import Emulator
from golden_path.exceptions import EmulatorError

from .conftest import MODEL, http_options, raw_client

GENERATE = f"/v1/models/{MODEL}:generateContent"
KEY = {"x-goog-api-key": "k"}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (b"{not json", None, "Invalid JSON payload received."),
        (b'{"contents": [], "foo": 1}', "foo", 'Unknown name "foo"'),
        (b"{}", "contents", "GenerateContentRequest.contents: contents is not specified"),
        (b'{"contents": "hi"}', "contents", "Invalid value at 'contents'"),
        (b'{"contents": [{"role": "user"}]}', "contents[0].parts", "must not be empty"),
        (b'{"contents": [{"parts": [{"text": "x"}]}], "generationConfig": 3}',
         "generation_config", "Invalid value at 'generation_config'"),
        # Checked against Google's published request schemas (request_schemas.json):
        (b'{"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"temperature": "hot"}}',
         "generation_config.temperature",
         "Invalid value at 'generation_config.temperature' (TYPE_FLOAT), \"hot\""),
        (b'{"contents": [{"parts": [{"text": "x", "colour": 1}]}]}', "contents[0].parts[0].colour",
         'Unknown name "colour" at \'contents[0].parts[0]\': Cannot find field.'),
        (b'{"contents": [{"parts": [{"text": "x"}]}], "generationConfig": '
         b'{"candidateCount": 99999999999}}', "generation_config.candidate_count",
         "(TYPE_INT32), 99999999999"),
        (b'{"contents": [{"parts": [{"text": "x"}]}], "safetySettings": '
         b'[{"category": "HARM_CATEGORY_NOPE", "threshold": "BLOCK_NONE"}]}',
         "safety_settings[0].category", "(TYPE_ENUM)"),
        (b'{"contents": [{"parts": [{"text": "x"}]}], "tools": {"x": 1}}', "tools",
         "Invalid value at 'tools'"),
    ],
)  # fmt: skip
def test_malformed_requests_name_the_field(
    raw: httpx2.Client, body: bytes, field: str | None, message: str
) -> None:
    """Bad request bodies answer 400 INVALID_ARGUMENT with a message naming what is wrong."""
    response = raw.post(GENERATE, headers=KEY | {"content-type": "application/json"}, content=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert message in error["message"]
    if field is not None:
        assert error["details"][0]["fieldViolations"][0]["field"] == field


def test_unknown_path_is_404(raw: httpx2.Client) -> None:
    """A path no Google API serves answers 404 NOT_FOUND in Google's error shape."""
    response = raw.get("/v2/nothing/here", headers=KEY)
    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"


def test_unknown_method_is_404(raw: httpx2.Client) -> None:
    """An unknown model method answers 404."""
    response = raw.post(f"/v1/models/{MODEL}:teleport", headers=KEY, json={})
    assert response.status_code == 404


def test_oversized_body_is_413(raw: httpx2.Client, emu: Emulator) -> None:
    """A body over 20 MB answers 413 and the connection keeps serving."""
    response = raw.post(GENERATE, headers=KEY, content=b"x" * (20 * 1024 * 1024 + 1))
    assert response.status_code == 413
    assert "exceeds the limit" in response.json()["error"]["message"]
    [refused] = emu.requests
    assert (refused.path, refused.raw_body, refused.kind) == (GENERATE, b"", "other")
    ok = raw.post(GENERATE, headers=KEY, json={"contents": [{"parts": [{"text": "after"}]}]})
    assert ok.status_code == 200


def test_repeated_headers_are_joined(emu: Emulator) -> None:
    """A repeated header is recorded once, its values joined with ", ", names lower-cased."""
    with raw_client(emu.url) as client:
        client.post(
            GENERATE,
            headers=[("X-Goog-Api-Key", "k"), ("X-Tag", "a"), ("X-Tag", "b")],
            json={"contents": [{"parts": [{"text": "x"}]}]},
        )
    [request] = emu.api_requests()
    assert request.headers["x-tag"] == "a, b"
    assert request.raw_body.startswith(b"{")


def test_chunked_request_body(emu: Emulator) -> None:
    """A request body sent with chunked transfer encoding is read whole."""

    def parts() -> Any:
        yield b'{"contents": [{"parts": '
        yield b'[{"text": "chunked"}]}]}'

    with raw_client(emu.url) as client:
        response = client.post(GENERATE, headers=KEY, content=parts())
    assert response.json()["candidates"][0]["content"]["parts"][0]["text"] == "Echo: chunked"


def test_64_concurrent_clients(emu: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    """64 threads, each with its own SDK client, all get every answer."""
    clients = [genai.Client(api_key=f"k{i}", http_options=http_options(emu)) for i in range(64)]
    start = threading.Barrier(64)

    def work(index: int) -> list[str | None]:
        client = clients[index]
        start.wait()
        texts = []
        for round_ in range(3):
            prompt = f"client {index} round {round_}"
            texts.append(client.models.generate_content(model=MODEL, contents=prompt).text)
        chunks = client.models.generate_content_stream(model=MODEL, contents=f"s{index}")
        texts.append("".join(c.text or "" for c in chunks))
        return texts

    with ThreadPoolExecutor(max_workers=64) as pool:
        results = list(pool.map(work, range(64)))
    for client in clients:
        client.close()
    for index, texts in enumerate(results):
        expected = [f"Echo: client {index} round {r}" for r in range(3)] + [f"Echo: s{index}"]
        assert texts == expected
    answered = sum(len(t) for t in results)
    with capsys.disabled():
        print(f"\n64 concurrent clients: {answered} answers, {len(emu.api_requests())} requests")
    assert answered == len(emu.api_requests()) == 64 * 4


def test_survives_abrupt_disconnect_mid_stream(emu: Emulator, raw: httpx2.Client) -> None:
    """A client that resets its connection mid-stream does not stop the server."""
    chunk = {"candidates": [{"content": {"role": "model", "parts": [{"text": "x" * 4096}]}}]}
    for _ in range(3):
        emu.script_response([chunk] * 2000)
        body = b'{"contents": [{"parts": [{"text": "stream"}]}]}'
        request = (
            f"POST /v1/models/{MODEL}:streamGenerateContent?alt=sse HTTP/1.1\r\n"
            f"Host: {emu.host}\r\nx-goog-api-key: k\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        ).encode() + body
        with socket.create_connection((emu.host, emu.port)) as sock:
            sock.sendall(request)
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
            # RST instead of FIN, as a killed process would.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ok = raw.post(GENERATE, headers=KEY, json={"contents": [{"parts": [{"text": "alive"}]}]})
    assert ok.json()["candidates"][0]["content"]["parts"][0]["text"] == "Echo: alive"


def test_garbage_request_line(emu: Emulator, raw: httpx2.Client) -> None:
    """Bytes that are not HTTP get an error or a closed connection, never a dead server."""
    with socket.create_connection((emu.host, emu.port)) as sock:
        sock.sendall(b"\x00\xff garbage \r\n\r\n")
        sock.recv(1024)
    assert raw.get("/v1/models", headers=KEY).status_code == 200


def test_port_in_use() -> None:
    """Starting on a taken port raises EmulatorError naming the port and the fix."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EmulatorError) as caught:
            Emulator(port=port).start()
    assert str(caught.value) == f"port {port} on 127.0.0.1 is in use; pick another with --port"


def test_stop_closes_idle_connections(emu: Emulator) -> None:
    """stop() also closes keep-alive connections, so no thread serves a stopped emulator."""
    with raw_client(emu.url) as client:
        assert client.get("/v1/models", headers=KEY).status_code == 200
        emu.stop()
        with pytest.raises(httpx2.TransportError):
            client.get("/v1/models", headers=KEY)


def _cli_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    emulator_cli.register(parser.add_subparsers())
    return parser.parse_args(["emulator", *argv])


def test_cli_serves_until_stopped(capsys: pytest.CaptureFixture[str]) -> None:
    """`golden-path emulator` prints its URL and env vars, serves, and returns 0 when stopped."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = _cli_args("--port", str(port), "--api-key", "a", "--api-key", "b")
    assert args.handler is emulator_cli.run
    stop = threading.Event()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(emulator_cli.run(args, stop=stop)))
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while f"127.0.0.1:{port}" not in capsys.readouterr().out and time.monotonic() < deadline:
            time.sleep(0.02)
        with raw_client(f"http://127.0.0.1:{port}") as client:
            assert client.get("/v1/models", headers={"x-goog-api-key": "b"}).status_code == 200
            assert client.get("/v1/models", headers={"x-goog-api-key": "c"}).status_code == 400
    finally:
        stop.set()
        thread.join(5)
    assert result == [0]


def test_cli_port_in_use_raises(emu: Emulator) -> None:
    """The CLI raises EmulatorError (printed by the main command) when the port is taken."""
    args = _cli_args("--port", str(emu.port))
    with pytest.raises(EmulatorError, match=f"port {emu.port} on 127.0.0.1 is in use"):
        emulator_cli.run(args)


def test_cli_process_stops_on_sigterm() -> None:
    """`golden-path emulator` in its own process answers, then exits 0 on SIGTERM."""
    process = subprocess.Popen(
        [sys.executable, "-m", "golden_path", "emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        url = first.rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:")
        with raw_client(url) as client:
            assert client.get("/v1/models", headers=KEY).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.communicate()
