"""A job on an fc-comfyui compatible agent: `/api/run/ws` with `task-id` = the job id.

A retry re-attaches to the task instead of running it twice. A task the agent lost (its process
died: the agent reports it failed with `agent restarted`, or no longer knows it) is run again.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging

import httpx
import websockets

from comfyweb.comfy.errors import ComfyUnavailable
from comfyweb.comfy.progress import any_node_reported
from comfyweb.jobs.models import GpuBackend, Job
from comfyweb.jobs.runners.outcome import Outcome, ProgressSink

logger = logging.getLogger(__name__)


class AgentConnectionLost(ComfyUnavailable):
    """The agent's socket closed before the result; the task may still be running there."""


class AgentComfyUIUnreachable(ComfyUnavailable):
    """The agent answers but could not reach its ComfyUI before any node ran (down, restarting, a network
    blip): the GPU box's fault, not the job's. `run.py` marks the backend unhealthy and sends the job back
    to the queue; the next attempt submits it again instead of re-attaching to the failed task."""


class AgentTaskLost(ComfyUnavailable):
    """The agent this attempt ran on lost the task (it restarted): the job must run again, as a new attempt.

    The agent answers, so it is not an unhealthy backend; `run.py` sends the job back to the queue.
    """


# Seconds before each re-attach after a dropped connection: ≈20 s in all, every 2 s after the first
# seconds, so an agent that is restarted (a crash, a redeploy) is found again soon and says what became
# of the task, before the backend counts as dead.
AGENT_REATTACH_DELAYS = (0.5, 1.0, 1.5, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0)


async def run_on_agent(job: Job, backend: GpuBackend, sink: ProgressSink) -> Outcome:
    """An fc-comfyui compatible agent over `/api/run/ws`, with `task-id` = the job id.

    A job that ran before (retried, or its worker restarted) first re-attaches with `?id=`; only
    when the agent does not know the task (or reports it `agent restarted`) is the prompt sent
    again, so no job runs twice. The agent keeps running a task whose caller hung up, so a dropped
    connection is followed by re-attaching for ≈20 s before the backend counts as lost (and the job
    is retried). A task this attempt had in flight that the agent then reports lost (it restarted:
    `AgentRestartedError`, or it no longer knows it) raises AgentTaskLost: the job goes back to the
    queue as a new attempt, the backend is not marked unhealthy.
    """
    maybe_known = job.attempts > 1 or bool(job.progress)
    attempt = _Attempt()
    lost: Exception | None = None
    for delay in (0.0, *AGENT_REATTACH_DELAYS):
        if delay:
            await asyncio.sleep(delay)
        try:
            return await _run_or_follow_on_agent(job, backend, sink, maybe_known=maybe_known, attempt=attempt)
        except (OSError, websockets.WebSocketException, AgentConnectionLost) as exc:
            lost = exc
            maybe_known = True  # the prompt may have reached the agent: follow it, never send it twice
            logger.warning("connection to agent %s lost (%s); re-attaching", backend, str(exc) or type(exc).__name__)
    raise ComfyUnavailable(f"lost the agent: {lost or 'no answer'}")


class _Attempt:
    """What this attempt has seen: whether the task was in flight on the agent for it (sent or followed)."""

    live = False


async def _run_or_follow_on_agent(
    job: Job, backend: GpuBackend, sink: ProgressSink, *, maybe_known: bool, attempt: _Attempt
) -> Outcome:
    if maybe_known:
        outcome = await _agent_stream(job, backend, sink, attach=True, attempt=attempt)
        if isinstance(outcome, Outcome) and not comfyui_was_unreachable(outcome):
            return outcome
        if attempt.live:  # it ran for this attempt and the agent lost it: a new attempt runs it again
            raise AgentTaskLost(f"the agent lost the task ({'agent restarted' if outcome is LOST else 'unknown'})")
        # Lost or unknown before this attempt began (a previous attempt's): send it now.
    outcome = await _agent_stream(job, backend, sink, attach=False, attempt=attempt)
    if outcome is CONFLICT:  # already in flight there (a race with a previous runner): follow it
        outcome = await _agent_stream(job, backend, sink, attach=True, attempt=attempt)
    if not isinstance(outcome, Outcome):
        raise AgentTaskLost("the agent neither runs nor knows this task")
    if comfyui_was_unreachable(outcome):
        raise AgentComfyUIUnreachable((outcome.error or {}).get("message") or "the agent could not reach ComfyUI")
    return outcome


