"""Sending a job's state to the browsers watching it (its Channels group)."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


def job_group(job_id) -> str:
    return f"job_{job_id}".replace("-", "")


async def apublish_snapshot(job_id, snapshot: dict) -> None:
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(job_group(job_id), {"type": "job.update", "job": snapshot})


def publish_job(job) -> None:
    """Best effort from sync code: a failed send never fails the change that triggered it."""
    from comfyweb.jobs.selectors import job_snapshot

    try:
        async_to_sync(apublish_snapshot)(job.pk, job_snapshot(job))
    except Exception:
        logger.warning("could not publish job %s", job.pk, exc_info=True)
