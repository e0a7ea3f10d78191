"""Sending a job's state to the browsers watching it (its Channels group).

Publishing is best effort: a failed send is logged and never fails the change that triggered it.
"""

from __future__ import annotations

import logging
import time

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer

from comfyweb.jobs.models import Job
from comfyweb.jobs.selectors import job_snapshot

logger = logging.getLogger(__name__)


QUEUE_GROUP = "jobs_queue"  # every page of a waiting job: told when the queue's order changed


def job_group(job_id) -> str:
    return f"job_{job_id}".replace("-", "")


async def apublish_queue_changed(at: float | None = None) -> None:
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(QUEUE_GROUP, {"type": "queue.changed", "at": at or time.time()})


def publish_queue_changed() -> None:
    """Tell waiting pages that places in line moved (jobs joined or left the queue), from sync code."""
    try:
        async_to_sync(apublish_queue_changed)(time.time())
    except Exception:
        logger.warning("could not announce a queue change", exc_info=True)


async def apublish_snapshot(job_id, snapshot: dict) -> None:
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(job_group(job_id), {"type": "job.update", "job": snapshot})


async def apublish_preview(job_id, image_url: str) -> None:
    """A sampler preview (a small data URL) for the job's pages; best effort, never stored."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(job_group(job_id), {"type": "job.preview", "image": image_url})
    except Exception:
        logger.debug("could not publish a preview of job %s", job_id, exc_info=True)


def publish_job(job: Job) -> None:
    """Relay the job's state from sync code."""
    try:
        async_to_sync(apublish_snapshot)(job.pk, job_snapshot(job))
    except Exception:
        logger.warning("could not publish job %s", job.pk, exc_info=True)


async def publish_quietly(job: Job, *, in_loop: bool = False, at: float | None = None) -> None:
    """Relay the job's state; a relay failure is logged and never changes the job (pages reconnect).

    `in_loop`: build the snapshot without a thread hop, for a running job's progress. It needs no
    query then, once the job was published at its start (which loads its template). `at`: when the
    state was current (default: from the job's recorded moments).
    """
    try:
        snapshot = job_snapshot(job, at=at) if in_loop else await sync_to_async(job_snapshot)(job, at=at)
        await apublish_snapshot(job.pk, snapshot)
    except Exception:
        logger.warning("could not publish job %s", job.pk, exc_info=True)
