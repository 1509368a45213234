"""Long-running work: batches, tuning jobs, operations (video), and the model methods that start it.

Also the model methods with no state of their own but not plain generation: Imagen
``:predict``, ``:computeTokens`` and ephemeral auth tokens. Every job moves on the emulator's
clock (see ``_resources``): PENDING until ``job_start_s``, RUNNING until ``job_run_s``, then
SUCCEEDED; a cancelled job stays CANCELLED. Results are computed when the job is created, from
the same deterministic answers ``generateContent`` gives.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from typing import Any

from golden_path.emulator import _answers, _catalogue
from golden_path.emulator._clock import rfc3339
from golden_path.emulator._http import (
    Incoming,
    ModelCall,
    Reply,
    google_error,
    json_reply,
    not_served,
)
from golden_path.emulator._png import png
from golden_path.emulator._resources import (
    Route,
    Store,
    Where,
    _bad,
    _body,
    _page,
    _public,
    _r,
    new_id,
)

_GEMINI_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta"
_VERTEX_TYPE = "type.googleapis.com/google.cloud.aiplatform.v1beta1"
_G = frozenset({"gemini"})
_V = frozenset({"vertex"})
_GV = frozenset({"gemini", "vertex"})
_ID = r"(?P<id>[A-Za-z0-9_.@-]+)"

_MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom\x00\x00\x00\x08free\x00\x00\x00\x08mdat"
"""The smallest MP4 container (ftyp, free, empty mdat): players open it, it shows nothing."""


def _where(call: ModelCall, store: Store) -> Where:
    host = call.incoming.headers.get("host", "127.0.0.1")
    base = f"{call.incoming.scheme}://{host}"
    return Where(call.backend == "vertex", call.version, call.project, call.location, base)


def _phase(store: Store, job: dict[str, Any]) -> str:
    """``pending``, ``running``, ``succeeded`` or ``cancelled`` at the emulator's clock now."""
    if job.get("_cancelled"):
        return "cancelled"
    age = store.clock.now() - job["_created"]
    if age < store.timings.job_start_s:
        return "pending"
    if age < store.timings.job_run_s:
        return "running"
    return "succeeded"


# -- batches -------------------------------------------------------------------------------------

_GEMINI_BATCH_STATES = {
    "pending": "BATCH_STATE_PENDING",
    "running": "BATCH_STATE_RUNNING",
    "succeeded": "BATCH_STATE_SUCCEEDED",
    "cancelled": "BATCH_STATE_CANCELLED",
}
_VERTEX_JOB_STATES = {
    "pending": "JOB_STATE_PENDING",
    "running": "JOB_STATE_RUNNING",
    "succeeded": "JOB_STATE_SUCCEEDED",
    "cancelled": "JOB_STATE_CANCELLED",
}


def _generate_answer(request: Any, model: str, *, vertex: bool) -> dict[str, Any]:
    from golden_path.emulator import _gemini

    if not isinstance(request, dict):
        return _item_error("INVALID_ARGUMENT", "request must be a GenerateContentRequest")
    problem = _gemini.validate_generate(request, "GenerateContentRequest")
    if problem is not None:
        error = json.loads(problem.body)["error"]
        return _item_error(str(error["status"]), str(error["message"]))
    return _gemini.answer(request, model, vertex=vertex)


_RPC_CODES = {"INVALID_ARGUMENT": 3, "NOT_FOUND": 5, "PERMISSION_DENIED": 7}


def _item_error(status: str, message: str) -> dict[str, Any]:
    """A batch item's error: a ``google.rpc.Status`` (gRPC code, message).

    Not the HTTP envelope: its ``details`` are typed messages, which google-genai's
    ``JobError.details`` (``list[str]``) cannot read, so one bad item would make the whole
    batch unreadable through the SDK.
    """
    return {"error": {"code": _RPC_CODES.get(status, 2), "message": message}}


def _embed_answer(request: Any, model: str) -> dict[str, Any]:
    text = " ".join(_answers.content_texts(_answers.as_dict(request).get("content")))
    if not text:
        return _item_error("INVALID_ARGUMENT", "content is not specified")
    dims = _answers.default_dimensions(model)
    return {"embedding": {"values": _answers.embedding(text, model, dims)}}


