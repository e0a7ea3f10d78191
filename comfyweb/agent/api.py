"""The agent's own HTTP and WebSocket routes, compatible with the fc-comfyui agent: HTTP in, the service out.

| route | answer |
| --- | --- |
| `POST /api/run` | 200 + the final progress (with base64 `results`); see the outcome table below |
| `POST /api/run` + `X-Fc-Invocation-Type: Async` | 202 `{"task_id", "status"}` at once; follow with `/api/status` |
| `DELETE /api/run?id=` | 200 + the cancelled record; 202 when another instance runs it; 409 finished; 404 unknown |
| `GET /api/run/ws` | WebSocket: send the prompt, get `progress` (and `preview`) frames, then `result` or `error` |
| `GET /api/run/ws?id=` | WebSocket: follow an existing task (current state first) |
| `GET /api/status?id=` | 200 + the stored progress (`&results=1` adds base64 results); 404 unknown |
| `GET /api/health` | 200 while the process serves requests |
| `GET /api/ready` | 200 when ComfyUI answers, warm-up is done and the queue has room; else 503 |
| `GET /metrics` | Prometheus text |

Refusals raise an AgentError (errors.py), which Starlette's exception handler answers with
`{"message": "<ErrorType>", "error": <text>}`: malformed or non-strict JSON, a body that is not a
prompt, an invalid `task-id` or option → 400 `RequestParamsError`; a body over `AGENT_MAX_BODY_BYTES`
or a prompt over `AGENT_MAX_NODES` → 413; a body not declared JSON → 415 `UnsupportedMediaTypeError`
(a cross-site "simple" request cannot start a job); a full queue → 503 `QueueFullError` with
`Retry-After`; a task id already in flight here → 409 `TaskConflictError`. How a run ends (200, 400
validation, 500 execution error, 409 cancelled, 504 timeout, 502/503 ComfyUI trouble) is in
comfyweb.agent.outcomes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from comfyweb.agent.bodies import flag, is_json_type, parse_json, read_body, task_id_from
from comfyweb.agent.errors import RETRY_AFTER, AgentError, RequestError
from comfyweb.agent.outcomes import error_envelope, outcome_of
from comfyweb.agent.previews import PreviewSender
from comfyweb.agent.service import Agent
from comfyweb.agent.tasks import with_results
from comfyweb.comfy.progress import is_final
from comfyweb.core.aio import until_first_done

logger = logging.getLogger(__name__)

TASK_ID_HEADER = "task-id"
ASYNC_HEADER = "x-fc-invocation-type"
WS_PROMPT_TIMEOUT = 60.0


def agent_of(connection: Request | WebSocket) -> Agent:
    return connection.app.state.agent


def _headers(connection: Request | WebSocket) -> dict[str, str]:
    return {key.lower(): value for key, value in connection.headers.items()}


def final_response(record: dict, results: bool) -> JSONResponse:
    """The answer for a finished task: its progress on success, the outcome's status and envelope otherwise."""
    progress = record.get("progress") or {}
    outcome = outcome_of(progress)
    headers = {TASK_ID_HEADER: record["id"]}
    if outcome.kind == "succeeded":
        return JSONResponse(with_results(progress, record.get("results")) if results else progress, headers=headers)
    if outcome.http_status == 503:
        headers["Retry-After"] = RETRY_AFTER
    return JSONResponse(error_envelope(progress), status_code=outcome.http_status, headers=headers)


# --- HTTP routes -------------------------------------------------------------------------------------


async def run(request: Request) -> Response:
    """`POST /api/run` (sync or async) and `DELETE /api/run?id=` (cancel)."""
    agent = agent_of(request)
    if request.method == "DELETE":
        return await cancel(agent, task_id_from(request.query_params.get("id")))
    if request.method != "POST":
        raise AgentError("use POST to run or DELETE ?id= to cancel", 405, "MethodNotAllowedError")
    if not is_json_type(request.headers.get("content-type")):
        raise RequestError("send the prompt as JSON (Content-Type: application/json)", 415, "UnsupportedMediaTypeError")
    body = parse_json(await read_body(request, agent.settings.max_body_bytes), agent.settings.max_json_depth)
    background = request.headers.get(ASYNC_HEADER, "").lower() == "async"
    task = await agent.accept(
        body,
        task_id=task_id_from(request.headers.get(TASK_ID_HEADER)),
        query=dict(request.query_params),
        headers=_headers(request),
        stored_first=background,  # an asynchronous caller may ask any instance about it at once
    )
    if background:
        accepted = {"task_id": task.id, "status": task.status} | ({"warnings": task.warnings} if task.warnings else {})
        return JSONResponse(accepted, status_code=202, headers={TASK_ID_HEADER: task.id})
    await task.done.wait()  # a caller that hangs up does not cancel the task: it stays in the store
    response = final_response(task.published, task.options.results)
    if response.status_code == 200 and task.options.results:
        response.background = BackgroundTask(agent.outputs_read, task.id)  # once the answer is out
    return response


