"""Writing running jobs' progress to the database in batches, off the path of their sockets.

A worker with hundreds of running jobs would otherwise make two queries per job twice a
second, and each job's runner would wait for them before reading its next ComfyUI message:
the database queue then delays every progress event. Here a runner only hands over its job;
one task per worker writes everything handed over since the last round in two queries, and
tells each runner whether its job was taken over or cancelled meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from asgiref.sync import sync_to_async
from django.db import connection
from django.utils import timezone

from comfyweb.core.db import reconnecting
from comfyweb.jobs.models import Job

logger = logging.getLogger(__name__)

PERSIST_INTERVAL = 0.5  # seconds between progress writes; status changes are written at once
LOST, CANCELLED = "lost", "cancelled"


class ProgressWrites:
    """The progress writes of one worker (one event loop); runners call `offer` and `verdict`."""

    def __init__(self, interval: float = PERSIST_INTERVAL) -> None:
        self.interval = interval
        self.pending: dict[object, tuple[Job, str]] = {}
        self.verdicts: dict[object, str] = {}
        self.active: set = set()  # jobs between their first offer and `forget`
        self._flusher: asyncio.Task | None = None

    def offer(self, job: Job, worker: str) -> None:
        """Write `job`'s progress, percent and current node in the next round (the latest wins)."""
        self.pending[job.pk] = (job, worker)
        self.active.add(job.pk)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_while_pending())

    def verdict(self, job_id) -> str | None:
        """LOST when another worker took the job over, CANCELLED when someone asked to stop it."""
        return self.verdicts.get(job_id)

    def forget(self, job_id) -> None:
        """The job reached its end: drop what was not written yet (its final state supersedes it)."""
        self.pending.pop(job_id, None)
        self.verdicts.pop(job_id, None)
        self.active.discard(job_id)

    async def flush(self) -> None:
        batch, self.pending = self.pending, {}
        if not batch:
            return
        try:
            verdicts = await sync_to_async(reconnecting(write_progress), thread_sensitive=False)(list(batch.values()))
        except Exception:
            logger.warning("could not write the progress of %d job(s); next round", len(batch), exc_info=True)
            for job_id, entry in batch.items():
                if job_id in self.active:
                    self.pending.setdefault(job_id, entry)
            return
        self.verdicts.update({job_id: verdict for job_id, verdict in verdicts.items() if job_id in self.active})

    async def _flush_while_pending(self) -> None:
        """Write at once when idle; under load, what arrives during a round and the pause after it
        goes in the next one."""
        while self.pending:
            await asyncio.sleep(0)  # runners woken by the same socket read hand theirs over first
            await self.flush()
            await asyncio.sleep(self.interval)


def write_progress(entries: list[tuple[Job, str]]) -> dict[object, str]:
    """Store each job's progress if its worker still runs it; the verdicts of the jobs that changed hands."""
    by_worker: dict[str, list[Job]] = defaultdict(list)
    for job, worker in entries:
        by_worker[worker].append(job)
    verdicts: dict[object, str] = {}
    now = timezone.now()
    for worker, jobs in by_worker.items():
        mine = Job.objects.filter(pk__in=[job.pk for job in jobs], claimed_by=worker, status=Job.Status.RUNNING)
        flags = dict(mine.values_list("pk", "cancel_requested"))
        kept = [job for job in jobs if job.pk in flags]
        for job in jobs:
            if job.pk not in flags:
                verdicts[job.pk] = LOST
            elif flags[job.pk]:
                verdicts[job.pk] = CANCELLED
            job.heartbeat_at = now
        if kept:
            _update_rows(kept, worker)
    return verdicts


WRITTEN_FIELDS = ("progress", "percent", "current_node", "heartbeat_at")


def _update_rows(jobs: list[Job], worker: str) -> None:
    """One parametrised UPDATE per job, sent together (psycopg pipelines executemany).

    bulk_update() would build a CASE expression per field and row, which costs more CPU than the
    rest of a busy worker's round. The WHERE repeats the claim: a job finished or taken over
    since it was read is left alone.
    """
    meta = Job._meta
    quote = connection.ops.quote_name
    fields = [meta.get_field(name) for name in WRITTEN_FIELDS]
    pk, claimed_by, status = meta.pk, meta.get_field("claimed_by"), meta.get_field("status")
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    # Identifiers come from the model and are quoted; every value is a parameter.
    where = f"{quote(pk.column)} = %s AND {quote(claimed_by.column)} = %s AND {quote(status.column)} = %s"
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {where}"  # noqa: S608
    rows = [
        (
            *(field.get_db_prep_save(getattr(job, field.attname), connection) for field in fields),
            pk.get_db_prep_value(job.pk, connection),
            worker,
            Job.Status.RUNNING.value,
        )
        for job in jobs
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
