"""Handing queued jobs to GPU backends in the fair queue's order, with no idle slot while work waits.

The order is fixed when jobs are queued (jobs.fair_queue); the slot decision is a plain function
(`assign_slots`), tested without a database or sockets; `claim` applies it atomically (row
locks on PostgreSQL, conditional updates everywhere), so several workers never claim the same job.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from comfyweb.jobs.backends import active_backends
from comfyweb.jobs.errors import INTERRUPTED, error_record, stored_fields
from comfyweb.jobs.fair_queue import queued_in_order
from comfyweb.jobs.models import GpuBackend, Job


@dataclass(frozen=True)
class Candidate:
    job_id: object
    preferred_backend: int | None = None


def assign_slots(candidates: Sequence[Candidate], free: dict[int, int], total: dict[int, int]) -> list[tuple]:
    """Pair jobs (in the given order) with backends that have a free slot, least loaded first.

    `free` and `total` are slots per active backend. A job that was running on an active
    backend before (its worker died) goes back to that backend even when it looks full: its
    prompt is already there, so re-attaching by task id takes no new slot, where running it
    elsewhere would run it twice.
    """
    free = dict(free)
    pairs = []
    for candidate in candidates:
        if candidate.preferred_backend in free:
            chosen = candidate.preferred_backend
        else:
            open_backends = [b for b, n in free.items() if n > 0]
            if not open_backends:
                continue  # later candidates may still re-attach to their backend
            chosen = min(open_backends, key=lambda b: ((total[b] - free[b]) / max(1, total[b]), -free[b], b))
        pairs.append((candidate.job_id, chosen))
        free[chosen] -= 1
    return pairs


def backend_capacity(backends: Iterable[GpuBackend]) -> tuple[dict[int, int], dict[int, int]]:
    """Free and total slots of each backend, from the jobs it holds now."""
    backends = list(backends)
    busy = dict(
        Job.objects.filter(backend__in=backends, status__in=[Job.Status.DISPATCHED, Job.Status.RUNNING])
        .values_list("backend")
        .annotate(n=Count("id"))
    )
    free = {b.pk: max(0, b.slots - busy.get(b.pk, 0)) for b in backends}
    return free, {b.pk: b.slots for b in backends}


@dataclass
class Claim:
    """What one claim round took, and how many slots it left free (0: every slot is busy now)."""

    jobs: list[Job]
    free_slots: int


def claim(*, worker: str, limit: int = 100) -> Claim:
    """Claim queued jobs for `worker`, assigning each a backend; and the free slots left after it."""
    now = timezone.now()
    with transaction.atomic():
        # Locking the backend rows serialises claims between workers, so two of them never
        # both see the same free slot (PostgreSQL; SQLite serialises writers anyway).
        backends = list(active_backends().select_for_update())
        free, total = backend_capacity(backends)
        if not backends:
            return Claim([], 0)
        queued = queued_in_order().filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
        if not any(free.values()):  # every slot is busy: only jobs re-attaching to their backend can go
            queued = queued.filter(backend__in=backends)
        if connection.features.has_select_for_update_skip_locked:
            queued = queued.select_for_update(skip_locked=True, of=("self",))
        rows = list(queued.values_list("id", "backend_id")[: max(limit, sum(free.values())) * 4])
        pairs = assign_slots([Candidate(job_id, backend_id) for job_id, backend_id in rows], free, total)[:limit]
        per_backend: dict[int, list] = defaultdict(list)
        for job_id, backend_id in pairs:
            per_backend[backend_id].append(job_id)
        claimed_ids = []
        for backend_id, job_ids in per_backend.items():  # one UPDATE per backend, not one per job
            taken = _take(job_ids, backend_id, worker, now)
            claimed_ids += taken
            free[backend_id] -= len(taken)
    jobs = list(Job.objects.filter(pk__in=claimed_ids).select_related("backend", "template"))
    return Claim(jobs, sum(max(0, slots) for slots in free.values()))


def _take(job_ids: list, backend_id: int, worker: str, now) -> list:
    """The jobs of `job_ids` still queued, now dispatched to the backend for `worker`. Conditional: a job
    another worker took meanwhile is left alone (the rows are locked on PostgreSQL, so that is rare)."""
    updated = Job.objects.filter(pk__in=job_ids, status=Job.Status.QUEUED).update(
        status=Job.Status.DISPATCHED,
        backend_id=backend_id,
        claimed_by=worker,
        dispatched_at=now,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
    )
    if updated == len(job_ids):
        return job_ids
    mine = Job.objects.filter(pk__in=job_ids, status=Job.Status.DISPATCHED, claimed_by=worker, dispatched_at=now)
    return list(mine.values_list("pk", flat=True))


def start_claimed(jobs: list[Job], worker: str) -> list[Job]:
    """Mark the jobs `worker` just claimed as running, in one UPDATE (a burst of 500 claims costs one query,
    not 500); the ones it still holds, changed in place. Their runners start next."""
    if not jobs:
        return []
    now = timezone.now()
    ids = [job.pk for job in jobs]
    mine = Job.objects.filter(pk__in=ids, claimed_by=worker, status=Job.Status.DISPATCHED)
    if mine.update(status=Job.Status.RUNNING, started_at=now, heartbeat_at=now) == len(ids):
        held = set(ids)
    else:  # another worker took one over meanwhile (its heartbeat looked stale): only ours start
        ours = Job.objects.filter(pk__in=ids, claimed_by=worker, status=Job.Status.RUNNING, started_at=now)
        held = set(ours.values_list("pk", flat=True))
    started = [job for job in jobs if job.pk in held]
    for job in started:
        job.status, job.started_at, job.heartbeat_at = Job.Status.RUNNING, now, now
    return started


def requeue_stale_jobs() -> list[Job]:
    """Jobs whose runner stopped beating (a crashed or restarted worker) go back to the queue.

    They keep their backend as a hint, so the next runner re-attaches to the same task there
    (the task id is the job id) instead of running it a second time, and their place in the fair
    queue. Jobs interrupted JOB_MAX_ATTEMPTS times fail. Returns the jobs changed (to be published).
    """
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.JOB_HEARTBEAT_STALE)
    active = Job.objects.filter(status__in=[Job.Status.DISPATCHED, Job.Status.RUNNING])
    stale = active.filter(Q(heartbeat_at__lt=stale_before) | Q(heartbeat_at__isnull=True))
    with transaction.atomic():
        changed = list(stale.values_list("pk", flat=True))
        if not changed:
            return []
        record = error_record(
            INTERRUPTED, message=f"interrupted {settings.JOB_MAX_ATTEMPTS} times (its worker stopped); giving up"
        )
        stale.filter(attempts__gte=settings.JOB_MAX_ATTEMPTS).update(
            status=Job.Status.FAILED, finished_at=now, **stored_fields(record)
        )
        # not_before = now: the queued state is newer than anything the lost runner published.
        Job.objects.filter(pk__in=changed, status__in=[Job.Status.DISPATCHED, Job.Status.RUNNING]).update(
            status=Job.Status.QUEUED, claimed_by="", not_before=now
        )
    return list(Job.objects.filter(pk__in=changed).select_related("template"))
