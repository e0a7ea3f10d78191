"""Sending a job's state to the browsers watching it (its Channels group).

Publishing is best effort: a failed send is logged (once per outage) and never fails the change that
triggered it; in a worker, a job's newest state that did not get through is sent again once the layer
answers (comfyweb.jobs.relay.delivery). Every update carries its publisher's `stream` and `seq`.
"""

from __future__ import annotations

import logging
import time

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer

from comfyweb.jobs.models import Job
from comfyweb.jobs.relay.delivery import SEQUENCES, STREAM, send_many_to_groups, send_to_group
from comfyweb.jobs.selectors import job_snapshot

logger = logging.getLogger(__name__)


QUEUE_GROUP = "jobs_queue"  # every page of a waiting job: told when the queue's order changed


def job_group(job_id) -> str:
    return f"job_{job_id}".replace("-", "")


async def apublish_queue_changed(at: float | None = None) -> None:
    layer = get_channel_layer()
    if layer is not None:
        await send_to_group(layer, QUEUE_GROUP, {"type": "queue.changed", "at": at or time.time()})


def publish_queue_changed() -> None:
    """Tell waiting pages that places in line moved (jobs joined or left the queue), from sync code."""
    try:
        async_to_sync(apublish_queue_changed)(time.time())
    except Exception:
        logger.warning("could not announce a queue change", exc_info=True)


def _update(job_id, snapshot: dict) -> dict:
    """A job's snapshot as its pages receive it, numbered by this process."""
    return {"type": "job.update", "job": snapshot, "stream": STREAM, "seq": SEQUENCES.next(job_id)}


def count_as_lost(job_id) -> None:
    """An update that could not even be built (the database away as it was read): numbered and counted as
    delivered, so this process's next heartbeat of the job makes its watchers re-read it."""
    SEQUENCES.delivered(job_id, SEQUENCES.next(job_id))


def _heartbeat(job_id) -> dict:
    """The number of the last update this process delivered for the job: a page that heard less missed some."""
    return {"type": "job.heartbeat", "stream": STREAM, "seq": SEQUENCES.last_delivered(job_id)}


async def apublish_snapshot(job_id, snapshot: dict, *, redeliver: bool = False) -> bool:
    """Send the job's snapshot, numbered; never raises. `redeliver`: try again later if it did not get through
    (only from a long-lived event loop: a worker's)."""
    layer = get_channel_layer()
    if layer is None:
        return False
    return await send_to_group(layer, job_group(job_id), _update(job_id, snapshot), job_id=job_id, redeliver=redeliver)


async def apublish_snapshots(snapshots: list[tuple[object, dict]], *, redeliver: bool = False) -> bool:
    """Send several jobs' snapshots, each numbered, in one go (one round trip to Redis); never raises.

    In order: two snapshots of one job reach its pages as they are listed."""
    layer = get_channel_layer()
    if layer is None or not snapshots:
        return False
    sends = [(job_group(job_id), _update(job_id, snapshot), job_id) for job_id, snapshot in snapshots]
    return await send_many_to_groups(layer, sends, redeliver=redeliver)


async def apublish_heartbeat(job_id) -> None:
    """Tell the job's watchers the last update this process delivered: one who heard less missed some."""
    await apublish_heartbeats([job_id])


async def apublish_preview(job_id, image_url: str) -> None:
    """A sampler preview (a small data URL) for the job's pages; best effort, never stored."""
    await apublish_previews([(job_id, image_url)])


async def apublish_previews(previews: list[tuple[object, str]]) -> None:
    """Several jobs' previews (job id, data URL) in one go; best effort, never stored."""
    layer = get_channel_layer()
    if layer is not None and previews:
        sends = [(job_group(job_id), {"type": "job.preview", "image": url}, None) for job_id, url in previews]
        await send_many_to_groups(layer, sends)


async def apublish_heartbeats(job_ids) -> None:
    """`apublish_heartbeat` for several jobs in one go (a worker's running jobs)."""
    layer = get_channel_layer()
    if layer is not None and job_ids:
        await send_many_to_groups(layer, [(job_group(job_id), _heartbeat(job_id), None) for job_id in job_ids])


def publish_job(job: Job) -> None:
    """Relay the job's state from sync code."""
    try:
        async_to_sync(apublish_snapshot)(job.pk, job_snapshot(job))
    except Exception:
        logger.warning("could not publish job %s", job.pk, exc_info=True)


async def publish_quietly(job: Job, *, at: float | None = None) -> None:
    """Relay the job's state (a worker's: sent again later if the layer is down); never changes the job.

    `at`: when the state was current (default: from the job's recorded moments). A running job's progress
    goes through the relay's batches instead (comfyweb.jobs.relay.coalescer).
    """
    try:
        snapshot = await sync_to_async(job_snapshot)(job, at=at)
    except Exception:  # the database is down: the job's next heartbeats make its watchers re-read it
        logger.warning("could not read job %s to publish it", job.pk, exc_info=True)
        count_as_lost(job.pk)
        return
    await apublish_snapshot(job.pk, snapshot, redeliver=True)
