"""Which rows of golden-path's route table the emulator serves, found by asking it.

``python -m golden_path.emulator._coverage`` prints the Markdown table docs/testing.md holds
between its ``routes:begin`` and ``routes:end`` markers (a test checks they agree). Each route
of :data:`golden_path._routes.ROUTES` is probed on each backend that has it: a real request to
a running emulator, with a valid credential; a route is *emulated* unless the answer is the
emulator's "does not serve" line. What the answers look like comes from :data:`ANSWERS`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from golden_path._routes import Route
    from golden_path.emulator import Emulator

ANSWERS: dict[str, str] = {
    "generateContent": "`Echo: <prompt>` by the documented rules (tools, JSON, thoughts)",
    "streamGenerateContent": "the same answer as SSE chunks, usage on the last",
    "countTokens": "one token per 4 characters",
    "computeTokens": "4-character tokens, base64, with ids",
    "embedContent": "unit vectors seeded by model and text",
    "batchEmbedContents": "unit vectors seeded by model and text",
    "predict": "Imagen: valid PNGs; text-embedding models: vectors",
    "predictLongRunning": "a video operation, done after `timings.video_s`",
    "fetchPredictOperation": "the operation; videos (bytes or gs:// URIs) when done",
    "models.list": "the catalogue of published model ids (+ tuned models)",
    "models.get": "the catalogue entry; 404 for unknown ids",
    "models.update": "tuned models: display name, description",
    "models.delete": "tuned models",
    "operations.get": "tuning and video operations on the emulator clock",
    "operations.list": "video operations under the path, newest first",
    "files.upload": "resumable protocol (start, chunks at offsets, finalize)",
    "files.create": "resumable protocol (start, chunks at offsets, finalize)",
    "files.list": "newest first, paged",
    "files.get": "PROCESSING (video/audio) then ACTIVE",
    "files.delete": "`{}`",
    "files.download": "the bytes of generated files (batch results, videos)",
    "files.register": "gs:// URIs as files",
    "cachedContents.create": "token count, expireTime from ttl",
    "cachedContents.list": "live caches, paged",
    "cachedContents.get": "404/403 once expired on the emulator clock",
    "cachedContents.delete": "`{}`",
    "cachedContents.update": "new ttl or expireTime",
    "batchGenerateContent": "PENDING -> RUNNING -> SUCCEEDED; inline results or a results file",
    "asyncBatchEmbedContent": "as batches, with embeddings",
    "batches.list": "`operations`, newest first",
    "batches.get": "state on the emulator clock",
    "batches.delete": "`{}`",
    "batches.cancel": "CANCELLED",
    "batchPredictionJobs.create": "JOB_STATE_* on the emulator clock, outputInfo when done",
    "batchPredictionJobs.list": "newest first",
    "batchPredictionJobs.get": "state on the emulator clock",
    "batchPredictionJobs.delete": "a done delete operation",
    "batchPredictionJobs.cancel": "JOB_STATE_CANCELLED",
    "tunedModels.create": "an operation; the tuned model turns ACTIVE on the clock",
    "tuningJobs.create": "JOB_STATE_* on the clock; tunedModel and endpoint when done",
    "tuningJobs.list": "newest first",
    "tuningJobs.get": "state on the emulator clock",
    "tuningJobs.cancel": "JOB_STATE_CANCELLED",
    "tuningJobs.validateReinforcementTuningReward": "`{}`",
    "auth_tokens.create": "`auth_tokens/...`, usable on the constrained Live endpoint",
    "interactions.create": "a completed interaction (or SSE events when streamed)",
    "interactions.get": "the stored interaction",
    "interactions.delete": "`{}`",
    "interactions.cancel": "the interaction",
    "interactions.auth_tokens.create": "a token for one interaction; `expire_time` honoured",
    "interactions.auth_tokens.delete": "`{}`; the token stops working",
    "interactions.connect": "websocket: connected, a model step per input with its usage, "
    "completed/cancelled with the total; auth tokens for their own interaction only",
    "chat.completions": "OpenAI shape; `n`, tools, response_format, streaming",
    "embeddings": "OpenAI shape",
    "responses": "`Echo: <input>`, stored unless `store` is false; streamed as events",
    "responses.get": "the stored response",
    "responses.delete": "`deleted: true`; the response is gone",
    "images.generations": "OpenAI shape, base64 PNGs",
    "models": "OpenAI shape",
    "live.connect": "TLS websocket: setupComplete, turns, tool calls, usage, goAway",
    "live.connectConstrained": "the same, authorised by an ephemeral `auth_tokens/...`",
}
"""What each emulated route answers, by API method name (the route table's ``name``)."""

_FILLS = {"model": "gemini-2.5-flash", "publisher": "google"}


def _path(template: str, route: Route) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match[1]
        if name == "model" and route.name in ("predict",):
            return "imagen-4.0-generate-001"
        return _FILLS.get(name, "x")

    return re.sub(r"\{([a-zA-Z_]+)\}", fill, template)


def served(emu: Emulator, route: Route, backend: str, bearer: str) -> bool:
    """Whether the emulator answers ``route`` on ``backend`` (anything but "does not serve")."""
    if route.stream == "ws":
        return route.name in ANSWERS
    return "does not serve" not in answer(emu, route, backend, bearer)


def answer(emu: Emulator, route: Route, backend: str, bearer: str) -> str:
    """The emulator's answer to an empty request on ``route`` (first template on ``backend``)."""
    import httpx2

    template = (route.gemini if backend == "gemini" else route.vertex)[0]
    root = "/v1beta" if backend == "gemini" else "/v1beta1"
    if (backend == "vertex" and not template.startswith("publishers/")) or route.name == "predict":
        root += "/projects/p/locations/us-central1" if backend == "vertex" else ""
    if route.surface == "openai":
        root = "/v1beta" if backend == "gemini" else "/v1beta1/projects/p/locations/us-central1"
    upload = "/upload" if route.upload else ""
    url = f"{emu.url}{upload}{root}/{_path(template, route)}"
    headers = {"x-goog-api-key": "k"} if backend == "gemini" else {"authorization": bearer}
    with httpx2.Client(timeout=10) as http:
        return http.request(route.http, url, headers=headers, json={}).text


def table() -> str:
    """The Markdown table of every route, emulated or not."""
    import tempfile
    from pathlib import Path

    import google.auth.transport.requests
    from google.oauth2 import service_account

    from golden_path._routes import ROUTES
    from golden_path.emulator import Emulator

    lines = [
        "| surface | API method | HTTP | Gemini API | Vertex AI | emulated answer |",
        "|---|---|---|---|---|---|",
    ]
    with Emulator() as emu, tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "sa.json"
        emu.create_service_account_key(key)
        credentials = service_account.Credentials.from_service_account_file(
            str(key), scopes=["https://www.googleapis.com/auth/cloud-platform"]
        )
        credentials.refresh(google.auth.transport.requests.Request())
        bearer = f"Bearer {credentials.token}"
        for route in ROUTES:
            cells = []
            for backend in ("gemini", "vertex"):
                templates = route.gemini if backend == "gemini" else route.vertex
                if not templates:
                    cells.append("—")
                else:
                    cells.append(
                        "emulated" if served(emu, route, backend, bearer) else "not emulated"
                    )
            answer = ANSWERS.get(route.name, "") if "emulated" in cells else ""
            lines.append(
                f"| {route.surface} | `{route.name}` | {route.http} | {cells[0]} | {cells[1]} "
                f"| {answer} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(table(), end="")
