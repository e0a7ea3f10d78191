"""A job on an fc-comfyui compatible agent: `/api/run/ws` with `task-id` = the job id.

A retry re-attaches to the task instead of running it twice.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging

import httpx
import websockets

from comfyweb.comfy.errors import ComfyUnavailable
from comfyweb.jobs.models import GpuBackend, Job
from comfyweb.jobs.runners.outcome import Outcome, ProgressSink

logger = logging.getLogger(__name__)


class AgentConnectionLost(ComfyUnavailable):
    """The agent's socket closed before the result; the task may still be running there."""


AGENT_REATTACH_DELAYS = (0.5, 1.0, 2.0, 4.0)  # seconds before each re-attach after a dropped connection


async def run_on_agent(job: Job, backend: GpuBackend, sink: ProgressSink) -> Outcome:
    """An fc-comfyui compatible agent over `/api/run/ws`, with `task-id` = the job id.

    A job that ran before (retried, or its worker restarted) first re-attaches with `?id=`; only
    when the agent does not know the task is the prompt sent again, so no job runs twice. The
    agent keeps running a task whose caller hung up, so a dropped connection is followed by
    re-attaching for a few seconds before the backend counts as lost (and the job is retried).
    """
    maybe_known = job.attempts > 1 or bool(job.progress)
    lost: Exception | None = None
    for delay in (0.0, *AGENT_REATTACH_DELAYS):
        if delay:
            await asyncio.sleep(delay)
        try:
            return await _run_or_follow_on_agent(job, backend, sink, maybe_known=maybe_known)
        except (OSError, websockets.WebSocketException, AgentConnectionLost) as exc:
            lost = exc
            maybe_known = True  # the prompt may have reached the agent: follow it, never send it twice
            logger.warning("connection to agent %s lost (%s); re-attaching", backend, str(exc) or type(exc).__name__)
    raise ComfyUnavailable(f"lost the agent: {lost or 'no answer'}")


async def _run_or_follow_on_agent(job: Job, backend: GpuBackend, sink: ProgressSink, *, maybe_known: bool) -> Outcome:
    if maybe_known:
        outcome = await _agent_stream(job, backend, sink, attach=True)
        if outcome is not None:
            return outcome
    outcome = await _agent_stream(job, backend, sink, attach=False)
    if outcome is None:  # already in flight there (a race with a previous runner): follow it
        outcome = await _agent_stream(job, backend, sink, attach=True)
    if outcome is None:
        raise ComfyUnavailable("the agent neither runs nor knows this task")
    return outcome


AGENT_UNKNOWN_TASK = "LoadProgressError"  # fc-comfyui's type for "no such task" on ?id=
AGENT_TASK_CONFLICT = "TaskConflictError"


async def _agent_stream(job: Job, backend: GpuBackend, sink: ProgressSink, *, attach: bool) -> Outcome | None:
    """Follow (attach) or submit the job's task; None when the agent answers unknown task / conflict."""
    base = backend.url.rstrip("/").replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    headers = {"task-id": str(job.pk)}
    if backend.token:
        headers["Authorization"] = f"Bearer {backend.token}"
    url = f"{base}/api/run/ws?id={job.pk}" if attach else f"{base}/api/run/ws"
    async with websockets.connect(url, additional_headers=headers, max_size=None, open_timeout=10) as socket:
        if not attach:
            await socket.send(json.dumps(job.prompt))
        async for raw in socket:
            frame = json.loads(raw)
            data = frame.get("data") or {}
            if frame.get("type") == "progress":
                await sink(data)
            elif frame.get("type") == "result":
                return Outcome(
                    status=data.get("", {}).get("status", "succeeded"),
                    progress=data,
                    images=_images_from_results(data),
                    error=data.get("", {}).get("error"),
                )
            elif frame.get("type") == "error":
                if isinstance(data, dict) and data.get("message") in (AGENT_UNKNOWN_TASK, AGENT_TASK_CONFLICT):
                    return None
                return agent_error_outcome(data, job.progress)
    raise AgentConnectionLost("the agent closed the connection before the result")


def agent_error_outcome(data: object, progress: dict) -> Outcome:
    """An agent's `error` frame: `{"message": <ErrorType>, "error": <details>, "progress": ...}`."""
    if not isinstance(data, dict):
        return Outcome(status=Job.Status.FAILED, progress=progress, images=[], error={"message": str(data)})
    details = data.get("error")
    if isinstance(details, dict):
        error = {"type": data.get("message", ""), **details}
    else:
        error = {"type": data.get("message", ""), "message": str(details or data.get("message") or "")}
    final = data.get("progress") if isinstance(data.get("progress"), dict) else progress
    cancelled = (final.get("") or {}).get("status") == "cancelled"
    return Outcome(
        status=Job.Status.CANCELLED if cancelled else Job.Status.FAILED, progress=final, images=[], error=error
    )


def _images_from_results(progress: dict) -> list[tuple[dict, bytes]]:
    images = []
    for node_id, entry in progress.items():
        if not node_id:
            continue
        for ref, encoded in zip(entry.get("images") or [], entry.get("results") or [], strict=False):
            images.append(({**ref, "node": node_id}, base64.b64decode(encoded)))
    return images


async def interrupt_agent_task(job: Job, backend: GpuBackend) -> None:
    """Cancel the job's task on the agent (`DELETE /api/run?id=`)."""
    headers = {"Authorization": f"Bearer {backend.token}"} if backend.token else {}
    async with httpx.AsyncClient(timeout=5) as client:
        await client.delete(f"{backend.url.rstrip('/')}/api/run", params={"id": str(job.pk)}, headers=headers)
