"""A run's end: its images copied into Django storage and its final state stored, in one transaction.

The outcome exists only in this worker's memory until it is stored: a database that is briefly away
(a PostgreSQL restart) is waited for, so the job is neither lost nor run a second time.
"""

from __future__ import annotations

import asyncio
import io
import logging
import mimetypes
import time

from asgiref.sync import sync_to_async
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from PIL import Image

from comfyweb.core.db import DISCONNECTED, drop_broken_connections
from comfyweb.jobs.errors import NO_OUTPUT, classify, error_record, operator_summary
from comfyweb.jobs.models import Job, JobOutput
from comfyweb.jobs.relay.publish import publish_quietly
from comfyweb.jobs.runners.outcome import Outcome
from comfyweb.jobs.trust.outputs import Reviewed, aprepare_outputs

logger = logging.getLogger(__name__)

THUMBNAIL_SIZE = (384, 384)
# What storing a final state changes (updated_at: auto_now is written only when named).
FINAL_FIELDS = ["status", "progress", "percent", "current_node", "error", "error_detail", "finished_at", "updated_at"]
STORE_RETRY_FOR = 300.0  # seconds a finished run waits for the database before it gives up
STORE_RETRY_FIRST, STORE_RETRY_MAX = 0.5, 5.0


async def finish(job: Job, worker: str, outcome: Outcome) -> Job:
    """Check and label the images (off the loop), store them and the final state in one transaction, then tell."""
    reviews = await aprepare_outputs(job, outcome.images)
    await store_final(job, worker, outcome, reviews)
    logger.info("job %s: %s", job.status, job.error or f"{len(outcome.images)} image(s)")
    await publish_quietly(job)
    return job


async def store_final(job: Job, worker: str, outcome: Outcome, reviews: list[Reviewed]) -> None:
    """`_store_final` and a fresh read of the job, tried again with back-off while the database is away.

    Meanwhile the job stays this worker's (its heartbeat goes on once the database answers), so nobody
    else takes it over; after STORE_RETRY_FOR the error is raised (the job is then retried).
    """
    deadline, retry = time.monotonic() + STORE_RETRY_FOR, STORE_RETRY_FIRST
    while True:
        try:
            await sync_to_async(_store_final)(job, worker, outcome, reviews)
            await sync_to_async(job.refresh_state)()
            return
        except DISCONNECTED:
            await sync_to_async(drop_broken_connections)()
            if time.monotonic() > deadline:
                raise
            logger.warning("job %s: the database is away; storing its result again in %.1f s", job.pk, retry)
            await asyncio.sleep(retry)
            retry = min(retry * 2, STORE_RETRY_MAX)


def _store_final(job: Job, worker: str, outcome: Outcome, reviews: list[Reviewed]) -> None:
    status = outcome.status if outcome.status in Job.Status.values else Job.Status.FAILED
    if status == Job.Status.SUCCEEDED and not outcome.images:
        status, outcome.error = Job.Status.FAILED, error_record(NO_OUTPUT)
    with transaction.atomic():
        locked = Job.objects.without_prompt().select_for_update().filter(pk=job.pk, claimed_by=worker).first()
        if locked is None or locked.is_finished:
            return
        for index, (ref, data) in enumerate(outcome.images):
            _save_output(locked, ref, index, data, reviews[index] if index < len(reviews) else Reviewed())
        locked.status = status
        locked.progress = outcome.progress or locked.progress
        locked.percent = 100.0 if status == Job.Status.SUCCEEDED else locked.percent
        locked.current_node = ""
        record = classify(outcome.error) if status != Job.Status.SUCCEEDED else None
        locked.error = operator_summary(record) if record else ""
        locked.error_detail = record
        locked.finished_at = timezone.now()
        locked.save(update_fields=FINAL_FIELDS)  # not the prompt: rewriting it would cost most of the row


def _save_output(job: Job, ref: dict, index: int, data: bytes, reviewed: Reviewed) -> None:
    filename = ref.get("filename") or f"output_{index}.png"
    output = JobOutput(job=job, node_id=str(ref.get("node", "")), index=index, filename=filename)
    output.review, output.review_detail = reviewed.review, reviewed.detail
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