def comfyui_was_unreachable(outcome: Outcome) -> bool:
    """A task the agent failed because its ComfyUI did not answer (refused, or no answer within the agent's
    request timeout), before any node of it ran: nothing of the job ran, so running it again runs it once.
    (The agent takes a prompt ComfyUI did not answer for off ComfyUI's queue.)"""
    if outcome.status != Job.Status.FAILED:
        return False
    error = outcome.error or {}
    kind = error.get("kind")
    unreachable = kind == "unavailable" or (kind == "timeout" and error.get("limit") == "AGENT_COMFYUI_REQUEST_TIMEOUT")
    return unreachable and not any_node_reported(outcome.progress or {})


AGENT_UNKNOWN_TASK = "LoadProgressError"  # fc-comfyui's type for "no such task" on ?id=
AGENT_TASK_CONFLICT = "TaskConflictError"
AGENT_RESTARTED = "AgentRestartedError"  # the agent process that ran the task died (error "agent restarted")
UNKNOWN, CONFLICT, LOST = "unknown", "conflict", "lost"


def is_lost_task(data: object) -> bool:
    """An agent error frame saying the task's agent died: run it again rather than fail the job."""
    if not isinstance(data, dict):
        return False
    error = data.get("error") if isinstance(data.get("error"), dict) else {}
    return data.get("message") == AGENT_RESTARTED or error.get("kind") == "restarted"


async def _agent_stream(
    job: Job, backend: GpuBackend, sink: ProgressSink, *, attach: bool, attempt: _Attempt
) -> Outcome | str:
    """Follow (attach) or submit the job's task: its Outcome, or UNKNOWN, CONFLICT or LOST."""
    base = backend.url.rstrip("/").replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    headers = {"task-id": str(job.pk)}
    if backend.token:
        headers["Authorization"] = f"Bearer {backend.token}"
    url = f"{base}/api/run/ws?id={job.pk}" if attach else f"{base}/api/run/ws"
    if not _wants_previews(job):
        url += ("&" if attach else "?") + "previews=0"
    async with websockets.connect(url, additional_headers=headers, max_size=None, open_timeout=10) as socket:
        if not attach:
            await socket.send(json.dumps(job.prompt))
            attempt.live = True
        async for raw in socket:
            frame = json.loads(raw)
            data = frame.get("data") or {}
            if frame.get("type") == "progress":
                attempt.live = True
                await sink(data)
            elif frame.get("type") == "preview":  # already small (a JPEG data URL); relayed, never stored
                if isinstance(data, dict) and isinstance(data.get("image"), str):
                    await sink.preview(data.get("node"), "image/jpeg", data["image"])
            elif frame.get("type") == "result":
                return Outcome(
                    status=data.get("", {}).get("status", "succeeded"),
                    progress=data,
                    images=_images_from_results(data),
                    error=data.get("", {}).get("error"),
                )
            elif frame.get("type") == "error":
                if is_lost_task(data):
                    return LOST
                if isinstance(data, dict) and data.get("message") == AGENT_UNKNOWN_TASK:
                    return UNKNOWN
                if isinstance(data, dict) and data.get("message") == AGENT_TASK_CONFLICT:
                    return CONFLICT
                return agent_error_outcome(data, job.progress)
    raise AgentConnectionLost("the agent closed the connection before the result")


def _wants_previews(job: Job) -> bool:
    """Whether the job's page shows live previews (unknown here: yes, the relay decides)."""
    if not job.template_id or not Job.template.is_cached(job):
        return bool(job.template_id)
    return job.template.shows_live_previews


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
