"""Running one claimed job on its backend: stream progress, persist it, relay it, store outputs.

Plain ComfyUI backends are driven in-process with the same code the agent uses (input
materialisation + the protocol client); agent backends through the fc-comfyui compatible
`/api/run/ws` with `task-id` = job id, so a retry re-attaches instead of running twice.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import io
import json
import logging
import mimetypes
import time
from collections.abc import Awaitable
from dataclasses import dataclass

import websockets
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image

from comfyweb.agent.inputs import InputError, materialize_image_inputs
from comfyweb.comfy.client import ComfyClient
from comfyweb.comfy.errors import ComfyError, ComfyUnavailable, PromptValidationError
from comfyweb.comfy.progress import current_node, output_images, overall_fraction
from comfyweb.jobs.backends import mark_healthy, mark_unhealthy
from comfyweb.jobs.events import apublish_snapshot
from comfyweb.jobs.models import GpuBackend, Job, JobOutput
from comfyweb.jobs.progress_writes import CANCELLED, LOST, PERSIST_INTERVAL, ProgressWrites
from comfyweb.jobs.selectors import job_snapshot

logger = logging.getLogger(__name__)

THUMBNAIL_SIZE = (384, 384)


class JobCancelled(Exception):
    pass


class ClaimLost(Exception):
    """Another worker took the job over (this one was thought dead); stop without touching it."""


@dataclass
class Outcome:
    status: str
    progress: dict
    images: list[tuple[dict, bytes]]
    error: dict | None = None


class ProgressSink:
    """Receives every progress change; relays it at most every PERSIST_INTERVAL and has it written in a batch.

    It never waits for the database: the runner reads its next ComfyUI message at once.
    """

    def __init__(self, job: Job, worker: str, writes: ProgressWrites) -> None:
        self.job = job
        self.worker = worker
        self.writes = writes
        self.last_write = 0.0

    async def __call__(self, progress: dict) -> None:
        verdict = self.writes.verdict(self.job.pk)
        if verdict == LOST:
            raise ClaimLost()
        if verdict == CANCELLED:
            raise JobCancelled()
        now = time.monotonic()
        if now - self.last_write < PERSIST_INTERVAL:
            return
        self.last_write = now
        await self.write(progress)

    async def write(self, progress: dict) -> None:
        progress = copy.deepcopy(progress)  # the client goes on changing its own (copy_progress=False)
        self.job.progress = progress
        self.job.percent = 100 * overall_fraction(progress, self.job.prompt)
        node = current_node(progress, self.job.prompt)
        self.job.current_node = (node or {}).get("title", "")[:200]
        await publish_quietly(self.job, in_loop=True)
        self.writes.offer(self.job, self.worker)


def _mark_running(job: Job, worker: str) -> bool:
    now = timezone.now()
    return bool(
        Job.objects.filter(pk=job.pk, claimed_by=worker, status=Job.Status.DISPATCHED).update(
            status=Job.Status.RUNNING, started_at=now, heartbeat_at=now
        )
    )


async def until_cancelled(work: Awaitable[Outcome], cancelled: asyncio.Event | None) -> Outcome:
    """Await `work`, or raise JobCancelled as soon as `cancelled` is set (the work is then stopped)."""
    if cancelled is None:
        return await work
    run = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(cancelled.wait())
    try:
        done, _pending = await asyncio.wait({run, stop}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        run.cancel()
        raise
    finally:
        stop.cancel()
    if run in done:
        return run.result()
    run.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await run
    raise JobCancelled()


async def run_job(
    job: Job, *, worker: str, cancelled: asyncio.Event | None = None, writes: ProgressWrites | None = None
) -> Job:
    """Run a dispatched job to a final state (or give it back to the queue for a retry).

    `cancelled` is set by the worker when a user or operator cancels the job, even while
    the backend sends nothing (the job waits in ComfyUI's own queue). `writes` batches the
    progress writes of all the worker's jobs (one of its own when not given).
    """
    writes = writes or ProgressWrites()
    try:
        return await _run_job(job, worker, cancelled, writes)
    finally:
        writes.forget(job.pk)


async def _run_job(job: Job, worker: str, cancelled: asyncio.Event | None, writes: ProgressWrites) -> Job:
    if not await sync_to_async(_mark_running)(job, worker):
        return job
    job.status = Job.Status.RUNNING
    backend: GpuBackend = job.backend
    logger.info("job running on %s (attempt %d)", backend, job.attempts)
    sink = ProgressSink(job, worker, writes)
    await publish_quietly(job)
    try:
        async with asyncio.timeout(settings.JOB_TIMEOUT):
            runner = run_on_agent if backend.kind == GpuBackend.Kind.AGENT else run_on_comfyui
            outcome = await until_cancelled(runner(job, backend, sink), cancelled)
    except ClaimLost:
        logger.warning("job %s was taken over by another worker", job.pk)
        return job
    except JobCancelled:
        await interrupt_backend(job, backend)
        outcome = Outcome(
            status=Job.Status.CANCELLED, progress=job.progress, images=[], error={"message": _("Cancelled.")}
        )
    except TimeoutError:
        await interrupt_backend(job, backend)
        outcome = Outcome(
            status=Job.Status.FAILED,
            progress=job.progress,
            images=[],
            error={
                "message": _("The job took longer than %(s)d seconds and was stopped.") % {"s": settings.JOB_TIMEOUT}
            },
        )
    except (ComfyUnavailable, OSError, websockets.WebSocketException) as exc:
        await sync_to_async(mark_unhealthy)(backend, str(exc) or type(exc).__name__)
        return await sync_to_async(retry_or_fail)(job, worker, exc)
    await sync_to_async(mark_healthy)(backend)
    return await finish(job, worker, outcome)


def retry_or_fail(job: Job, worker: str, exc: Exception) -> Job:
    """A dead backend: back to the queue with back-off, or a clear failure after JOB_MAX_ATTEMPTS."""
    job.refresh_from_db()
    if job.status not in Job.ACTIVE_STATUSES:
        return job  # it reached a final state before the error: nothing to retry
    if job.attempts < settings.JOB_MAX_ATTEMPTS and not job.cancel_requested:
        delay = 2**job.attempts
        Job.objects.filter(pk=job.pk, claimed_by=worker).update(
            status=Job.Status.QUEUED,
            claimed_by="",
            backend=None,
            not_before=timezone.now() + timezone.timedelta(seconds=delay),
        )
    elif job.cancel_requested:
        Job.objects.filter(pk=job.pk, claimed_by=worker).update(
            status=Job.Status.CANCELLED, finished_at=timezone.now(), error=_("Cancelled.")
        )
    else:
        Job.objects.filter(pk=job.pk, claimed_by=worker).update(
            status=Job.Status.FAILED,
            finished_at=timezone.now(),
            error=_("No GPU backend could run this job (tried %(n)d times). Last error: %(e)s")
            % {"n": job.attempts, "e": str(exc) or type(exc).__name__},
        )
    job.refresh_from_db()
    from comfyweb.jobs.events import publish_job

    publish_job(job)
    return job


async def run_on_comfyui(job: Job, backend: GpuBackend, sink: ProgressSink) -> Outcome:
    """A plain ComfyUI: the job id is the prompt id, so a re-attach finds the earlier run."""
    prompt_id = str(job.pk)
    async with ComfyClient(backend.url, token=backend.token or None) as comfy:
        previous = await comfy.history(prompt_id)
        queue = await comfy.queue()
        in_queue = any(
            item[1] == prompt_id for key in ("queue_running", "queue_pending") for item in queue.get(key, [])
        )
        if previous.get(prompt_id) or in_queue:
            result = await comfy.follow(prompt_id, prompt=job.prompt, on_progress=sink, copy_progress=False)
        else:
            prompt = json.loads(json.dumps(job.prompt))
            try:
                await materialize_image_inputs(prompt, comfy)
            except InputError as exc:
                return Outcome(status=Job.Status.FAILED, progress=job.progress, images=[], error={"message": str(exc)})
            try:
                result = await comfy.run(prompt, prompt_id=prompt_id, on_progress=sink, copy_progress=False)
            except PromptValidationError as exc:
                return Outcome(
                    status=Job.Status.FAILED,
                    progress=job.progress,
                    images=[],
                    error={"message": str(exc), "node_errors": exc.node_errors},
                )
        images = []
        if result.status == "succeeded":
            for ref in output_images(result.progress):
                data = await comfy.view(
                    ref["filename"], subfolder=ref.get("subfolder", ""), image_type=ref.get("type", "output")
                )
                images.append((ref, data))
        return Outcome(status=result.status, progress=result.progress, images=images, error=result.error)


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


async def interrupt_backend(job: Job, backend: GpuBackend) -> None:
    try:
        if backend.kind == GpuBackend.Kind.AGENT:
            import httpx

            headers = {"Authorization": f"Bearer {backend.token}"} if backend.token else {}
            async with httpx.AsyncClient(timeout=5) as client:
                await client.delete(f"{backend.url.rstrip('/')}/api/run", params={"id": str(job.pk)}, headers=headers)
        else:
            async with ComfyClient(backend.url, token=backend.token or None, timeout=5) as comfy:
                await comfy.delete_queued([str(job.pk)])
                await comfy.interrupt(str(job.pk))
    except (ComfyError, OSError, Exception):
        logger.warning("could not interrupt job %s on %s", job.pk, backend, exc_info=True)


async def finish(job: Job, worker: str, outcome: Outcome) -> Job:
    """Store outputs and the final state in one transaction, then tell the watchers."""
    await sync_to_async(_store_final)(job, worker, outcome)
    await sync_to_async(job.refresh_from_db)()
    logger.info("job %s: %s", job.status, job.error or f"{len(outcome.images)} image(s)")
    await publish_quietly(job)
    return job


async def publish_quietly(job: Job, *, in_loop: bool = False) -> None:
    """Relay the job's state; a relay failure is logged and never changes the job (pages poll too).

    `in_loop`: build the snapshot without a thread hop, for a running job's progress. It needs no
    query then, once the job was published at its start (which loads its template).
    """
    try:
        snapshot = job_snapshot(job) if in_loop else await sync_to_async(job_snapshot)(job)
        await apublish_snapshot(job.pk, snapshot)
    except Exception:
        logger.warning("could not publish job %s", job.pk, exc_info=True)


def human_error(error: dict | None) -> str:
    if not error:
        return ""
    message = error.get("exception_message") or error.get("message") or json.dumps(error)[:500]
    node = error.get("node_type") or error.get("node_id")
    return _("The workflow failed at %(node)s: %(message)s") % {"node": node, "message": message} if node else message


def _store_final(job: Job, worker: str, outcome: Outcome) -> None:
    status = outcome.status if outcome.status in Job.Status.values else Job.Status.FAILED
    if status == Job.Status.SUCCEEDED and not outcome.images:
        status, outcome.error = Job.Status.FAILED, {"message": _("The workflow finished without any image.")}
    with transaction.atomic():
        locked = Job.objects.select_for_update().filter(pk=job.pk, claimed_by=worker).first()
        if locked is None or locked.is_finished:
            return
        for index, (ref, data) in enumerate(outcome.images):
            _save_output(locked, ref, index, data)
        locked.status = status
        locked.progress = outcome.progress or locked.progress
        locked.percent = 100.0 if status == Job.Status.SUCCEEDED else locked.percent
        locked.current_node = ""
        locked.error = human_error(outcome.error) if status != Job.Status.SUCCEEDED else ""
        locked.error_detail = outcome.error
        locked.finished_at = timezone.now()
        locked.save()


def _save_output(job: Job, ref: dict, index: int, data: bytes) -> None:
    filename = ref.get("filename") or f"output_{index}.png"
    output = JobOutput(job=job, node_id=str(ref.get("node", "")), index=index, filename=filename)
    try:
        with Image.open(io.BytesIO(data)) as img:
            output.width, output.height = img.size
            output.content_type = Image.MIME.get(img.format or "", "image/png")
            thumb = img.convert("RGB")
            thumb.thumbnail(THUMBNAIL_SIZE)
            buffer = io.BytesIO()
            thumb.save(buffer, format="JPEG", quality=85)
            output.thumbnail.save(f"{job.pk}_{index}.jpg", ContentFile(buffer.getvalue()), save=False)
    except OSError:  # a video or an animation Pillow cannot open: kept, without a thumbnail
        output.content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        logger.info("output %s of job %s has no thumbnail (%s)", filename, job.pk, output.content_type)
    output.file.save(f"{job.pk}_{index}_{filename}", ContentFile(data), save=False)
    output.save()