def _batch_create(call: ModelCall, store: Store, *, embed: bool) -> Reply:
    where = _where(call, store)
    body = _body(call.incoming)
    batch = body.get("batch")
    if not isinstance(batch, dict):
        return _bad("* BatchGenerateContentRequest.batch: batch is not specified")
    source = _answers.as_dict(batch.get("inputConfig"))
    inline = _answers.as_dict(source.get("requests")).get("requests")
    # The SDK spells it file_name for embedding batches; Google's parser takes both spellings.
    file_name = source.get("fileName", source.get("file_name"))
    if isinstance(inline, list) and inline:
        responses = []
        for raw_item in inline:
            item = _answers.as_dict(raw_item)
            request = item.get("request")
            answer = (
                _embed_answer(request, call.model)
                if embed
                else _generate_answer(request, call.model, vertex=False)
            )
            out: dict[str, Any] = (
                {"error": answer["error"]} if "error" in answer else {"response": answer}
            )
            if "metadata" in item:
                out["metadata"] = item["metadata"]
            responses.append(out)
        key = "inlinedEmbedContentResponses" if embed else "inlinedResponses"
        output: dict[str, Any] = {key: {"inlinedResponses": responses}}
        count = len(inline)
    elif isinstance(file_name, str) and file_name:
        with store.lock:
            data = store.file_data.get(file_name)
        if data is None:
            return google_error(404, f"Input file {file_name} was not found; upload it first.")
        lines = []
        count = 0
        for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                return _bad(f"{file_name} line {number} is not JSON.")
            entry = _answers.as_dict(entry)
            answer = (
                _embed_answer(entry.get("request"), call.model)
                if embed
                else _generate_answer(entry.get("request"), call.model, vertex=False)
            )
            result: dict[str, Any] = {"key": entry.get("key", str(number))}
            result["error" if "error" in answer else "response"] = answer.get("error", answer)
            lines.append(json.dumps(result))
            count += 1
        out_file = store.add_file(
            where, ("\n".join(lines) + "\n").encode(), "application/jsonl", None,
            source="GENERATED",
        )  # fmt: skip
        output = {"responsesFile": out_file["name"]}
    else:
        return _bad(
            "* BatchGenerateContentRequest.batch.input_config: give requests.requests or fileName"
        )
    rid = new_id(vertex=False)
    now = store.clock.now()
    job: dict[str, Any] = {
        "name": f"batches/{rid}",
        "_created": now,
        "_model": f"models/{call.model}",
        "_display": batch.get("displayName") or f"batch-{rid}",
        "_output": output,
        "_count": count,
        "_embed": embed,
    }
    with store.lock:
        store.batches[job["name"]] = job
    return json_reply(_gemini_batch_view(store, job))


def _gemini_batch_view(store: Store, job: dict[str, Any]) -> dict[str, Any]:
    phase = _phase(store, job)
    created = job["_created"]
    kind = "EmbedContentBatch" if job["_embed"] else "GenerateContentBatch"
    metadata: dict[str, Any] = {
        "@type": f"type.googleapis.com/google.ai.generativelanguage.v1main.{kind}",
        "name": job["name"],
        "model": job["_model"],
        "displayName": job["_display"],
        "state": _GEMINI_BATCH_STATES[phase],
        "createTime": rfc3339(created),
        "updateTime": rfc3339(store.clock.now()),
        "batchStats": {
            "requestCount": str(job["_count"]),
            "pendingRequestCount": str(job["_count"]),
        },
    }
    view: dict[str, Any] = {"name": job["name"], "metadata": metadata, "done": False}
    if phase in ("succeeded", "cancelled"):
        view["done"] = True
        metadata["endTime"] = rfc3339(created + store.timings.job_run_s)
    if phase == "succeeded":
        metadata["output"] = job["_output"]
        metadata["batchStats"] = {
            "requestCount": str(job["_count"]),
            "successfulRequestCount": str(job["_count"]),
        }
        view["response"] = {"@type": metadata["@type"] + "Output", **job["_output"]}
    return view


