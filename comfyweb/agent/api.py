"""The agent's own HTTP and WebSocket routes, compatible with the fc-comfyui agent.

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

Errors are `{"message": "<ErrorType>", "error": <text or ComfyUI's JSON>}`. Request problems:
malformed JSON, a body that is not an API-format prompt, an invalid `task-id` or option → 400
`RequestParamsError`; a body that is not declared JSON (`Content-Type: application/json`) → 415
`UnsupportedMediaTypeError` (a cross-site "simple" request cannot start a job); a body over
`AGENT_MAX_BODY_BYTES` → 413 (checked on Content-Length, then while reading); a missing or wrong bearer token
→ 401 `UnauthorizedError`; a full queue → 503 `QueueFullError` with `Retry-After`; a task id
already in flight here → 409 `TaskConflictError`. How a run ends (200, 400 validation, 500
execution error, 409 cancelled, 504 timeout, 502/503 ComfyUI trouble) is in
comfyweb.agent.outcomes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from comfyweb.agent.outcomes import error_envelope, outcome_of
from comfyweb.agent.previews import PreviewSender
from comfyweb.agent.runner import (
    QueueFull,
    RunOptions,
    TaskConflict,
    TaskFinished,
    TaskNotFound,
    orphaned,
    with_results,
)
from comfyweb.agent.stores import InvalidTaskId, validate_task_id
from comfyweb.agent.webhooks import check_callback_url
from comfyweb.comfy.progress import is_final
from comfyweb.comfy.prompt import InvalidPrompt, normalize_prompt
from comfyweb.core.aio import until_first_done
from comfyweb.core.fetch import FetchError

if TYPE_CHECKING:
    from comfyweb.agent.app import Agent

logger = logging.getLogger(__name__)

TASK_ID_HEADER = "task-id"
ASYNC_HEADER = "x-fc-invocation-type"
STORE_POLL_SECONDS = 0.25
WS_PROMPT_TIMEOUT = 60.0
RETRY_AFTER = "5"
FALSE_WORDS = ("0", "false", "no", "off")


class RequestError(Exception):
    """A problem with the caller's request: answered with `status` and an fc-style envelope."""

    def __init__(self, message: str, status: int = 400, error_type: str = "RequestParamsError") -> None:
        super().__init__(message)
        self.status, self.error_type = status, error_type


def error_response(status: int, error_type: str, error: Any, headers: dict | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"message": error_type, "error": error, **extra}, status_code=status, headers=headers)


def agent_of(connection: Request | WebSocket) -> Agent:
    return connection.app.state.agent


# --- request parsing (plain functions) ----------------------------------------------------------------


def json_depth_ok(value: Any, limit: int) -> bool:
    """False when `value` nests deeper than `limit` (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return True


def parse_json(raw: bytes | str, max_depth: int = 64) -> Any:
    try:
        value = json.loads(raw)
    except RecursionError as exc:
        raise RequestError("the JSON body nests too deeply") from exc
    except ValueError as exc:
        raise RequestError(f"the body is not valid JSON: {exc}") from exc
    if not json_depth_ok(value, max_depth):
        raise RequestError(f"the JSON body nests deeper than {max_depth} levels")
    return value


def parse_prompt(body: Any) -> dict:
    try:
        return normalize_prompt(body)
    except InvalidPrompt as exc:
        raise RequestError(str(exc)) from exc


def task_id_from(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return validate_task_id(value)
    except InvalidTaskId as exc:
        raise RequestError(str(exc)) from exc


def _flag(value: Any) -> bool:
    return str(value).strip().lower() not in FALSE_WORDS


def run_options(agent: Agent, query: dict, headers: dict, body: Any) -> RunOptions:
    """Results flag, timeout and callback URL from the query, headers or the wrapped body's fields."""
    fields = body if isinstance(body, dict) and isinstance(body.get("prompt"), dict) else {}
    settings = agent.settings
    results = settings.results_default
    for source in (fields.get("results"), query.get("results"), headers.get("x-agent-results")):
        if source is not None:
            results = source if isinstance(source, bool) else _flag(source)
    timeout = settings.timeout
    raw_timeout = fields.get("timeout") or query.get("timeout") or headers.get("x-task-timeout")
    if raw_timeout is not None:
        try:
            timeout = float(raw_timeout)
        except (TypeError, ValueError) as exc:
            raise RequestError("timeout must be a number of seconds") from exc
        if not math.isfinite(timeout) or timeout <= 0:
            raise RequestError("timeout must be a positive number of seconds")
        timeout = min(timeout, settings.max_timeout)
    callback = fields.get("callback_url") or headers.get("x-callback-url")
    if callback is not None and not isinstance(callback, str):
        raise RequestError("callback_url must be a URL")
    return RunOptions(results=results, timeout=timeout, callback_url=callback or None)


