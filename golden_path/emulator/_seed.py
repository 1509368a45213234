"""Resources that exist before a test starts, as if made in the project long ago.

``Emulator.seed(name, **fields)`` puts a finished resource under an exact name: a cached
content (alive for an hour of the emulator's clock), a file (``ACTIVE``), a Gemini batch or
Vertex batch prediction job (succeeded), a Gemini tuned model or Vertex tuning job (succeeded;
a Vertex ``models/ID`` or ``endpoints/ID`` is the model or endpoint of tuning job ``ID``) or
an operation (done; a Veo model's, ``models/veo-.../operations/ID``, holds one generated
video). Tests that name resources of a real project (a cache id recorded in production, a
tuned model the team uses) run against the emulator unchanged. ``fields`` are stored as
given, over the defaults.
"""

from __future__ import annotations

import json
import re
from typing import Any

from golden_path.emulator._clock import rfc3339
from golden_path.emulator._jobs import video_response
from golden_path.emulator._resources import Store, Where

_NAME = re.compile(
    r"^(?:projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/)?"
    r"(?:(?:publishers/google/)?models/(?P<model>[^/]+)/(?=operations/))?"
    r"(?P<collection>cachedContents|files|batches|batchPredictionJobs|tunedModels|tuningJobs"
    r"|models|endpoints|operations)/(?P<id>[A-Za-z0-9_.-]+)$"
)
_DEFAULT_MODEL = "gemini-2.5-flash"
_CACHE_LIFETIME_S = 3600.0
COLLECTIONS = (
    "cachedContents", "files", "batches", "batchPredictionJobs", "tunedModels", "tuningJobs",
    "models", "endpoints", "operations",
)  # fmt: skip
"""What :func:`seed` can make, by the collection part of the name."""


def seed(store: Store, name: str, fields: dict[str, Any], base: str = "") -> None:
    """Make the resource ``name`` exist, finished; raise ValueError for a name it can't make.

    ``base`` is the emulator's URL, for the URIs of seeded files.
    """
    m = _NAME.match(name)
    vertex_only = ("batchPredictionJobs", "tuningJobs", "models", "endpoints")
    if m is None or (m["collection"] in vertex_only and not m["project"]):
        raise ValueError(
            f"cannot seed {name!r}: give a resource name such as cachedContents/ID, files/ID, "
            "batches/ID, tunedModels/ID, operations/ID or projects/P/locations/L/"
            "{cachedContents,batchPredictionJobs,tuningJobs,models,endpoints,operations}/ID"
        )
    where = Where(bool(m["project"]), "v1beta", m["project"] or "", m["location"] or "", base)
    collection, rid = m["collection"], m["id"]
    now = store.clock.now()
    # Finished: created before the emulator's clock says a job is done.
    done = now - store.timings.job_run_s - 1.0
    if collection == "cachedContents":
        _seed_cache(store, name, now, fields)
    elif collection == "files":
        _seed_file(store, where, name, now, fields)
    elif collection in ("batches", "batchPredictionJobs"):
        _seed_batch(store, where, name, done, fields)
    elif collection in ("models", "endpoints"):
        _seed_tuning(store, where.named("tuningJobs", rid), done, fields, gemini=False)
    elif collection in ("tunedModels", "tuningJobs"):
        _seed_tuning(store, name, done, fields, gemini=collection == "tunedModels")
    else:
        response = fields.pop("response", None)
        if response is None and str(m["model"] or "").startswith("veo-"):
            # A model's video operation: done, with one generated video.
            response = video_response(store, where, "", 1, None)
        op = {"name": name, "_done_at": now, "_response": response or {}, **fields}
        with store.lock:
            store.operations[name] = op