async def cancel(agent: Agent, task_id: str | None) -> Response:
    if not task_id:
        raise RequestError("give the task id as ?id=")
    record = await agent.cancel(task_id)  # TaskNotFound → 404, TaskFinished → 409
    progress = record.get("progress") or {}
    code = 200 if is_final(progress) else 202  # 202: another instance runs it and will cancel it
    body = {"task_id": task_id, "status": (progress.get("") or {}).get("status"), "progress": progress}
    return JSONResponse(body, status_code=code, headers={TASK_ID_HEADER: task_id})


async def status(request: Request) -> Response:
    """`GET /api/status?id=`: the stored progress; `""` carries `status`, `error`, `prompt_id`."""
    agent = agent_of(request)
    task_id = task_id_from(request.query_params.get("id"))
    if not task_id:
        raise RequestError("give the task id as ?id=")
    record = await agent.record(task_id)
    if record is None:
        raise AgentError(f"no task {task_id}", 404, "LoadProgressError")
    progress = record.get("progress") or {}
    if flag(request.query_params.get("results", "0")):
        progress = with_results(progress, record.get("results"))
    return JSONResponse(progress, headers={TASK_ID_HEADER: task_id})


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> Response:
    reasons = await agent_of(request).not_ready_reasons()
    if reasons:
        return JSONResponse({"ready": False, "reasons": reasons}, status_code=503, headers={"Retry-After": RETRY_AFTER})
    return JSONResponse({"ready": True})


async def metrics(request: Request) -> Response:
    agent = agent_of(request)
    await agent.refresh_gauges()
    return Response(agent.metrics.render(), media_type=agent.metrics.content_type)


# --- WebSocket -------------------------------------------------------------------------------------


def frame_for(kind: str, record: dict, results: bool) -> dict:
    progress = record.get("progress") or {}
    if kind == "progress":
        return {"type": "progress", "data": progress}
    if outcome_of(progress).kind == "succeeded":
        return {"type": "result", "data": with_results(progress, record.get("results")) if results else progress}
    return {"type": "error", "data": error_envelope(progress)}


async def run_ws(websocket: WebSocket) -> None:
    """`/api/run/ws`: run a prompt (sent as the first message) or follow `?id=`; never cancels on hang-up."""
    agent = agent_of(websocket)
    await websocket.accept()
    query = dict(websocket.query_params)
    headers = _headers(websocket)
    previews = flag(query["previews"]) if "previews" in query else agent.settings.previews
    try:
        follow_id = task_id_from(query.get("id"))
        if follow_id is None:
            raw = await asyncio.wait_for(_first_text(websocket), WS_PROMPT_TIMEOUT)
            task = await agent.accept(
                parse_json(raw, agent.settings.max_json_depth),
                task_id=task_id_from(headers.get(TASK_ID_HEADER) or query.get("task_id")),
                query=query,
                headers=headers,
                stored_first=False,
            )
            follow_id, results = task.id, task.options.results
        else:
            results = flag(query["results"]) if "results" in query else None
    except AgentError as exc:
        await _send_and_close(websocket, {"type": "error", "data": exc.envelope()})
        return
    except (TimeoutError, WebSocketDisconnect):
        with contextlib.suppress(RuntimeError):
            await websocket.close()
        return
    try:
        await until_first_done(_send_frames(agent, websocket, follow_id, results, previews), _watch_client(websocket))
    finally:
        if websocket.application_state != WebSocketState.DISCONNECTED:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await websocket.close()


async def _first_text(websocket: WebSocket) -> str:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        if message.get("text") is not None:
            return message["text"]
        if message.get("bytes") is not None:
            return message["bytes"].decode("utf-8", errors="replace")


async def _watch_client(websocket: WebSocket) -> None:
    """Returns when the client leaves or sends `{"type": "close"}`."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text:
            with contextlib.suppress(ValueError, AttributeError):
                if (json.loads(text) or {}).get("type") == "close":
                    return


async def _send_frames(agent: Agent, websocket: WebSocket, task_id: str, results: bool | None, previews: bool) -> None:
    """Progress, then the result or error; previews in between when the socket is idle (never queued)."""
    lock = asyncio.Lock()  # one send at a time; a preview finding it held is dropped
    sender = PreviewSender(websocket.send_text, lock)
    try:
        with agent.previews(task_id, sender) if previews else contextlib.nullcontext():
            async for kind, record in agent.follow(task_id):
                wanted = results if results is not None else (record.get("options") or {}).get("results", True)
                frame = frame_for(kind, record, wanted)
                async with lock:
                    await websocket.send_text(json.dumps(frame, ensure_ascii=False))
                if frame["type"] == "result" and wanted:
                    await agent.outputs_read(task_id)
    except AgentError as exc:  # TaskNotFound
        async with lock:
            await websocket.send_text(json.dumps({"type": "error", "data": exc.envelope()}))
    finally:
        sender.close()


async def _send_and_close(websocket: WebSocket, frame: dict) -> None:
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.send_text(json.dumps(frame))
        await websocket.close()