def is_json_type(content_type: str | None) -> bool:
    """`application/json` or a `+json` type, parameters aside (`; charset=utf-8`)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it is known to exceed `limit`: never more than `limit` is held."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestError(f"the body is larger than {limit} bytes", status=413)
    body = bytearray()
    async for chunk in request.stream():
        if len(body) + len(chunk) > limit:
            raise RequestError(f"the body is larger than {limit} bytes", status=413)
        body += chunk
    return bytes(body)


async def accept_prompt(agent: Agent, body: Any, task_id: str | None, query: dict, headers: dict):
    """Validate and submit: the shared path of `POST /api/run` and the WebSocket."""
    prompt = parse_prompt(body)
    options = run_options(agent, query, headers, body)
    if options.callback_url:
        try:
            await check_callback_url(options.callback_url, agent.runner.policy.fetch_policy)
        except FetchError as exc:
            raise RequestError(f"callback URL refused: {exc}") from exc
    try:
        return await agent.runner.submit(prompt, task_id, options)
    except QueueFull as exc:
        raise RequestError(str(exc), status=503, error_type="QueueFullError") from exc
    except TaskConflict as exc:
        raise RequestError(str(exc), status=409, error_type="TaskConflictError") from exc


def final_response(record: dict, results: bool) -> JSONResponse:
    """The answer for a finished task: its progress on success, the outcome's status and envelope otherwise."""
    progress = record.get("progress") or {}
    outcome = outcome_of(progress)
    headers = {TASK_ID_HEADER: record["id"]}
    if outcome.kind == "succeeded":
        body = with_results(progress, record.get("results")) if results else progress
        return JSONResponse(body, headers=headers)
    if outcome.http_status == 503:
        headers["Retry-After"] = RETRY_AFTER
    return JSONResponse(error_envelope(progress), status_code=outcome.http_status, headers=headers)


# --- HTTP routes -------------------------------------------------------------------------------------


async def run(request: Request) -> Response:
    """`POST /api/run` (sync or async) and `DELETE /api/run?id=` (cancel)."""
    agent = agent_of(request)
    try:
        if request.method == "DELETE":
            return await cancel(agent, task_id_from(request.query_params.get("id")))
        if request.method != "POST":
            return error_response(405, "MethodNotAllowedError", "use POST to run or DELETE ?id= to cancel")
        if not is_json_type(request.headers.get("content-type")):
            raise RequestError(
                "send the prompt as JSON (Content-Type: application/json)", 415, "UnsupportedMediaTypeError"
            )
        body = parse_json(await read_body(request, agent.settings.max_body_bytes), agent.settings.max_json_depth)
        task_id = task_id_from(request.headers.get(TASK_ID_HEADER))
        headers = {key.lower(): value for key, value in request.headers.items()}
        task = await accept_prompt(agent, body, task_id, dict(request.query_params), headers)
    except RequestError as exc:
        extra = {"Retry-After": RETRY_AFTER} if exc.status == 503 else None
        return error_response(exc.status, exc.error_type, str(exc), headers=extra)
    if request.headers.get(ASYNC_HEADER, "").lower() == "async":
        return JSONResponse(
            {"task_id": task.id, "status": task.status}, status_code=202, headers={TASK_ID_HEADER: task.id}
        )
    await task.done.wait()  # a caller that hangs up does not cancel the task: it stays in the store
    response = final_response(task.record(agent.settings.instance), task.options.results)
    if response.status_code == 200 and task.options.results and agent.settings.outputs_after_read == "delete":
        response.background = BackgroundTask(agent.runner.delete_outputs, task.id)  # once the answer is out
    return response


async def cancel(agent: Agent, task_id: str | None) -> Response:
    if not task_id:
        return error_response(400, "RequestParamsError", "give the task id as ?id=")
    try:
        record = await agent.runner.cancel(task_id)
    except TaskNotFound:
        return error_response(404, "LoadProgressError", f"no task {task_id}")
    except TaskFinished as exc:
        progress = exc.record.get("progress") or {}
        return error_response(409, "TaskFinishedError", "the task has already finished", progress=progress)
    progress = record.get("progress") or {}
    status = (progress.get("") or {}).get("status")
    code = 200 if is_final(progress) else 202  # 202: another instance runs it and will cancel it
    return JSONResponse(
        {"task_id": task_id, "status": status, "progress": progress},
        status_code=code,
        headers={TASK_ID_HEADER: task_id},
    )