def _seed_cache(store: Store, name: str, now: float, fields: dict[str, Any]) -> None:
    expires = now + _CACHE_LIFETIME_S
    tokens = int(fields.pop("tokens", 1024))
    model = fields.pop("model", _DEFAULT_MODEL)
    if name.startswith("projects/"):
        parent = name.split("/cachedContents/", maxsplit=1)[0]
        model = f"{parent}/publishers/google/models/{model.rsplit('/', 1)[-1]}"
    elif not model.startswith("models/"):
        model = f"models/{model}"
    cache = {
        "name": name, "model": model, "createTime": rfc3339(now), "updateTime": rfc3339(now),
        "expireTime": rfc3339(expires), "usageMetadata": {"totalTokenCount": tokens},
        "_expires": expires, "_tokens": tokens, **fields,
    }  # fmt: skip
    with store.lock:
        store.caches[name] = cache


def _seed_file(store: Store, where: Where, name: str, now: float, fields: dict[str, Any]) -> None:
    data = fields.pop("data", b"")
    uri = f"{where.base}/{where.version}/{name}"
    resource = {
        "name": name, "mimeType": "text/plain", "sizeBytes": str(len(data)),
        "createTime": rfc3339(now), "updateTime": rfc3339(now),
        "expirationTime": rfc3339(now + 48 * 3600), "source": "UPLOADED", "uri": uri,
        "_ready": now, **fields,
    }  # fmt: skip
    if resource["source"] == "GENERATED":  # what models made (videos, batch results)
        resource["downloadUri"] = f"{uri}:download?alt=media"
    with store.lock:
        store.files.pop(name, None)  # seeded again: the newest file, as a fresh upload is
        store.files[name] = resource
        store.file_data[name] = data


def _seed_batch(store: Store, where: Where, name: str, done: float, fields: dict[str, Any]) -> None:
    model = fields.pop("model", _DEFAULT_MODEL).rsplit("/", 1)[-1]
    rid = name.rsplit("/", 1)[-1]
    job: dict[str, Any]
    if where.vertex:
        job = {
            "name": name, "displayName": f"batch-{rid}",
            "model": f"publishers/google/models/{model}",
            "inputConfig": {"instancesFormat": "jsonl",
                            "gcsSource": {"uris": ["gs://seeded/requests.jsonl"]}},
            "outputConfig": {"predictionsFormat": "jsonl",
                             "gcsDestination": {"outputUriPrefix": "gs://seeded/out"}},
            "_created": done, **fields,
        }  # fmt: skip
    else:
        # embed=True: an embedding batch; responses="file": results in a generated file.
        embed = bool(fields.pop("embed", False))
        output: dict[str, Any] = {
            "inlinedEmbedContentResponses" if embed else "inlinedResponses": {
                "inlinedResponses": [_seed_answer(embed)]
            }
        }
        if fields.pop("responses", "inline") == "file":
            line = json.dumps({"key": "1", "response": _seed_answer(embed)["response"]})
            out = store.add_file(
                where, (line + "\n").encode(), "application/jsonl", None, source="GENERATED"
            )
            output = {"responsesFile": out["name"]}
        job = {
            "name": name, "_created": done, "_model": f"models/{model}",
            "_display": fields.pop("displayName", f"batch-{rid}"),
            "_output": output, "_count": 1, "_embed": embed, **fields,
        }  # fmt: skip
    with store.lock:
        store.batches[name] = job


def _seed_answer(embed: bool) -> dict[str, Any]:
    if embed:
        return {"response": {"embedding": {"values": [1.0, 0.0, 0.0]}}}
    content = {"role": "model", "parts": [{"text": "Echo: Hello"}]}
    return {"response": {"candidates": [{"content": content, "finishReason": "STOP"}]}}


def _seed_tuning(
    store: Store, name: str, done: float, fields: dict[str, Any], *, gemini: bool
) -> None:
    base = fields.pop("baseModel", _DEFAULT_MODEL).rsplit("/", 1)[-1]
    job: dict[str, Any] = {"name": name, "_created": done}
    if gemini:
        job |= {"baseModel": f"models/{base}", "_gemini": True}
    else:
        job |= {"baseModel": base}
    with store.lock:
        store.tunings[name] = job | fields