def _vertex_batch_create(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    body = _body(incoming)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return _bad("* BatchPredictionJob.model: model is not specified")
    model_id = model.rsplit("/", 1)[-1]
    if not _catalogue.is_served(model_id):
        return google_error(404, f"Publisher Model `{model}` was not found.")
    source = _answers.as_dict(body.get("inputConfig"))
    if not any(
        k in source for k in ("gcsSource", "bigquerySource", "vertexMultimodalDatasetSource")
    ):
        return _bad("inputConfig needs gcsSource, bigquerySource or vertexMultimodalDatasetSource.")
    rid = new_id(vertex=True)
    job: dict[str, Any] = {
        "name": where.named("batchPredictionJobs", rid),
        "displayName": body.get("displayName") or f"batch-{rid}",
        "model": model,
        "inputConfig": source,
        "outputConfig": _answers.as_dict(body.get("outputConfig")),
        "_created": store.clock.now(),
    }
    with store.lock:
        store.batches[job["name"]] = job
    return json_reply(_vertex_batch_view(store, job))


def _vertex_batch_view(store: Store, job: dict[str, Any]) -> dict[str, Any]:
    phase = _phase(store, job)
    created = job["_created"]
    view = _public(job)
    view["state"] = _VERTEX_JOB_STATES[phase]
    view["createTime"] = rfc3339(created)
    view["updateTime"] = rfc3339(store.clock.now())
    if phase != "pending":
        view["startTime"] = rfc3339(created + store.timings.job_start_s)
    if phase == "succeeded":
        view["endTime"] = rfc3339(created + store.timings.job_run_s)
        output = job["outputConfig"]
        info: dict[str, Any] = {}
        gcs = _answers.as_dict(output.get("gcsDestination")).get("outputUriPrefix")
        bigquery = _answers.as_dict(output.get("bigqueryDestination")).get("outputUri")
        if isinstance(gcs, str):
            info["gcsOutputDirectory"] = (
                f"{gcs.rstrip('/')}/prediction-{job['name'].rsplit('/', 1)[-1]}"
            )
        if isinstance(bigquery, str):
            info["bigqueryOutputTable"] = "predictions"
            info["bigqueryOutputDataset"] = bigquery
        if "vertexMultimodalDatasetDestination" in output:
            parent = job["name"].split("/batchPredictionJobs/", 1)[0]
            info["vertexMultimodalDatasetName"] = (
                f"{parent}/datasets/{job['name'].rsplit('/', 1)[-1]}"
            )
        view["outputInfo"] = info
        view["completionStats"] = {"successfulCount": "1"}
    return view


def _batch_view(store: Store, job: dict[str, Any]) -> dict[str, Any]:
    return _vertex_batch_view(store, job) if "_model" not in job else _gemini_batch_view(store, job)


def _batch_name(where: Where, m: re.Match[str]) -> str:
    return where.named("batchPredictionJobs" if where.vertex else "batches", m["id"])


def _batch_missing(where: Where, name: str) -> Reply:
    return google_error(
        404,
        f"Batch {name} not found." if not where.vertex else f"BatchPredictionJob {name} not found.",
    )


def _batches_get(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    name = _batch_name(where, m)
    with store.lock:
        job = store.batches.get(name)
    if job is None:
        return _batch_missing(where, name)
    return json_reply(_batch_view(store, job))


def _batches_cancel(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    name = _batch_name(where, m)
    with store.lock:
        job = store.batches.get(name)
        if job is not None and _phase(store, job) in ("pending", "running"):
            job["_cancelled"] = True
    if job is None:
        return _batch_missing(where, name)
    return json_reply({})


def _batches_delete(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    name = _batch_name(where, m)
    with store.lock:
        job = store.batches.pop(name, None)
    if job is None:
        return _batch_missing(where, name)
    if where.vertex:
        return json_reply(
            {"name": f"{where.parent}/operations/{new_id(vertex=True)}", "done": True,
             "metadata": {"@type": f"{_VERTEX_TYPE}.DeleteOperationMetadata"}}
        )  # fmt: skip
    return json_reply({})


def _batches_list(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    with store.lock:
        jobs = [j for n, j in store.batches.items() if n.startswith(where.parent)]
    views = [_batch_view(store, j) for j in reversed(jobs)]
    return _page(views, incoming, "batchPredictionJobs" if where.vertex else "operations")


# -- tuning --------------------------------------------------------------------------------------


def _tuning_create_vertex(
    store: Store, where: Where, incoming: Incoming, m: re.Match[str]
) -> Reply:
    body = _body(incoming)
    base = body.get("baseModel")
    # Google's parser takes both spellings; the SDK sends preTunedModel's fields in snake_case.
    pre = _answers.as_dict(body.get("preTunedModel"))
    pre_tuned = pre.get("tunedModelName", pre.get("tuned_model_name"))
    if not isinstance(base, str) and not isinstance(pre_tuned, str):
        return _bad("* TuningJob.base_model: base_model is not specified")
    rid = new_id(vertex=True)
    job = {k: v for k, v in body.items() if k not in ("name", "state", "createTime", "tunedModel")}
    job |= {"name": where.named("tuningJobs", rid), "_created": store.clock.now()}
    with store.lock:
        store.tunings[job["name"]] = job
    return json_reply(_tuning_view_vertex(store, where, job))


def _tuning_view_vertex(store: Store, where: Where, job: dict[str, Any]) -> dict[str, Any]:
    phase = _phase(store, job)
    view = _public(job)
    created = job["_created"]
    view["state"] = _VERTEX_JOB_STATES[phase]
    view["createTime"] = rfc3339(created)
    view["updateTime"] = rfc3339(store.clock.now())
    if phase != "pending":
        view["startTime"] = rfc3339(created + store.timings.job_start_s)
    if phase == "succeeded":
        rid = job["name"].rsplit("/", 1)[-1]
        view["endTime"] = rfc3339(created + store.timings.job_run_s)
        view["tunedModel"] = {
            "model": f"{where.parent}/models/{rid}@1",
            "endpoint": f"{where.parent}/endpoints/{rid}",
        }
    return view


def endpoint_model(store: Store, endpoint: str) -> str | None:
    """The base model behind a Vertex endpoint a finished tuning job deployed, or None.

    The emulator's tuning job ``ID`` deploys to ``endpoints/ID`` (see the view above); calls to
    that endpoint are answered as the tuned model's base model answers.
    """
    parent, _, rid = endpoint.partition("/endpoints/")
    with store.lock:
        job = store.tunings.get(f"{parent}/tuningJobs/{rid}")
    if job is None or job.get("_gemini") or _phase(store, job) != "succeeded":
        return None
    base = str(job.get("baseModel") or "").rsplit("/", 1)[-1]
    return base if _catalogue.is_served(base) else "gemini-2.5-flash"


def _tuning_create_gemini(
    store: Store, where: Where, incoming: Incoming, m: re.Match[str]
) -> Reply:
    body = _body(incoming)
    base = body.get("baseModel")
    if not isinstance(base, str) or not base:
        return _bad("* CreateTunedModelRequest.tuned_model.base_model: base_model is not specified")
    rid = incoming.query.get("tunedModelId") or f"tuned-{new_id(vertex=False)}"
    name = f"tunedModels/{rid}"
    job = {k: v for k, v in body.items() if k not in ("name", "state")}
    job |= {"name": name, "_created": store.clock.now(), "_gemini": True}
    with store.lock:
        store.tunings[name] = job
    operation = {
        "name": f"{name}/operations/{new_id(vertex=False)}",
        "metadata": {
            "@type": f"{_GEMINI_TYPE}.CreateTunedModelMetadata",
            "tunedModel": name,
            "totalSteps": 10,
        },
    }
    return json_reply(operation)


def _tuning_view_gemini(store: Store, job: dict[str, Any]) -> dict[str, Any]:
    phase = _phase(store, job)
    view = _public(job)
    created = job["_created"]
    view["state"] = {"pending": "CREATING", "running": "CREATING"}.get(phase, "ACTIVE")
    if phase == "cancelled":
        view["state"] = "FAILED"
    view["createTime"] = rfc3339(created)
    view["updateTime"] = rfc3339(store.clock.now())
    task = dict(_answers.as_dict(view.get("tuningTask")))
    task["startTime"] = rfc3339(created)
    if phase == "succeeded":
        task["completeTime"] = rfc3339(created + store.timings.job_run_s)
    view["tuningTask"] = task
    return view


def _tuning_name(where: Where, m: re.Match[str]) -> str:
    return where.named("tuningJobs", m["id"]) if where.vertex else f"tunedModels/{m['id']}"


def _tunings_get(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    name = _tuning_name(where, m)
    with store.lock:
        job = store.tunings.get(name)
    if job is None:
        return google_error(404, f"Tuning job {name} not found.")
    if where.vertex:
        return json_reply(_tuning_view_vertex(store, where, job))
    return json_reply(_tuning_view_gemini(store, job))


def _tunings_list(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    with store.lock:
        jobs = [j for n, j in store.tunings.items() if n.startswith(where.parent or "tunedModels/")]
    if where.vertex:
        return _page(
            [_tuning_view_vertex(store, where, j) for j in reversed(jobs)], incoming, "tuningJobs"
        )
    return _page([_tuning_view_gemini(store, j) for j in reversed(jobs)], incoming, "tunedModels")


def _tunings_cancel(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    name = _tuning_name(where, m)
    with store.lock:
        job = store.tunings.get(name)
        if job is not None and _phase(store, job) in ("pending", "running"):
            job["_cancelled"] = True
    if job is None:
        return google_error(404, f"Tuning job {name} not found.")
    return json_reply({})


def _tunings_delete(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    name = _tuning_name(where, m)
    with store.lock:
        job = store.tunings.pop(name, None)
    if job is None:
        return google_error(404, f"Tuned model {name} not found.")
    return json_reply({})


def _vertex_models(store: Store, where: Where) -> dict[str, dict[str, Any]]:
    """Vertex models made by this emulator's finished tuning jobs, by resource name."""
    found: dict[str, dict[str, Any]] = {}
    with store.lock:
        jobs = list(store.tunings.values())
    for job in jobs:
        if job.get("_gemini") or _phase(store, job) != "succeeded":
            continue
        rid = job["name"].rsplit("/", 1)[-1]
        name = f"{where.parent}/models/{rid}"
        found[name] = {
            "name": name,
            "displayName": job.get("tunedModelDisplayName") or f"tuned-{rid}",
            "description": job.get("description", ""),
            "versionId": "1",
            "createTime": rfc3339(job["_created"] + store.timings.job_run_s),
            "labels": job.get("labels", {}),
            **job.get("_model_update", {}),
        }
    return found


_VERTEX_MODEL_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
"""Model Registry ids: a published model's id (``gemini-2.5-flash``, with a dot) is no such id."""


def _models_get(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    rid = m["id"].split("@")[0]
    if not _VERTEX_MODEL_ID.match(rid):
        return _bad(
            f"Invalid Model resource id {rid!r}: ids are lower-case letters, digits, - and _."
        )
    name = f"{where.parent}/models/{rid}"
    model = _vertex_models(store, where).get(name)
    if model is None:
        return google_error(404, f"Model {name} not found.")
    return json_reply(model)


def _models_list(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    return _page(list(_vertex_models(store, where).values()), incoming, "models")


def _models_patch(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    rid = m["id"].split("@")[0]
    name = f"{where.parent}/models/{rid}"
    if name not in _vertex_models(store, where):
        return google_error(404, f"Model {name} not found.")
    body = _body(incoming)
    update = {k: body[k] for k in ("displayName", "description", "labels") if k in body}
    with store.lock:
        job = store.tunings[where.named("tuningJobs", rid)]
        job["_model_update"] = {**job.get("_model_update", {}), **update}
    return json_reply(_vertex_models(store, where)[name])


def _models_delete(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    rid = m["id"].split("@")[0]
    name = f"{where.parent}/models/{rid}"
    if name not in _vertex_models(store, where):
        return google_error(404, f"Model {name} not found.")
    with store.lock:
        store.tunings.pop(where.named("tuningJobs", rid), None)
    return json_reply({"name": f"{where.parent}/operations/{new_id(vertex=True)}", "done": True})


def _tuned_patch(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    name = f"tunedModels/{m['id']}"
    body = _body(incoming)
    with store.lock:
        job = store.tunings.get(name)
        if job is not None:
            job.update({k: body[k] for k in ("displayName", "description") if k in body})
    if job is None:
        return google_error(404, f"Tuned model {name} not found.")
    return json_reply(_tuning_view_gemini(store, job))


def _validate_reward(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    return json_reply({})


# -- operations ----------------------------------------------------------------------------------


def _operation_view(store: Store, op: dict[str, Any]) -> dict[str, Any]:
    view: dict[str, Any] = {"name": op["name"]}
    if store.clock.now() >= op["_done_at"]:
        view["done"] = True
        view["response"] = op["_response"]
    else:
        view["done"] = False
    if op.get("metadata"):
        view["metadata"] = op["metadata"]
    return view


def _operations_get(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    name = (where.parent + "/" if where.vertex else "") + m["name"]
    with store.lock:
        op = store.operations.get(name)
        tuning = None
        if op is None and "/operations/" in name:
            tuning = store.tunings.get(name.partition("/operations/")[0])
    if op is not None:
        return json_reply(_operation_view(store, op))
    if tuning is not None:
        phase = _phase(store, tuning)
        view: dict[str, Any] = {"name": name, "done": phase in ("succeeded", "cancelled")}
        if phase == "succeeded":
            view["response"] = {
                "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.TunedModel",
                **_tuning_view_gemini(store, tuning),
            }
        return json_reply(view)
    return google_error(404, f"Operation {name} not found.")


def _operations_list(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    # The operations under the path's parent (a model's videos), newest first.
    prefix = (where.parent + "/" if where.vertex else "") + (m["parent"] or "") + "operations/"
    with store.lock:
        found = [op for name, op in store.operations.items() if name.startswith(prefix)]
    return _page([_operation_view(store, op) for op in reversed(found)], incoming, "operations")


def video_response(
    store: Store, where: Where, prompt: str, samples: int, storage: str | None
) -> dict[str, Any]:
    if where.vertex:
        videos = []
        for i in range(samples):
            if storage:
                videos.append(
                    {"gcsUri": f"{storage.rstrip('/')}/sample_{i}.mp4", "mimeType": "video/mp4"}
                )
            else:
                videos.append(
                    {"bytesBase64Encoded": base64.b64encode(_MP4).decode(), "mimeType": "video/mp4"}
                )
        return {
            "@type": "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse",
            "videos": videos,
            "raiMediaFilteredCount": 0,
        }
    generated = []
    for _ in range(samples):
        file = store.add_file(where, _MP4, "video/mp4", None, source="GENERATED")
        generated.append({"video": {"uri": file["downloadUri"]}})
    return {
        "@type": f"{_GEMINI_TYPE}.PredictLongRunningResponse",
        "generateVideoResponse": {"generatedSamples": generated},
    }


def _predict_long_running(call: ModelCall, store: Store) -> Reply:
    where = _where(call, store)
    body = _body(call.incoming)
    instances = body.get("instances")
    if not isinstance(instances, list) or not instances or not isinstance(instances[0], dict):
        return _bad("* PredictLongRunningRequest.instances: instances is not specified")
    first = instances[0]
    prompt = first.get("prompt")
    if not isinstance(prompt, str) and not any(k in first for k in ("image", "video")):
        return _bad("instances[0] needs a prompt, an image or a video.")
    params = _answers.as_dict(body.get("parameters"))
    samples = params.get("sampleCount", 1)
    samples = samples if isinstance(samples, int) and 1 <= samples <= 4 else 1
    storage = params.get("storageUri") if isinstance(params.get("storageUri"), str) else None
    model = f"publishers/google/models/{call.model}" if where.vertex else f"models/{call.model}"
    prefix = f"{where.parent}/{model}" if where.vertex else model
    name = f"{prefix}/operations/{secrets.token_hex(16)}"
    op = {
        "name": name,
        "_done_at": store.clock.now() + store.timings.video_s,
        "_response": video_response(store, where, str(prompt or ""), samples, storage),
    }
    with store.lock:
        store.operations[name] = op
    return json_reply({"name": name})


def _fetch_predict_operation(call: ModelCall, store: Store) -> Reply:
    name = _body(call.incoming).get("operationName")
    if not isinstance(name, str):
        return _bad(
            "* FetchPredictOperationRequest.operation_name: operation_name is not specified"
        )
    with store.lock:
        op = store.operations.get(name)
    if op is None:
        return google_error(404, f"Operation {name} not found.")
    return json_reply(_operation_view(store, op))


# -- imagen, computeTokens, auth tokens ----------------------------------------------------------


def _imagen_predict(call: ModelCall, store: Store) -> Reply:
    body = _body(call.incoming)
    instances = body.get("instances")
    if not isinstance(instances, list) or not instances or not isinstance(instances[0], dict):
        return _bad("* PredictRequest.instances: instances is not specified")
    first = instances[0]
    if call.model.startswith("image-segmentation-"):
        return _segment(call.model, first, _answers.as_dict(body.get("parameters")))
    prompt = first.get("prompt")
    # Editing, upscaling, recontext and try-on send images (image, personImage, productImages).
    if not isinstance(prompt, str) and not any("image" in key.lower() for key in first):
        return _bad("instances[0].prompt is required.")
    params = _answers.as_dict(body.get("parameters"))
    count = params.get("sampleCount", 1)
    count = count if isinstance(count, int) and 1 <= count <= 8 else 1
    mime = str(_answers.as_dict(params.get("outputOptions")).get("mimeType") or "image/png")
    predictions: list[dict[str, Any]] = []
    for i in range(count):
        image = png(f"{call.model}\0{prompt}\0{i}")
        prediction: dict[str, Any] = {
            "bytesBase64Encoded": base64.b64encode(image).decode(),
            "mimeType": "image/png" if mime not in ("image/png",) else mime,
        }
        if params.get("enhancePrompt") and isinstance(prompt, str):
            prediction["prompt"] = prompt
        predictions.append(prediction)
    if params.get("includeSafetyAttributes") or params.get("includeRaiReason"):
        predictions.append(
            {"contentType": "Positive Prompt", "safetyAttributes": {"categories": [], "scores": []}}
        )
    return json_reply({"predictions": predictions})


_SEGMENT_MODES = ("FOREGROUND", "BACKGROUND", "PROMPT", "SEMANTIC", "INTERACTIVE")


def _segment(model: str, instance: dict[str, Any], params: dict[str, Any]) -> Reply:
    """Image segmentation: one PNG mask per label, labelled as the mode asks.

    ``foreground``/``background`` label their mask by mode; ``prompt`` and ``semantic`` give one
    mask per comma-separated class in the prompt (as Google labels them), up to
    ``maxPredictions``; scores sit above ``confidenceThreshold``.
    """
    if not isinstance(instance.get("image"), dict):
        return _bad("* PredictRequest.instances[0].image: image is not specified")
    mode = str(params.get("mode") or "FOREGROUND").upper()
    if mode not in _SEGMENT_MODES:
        return _bad(f"Invalid value at 'parameters.mode' (TYPE_ENUM), {json.dumps(mode)}")
    prompt = instance.get("prompt")
    if mode in ("PROMPT", "SEMANTIC") and not (isinstance(prompt, str) and prompt.strip()):
        return _bad(f"A prompt is required for segmentation mode {mode}.")
    if mode in ("PROMPT", "SEMANTIC"):
        labels = [p.strip() for p in str(prompt).split(",") if p.strip()]
    else:
        labels = [mode.lower()]
    limit = params.get("maxPredictions")
    if isinstance(limit, int) and limit > 0:
        labels = labels[:limit]
    threshold = params.get("confidenceThreshold")
    floor = float(threshold) if isinstance(threshold, (int, float)) else 0.0
    score = round(max(0.9, floor + (1 - floor) / 2), 4)
    predictions = [
        {
            "bytesBase64Encoded": base64.b64encode(png(f"{model}\0mask\0{label}")).decode(),
            "mimeType": "image/png",
            "labels": [{"label": label, "score": score}],
        }
        for label in labels
    ]
    return json_reply({"predictions": predictions})


def _compute_tokens(call: ModelCall, store: Store) -> Reply:
    body = _body(call.incoming)
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return _bad("* ComputeTokensRequest.contents: contents is not specified")
    infos = []
    for content in contents:
        text = "".join(_answers.content_texts(content))
        pieces = [text[i : i + 4] for i in range(0, len(text), 4)]
        infos.append(
            {
                "tokens": [base64.b64encode(p.encode()).decode() for p in pieces],
                "tokenIds": [
                    str(int.from_bytes(hashlib.sha256(p.encode()).digest()[:3], "big"))
                    for p in pieces
                ],
                "role": _answers.as_dict(content).get("role", "user"),
            }
        )
    return json_reply({"tokensInfo": infos})


def _auth_tokens_create(store: Store, where: Where, incoming: Incoming, m: re.Match[str]) -> Reply:
    body = _body(incoming)
    uses = body.get("uses", 1)
    if not isinstance(uses, int) or isinstance(uses, bool) or uses < 0:
        return _bad("uses must be a non-negative integer")
    name = f"auth_tokens/{secrets.token_urlsafe(32)}"
    token = {k: v for k, v in body.items() if k != "name"}
    token["name"] = name
    with store.lock:
        store.auth_tokens[name] = token
    return json_reply(token)


MODEL_ACTIONS = frozenset(
    {"batchGenerateContent", "asyncBatchEmbedContent", "predictLongRunning",
     "fetchPredictOperation", "computeTokens"}
)  # fmt: skip
"""Model methods answered here rather than in ``_gemini`` (``predict`` too, for image models)."""


def is_image_model(model: str) -> bool:
    """Whether ``:predict`` on ``model`` makes images (else it is a text embedding)."""
    return model.startswith(("imagen-", "virtual-try-on-", "image-segmentation-"))


def handle_model_action(call: ModelCall, store: Store) -> Reply:  # noqa: PLR0911 -- a router
    """Answer one of :data:`MODEL_ACTIONS` (or Imagen ``predict``) for an authenticated call."""
    from golden_path.emulator import _gemini

    if call.incoming.method != "POST":
        return not_served(call.incoming)
    if call.incoming.json_error is not None:
        return google_error(400, f"Invalid JSON payload received. {call.incoming.json_error}")
    if not isinstance(call.incoming.body, dict):
        return google_error(400, "Invalid JSON payload received. Expected an object.")
    if call.action != "fetchPredictOperation" and not _catalogue.is_served(
        call.model, call.backend
    ):
        return _gemini.unknown_model(call)
    action = call.action
    if action == "predict":
        return _imagen_predict(call, store)
    if action == "computeTokens":
        if call.backend != "vertex":
            return google_error(404, "computeTokens is served by Vertex AI only.")
        return _compute_tokens(call, store)
    if action == "batchGenerateContent":
        return _batch_create(call, store, embed=False)
    if action == "asyncBatchEmbedContent":
        return _batch_create(call, store, embed=True)
    if action == "predictLongRunning":
        return _predict_long_running(call, store)
    return _fetch_predict_operation(call, store)


ROUTES: list[Route] = [
    _r("GET", "batches", _batches_list, _G),
    _r("GET", f"batches/{_ID}", _batches_get, _G),
    _r("POST", f"batches/{_ID}:cancel", _batches_cancel, _G),
    _r("DELETE", f"batches/{_ID}", _batches_delete, _G),
    _r("POST", "batchPredictionJobs", _vertex_batch_create, _V),
    _r("GET", "batchPredictionJobs", _batches_list, _V),
    _r("GET", f"batchPredictionJobs/{_ID}", _batches_get, _V),
    _r("POST", f"batchPredictionJobs/{_ID}:cancel", _batches_cancel, _V),
    _r("DELETE", f"batchPredictionJobs/{_ID}", _batches_delete, _V),
    _r("GET", "models", _models_list, _V),
    _r("GET", f"models/{_ID}", _models_get, _V),
    _r("PATCH", f"models/{_ID}", _models_patch, _V),
    _r("DELETE", f"models/{_ID}", _models_delete, _V),
    _r("PATCH", f"tunedModels/{_ID}", _tuned_patch, _G),
    _r("POST", "tunedModels", _tuning_create_gemini, _G),
    _r("GET", "tunedModels", _tunings_list, _G),
    _r("GET", f"tunedModels/{_ID}", _tunings_get, _G),
    _r("DELETE", f"tunedModels/{_ID}", _tunings_delete, _G),
    _r("POST", f"tunedModels/{_ID}:cancel", _tunings_cancel, _G),
    _r("POST", "tuningJobs", _tuning_create_vertex, _V),
    _r("GET", "tuningJobs", _tunings_list, _V),
    _r("POST", "tuningJobs:validateReinforcementTuningReward", _validate_reward, _V),
    _r("GET", f"tuningJobs/{_ID}", _tunings_get, _V),
    _r("POST", f"tuningJobs/{_ID}:cancel", _tunings_cancel, _V),
    _r("GET", r"(?P<name>(?:[A-Za-z]+/[^/]+/)*operations/[^/]+)", _operations_get, _GV),
    _r("GET", r"(?P<parent>(?:[A-Za-z]+/[^/]+/)*)operations", _operations_list, _GV),
    _r("POST", "auth_tokens", _auth_tokens_create, _G),
]