async def status(request: Request) -> Response:
    """`GET /api/status?id=`: the stored progress; `""` carries `status`, `error`, `prompt_id`."""
    agent = agent_of(request)
    try:
        task_id = task_id_from(request.query_params.get("id"))
    except RequestError as exc:
        return error_response(exc.status, exc.error_type, str(exc))
    if not task_id:
        return error_response(400, "RequestParamsError", "give the task id as ?id=")
    record = await agent.record(task_id)
    if record is None:
        return error_response(404, "LoadProgressError", f"no task {task_id}")
    progress = record.get("progress") or {}
    if _flag(request.query_params.get("results", "0")):
        progress = with_results(progress, record.get("results"))
    return JSONResponse(progress, headers={TASK_ID_HEADER: task_id})


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> Response:
    agent = agent_of(request)
    reasons = await agent.not_ready_reasons()
    if reasons:
        return JSONResponse({"ready": False, "reasons": reasons}, status_code=503, headers={"Retry-After": RETRY_AFTER})
    return JSONResponse({"ready": True})


async def metrics(request: Request) -> Response:
    agent = agent_of(request)
    await agent.refresh_gauges()
    return Response(agent.metrics.render(), media_type=agent.metrics.content_type)


# --- WebSocket -------------------------------------------------------------------------------------


async def follow(agent: Agent, task_id: str) -> AsyncIterator[tuple[str, dict]]:
    """("progress" | "final", record) for a task: live when it runs here, from the store otherwise."""
    task = agent.runner.tasks.get(task_id)
    if task is not None:
        queue = agent.runner.subscribe(task)
        try:
            while True:
                kind, record = await queue.get()
                yield kind, record
                if kind == "final":
                    return
        finally:
            agent.runner.unsubscribe(task, queue)
    record = await agent.store.get(task_id)
    if record is None:
        raise TaskNotFound(task_id)
    seen = None
    while True:
        if orphaned(record, agent.settings):  # its agent died: the task ends here as `agent restarted`
            record = await agent.runner.adopt_orphan(record)
        final = is_final(record.get("progress") or {})
        if final or record.get("updated_at") != seen:
            seen = record.get("updated_at")
            yield ("final" if final else "progress"), record
        if final:
            return
        await asyncio.sleep(STORE_POLL_SECONDS)
        record = await agent.store.get(task_id) or record


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
    headers = {key.lower(): value for key, value in websocket.headers.items()}
    previews = _flag(query["previews"]) if "previews" in query else agent.settings.previews
    try:
        follow_id = task_id_from(query.get("id"))
        if follow_id is None:
            raw = await asyncio.wait_for(_first_text(websocket), WS_PROMPT_TIMEOUT)
            body = parse_json(raw, agent.settings.max_json_depth)
            task_id = task_id_from(headers.get(TASK_ID_HEADER) or query.get("task_id"))
            task = await accept_prompt(agent, body, task_id, query, headers)
            follow_id, results = task.id, task.options.results
        else:
            results = _flag(query["results"]) if "results" in query else None
    except RequestError as exc:
        await _send_and_close(websocket, {"type": "error", "data": {"message": exc.error_type, "error": str(exc)}})
        return
    except (TimeoutError, WebSocketDisconnect):
        with contextlib.suppress(RuntimeError):
            await websocket.close()
        return
    await _stream_task(agent, websocket, follow_id, results, previews)


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
            with contextlib.suppress(ValueError):
                if (json.loads(text) or {}).get("type") == "close":
                    return


async def _send_frames(agent: Agent, websocket: WebSocket, task_id: str, results: bool | None, previews: bool) -> None:
    """Progress, then the result or error; previews in between when the socket is idle (never queued)."""
    lock = asyncio.Lock()  # one send at a time; a preview finding it held is dropped
    task = agent.runner.tasks.get(task_id) if previews else None
    sender = PreviewSender(websocket.send_text, lock) if task is not None else None
    if task is not None and sender is not None:
        agent.runner.watch_previews(task, sender)
    try:
        async for kind, record in follow(agent, task_id):
            wanted = results if results is not None else (record.get("options") or {}).get("results", True)
            frame = frame_for(kind, record, wanted)
            async with lock:
                await websocket.send_text(json.dumps(frame, ensure_ascii=False))
            if frame["type"] == "result" and wanted and agent.settings.outputs_after_read == "delete":
                await agent.runner.delete_outputs(task_id)
    except TaskNotFound as exc:
        error = {"message": "LoadProgressError", "error": f"no task {exc}"}
        async with lock:
            await websocket.send_text(json.dumps({"type": "error", "data": error}))
    finally:
        if task is not None and sender is not None:
            agent.runner.unwatch_previews(task, sender)
            sender.close()


async def _stream_task(
    agent: Agent, websocket: WebSocket, task_id: str, results: bool | None, previews: bool = False
) -> None:
    try:
        await until_first_done(_send_frames(agent, websocket, task_id, results, previews), _watch_client(websocket))
    finally:
        if websocket.application_state != WebSocketState.DISCONNECTED:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await websocket.close()


async def _send_and_close(websocket: WebSocket, frame: dict) -> None:
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.send_text(json.dumps(frame))
        await websocket.close()
