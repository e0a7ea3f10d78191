"""Running one claimed job to a final state: mark it running, run it on its backend, handle the ends.

A cancel, a timeout and a lost backend each end the run here; a lost backend sends the job back to
the queue (`retry_or_fail`) until JOB_MAX_ATTEMPTS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable

import websockets
from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from comfyweb.comfy.errors import ComfyUnavailable
from comfyweb.jobs.backends import mark_healthy, mark_unhealthy
from comfyweb.jobs.errors import CANCELLED, NO_BACKEND, TIMEOUT, error_record, stored_fields
from comfyweb.jobs.models import GpuBackend, Job
from comfyweb.jobs.relay.coalescer import ProgressRelay
from comfyweb.jobs.relay.progress_writes import ProgressWrites
from comfyweb.jobs.relay.publish import publish_job
from comfyweb.jobs.runners.agent import AgentTaskLost, interrupt_agent_task, run_on_agent
from comfyweb.jobs.runners.comfyui import interrupt_prompt, run_on_comfyui
from comfyweb.jobs.runners.outcome import ClaimLost, JobCancelled, Outcome, ProgressSink
from comfyweb.jobs.runners.results import finish

logger = logging.getLogger(__name__)


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
    job: Job, *, worker: str, cancelled: asyncio.Event | None = None, relay: ProgressRelay | None = None
) -> Job:
    """Run a job its worker claimed and started (jobs.dispatcher.start_claimed, which also announced it) to a
    final state, or give it back to the queue for a retry.

    `cancelled` is set by the worker when a user or operator cancels the job, even while
    the backend sends nothing (the job waits in ComfyUI's own queue). `relay` publishes and
    writes the progress of all the worker's jobs (one of its own when not given).
    """
    relay = relay or ProgressRelay(ProgressWrites())
    try:
        return await _run_job(job, worker, cancelled, relay)
    finally:
        relay.forget(job.pk)
        relay.writes.forget(job.pk)


async def _run_job(job: Job, worker: str, cancelled: asyncio.Event | None, relay: ProgressRelay) -> Job:
    backend: GpuBackend = job.backend
    logger.info("job running on %s (attempt %d)", backend, job.attempts)
    sink = ProgressSink(job, worker, relay)
    try:
        try:
            async with asyncio.timeout(settings.JOB_TIMEOUT):
                runner = run_on_agent if backend.kind == GpuBackend.Kind.AGENT else run_on_comfyui
                outcome = await until_cancelled(runner(job, backend, sink), cancelled)
        finally:
            await sink.close()  # before any final state is published: no running state may follow it
    except ClaimLost:
        logger.warning("job %s was taken over by another worker", job.pk)
        return job
    except JobCancelled:
        await interrupt_backend(job, backend)
        outcome = Outcome(status=Job.Status.CANCELLED, progress=job.progress, images=[], error=error_record(CANCELLED))
    except TimeoutError:
        await interrupt_backend(job, backend)
        outcome = Outcome(
            status=Job.Status.FAILED,
            progress=job.progress,
            images=[],
            error=error_record(TIMEOUT, message=f"ran longer than JOB_TIMEOUT ({settings.JOB_TIMEOUT} s)"),
        )
    except AgentTaskLost as exc:  # the agent answers but lost the task (it restarted): run it again
        return await sync_to_async(retry_or_fail)(job, worker, exc)
    except (ComfyUnavailable, OSError, websockets.WebSocketException) as exc:
        await sync_to_async(mark_unhealthy)(backend, str(exc) or type(exc).__name__)
        return await sync_to_async(retry_or_fail)(job, worker, exc)
    await note_healthy(backend)
    return await finish(job, worker, outcome)


async def note_healthy(backend: GpuBackend) -> None:
    """Best effort: a database blip at this moment must not throw away the outcome of a finished run."""
    try:
        await sync_to_async(mark_healthy)(backend)
    except Exception:
        logger.warning("could not mark %s healthy", backend, exc_info=True)


def retry_or_fail(job: Job, worker: str, exc: Exception) -> Job:
    """A dead backend: back to the queue with back-off, or a clear failure after JOB_MAX_ATTEMPTS."""
    job.refresh_state()
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
        record = error_record(CANCELLED)
        Job.objects.filter(pk=job.pk, claimed_by=worker).update(
            status=Job.Status.CANCELLED, finished_at=timezone.now(), **stored_fields(record)
        )
    else:
        record = error_record(NO_BACKEND, message=str(exc) or type(exc).__name__, detail=f"tried {job.attempts} times")
        Job.objects.filter(pk=job.pk, claimed_by=worker).update(
            status=Job.Status.FAILED, finished_at=timezone.now(), **stored_fields(record)
        )
    job.refresh_state()
    publish_job(job)
    return job


async def interrupt_backend(job: Job, backend: GpuBackend) -> None:
    """Stop the job where it runs; a backend that cannot be told is logged, the job ends here anyway."""
    try:
        if backend.kind == GpuBackend.Kind.AGENT:
            await interrupt_agent_task(job, backend)
        else:
            await interrupt_prompt(job, backend)
    except Exception:
        logger.warning("could not interrupt job %s on %s", job.pk, backend, exc_info=True)
